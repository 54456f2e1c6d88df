package tenant

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
)

var (
	usd = money.MustCurrency("USD")
	t0  = time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
)

const header = "prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n"

func env(tb testing.TB) *Env {
	tb.Helper()
	g := rating.NewRegistry()
	for _, c := range []struct {
		s   rating.Service
		csv string
	}{
		{rating.Outbound, header +
			"1,United States,fixed_or_mobile,0.01,0,60,60,2026-01-01,false\n" +
			"44,United Kingdom,fixed,0.02,0,60,1,2026-01-01,false\n" +
			"971,United Arab Emirates,mobile,0.30,0.10,30,6,2026-01-01,false\n"},
		{rating.DialOut, header + "1,United States,fixed_or_mobile,0.012,0,60,60,2026-01-01,false\n"},
		{rating.TollFree, header + "1,United States,fixed_or_mobile,0.018,0,60,6,2026-01-01,false\n"},
	} {
		if _, err := g.Import(c.s, usd, []byte(c.csv), t0.AddDate(0, -1, 0)); err != nil {
			tb.Fatal(err)
		}
	}
	return &Env{Catalog: plans.Default(), Cards: g, CallTTL: 3 * time.Hour}
}

// run applies cmd, checks the ledger invariant and the pool holds, and fails on error.
func run(t *testing.T, s *State, e *Env, cmd Command, at time.Time) (Result, Effects) {
	t.Helper()
	r, eff, err := Apply(s, cmd, at, e)
	if err != nil {
		t.Fatalf("%s: %v", cmd.Name(), err)
	}
	check(t, s)
	return r, eff
}

func check(t *testing.T, s *State) {
	t.Helper()
	if err := ledger.Check(s.Account); err != nil {
		t.Fatal(err)
	}
	held := map[PoolRef]int64{}
	for _, c := range s.Calls {
		if c.PoolHeld > 0 {
			held[PoolRef{plans.MonthOf(c.Auth.Start), c.Auth.Pool}] += c.PoolHeld
		}
		if r := s.Account.Reservations[c.Key]; (r == nil) != (c.Reserved == 0) || r != nil && r.Amount != c.Reserved {
			t.Fatalf("call %s holds %d, ledger %+v", c.Key, c.Reserved, r)
		}
	}
	for ref, u := range s.Usage {
		if u.Held != held[ref] {
			t.Fatalf("pool %v holds %d, calls hold %d", ref, u.Held, held[ref])
		}
	}
}

// newTenant has a PAYG user in GB, a Domestic Calling Plan user in the US, and funds.
func newTenant(t *testing.T, e *Env, funds money.Amount) *State {
	s := New("acme", usd)
	for _, u := range []directory.User{
		{ID: "alice", DisplayName: "Alice", UPN: "alice@acme.test", Kind: directory.KindUser, UsageLocation: "GB",
			Licences: []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}},
		{ID: "bob", DisplayName: "Bob", Kind: directory.KindUser, UsageLocation: "US",
			Licences: []string{"MCOEV", "MCOPSTN1", "MCOPSTNPP"}},
	} {
		run(t, s, e, directory.PutUser{User: u}, t0)
	}
	if funds > 0 {
		run(t, s, e, ledger.Fund{Amount: funds, Source: "purchase"}, t0)
	}
	return s
}

func TestCreditCallReservesAndSettlesExactly(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 5000)
	r, eff := run(t, s, e, Authorize{CallID: "c1", Type: payer.UserOut, Principal: "alice", Caller: "+442071838750", Callee: "+971501234567"}, t0)
	a := r.Authorization
	if !a.Allowed || !a.Credits || a.Reserve <= 0 || s.Account.Reserved != a.Reserve || len(eff.Reservations) != 1 {
		t.Fatalf("authorization %+v reserved %d", a, s.Account.Reserved)
	}
	// 0.10 fee + 0.30/min on 30/6: 95 s bills 30 + 6·⌈65/6⌉ = 96 s → 0.10 + 0.48 = 0.58.
	r, eff = run(t, s, e, Settle{CallID: "c1", Seconds: 95}, t0.Add(95*time.Second))
	if r.Settlement.Charge != 58 || s.Account.Balance != 5000-58 || s.Account.Reserved != 0 || len(s.Calls) != 0 {
		t.Fatalf("settlement %+v balance %d reserved %d", r.Settlement, s.Account.Balance, s.Account.Reserved)
	}
	if len(eff.Usage) != 1 || eff.Usage[0].Charge != 58 || eff.Usage[0].UPN != "alice@acme.test" || eff.Usage[0].Capability != "MCOPSTNPP" {
		t.Fatalf("usage %+v", eff.Usage)
	}
	if s.Spend[SpendRef{plans.MonthOf(t0), "alice"}] != 58 {
		t.Fatalf("spend %v", s.Spend)
	}
}

func TestPoolSplitsAtTheSecondItEnds(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 5000)
	ref := PoolRef{plans.MonthOf(t0), plans.DomesticPool("MCOPSTN1", "US")}
	pool, _ := s.poolsFor(ref.Month, e).Get(ref.Key)
	if pool.TotalSeconds != 3000*60 {
		t.Fatalf("one MCOPSTN1 user in the US: pool %+v", pool)
	}
	s.Usage[ref] = &PoolUse{Used: pool.TotalSeconds - 90} // 90 seconds left
	s.pools = nil
	r, _ := run(t, s, e, Authorize{CallID: "c1", Type: payer.UserOut, Principal: "bob", Caller: "+12025550100", Callee: "+12125550199"}, t0)
	a := r.Authorization
	if !a.Allowed || a.Outcome != payer.Pool || a.PoolHold != 90 || !a.Credits {
		t.Fatalf("authorization %+v", a)
	}
	// 150 s: 90 from the pool, 60 on credits at 0.01/min on 60/60 with no connection fee.
	r, _ = run(t, s, e, Settle{CallID: "c1", Seconds: 150}, t0.Add(150*time.Second))
	st := r.Settlement
	if st.PoolSeconds != 90 || st.CreditSeconds != 60 || st.Charge != 1 || st.Fee {
		t.Fatalf("settlement %+v", st)
	}
	if u := s.Usage[ref]; u.Used != pool.TotalSeconds || u.Held != 0 {
		t.Fatalf("pool use %+v", u)
	}
}

func TestConcurrentCallsNeverOverspend(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 300) // $3.00 buys 10 minutes to the UAE, fees included, at most
	var admitted int
	var granted money.Amount
	for i := range 200 {
		r, _ := run(t, s, e, Authorize{CallID: fmt.Sprint("c", i), Type: payer.UserOut, Principal: "alice",
			Caller: "+442071838750", Callee: "+971501234567"}, t0)
		if a := r.Authorization; a.Allowed {
			admitted++
			granted += a.Reserve
		} else if a.Reason != charging.ReasonInsufficientBalance {
			t.Fatalf("call %d refused for %s", i, a.Reason)
		}
	}
	if granted > 300 || admitted == 0 || admitted == 200 {
		t.Fatalf("%d calls admitted holding %d of 300", admitted, granted)
	}
	// Every admitted call runs to its full grant: the balance still covers them all.
	for k, c := range s.Calls {
		run(t, s, e, Settle{CallID: c.Auth.CallID, Seconds: c.Granted}, t0.Add(time.Minute))
		_ = k
	}
	if s.Account.Balance < 0 {
		t.Fatalf("balance went negative: %d", s.Account.Balance)
	}
}

func TestCallTTLReleasesHolds(t *testing.T) {
	e := env(t)
	e.CallTTL = time.Minute
	s := newTenant(t, e, 5000)
	run(t, s, e, Authorize{CallID: "c1", Type: payer.UserOut, Principal: "alice", Caller: "+442071838750", Callee: "+971501234567"}, t0)
	run(t, s, e, Authorize{CallID: "c2", Type: payer.UserOut, Principal: "bob", Caller: "+12025550100", Callee: "+12125550199"}, t0)
	run(t, s, e, Extend{CallID: "c1", Seconds: 60}, t0.Add(50*time.Second))
	_, eff := run(t, s, e, ledger.Tick{}, t0.Add(time.Minute))
	if len(s.Calls) != 1 || s.Calls["c1/"] == nil || len(eff.Calls) != 1 {
		t.Fatalf("after c2's TTL: calls %v", s.Calls)
	}
	run(t, s, e, ledger.Tick{}, t0.Add(110*time.Second))
	if len(s.Calls) != 0 || s.Account.Reserved != 0 || s.Account.Balance != 5000 {
		t.Fatalf("after c1's TTL: calls %v reserved %d", s.Calls, s.Account.Reserved)
	}
	if _, _, err := Apply(s, Settle{CallID: "c1", Seconds: 10}, t0.Add(2*time.Minute), e); !errors.Is(err, ErrUnknownCall) {
		t.Fatalf("settle after expiry: %v", err)
	}
}

func TestRefusalsAndBlocks(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 0) // no credits set up
	r, eff := run(t, s, e, Authorize{CallID: "c1", Type: payer.UserOut, Principal: "alice", Caller: "+442071838750", Callee: "+971501234567"}, t0)
	if r.Authorization.Allowed || len(eff.Refusals) != 1 {
		t.Fatalf("PAYG call without credits: %+v", r.Authorization)
	}
	r, _ = run(t, s, e, Authorize{CallID: "c2", Type: payer.UserOut, Principal: "alice", Caller: "+442071838750", Callee: "112"}, t0)
	if a := r.Authorization; !a.Allowed || !a.Emergency {
		t.Fatalf("emergency call: %+v", a)
	}
	run(t, s, e, ledger.Fund{Amount: 100, Source: "purchase"}, t0)
	r, _ = run(t, s, e, Authorize{CallID: "c3", Type: payer.UserOut, Principal: "ghost", Caller: "+442071838750", Callee: "+971501234567"}, t0)
	if r.Authorization.Allowed {
		t.Fatalf("unknown principal admitted: %+v", r.Authorization)
	}
	// Spend through the balance, then a refusal blocks alice and a funding unblocks her.
	run(t, s, e, Authorize{CallID: "c4", Type: payer.UserOut, Principal: "alice", Caller: "+442071838750", Callee: "+971501234567"}, t0)
	run(t, s, e, Settle{CallID: "c4", Seconds: 3600}, t0.Add(time.Hour))
	_, eff = run(t, s, e, Authorize{CallID: "c5", Type: payer.UserOut, Principal: "alice", Caller: "+442071838750", Callee: "+971501234567"}, t0.Add(time.Hour))
	if len(eff.Blocks) != 1 || eff.Blocks[0].Action != charging.Blocked {
		t.Fatalf("blocks %+v", eff.Blocks)
	}
	run(t, s, e, ledger.Fund{Amount: 5000, Source: "purchase"}, t0.Add(time.Hour))
	_, eff = run(t, s, e, Authorize{CallID: "c6", Type: payer.UserOut, Principal: "alice", Caller: "+442071838750", Callee: "+971501234567"}, t0.Add(time.Hour))
	if len(eff.Blocks) != 1 || eff.Blocks[0].Action != charging.Unblocked {
		t.Fatalf("blocks %+v", eff.Blocks)
	}
}

func TestPostCDR(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 50)
	cdr := charging.CDR{Tenant: "acme", CallID: "x1", CallType: payer.UserOut, Principal: "alice",
		Caller: "+442071838750", Callee: "+971501234567", Start: t0, Duration: 600}
	r, eff := run(t, s, e, PostCDR{CDR: cdr}, t0.Add(time.Hour))
	// 0.10 + 0.30 × 600/60 = 3.10 against 0.50: the balance goes negative.
	if r.Priced.FreeCall || r.Priced.Settlement.Charge != 310 || s.Account.Balance != 50-310 || s.Account.Debt != 260 || len(eff.Usage) != 1 {
		t.Fatalf("priced %+v balance %d", r.Priced, s.Account.Balance)
	}
	cdr.CallID, cdr.Callee = "x2", "not a number"
	r, eff = run(t, s, e, PostCDR{CDR: cdr}, t0.Add(time.Hour))
	if !r.Priced.FreeCall || eff.Usage[0].Capability != plans.FREECALL || eff.Usage[0].Charge != 0 || eff.Usage[0].Review == "" {
		t.Fatalf("unpriceable CDR %+v", eff.Usage)
	}
}

func TestDirectoryCommandsPassThrough(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 0)
	_, _, err := Apply(s, directory.AcquireNumber{E164: "+18005550100", Kind: directory.NumberService, Service: directory.ServiceTollFree}, t0, e)
	if !errors.Is(err, directory.ErrCreditsNotSetUp) {
		t.Fatalf("toll-free before credits: %v", err)
	}
	run(t, s, e, ledger.Fund{Amount: 5000, Source: "purchase"}, t0)
	_, eff := run(t, s, e, directory.AcquireNumber{E164: "+18005550100", Kind: directory.NumberService, Service: directory.ServiceTollFree}, t0)
	if len(eff.Dir.Numbers) != 1 {
		t.Fatalf("changes %+v", eff.Dir)
	}
	if _, _, err := Apply(s, nil, t0, e); !errors.Is(err, ledger.ErrInvalidCommand) {
		t.Fatalf("nil command: %v", err)
	}
}

func TestRepeatedAuthorizeReturnsTheFirst(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 5000)
	cmd := Authorize{CallID: "c1", Type: payer.UserOut, Principal: "alice", Caller: "+442071838750", Callee: "+971501234567"}
	first, _ := run(t, s, e, cmd, t0)
	again, eff := run(t, s, e, cmd, t0.Add(time.Second))
	if !again.Replayed || again.Authorization.Reserve != first.Authorization.Reserve || s.Account.Reserved != first.Authorization.Reserve ||
		len(eff.Calls)+len(eff.Reservations) != 0 {
		t.Fatalf("repeat: %+v reserved %d effects %+v", again, s.Account.Reserved, eff)
	}
	cmd.Principal = "bob"
	if _, _, err := Apply(s, cmd, t0, e); !errors.Is(err, ErrCallExists) {
		t.Fatalf("same call id, another principal: %v", err)
	}
}

// The derived holds per user and the expiry bound agree with the calls after any sequence,
// also once the state is rebuilt from storage.
func TestDerivedStateMatchesCalls(t *testing.T) {
	e := env(t)
	e.CallTTL = time.Minute
	s := newTenant(t, e, 5000)
	at := t0
	for i := range 30 {
		at = at.Add(7 * time.Second)
		id := fmt.Sprint("c", i%7)
		switch i % 4 {
		case 0, 1:
			_, _, _ = Apply(s, Authorize{CallID: id, Type: payer.UserOut, Principal: "alice", Caller: "+442071838750", Callee: "+971501234567"}, at, e)
		case 2:
			_, _, _ = Apply(s, Extend{CallID: id, Seconds: 60}, at, e)
		case 3:
			_, _, _ = Apply(s, Settle{CallID: id, Seconds: 20}, at, e)
		}
		check(t, s)
		var want money.Amount
		for _, c := range s.Calls {
			want += c.Reserved
		}
		if s.heldBy("alice") != want {
			t.Fatalf("step %d: held %d, calls hold %d", i, s.heldBy("alice"), want)
		}
		back := Restore(s.Account, s.Dir, s.Usage, s.Spend, slices.Collect(maps.Values(s.Calls)), s.Blocks)
		if back.heldBy("alice") != want {
			t.Fatalf("step %d: restored held %d", i, back.heldBy("alice"))
		}
	}
}

// An extension adds only what the pool has left: the call's own hold is not counted twice.
func TestExtendTakesOnlyWhatThePoolHasLeft(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 5000)
	ref := PoolRef{plans.MonthOf(t0), plans.DomesticPool("MCOPSTN1", "US")}
	pool, _ := s.poolsFor(ref.Month, e).Get(ref.Key)
	s.Usage[ref] = &PoolUse{Used: pool.TotalSeconds - 90} // 90 seconds left
	s.pools = nil
	r, _ := run(t, s, e, Authorize{CallID: "c1", Type: payer.UserOut, Principal: "bob", Caller: "+12025550100", Callee: "+12125550199", InitialSeconds: 60}, t0)
	if r.Authorization.PoolHold != 60 {
		t.Fatalf("first grant holds %d pool seconds", r.Authorization.PoolHold)
	}
	r, _ = run(t, s, e, Extend{CallID: "c1", Seconds: 600}, t0.Add(30*time.Second))
	if x := r.Extension; !x.Allowed || x.AddPool != 30 || s.Usage[ref].Held != 90 {
		t.Fatalf("extension %+v, pool holds %d of the 90 left", *x, s.Usage[ref].Held)
	}
	r, _ = run(t, s, e, Settle{CallID: "c1", Seconds: 660}, t0.Add(660*time.Second))
	if st := r.Settlement; st.PoolSeconds != 90 || st.CreditSeconds != 570 || s.Usage[ref].Used != pool.TotalSeconds {
		t.Fatalf("settlement %+v, pool used %d of %d", *st, s.Usage[ref].Used, pool.TotalSeconds)
	}
}
