package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/tenant"
)

// The charging statements a batch runs, each in a variant per chunk size.
const (
	upsertPoolUsage batchKind = iota + batchKinds
	upsertSpend
	upsertCalls
	deleteCalls
	insertUsage
	insertBlockEvents
	upsertBlockStates
	deleteBlockStates
	insertRefusals
	insertOutbox
	chargingKinds
)

var chargingTexts = func() (t [chargingKinds - batchKinds][len(chunks)]string) {
	for i, n := range chunks {
		t[upsertPoolUsage-batchKinds][i] = rowsText(`INSERT INTO pool_usage (tenant_id, month, kind, plan, country, user_id, used, held) VALUES `, 8, n,
			` ON CONFLICT (tenant_id, month, kind, plan, country, user_id) DO UPDATE SET used = excluded.used, held = excluded.held`)
		t[upsertSpend-batchKinds][i] = rowsText(`INSERT INTO user_spend (tenant_id, month, user_id, amount) VALUES `, 4, n,
			` ON CONFLICT (tenant_id, month, user_id) DO UPDATE SET amount = excluded.amount`)
		t[upsertCalls-batchKinds][i] = rowsText(`INSERT INTO open_calls (tenant_id, call_key, body, expires_at, res_amount,
			res_created_at, res_expires_at) VALUES `, 7, n, ` ON CONFLICT (tenant_id, call_key) DO UPDATE SET body = excluded.body,
			expires_at = excluded.expires_at, res_amount = excluded.res_amount, res_created_at = excluded.res_created_at,
			res_expires_at = excluded.res_expires_at`)
		t[deleteCalls-batchKinds][i] = rowsText(`DELETE FROM open_calls WHERE (tenant_id, call_key) IN (VALUES `, 2, n, `)`)
		// A call has one usage row: a second insert of it inserts nothing, and Save sends
		// the batch back for lookups (the row keeps the record of the call's key).
		t[insertUsage-batchKinds][i] = rowsText(`INSERT INTO usage (`+strings.Join(usageColumns, ", ")+`) VALUES `, usageCols, n,
			` ON CONFLICT (tenant_id, call_id, leg) DO NOTHING`)
		t[insertBlockEvents-batchKinds][i] = rowsText(`INSERT INTO block_events (tenant_id, user_id, phone, reason, action, at) VALUES `, 6, n, ``)
		t[upsertBlockStates-batchKinds][i] = rowsText(`INSERT INTO block_states (tenant_id, user_id, reason, since) VALUES `, 4, n,
			` ON CONFLICT (tenant_id, user_id) DO UPDATE SET reason = excluded.reason, since = excluded.since`)
		t[deleteBlockStates-batchKinds][i] = rowsText(`DELETE FROM block_states WHERE (tenant_id, user_id) IN (VALUES `, 2, n, `)`)
		t[insertRefusals-batchKinds][i] = rowsText(`INSERT INTO refusals (tenant_id, call_id, leg, user_id, call_type, callee, reason, at) VALUES `, 8, n, ``)
		t[insertOutbox-batchKinds][i] = rowsText(`INSERT INTO outbox (tenant_id, key, kind, body, created_at) VALUES `, 5, n,
			` ON CONFLICT (tenant_id, key) DO NOTHING`)
	}
	return t
}()

const upsertRechargeState = `INSERT INTO recharge_state (tenant_id, body, next_notice) VALUES (?, ?, ?)
	ON CONFLICT (tenant_id) DO UPDATE SET body = excluded.body, next_notice = excluded.next_notice`

func init() {
	for k := range chargingTexts {
		prepared = append(prepared, chargingTexts[k][:]...)
	}
	prepared = append(prepared, upsertRechargeState)
}

// usageColumns are a usage row's columns, in the order usageArgs gives their values.
var usageColumns = []string{"tenant_id", "call_id", "leg", "conference_id", "user_location", "user_id", "upn",
	"display_name", "caller_id", "call_type", "number_type", "international", "destination_dialed", "destination_number",
	"start_at", "end_at", "duration_seconds", "connection_fee", "charge", "currency", "capability", "card_ref",
	"pool_seconds", "review", "cmd_kind", "cmd_hash", "cmd_result"}

var usageCols = len(usageColumns)

// UsageColumns returns the usage table's columns in the order the writer fills them (for
// the benchmark's raw ceiling, which must write the same row).
func UsageColumns() []string { return append([]string(nil), usageColumns...) }

// noBytes is an empty column value that is not NULL.
var noBytes = []byte{}

// usageArgs appends the values of m's usage rows, with the records they keep, to args.
// refs holds the text of the card rows met so far: most calls of a batch go to a few rows.
func usageArgs(args []any, m *Mutation, refs map[rating.Ref]string) []any {
	id := m.Account.Tenant
	for i := range m.Usage {
		u := &m.Usage[i]
		intl := int64(0)
		if u.International {
			intl = 1
		}
		kind, hash, result := "", noBytes, noBytes
		if i < len(m.UsageRecords) && m.UsageRecords[i].Hash != nil {
			r := &m.UsageRecords[i]
			kind, hash, result = r.Kind, r.Hash, r.Result
		}
		args = append(args, id, u.CallID, u.Leg, u.ConferenceID, u.UserLocation, u.UserID, u.UPN, u.DisplayName,
			u.CallerID, u.CallType, u.NumberType, intl, u.DestinationDialed, u.DestinationNumber, nanos(u.Start),
			nanos(u.End), u.DurationSeconds, int64(u.ConnectionFee), int64(u.Charge), u.Currency, u.Capability,
			refText(refs, u.CardRef), u.PoolSeconds, u.Review, kind, hash, result)
	}
	return args
}

// chargingRows collects the charging rows of every mutation of a batch: each kind costs
// one multi-row statement per chunk for the whole batch, not one per tenant. Rows that
// summarize state (pools, spend, open calls, block states) are written as the mutation's
// State has them now; block events and refusals are appended. Usage rows go with the
// command records (usageArgs).
type chargingRows struct {
	pools, spend, calls, closed, events, blocked, unblocked, refusals, outbox []any
}

// add collects m's rows and appends the statements that are m's alone.
func (c *chargingRows) add(stmts []stmt, m *Mutation) ([]stmt, error) {
	s, id := m.State, m.Account.Tenant
	for _, ref := range dedupe(m.Pools) {
		u := s.Usage[ref]
		if u == nil {
			continue
		}
		k := ref.Key
		c.pools = append(c.pools, id, string(ref.Month), string(k.Kind), k.Plan, k.Country, k.User, u.Used, u.Held)
	}
	for _, ref := range dedupe(m.Spend) {
		c.spend = append(c.spend, id, string(ref.Month), ref.User, int64(s.Spend[ref]))
	}
	// A call's row holds its ledger reservation: a reservation that changed rewrites the
	// row of its call.
	keys := m.Calls[:len(m.Calls):len(m.Calls)]
	for _, r := range m.Reservations {
		if s.Calls[r.ID] != nil {
			keys = append(keys, r.ID)
		}
	}
	for _, r := range m.Closed {
		if s.Calls[r] != nil {
			keys = append(keys, r)
		}
	}
	for _, key := range dedupe(keys) {
		cl, open := s.Calls[key]
		if !open {
			c.closed = append(c.closed, id, key)
			continue
		}
		body := encodeCall(cl)
		var amt, created, expires int64
		if r := m.Account.Reservations[key]; r != nil {
			amt, created, expires = int64(r.Amount), r.CreatedAt.UnixNano(), r.ExpiresAt.UnixNano()
		}
		c.calls = append(c.calls, id, key, body, cl.ExpiresAt.UnixNano(), amt, created, expires)
	}
	var users map[string]bool
	for _, e := range m.BlockEvents {
		c.events = append(c.events, id, e.User, e.Phone, string(e.Reason), string(e.Action), e.At.UnixNano())
		if users == nil {
			users = map[string]bool{}
		}
		users[e.User] = true
	}
	for user := range users {
		if b := s.Blocks[user]; b.Blocked {
			c.blocked = append(c.blocked, id, user, string(b.Reason), b.Since.UnixNano())
		} else {
			c.unblocked = append(c.unblocked, id, user)
		}
	}
	for _, r := range m.Refusals {
		c.refusals = append(c.refusals, id, r.CallID, r.Leg, r.User, string(r.Type), r.Callee, string(r.Reason), r.At.UnixNano())
	}
	for _, o := range m.Outbox {
		body, err := json.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("outbox %q: %w", o.Key, err)
		}
		c.outbox = append(c.outbox, id, o.Key, o.Kind, string(body), m.At.UnixNano())
	}
	if m.Recharge {
		body, err := json.Marshal(s.Recharge)
		if err != nil {
			return nil, fmt.Errorf("recharge state: %w", err)
		}
		next := int64(0)
		if t := s.Recharge.NextNotice; !t.IsZero() {
			next = t.UnixNano()
		}
		stmts = append(stmts, stmt{upsertRechargeState, []any{id, string(body), next}})
	}
	return receiptStmts(stmts, m), nil
}

// stmts appends the statements that write the rows collected.
func (c *chargingRows) stmts(stmts []stmt) []stmt {
	for _, p := range []struct {
		k    batchKind
		cols int
		args []any
	}{
		{upsertPoolUsage, 8, c.pools}, {upsertSpend, 4, c.spend}, {deleteCalls, 2, c.closed}, {upsertCalls, 7, c.calls},
		{insertBlockEvents, 6, c.events}, {deleteBlockStates, 2, c.unblocked},
		{upsertBlockStates, 4, c.blocked}, {insertRefusals, 8, c.refusals}, {insertOutbox, 5, c.outbox},
	} {
		stmts = chunked(stmts, p.k, p.cols, p.args)
	}
	return stmts
}

// nanos is t in Unix nanoseconds, 0 for the zero time (a row that only keeps a record).
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func refText(refs map[rating.Ref]string, r rating.Ref) string {
	t, ok := refs[r]
	if !ok {
		t = cardRef(r)
		refs[r] = t
	}
	return t
}

// cardRef writes a rate card row reference as the usage report does: "outbound/USD/v3#12".
func cardRef(r rating.Ref) string {
	if r.Service == "" {
		return ""
	}
	b := make([]byte, 0, len(r.Service)+len(r.Currency)+16)
	b = append(append(append(append(b, r.Service...), '/'), r.Currency...), "/v"...)
	b = append(strconv.AppendInt(b, int64(r.Version), 10), '#')
	return string(strconv.AppendInt(b, int64(r.Row), 10))
}

func dedupe[T comparable](xs []T) []T {
	if len(xs) < 2 {
		return xs
	}
	seen := make(map[T]bool, len(xs))
	out := xs[:0:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// loadCharging reads a tenant's pool use and spend from month since on, its calls in
// progress and its block states.
func loadCharging(ctx context.Context, q querier, id string, since plans.Month) (map[tenant.PoolRef]*tenant.PoolUse,
	map[tenant.SpendRef]money.Amount, []*tenant.Call, map[string]charging.BlockState, error) {
	usage := map[tenant.PoolRef]*tenant.PoolUse{}
	spend := map[tenant.SpendRef]money.Amount{}
	blocks := map[string]charging.BlockState{}
	var calls []*tenant.Call
	err := each(ctx, q, `SELECT month, kind, plan, country, user_id, used, held FROM pool_usage WHERE tenant_id = ? AND month >= ?`,
		[]any{id, string(since)}, func(r rows) error {
			var ref tenant.PoolRef
			var month, kind string
			u := &tenant.PoolUse{}
			if err := r.Scan(&month, &kind, &ref.Key.Plan, &ref.Key.Country, &ref.Key.User, &u.Used, &u.Held); err != nil {
				return err
			}
			ref.Month, ref.Key.Kind = plans.Month(month), plans.PoolKind(kind)
			usage[ref] = u
			return nil
		})
	if err == nil {
		err = each(ctx, q, `SELECT month, user_id, amount FROM user_spend WHERE tenant_id = ? AND month >= ?`,
			[]any{id, string(since)}, func(r rows) error {
				var ref tenant.SpendRef
				var month string
				var amt int64
				if err := r.Scan(&month, &ref.User, &amt); err != nil {
					return err
				}
				ref.Month = plans.Month(month)
				spend[ref] = money.Amount(amt)
				return nil
			})
	}
	if err == nil {
		err = each(ctx, q, `SELECT body FROM open_calls WHERE tenant_id = ?`, []any{id}, func(r rows) error {
			var body string
			if err := r.Scan(&body); err != nil {
				return err
			}
			c, err := decodeCall(body)
			if err != nil {
				return fmt.Errorf("open call of %q: %w", id, err)
			}
			calls = append(calls, c)
			return nil
		})
	}
	if err == nil {
		err = each(ctx, q, `SELECT user_id, reason, since FROM block_states WHERE tenant_id = ?`, []any{id}, func(r rows) error {
			var user, reason string
			var since int64
			if err := r.Scan(&user, &reason, &since); err != nil {
				return err
			}
			blocks[user] = charging.BlockState{Blocked: true, Reason: charging.Reason(reason), Since: fromNano(since)}
			return nil
		})
	}
	return usage, spend, calls, blocks, err
}

// each runs q and calls fn for every row.
func each(ctx context.Context, q querier, text string, args []any, fn func(rows) error) error {
	r, err := q.query(ctx, text, args...)
	if err != nil {
		return err
	}
	defer r.Close()
	for r.Next() {
		if err := fn(r); err != nil {
			return err
		}
	}
	return r.Err()
}

// loadState reads everything the writer holds for a tenant. Pool use and spend are read
// from the month before now's on: older months can no longer change.
func loadState(ctx context.Context, q querier, id string, now time.Time) (*tenant.State, int64, error) {
	a, version, err := loadAccount(ctx, q, id)
	if err != nil {
		return nil, 0, err
	}
	d, err := loadDirectory(ctx, q, id)
	if err != nil {
		return nil, 0, err
	}
	since := plans.MonthOf(time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, time.UTC))
	usage, spend, calls, blocks, err := loadCharging(ctx, q, id, since)
	if err != nil {
		return nil, 0, err
	}
	st := tenant.Restore(a, d, usage, spend, calls, blocks)
	if err := loadRecharge(ctx, q, id, st.Recharge); err != nil {
		return nil, 0, err
	}
	// The balance the policy saw last is the account's: every change it saw came from it.
	st.Recharge.Balance, st.Recharge.Available = a.Balance, a.Available()
	return st, version, nil
}

// loadRecharge reads a tenant's auto-recharge state into st; without a row st is unchanged.
func loadRecharge(ctx context.Context, q querier, id string, st *recharge.State) error {
	err := each(ctx, q, `SELECT body FROM recharge_state WHERE tenant_id = ?`, []any{id}, func(r rows) error {
		var body string
		if err := r.Scan(&body); err != nil {
			return err
		}
		return json.Unmarshal([]byte(body), st)
	})
	if err != nil {
		return fmt.Errorf("recharge state of %q: %w", id, err)
	}
	return nil
}

// DueTenants lists the tenants with something due by now: a call in progress, a
// reservation or a lot with money left past its time, or a notice (funds or card
// expiring) whose time has come. A Tick applies it.
func (s *SQL) DueTenants(ctx context.Context, now time.Time) ([]string, error) {
	var ids []string
	at := now.UnixNano()
	err := each(ctx, s.read, `SELECT tenant_id FROM open_calls WHERE expires_at <= ?
		UNION SELECT tenant_id FROM reservations WHERE expires_at <= ?
		UNION SELECT tenant_id FROM open_calls WHERE res_expires_at <> 0 AND res_expires_at <= ?
		UNION SELECT tenant_id FROM lots WHERE remaining > 0 AND expires_at <= ?
		UNION SELECT tenant_id FROM recharge_state WHERE next_notice > 0 AND next_notice <= ?`, []any{at, at, at, at, at}, func(r rows) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	return ids, err
}

// PendingOutbox lists a tenant's outbox items not yet done, oldest first.
func (s *SQL) PendingOutbox(ctx context.Context, id string) ([]tenant.OutboxItem, error) {
	var out []tenant.OutboxItem
	err := each(ctx, s.read, `SELECT key, kind FROM outbox WHERE tenant_id = ? AND done_at IS NULL ORDER BY created_at, key`,
		[]any{id}, func(r rows) error {
			var o tenant.OutboxItem
			if err := r.Scan(&o.Key, &o.Kind); err != nil {
				return err
			}
			out = append(out, o)
			return nil
		})
	return out, err
}
