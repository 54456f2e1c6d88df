package charging

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
)

// oneCard serves one card for every service.
type oneCard struct{ c *rating.Card }

func (o oneCard) Current(rating.Service, string) (*rating.Card, bool) { return o.c, true }

// genSetup draws a random tenant, one rate row for the whole world and a call to it: to the
// US (the domestic pool first) or to Mexico (credits only).
func genSetup(t *rapid.T) (*Context, *Call) {
	cur := money.MustCurrency(rapid.SampledFrom([]string{"USD", "JPY", "BHD"}).Draw(t, "currency"))
	row := rating.Row{
		Prefix: "1", Destination: "Anywhere",
		Rate:          money.Rate(rapid.Int64Range(0, 10_000_000).Draw(t, "rate")),
		Fee:           money.Rate(rapid.Int64Range(0, 2_000_000).Draw(t, "fee")),
		Initial:       rapid.Int64Range(1, 120).Draw(t, "initial"),
		Subsequent:    rapid.Int64Range(1, 60).Draw(t, "subsequent"),
		EffectiveFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	mx := row
	mx.Prefix = "52"
	card, err := rating.Compile(rating.Meta{Service: rating.Outbound, Currency: cur, Version: 1}, []rating.Row{row, mx}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := &Context{
		Catalog: cat, CreditsSetUp: true, Cards: oneCard{card},
		Available:      money.Amount(rapid.Int64Range(-1000, 10_000_000).Draw(t, "available")),
		MaxCallSeconds: rapid.Int64Range(0, 20_000).Draw(t, "maxCall"),
		Pools:          plans.NewPools(plans.MonthOf(start)),
	}
	ctx.Pools.Set(plans.DomesticPool("MCOPSTN1", "US"), plans.Pool{TotalSeconds: rapid.Int64Range(0, 20_000).Draw(t, "pool")})
	if rapid.Bool().Draw(t, "limited") {
		ctx.Policy.SpendLimit = money.Amount(rapid.Int64Range(1, 1_000_000).Draw(t, "limit"))
		ctx.Policy.Spent = money.Amount(rapid.Int64Range(0, 1_000_000).Draw(t, "spent"))
	}
	callee := rapid.SampledFrom([]string{usNum2, mxNum}).Draw(t, "callee")
	c := &Call{Tenant: "t", Currency: cur, ID: "c", Type: payer.UserOut, Principal: usUser, Caller: usNum, Callee: callee, Start: start}
	return ctx, c
}

func budgetOf(ctx *Context) money.Amount {
	b := ctx.Available
	if ctx.Policy.SpendLimit > 0 {
		b = min(b, ctx.Policy.SpendLimit-ctx.Policy.Spent)
	}
	return b
}

func TestPropertyGrantWithinBalance(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx, c := genSetup(t)
		a := Authorize(ctx, c)
		if !a.Allowed {
			return
		}
		credit := a.MaxSeconds - a.PoolLeft
		if credit < 0 || a.PoolLeft < 0 {
			t.Fatalf("pool left %d of max %d", a.PoolLeft, a.MaxSeconds)
		}
		if credit > 0 {
			if got, b := rating.Charge(&a.Row, credit, a.StartsOnCredits, c.Currency), budgetOf(ctx); got > b {
				t.Fatalf("%d credit seconds cost %d > budget %d", credit, got, b)
			}
		}
		if a.Reserve > 0 && a.Reserve > budgetOf(ctx) {
			t.Fatalf("reserve %d > budget %d", a.Reserve, budgetOf(ctx))
		}
		// The grant is maximal: the next billing step costs more than the budget, unless the
		// maximum call length stopped it.
		if a.MaxSeconds < ctx.maxCall() && a.Credits {
			step := a.Row.Subsequent
			if credit == 0 {
				step = a.Row.Initial
			}
			if next := rating.Charge(&a.Row, credit+step, a.StartsOnCredits, c.Currency); next <= budgetOf(ctx) {
				t.Fatalf("%d more seconds cost %d ≤ budget %d: grant %d not maximal", step, next, budgetOf(ctx), a.MaxSeconds)
			}
		}
	})
}

func TestPropertySettleWithinReserve(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx, c := genSetup(t)
		a := Authorize(ctx, c)
		if !a.Allowed {
			return
		}
		d := rapid.Int64Range(0, a.GrantedSeconds).Draw(t, "d")
		s := Settle(&a, SettleInput{Seconds: d, PoolAvailable: a.PoolHold, Reserved: a.Reserve})
		if s.Charge > a.Reserve || s.PoolSeconds > a.PoolHold || s.Release < 0 {
			t.Fatalf("%d s: charge %d > reserve %d, or pool %d > held %d", d, s.Charge, a.Reserve, s.PoolSeconds, a.PoolHold)
		}
		if s.PoolSeconds+s.CreditSeconds+s.Uncovered != d || s.Uncovered != 0 {
			t.Fatalf("%d s split %+v", d, s)
		}
	})
}

func TestPropertyExtendThenSettle(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx, c := genSetup(t)
		c.InitialSeconds = rapid.Int64Range(1, 600).Draw(t, "initialGrant")
		a := Authorize(ctx, c)
		if !a.Allowed {
			return
		}
		// The tenant after the authorization: the reservation and the pool hold taken.
		ctx.Available -= a.Reserve
		ctx.Pools.Draw(a.Pool, a.PoolHold)
		st := ExtendState{GrantedSeconds: a.GrantedSeconds, PoolHeld: a.PoolHold, Reserved: a.Reserve}
		for range rapid.IntRange(0, 3).Draw(t, "extensions") {
			before := ctx.Available
			e := Extend(ctx, &a, st, rapid.Int64Range(1, 3600).Draw(t, "more"))
			if !e.Allowed {
				break
			}
			if e.GrantedSeconds < st.GrantedSeconds || e.AddReserve < 0 || e.AddPool < 0 || e.AddReserve > 0 && e.AddReserve > max(spendable(ctx), 0) {
				t.Fatalf("extension %+v from %+v, available %d", e, st, before)
			}
			ctx.Available -= e.AddReserve
			ctx.Pools.Draw(a.Pool, e.AddPool)
			st = ExtendState{GrantedSeconds: e.GrantedSeconds, PoolHeld: st.PoolHeld + e.AddPool, Reserved: st.Reserved + e.AddReserve}
		}
		if st.GrantedSeconds > ctx.maxCall() {
			t.Fatalf("granted %d beyond the maximum call length", st.GrantedSeconds)
		}
		d := rapid.Int64Range(0, st.GrantedSeconds).Draw(t, "d")
		s := Settle(&a, SettleInput{Seconds: d, PoolAvailable: st.PoolHeld, Reserved: st.Reserved})
		if s.Charge > st.Reserved || s.PoolSeconds > st.PoolHeld {
			t.Fatalf("%d s: charge %d > reserved %d (pool %d of %d held)", d, s.Charge, st.Reserved, s.PoolSeconds, st.PoolHeld)
		}
	})
}

// Concurrent calls of one tenant, authorized one after another against the balance their
// predecessors left, are never granted more than the balance.
func TestPropertySharedBalance(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx, c := genSetup(t)
		c.Callee = mxNum
		initial := ctx.Available
		var held money.Amount
		for i := range rapid.IntRange(1, 30).Draw(t, "calls") {
			c.ID = string(rune('a' + i))
			a := Authorize(ctx, c)
			if !a.Allowed {
				continue
			}
			held += a.Reserve
			ctx.Available -= a.Reserve
		}
		if held > max(initial, 0) {
			t.Fatalf("held %d of %d", held, initial)
		}
	})
}
