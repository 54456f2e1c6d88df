package store

import (
	"context"
	"strconv"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/tenant"
)

// Read queries for reports and the scenario runner: every row of a tenant's charging
// tables, in a stable order. They read committed data through the read connection.

// PoolUsageRow is one row of pool_usage: seconds a pool paid (Used) and holds (Held) in a month.
type PoolUsageRow struct {
	Month plans.Month
	Key   plans.PoolKey
	Used  int64
	Held  int64
}

// ReportPoolUsage lists a tenant's pool use of every month, by month then key.
func (s *SQL) ReportPoolUsage(ctx context.Context, tenantID string) ([]PoolUsageRow, error) {
	r, err := s.read.query(ctx, `SELECT month, kind, plan, country, user_id, used, held FROM pool_usage
		WHERE tenant_id = ? ORDER BY month, kind, plan, country, user_id`, tenantID)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []PoolUsageRow
	for r.Next() {
		var p PoolUsageRow
		var month, kind string
		if err := r.Scan(&month, &kind, &p.Key.Plan, &p.Key.Country, &p.Key.User, &p.Used, &p.Held); err != nil {
			return nil, err
		}
		p.Month, p.Key.Kind = plans.Month(month), plans.PoolKind(kind)
		out = append(out, p)
	}
	return out, r.Err()
}

// SpendRow is one user's credit spend in one month.
type SpendRow struct {
	Month  plans.Month
	User   string
	Amount money.Amount
}

// ReportSpend lists a tenant's user spend of every month, by month then user.
func (s *SQL) ReportSpend(ctx context.Context, tenantID string) ([]SpendRow, error) {
	r, err := s.read.query(ctx, `SELECT month, user_id, amount FROM user_spend WHERE tenant_id = ? ORDER BY month, user_id`, tenantID)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []SpendRow
	for r.Next() {
		var row SpendRow
		var month string
		if err := r.Scan(&month, &row.User, (*int64)(&row.Amount)); err != nil {
			return nil, err
		}
		row.Month = plans.Month(month)
		out = append(out, row)
	}
	return out, r.Err()
}

// UsageRecord is one row of the usage table (the PSTN usage report) as stored: numbers in
// E.164 digits, money in minor units, the card reference as text ("outbound/USD/v1#3").
type UsageRecord struct {
	charging.UsageRow
	CardRefText string
}

// ReportUsage lists a tenant's PSTN usage rows by start time, call id and leg.
func (s *SQL) ReportUsage(ctx context.Context, tenantID string) ([]UsageRecord, error) {
	var out []UsageRecord
	err := each(ctx, s.read, usageSelect+` WHERE tenant_id = ? AND duration_seconds > 0 ORDER BY start_at, call_id, leg`, []any{tenantID}, func(r rows) error {
		u, err := scanUsage(r, tenantID)
		out = append(out, u)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

const usageSelect = `SELECT call_id, leg, conference_id, user_location, user_id, upn, display_name,
	caller_id, call_type, number_type, international, destination_dialed, destination_number, start_at, end_at,
	duration_seconds, connection_fee, charge, currency, capability, card_ref, pool_seconds, review FROM usage`

func scanUsage(r rows, tenantID string) (UsageRecord, error) {
	u := UsageRecord{UsageRow: charging.UsageRow{Tenant: tenantID}}
	var intl, start, end int64
	err := r.Scan(&u.CallID, &u.Leg, &u.ConferenceID, &u.UserLocation, &u.UserID, &u.UPN, &u.DisplayName,
		&u.CallerID, &u.CallType, &u.NumberType, &intl, &u.DestinationDialed, &u.DestinationNumber, &start, &end,
		&u.DurationSeconds, (*int64)(&u.ConnectionFee), (*int64)(&u.Charge), &u.Currency, &u.Capability,
		&u.CardRefText, &u.PoolSeconds, &u.Review)
	u.International, u.Start, u.End = intl != 0, fromNano(start), fromNano(end)
	return u, err
}

// ReportRefusals lists a tenant's refused calls by time, then call id and leg.
func (s *SQL) ReportRefusals(ctx context.Context, tenantID string) ([]tenant.Refusal, error) {
	r, err := s.read.query(ctx, `SELECT call_id, leg, user_id, call_type, callee, reason, at FROM refusals
		WHERE tenant_id = ? ORDER BY at, call_id, leg, user_id, reason`, tenantID)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []tenant.Refusal
	for r.Next() {
		var f tenant.Refusal
		var typ, reason string
		var at int64
		if err := r.Scan(&f.CallID, &f.Leg, &f.User, &typ, &f.Callee, &reason, &at); err != nil {
			return nil, err
		}
		f.Type, f.Reason, f.At = payer.CallType(typ), charging.Reason(reason), fromNano(at)
		out = append(out, f)
	}
	return out, r.Err()
}

// ReportBlockEvents lists a tenant's block and unblock events by time, then user.
func (s *SQL) ReportBlockEvents(ctx context.Context, tenantID string) ([]charging.BlockEvent, error) {
	r, err := s.read.query(ctx, `SELECT user_id, phone, reason, action, at FROM block_events
		WHERE tenant_id = ? ORDER BY at, user_id, action, reason, phone`, tenantID)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []charging.BlockEvent
	for r.Next() {
		e := charging.BlockEvent{Tenant: tenantID}
		var reason, action string
		var at int64
		if err := r.Scan(&e.User, &e.Phone, &reason, &action, &at); err != nil {
			return nil, err
		}
		e.Reason, e.Action, e.At = charging.Reason(reason), charging.BlockAction(action), fromNano(at)
		out = append(out, e)
	}
	return out, r.Err()
}

// UsageFilter selects usage rows: start time in [From, To), and when set, one user, call
// type and capability.
type UsageFilter struct {
	From, To   time.Time
	User       string
	CallType   string
	Capability string
}

func (f UsageFilter) where(tenantID string) (string, []any) {
	// A row of zero seconds only keeps an idempotency record (Mutation.UsageRecords).
	w := `tenant_id = ? AND start_at >= ? AND start_at < ? AND duration_seconds > 0`
	args := []any{tenantID, f.From.UnixNano(), f.To.UnixNano()}
	for _, c := range []struct{ col, v string }{{"user_id", f.User}, {"call_type", f.CallType}, {"capability", f.Capability}} {
		if c.v != "" {
			w += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	return w, args
}

// EachUsage calls fn for every usage row of the filter, by start time, call id and leg,
// one row at a time: a year of calls is never held in memory. An error from fn stops it.
func (s *SQL) EachUsage(ctx context.Context, tenantID string, f UsageFilter, fn func(*UsageRecord) error) error {
	where, args := f.where(tenantID)
	return each(ctx, s.read, usageSelect+` WHERE `+where+` ORDER BY start_at, call_id, leg`, args, func(r rows) error {
		u, err := scanUsage(r, tenantID)
		if err != nil {
			return err
		}
		return fn(&u)
	})
}

// UsageDay is the number of calls and their charges on one UTC day.
type UsageDay struct {
	Day    time.Time // midnight UTC
	Calls  int64
	Charge money.Amount
}

// ReportUsageDaily sums the filter's calls and charges per UTC day of their start, by day;
// days without calls are left out.
func (s *SQL) ReportUsageDaily(ctx context.Context, tenantID string, f UsageFilter) ([]UsageDay, error) {
	where, args := f.where(tenantID)
	const day = int64(24 * time.Hour)
	var out []UsageDay
	// Integer division on both engines; start_at is never negative for a real call.
	err := each(ctx, s.read, `SELECT start_at / `+strconv.FormatInt(day, 10)+` AS d, COUNT(*), COALESCE(SUM(charge), 0)
		FROM usage WHERE `+where+` GROUP BY d ORDER BY d`, args, func(r rows) error {
		var d, n, sum int64
		if err := r.Scan(&d, &n, &sum); err != nil {
			return err
		}
		out = append(out, UsageDay{Day: fromNano(d * day), Calls: n, Charge: money.Amount(sum)})
		return nil
	})
	return out, err
}

// EachEntry calls fn for every ledger entry of a tenant with at in [from, to), by seq.
func (s *SQL) EachEntry(ctx context.Context, tenantID string, from, to time.Time, fn func(ledger.Entry) error) error {
	return each(ctx, s.read, entrySelect+` WHERE tenant_id = ? AND at >= ? AND at < ? ORDER BY seq`,
		[]any{tenantID, from.UnixNano(), to.UnixNano()}, func(r rows) error {
			e, err := scanEntry(r)
			if err != nil {
				return err
			}
			return fn(e)
		})
}

// ReportRecharge reads a tenant's auto-recharge state (settings included); a tenant that
// never set it up has recharge.New's.
func (s *SQL) ReportRecharge(ctx context.Context, tenantID string) (*recharge.State, error) {
	st := recharge.New(tenantID)
	return st, loadRecharge(ctx, s.read, tenantID, st)
}
