package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payment"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// Options tune Run.
type Options struct {
	// Dir is the directory rate card files are relative to (the scenario file's directory).
	Dir string
	// TempDir is where the scenario's database is created (in a new directory removed
	// afterwards); "" means os.TempDir().
	TempDir string
	// Inspect, when set, is called with the scenario's store and clock once the run ended
	// without error and the final state was collected, before the database is removed:
	// tests of read paths (reports) use it to query real tenant states.
	Inspect func(ctx context.Context, st *store.SQL, now time.Time) error
}

// Clock is the simulated clock: only the scenario moves it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the scenario's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *Clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t.UTC()
	c.mu.Unlock()
}

// Run parses a scenario and runs it against a fresh engine; see RunSteps.
func Run(ctx context.Context, r io.Reader, opts Options) (*Output, error) {
	steps, err := Parse(r)
	if err != nil {
		return nil, err
	}
	return RunSteps(ctx, steps, opts)
}

// RunSteps runs parsed steps against a fresh engine: a new SQLite database in a temporary
// directory, store.New and writer.New with a simulated clock, the commands submitted through
// the writer as serve's API does. A step the engine refuses, or an expectation that does not
// hold, stops the run with an *Error naming its line; the output then holds the state
// reached so far.
func RunSteps(ctx context.Context, steps []Step, opts Options) (out *Output, err error) {
	dir, err := os.MkdirTemp(opts.TempDir, "commcredits-scenario-")
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	defer os.RemoveAll(dir)
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(dir, "scenario.db"), db.WithMigrate())
	if err != nil {
		return nil, fmt.Errorf("scenario: open database: %w", err)
	}
	defer d.Close()
	start := DefaultStart
	if len(steps) > 0 && steps[0].Kind == "clock" {
		start = steps[0].At
	}
	reg := rating.NewRegistry()
	env := &tenant.Env{Catalog: plans.Default(), Cards: reg}
	clk := &Clock{t: start}
	st := store.New(d)
	w := writer.New(st, clk, writer.Config{Env: env})
	defer w.Close()
	r := &runner{opts: opts, clock: clk, env: env, reg: reg, st: st, w: w,
		currency: map[string]money.Currency{}, lastAuth: map[string]*charging.Authorization{},
		lastSettle: map[string]*charging.Settlement{}, out: &Output{Start: start, Steps: []StepResult{}}}
	var runErr error
	for i := range steps {
		if runErr = r.step(ctx, &steps[i]); runErr != nil {
			break
		}
	}
	// The final state is as of the clock: effects due by now are applied first.
	if err := r.tickAll(ctx); err != nil && runErr == nil {
		runErr = err
	}
	r.out.End = clk.Now()
	if err := r.collect(ctx); err != nil {
		return nil, errors.Join(runErr, fmt.Errorf("scenario: read the final state: %w", err))
	}
	if opts.Inspect != nil && runErr == nil {
		if err := opts.Inspect(ctx, st, r.out.End); err != nil {
			return r.out, err
		}
	}
	return r.out, runErr
}

type runner struct {
	opts       Options
	clock      *Clock
	env        *tenant.Env
	reg        *rating.Registry
	st         *store.SQL
	w          *writer.Writer
	tenants    []TenantSpec
	currency   map[string]money.Currency
	lastAuth   map[string]*charging.Authorization
	lastSettle map[string]*charging.Settlement
	out        *Output
	fakes      map[string]*payment.Fake // per tenant: the card provider of payment steps
}

func (r *runner) fmt(tenantID string, a money.Amount) string { return a.Format(r.currency[tenantID]) }

// submit sends one command through the writer and records what it answered.
func (r *runner) submit(ctx context.Context, st *Step, key string, cmd tenant.Command, res *StepResult) (writer.Result, error) {
	out, err := r.w.Submit(ctx, st.Tenant, key, cmd)
	if err != nil {
		return out, err
	}
	res.Replayed = res.Replayed || out.Replayed
	res.Balance, res.Available = r.fmt(st.Tenant, out.Balance), r.fmt(st.Tenant, out.Available)
	if a := out.Authorization; a != nil {
		r.lastAuth[st.Tenant] = a
		res.Authorization = r.authResult(st.Tenant, a)
	}
	if e := out.Extension; e != nil {
		res.Extensions = append(res.Extensions, ExtResult{At: r.clock.Now(), Allowed: e.Allowed, Reason: string(e.Reason), Granted: e.GrantedSeconds})
	}
	if s := out.Settlement; s != nil {
		r.lastSettle[st.Tenant] = s
		res.Settlement = r.settleResult(st.Tenant, s)
	}
	if p := out.Priced; p != nil {
		r.lastSettle[st.Tenant] = &p.Settlement
		res.Settlement = r.settleResult(st.Tenant, &p.Settlement)
		res.Settlement.FreeCall, res.Settlement.Review = p.FreeCall, string(p.Review)
	}
	return out, nil
}

func (r *runner) authResult(id string, a *charging.Authorization) *AuthResult {
	return &AuthResult{CallID: a.CallID, Allowed: a.Allowed, Reason: string(a.Reason), Outcome: a.Outcome.String(),
		Pool: a.Pool.String(), Credits: a.Credits, Capability: a.Capability, Emergency: a.Emergency,
		MaxSeconds: a.MaxSeconds, Granted: a.GrantedSeconds, PoolHold: a.PoolHold, Reserve: r.fmt(id, a.Reserve),
		RetryAfter: a.RetryAfter}
}

func (r *runner) settleResult(id string, s *charging.Settlement) *SettleResult {
	return &SettleResult{Seconds: s.PoolSeconds + s.CreditSeconds + s.Uncovered, PoolSeconds: s.PoolSeconds,
		CreditSeconds: s.CreditSeconds, Uncovered: s.Uncovered, Fee: s.Fee, Charge: r.fmt(id, s.Charge)}
}

// engineError turns the engine's refusal of a step into a line error, naming the field when
// the engine does (directory errors).
func engineError(st *Step, err error) *Error {
	e := &Error{Line: st.Line, Field: st.Kind, Msg: err.Error(), Err: err}
	var de *directory.Error
	if errors.As(err, &de) && de.Field != "" && de.Line == 0 {
		e.Field, e.Msg = st.Kind+"."+de.Field, de.Msg
	}
	return e
}

func (r *runner) step(ctx context.Context, st *Step) error {
	res := StepResult{Line: st.Line, Step: st.Kind, Tenant: st.Tenant, At: r.clock.Now()}
	err := r.do(ctx, st, &res)
	var se *Error
	if errors.As(err, &se) && errors.Is(se, ErrExpectation) {
		r.out.Steps = append(r.out.Steps, res)
		return err
	}
	switch {
	case st.ExpectError != "" && err == nil:
		return &Error{Line: st.Line, Field: st.Kind + ".expect_error", Msg: fmt.Sprintf("want the step refused with %q, it succeeded", st.ExpectError), Err: ErrExpectation}
	case st.ExpectError != "" && !strings.Contains(err.Error(), st.ExpectError):
		return &Error{Line: st.Line, Field: st.Kind + ".expect_error", Msg: fmt.Sprintf("want the step refused with %q, got %v", st.ExpectError, err), Err: ErrExpectation}
	case st.ExpectError != "":
		res.Error = err.Error()
	case err != nil:
		if se != nil {
			return se
		}
		return engineError(st, err)
	}
	r.out.Steps = append(r.out.Steps, res)
	return nil
}

func (r *runner) do(ctx context.Context, st *Step, res *StepResult) error {
	now := r.clock.Now()
	if ok, err := r.doFunding(ctx, st, res); ok {
		return err
	}
	switch st.Kind {
	case "clock":
		return nil
	case "config":
		c := st.Config
		r.env.CallTTL, r.env.MaxCallSeconds = c.CallTTL, c.MaxCallSeconds
		r.env.Ledger.ExpiryMonths, r.env.Pools.DialOutBasis = c.ExpiryMonths, c.DialOutBasis
		return nil
	case "tenant":
		t := st.NewTenant
		if err := r.st.CreateTenant(ctx, store.Tenant{ID: t.ID, Name: t.Name, Currency: t.Currency, CreatedAt: now}); err != nil {
			return err
		}
		r.tenants = append(r.tenants, *t)
		r.currency[t.ID] = t.Currency
		if t.BillingCountry != "" {
			if _, err := r.submit(ctx, st, st.Key, directory.SetBillingCountry{Country: t.BillingCountry}, res); err != nil {
				return err
			}
		}
		return nil
	case "ratecard":
		rc := st.Ratecard
		data := rc.CSV
		if data == nil {
			var err error
			if data, err = os.ReadFile(filepath.Join(r.opts.Dir, filepath.FromSlash(rc.File))); err != nil {
				return &Error{Line: st.Line, Field: "ratecard.file", Msg: err.Error(), Err: err}
			}
		}
		if _, err := r.reg.Import(rc.Service, rc.Currency, data, now); err != nil {
			return &Error{Line: st.Line, Field: "ratecard", Msg: indentErr(err), Err: err}
		}
		return nil
	case "advance":
		return r.advance(ctx, st)
	case "call":
		return r.call(ctx, st, res)
	case "cdr":
		c := st.CDR.CDR
		if st.CDR.StartIsClock {
			c.Start = now.Add(-time.Duration(c.Duration) * time.Second)
		}
		_, err := r.submit(ctx, st, st.Key, tenant.PostCDR{CDR: c}, res)
		return err
	case "expect":
		if _, err := r.w.Submit(ctx, st.Tenant, "", ledger.Tick{}); err != nil {
			return err
		}
		return r.expect(ctx, st)
	}
	for i, cmd := range st.Commands {
		key := st.Key
		if i > 0 {
			key += "/" + strconv.Itoa(i)
		}
		if _, err := r.submit(ctx, st, key, cmd, res); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) tickAll(ctx context.Context) error {
	for _, t := range r.tenants {
		if _, err := r.w.Submit(ctx, t.ID, "", ledger.Tick{}); err != nil {
			return fmt.Errorf("scenario: tick %q: %w", t.ID, err)
		}
	}
	return nil
}

func (r *runner) advance(ctx context.Context, st *Step) error {
	a, now := st.Advance, r.clock.Now()
	next := now
	switch {
	case a.Duration > 0:
		next = now.Add(a.Duration)
	case a.Months > 0:
		next = ledger.AddMonths(now, a.Months)
	default:
		if a.To.Before(now) {
			return &Error{Line: st.Line, Field: "advance.to", Msg: fmt.Sprintf("%s is before the clock (%s): the clock only moves forward",
				a.To.Format(time.RFC3339), now.Format(time.RFC3339))}
		}
		next = a.To
	}
	// Notices (funds expiring, card expiring) fall due on the way: like the sweep in
	// serve, tick each tenant at the instant its next one is due.
	for range 10_000 {
		var at time.Time
		var who string
		for _, t := range r.tenants {
			s, err := r.state(ctx, t.ID)
			if err != nil {
				return err
			}
			if n := s.Recharge.NextNotice; !n.IsZero() && !n.After(next) && (at.IsZero() || n.Before(at)) {
				at, who = n, t.ID
			}
		}
		if who == "" {
			break
		}
		r.clock.set(at)
		if _, err := r.w.Submit(ctx, who, "", ledger.Tick{}); err != nil {
			return fmt.Errorf("scenario: tick %q: %w", who, err)
		}
	}
	r.clock.set(next)
	if err := r.tickAll(ctx); err != nil {
		return err
	}
	return r.dueRetries(ctx)
}

// call authorizes, then lets the call run: every ExtendEvery seconds it asks for that many
// more seconds, and in between it renews the call every half TTL with an extension of 0
// seconds (a switch's interim update), so that a long call does not expire. Like a switch,
// it cuts the call when it reaches what was granted. Then it settles.
func (r *runner) call(ctx context.Context, st *Step, res *StepResult) error {
	c := st.Call
	out, err := r.submit(ctx, st, st.Key+"/authorize", c.Authorize, res)
	if err != nil {
		return err
	}
	a := out.Authorization
	if a == nil || !a.Allowed {
		return nil
	}
	ttl := r.env.CallTTL
	if ttl <= 0 {
		ttl = 2 * time.Minute // tenant.Env's default
	}
	keepAlive := max(int64(ttl/time.Second)/2, 1)
	start := r.clock.Now()
	granted, elapsed := a.GrantedSeconds, int64(0)
	nextExt, nextKA := c.ExtendEvery, keepAlive
	for n := 1; ; n++ {
		next := min(c.Seconds, nextKA)
		if c.ExtendEvery > 0 {
			next = min(next, nextExt)
		}
		if next > granted {
			elapsed = granted // the switch cuts the call
			break
		}
		elapsed = next
		if elapsed >= c.Seconds {
			break
		}
		r.clock.set(start.Add(time.Duration(elapsed) * time.Second))
		more := int64(0)
		if c.ExtendEvery > 0 && elapsed == nextExt {
			more, nextExt = c.ExtendEvery, nextExt+c.ExtendEvery
		}
		if elapsed == nextKA {
			nextKA += keepAlive
		}
		eo, err := r.w.Submit(ctx, st.Tenant, st.Key+"/extend-"+strconv.Itoa(n), tenant.Extend{CallID: c.Authorize.CallID,
			Leg: c.Authorize.Leg, Seconds: more})
		if err != nil {
			return err
		}
		if e := eo.Extension; e != nil {
			if more > 0 {
				res.Extensions = append(res.Extensions, ExtResult{At: r.clock.Now(), Allowed: e.Allowed, Reason: string(e.Reason), Granted: e.GrantedSeconds})
			}
			if e.Allowed {
				granted = e.GrantedSeconds
			}
		}
	}
	end := start.Add(time.Duration(elapsed) * time.Second)
	r.clock.set(end)
	_, err = r.submit(ctx, st, st.Key+"/settle", tenant.Settle{CallID: c.Authorize.CallID, Leg: c.Authorize.Leg,
		Seconds: elapsed, End: end}, res)
	return err
}

// state reads the whole tenant as the writer would load it.
func (r *runner) state(ctx context.Context, id string) (*tenant.State, error) {
	var s *tenant.State
	err := r.st.WriteTx(ctx, func(tx store.Tx) error {
		var err error
		s, _, err = tx.LoadState(ctx, id, r.clock.Now())
		return err
	})
	return s, err
}

func (r *runner) expect(ctx context.Context, st *Step) error {
	x, id := st.Expect, st.Tenant
	cur := r.currency[id]
	var fails []string
	fail := func(field, format string, args ...any) {
		fails = append(fails, "expect."+field+": "+fmt.Sprintf(format, args...))
	}
	amt := func(field string, want *money.Amount, got money.Amount) {
		if want != nil && *want != got {
			fail(field, "want %s, got %s", want.Format(cur), got.Format(cur))
		}
	}
	num := func(field string, want *int64, got int64) {
		if want != nil && *want != got {
			fail(field, "want %d, got %d", *want, got)
		}
	}
	a, err := r.st.Account(ctx, id)
	if err != nil {
		return err
	}
	amt("balance", x.Balance, a.Balance)
	amt("available", x.Available, a.Available())
	amt("reserved", x.Reserved, a.Reserved)
	amt("debt", x.Debt, a.Debt)
	amt("forfeited", x.Forfeited, a.Totals.Forfeited)
	amt("funded", x.Funded, a.Totals.Funded)
	if x.LiveLots != nil && *x.LiveLots != len(a.Lots) {
		fail("live_lots", "want %d, got %d", *x.LiveLots, len(a.Lots))
	}
	if x.Pool != nil || len(x.Blocked) > 0 {
		s, err := r.state(ctx, id)
		if err != nil {
			return err
		}
		if x.Pool != nil {
			m := x.Pool.Month
			if m == "" {
				m = plans.MonthOf(r.clock.Now())
			}
			rows, err := r.st.ReportPoolUsage(ctx, id)
			if err != nil {
				return err
			}
			var used, held int64
			for _, row := range rows {
				if row.Month == m && row.Key == x.Pool.Key {
					used, held = row.Used, row.Held
				}
			}
			p, _ := s.Pools(m, r.env).Get(x.Pool.Key)
			name := "pool[" + x.Pool.Key.String() + " " + string(m) + "]"
			num(name+".used", x.PoolUsed, used)
			num(name+".held", x.PoolHeld, held)
			num(name+".total", x.PoolTotal, p.TotalSeconds)
			num(name+".left", x.PoolLeft, max(p.TotalSeconds-used-held, 0))
		}
		for _, u := range sortedKeys(x.Blocked) {
			if got := s.Blocks[u].Blocked; got != x.Blocked[u] {
				fail("blocked."+u, "want %t, got %t", x.Blocked[u], got)
			}
		}
	}
	if w := x.Authorization; w != nil {
		got := r.lastAuth[id]
		if got == nil {
			fail("authorization", "no call has been authorized yet")
		} else {
			if w.Allowed != nil && *w.Allowed != got.Allowed {
				fail("authorization.allowed", "want %t, got %t (reason %q)", *w.Allowed, got.Allowed, got.Reason)
			}
			str := func(field string, want *string, got string) {
				if want != nil && *want != got {
					fail(field, "want %q, got %q", *want, got)
				}
			}
			str("authorization.reason", w.Reason, string(got.Reason))
			str("authorization.outcome", w.Outcome, got.Outcome.String())
			str("authorization.capability", w.Capability, got.Capability)
			num("authorization.max_seconds", w.MaxSeconds, got.MaxSeconds)
			num("authorization.granted_seconds", w.Granted, got.GrantedSeconds)
			amt("authorization.reserve", w.Reserve, got.Reserve)
		}
	}
	if w := x.Settlement; w != nil {
		got := r.lastSettle[id]
		if got == nil {
			fail("settlement", "no call has been settled yet")
		} else {
			amt("settlement.charge", w.Charge, got.Charge)
			num("settlement.pool_seconds", w.PoolSeconds, got.PoolSeconds)
			num("settlement.credit_seconds", w.CreditSeconds, got.CreditSeconds)
			if w.Fee != nil && *w.Fee != got.Fee {
				fail("settlement.fee", "want %t, got %t", *w.Fee, got.Fee)
			}
		}
	}
	if x.UsageRows != nil {
		rows, err := r.st.ReportUsage(ctx, id)
		if err != nil {
			return err
		}
		if len(rows) != *x.UsageRows {
			fail("usage_rows", "want %d, got %d", *x.UsageRows, len(rows))
		}
	}
	if x.Refusals != nil {
		rows, err := r.st.ReportRefusals(ctx, id)
		if err != nil {
			return err
		}
		if len(rows) != *x.Refusals {
			fail("refusals", "want %d, got %d", *x.Refusals, len(rows))
		}
	}
	if len(x.Spent) > 0 {
		rows, err := r.st.ReportSpend(ctx, id)
		if err != nil {
			return err
		}
		m := plans.MonthOf(r.clock.Now())
		for _, u := range sortedKeys(x.Spent) {
			var got money.Amount
			for _, row := range rows {
				if row.Month == m && row.User == u {
					got = row.Amount
				}
			}
			want := x.Spent[u]
			amt("spent."+u, &want, got)
		}
	}
	if err := r.expectFunding(ctx, st, fail); err != nil {
		return err
	}
	switch len(fails) {
	case 0:
		return nil
	case 1:
		f, msg, _ := strings.Cut(fails[0], ": ")
		return &Error{Line: st.Line, Field: f, Msg: msg, Err: ErrExpectation}
	}
	return &Error{Line: st.Line, Msg: "expectations failed: " + strings.Join(fails, "; "), Err: ErrExpectation}
}

// collect reads every tenant's final state from the database.
func (r *runner) collect(ctx context.Context) error {
	r.out.Tenants = []TenantOutput{}
	for _, t := range r.tenants {
		to, err := r.tenantOutput(ctx, t)
		if err != nil {
			return fmt.Errorf("tenant %q: %w", t.ID, err)
		}
		r.out.Tenants = append(r.out.Tenants, to)
	}
	return nil
}

func (r *runner) tenantOutput(ctx context.Context, t TenantSpec) (TenantOutput, error) {
	id, cur := t.ID, t.Currency
	f := func(a money.Amount) string { return a.Format(cur) }
	a, err := r.st.Account(ctx, id)
	if err != nil {
		return TenantOutput{}, err
	}
	s, err := r.state(ctx, id)
	if err != nil {
		return TenantOutput{}, err
	}
	o := TenantOutput{ID: id, Name: t.Name, Currency: cur.Code, BillingCountry: s.Dir.BillingCountry,
		Balance: f(a.Balance), Available: f(a.Available()), Reserved: f(a.Reserved), Debt: f(a.Debt),
		Totals: TotalsOutput{Funded: f(a.Totals.Funded), Charged: f(a.Totals.Charged), Forfeited: f(a.Totals.Forfeited), Adjusted: f(a.Totals.Adjusted)},
		Lots:   []LotOutput{}, Entries: []EntryOutput{}, Reservations: []ReservationOutput{}, OpenCalls: []OpenCallOutput{},
		Pools: []PoolOutput{}, Spend: []SpendOutput{}, Usage: []UsageOutput{}, Refusals: []RefusalOutput{},
		BlockEvents: []BlockEventOutput{}, BlockedUsers: []BlockedOutput{}}
	lots, err := r.st.Lots(ctx, id)
	if err != nil {
		return o, err
	}
	for _, l := range lots {
		o.Lots = append(o.Lots, LotOutput(l.View(cur)))
	}
	for after := int64(0); ; {
		es, err := r.st.Entries(ctx, id, after, 1000)
		if err != nil {
			return o, err
		}
		for _, e := range es {
			o.Entries = append(o.Entries, EntryOutput{Seq: e.Seq, Kind: string(e.Kind), Amount: f(e.Amount), Before: f(e.Before),
				After: f(e.After), At: e.At, LotID: e.LotID, Ref: e.Ref, Reason: e.Reason})
			after = e.Seq
		}
		if len(es) < 1000 {
			break
		}
	}
	for _, k := range sortedKeys(a.Reservations) {
		res := a.Reservations[k]
		o.Reservations = append(o.Reservations, ReservationOutput{ID: res.ID, Amount: f(res.Amount), ExpiresAt: res.ExpiresAt})
	}
	for _, k := range sortedKeys(s.Calls) {
		c := s.Calls[k]
		o.OpenCalls = append(o.OpenCalls, OpenCallOutput{Key: c.Key, Granted: c.Granted, PoolHeld: c.PoolHeld, Reserved: f(c.Reserved), ExpiresAt: c.ExpiresAt})
	}
	if o.Pools, err = r.pools(ctx, id, s); err != nil {
		return o, err
	}
	spend, err := r.st.ReportSpend(ctx, id)
	if err != nil {
		return o, err
	}
	for _, sp := range spend {
		o.Spend = append(o.Spend, SpendOutput{Month: string(sp.Month), User: sp.User, Amount: f(sp.Amount)})
	}
	usage, err := r.st.ReportUsage(ctx, id)
	if err != nil {
		return o, err
	}
	for _, u := range usage {
		o.Usage = append(o.Usage, UsageOutput{CallID: u.CallID, Leg: u.Leg, ConferenceID: u.ConferenceID, UserLocation: u.UserLocation,
			UserID: u.UserID, UPN: u.UPN, DisplayName: u.DisplayName, CallerID: u.CallerID, CallType: u.CallType, NumberType: u.NumberType,
			International: u.International, DestinationDialed: u.DestinationDialed, DestinationNumber: u.DestinationNumber,
			Start: u.Start, End: u.End, DurationSeconds: u.DurationSeconds, PoolSeconds: u.PoolSeconds, ConnectionFee: f(u.ConnectionFee),
			Charge: f(u.Charge), Currency: u.Currency, Capability: u.Capability, CardRef: u.CardRefText, Review: u.Review})
	}
	refusals, err := r.st.ReportRefusals(ctx, id)
	if err != nil {
		return o, err
	}
	for _, rf := range refusals {
		o.Refusals = append(o.Refusals, RefusalOutput{CallID: rf.CallID, Leg: rf.Leg, User: rf.User, CallType: string(rf.Type),
			Callee: rf.Callee, Reason: string(rf.Reason), At: rf.At})
	}
	events, err := r.st.ReportBlockEvents(ctx, id)
	if err != nil {
		return o, err
	}
	for _, e := range events {
		o.BlockEvents = append(o.BlockEvents, BlockEventOutput{User: e.User, Phone: e.Phone, Reason: string(e.Reason), Action: string(e.Action), At: e.At})
	}
	for _, u := range sortedKeys(s.Blocks) {
		if b := s.Blocks[u]; b.Blocked {
			o.BlockedUsers = append(o.BlockedUsers, BlockedOutput{User: u, Reason: string(b.Reason), Since: b.Since})
		}
	}
	if o.Notifications, err = r.notifications(ctx, id); err != nil {
		return o, err
	}
	rs, err := r.st.Receipts(ctx, id, "", 0)
	if err != nil {
		return o, err
	}
	for _, rc := range rs {
		o.Receipts = append(o.Receipts, ReceiptOutput{Number: rc.Number, Kind: rc.Kind, Purpose: rc.Purpose, Amount: f(rc.Amount),
			MethodSummary: rc.MethodSummary, PaymentID: rc.PaymentID, LotID: rc.LotID})
	}
	return o, nil
}

// pools lists every pool with use recorded, and every pool of the clock's month, with its
// size under the directory as it is now.
func (r *runner) pools(ctx context.Context, id string, s *tenant.State) ([]PoolOutput, error) {
	rows, err := r.st.ReportPoolUsage(ctx, id)
	if err != nil {
		return nil, err
	}
	type ref struct {
		m plans.Month
		k plans.PoolKey
	}
	use := map[ref]store.PoolUsageRow{}
	months := map[plans.Month]bool{plans.MonthOf(r.clock.Now()): true}
	for _, row := range rows {
		use[ref{row.Month, row.Key}] = row
		months[row.Month] = true
	}
	out := []PoolOutput{}
	for _, m := range slices.Sorted(maps.Keys(months)) {
		sized := s.Pools(m, r.env)
		seen := map[plans.PoolKey]bool{}
		var keys []plans.PoolKey
		for _, e := range sized.All() {
			keys, seen[e.Key] = append(keys, e.Key), true
		}
		for _, row := range rows {
			if row.Month == m && !seen[row.Key] {
				keys, seen[row.Key] = append(keys, row.Key), true
			}
		}
		slices.SortFunc(keys, func(a, b plans.PoolKey) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			p, _ := sized.Get(k)
			u := use[ref{m, k}]
			out = append(out, PoolOutput{Month: string(m), Key: k.String(), Total: p.TotalSeconds, Used: u.Used, Held: u.Held,
				Left: max(p.TotalSeconds-u.Used-u.Held, 0)})
		}
	}
	return out, nil
}
