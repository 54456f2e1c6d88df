// Package report is the report engine of domain §8: the PSTN usage report (with its zip,
// CSV and XLSX exports and a per-day chart series), minute pools of a month, blocked users,
// the credits statement, and funding help (burn rate, runway, suggested auto-recharge
// settings and a dry run of any settings over the last 60 days).
//
// It is a plain Go API for the CLI, the REST API and the web UI: a request struct in, a
// JSON-tagged result struct out, plus writers for export files. It only reads committed
// data; the dry run replays history through the pure ledger and recharge packages in
// memory. Rules are documented in docs/reports.md.
package report

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/store"
)

// Errors callers test with errors.Is; each is wrapped with the offending field and value.
var (
	// ErrInvalid: a request field is malformed or unknown (an API answers 400).
	ErrInvalid = errors.New("report: invalid request")
	// ErrTooOld: the range starts more than MaxLookback before now.
	ErrTooOld = errors.New("report: range starts more than one year back")
	// ErrNotFound: no such tenant.
	ErrNotFound = store.ErrNotFound
)

// FieldError is a refused request field; it wraps ErrInvalid or ErrTooOld.
type FieldError struct {
	Field string
	Msg   string
	Err   error
}

func (e *FieldError) Error() string { return "report: " + e.Field + ": " + e.Msg }
func (e *FieldError) Unwrap() error { return e.Err }

// ParseTime reads an end of a report's range as the CLI and the API take it: RFC 3339 (its
// offset kept), or a date (UTC midnight; with endOfDay the next midnight, so that a "to"
// date includes its day). "" is the zero time: the default range.
func ParseTime(s string, endOfDay bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, errors.New("want RFC 3339 (2026-09-01T00:00:00Z) or a date (2026-09-01)")
	}
	if endOfDay {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

func invalid(field, format string, a ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...), Err: ErrInvalid}
}

// Store is what the engine reads; *store.SQL implements it on both engines.
type Store interface {
	Tenant(ctx context.Context, id string) (store.Tenant, error)
	Account(ctx context.Context, tenant string) (*ledger.Account, error)
	Lots(ctx context.Context, tenant string) ([]ledger.Lot, error)
	Directory(ctx context.Context, tenant string) (*directory.Directory, error)
	EachUsage(ctx context.Context, tenant string, f store.UsageFilter, fn func(*store.UsageRecord) error) error
	ReportUsageDaily(ctx context.Context, tenant string, f store.UsageFilter) ([]store.UsageDay, error)
	ReportPoolUsage(ctx context.Context, tenant string) ([]store.PoolUsageRow, error)
	ReportBlockEvents(ctx context.Context, tenant string) ([]charging.BlockEvent, error)
	EachEntry(ctx context.Context, tenant string, from, to time.Time, fn func(ledger.Entry) error) error
	ReportRecharge(ctx context.Context, tenant string) (*recharge.State, error)
}

// Engine answers report requests. Zero fields take their defaults.
type Engine struct {
	Store Store
	// Catalog sizes pools and names capabilities: plans.Default() when nil.
	Catalog *plans.Catalog
	// DialOutBasis is the operator's dial-out pool basis (assigned when "").
	DialOutBasis plans.Basis
	// Recharge is the operator's funding policy (minimum purchase); its Currency is set per
	// tenant by the engine.
	Recharge recharge.Config
	// Ledger is the operator's ledger configuration (lot lifetime) for the dry run.
	Ledger ledger.Config
	// Now is the clock: time.Now when nil. Reports read "now" once per request.
	Now func() time.Time
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) catalog() *plans.Catalog {
	if e.Catalog != nil {
		return e.Catalog
	}
	return plans.Default()
}

// tenant reads the tenant or says which field named an unknown one.
func (e *Engine) tenant(ctx context.Context, id string) (store.Tenant, error) {
	if id == "" {
		return store.Tenant{}, invalid("tenant", "required")
	}
	t, err := e.Store.Tenant(ctx, id)
	if err != nil {
		return t, fmt.Errorf("report: tenant %q: %w", id, err)
	}
	return t, nil
}

// oldest is the earliest instant a usage report may start at (domain §8: up to one year
// back, in calendar terms).
func oldest(now time.Time) time.Time { return now.AddDate(-1, 0, 0) }

// span is a half-open time range [From, To) in UTC.
type span struct{ From, To time.Time }

// resolveRange applies the defaults (To = now, From = To − 30 days), clamps To to now and
// refuses a From older than one year before now or not before To.
func resolveRange(r span, now time.Time) (span, error) {
	if r.To.IsZero() || r.To.After(now) {
		r.To = now
	}
	if r.From.IsZero() {
		r.From = r.To.AddDate(0, 0, -30)
		if lo := oldest(now); r.From.Before(lo) {
			r.From = lo
		}
	}
	r.From, r.To = r.From.UTC(), r.To.UTC()
	if lo := oldest(now); !r.To.After(lo) {
		return r, &FieldError{Field: "to", Err: ErrTooOld,
			Msg: fmt.Sprintf("%s is more than one year before now (the earliest allowed is %s)", r.To.Format(time.RFC3339), lo.Format(time.RFC3339))}
	}
	if lo := oldest(now); r.From.Before(lo) {
		return r, &FieldError{Field: "from", Err: ErrTooOld,
			Msg: fmt.Sprintf("%s is more than one year before now (the earliest allowed is %s)", r.From.Format(time.RFC3339), lo.Format(time.RFC3339))}
	}
	if !r.From.Before(r.To) {
		return r, invalid("from", "%s is not before to %s", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
	}
	return r, nil
}
