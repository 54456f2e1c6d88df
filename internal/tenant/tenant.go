// Package tenant is the whole per-tenant state the writer serializes: the ledger account,
// the directory (users, licences, numbers), minute pool usage, monthly spend and the calls in
// progress. Apply is pure, like the packages it combines: state + command + time in, new
// state + effects out. Because one tenant's commands are applied one at a time, an admitted
// call holds its pool seconds and its amount in the same step, and concurrent calls can never
// be granted more than the tenant can pay.
package tenant

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/payment"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/recharge"
)

// Errors of call commands; ledger and directory errors pass through unchanged.
var (
	ErrUnknownCall   = errors.New("unknown call")
	ErrCallExists    = errors.New("call already authorized")
	ErrInvalidCall   = errors.New("invalid call")
	ErrUnknownTenant = errors.New("unknown tenant")
)

// Env is the operator's configuration that every tenant's commands read.
type Env struct {
	Catalog        *plans.Catalog
	Cards          charging.Cards
	Ledger         ledger.Config
	Pools          plans.SizeOptions
	MaxCallSeconds int64         // 0: charging.DefaultMaxCallSeconds
	CallTTL        time.Duration // a call not extended or settled within it is released; 0: 2 minutes
	// Recharge is the operator's funding policy (minimum purchase, retries); its Currency is
	// set per tenant.
	Recharge recharge.Config
}

func (e *Env) callTTL() time.Duration {
	if e.CallTTL <= 0 {
		return 2 * time.Minute
	}
	return e.CallTTL
}

// PoolRef names one pool of one month.
type PoolRef struct {
	Month plans.Month
	Key   plans.PoolKey
}

// PoolUse is what a pool has paid (Used) and holds for calls in progress (Held), in seconds.
type PoolUse struct {
	Used int64 `json:"used"`
	Held int64 `json:"held"`
}

// SpendRef names one user's credit spend in one month.
type SpendRef struct {
	Month plans.Month
	User  string
}

// Call is a call in progress: its authorization and what it holds.
type Call struct {
	Key       string                 `json:"key"` // call id + "/" + leg; also the ledger reservation id
	Auth      charging.Authorization `json:"auth"`
	Granted   int64                  `json:"granted"`   // seconds granted so far
	PoolHeld  int64                  `json:"pool_held"` // seconds held on Auth.Pool
	Reserved  money.Amount           `json:"reserved"`  // amount held in the ledger under Key
	ExpiresAt time.Time              `json:"expires_at"`
}

// Refusal is a call that was not admitted, kept for the scenario output and review.
type Refusal struct {
	CallID string          `json:"call_id"`
	Leg    string          `json:"leg,omitempty"`
	User   string          `json:"user,omitempty"`
	Type   payer.CallType  `json:"call_type"`
	Callee string          `json:"callee,omitempty"`
	Reason charging.Reason `json:"reason"`
	At     time.Time       `json:"at"`
}

// State is one tenant.
type State struct {
	Account *ledger.Account
	Dir     *directory.Directory
	Usage   map[PoolRef]*PoolUse
	Spend   map[SpendRef]money.Amount
	Calls   map[string]*Call
	Blocks  map[string]charging.BlockState
	// Recharge is the auto-recharge and funding state: settings, the attempt in flight.
	Recharge *recharge.State

	pools map[plans.Month]*plans.Pools // sized from Dir, with Usage applied; rebuilt on change
	// Derived from Calls, so that no command scans every call in progress: what each user's
	// calls hold (counted against the spend limit), and a lower bound of the earliest expiry.
	held       map[string]money.Amount
	nextExpiry time.Time
}

// New returns the state of a tenant with nothing yet.
func New(id string, cur money.Currency) *State {
	s := &State{Account: ledger.NewAccount(id, cur), Dir: directory.New(id)}
	s.init()
	return s
}

func (s *State) init() {
	if s.Usage == nil {
		s.Usage = map[PoolRef]*PoolUse{}
	}
	if s.Spend == nil {
		s.Spend = map[SpendRef]money.Amount{}
	}
	if s.Calls == nil {
		s.Calls = map[string]*Call{}
	}
	if s.Blocks == nil {
		s.Blocks = map[string]charging.BlockState{}
	}
	if s.Recharge == nil {
		s.Recharge = recharge.New(s.Account.Tenant)
		s.Recharge.Balance, s.Recharge.Available = s.Account.Balance, s.Account.Available()
	}
	s.held = map[string]money.Amount{}
	for _, c := range s.Calls {
		s.held[c.Auth.User] += c.Reserved
		s.expiresAt(c.ExpiresAt)
	}
}

// expiresAt lowers the bound of the earliest call expiry to t.
func (s *State) expiresAt(t time.Time) {
	if s.nextExpiry.IsZero() || t.Before(s.nextExpiry) {
		s.nextExpiry = t
	}
}

// hold adds amt to what the call holds in the ledger, keeping the user's total in step.
func (s *State) hold(c *Call, amt money.Amount) {
	c.Reserved += amt
	s.heldChange(c.Auth.User, amt)
}

func (s *State) heldChange(user string, amt money.Amount) {
	if s.held[user] += amt; s.held[user] == 0 {
		delete(s.held, user)
	}
}

// Restore assembles a state read from storage.
func Restore(a *ledger.Account, d *directory.Directory, usage map[PoolRef]*PoolUse, spend map[SpendRef]money.Amount,
	calls []*Call, blocks map[string]charging.BlockState) *State {
	s := &State{Account: a, Dir: d, Usage: usage, Spend: spend, Blocks: blocks, Calls: map[string]*Call{}}
	for _, c := range calls {
		s.Calls[c.Key] = c
	}
	s.init()
	return s
}

// CreditsSetUp reports whether the tenant has ever funded its balance.
func (s *State) CreditsSetUp() bool { return s.Account.Totals.Funded > 0 }

// Command is anything Apply takes: a ledger or directory command, or a call command below.
type Command interface{ Name() string }

// Authorize admits or refuses a call and, when admitted, holds what it may spend.
type Authorize struct {
	CallID    string         `json:"call_id"`
	Leg       string         `json:"leg,omitempty"`
	Type      payer.CallType `json:"call_type"`
	Principal string         `json:"principal"` // user, resource account or organizer id
	Caller    string         `json:"caller,omitempty"`
	Callee    string         `json:"callee,omitempty"`
	Service   string         `json:"service_number,omitempty"`
	// Start is when the call starts; zero means the command's time.
	Start          time.Time `json:"start,omitzero"`
	InitialSeconds int64     `json:"initial_seconds,omitempty"`
}

// Extend asks for Seconds more for a call in progress and renews its TTL.
type Extend struct {
	CallID  string `json:"call_id"`
	Leg     string `json:"leg,omitempty"`
	Seconds int64  `json:"seconds"`
}

// Settle ends a call with its connected seconds.
type Settle struct {
	CallID  string    `json:"call_id"`
	Leg     string    `json:"leg,omitempty"`
	Seconds int64     `json:"seconds"`
	End     time.Time `json:"end,omitzero"`
}

// Release ends a call that did not connect, charging nothing.
type Release struct {
	CallID string `json:"call_id"`
	Leg    string `json:"leg,omitempty"`
}

// PostCDR books a call detail record from a switch that never asked for authorization.
type PostCDR struct {
	CDR charging.CDR `json:"cdr"`
}

// SetAutoRecharge replaces the auto-recharge settings; IfVersion must be the current
// settings version (optimistic concurrency).
type SetAutoRecharge struct {
	Settings  recharge.Settings `json:"settings"`
	IfVersion int64             `json:"if_version"`
}

// SetPaymentMethod puts a payment method on file: a card ("pm_…", with its expiry) or an
// enterprise agreement ("ea:<agreement>[:<po>]"). It lifts a suspension.
type SetPaymentMethod struct {
	Method   string `json:"method"`
	ExpMonth int    `json:"exp_month,omitempty"`
	ExpYear  int    `json:"exp_year,omitempty"`
	Brand    string `json:"brand,omitempty"`
	Last4    string `json:"last4,omitempty"`
	// Customer is the payment provider's customer the card is attached to ("cus_…");
	// empty keeps the one on file.
	Customer string `json:"customer,omitempty"`
}

// AddFunds buys Amount with Method (the method on file when empty). An enterprise
// agreement is invoiced and credited at once; a card purchase is credited when paid.
type AddFunds struct {
	Amount money.Amount `json:"amount"`
	Method string       `json:"method,omitempty"`
}

// PaymentReport is the final outcome of the card charge with idempotency key Key, as the
// payment job saw it: Succeeded with the provider's PaymentID, or failed with Kind
// (payment.KindOf of the error), Code and Reason. A report for a key that is no longer in
// flight is a no-op (late or duplicate); a key the tenant never issued is refused with
// recharge.ErrUnknownAttempt.
type PaymentReport struct {
	Key       string       `json:"key"`
	Succeeded bool         `json:"succeeded,omitempty"`
	PaymentID string       `json:"payment_id,omitempty"`
	Kind      payment.Kind `json:"kind,omitempty"`
	Code      string       `json:"code,omitempty"`
	Reason    string       `json:"reason,omitempty"`
}

// RetryDue says that the time of a scheduled retry of the charge with Key has come; the
// policy then starts the charge again (a new start_attempt in the outbox).
type RetryDue struct {
	Key string `json:"key"`
}

func (PaymentReport) Name() string { return "payment_report" }
func (RetryDue) Name() string      { return "retry_due" }

// IdempotencyKey: one report per charge key; a job that reports twice (a crash after the
// report) replays the first result. An unknown outcome has no key: the same charge key may
// end unknown again after its retry, and that second report must reach the policy (which
// ignores a repeat itself: the attempt is no longer charging) instead of replaying the
// first, which would leave the attempt in flight for good.
func (c PaymentReport) IdempotencyKey() string {
	if !c.Succeeded && c.Kind == payment.KindUnknownOutcome {
		return ""
	}
	return "report:" + c.Key
}

// StateKeyed: the recharge policy itself ignores a RetryDue for a key that is not waiting
// (already retried, finished, cancelled), and the same key may legitimately be retried more
// than once after successive unknown outcomes, so no command record is kept.
func (RetryDue) StateKeyed() {}

func (SetAutoRecharge) Name() string  { return "set_auto_recharge" }
func (SetPaymentMethod) Name() string { return "set_payment_method" }
func (AddFunds) Name() string         { return "add_funds" }

func (Authorize) Name() string { return "authorize" }
func (Extend) Name() string    { return "extend_call" }
func (Settle) Name() string    { return "settle_call" }
func (Release) Name() string   { return "release_call" }
func (PostCDR) Name() string   { return "post_cdr" }

// IdempotencyKey makes every command that ends a call share one key per call: a call is
// settled, released or booked from its CDR once, whichever comes first; a second of any of
// them is a replay (the same command) or refused (another one), never a second charge.
func (c Settle) IdempotencyKey() string  { return callIdemKey(c.CallID, c.Leg) }
func (c Release) IdempotencyKey() string { return callIdemKey(c.CallID, c.Leg) }
func (c PostCDR) IdempotencyKey() string { return callIdemKey(c.CDR.CallID, c.CDR.Leg) }

// callKeyPrefix opens the idempotency key of every command that ends a call.
const callKeyPrefix = "call:"

// callIdemKey is callKeyPrefix + CallKey(callID, leg) in one concatenation: one allocation
// per call ended, where the two concatenations made two.
func callIdemKey(callID, leg string) string { return callKeyPrefix + callID + "/" + leg }

// StateKeyed marks a command the state itself deduplicates: an authorization's key is its
// call, and the open call row (written in the transaction of the hold) is its record. A
// second Authorize of a call in progress returns the first authorization.
func (Authorize) StateKeyed() {}

// CallKey is how a call is known in the state and in the ledger.
func CallKey(callID, leg string) string { return callID + "/" + leg }

// CallOfKey returns the call id and leg of an idempotency key "call:<call id>/<leg>" in which
// neither holds a "/". Only such a key names one call: "call:a/b/c" is the key of both call
// a/b leg c and call a leg b/c. Storage keeps the record of a call ended with a usage row in
// that row when its key names one call.
func CallOfKey(key string) (callID, leg string, ok bool) {
	k, ok := strings.CutPrefix(key, callKeyPrefix)
	if !ok {
		return "", "", false
	}
	callID, leg, ok = strings.Cut(k, "/")
	if !ok || strings.Contains(leg, "/") {
		return "", "", false
	}
	return callID, leg, true
}

// Result is what a command answers. Only the part for the command's kind is set.
type Result struct {
	Ledger        *ledger.Result          `json:"ledger,omitempty"`
	Authorization *charging.Authorization `json:"authorization,omitempty"`
	Extension     *charging.Extension     `json:"extension,omitempty"`
	Settlement    *charging.Settlement    `json:"settlement,omitempty"`
	Priced        *charging.Priced        `json:"priced,omitempty"`
	Balance       money.Amount            `json:"balance"`
	Available     money.Amount            `json:"available"`
	// Replayed: the command had been applied before; this is its first result.
	Replayed bool `json:"replayed,omitempty"`
}

// Record is what the command's idempotency record keeps of r: the figures a replay
// answers with, without the parts that are stored elsewhere anyway (ledger entries, the
// usage row, the full priced authorization).
func (r Result) Record() Result {
	if r.Ledger != nil {
		l := *r.Ledger
		l.Entries, l.Lots, l.Reservation, l.Closed = nil, nil, nil, nil
		r.Ledger = &l
	}
	if r.Settlement != nil {
		st := *r.Settlement
		st.Usage = charging.UsageRow{}
		r.Settlement = &st
	}
	if r.Priced != nil {
		p := charging.Priced{FreeCall: r.Priced.FreeCall, Review: r.Priced.Review, Settlement: r.Priced.Settlement}
		p.CDR = charging.CDR{Tenant: r.Priced.CDR.Tenant, CallID: r.Priced.CDR.CallID, Leg: r.Priced.CDR.Leg}
		p.Settlement.Usage = charging.UsageRow{}
		r.Priced = &p
	}
	return r
}

// Effects are what storage must write for one command.
type Effects struct {
	// Recharge: the recharge state changed; Outbox: what must leave the engine after the
	// commit (payment attempts, retries, notifications), in order.
	Recharge bool
	Outbox   []OutboxItem
	// Receipts are the funding transactions' receipts and invoices, one per credit.
	Receipts []Receipt
	Entries  []ledger.Entry
	Lots     []ledger.Lot // snapshots, later ones win
	// Reservations are the ids of reservations opened, changed or closed: storage writes
	// each as the account now has it, or deletes it.
	Reservations []string
	Dir          directory.Changes
	Pools        []PoolRef
	Spend        []SpendRef
	Calls        []string // keys of calls opened, changed or closed
	Usage        []charging.UsageRow
	Blocks       []charging.BlockEvent
	Refusals     []Refusal
}

// OutboxItem is one side effect to run after the commit: a payment action of the recharge
// policy, or a notification. Key deduplicates it.
type OutboxItem struct {
	Key    string          `json:"key"`
	Kind   string          `json:"kind"` // "start_attempt", "schedule_retry", "failed", "alert", "notify"
	Action recharge.Action `json:"action,omitempty"`
	Event  *notify.Event   `json:"event,omitempty"`
}

func (e *Effects) ledger(r ledger.Result) {
	e.Entries = append(e.Entries, r.Entries...)
	e.Lots = append(e.Lots, r.Lots...)
	e.Reservations = append(e.Reservations, r.Closed...)
	if r.Reservation != nil {
		e.Reservations = append(e.Reservations, r.Reservation.ID)
	}
}

// Apply runs cmd against s at time now. Effects due by now (expired lots, calls past their
// TTL) are applied first and reported even when the command is refused. A refused command
// returns a typed error and changes nothing else. A refused call is not an error: the
// authorization says why, and the refusal is recorded.
func Apply(s *State, cmd Command, now time.Time, env *Env) (Result, Effects, error) {
	now = now.UTC()
	var eff Effects
	s.sweep(now, env, &eff)
	var res Result
	var err error
	switch c := cmd.(type) {
	case ledger.Fund, ledger.Reserve, ledger.Extend, ledger.Settle, ledger.Release, ledger.Charge, ledger.Adjust, ledger.Tick:
		var r ledger.Result
		r, err = ledger.Apply(s.Account, c, now, env.Ledger)
		eff.ledger(r)
		res.Ledger = &r
	case Authorize:
		err = s.authorize(c, now, env, &res, &eff)
	case Extend:
		err = s.extend(c, now, env, &res, &eff)
	case Settle:
		err = s.settle(c, now, env, &res, &eff)
	case Release:
		err = s.release(c, now, env, &eff)
	case PostCDR:
		err = s.postCDR(c.CDR, now, env, &res, &eff)
	case SetAutoRecharge:
		err = s.funding(recharge.SettingsUpdated{Settings: c.Settings, IfVersion: c.IfVersion, At: now}, now, env, &eff)
	case SetPaymentMethod:
		err = s.funding(recharge.PaymentMethodUpdated{Method: c.Method, Expiry: recharge.CardExpiry{Month: c.ExpMonth, Year: c.ExpYear},
			Brand: c.Brand, Last4: c.Last4, Customer: c.Customer, At: now}, now, env, &eff)
	case AddFunds:
		err = s.funding(recharge.ManualPurchase{Amount: c.Amount, Method: c.Method, At: now}, now, env, &eff)
	case PaymentReport:
		if c.Succeeded {
			err = s.funding(recharge.AttemptSucceeded{Key: c.Key, PaymentID: c.PaymentID, At: now}, now, env, &eff)
		} else {
			err = s.funding(recharge.AttemptFailed{Key: c.Key, Kind: c.Kind, Code: c.Code, Reason: c.Reason, At: now}, now, env, &eff)
		}
	case RetryDue:
		err = s.funding(recharge.RetryDue{Key: c.Key, At: now}, now, env, &eff)
	case nil:
		err = fmt.Errorf("%w: nil command", ledger.ErrInvalidCommand)
	default:
		// Anything else is the directory's; it refuses what it does not know.
		var ch directory.Changes
		ch, err = directory.Apply(s.Dir, cmd, directory.Env{Catalog: env.Catalog, CreditsSetUp: s.CreditsSetUp()})
		if err == nil {
			eff.Dir = ch
			s.pools = nil // licences or usage locations may have changed pool sizes
		}
	}
	if len(eff.Entries) > 0 || len(eff.Reservations) > 0 {
		// After any change of the balance or of what is available: auto-recharge and the
		// balance notifications. It runs for refused commands too (their expiries count).
		s.balanceChanged(now, env, &eff)
	}
	s.notices(now, env, &eff)
	res.Balance, res.Available = s.Account.Balance, s.Account.Available()
	return res, eff, err
}

func (s *State) rechargeConfig(env *Env) *recharge.Config {
	cfg := env.Recharge
	cfg.Currency = s.Account.Currency
	return &cfg
}

// funding applies a funding event of the recharge policy.
func (s *State) funding(ev recharge.Event, now time.Time, env *Env, eff *Effects) error {
	out, err := s.Recharge.Apply(ev, s.rechargeConfig(env))
	if err != nil {
		return err
	}
	eff.Recharge = true
	return s.follow(out, now, env, eff)
}

// balanceChanged tells the recharge policy about the balance now.
func (s *State) balanceChanged(now time.Time, env *Env, eff *Effects) {
	a := s.Account
	out := s.Recharge.OnBalance(recharge.BalanceChanged{Balance: a.Balance, Available: a.Available(), Seq: a.NextSeq - 1, At: now},
		s.rechargeConfig(env))
	if len(out.Actions)+len(out.Events) > 0 {
		eff.Recharge = true
		// The policy bounds every amount to what the ledger accepts, so no Credit it makes
		// can be refused: there is no error to act on.
		_ = s.follow(out, now, env, eff)
	}
}

// follow carries out the policy's output: credits are booked now, everything else leaves
// through the outbox after the commit.
func (s *State) follow(out recharge.Output, now time.Time, env *Env, eff *Effects) error {
	for _, act := range out.Actions {
		switch a := act.(type) {
		case recharge.Credit:
			r, err := ledger.Apply(s.Account, ledger.Fund{Amount: a.Amount, Source: a.Source, Ref: a.Ref}, now, env.Ledger)
			eff.ledger(r)
			if err != nil {
				return fmt.Errorf("credit %s: %w", a.AttemptID, err)
			}
			s.receipt(a, r.LotID, now, eff)
		case recharge.StartAttempt:
			eff.Outbox = append(eff.Outbox, OutboxItem{Key: "pay:" + a.Key + s.unknowns(a.Key), Kind: "start_attempt", Action: a})
		case recharge.ScheduleRetry:
			eff.Outbox = append(eff.Outbox, OutboxItem{Key: "retry:" + a.Key + s.unknowns(a.Key), Kind: "schedule_retry", Action: a})
		case recharge.Failed:
			eff.Outbox = append(eff.Outbox, OutboxItem{Key: "failed:" + a.AttemptID, Kind: "failed", Action: a})
		case recharge.Alert:
			eff.Outbox = append(eff.Outbox, OutboxItem{Key: "alert:" + a.Key + ":" + a.Code, Kind: "alert", Action: a})
		}
	}
	for i := range out.Events {
		ev := out.Events[i]
		eff.Outbox = append(eff.Outbox, OutboxItem{Key: "notify:" + ev.ID, Kind: "notify", Event: &ev})
	}
	return nil
}

// unknowns tells apart the outbox keys of the same charge key retried after unknown
// outcomes ("#u<n>" after the n-th): those retries use the same key, and the outbox would
// otherwise drop them as duplicates of the first attempt.
func (s *State) unknowns(key string) string {
	if a := s.Recharge.InFlight; a != nil && a.Key == key && a.Unknowns > 0 {
		return fmt.Sprintf("#u%d", a.Unknowns)
	}
	return ""
}

// sweep releases calls past their TTL (their pool holds, then their reservations, which the
// ledger's own sweep expires at the same instant).
func (s *State) sweep(now time.Time, env *Env, eff *Effects) {
	if len(s.Calls) == 0 || now.Before(s.nextExpiry) {
		return
	}
	var expired []string
	s.nextExpiry = time.Time{}
	for k, c := range s.Calls {
		if !now.Before(c.ExpiresAt) {
			expired = append(expired, k)
		} else {
			s.expiresAt(c.ExpiresAt)
		}
	}
	if len(expired) == 0 {
		return
	}
	sort.Strings(expired)
	for _, k := range expired {
		s.closeCall(s.Calls[k], eff)
	}
	r, _ := ledger.Apply(s.Account, ledger.Tick{}, now, env.Ledger)
	eff.ledger(r)
}

// closeCall forgets a call and gives back its pool hold; its reservation is the caller's.
func (s *State) closeCall(c *Call, eff *Effects) {
	if c.PoolHeld > 0 {
		ref := PoolRef{plans.MonthOf(c.Auth.Start), c.Auth.Pool}
		s.usage(ref).Held -= c.PoolHeld
		s.touchPool(ref, eff)
	}
	s.heldChange(c.Auth.User, -c.Reserved) // c.Reserved stays: the caller settles or releases it
	delete(s.Calls, c.Key)
	eff.Calls = append(eff.Calls, c.Key)
}

func (s *State) usage(ref PoolRef) *PoolUse {
	u := s.Usage[ref]
	if u == nil {
		u = &PoolUse{}
		s.Usage[ref] = u
	}
	return u
}

// touchPool records a usage change and keeps the sized pools in step.
func (s *State) touchPool(ref PoolRef, eff *Effects) {
	eff.Pools = append(eff.Pools, ref)
	if p := s.pools[ref.Month]; p != nil {
		u := s.Usage[ref]
		cur, _ := p.Get(ref.Key)
		cur.UsedSeconds = u.Used + u.Held
		p.Set(ref.Key, cur)
	}
}

// poolsFor returns the month's pools sized from the directory, with what is used and held
// counted as used.
func (s *State) poolsFor(m plans.Month, env *Env) *plans.Pools {
	if p := s.pools[m]; p != nil {
		return p
	}
	opt := env.Pools
	if opt.DialOutBasis == plans.Purchased {
		opt = s.Dir.SizeOptions(opt.DialOutBasis)
	}
	p := plans.Size(env.Catalog, m, s.Dir.Principals(), opt)
	for ref, u := range s.Usage {
		if ref.Month == m {
			cur, _ := p.Get(ref.Key)
			cur.UsedSeconds = u.Used + u.Held
			p.Set(ref.Key, cur)
		}
	}
	if s.pools == nil {
		s.pools = map[plans.Month]*plans.Pools{}
	}
	s.pools[m] = p
	return p
}

// Pools returns the month's pools as a decision sees them: sized from the directory, with
// what is used and held counted as used. The result is s's: do not modify it.
func (s *State) Pools(m plans.Month, env *Env) *plans.Pools { return s.poolsFor(m, env) }

// context builds what a charging decision reads for principal u in month m.
func (s *State) context(u *directory.User, m plans.Month, env *Env) charging.Context {
	ctx := charging.Context{Catalog: env.Catalog, CreditsSetUp: s.CreditsSetUp(), Available: s.Account.Available(),
		Pools: s.poolsFor(m, env), Cards: env.Cards, MaxCallSeconds: env.MaxCallSeconds}
	if u != nil {
		ctx.Policy = policyOf(u)
		ctx.Policy.Spent = s.Spend[SpendRef{m, u.ID}] + s.heldBy(u.ID)
	}
	return ctx
}

// heldBy is what the user's calls in progress hold: it counts against the spend limit.
func (s *State) heldBy(user string) money.Amount { return s.held[user] }

func policyOf(u *directory.User) charging.Policy {
	p := charging.Policy{SpendLimit: u.SpendLimit}
	switch u.ConfDialOut {
	case directory.DialOutSameCountry:
		p.Conference = charging.ConferenceSameCountry
	case directory.DialOutZoneA:
		p.Conference = charging.ConferenceZoneA
	case directory.DialOutNone:
		p.Conference = charging.ConferenceNone
	}
	switch u.PSTNPolicy {
	case directory.PSTNDomestic:
		p.PSTN = charging.PSTNDomestic
	case directory.PSTNNone:
		p.PSTN = charging.PSTNNone
	}
	return p
}

func (s *State) authorize(c Authorize, now time.Time, env *Env, res *Result, eff *Effects) error {
	if c.CallID == "" {
		return fmt.Errorf("%w: call_id is empty", ErrInvalidCall)
	}
	key := CallKey(c.CallID, c.Leg)
	if cl, ok := s.Calls[key]; ok {
		if cl.Auth.User != c.Principal || cl.Auth.Type != c.Type {
			return fmt.Errorf("%w: %q", ErrCallExists, key)
		}
		a := cl.Auth
		res.Authorization, res.Replayed = &a, true
		return nil
	}
	start := c.Start
	if start.IsZero() {
		start = now
	}
	u := s.Dir.Users[c.Principal]
	call := charging.Call{Tenant: s.Account.Tenant, Currency: s.Account.Currency, ID: c.CallID, Leg: c.Leg,
		Type: c.Type, Caller: c.Caller, Callee: c.Callee, Service: c.Service, Start: start.UTC(),
		InitialSeconds: c.InitialSeconds}
	if u != nil {
		call.Principal = u.Principal()
		call.TollFreeDisabled = u.TollFreeDialInDisabled
	}
	m := plans.MonthOf(call.Start)
	ctx := s.context(u, m, env)
	a := charging.Authorize(&ctx, &call)
	if u == nil && a.Allowed && !a.Emergency && a.Outcome != payer.Free {
		a.Allowed, a.Reason = false, ReasonUnknownPrincipal
	}
	res.Authorization = &a
	// The reservation comes first: if the ledger refused it, nothing else may have changed.
	if a.Allowed && a.Reserve > 0 {
		r, err := ledger.Apply(s.Account, ledger.Reserve{ID: key, Amount: a.Reserve, TTL: env.callTTL()}, now, env.Ledger)
		eff.ledger(r)
		if err != nil {
			return fmt.Errorf("reserve for %q: %w", key, err) // the decision saw the same balance
		}
	}
	if u != nil {
		if st, ev, ok := s.Blocks[u.ID].Observe(&a, now); ok {
			s.Blocks[u.ID] = st
			eff.Blocks = append(eff.Blocks, ev)
		}
	}
	if !a.Allowed {
		eff.Refusals = append(eff.Refusals, Refusal{CallID: c.CallID, Leg: c.Leg, User: c.Principal, Type: c.Type,
			Callee: c.Callee, Reason: a.Reason, At: now})
		return nil
	}
	cl := &Call{Key: key, Auth: a, Granted: a.GrantedSeconds, ExpiresAt: now.Add(env.callTTL())}
	s.hold(cl, a.Reserve)
	if a.PoolHold > 0 {
		ref := PoolRef{m, a.Pool}
		s.usage(ref).Held += a.PoolHold
		cl.PoolHeld = a.PoolHold
		s.touchPool(ref, eff)
	}
	s.Calls[key] = cl
	s.expiresAt(cl.ExpiresAt)
	eff.Calls = append(eff.Calls, key)
	return nil
}

// ReasonUnknownPrincipal refuses a call whose principal the directory does not know.
const ReasonUnknownPrincipal charging.Reason = "unknown_principal"

func (s *State) call(callID, leg string) (*Call, error) {
	c, ok := s.Calls[CallKey(callID, leg)]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownCall, CallKey(callID, leg))
	}
	return c, nil
}

func (s *State) extend(c Extend, now time.Time, env *Env, res *Result, eff *Effects) error {
	cl, err := s.call(c.CallID, c.Leg)
	if err != nil {
		return err
	}
	if c.Seconds < 0 {
		return fmt.Errorf("%w: seconds must not be negative", ErrInvalidCall)
	}
	m := plans.MonthOf(cl.Auth.Start)
	// The pools count every hold as used, this call's too, so what they have left is what
	// they can add; likewise the spend limit counts this call's reservation, and Extend
	// compares only what it adds on top.
	ctx := s.context(s.Dir.Users[cl.Auth.User], m, env)
	ref := PoolRef{m, cl.Auth.Pool}
	e := charging.Extend(&ctx, &cl.Auth, charging.ExtendState{GrantedSeconds: cl.Granted, PoolHeld: cl.PoolHeld, Reserved: cl.Reserved}, c.Seconds)
	res.Extension = &e
	if cl.Reserved > 0 || e.AddReserve > 0 {
		var r ledger.Result
		if cl.Reserved > 0 {
			r, err = ledger.Apply(s.Account, ledger.Extend{ID: cl.Key, Amount: e.AddReserve, TTL: env.callTTL()}, now, env.Ledger)
		} else {
			r, err = ledger.Apply(s.Account, ledger.Reserve{ID: cl.Key, Amount: e.AddReserve, TTL: env.callTTL()}, now, env.Ledger)
		}
		eff.ledger(r)
		if err != nil {
			return fmt.Errorf("extend %q: %w", cl.Key, err)
		}
		s.hold(cl, r.Granted)
	}
	cl.ExpiresAt = now.Add(env.callTTL()) // later than before: the lower bound still holds
	eff.Calls = append(eff.Calls, cl.Key)
	if !e.Allowed {
		return nil
	}
	cl.Granted = e.GrantedSeconds
	if e.AddPool > 0 {
		s.usage(ref).Held += e.AddPool
		cl.PoolHeld += e.AddPool
		s.touchPool(ref, eff)
	}
	return nil
}

func (s *State) settle(c Settle, now time.Time, env *Env, res *Result, eff *Effects) error {
	cl, err := s.call(c.CallID, c.Leg)
	if err != nil {
		return err
	}
	if c.Seconds < 0 {
		return fmt.Errorf("%w: seconds must not be negative", ErrInvalidCall)
	}
	st, err := s.finish(cl, c.Seconds, c.End, now, env, eff)
	if err != nil {
		return err
	}
	res.Settlement = &st
	return nil
}

// finish settles an open call: pool seconds drawn exactly, credits charged, the rest of the
// reservation released, the usage row written.
func (s *State) finish(cl *Call, seconds int64, end, now time.Time, env *Env, eff *Effects) (charging.Settlement, error) {
	m := plans.MonthOf(cl.Auth.Start)
	ref := PoolRef{m, cl.Auth.Pool}
	poolAvail := int64(0)
	if cl.Auth.Outcome == payer.Pool {
		poolAvail = s.poolsFor(m, env).Available(ref.Key) + cl.PoolHeld
	}
	st := charging.Settle(&cl.Auth, charging.SettleInput{Seconds: seconds, PoolAvailable: poolAvail, Reserved: cl.Reserved, End: end})
	if err := s.book(cl.Key, cl.Reserved > 0, ref, &cl.Auth, &st, now, env, eff); err != nil {
		return st, err
	}
	s.closeCall(cl, eff)
	return st, nil
}

// book applies a settlement: the charge on the ledger first (settling the call's
// reservation when it has one), then pool seconds used, the user's spend, the usage row. A
// ledger refusal returns before anything else changed.
func (s *State) book(key string, reserved bool, ref PoolRef, a *charging.Authorization, st *charging.Settlement, now time.Time, env *Env, eff *Effects) error {
	var r ledger.Result
	var err error
	if reserved {
		r, err = ledger.Apply(s.Account, ledger.Settle{ID: key, Amount: st.Charge}, now, env.Ledger)
	}
	if (!reserved || errors.Is(err, ledger.ErrUnknownReservation)) && st.Charge > 0 {
		r, err = ledger.Apply(s.Account, ledger.Charge{Amount: st.Charge, Ref: key}, now, env.Ledger)
	} else if errors.Is(err, ledger.ErrUnknownReservation) {
		err = nil // nothing to charge and nothing held any more
	}
	eff.ledger(r)
	if err != nil {
		return fmt.Errorf("book %q: %w", key, err)
	}
	if st.PoolSeconds > 0 {
		u := s.usage(ref)
		before := u.Used
		u.Used += st.PoolSeconds
		s.touchPool(ref, eff)
		s.poolUsed(ref, before, now, env, eff)
	}
	if st.Charge > 0 && a.User != "" {
		sr := SpendRef{plans.MonthOf(a.Start), a.User}
		s.Spend[sr] += st.Charge
		eff.Spend = append(eff.Spend, sr)
	}
	if st.Usage.DurationSeconds > 0 {
		u := st.Usage
		if usr := s.Dir.Users[a.User]; usr != nil {
			u.UPN, u.DisplayName = usr.UPN, usr.DisplayName
		}
		eff.Usage = append(eff.Usage, u)
	}
	return nil
}

func (s *State) release(c Release, now time.Time, env *Env, eff *Effects) error {
	cl, err := s.call(c.CallID, c.Leg)
	if err != nil {
		return err
	}
	s.closeCall(cl, eff)
	if cl.Reserved > 0 {
		r, _ := ledger.Apply(s.Account, ledger.Release{ID: cl.Key}, now, env.Ledger)
		eff.ledger(r)
	}
	return nil
}

// postCDR books a CDR. A CDR of a call in progress settles it; any other is priced as the
// call would have been at its start, and may take the balance below zero.
func (s *State) postCDR(c charging.CDR, now time.Time, env *Env, res *Result, eff *Effects) error {
	if c.CallID == "" {
		return fmt.Errorf("%w: call_id is empty", ErrInvalidCall)
	}
	if cl, ok := s.Calls[CallKey(c.CallID, c.Leg)]; ok {
		st, err := s.finish(cl, c.Duration, c.End, now, env, eff)
		if err != nil {
			return err
		}
		res.Settlement = &st
		return nil
	}
	u := s.Dir.Users[c.Principal]
	var p plans.Principal
	if u != nil {
		p = u.Principal()
	}
	m := plans.MonthOf(c.Start)
	ctx := s.context(u, m, env)
	pr := charging.PriceCDR(&ctx, &c, p, s.Account.Currency)
	if err := s.book(CallKey(c.CallID, c.Leg), false, PoolRef{m, pr.Authorization.Pool}, &pr.Authorization, &pr.Settlement, now, env, eff); err != nil {
		return err
	}
	res.Priced = &pr
	return nil
}

func monthOf(c *Call) plans.Month { return plans.MonthOf(c.Auth.Start) }
