package tenant

import (
	"fmt"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
)

func events(eff Effects) []notify.Event {
	var out []notify.Event
	for _, o := range eff.Outbox {
		if o.Event != nil {
			out = append(out, *o.Event)
		}
	}
	return out
}

func eventIDs(eff Effects, t notify.Type) []string {
	var out []string
	for _, e := range events(eff) {
		if e.Type == t {
			out = append(out, e.ID)
		}
	}
	return out
}

// A lot bought on 5 November 2026 at 10:00 expires at exactly 12 calendar months
// (5 November 2027, 10:00 UTC); funds_expiring is sent 30, 7 and 1 days before, once each,
// funds_expired at the instant, and the sweep is told when to come back.
func TestFundsExpiringOnceEachThenExpired(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 10_000)
	lot := s.Account.Lots[0]
	exp := time.Date(2027, 11, 5, 10, 0, 0, 0, time.UTC)
	if !lot.ExpiresAt.Equal(exp) {
		t.Fatalf("lot expires %s, want %s (12 calendar months)", lot.ExpiresAt, exp)
	}
	if want := exp.AddDate(0, 0, -30); !s.Recharge.NextNotice.Equal(want) {
		t.Fatalf("next notice %s, want %s", s.Recharge.NextNotice, want)
	}
	// A call holds 30.00 across the expiry: the documented rule (docs/ledger.md) is that
	// the lot is forfeited in full, the reservation stays, and what is available goes below
	// zero until the call ends.
	day := 24 * time.Hour
	steps := []struct {
		at   time.Time
		cmd  Command
		want []string
	}{
		{exp.Add(-31 * day), ledger.Tick{}, nil},
		{exp.Add(-30 * day), ledger.Tick{}, []string{"funds_expiring/acme/1/30"}},
		{exp.Add(-30*day + time.Hour), ledger.Tick{}, nil},
		{exp.Add(-8 * day), ledger.Charge{Amount: 100, Ref: "c1"}, nil},
		{exp.Add(-7 * day), ledger.Tick{}, []string{"funds_expiring/acme/1/7"}},
		{exp.Add(-7 * day), ledger.Tick{}, nil},
		{exp.Add(-1 * day), ledger.Tick{}, []string{"funds_expiring/acme/1/1"}},
		{exp.Add(-time.Minute), ledger.Reserve{ID: "call-x", Amount: 3000, TTL: time.Hour}, nil},
		{exp.Add(-time.Nanosecond), ledger.Tick{}, nil},
		{exp, ledger.Tick{}, []string{"funds_expired/acme/1"}},
		{exp.Add(time.Second), ledger.Tick{}, nil},
	}
	for i, st := range steps {
		_, eff := run(t, s, e, st.cmd, st.at)
		got := append(eventIDs(eff, notify.FundsExpiring), eventIDs(eff, notify.FundsExpired)...)
		if fmt.Sprint(got) != fmt.Sprint(st.want) {
			t.Fatalf("step %d at %s: notices %v, want %v", i, st.at, got, st.want)
		}
		for _, ev := range events(eff) {
			if err := ev.Validate(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if ev.Type == notify.FundsExpiring && (int64(ev.Amount) != 10_000-100*btoi(i > 3) || !ev.ExpiresAt.Equal(exp)) {
				t.Fatalf("step %d: %+v", i, ev)
			}
			if ev.Type == notify.FundsExpired && (ev.Amount != 10_000-100 || !ev.ExpiresAt.Equal(exp)) {
				t.Fatalf("funds_expired %+v; want 99.00 at %s", ev, exp)
			}
		}
	}
	if a := s.Account; a.Balance != 0 || a.Reserved != 3000 || a.Available() != -3000 || a.Totals.Forfeited != 9900 {
		t.Fatalf("after expiry: balance %d reserved %d available %d forfeited %d", a.Balance, a.Reserved, a.Available(), a.Totals.Forfeited)
	}
	if !s.Recharge.NextNotice.IsZero() || len(s.Recharge.ExpiryWarned) != 0 {
		t.Fatalf("left over: next %s warned %v", s.Recharge.NextNotice, s.Recharge.ExpiryWarned)
	}
}

func btoi(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// A lot first seen less than 7 days before its expiry is announced once, as 7 days, not
// three times at once.
func TestFundsExpiringLateSendsTheNearestOnly(t *testing.T) {
	e := env(t)
	e.Ledger.ExpiryMonths = 1
	s := newTenant(t, e, 0)
	run(t, s, e, ledger.Fund{Amount: 500, Source: "purchase"}, t0)
	exp := ledger.AddMonths(t0, 1)
	_, eff := run(t, s, e, ledger.Tick{}, exp.Add(-5*24*time.Hour))
	if got := eventIDs(eff, notify.FundsExpiring); fmt.Sprint(got) != "[funds_expiring/acme/1/7]" {
		t.Fatalf("notices %v", got)
	}
	_, eff = run(t, s, e, ledger.Tick{}, exp.Add(-24*time.Hour))
	if got := eventIDs(eff, notify.FundsExpiring); fmt.Sprint(got) != "[funds_expiring/acme/1/1]" {
		t.Fatalf("notices %v", got)
	}
}

// The card on file is announced once, on the first day of its last valid month, even when
// the tenant sends no command then (the sweep ticks it at NextNotice); a new card is
// announced again in its turn.
func TestCardExpiringOncePerCard(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 10_000)
	run(t, s, e, SetPaymentMethod{Method: "pm_card_1", ExpMonth: 3, ExpYear: 2027, Brand: "visa", Last4: "4242"}, t0)
	warn := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	if !s.Recharge.NextNotice.Equal(warn) {
		t.Fatalf("next notice %s, want %s", s.Recharge.NextNotice, warn)
	}
	var sent []string
	for _, at := range []time.Time{warn.Add(-time.Second), warn, warn.Add(time.Hour), warn.Add(20 * 24 * time.Hour)} {
		_, eff := run(t, s, e, ledger.Tick{}, at)
		sent = append(sent, eventIDs(eff, notify.CardExpiring)...)
	}
	if fmt.Sprint(sent) != "[card_expiring/acme/pm_card_1/2027-03]" {
		t.Fatalf("card notices %v", sent)
	}
	_, eff := run(t, s, e, SetPaymentMethod{Method: "pm_card_2", ExpMonth: 4, ExpYear: 2027, Brand: "visa", Last4: "1111"}, warn.Add(21*24*time.Hour))
	warn2 := time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC)
	if got := eventIDs(eff, notify.CardExpiring); len(got) != 0 || !s.Recharge.NextNotice.Equal(warn2) {
		t.Fatalf("new card: %v now, next notice %s; want none until %s", got, s.Recharge.NextNotice, warn2)
	}
	_, eff = run(t, s, e, ledger.Tick{}, warn2)
	if got := eventIDs(eff, notify.CardExpiring); fmt.Sprint(got) != "[card_expiring/acme/pm_card_2/2027-04]" {
		t.Fatalf("new card in its last month: %v", got)
	}
}

// A pool crossing 80 % and then 100 % of its minutes is announced once per threshold.
func TestPoolThresholdsOnce(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 100_000)
	m := plans.MonthOf(t0)
	key := plans.DomesticPool("MCOPSTN1", "US")
	p, ok := s.Pools(m, e).Get(key)
	if !ok || p.TotalSeconds == 0 {
		t.Fatalf("bob's domestic pool: %+v %v", p, ok)
	}
	total := p.TotalSeconds
	var sent []string
	for i, secs := range []int64{total * 79 / 100, total / 100, 60, total * 19 / 100, total / 100, 600} {
		cdr := charging.CDR{Tenant: "acme", CallID: fmt.Sprint("p", i), CallType: payer.UserOut, Principal: "bob",
			Caller: "+12025550100", Callee: "+12025550111", Start: t0.Add(time.Duration(i) * time.Minute), Duration: secs}
		_, eff := run(t, s, e, PostCDR{CDR: cdr}, t0.Add(time.Hour))
		for _, ev := range events(eff) {
			if ev.Type == notify.PoolThreshold {
				if err := ev.Validate(); err != nil || ev.Pool.TotalMinutes != total/60 {
					t.Fatalf("%+v: %v", ev.Pool, err)
				}
				sent = append(sent, ev.ID)
			}
		}
	}
	want := fmt.Sprintf("[pool_threshold/acme/domestic:MCOPSTN1:US/%s/80 pool_threshold/acme/domestic:MCOPSTN1:US/%s/100]", m, m)
	if fmt.Sprint(sent) != want {
		t.Fatalf("pool notices %v, want %s", sent, want)
	}
}
