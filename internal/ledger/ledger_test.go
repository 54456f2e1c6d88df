package ledger

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
)

var (
	usd = money.MustCurrency("USD")
	t0  = time.Date(2024, 2, 29, 10, 0, 0, 0, time.UTC)
)

// run applies cmd and fails the test on an invariant violation.
func run(t *testing.T, a *Account, cmd Command, at time.Time) (Result, error) {
	t.Helper()
	r, err := Apply(a, cmd, at, Config{})
	if cerr := Check(a); cerr != nil {
		t.Fatalf("after %s: invariant: %v", cmd.Name(), cerr)
	}
	return r, err
}

func mustRun(t *testing.T, a *Account, cmd Command, at time.Time) Result {
	t.Helper()
	r, err := run(t, a, cmd, at)
	if err != nil {
		t.Fatalf("%s: %v", cmd.Name(), err)
	}
	return r
}

func TestFundingAndFIFO(t *testing.T) {
	a := NewAccount("t1", usd)
	mustRun(t, a, Fund{Amount: 5000, Source: "purchase"}, t0)
	mustRun(t, a, Fund{Amount: 3000, Source: "recharge"}, t0.Add(time.Hour))
	r := mustRun(t, a, Charge{Amount: 6000, Ref: "call-1"}, t0.Add(2*time.Hour))
	if a.Balance != 2000 || len(a.Lots) != 1 || a.Lots[0].ID != 2 || a.Lots[0].Remaining != 2000 {
		t.Fatalf("FIFO draw wrong: %+v", a.Lots)
	}
	e := r.Entries[0]
	if e.Kind != EntryCharge || e.Amount != -6000 || e.Before != 8000 || e.After != 2000 || e.Ref != "call-1" {
		t.Fatalf("entry %+v", e)
	}
	if len(r.Lots) != 2 || r.Lots[0].Remaining != 0 || r.Lots[1].Remaining != 2000 {
		t.Fatalf("changed lots %+v", r.Lots)
	}
}

func TestDebtRepaidFirst(t *testing.T) {
	a := NewAccount("t1", usd)
	mustRun(t, a, Fund{Amount: 1000}, t0)
	mustRun(t, a, Charge{Amount: 1500}, t0)
	if a.Balance != -500 || a.Debt != 500 || len(a.Lots) != 0 {
		t.Fatalf("balance %d debt %d lots %d", a.Balance, a.Debt, len(a.Lots))
	}
	r := mustRun(t, a, Fund{Amount: 300}, t0)
	if a.Debt != 200 || a.Balance != -200 || len(a.Lots) != 0 || r.Lots[0].Remaining != 0 {
		t.Fatalf("small funding: debt %d balance %d lots %+v", a.Debt, a.Balance, r.Lots)
	}
	mustRun(t, a, Fund{Amount: 5000}, t0)
	if a.Debt != 0 || a.Balance != 4800 || a.Lots[0].Remaining != 4800 || a.Lots[0].Amount != 5000 {
		t.Fatalf("repay: debt %d balance %d lots %+v", a.Debt, a.Balance, a.Lots)
	}
}

func TestExpiryForfeitsAtExactSecond(t *testing.T) {
	a := NewAccount("t1", usd)
	mustRun(t, a, Fund{Amount: 5000}, t0) // expires 2025-02-28T10:00:00Z
	exp := time.Date(2025, 2, 28, 10, 0, 0, 0, time.UTC)
	if a.Lots[0].ExpiresAt != exp {
		t.Fatalf("expires %s", a.Lots[0].ExpiresAt)
	}
	mustRun(t, a, Charge{Amount: 100}, exp.Add(-time.Second))
	if a.Balance != 4900 {
		t.Fatalf("one second before expiry the lot is live: %d", a.Balance)
	}
	// At the exact second the lot is gone; the charge becomes debt, not a draw on the lot.
	r := mustRun(t, a, Charge{Amount: 100}, exp)
	if a.Balance != -100 || a.Debt != 100 || a.Totals.Forfeited != 4900 {
		t.Fatalf("balance %d debt %d forfeited %d", a.Balance, a.Debt, a.Totals.Forfeited)
	}
	if f := r.Entries[0]; f.Kind != EntryForfeiture || f.Amount != -4900 || !f.At.Equal(exp) || f.LotID != 1 {
		t.Fatalf("forfeiture entry %+v", f)
	}
	if r.Entries[1].Kind != EntryCharge || r.Entries[1].Before != 0 {
		t.Fatalf("charge after forfeiture %+v", r.Entries[1])
	}
}

func TestReservations(t *testing.T) {
	a := NewAccount("t1", usd)
	mustRun(t, a, Fund{Amount: 1000}, t0)
	r := mustRun(t, a, Reserve{ID: "c1", Amount: 600, TTL: time.Minute}, t0)
	if r.Granted != 600 || a.Available() != 400 {
		t.Fatalf("granted %d available %d", r.Granted, a.Available())
	}
	if _, err := run(t, a, Reserve{ID: "c2", Amount: 500, TTL: time.Minute}, t0); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("over-reserve: %v", err)
	}
	r = mustRun(t, a, Reserve{ID: "c2", Amount: 500, TTL: time.Minute, Partial: true}, t0)
	if r.Granted != 400 || a.Available() != 0 {
		t.Fatalf("partial granted %d", r.Granted)
	}
	if _, err := run(t, a, Reserve{ID: "c3", Amount: 1, TTL: time.Minute, Partial: true}, t0); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("nothing available: %v", err)
	}
	r = mustRun(t, a, Extend{ID: "c1", Amount: 100, TTL: time.Minute}, t0.Add(30*time.Second))
	if r.Granted != 0 {
		t.Fatalf("extend granted %d with nothing available", r.Granted)
	}
	r = mustRun(t, a, Settle{ID: "c1", Amount: 650}, t0.Add(40*time.Second))
	if a.Balance != 350 || a.Reserved != 400 || r.Charged != 650 || a.Available() != -50 {
		t.Fatalf("after settle balance %d reserved %d", a.Balance, a.Reserved)
	}
	mustRun(t, a, Release{ID: "c2"}, t0.Add(40*time.Second))
	if a.Reserved != 0 || a.Balance != 350 {
		t.Fatalf("after release reserved %d balance %d", a.Reserved, a.Balance)
	}
	if _, err := run(t, a, Settle{ID: "c1", Amount: 10}, t0.Add(time.Minute)); !errors.Is(err, ErrUnknownReservation) {
		t.Fatalf("settle twice: %v", err)
	}
}

func TestReservationTTL(t *testing.T) {
	a := NewAccount("t1", usd)
	mustRun(t, a, Fund{Amount: 1000}, t0)
	mustRun(t, a, Reserve{ID: "c1", Amount: 300, TTL: time.Minute}, t0)
	mustRun(t, a, Reserve{ID: "c2", Amount: 300, TTL: 2 * time.Minute}, t0)
	mustRun(t, a, Extend{ID: "c1", Amount: 0, TTL: time.Minute}, t0.Add(50*time.Second)) // renews to t0+110s
	r := mustRun(t, a, Tick{}, t0.Add(110*time.Second))
	if !reflect.DeepEqual(r.Expired, []string{"c1"}) || a.Reserved != 300 {
		t.Fatalf("expired %v reserved %d", r.Expired, a.Reserved)
	}
	r = mustRun(t, a, Tick{}, t0.Add(2*time.Minute))
	if !reflect.DeepEqual(r.Expired, []string{"c2"}) || a.Reserved != 0 || a.Balance != 1000 {
		t.Fatalf("expired %v reserved %d", r.Expired, a.Reserved)
	}
	if _, err := run(t, a, Settle{ID: "c2", Amount: 5}, t0.Add(3*time.Minute)); !errors.Is(err, ErrUnknownReservation) {
		t.Fatalf("settle after expiry: %v", err)
	}
}

func TestAdjustments(t *testing.T) {
	a := NewAccount("t1", usd)
	mustRun(t, a, Charge{Amount: 200}, t0)
	mustRun(t, a, Adjust{Amount: 500, Reason: "goodwill"}, t0)
	if a.Balance != 300 || a.Debt != 0 || a.Totals.Adjusted != 500 {
		t.Fatalf("positive adjust: %+v", a)
	}
	r := mustRun(t, a, Adjust{Amount: -100, Reason: "correction"}, t0)
	if a.Balance != 200 || a.Totals.Adjusted != 400 || r.Entries[0].Kind != EntryAdjustment || r.Entries[0].Reason != "correction" {
		t.Fatalf("negative adjust: balance %d entries %+v", a.Balance, r.Entries)
	}
}

func TestBadCommandsChangeNothing(t *testing.T) {
	a := NewAccount("t1", usd)
	mustRun(t, a, Fund{Amount: 1000}, t0)
	mustRun(t, a, Reserve{ID: "c1", Amount: 100, TTL: time.Minute}, t0)
	cases := []struct {
		cmd Command
		err error
	}{
		{Fund{Amount: 0}, ErrInvalidAmount},
		{Fund{Amount: -5}, ErrInvalidAmount},
		{Fund{Amount: money.MaxAmount + 1}, ErrInvalidAmount},
		{Charge{Amount: 0}, ErrInvalidAmount},
		{Reserve{ID: "", Amount: 1, TTL: time.Minute}, ErrInvalidCommand},
		{Reserve{ID: "c2", Amount: 0, TTL: time.Minute}, ErrInvalidAmount},
		{Reserve{ID: "c2", Amount: 1}, ErrInvalidCommand},
		{Reserve{ID: "c1", Amount: 1, TTL: time.Minute}, ErrDuplicateReservation},
		{Extend{ID: "nope", Amount: 1, TTL: time.Minute}, ErrUnknownReservation},
		{Extend{ID: "c1", Amount: -1, TTL: time.Minute}, ErrInvalidAmount},
		{Settle{ID: "nope", Amount: 1}, ErrUnknownReservation},
		{Settle{ID: "c1", Amount: -1}, ErrInvalidAmount},
		{Release{ID: "nope"}, ErrUnknownReservation},
		{Adjust{Amount: 5}, ErrInvalidCommand},
		{Adjust{Amount: 0, Reason: "x"}, ErrInvalidAmount},
		{nil, ErrInvalidCommand},
	}
	for _, c := range cases {
		before := clone(a)
		r, err := Apply(a, c.cmd, t0.Add(time.Second), Config{})
		if !errors.Is(err, c.err) {
			t.Errorf("%#v: err %v, want %v", c.cmd, err, c.err)
		}
		if len(r.Entries) != 0 || !reflect.DeepEqual(before, a) {
			t.Errorf("%#v changed the account", c.cmd)
		}
	}
}

func clone(a *Account) *Account {
	c := *a
	c.Lots = slices.Clone(a.Lots)
	c.Reservations = make(map[string]*Reservation, len(a.Reservations))
	for k, v := range a.Reservations {
		cp := *v
		c.Reservations[k] = &cp
	}
	return &c
}
