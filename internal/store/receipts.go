package store

import (
	"context"
	"fmt"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/tenant"
)

const (
	receiptCols     = `number, kind, purpose, attempt_id, amount, currency, method, method_summary, agreement, purchase_order, payment_id, lot_id, issued_at`
	insertReceiptQ  = `INSERT INTO receipts (tenant_id, ` + receiptCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	receiptsPerPage = 1000
)

func init() { prepared = append(prepared, insertReceiptQ) }

// receiptStmts writes m's receipts: in the batch that books their lots.
func receiptStmts(stmts []stmt, m *Mutation) []stmt {
	for _, r := range m.Receipts {
		stmts = append(stmts, stmt{insertReceiptQ, []any{m.Account.Tenant, r.Number, r.Kind, r.Purpose, r.AttemptID,
			int64(r.Amount), r.Currency.Code, r.Method, r.MethodSummary, r.Agreement, r.PurchaseOrder, r.PaymentID,
			r.LotID, r.IssuedAt.UnixNano()}})
	}
	return stmts
}

func (s *SQL) receipts(ctx context.Context, where string, args ...any) ([]tenant.Receipt, error) {
	var out []tenant.Receipt
	err := each(ctx, s.read, `SELECT `+receiptCols+` FROM receipts `+where, args, func(r rows) error {
		var rc tenant.Receipt
		var code string
		var amt, at int64
		if err := r.Scan(&rc.Number, &rc.Kind, &rc.Purpose, &rc.AttemptID, &amt, &code, &rc.Method, &rc.MethodSummary,
			&rc.Agreement, &rc.PurchaseOrder, &rc.PaymentID, &rc.LotID, &at); err != nil {
			return err
		}
		cur, err := money.LookupCurrency(code)
		if err != nil {
			return fmt.Errorf("receipt %s: %w", rc.Number, err)
		}
		rc.Amount, rc.Currency, rc.IssuedAt = money.Amount(amt), cur, fromNano(at)
		out = append(out, rc)
		return nil
	})
	return out, err
}

// Receipts lists a tenant's receipts and invoices, oldest first: at most limit (1000 when
// limit ≤ 0) after the number after ("" from the start). A caller that pages asks for one
// more than its page, to know whether another page follows.
func (s *SQL) Receipts(ctx context.Context, tenantID, after string, limit int) ([]tenant.Receipt, error) {
	if limit <= 0 {
		limit = receiptsPerPage
	}
	return s.receipts(ctx, `WHERE tenant_id = ? AND number > ? ORDER BY number LIMIT ?`, tenantID, after, limit)
}

// Receipt returns one receipt or invoice by number (ErrNotFound).
func (s *SQL) Receipt(ctx context.Context, tenantID, number string) (tenant.Receipt, error) {
	rs, err := s.receipts(ctx, `WHERE tenant_id = ? AND number = ?`, tenantID, number)
	if err != nil {
		return tenant.Receipt{}, err
	}
	if len(rs) == 0 {
		return tenant.Receipt{}, fmt.Errorf("receipt %q of %q: %w", number, tenantID, ErrNotFound)
	}
	return rs[0], nil
}

// Document is a downloadable file.
type Document struct {
	Filename    string
	ContentType string
	Body        []byte
}

// ReceiptDocument renders a receipt or invoice as a plain-text document for download
// ("CC-acme-000001.txt", text/plain; charset=utf-8).
func (s *SQL) ReceiptDocument(ctx context.Context, tenantID, number string) (Document, error) {
	rc, err := s.Receipt(ctx, tenantID, number)
	if err != nil {
		return Document{}, err
	}
	t, err := s.Tenant(ctx, tenantID)
	if err != nil {
		return Document{}, err
	}
	lots, err := queryLots(ctx, s.read, `WHERE tenant_id = ? AND id = ?`, tenantID, rc.LotID)
	if err != nil {
		return Document{}, err
	}
	var exp = rc.IssuedAt
	if len(lots) == 1 {
		exp = lots[0].ExpiresAt
	}
	return Document{Filename: rc.Number + ".txt", ContentType: "text/plain; charset=utf-8",
		Body: []byte(rc.Document(t.Name, exp))}, nil
}
