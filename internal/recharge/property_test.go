package recharge

import (
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payment"
)

var stepGen = rapid.SampledFrom([]payment.Step{
	payment.Succeed, payment.Succeed, payment.Succeed,
	payment.Timeout, payment.Unreachable,
	payment.Decline("insufficient_funds"), payment.Decline("rate_limit"), payment.Decline("api_error"),
	payment.Decline("expired_card"), payment.Decline("do_not_honor"),
})

// TestProperties drives the machine with random debits, reservations, job runs (charges
// against the idempotent fake provider), clock jumps across months, settings and payment
// method changes and manual purchases. The harness checks after every event that at most
// one attempt is in flight; at the end: no key and no attempt charged twice, credited
// equals charged attempt by attempt, the recharges credited in each month within the cap,
// every notification valid and emitted once.
func TestProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		steps := rapid.SliceOfN(stepGen, 0, 40).Draw(rt, "script")
		cap := money.Units(rapid.SampledFrom([]int64{0, 100, 150, 400}).Draw(rt, "cap"), usd)
		st := cardSettings(rapid.Int64Range(0, 80).Draw(rt, "trigger"), 50)
		st.MonthlyCap = cap
		st.LowBalance = money.Units(rapid.Int64Range(0, 30).Draw(rt, "low"), usd)
		h := newHarness(rt, st, steps...)
		h.cfg.SoftBackoff.JitterPercent = 0
		if rapid.Bool().Draw(rt, "jitter") {
			h.cfg.SoftBackoff = Backoff{Base: 10 * time.Minute, Factor: 3, Max: 6 * time.Hour, JitterPercent: 20}
		}
		h.fund(money.Units(rapid.Int64Range(0, 200).Draw(rt, "opening"), usd))
		methods := []string{"pm_card1", "pm_card2", "ea:EA-9"}

		for range rapid.IntRange(1, 120).Draw(rt, "n") {
			switch rapid.IntRange(0, 11).Draw(rt, "op") {
			case 0, 1, 2, 3:
				h.debit(money.Amount(rapid.Int64Range(1, 4000).Draw(rt, "debit")))
			case 4:
				h.reserved = money.Amount(rapid.Int64Range(0, 3000).Draw(rt, "reserved"))
				h.balanceChanged()
			case 5, 6, 7:
				h.runJob()
			case 8:
				h.now = h.now.Add(time.Duration(rapid.Int64Range(1, 40*24).Draw(rt, "hours")) * time.Hour)
				h.must(Tick{At: h.now})
			case 9:
				m := rapid.SampledFrom(methods).Draw(rt, "method")
				h.must(PaymentMethodUpdated{Method: m, Expiry: CardExpiry{Month: 6, Year: 2025}, At: h.now})
			case 10:
				n := h.s.Settings
				n.Enabled = rapid.Bool().Draw(rt, "enabled")
				n.Trigger = money.Units(rapid.Int64Range(0, 80).Draw(rt, "trigger2"), usd)
				n.Amount = money.Units(rapid.SampledFrom([]int64{50, 75}).Draw(rt, "amount"), usd)
				if n.PaymentMethod == "" {
					n.PaymentMethod = "pm_card1"
				}
				if cap > 0 && cap < n.Amount {
					n.Amount = cap
				}
				h.must(SettingsUpdated{Settings: n, IfVersion: n.Version, At: h.now})
			case 11:
				m := rapid.SampledFrom(methods).Draw(rt, "pmethod")
				busy := h.s.InFlight != nil
				_, err := h.apply(ManualPurchase{Amount: money.Units(60, usd), Method: m, At: h.now})
				if err != nil && !errors.Is(err, ErrBusy) {
					rt.Fatalf("purchase: %v", err)
				}
				if errors.Is(err, ErrBusy) != busy {
					rt.Fatalf("purchase busy %v with in flight %v", err, h.s.InFlight)
				}
			}
			h.checkMoney()
		}
		h.drain()
		h.checkMoney()
		if h.s.InFlight != nil || len(h.open) != 0 {
			rt.Fatalf("drained with %+v in flight", h.s.InFlight)
		}

		if cap > 0 {
			perMonth := map[string]money.Amount{}
			for _, c := range h.credits {
				if c.Source != "recharge" {
					continue
				}
				m := c.at.Format("2006-01")
				perMonth[m] += c.Amount
				if perMonth[m] > cap {
					rt.Fatalf("month %s: recharged %d over the cap %d", m, perMonth[m], cap)
				}
			}
		}
		var charged money.Amount
		for _, c := range h.p.Charges() {
			charged += c.Request.Amount
		}
		var credited, invoiced money.Amount
		for _, c := range h.credits {
			credited += c.Amount
			if c.Invoiced {
				invoiced += c.Amount
			}
		}
		if credited != charged+invoiced {
			rt.Fatalf("credited %d, charged %d + invoiced %d", credited, charged, invoiced)
		}
	})
}

// TestDeterministic: the same events give the same state and outputs.
func TestDeterministic(t *testing.T) {
	run := func() ([]Output, State) {
		d := payment.Decline("insufficient_funds")
		h := newHarness(t, cardSettings(10, 50), payment.Timeout, d, payment.Succeed, payment.Decline("expired_card"))
		h.fund(money.Units(12, usd))
		for range 300 {
			h.debit(3)
			h.runJob()
		}
		h.drain()
		return h.outputs, *h.s
	}
	o1, s1 := run()
	o2, s2 := run()
	if len(o1) != len(o2) {
		t.Fatalf("outputs %d vs %d", len(o1), len(o2))
	}
	for i := range o1 {
		if len(o1[i].Actions) != len(o2[i].Actions) || len(o1[i].Events) != len(o2[i].Events) {
			t.Fatalf("output %d differs", i)
		}
		for j := range o1[i].Actions {
			if o1[i].Actions[j] != o2[i].Actions[j] {
				t.Fatalf("action %d/%d: %+v vs %+v", i, j, o1[i].Actions[j], o2[i].Actions[j])
			}
		}
		for j := range o1[i].Events {
			if o1[i].Events[j].ID != o2[i].Events[j].ID {
				t.Fatalf("event %d/%d differs", i, j)
			}
		}
	}
	if s1.Suspended != s2.Suspended || s1.LastAttemptSeq != s2.LastAttemptSeq || s1.Settings != s2.Settings {
		t.Fatalf("states differ: %+v vs %+v", s1, s2)
	}
}
