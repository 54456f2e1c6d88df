package recharge

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/payment"
)

// Purpose says why money is being collected.
type Purpose string

const (
	PurposeRecharge Purpose = "recharge" // automatic, from the trigger
	PurposePurchase Purpose = "purchase" // manual, from ManualPurchase
)

// Phase is where an attempt in flight stands.
type Phase string

const (
	// PhaseCharging: StartAttempt was emitted and its outcome is awaited. Money may move.
	PhaseCharging Phase = "charging"
	// PhaseUnknown: the last charge had an unknown outcome; a retry with the same key is
	// scheduled. Money may have moved.
	PhaseUnknown Phase = "unknown_outcome"
	// PhaseRetryWait: the last charge was declined (known: no money moved); a retry with a
	// new key is scheduled. The only phase in which an attempt may be cancelled.
	PhaseRetryWait Phase = "retry_wait"
)

// Attempt is the one payment in flight. ID names the attempt (one recharge or purchase)
// and its notifications; Key is the idempotency key of its current charge.
type Attempt struct {
	ID            string       `json:"id"` // "recharge:<tenant>:<seq>" or "purchase:<tenant>:<seq>"
	Seq           int64        `json:"seq"`
	Purpose       Purpose      `json:"purpose"`
	Amount        money.Amount `json:"amount"`
	PaymentMethod string       `json:"payment_method"`
	// Try counts the charges made with distinct keys: it goes up only after a decline,
	// never after an unknown outcome. Key is ID + ":" + Try.
	Try       int       `json:"try"`
	Key       string    `json:"key"`
	Phase     Phase     `json:"phase"`
	StartedAt time.Time `json:"started_at"`
	Declines  int       `json:"declines,omitempty"` // declines of this attempt
	Unknowns  int       `json:"unknowns,omitempty"` // consecutive unknown outcomes of the current key
}

// CardExpiry is the card's last valid month; zero when unknown or not a card.
type CardExpiry struct {
	Month int `json:"month"` // 1..12
	Year  int `json:"year"`  // four digits
}

// IsZero reports an unknown expiry.
func (e CardExpiry) IsZero() bool { return e.Month == 0 && e.Year == 0 }

// String is "2027-12".
func (e CardExpiry) String() string { return fmt.Sprintf("%04d-%02d", e.Year, e.Month) }

// ExpiresAt is the first instant the card no longer works (payment.Card.ExpiresAt).
func (e CardExpiry) ExpiresAt() time.Time {
	return payment.Card{ExpMonth: e.Month, ExpYear: e.Year}.ExpiresAt()
}

// WarnAt is when the expiry warning is due: one calendar month before ExpiresAt, i.e. the
// first day of the card's last valid month.
func (e CardExpiry) WarnAt() time.Time { return ledger.AddMonths(e.ExpiresAt(), -1) }

// State is one tenant's auto-recharge and funding state. The zero value (via New) is a
// new account: balance 0, auto-recharge off. It is plain data (JSON) for storage.
type State struct {
	Tenant   string   `json:"tenant"`
	Settings Settings `json:"settings"`
	// InFlight is the one payment in flight (recharge or card purchase), or nil.
	InFlight            *Attempt `json:"in_flight,omitempty"`
	ConsecutiveFailures int      `json:"consecutive_failures"`
	Suspended           bool     `json:"suspended"`
	SuspendedReason     string   `json:"suspended_reason,omitempty"`
	// Month is the current calendar month (UTC, "2025-03") and MonthEnds its end;
	// RechargedThisMonth is what auto-recharges credited in it; CapNotified is the last
	// month for which recharge_cap_reached was sent.
	Month              string       `json:"month,omitempty"`
	MonthEnds          time.Time    `json:"month_ends"`
	RechargedThisMonth money.Amount `json:"recharged_this_month"`
	CapNotified        string       `json:"cap_notified,omitempty"`
	// LastAttemptSeq is the seq of the last attempt or invoiced funding issued.
	LastAttemptSeq int64 `json:"last_attempt_seq"`
	// The card on file (when PaymentMethod is a card), for warnings and notifications.
	CardExpiry       CardExpiry `json:"card_expiry"`
	CardBrand        string     `json:"card_brand,omitempty"`
	CardLast4        string     `json:"card_last4,omitempty"`
	WarnedCardExpiry string     `json:"warned_card_expiry,omitempty"` // "<pm id>@2027-12"
	// Customer is the provider customer the card is attached to ("cus_…"), sent with
	// every charge.
	Customer string `json:"customer,omitempty"`
	// Time-driven notices (kept here to be stored with the funding state; the tenant
	// state decides them): ExpiryWarned is the nearest funds_expiring threshold (days)
	// sent per live lot, NextNotice the next instant one is due (zero: none).
	// ReceiptSeq numbers the tenant's receipts and invoices (tenant.Receipt).
	ReceiptSeq     int64         `json:"receipt_seq,omitempty"`
	NoticesChecked bool          `json:"notices_checked,omitempty"`
	ExpiryWarned   map[int64]int `json:"expiry_warned,omitempty"`
	NextNotice     time.Time     `json:"next_notice,omitzero"`
	// The last balance and available amount seen (BalanceChanged), advanced by the
	// credits this machine emits.
	Balance   money.Amount `json:"balance"`
	Available money.Amount `json:"available"`
}

// New returns the state of a new tenant.
func New(tenant string) *State { return &State{Tenant: tenant} }

// Event is an input of Apply; the concrete types below are the whole set.
type Event interface{ isEvent() }

// BalanceChanged reports the ledger after any command that changed the balance or the
// available amount (debit, settlement, reservation, expiry, and the Credit actions).
type BalanceChanged struct {
	Balance   money.Amount // ledger balance after the change
	Available money.Amount // balance less reservations
	Seq       int64        // seq of the ledger entry that made the change (dedup key of balance_zero/balance_low)
	At        time.Time
}

// AttemptSucceeded: the charge with Key succeeded (payment.StatusSucceeded).
type AttemptSucceeded struct {
	Key       string
	PaymentID string
	At        time.Time
}

// AttemptFailed: the charge with Key failed; Kind is payment.KindOf(err), Reason and Code
// the *payment.Error's.
type AttemptFailed struct {
	Key    string
	Kind   payment.Kind
	Reason string
	Code   string
	At     time.Time
}

// RetryDue: the time of a ScheduleRetry has come.
type RetryDue struct {
	Key string
	At  time.Time
}

// PaymentMethodUpdated: the tenant saved a payment method (a new card, the same card
// confirmed again, or an agreement). Expiry, Brand and Last4 describe a card.
type PaymentMethodUpdated struct {
	Method   string
	Expiry   CardExpiry
	Brand    string
	Last4    string
	Customer string // provider customer of the card; empty keeps the one on file
	At       time.Time
}

// SettingsUpdated replaces the settings if IfVersion is the current version.
type SettingsUpdated struct {
	Settings  Settings
	IfVersion int64
	At        time.Time
}

// Tick lets time-driven rules run: month roll-over, card-expiry warnings.
type Tick struct{ At time.Time }

// ManualPurchase buys Amount with Method (the settings' method when empty).
type ManualPurchase struct {
	Amount money.Amount
	Method string
	At     time.Time
}

func (BalanceChanged) isEvent()       {}
func (AttemptSucceeded) isEvent()     {}
func (AttemptFailed) isEvent()        {}
func (RetryDue) isEvent()             {}
func (PaymentMethodUpdated) isEvent() {}
func (SettingsUpdated) isEvent()      {}
func (Tick) isEvent()                 {}
func (ManualPurchase) isEvent()       {}

// Action is an output for the caller; the concrete types below are the whole set.
type Action interface{ isAction() }

// StartAttempt: charge the card now, off-session, with IdempotencyKey = Key. Report the
// outcome with AttemptSucceeded or AttemptFailed (a StatusProcessing result is not an
// outcome yet: wait for the provider to settle it).
type StartAttempt struct {
	AttemptID     string
	Key           string
	Purpose       Purpose
	Amount        money.Amount
	PaymentMethod string
	Customer      string `json:",omitempty"` // the provider customer the card belongs to
	// Round counts the unknown outcomes of Key before this start (0 for its first): a
	// retry of the same key after an unknown outcome is a new job with the same key.
	Round int `json:",omitempty"`
}

// ScheduleRetry: at At, send RetryDue{Key}. Key is the key the retry will charge with:
// the same key after an unknown outcome, the attempt's next key after a decline.
type ScheduleRetry struct {
	AttemptID string
	Key       string
	At        time.Time
	Unknown   bool // retrying an unknown outcome
}

// Credit: fund the ledger (ledger.Fund{Amount, Source, Ref}). Invoiced: an enterprise
// agreement funding, to invoice under Agreement/PurchaseOrder.
type Credit struct {
	AttemptID     string
	Source        string // "recharge" or "purchase"
	Amount        money.Amount
	Ref           string // provider payment id, or the attempt id for an invoiced funding
	PaymentMethod string
	Invoiced      bool
	Agreement     string
	PurchaseOrder string
}

// Failed: an attempt ended without money moving (for the attempt log and, for a
// purchase, the buyer).
type Failed struct {
	AttemptID string
	Purpose   Purpose
	Kind      payment.Kind
	Code      string
	Reason    string
}

// Alert: the operator must look (provider rejected a request; an outcome stays unknown).
type Alert struct {
	AttemptID string
	Key       string
	Code      string
	Message   string
}

func (StartAttempt) isAction()  {}
func (ScheduleRetry) isAction() {}
func (Credit) isAction()        {}
func (Failed) isAction()        {}
func (Alert) isAction()         {}

// Output is what one event produced. Events are ready for the outbox except TenantName.
type Output struct {
	Actions []Action
	Events  []notify.Event
}

// Apply runs ev against s. cfg must not be nil. A refused event returns a typed error
// and leaves s unchanged (the month roll-over aside, which would have happened anyway).
func (s *State) Apply(ev Event, cfg *Config) (Output, error) {
	switch e := ev.(type) {
	case BalanceChanged:
		return s.OnBalance(e, cfg), nil
	case AttemptSucceeded:
		return s.succeeded(e, cfg)
	case AttemptFailed:
		return s.failed(e, cfg)
	case RetryDue:
		return s.retryDue(e)
	case PaymentMethodUpdated:
		return s.methodUpdated(e, cfg)
	case SettingsUpdated:
		return s.settingsUpdated(e, cfg)
	case Tick:
		return s.tick(e, cfg), nil
	case ManualPurchase:
		return s.purchase(e, cfg)
	}
	if ev == nil {
		return Output{}, fmt.Errorf("%w: nil event", ErrInvalid)
	}
	// The event's type is not named: passing ev to fmt would make every event escape.
	return Output{}, fmt.Errorf("%w: unknown event type", ErrInvalid)
}

// OnBalance is Apply for BalanceChanged, without the interface: it sits on the settle
// path and allocates nothing when there is nothing to do.
func (s *State) OnBalance(ev BalanceChanged, cfg *Config) Output {
	var out Output
	if !ev.At.Before(s.MonthEnds) {
		s.roll(ev.At)
	}
	prev := s.Balance
	s.Balance, s.Available = ev.Balance, ev.Available
	if prev > 0 && ev.Balance <= 0 {
		e := s.note(&out, notify.BalanceZero, ev.At, cfg, strconv.FormatInt(ev.Seq, 10))
		e.Balance = ev.Balance
	}
	if low := s.Settings.LowBalance; low > 0 && prev >= low && ev.Balance < low && (!s.Settings.Enabled || s.Suspended) {
		e := s.note(&out, notify.BalanceLow, ev.At, cfg, strconv.FormatInt(ev.Seq, 10))
		e.Balance, e.Threshold = ev.Balance, low
	}
	if s.wants() {
		s.evaluate(ev.At, cfg, &out)
	}
	return out
}

// wants is the cheap part of the trigger rule.
func (s *State) wants() bool {
	return s.Settings.Enabled && !s.Suspended && s.InFlight == nil && s.Available < s.Settings.Trigger
}

// maxInstantCredits bounds the invoiced recharges one event can produce.
const maxInstantCredits = 10

// evaluate applies the trigger rule: fire when enabled, not suspended, nothing in flight,
// available strictly below the trigger and the month's recharges plus this one within the
// cap. A card starts an attempt; an agreement credits at once and may repeat.
func (s *State) evaluate(at time.Time, cfg *Config, out *Output) {
	for range maxInstantCredits {
		if !s.wants() {
			return
		}
		st := &s.Settings
		if st.MonthlyCap > 0 && s.RechargedThisMonth+st.Amount > st.MonthlyCap {
			if s.CapNotified != s.Month {
				s.CapNotified = s.Month
				e := s.note(out, notify.RechargeCapReached, at, cfg, s.Month)
				e.Threshold, e.Balance = st.MonthlyCap, s.Balance
			}
			return
		}
		m, err := ParseMethod(st.PaymentMethod)
		if err != nil { // settings are validated; a stored bad row must not fire
			return
		}
		if m.Kind == MethodCard {
			s.start(PurposeRecharge, st.Amount, st.PaymentMethod, at, out)
			return
		}
		s.LastAttemptSeq++
		id := attemptID(PurposeRecharge, s.Tenant, s.LastAttemptSeq)
		s.credit(out, id, PurposeRecharge, st.Amount, id, st.PaymentMethod, m)
		s.RechargedThisMonth += st.Amount
		e := s.note(out, notify.RechargeSucceeded, at, cfg, id)
		e.Amount, e.Balance, e.PaymentID = st.Amount, s.Balance, id
	}
}

func attemptID(p Purpose, tenant string, seq int64) string {
	return string(p) + ":" + tenant + ":" + strconv.FormatInt(seq, 10)
}

func chargeKey(id string, try int) string { return id + ":" + strconv.Itoa(try) }

func (s *State) start(p Purpose, amt money.Amount, method string, at time.Time, out *Output) {
	s.LastAttemptSeq++
	a := &Attempt{
		ID: attemptID(p, s.Tenant, s.LastAttemptSeq), Seq: s.LastAttemptSeq, Purpose: p,
		Amount: amt, PaymentMethod: method, Try: 1, Phase: PhaseCharging, StartedAt: at,
	}
	a.Key = chargeKey(a.ID, a.Try)
	s.InFlight = a
	out.Actions = append(out.Actions, StartAttempt{AttemptID: a.ID, Key: a.Key, Purpose: p, Amount: amt, PaymentMethod: method, Customer: s.Customer})
}

func (s *State) credit(out *Output, id string, p Purpose, amt money.Amount, ref, method string, m Method) {
	out.Actions = append(out.Actions, Credit{
		AttemptID: id, Source: string(p), Amount: amt, Ref: ref, PaymentMethod: method,
		Invoiced: m.Kind == MethodAgreement, Agreement: m.Agreement, PurchaseOrder: m.PurchaseOrder,
	})
	s.Balance += amt
	s.Available += amt
}

// note appends a notification keyed by notify.Key(t, tenant, parts...) and returns it
// for the caller to fill in.
func (s *State) note(out *Output, t notify.Type, at time.Time, cfg *Config, parts ...string) *notify.Event {
	out.Events = append(out.Events, notify.Event{
		ID: notify.Key(t, s.Tenant, parts...), Type: t, TenantID: s.Tenant, At: at, Currency: cfg.Currency,
	})
	return &out.Events[len(out.Events)-1]
}

func (s *State) card() *notify.Card {
	if s.CardExpiry.IsZero() && s.CardLast4 == "" {
		return nil
	}
	return &notify.Card{Brand: s.CardBrand, Last4: s.CardLast4, ExpMonth: s.CardExpiry.Month, ExpYear: s.CardExpiry.Year}
}

// roll moves to at's calendar month (UTC); a new month starts with no recharges counted.
func (s *State) roll(at time.Time) {
	at = at.UTC()
	y, m, _ := at.Date()
	month := fmt.Sprintf("%04d-%02d", y, int(m))
	if month != s.Month { // roll is only called at or after MonthEnds: always forward
		s.Month, s.RechargedThisMonth = month, 0
	}
	s.MonthEnds = time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
}

// current finds the attempt a key belongs to. ok is false for a key of an attempt that is
// no longer in flight (a duplicate or late report: ignore it); err is set for a key this
// tenant never issued.
func (s *State) current(key string) (a *Attempt, ok bool, err error) {
	if a := s.InFlight; a != nil && a.Key == key {
		return a, true, nil
	}
	if !s.issued(key) {
		return nil, false, fmt.Errorf("%w: %q", ErrUnknownAttempt, key)
	}
	return nil, false, nil
}

// issued reports whether key is "<purpose>:<tenant>:<seq>:<try>" with seq issued.
func (s *State) issued(key string) bool {
	i := strings.LastIndexByte(key, ':')
	if i < 0 {
		return false
	}
	if try, err := strconv.Atoi(key[i+1:]); err != nil || try < 1 {
		return false
	}
	j := strings.LastIndexByte(key[:i], ':')
	if j < 0 {
		return false
	}
	seq, err := strconv.ParseInt(key[j+1:i], 10, 64)
	if err != nil || seq < 1 || seq > s.LastAttemptSeq {
		return false
	}
	head := key[:j]
	return head == string(PurposeRecharge)+":"+s.Tenant || head == string(PurposePurchase)+":"+s.Tenant
}

func (s *State) succeeded(ev AttemptSucceeded, cfg *Config) (Output, error) {
	var out Output
	s.maybeRoll(ev.At)
	a, ok, err := s.current(ev.Key)
	if !ok {
		return out, err
	}
	s.InFlight = nil
	m, _ := ParseMethod(a.PaymentMethod)
	ref := ev.PaymentID
	if ref == "" {
		ref = a.Key
	}
	s.credit(&out, a.ID, a.Purpose, a.Amount, ref, a.PaymentMethod, m)
	if a.Purpose == PurposeRecharge {
		s.ConsecutiveFailures = 0
		s.RechargedThisMonth += a.Amount
		e := s.note(&out, notify.RechargeSucceeded, ev.At, cfg, a.ID)
		e.Amount, e.Balance, e.PaymentID, e.Card = a.Amount, s.Balance, ev.PaymentID, s.cardFor(a.PaymentMethod)
	} else {
		e := s.note(&out, notify.PurchaseSucceeded, ev.At, cfg, a.ID)
		e.Amount, e.Balance, e.PaymentID = a.Amount, s.Balance, ev.PaymentID
	}
	s.evaluate(ev.At, cfg, &out)
	return out, nil
}

func (s *State) cardFor(method string) *notify.Card {
	if method != s.Settings.PaymentMethod {
		return nil
	}
	return s.card()
}

func (s *State) maybeRoll(at time.Time) {
	if !at.Before(s.MonthEnds) {
		s.roll(at)
	}
}

// stale reports whether a recharge attempt no longer matches the settings (disabled, or
// another method or amount): it is not retried and, when waiting, cancelled.
func (s *State) stale(a *Attempt) bool {
	return a.Purpose == PurposeRecharge &&
		(!s.Settings.Enabled || a.PaymentMethod != s.Settings.PaymentMethod || a.Amount != s.Settings.Amount)
}

func (s *State) failed(ev AttemptFailed, cfg *Config) (Output, error) {
	var out Output
	s.maybeRoll(ev.At)
	a, ok, err := s.current(ev.Key)
	if !ok {
		return out, err
	}
	if a.Phase != PhaseCharging { // the same failure reported twice
		return out, nil
	}
	kind := ev.Kind
	switch kind {
	case payment.KindHardDecline, payment.KindSoftDecline, payment.KindRejected, payment.KindUnknownOutcome:
	default:
		kind = payment.KindUnknownOutcome // unclassified: the money may have moved
	}
	reason := ev.Reason
	if reason == "" {
		switch kind {
		case payment.KindRejected:
			reason = "the payment could not be processed"
		default:
			_, reason = payment.Classify(ev.Code)
		}
	}

	if kind == payment.KindUnknownOutcome {
		a.Unknowns++
		a.Phase = PhaseUnknown
		out.Actions = append(out.Actions, ScheduleRetry{AttemptID: a.ID, Key: a.Key, Unknown: true,
			At: ev.At.Add(cfg.unknownBackoff().Delay(a.Unknowns, a.Key))})
		if a.Unknowns == cfg.alertAfterUnknown() {
			out.Actions = append(out.Actions, Alert{AttemptID: a.ID, Key: a.Key, Code: ev.Code,
				Message: fmt.Sprintf("outcome of charge %s still unknown after %d tries; retrying with the same key", a.Key, a.Unknowns)})
		}
		return out, nil
	}

	a.Declines++
	a.Unknowns = 0
	if kind == payment.KindRejected {
		out.Actions = append(out.Actions, Alert{AttemptID: a.ID, Key: a.Key, Code: ev.Code,
			Message: fmt.Sprintf("provider rejected charge %s: %s", a.Key, reason)})
	}
	end := func() {
		s.InFlight = nil
		out.Actions = append(out.Actions, Failed{AttemptID: a.ID, Purpose: a.Purpose, Kind: kind, Code: ev.Code, Reason: reason})
	}

	if a.Purpose == PurposePurchase { // the buyer decides whether to try again
		end()
		s.evaluate(ev.At, cfg, &out)
		return out, nil
	}

	if a.Declines == 1 {
		e := s.note(&out, notify.RechargeFailed, ev.At, cfg, a.ID)
		e.Amount, e.Balance, e.Reason, e.Card = a.Amount, s.Balance, reason, s.cardFor(a.PaymentMethod)
	}
	if s.stale(a) { // settings changed under the attempt: not retried, nothing suspended
		end()
		s.evaluate(ev.At, cfg, &out)
		return out, nil
	}
	s.ConsecutiveFailures++
	if kind == payment.KindSoftDecline && s.ConsecutiveFailures < cfg.maxFailures() {
		a.Try++
		a.Key = chargeKey(a.ID, a.Try)
		a.Phase = PhaseRetryWait
		out.Actions = append(out.Actions, ScheduleRetry{AttemptID: a.ID, Key: a.Key,
			At: ev.At.Add(cfg.softBackoff().Delay(s.ConsecutiveFailures, a.Key))})
		return out, nil
	}
	end()
	if kind == payment.KindSoftDecline {
		reason = fmt.Sprintf("%s (%d attempts in a row)", reason, s.ConsecutiveFailures)
	}
	s.suspend(reason, ev.At, cfg, &out)
	return out, nil
}

func (s *State) suspend(reason string, at time.Time, cfg *Config, out *Output) {
	s.Suspended, s.SuspendedReason = true, reason
	s.Settings.Version++
	e := s.note(out, notify.AutoRechargeSuspended, at, cfg, strconv.FormatInt(s.Settings.Version, 10))
	e.Reason, e.Balance, e.Card = reason, s.Balance, s.card()
}

func (s *State) retryDue(ev RetryDue) (Output, error) {
	var out Output
	s.maybeRoll(ev.At)
	a, ok, err := s.current(ev.Key)
	if !ok || a.Phase == PhaseCharging { // cancelled, finished, or already retried
		return out, err
	}
	a.Phase = PhaseCharging
	out.Actions = append(out.Actions, StartAttempt{AttemptID: a.ID, Key: a.Key, Purpose: a.Purpose, Amount: a.Amount, PaymentMethod: a.PaymentMethod, Customer: s.Customer, Round: a.Unknowns})
	return out, nil
}

// cancelWaiting drops a recharge that waits for a retry after a decline and no longer
// matches the settings. An attempt whose charge may be under way is never dropped.
func (s *State) cancelWaiting(out *Output) {
	if a := s.InFlight; a != nil && a.Phase == PhaseRetryWait && s.stale(a) {
		s.InFlight = nil
		out.Actions = append(out.Actions, Failed{AttemptID: a.ID, Purpose: a.Purpose, Kind: payment.KindSoftDecline, Reason: "cancelled: settings changed"})
	}
}

func (s *State) methodUpdated(ev PaymentMethodUpdated, cfg *Config) (Output, error) {
	var out Output
	m, err := ParseMethod(ev.Method)
	if err != nil {
		return out, invalid("Method", "%v", err)
	}
	if m.Kind == MethodCard && ev.Expiry.Month != 0 && (ev.Expiry.Month < 1 || ev.Expiry.Month > 12 || ev.Expiry.Year < 2000 || ev.Expiry.Year > 9999) {
		return out, invalid("Expiry", "%d/%d is not a month and a four-digit year", ev.Expiry.Month, ev.Expiry.Year)
	}
	s.maybeRoll(ev.At)
	s.setMethod(ev.Method, m, ev.Expiry, ev.Brand, ev.Last4)
	if ev.Customer != "" {
		s.Customer = ev.Customer
	}
	s.Settings.Version++
	s.cancelWaiting(&out)
	s.checkCard(ev.At, cfg, &out)
	s.evaluate(ev.At, cfg, &out)
	return out, nil
}

// setMethod records a (new or confirmed) payment method: the suspension is lifted and
// the failures forgotten.
func (s *State) setMethod(method string, m Method, exp CardExpiry, brand, last4 string) {
	s.Settings.PaymentMethod = method
	if m.Kind == MethodCard {
		s.CardExpiry, s.CardBrand, s.CardLast4 = exp, brand, last4
	} else {
		s.CardExpiry, s.CardBrand, s.CardLast4 = CardExpiry{}, "", ""
	}
	s.Suspended, s.SuspendedReason = false, ""
	s.ConsecutiveFailures = 0
}

func (s *State) settingsUpdated(ev SettingsUpdated, cfg *Config) (Output, error) {
	var out Output
	if ev.IfVersion != s.Settings.Version {
		return out, &ConflictError{Current: s.Settings.Version, IfVersion: ev.IfVersion}
	}
	n := ev.Settings
	if err := n.Validate(cfg); err != nil {
		return out, err
	}
	s.maybeRoll(ev.At)
	old := s.Settings
	n.Version = old.Version + 1
	s.Settings = n
	if n.PaymentMethod != old.PaymentMethod && n.PaymentMethod != "" {
		m, _ := ParseMethod(n.PaymentMethod)
		s.setMethod(n.PaymentMethod, m, CardExpiry{}, "", "")
	}
	s.cancelWaiting(&out)
	s.evaluate(ev.At, cfg, &out)
	return out, nil
}

func (s *State) tick(ev Tick, cfg *Config) Output {
	var out Output
	s.maybeRoll(ev.At)
	s.checkCard(ev.At, cfg, &out)
	s.evaluate(ev.At, cfg, &out)
	return out
}

// checkCard warns once per card and expiry, from the first day of its last valid month.
func (s *State) checkCard(at time.Time, cfg *Config, out *Output) {
	pm := s.Settings.PaymentMethod
	if s.CardExpiry.IsZero() || !strings.HasPrefix(pm, "pm_") || at.Before(s.CardExpiry.WarnAt()) {
		return
	}
	exp := s.CardExpiry.String()
	if w := pm + "@" + exp; s.WarnedCardExpiry != w {
		s.WarnedCardExpiry = w
		e := s.note(out, notify.CardExpiring, at, cfg, pm, exp)
		e.Card, e.ExpiresAt, e.Balance = s.card(), s.CardExpiry.ExpiresAt(), s.Balance
	}
}

func (s *State) purchase(ev ManualPurchase, cfg *Config) (Output, error) {
	var out Output
	if minimum := cfg.MinPurchaseAmount(); ev.Amount < minimum || ev.Amount > money.MaxAmount {
		return out, invalid("Amount", "%s: a purchase is between %s and %s %s", ev.Amount.Format(cfg.Currency), minimum.Format(cfg.Currency), money.MaxAmount.Format(cfg.Currency), cfg.Currency)
	}
	method := ev.Method
	if method == "" {
		method = s.Settings.PaymentMethod
	}
	m, err := ParseMethod(method)
	if err != nil {
		return out, invalid("Method", "%v", err)
	}
	if s.InFlight != nil {
		return out, fmt.Errorf("%w: %s", ErrBusy, s.InFlight.ID)
	}
	s.maybeRoll(ev.At)
	if m.Kind == MethodCard {
		s.start(PurposePurchase, ev.Amount, method, ev.At, &out)
		return out, nil
	}
	s.LastAttemptSeq++
	id := attemptID(PurposePurchase, s.Tenant, s.LastAttemptSeq)
	s.credit(&out, id, PurposePurchase, ev.Amount, id, method, m)
	e := s.note(&out, notify.PurchaseSucceeded, ev.At, cfg, id)
	e.Amount, e.Balance, e.PaymentID = ev.Amount, s.Balance, id
	s.evaluate(ev.At, cfg, &out)
	return out, nil
}
