package recharge

import (
	"errors"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/payment"
)

// fund puts the balance at amt (an opening purchase the machine does not see).
func (h *harness) fund(amt money.Amount) {
	h.balance += amt
	h.seq++
	h.balanceChanged()
}

func TestScenarios(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"recharge storm: 500 one-cent debits across the trigger, charge completes mid-call", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50))
			h.fund(money.Units(10, usd) + 100) // 10.00 + 1.00: 100 cents above the trigger
			for i := range 500 {
				h.debit(1)
				if i == 250 {
					h.runJob()
				}
			}
			h.drain()
			if len(h.starts) != 1 || len(h.p.Charges()) != 1 {
				t.Fatalf("starts %d, charges %d; want 1 and 1", len(h.starts), len(h.p.Charges()))
			}
			if n, sum := h.creditsOf("recharge"); n != 1 || sum != money.Units(50, usd) {
				t.Fatalf("credits %d (%d), want 1 of 5000", n, sum)
			}
			if h.count(notify.RechargeSucceeded) != 1 {
				t.Fatalf("recharge_succeeded %d", h.count(notify.RechargeSucceeded))
			}
			if want := money.Units(10, usd) + 100 - 500 + money.Units(50, usd); h.balance != want {
				t.Fatalf("balance %d, want %d", h.balance, want)
			}
			h.checkMoney()
		}},
		{"recharge storm: 1,000 debits crossing together before the charge completes", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50))
			h.fund(money.Units(10, usd) + 500)
			for range 1000 {
				h.debit(1)
			}
			if len(h.starts) != 1 {
				t.Fatalf("starts %d before completion, want 1", len(h.starts))
			}
			h.drain()
			if len(h.starts) != 1 || len(h.p.Charges()) != 1 || len(h.credits) != 1 {
				t.Fatalf("starts %d, charges %d, credits %d; want 1 each", len(h.starts), len(h.p.Charges()), len(h.credits))
			}
			h.checkMoney()
		}},
		{"the trigger is strict: available equal to the trigger does not fire", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50))
			h.fund(money.Units(10, usd) + 1)
			h.debit(1)
			if len(h.starts) != 0 {
				t.Fatal("fired at available == trigger")
			}
			h.debit(1)
			if len(h.starts) != 1 {
				t.Fatal("did not fire below the trigger")
			}
		}},
		{"the trigger reads the available balance, reservations included", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50))
			h.fund(money.Units(20, usd))
			h.reserved = money.Units(15, usd)
			h.balanceChanged()
			if len(h.starts) != 1 {
				t.Fatal("a reservation taking available below the trigger did not fire")
			}
		}},
		{"provider timeout then success: one charge, same key", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50), payment.Unreachable, payment.Timeout)
			h.fund(money.Units(5, usd))
			h.drain()
			if len(h.p.Charges()) != 1 || len(h.credits) != 1 {
				t.Fatalf("charges %d, credits %d", len(h.p.Charges()), len(h.credits))
			}
			if h.p.Attempts() != 3 {
				t.Fatalf("provider calls %d, want 3 (dropped, timeout, replay)", h.p.Attempts())
			}
			if len(h.retries) != 2 || h.retries[0].Key != h.starts[0].Key || h.retries[1].Key != h.starts[0].Key || !h.retries[0].Unknown {
				t.Fatalf("retries %+v, want two with key %s", h.retries, h.starts[0].Key)
			}
			if d := h.retries[0].At.Sub(t0); d != 30*time.Second {
				t.Fatalf("first unknown-outcome retry after %v", d)
			}
			if h.count(notify.RechargeFailed) != 0 || h.s.ConsecutiveFailures != 0 {
				t.Fatal("an unknown outcome counted as a failure")
			}
			h.checkMoney()
		}},
		{"hard decline: suspended at once, one recharge_failed, one auto_recharge_suspended", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50), payment.Decline("expired_card"))
			h.fund(money.Units(5, usd))
			h.drain()
			for range 100 {
				h.debit(1)
			}
			h.drain()
			if !h.s.Suspended || h.s.SuspendedReason != "card expired" {
				t.Fatalf("suspended %v %q", h.s.Suspended, h.s.SuspendedReason)
			}
			if len(h.starts) != 1 || len(h.p.Charges()) != 0 {
				t.Fatalf("starts %d charges %d", len(h.starts), len(h.p.Charges()))
			}
			if h.count(notify.RechargeFailed) != 1 || h.count(notify.AutoRechargeSuspended) != 1 {
				t.Fatalf("recharge_failed %d, auto_recharge_suspended %d", h.count(notify.RechargeFailed), h.count(notify.AutoRechargeSuspended))
			}
			for _, e := range h.events {
				if e.Type == notify.RechargeFailed && (e.Reason != "card expired" || e.Amount != money.Units(50, usd)) {
					t.Fatalf("recharge_failed %+v", e)
				}
			}
			h.checkMoney()
		}},
		{"card updated: re-enabled and recharges at once", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50), payment.Decline("stolen_card"))
			h.fund(money.Units(5, usd))
			h.drain()
			if !h.s.Suspended {
				t.Fatal("not suspended")
			}
			v := h.s.Settings.Version
			out := h.must(PaymentMethodUpdated{Method: "pm_card2", Expiry: CardExpiry{Month: 12, Year: 2029}, Brand: "visa", Last4: "4242", At: h.now})
			if h.s.Suspended || h.s.ConsecutiveFailures != 0 || h.s.Settings.Version != v+1 {
				t.Fatalf("after update: %+v", h.s)
			}
			if len(out.Actions) != 1 {
				t.Fatalf("actions %+v, want a StartAttempt", out.Actions)
			}
			if sa := out.Actions[0].(StartAttempt); sa.PaymentMethod != "pm_card2" {
				t.Fatalf("start %+v", sa)
			}
			h.drain()
			if n, _ := h.creditsOf("recharge"); n != 1 {
				t.Fatalf("credits %d", n)
			}
			e := h.events[len(h.events)-1]
			if e.Type != notify.RechargeSucceeded || e.Card == nil || e.Card.Last4 != "4242" {
				t.Fatalf("last event %+v", e)
			}
			h.checkMoney()
		}},
		{"soft declines: back-off 30m, 2h, 8h with a new key each, then suspended after 4", func(t *testing.T) {
			d := payment.Decline("insufficient_funds")
			h := newHarness(t, cardSettings(10, 50), d, d, d, d)
			h.fund(money.Units(5, usd))
			h.drain()
			want := []time.Duration{30 * time.Minute, 2 * time.Hour, 8 * time.Hour}
			if len(h.retries) != len(want) {
				t.Fatalf("retries %+v", h.retries)
			}
			at := t0
			keys := map[string]bool{h.starts[0].Key: true}
			for i, r := range h.retries {
				at = at.Add(want[i])
				if !r.At.Equal(at) || r.Unknown || keys[r.Key] || r.AttemptID != h.starts[0].AttemptID {
					t.Fatalf("retry %d: %+v, want at %v with a fresh key of %s", i, r, at, h.starts[0].AttemptID)
				}
				keys[r.Key] = true
			}
			if !h.s.Suspended || h.s.ConsecutiveFailures != 4 || h.p.Attempts() != 4 {
				t.Fatalf("suspended %v failures %d provider calls %d", h.s.Suspended, h.s.ConsecutiveFailures, h.p.Attempts())
			}
			if h.count(notify.RechargeFailed) != 1 || h.count(notify.AutoRechargeSuspended) != 1 {
				t.Fatalf("recharge_failed %d, suspended %d", h.count(notify.RechargeFailed), h.count(notify.AutoRechargeSuspended))
			}
			h.checkMoney()
		}},
		{"soft decline then success on the retry: one charge", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50), payment.Decline("insufficient_funds"))
			h.fund(money.Units(5, usd))
			h.drain()
			if len(h.p.Charges()) != 1 || len(h.credits) != 1 || h.s.ConsecutiveFailures != 0 || h.s.Suspended {
				t.Fatalf("charges %d credits %d failures %d", len(h.p.Charges()), len(h.credits), h.s.ConsecutiveFailures)
			}
			// With the first key the provider would have replayed the decline.
			if k := h.p.Charges()[0].Request.IdempotencyKey; k != "recharge:t-1:1:2" {
				t.Fatalf("charged with %s", k)
			}
			h.checkMoney()
		}},
		{"monthly cap reached: one notification, nothing more until next month", func(t *testing.T) {
			st := cardSettings(10, 50)
			st.MonthlyCap = money.Units(100, usd)
			h := newHarness(t, st)
			h.fund(money.Units(11, usd))
			for range 3 {
				h.debit(money.Units(60, usd)) // each takes the balance below the trigger again
				h.drain()
			}
			for range 50 {
				h.debit(100)
			}
			if n, sum := h.creditsOf("recharge"); n != 2 || sum != money.Units(100, usd) {
				t.Fatalf("credits %d (%d)", n, sum)
			}
			if h.count(notify.RechargeCapReached) != 1 {
				t.Fatalf("cap notifications %d", h.count(notify.RechargeCapReached))
			}
			if h.balance != -money.Units(119, usd) {
				t.Fatalf("balance %d", h.balance)
			}
			// April: -119 → -69 → -19, and April's cap is reached in turn.
			h.now = time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
			h.must(Tick{At: h.now})
			h.drain()
			if n, _ := h.creditsOf("recharge"); n != 4 {
				t.Fatalf("recharges %d after the new month, want 4", n)
			}
			if h.s.Month != "2025-04" || h.s.RechargedThisMonth != money.Units(100, usd) || h.count(notify.RechargeCapReached) != 2 {
				t.Fatalf("month %s recharged %d cap notifications %d", h.s.Month, h.s.RechargedThisMonth, h.count(notify.RechargeCapReached))
			}
			h.checkMoney()
		}},
		{"still below the trigger after a success: a second recharge follows", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50))
			h.balance = -money.Units(45, usd) // debt from a CDR with no reservation
			h.seq++
			h.balanceChanged()
			out := h.runJobOut()
			if !hasStart(out) {
				t.Fatalf("success at 5.00 < 10.00 did not start another attempt: %+v", out.Actions)
			}
			h.drain()
			if n, _ := h.creditsOf("recharge"); n != 2 || h.balance != money.Units(55, usd) {
				t.Fatalf("credits %d balance %d", n, h.balance)
			}
			h.checkMoney()
		}},
		{"balance_zero once per crossing", func(t *testing.T) {
			h := newHarness(t, Settings{})
			h.fund(300)
			h.debit(300) // 0: crossing
			h.debit(100) // -100: no new crossing
			h.fund(500)  // 400
			h.debit(500) // -100: second crossing
			if h.count(notify.BalanceZero) != 2 {
				t.Fatalf("balance_zero %d", h.count(notify.BalanceZero))
			}
			if id := h.events[0].ID; id != "balance_zero/t-1/2" {
				t.Fatalf("key %s", id)
			}
			h.must(BalanceChanged{Balance: h.balance, Available: h.balance, Seq: h.seq, At: h.now}) // replayed report
			if h.count(notify.BalanceZero) != 2 {
				t.Fatal("a repeated report crossed again")
			}
		}},
		{"balance_low only while auto-recharge is off or suspended, once per crossing", func(t *testing.T) {
			st := cardSettings(10, 50)
			st.LowBalance = money.Units(20, usd)
			h := newHarness(t, st)
			h.fund(money.Units(25, usd))
			h.debit(money.Units(16, usd)) // 9 < 20, but auto-recharge is on (and recharges to 59)
			h.drain()
			if h.count(notify.BalanceLow) != 0 {
				t.Fatal("balance_low while auto-recharge on")
			}
			st.Enabled = false
			h.must(SettingsUpdated{Settings: st, IfVersion: h.s.Settings.Version, At: h.now})
			h.debit(money.Units(50, usd)) // 59 → 9
			h.debit(100)
			if h.count(notify.BalanceLow) != 1 || h.events[len(h.events)-1].Threshold != money.Units(20, usd) {
				t.Fatalf("balance_low %d", h.count(notify.BalanceLow))
			}
		}},
		{"card expiry warned once, a month ahead", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50))
			h.must(PaymentMethodUpdated{Method: "pm_card1", Expiry: CardExpiry{Month: 5, Year: 2025}, Brand: "visa", Last4: "4242", At: h.now})
			for _, at := range []time.Time{
				time.Date(2025, 4, 30, 23, 59, 59, 0, time.UTC), // before the warning
				time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC),     // warn
				time.Date(2025, 5, 2, 0, 0, 0, 0, time.UTC),
				time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC),
			} {
				h.now = at
				h.must(Tick{At: at})
			}
			if h.count(notify.CardExpiring) != 1 {
				t.Fatalf("card_expiring %d", h.count(notify.CardExpiring))
			}
			e := h.events[len(h.events)-1]
			if e.ID != "card_expiring/t-1/pm_card1/2025-05" || !e.At.Equal(time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)) ||
				!e.ExpiresAt.Equal(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("event %+v", e)
			}
			h.must(PaymentMethodUpdated{Method: "pm_card1", Expiry: CardExpiry{Month: 5, Year: 2028}, At: h.now})
			h.must(Tick{At: h.now})
			if h.count(notify.CardExpiring) != 1 {
				t.Fatal("a renewed card was warned about")
			}
		}},
		{"enterprise agreement: recharges are invoiced and credited at once", func(t *testing.T) {
			st := cardSettings(10, 50)
			st.PaymentMethod = "ea:EA-1234:PO-77"
			h := newHarness(t, st)
			h.fund(money.Units(10, usd) + 100)
			for range 500 {
				h.debit(1)
			}
			if len(h.starts) != 0 || h.p.Attempts() != 0 {
				t.Fatal("an agreement called the provider")
			}
			if n, _ := h.creditsOf("recharge"); n != 1 || !h.credits[0].Invoiced || h.credits[0].PurchaseOrder != "PO-77" {
				t.Fatalf("credits %+v", h.credits)
			}
			if h.count(notify.RechargeSucceeded) != 1 {
				t.Fatal("no recharge_succeeded")
			}
		}},
		{"manual purchase: card is charged, agreement credited at once, one payment in flight", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50))
			h.fund(money.Units(100, usd))
			if _, err := h.apply(ManualPurchase{Amount: money.Units(49, usd), At: h.now}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("below minimum: %v", err)
			}
			out := h.must(ManualPurchase{Amount: money.Units(80, usd), At: h.now})
			if !hasStart(out) || out.Actions[0].(StartAttempt).Purpose != PurposePurchase {
				t.Fatalf("purchase %+v", out.Actions)
			}
			if _, err := h.apply(ManualPurchase{Amount: money.Units(80, usd), Method: "ea:EA-1", At: h.now}); !errors.Is(err, ErrBusy) {
				t.Fatalf("second purchase in flight: %v", err)
			}
			h.debit(money.Units(95, usd)) // below the trigger, but the purchase is in flight
			if len(h.starts) != 1 {
				t.Fatal("recharge started beside a purchase")
			}
			h.drain() // purchase credited (85) and the trigger no longer holds
			if n, _ := h.creditsOf("purchase"); n != 1 || h.count(notify.PurchaseSucceeded) != 1 || len(h.starts) != 1 {
				t.Fatalf("purchases %d starts %d", n, len(h.starts))
			}
			h.must(ManualPurchase{Amount: money.Units(60, usd), Method: "ea:EA-1", At: h.now})
			if n, sum := h.creditsOf("purchase"); n != 2 || sum != money.Units(140, usd) || h.s.RechargedThisMonth != 0 {
				t.Fatalf("purchases %d (%d)", n, sum)
			}
			h.checkMoney()
		}},
		{"purchase declined: no suspension, the buyer is told", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50), payment.Decline("expired_card"))
			h.fund(money.Units(100, usd))
			h.must(ManualPurchase{Amount: money.Units(50, usd), At: h.now})
			h.drain()
			if h.s.Suspended || len(h.failures) != 1 || h.failures[0].Reason != "card expired" || h.count(notify.RechargeFailed) != 0 {
				t.Fatalf("suspended %v failures %+v", h.s.Suspended, h.failures)
			}
		}},
		{"disabled while waiting for a soft-decline retry: cancelled, never charged", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50), payment.Decline("insufficient_funds"))
			h.fund(money.Units(5, usd))
			h.runJob()
			st := h.s.Settings
			st.Enabled = false
			h.must(SettingsUpdated{Settings: st, IfVersion: st.Version, At: h.now})
			h.drain()
			if h.s.InFlight != nil || h.p.Attempts() != 1 || len(h.credits) != 0 {
				t.Fatalf("in flight %+v, provider calls %d", h.s.InFlight, h.p.Attempts())
			}
		}},
		{"disabled while a charge is under way: the money that moved is credited", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50))
			h.fund(money.Units(5, usd))
			st := h.s.Settings
			st.Enabled = false
			h.must(SettingsUpdated{Settings: st, IfVersion: st.Version, At: h.now})
			h.drain()
			if len(h.p.Charges()) != 1 || len(h.credits) != 1 {
				t.Fatalf("charges %d credits %d", len(h.p.Charges()), len(h.credits))
			}
			h.checkMoney()
		}},
		{"provider rejected the request: suspended and the operator alerted", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50))
			h.fund(money.Units(5, usd))
			h.must(AttemptFailed{Key: h.starts[0].Key, Kind: payment.KindRejected, Code: "resource_missing", At: h.now})
			if !h.s.Suspended || len(h.alerts) != 1 || h.count(notify.AutoRechargeSuspended) != 1 {
				t.Fatalf("suspended %v alerts %d", h.s.Suspended, len(h.alerts))
			}
		}},
		{"duplicate and late reports are no-ops; foreign keys are refused", func(t *testing.T) {
			h := newHarness(t, cardSettings(10, 50))
			h.fund(money.Units(5, usd))
			key := h.starts[0].Key
			h.drain()
			for _, ev := range []Event{
				AttemptSucceeded{Key: key, PaymentID: "pi_x", At: h.now},
				AttemptFailed{Key: key, Kind: payment.KindHardDecline, At: h.now},
				RetryDue{Key: key, At: h.now},
			} {
				if out := h.must(ev); len(out.Actions)+len(out.Events) != 0 {
					t.Fatalf("%T replay produced %+v", ev, out)
				}
			}
			for _, k := range []string{"recharge:t-1:99:1", "recharge:t-2:1:1", "nonsense"} {
				if _, err := h.apply(AttemptSucceeded{Key: k, At: h.now}); !errors.Is(err, ErrUnknownAttempt) {
					t.Fatalf("%s: %v", k, err)
				}
			}
			if len(h.credits) != 1 {
				t.Fatalf("credits %d", len(h.credits))
			}
		}},
	} {
		t.Run(tc.name, tc.run)
	}
}

func (h *harness) runJobOut() Output {
	n := len(h.outputs)
	h.runJob()
	var out Output
	for _, o := range h.outputs[n:] {
		out.Actions = append(out.Actions, o.Actions...)
		out.Events = append(out.Events, o.Events...)
	}
	return out
}

func hasStart(out Output) bool {
	for _, a := range out.Actions {
		if _, ok := a.(StartAttempt); ok {
			return true
		}
	}
	return false
}
