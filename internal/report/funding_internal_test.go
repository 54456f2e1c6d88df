package report

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/recharge"
)

// Over random histories of debits, forfeitures, manual purchases and past auto-recharges:
//   - money is conserved: closing = opening + purchases + recharged − debited;
//   - with auto-recharge off, nothing is recharged and a call is refused exactly when the
//     balance it met was ≤ 0;
//   - with auto-recharge on by card, no cap and a positive trigger, after every step the
//     balance is back at or above the trigger, so no call is refused.
func TestDryRunProperties(t *testing.T) {
	usd := money.MustCurrency("USD")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rapid.Check(t, func(rt *rapid.T) {
		on := rapid.Bool().Draw(rt, "on")
		s := recharge.Settings{}
		if on {
			s = recharge.Settings{Enabled: true, Trigger: money.Amount(rapid.Int64Range(1, 20000).Draw(rt, "trigger")),
				Amount: money.Amount(rapid.Int64Range(5000, 30000).Draw(rt, "amount")), PaymentMethod: "pm_card"}
		}
		e := &Engine{}
		x, err := e.newSim("t", usd, s, "request", recharge.Config{Currency: usd}, t0, t0.AddDate(0, 0, 60))
		if err != nil {
			rt.Fatal(err)
		}
		opening := money.Amount(rapid.Int64Range(-5000, 20000).Draw(rt, "opening"))
		if err := x.start(opening); err != nil {
			rt.Fatal(err)
		}
		source := map[int64]string{1: "purchase", 2: "recharge"}
		var purchases, debited money.Amount
		n := rapid.IntRange(0, 60).Draw(rt, "n")
		bal := opening
		for i := range n {
			at := t0.Add(time.Duration(i+1) * time.Hour)
			amt := money.Amount(rapid.Int64Range(1, 8000).Draw(rt, "amt"))
			var en ledger.Entry
			switch rapid.IntRange(0, 9).Draw(rt, "kind") {
			case 0:
				en = ledger.Entry{Kind: ledger.EntryFunding, Amount: amt, LotID: 1}
			case 1:
				en = ledger.Entry{Kind: ledger.EntryFunding, Amount: amt, LotID: 2}
			case 2:
				en = ledger.Entry{Kind: ledger.EntryForfeiture, Amount: -amt}
			default:
				en = ledger.Entry{Kind: ledger.EntryCharge, Amount: -amt}
			}
			en.Seq, en.At, en.Before = int64(i+1), at, bal
			bal += en.Amount
			before, refusedBefore := x.acct.Balance, x.out.RefusedCalls
			if err := x.step(en, source); err != nil {
				rt.Fatal(err)
			}
			switch {
			case en.Kind == ledger.EntryFunding && en.LotID == 1:
				purchases += amt
			case en.Kind == ledger.EntryCharge && x.out.RefusedCalls == refusedBefore:
				debited += min(amt, before)
			case en.Kind == ledger.EntryForfeiture:
				debited += min(amt, max(before, 0))
			}
			if !on && en.Kind == ledger.EntryCharge && (x.out.RefusedCalls > refusedBefore) != (before <= 0) {
				rt.Fatalf("step %d: balance %d before a charge, refused %v", i, before, x.out.RefusedCalls > refusedBefore)
			}
			if on && x.acct.Balance < s.Trigger {
				rt.Fatalf("step %d: balance %d left below the trigger %d", i, x.acct.Balance, s.Trigger)
			}
		}
		dr, err := x.finish(opening)
		if err != nil {
			rt.Fatal(err)
		}
		if want := opening + purchases + x.paid - debited; x.acct.Balance != want {
			rt.Fatalf("closing %d, want %d (opening %d + purchases %d + recharged %d − debited %d)", x.acct.Balance, want, opening, purchases, x.paid, debited)
		}
		if !on && dr.Recharges != 0 {
			rt.Fatalf("recharged %d times with auto-recharge off", dr.Recharges)
		}
		if on && dr.RefusedCalls != 0 {
			rt.Fatalf("%d calls refused with auto-recharge on", dr.RefusedCalls)
		}
		if dr.LowestMinor > int64(x.acct.Balance) {
			rt.Fatalf("lowest %d above closing %d", dr.LowestMinor, x.acct.Balance)
		}
	})
}
