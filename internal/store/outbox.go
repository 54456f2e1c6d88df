package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/money"
)

// OutboxRow is one pending outbox row as the dispatcher reads it: Body is the JSON of the
// tenant.OutboxItem, Currency the tenant's (payment attempts need it).
type OutboxRow struct {
	Tenant    string
	Key       string
	Kind      string
	Body      []byte
	Currency  money.Currency
	CreatedAt time.Time
}

// PendingOutboxRows lists up to limit outbox rows of the given kinds (all kinds when none)
// not yet done, of every tenant, oldest first.
func (s *SQL) PendingOutboxRows(ctx context.Context, limit int, kinds ...string) ([]OutboxRow, error) {
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT o.tenant_id, o.key, o.kind, o.body, o.created_at, t.currency
		FROM outbox o JOIN tenants t ON t.id = o.tenant_id WHERE o.done_at IS NULL`
	var args []any
	if len(kinds) > 0 {
		q += ` AND o.kind IN (?` + strings.Repeat(`, ?`, len(kinds)-1) + `)`
		for _, k := range kinds {
			args = append(args, k)
		}
	}
	q += ` ORDER BY o.created_at, o.tenant_id, o.key LIMIT ?`
	args = append(args, limit)
	var out []OutboxRow
	err := each(ctx, s.read, q, args, func(r rows) error {
		var o OutboxRow
		var body, code string
		var at int64
		if err := r.Scan(&o.Tenant, &o.Key, &o.Kind, &body, &at, &code); err != nil {
			return err
		}
		cur, err := money.LookupCurrency(code)
		if err != nil {
			return fmt.Errorf("outbox %q of tenant %q: %w", o.Key, o.Tenant, err)
		}
		o.Body, o.Currency, o.CreatedAt = []byte(body), cur, fromNano(at)
		out = append(out, o)
		return nil
	})
	return out, err
}

// MarkOutboxDone records that the row's side effect has been handed on (its job enqueued).
// Marking a row twice keeps the first time.
func (s *SQL) MarkOutboxDone(ctx context.Context, tenant, key string, at time.Time) error {
	return s.retryTx(ctx, func(tx Tx) error {
		_, err := tx.(*sqlTx).q.exec(ctx, `UPDATE outbox SET done_at = ? WHERE tenant_id = ? AND key = ? AND done_at IS NULL`,
			at.UnixNano(), tenant, key)
		return err
	})
}
