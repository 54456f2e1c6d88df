package recharge

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/payment"
)

var usd = money.MustCurrency("USD")

// tb is what the harness needs of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// job is a durable job of the runner: charge now (StartAttempt) or send RetryDue at At.
type job struct {
	at    time.Time
	start *StartAttempt
	retry *ScheduleRetry
	n     int // insertion order, for a stable queue
}

type credited struct {
	Credit
	at time.Time
}

// harness plays the lead's part: a writer that applies events to the state machine, a
// ledger reduced to a balance and reservations, a job runner that charges the fake
// provider, and an outbox that collects notifications. It checks the invariants after
// every event.
type harness struct {
	t        tb
	s        *State
	cfg      *Config
	p        *payment.Fake
	now      time.Time
	balance  money.Amount
	reserved money.Amount
	seq      int64
	jobs     []job
	jobN     int
	outputs  []Output
	events   []notify.Event
	credits  []credited
	starts   []StartAttempt
	retries  []ScheduleRetry
	failures []Failed
	alerts   []Alert
	open     map[string]bool // attempts started and not yet credited or failed
	pending  *Settings       // applied after the first balance report (the opening balance)
}

var t0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

func newHarness(t tb, st Settings, steps ...payment.Step) *harness {
	t.Helper()
	h := &harness{t: t, s: New("t-1"), cfg: &Config{Currency: usd}, p: payment.NewFake(steps...), now: t0, open: map[string]bool{}}
	off := st
	off.Enabled = false
	h.must(SettingsUpdated{Settings: off, IfVersion: 0, At: h.now})
	if st.Enabled {
		h.pending = &st
	}
	return h
}

func cardSettings(trigger, amount int64) Settings {
	return Settings{Enabled: true, Trigger: money.Units(trigger, usd), Amount: money.Units(amount, usd), PaymentMethod: "pm_card1"}
}

// apply runs ev, checks the output and carries out its actions.
func (h *harness) apply(ev Event) (Output, error) {
	h.t.Helper()
	out, err := h.s.Apply(ev, h.cfg)
	if err != nil {
		return out, err
	}
	h.record(out)
	return out, nil
}

func (h *harness) must(ev Event) Output {
	h.t.Helper()
	out, err := h.apply(ev)
	if err != nil {
		h.t.Fatalf("%T: %v", ev, err)
	}
	return out
}

func (h *harness) record(out Output) {
	h.t.Helper()
	h.outputs = append(h.outputs, out)
	for _, e := range out.Events {
		e.TenantName = "Acme"
		if err := e.Validate(); err != nil {
			h.t.Fatalf("notification %s: %v", e.ID, err)
		}
		if _, err := notify.Render(e); err != nil {
			h.t.Fatalf("render %s: %v", e.ID, err)
		}
		h.events = append(h.events, e)
	}
	for _, a := range out.Actions {
		switch a := a.(type) {
		case StartAttempt:
			if !h.open[a.AttemptID] && len(h.open) > 0 {
				h.t.Fatalf("attempt %s started while %v in flight", a.AttemptID, h.open)
			}
			h.open[a.AttemptID] = true
			h.starts = append(h.starts, a)
			h.push(job{at: h.now, start: &a})
		case ScheduleRetry:
			if !h.open[a.AttemptID] {
				h.t.Fatalf("retry of attempt %s not in flight", a.AttemptID)
			}
			if a.At.Before(h.now) {
				h.t.Fatalf("retry scheduled in the past: %v < %v", a.At, h.now)
			}
			h.retries = append(h.retries, a)
			h.push(job{at: a.At, retry: &a})
		case Credit:
			if !a.Invoiced {
				if !h.open[a.AttemptID] {
					h.t.Fatalf("credit of attempt %s not in flight", a.AttemptID)
				}
				delete(h.open, a.AttemptID)
			}
			h.credits = append(h.credits, credited{a, h.now})
			h.balance += a.Amount
			h.seq++
		case Failed:
			if !h.open[a.AttemptID] {
				h.t.Fatalf("failure of attempt %s not in flight", a.AttemptID)
			}
			delete(h.open, a.AttemptID)
			h.failures = append(h.failures, a)
		case Alert:
			h.alerts = append(h.alerts, a)
		default:
			h.t.Fatalf("unknown action %T", a)
		}
	}
	if (h.s.InFlight == nil) != (len(h.open) == 0) || h.s.InFlight != nil && !h.open[h.s.InFlight.ID] {
		h.t.Fatalf("state in flight %+v, harness %v", h.s.InFlight, h.open)
	}
	// The writer reports the ledger after applying the credits.
	for _, a := range out.Actions {
		if _, ok := a.(Credit); ok {
			h.balanceChanged()
			break
		}
	}
}

func (h *harness) push(j job) {
	h.jobN++
	j.n = h.jobN
	h.jobs = append(h.jobs, j)
	sort.SliceStable(h.jobs, func(a, b int) bool { return h.jobs[a].at.Before(h.jobs[b].at) })
}

func (h *harness) balanceChanged() Output {
	h.t.Helper()
	out := h.must(BalanceChanged{Balance: h.balance, Available: h.balance - h.reserved, Seq: h.seq, At: h.now})
	if st := h.pending; st != nil {
		h.pending = nil
		h.must(SettingsUpdated{Settings: *st, IfVersion: h.s.Settings.Version, At: h.now})
	}
	return out
}

// debit books a charge of amt and reports it.
func (h *harness) debit(amt money.Amount) Output {
	h.t.Helper()
	h.balance -= amt
	h.seq++
	return h.balanceChanged()
}

// runJob runs the first due job (advancing the clock to it); false when none is left.
func (h *harness) runJob() bool {
	h.t.Helper()
	if len(h.jobs) == 0 {
		return false
	}
	j := h.jobs[0]
	h.jobs = h.jobs[1:]
	if j.at.After(h.now) {
		h.now = j.at
	}
	if j.retry != nil {
		h.must(RetryDue{Key: j.retry.Key, At: h.now})
		return true
	}
	a := j.start
	res, err := h.p.Charge(context.Background(), payment.ChargeRequest{
		TenantID: h.s.Tenant, CustomerID: "cus_1", PaymentMethodID: a.PaymentMethod,
		Amount: a.Amount, Currency: usd, IdempotencyKey: a.Key, Description: string(a.Purpose),
	})
	if err != nil {
		var pe *payment.Error
		errors.As(err, &pe)
		ev := AttemptFailed{Key: a.Key, Kind: payment.KindOf(err), At: h.now}
		if pe != nil {
			ev.Reason, ev.Code = pe.Reason, pe.Code
		}
		h.must(ev)
		return true
	}
	if res.Status != payment.StatusSucceeded {
		h.t.Fatalf("charge %s: status %s", a.Key, res.Status)
	}
	h.must(AttemptSucceeded{Key: a.Key, PaymentID: res.PaymentID, At: h.now})
	return true
}

func (h *harness) drain() {
	h.t.Helper()
	for i := 0; h.runJob(); i++ {
		if i > 10_000 {
			h.t.Fatalf("jobs never drain: %d left", len(h.jobs))
		}
	}
}

// count returns how many notifications of type t were sent.
func (h *harness) count(t notify.Type) int {
	n := 0
	for _, e := range h.events {
		if e.Type == t {
			n++
		}
	}
	return n
}

func (h *harness) creditsOf(source string) (n int, sum money.Amount) {
	for _, c := range h.credits {
		if c.Source == source {
			n++
			sum += c.Amount
		}
	}
	return n, sum
}

// checkMoney checks the money invariants against the provider: every charge key moved
// money at most once, every attempt at most once, and what was credited from cards is
// exactly what the provider charged, attempt by attempt.
func (h *harness) checkMoney() {
	h.t.Helper()
	byKey := map[string]int{}
	byAttempt := map[string]money.Amount{}
	for _, c := range h.p.Charges() {
		k := c.Request.IdempotencyKey
		byKey[k]++
		if byKey[k] > 1 {
			h.t.Fatalf("key %s charged twice", k)
		}
		id := k[:strings.LastIndexByte(k, ':')]
		if _, dup := byAttempt[id]; dup {
			h.t.Fatalf("attempt %s charged twice", id)
		}
		byAttempt[id] = c.Request.Amount
	}
	got := map[string]money.Amount{}
	for _, c := range h.credits {
		if c.Invoiced {
			continue
		}
		if _, dup := got[c.AttemptID]; dup {
			h.t.Fatalf("attempt %s credited twice", c.AttemptID)
		}
		got[c.AttemptID] = c.Amount
	}
	for id, amt := range byAttempt {
		if h.open[id] {
			continue // charged, outcome not reported yet
		}
		if got[id] != amt {
			h.t.Fatalf("attempt %s charged %d, credited %d", id, amt, got[id])
		}
	}
	for id, amt := range got {
		if byAttempt[id] != amt {
			h.t.Fatalf("attempt %s credited %d, charged %d", id, amt, byAttempt[id])
		}
	}
	seen := map[string]bool{}
	for _, e := range h.events {
		// The machine remembers only the last card it warned about: switching back to an
		// earlier card re-emits that card's key, which the outbox drops as a duplicate.
		if seen[e.ID] && e.Type != notify.CardExpiring {
			h.t.Fatalf("notification %s emitted twice", e.ID)
		}
		seen[e.ID] = true
	}
}
