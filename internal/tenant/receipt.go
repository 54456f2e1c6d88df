package tenant

import (
	"fmt"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/recharge"
)

// Receipt kinds: a card payment is receipted, an enterprise agreement funding invoiced.
const (
	ReceiptKindReceipt = "receipt"
	ReceiptKindInvoice = "invoice"
)

// Receipt is the record of one funding transaction (domain §6): a card purchase, an
// auto-recharge, or an enterprise agreement funding with its purchase order. It is written
// in the transaction that creates the lot it paid for.
type Receipt struct {
	Number        string         `json:"number"` // "CC-<tenant>-000042": per tenant, no gaps
	Kind          string         `json:"kind"`   // receipt or invoice
	Purpose       string         `json:"purpose"`
	AttemptID     string         `json:"attempt_id"`
	Amount        money.Amount   `json:"amount"`
	Currency      money.Currency `json:"currency"`
	Method        string         `json:"method"`
	MethodSummary string         `json:"method_summary"` // "Visa ending in 4242", "Enterprise agreement AG-1, PO PO-7"
	Agreement     string         `json:"agreement,omitempty"`
	PurchaseOrder string         `json:"purchase_order,omitempty"`
	PaymentID     string         `json:"payment_id"` // provider payment id, or the attempt id of an invoice
	LotID         int64          `json:"lot_id"`
	IssuedAt      time.Time      `json:"issued_at"`
}

// ReceiptNumber is the number of a tenant's n-th receipt.
func ReceiptNumber(tenant string, n int64) string { return fmt.Sprintf("CC-%s-%06d", tenant, n) }

// receipt records the credit c just booked as lot lotID.
func (s *State) receipt(c recharge.Credit, lotID int64, now time.Time, eff *Effects) {
	r := s.Recharge
	r.ReceiptSeq++
	rc := Receipt{Number: ReceiptNumber(s.Account.Tenant, r.ReceiptSeq), Kind: ReceiptKindReceipt, Purpose: c.Source,
		AttemptID: c.AttemptID, Amount: c.Amount, Currency: s.Account.Currency, Method: c.PaymentMethod,
		Agreement: c.Agreement, PurchaseOrder: c.PurchaseOrder, PaymentID: c.Ref, LotID: lotID, IssuedAt: now}
	if c.Invoiced {
		rc.Kind = ReceiptKindInvoice
		rc.MethodSummary = "Enterprise agreement " + c.Agreement
		if c.PurchaseOrder != "" {
			rc.MethodSummary += ", PO " + c.PurchaseOrder
		}
	} else if c.PaymentMethod == r.Settings.PaymentMethod && r.CardLast4 != "" {
		rc.MethodSummary = fmt.Sprintf("%s ending in %s", brand(r.CardBrand), r.CardLast4)
	} else {
		rc.MethodSummary = "Card " + c.PaymentMethod
	}
	eff.Receipts = append(eff.Receipts, rc)
}

func brand(b string) string {
	switch strings.ToLower(b) {
	case "":
		return "Card"
	case "amex":
		return "American Express"
	case "mastercard":
		return "Mastercard"
	}
	return strings.ToUpper(b[:1]) + b[1:]
}

// Document renders the receipt as plain text (the downloadable copy; no PDF): who, what,
// how much, paid how, and the lot it bought with its expiry.
func (rc Receipt) Document(tenantName string, lotExpires time.Time) string {
	var b strings.Builder
	title := "RECEIPT"
	if rc.Kind == ReceiptKindInvoice {
		title = "INVOICE"
	}
	what := "Communications Credits purchase"
	if rc.Purpose == string(recharge.PurposeRecharge) {
		what = "Communications Credits automatic recharge"
	}
	amt := rc.Amount.Format(rc.Currency) + " " + rc.Currency.Code
	fmt.Fprintf(&b, "%s %s\n\n", title, rc.Number)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-16s %s\n", k+":", v)
		}
	}
	row("Date", rc.IssuedAt.UTC().Format("2 January 2006 15:04 MST"))
	row("Customer", tenantName)
	row("Description", what)
	row("Amount", amt)
	row("Paid with", rc.MethodSummary)
	row("Purchase order", rc.PurchaseOrder)
	row("Reference", rc.PaymentID)
	if !lotExpires.IsZero() {
		row("Credits expire", lotExpires.UTC().Format("2 January 2006"))
	}
	if rc.Kind == ReceiptKindInvoice {
		fmt.Fprintf(&b, "\nAmount due: %s, invoiced under the agreement above. The credits are on the balance already.\n", amt)
	} else {
		fmt.Fprintf(&b, "\nAmount paid: %s. Thank you.\n", amt)
	}
	return b.String()
}
