package tenant

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/payment"
	"github.com/commcredits/commcredits/internal/recharge"
)

func outboxKinds(items []OutboxItem) map[string]int {
	n := map[string]int{}
	for _, o := range items {
		n[o.Kind]++
		if o.Event != nil {
			n[string(o.Event.Type)]++
		}
	}
	return n
}

// An enterprise agreement recharges at once: a long run of small debits crossing the
// trigger gives exactly one recharge.
func TestAgreementRechargeStorm(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 1050)
	run(t, s, e, SetPaymentMethod{Method: "ea:AG-1:PO-7"}, t0)
	run(t, s, e, SetAutoRecharge{Settings: recharge.Settings{Enabled: true, Trigger: 1000, Amount: 5000, PaymentMethod: "ea:AG-1:PO-7"},
		IfVersion: s.Recharge.Settings.Version}, t0)
	var outbox []OutboxItem
	for i := range 500 {
		_, eff := run(t, s, e, ledger.Charge{Amount: 1, Ref: fmt.Sprint("d", i)}, t0.Add(time.Duration(i)*time.Second))
		outbox = append(outbox, eff.Outbox...)
	}
	if s.Account.Totals.Funded != 1050+5000 || s.Account.Balance != 1050+5000-500 {
		t.Fatalf("funded %d balance %d", s.Account.Totals.Funded, s.Account.Balance)
	}
	var recharges int
	for _, l := range s.Account.Lots {
		if l.Source == "recharge" {
			recharges++
		}
	}
	if recharges != 1 || outboxKinds(outbox)["recharge_succeeded"] != 1 {
		t.Fatalf("%d recharge lots, outbox %v", recharges, outboxKinds(outbox))
	}
}

// A card method asks for one payment attempt, however many debits cross the trigger while
// it is in flight; nothing is credited before the payment succeeds.
func TestCardRechargeWaitsForThePayment(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 1050)
	run(t, s, e, SetPaymentMethod{Method: "pm_card_visa", ExpMonth: 12, ExpYear: 2030, Brand: "visa", Last4: "4242"}, t0)
	run(t, s, e, SetAutoRecharge{Settings: recharge.Settings{Enabled: true, Trigger: 1000, Amount: 5000, PaymentMethod: "pm_card_visa"},
		IfVersion: s.Recharge.Settings.Version}, t0)
	var outbox []OutboxItem
	for i := range 200 {
		_, eff := run(t, s, e, ledger.Charge{Amount: 1}, t0.Add(time.Duration(i)*time.Second))
		outbox = append(outbox, eff.Outbox...)
	}
	if n := outboxKinds(outbox)["start_attempt"]; n != 1 || s.Account.Totals.Funded != 1050 || s.Recharge.InFlight == nil {
		t.Fatalf("attempts %d funded %d in flight %v", n, s.Account.Totals.Funded, s.Recharge.InFlight)
	}
}

func TestAddFundsAndBalanceZero(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 0)
	if _, _, err := Apply(s, AddFunds{Amount: 4999, Method: "ea:AG-1"}, t0, e); !errors.Is(err, recharge.ErrInvalid) {
		t.Fatalf("below the 50.00 minimum: %v", err)
	}
	run(t, s, e, AddFunds{Amount: 5000, Method: "ea:AG-1"}, t0)
	if s.Account.Balance != 5000 || s.Account.Lots[0].Source != "purchase" {
		t.Fatalf("purchase: balance %d lots %+v", s.Account.Balance, s.Account.Lots)
	}
	_, eff := run(t, s, e, ledger.Charge{Amount: 5000}, t0)
	_, again := run(t, s, e, ledger.Charge{Amount: 1}, t0)
	if outboxKinds(eff.Outbox)["balance_zero"] != 1 || outboxKinds(again.Outbox)["balance_zero"] != 0 {
		t.Fatalf("balance_zero: %v then %v", outboxKinds(eff.Outbox), outboxKinds(again.Outbox))
	}
	if _, _, err := Apply(s, SetAutoRecharge{Settings: recharge.Settings{Enabled: true, Trigger: 1000, Amount: 5000, PaymentMethod: "ea:AG-1"},
		IfVersion: s.Recharge.Settings.Version + 7}, t0, e); !errors.Is(err, recharge.ErrConflict) {
		t.Fatalf("stale settings version: %v", err)
	}
}

func outboxKeys(items []OutboxItem) []string {
	var keys []string
	for _, o := range items {
		keys = append(keys, o.Key)
	}
	return keys
}

// Payment outcomes come back as PaymentReport and RetryDue: an unknown outcome retries the
// same charge key under a new outbox key, a success credits once, and late, duplicate or
// foreign reports change nothing.
func TestPaymentReportAndRetryDue(t *testing.T) {
	e := env(t)
	s := newTenant(t, e, 1050)
	run(t, s, e, SetPaymentMethod{Method: "pm_card_visa", ExpMonth: 12, ExpYear: 2030}, t0)
	run(t, s, e, SetAutoRecharge{Settings: recharge.Settings{Enabled: true, Trigger: 1000, Amount: 5000, PaymentMethod: "pm_card_visa"},
		IfVersion: s.Recharge.Settings.Version}, t0)
	_, eff := run(t, s, e, ledger.Charge{Amount: 100}, t0)
	key := "recharge:" + s.Account.Tenant + ":1:1"
	if k := outboxKeys(eff.Outbox); len(k) != 1 || k[0] != "pay:"+key {
		t.Fatalf("outbox after the crossing: %v", k)
	}
	if got := (PaymentReport{Key: key}).IdempotencyKey(); got != "report:"+key {
		t.Fatalf("idempotency key %q", got)
	}

	_, eff = run(t, s, e, PaymentReport{Key: key, Kind: payment.KindUnknownOutcome, Code: "network_error"}, t0.Add(time.Second))
	if k := outboxKeys(eff.Outbox); len(k) != 1 || k[0] != "retry:"+key+"#u1" {
		t.Fatalf("outbox after an unknown outcome: %v", k)
	}
	_, eff = run(t, s, e, RetryDue{Key: key}, t0.Add(time.Minute))
	if k := outboxKeys(eff.Outbox); len(k) != 1 || k[0] != "pay:"+key+"#u1" {
		t.Fatalf("outbox after RetryDue: %v", k)
	}
	if _, eff = run(t, s, e, RetryDue{Key: key}, t0.Add(time.Minute)); len(eff.Outbox) != 0 {
		t.Fatalf("a second RetryDue: %v", outboxKeys(eff.Outbox))
	}

	_, eff = run(t, s, e, PaymentReport{Key: key, Succeeded: true, PaymentID: "pi_1"}, t0.Add(2*time.Minute))
	if s.Account.Totals.Funded != 1050+5000 || s.Account.Balance != 950+5000 || s.Recharge.InFlight != nil {
		t.Fatalf("after success: funded %d balance %d in flight %v", s.Account.Totals.Funded, s.Account.Balance, s.Recharge.InFlight)
	}
	if outboxKinds(eff.Outbox)["recharge_succeeded"] != 1 {
		t.Fatalf("outbox after success: %v", outboxKinds(eff.Outbox))
	}
	if _, eff = run(t, s, e, PaymentReport{Key: key, Succeeded: true, PaymentID: "pi_1"}, t0.Add(3*time.Minute)); len(eff.Outbox) != 0 ||
		s.Account.Totals.Funded != 6050 {
		t.Fatalf("a late report credited again: funded %d, outbox %v", s.Account.Totals.Funded, outboxKeys(eff.Outbox))
	}
	if _, _, err := Apply(s, PaymentReport{Key: "recharge:other:1:1", Succeeded: true}, t0, e); !errors.Is(err, recharge.ErrUnknownAttempt) {
		t.Fatalf("a foreign key: %v", err)
	}
}
