// Package ledger is the pure core of a tenant's Communications Credits balance: funding lots
// that expire, debt, reservations and the immutable entries every movement leaves. It does
// no I/O and never reads the clock; the caller passes the time of each command, so the same
// commands at the same times always give the same state (replay, simulation, property tests).
package ledger

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/commcredits/commcredits/internal/money"
)

// Typed errors. A command that returns one of them changed nothing but the time-driven
// effects already due (see Apply).
var (
	ErrInvalidAmount        = errors.New("invalid amount")
	ErrInsufficientFunds    = errors.New("insufficient available balance")
	ErrUnknownReservation   = errors.New("unknown reservation")
	ErrDuplicateReservation = errors.New("reservation already exists")
	ErrInvalidCommand       = errors.New("invalid command")
)

// EntryKind names a ledger movement.
type EntryKind string

// The four movements of domain §2; their signed sums reconcile the balance.
const (
	EntryFunding    EntryKind = "funding"    // a purchase or recharge: +amount
	EntryCharge     EntryKind = "charge"     // a call or CDR: −amount
	EntryForfeiture EntryKind = "forfeiture" // a lot's remainder at expiry: −amount
	EntryAdjustment EntryKind = "adjustment" // manual, with a reason: ±amount
)

// Lot is one funding with its expiry. Remaining never goes below zero; a charge beyond the
// live lots becomes tenant debt instead.
type Lot struct {
	ID          int64        `json:"id"`
	Source      string       `json:"source"`
	Ref         string       `json:"ref,omitempty"`
	Amount      money.Amount `json:"amount"`
	Remaining   money.Amount `json:"remaining"`
	PurchasedAt time.Time    `json:"purchased_at"`
	ExpiresAt   time.Time    `json:"expires_at"`
	Forfeited   money.Amount `json:"forfeited,omitempty"`
}

// LotView is a lot as readers outside the engine see it (the API, reports, scenario
// output): amounts as decimal strings of the tenant's currency, times in UTC.
type LotView struct {
	ID          int64     `json:"id"`
	Source      string    `json:"source"`
	Ref         string    `json:"ref,omitempty"`
	Amount      string    `json:"amount"`
	Remaining   string    `json:"remaining"`
	Forfeited   string    `json:"forfeited"`
	PurchasedAt time.Time `json:"purchased_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// View formats l in cur.
func (l Lot) View(cur money.Currency) LotView {
	return LotView{ID: l.ID, Source: l.Source, Ref: l.Ref, Amount: l.Amount.Format(cur), Remaining: l.Remaining.Format(cur),
		Forfeited: l.Forfeited.Format(cur), PurchasedAt: l.PurchasedAt.UTC(), ExpiresAt: l.ExpiresAt.UTC()}
}

// Reservation holds part of the available balance for a call in progress. It names no lot:
// it only lowers what other calls may be granted.
type Reservation struct {
	ID        string       `json:"id"`
	Amount    money.Amount `json:"amount"`
	CreatedAt time.Time    `json:"created_at"`
	ExpiresAt time.Time    `json:"expires_at"`
}

// Entry is an immutable movement of the balance.
type Entry struct {
	Seq    int64        `json:"seq"`
	Kind   EntryKind    `json:"kind"`
	Amount money.Amount `json:"amount"` // signed effect on the balance
	Before money.Amount `json:"before"`
	After  money.Amount `json:"after"`
	At     time.Time    `json:"at"`
	LotID  int64        `json:"lot_id,omitempty"`
	Ref    string       `json:"ref,omitempty"`
	Reason string       `json:"reason,omitempty"`
}

// Totals are the running sums of each kind of entry, kept so the invariant is checked in
// constant time.
type Totals struct {
	Funded    money.Amount `json:"funded"`
	Charged   money.Amount `json:"charged"`
	Forfeited money.Amount `json:"forfeited"`
	Adjusted  money.Amount `json:"adjusted"`
}

// Config holds the operator's ledger settings.
type Config struct {
	ExpiryMonths int // lifetime of a lot in calendar months; 12 when zero
}

func (c Config) expiryMonths() int {
	if c.ExpiryMonths <= 0 {
		return 12
	}
	return c.ExpiryMonths
}

// Account is the ledger state of one tenant.
type Account struct {
	Tenant       string                  `json:"tenant"`
	Currency     money.Currency          `json:"currency"`
	Balance      money.Amount            `json:"balance"`
	Debt         money.Amount            `json:"debt"`
	Reserved     money.Amount            `json:"reserved"`
	Totals       Totals                  `json:"totals"`
	Lots         []Lot                   `json:"lots"` // lots with money left, in consumption order
	Reservations map[string]*Reservation `json:"reservations"`
	NextSeq      int64                   `json:"next_seq"`    // seq of the next entry
	NextLotID    int64                   `json:"next_lot_id"` // id of the next lot
	// nextResExpiry is a lower bound of the earliest reservation expiry, so that the sweep
	// does not scan every reservation on every command.
	nextResExpiry time.Time
}

// NewAccount opens an empty account for tenant in currency c.
func NewAccount(tenant string, c money.Currency) *Account {
	return &Account{Tenant: tenant, Currency: c, Reservations: map[string]*Reservation{}, NextSeq: 1, NextLotID: 1}
}

// Available is the balance less open reservations: what a new call may be granted.
func (a *Account) Available() money.Amount { return a.Balance - a.Reserved }

// Command is one money-changing request. The concrete types below are the whole set.
type Command interface{ Name() string }

// Fund credits a paid purchase as a new lot; outstanding debt is repaid from it first.
type Fund struct {
	Amount money.Amount `json:"amount"`
	Source string       `json:"source"` // "purchase", "recharge", ...
	Ref    string       `json:"ref,omitempty"`
}

// Reserve holds up to Amount of the available balance for a call until now+TTL. With
// Partial the grant is capped at what is available; without it the whole amount must be.
type Reserve struct {
	ID      string        `json:"id"`
	Amount  money.Amount  `json:"amount"`
	TTL     time.Duration `json:"ttl"`
	Partial bool          `json:"partial,omitempty"`
}

// Extend adds up to Amount to a reservation (capped at what is available) and renews its TTL.
type Extend struct {
	ID     string        `json:"id"`
	Amount money.Amount  `json:"amount"`
	TTL    time.Duration `json:"ttl"`
}

// Settle closes a reservation with the call's final charge, which may exceed what was held.
type Settle struct {
	ID     string       `json:"id"`
	Amount money.Amount `json:"amount"`
}

// Release closes a reservation without a charge (the call failed).
type Release struct {
	ID string `json:"id"`
}

// Charge debits without a reservation (a CDR from a switch that never asked first). It may
// take the balance below zero.
type Charge struct {
	Amount money.Amount `json:"amount"`
	Ref    string       `json:"ref,omitempty"`
}

// Adjust is a manual correction with a reason: positive adds a lot, negative debits.
type Adjust struct {
	Amount money.Amount `json:"amount"`
	Reason string       `json:"reason"`
}

// Tick applies only the effects due by now: lot forfeitures and reservation expiries.
type Tick struct{}

func (Fund) Name() string    { return "fund" }
func (Reserve) Name() string { return "reserve" }
func (Extend) Name() string  { return "extend" }
func (Settle) Name() string  { return "settle" }
func (Release) Name() string { return "release" }
func (Charge) Name() string  { return "charge" }
func (Adjust) Name() string  { return "adjust" }
func (Tick) Name() string    { return "tick" }

// Result is what one command did. Lots and Reservation are snapshots after the command,
// Closed lists reservations that ended (settled, released or expired), so storage writes
// only what changed.
type Result struct {
	Granted     money.Amount `json:"granted,omitempty"` // Reserve and Extend
	Charged     money.Amount `json:"charged,omitempty"` // Settle and Charge
	LotID       int64        `json:"lot_id,omitempty"`  // Fund and positive Adjust
	Balance     money.Amount `json:"balance"`
	Available   money.Amount `json:"available"`
	Entries     []Entry      `json:"entries,omitempty"`
	Lots        []Lot        `json:"-"`
	Reservation *Reservation `json:"-"`
	Closed      []string     `json:"-"`
	Expired     []string     `json:"expired,omitempty"` // reservations that reached their TTL
}

// Apply runs cmd against a at time now. Effects due by now (lots past expiry forfeited,
// reservations past TTL released) are applied first and kept even when the command itself
// is refused: they would have happened anyway, and a debit must never draw from an expired
// lot. A refused command returns a typed error and changes nothing else.
func Apply(a *Account, cmd Command, now time.Time, cfg Config) (Result, error) {
	now = now.UTC()
	var r Result
	a.sweep(now, &r)
	var err error
	switch c := cmd.(type) {
	case Fund:
		err = a.fund(c.Amount, c.Source, c.Ref, EntryFunding, "", now, cfg, &r)
	case Reserve:
		err = a.reserve(c, now, &r)
	case Extend:
		err = a.extend(c, now, &r)
	case Settle:
		err = a.settle(c, now, &r)
	case Release:
		err = a.release(c.ID, &r)
	case Charge:
		if c.Amount <= 0 || c.Amount > money.MaxAmount {
			err = fmt.Errorf("%w: charge must be positive, got %d", ErrInvalidAmount, c.Amount)
		} else {
			a.debit(c.Amount, EntryCharge, c.Ref, "", now, &r)
		}
	case Adjust:
		err = a.adjust(c, now, cfg, &r)
	case Tick:
	case nil:
		err = fmt.Errorf("%w: nil command", ErrInvalidCommand)
	default:
		err = fmt.Errorf("%w: %T", ErrInvalidCommand, cmd)
	}
	r.Balance, r.Available = a.Balance, a.Available()
	return r, err
}

func (a *Account) sweep(now time.Time, r *Result) {
	for i := 0; i < len(a.Lots); {
		l := &a.Lots[i]
		if now.Before(l.ExpiresAt) {
			i++
			continue
		}
		amt := l.Remaining
		l.Forfeited += amt
		l.Remaining = 0
		a.Totals.Forfeited += amt
		a.book(EntryForfeiture, -amt, l.ExpiresAt, l.ID, l.Ref, "expired", r)
		r.Lots = append(r.Lots, *l)
		a.Lots = slices.Delete(a.Lots, i, i+1)
	}
	if len(a.Reservations) == 0 || now.Before(a.nextResExpiry) {
		return
	}
	var next time.Time
	var expired []string
	for id, res := range a.Reservations {
		if !now.Before(res.ExpiresAt) {
			expired = append(expired, id)
		} else if next.IsZero() || res.ExpiresAt.Before(next) {
			next = res.ExpiresAt
		}
	}
	sort.Strings(expired)
	for _, id := range expired {
		a.Reserved -= a.Reservations[id].Amount
		delete(a.Reservations, id)
	}
	r.Expired = append(r.Expired, expired...)
	r.Closed = append(r.Closed, expired...)
	a.nextResExpiry = next
}

// book appends an entry moving the balance by amt.
func (a *Account) book(kind EntryKind, amt money.Amount, at time.Time, lot int64, ref, reason string, r *Result) {
	before := a.Balance
	a.Balance += amt
	r.Entries = append(r.Entries, Entry{Seq: a.NextSeq, Kind: kind, Amount: amt, Before: before, After: a.Balance,
		At: at, LotID: lot, Ref: ref, Reason: reason})
	a.NextSeq++
}

func (a *Account) fund(amt money.Amount, source, ref string, kind EntryKind, reason string, now time.Time, cfg Config, r *Result) error {
	if amt <= 0 || amt > money.MaxAmount {
		return fmt.Errorf("%w: funding must be positive and at most %d, got %d", ErrInvalidAmount, money.MaxAmount, amt)
	}
	repay := min(a.Debt, amt)
	a.Debt -= repay
	l := Lot{ID: a.NextLotID, Source: source, Ref: ref, Amount: amt, Remaining: amt - repay,
		PurchasedAt: now, ExpiresAt: AddMonths(now, cfg.expiryMonths())}
	a.NextLotID++
	if kind == EntryFunding {
		a.Totals.Funded += amt
	} else {
		a.Totals.Adjusted += amt
	}
	a.book(kind, amt, now, l.ID, ref, reason, r)
	r.LotID = l.ID
	r.Lots = append(r.Lots, l)
	if l.Remaining > 0 {
		// Consumption order is soonest expiry first, then oldest; a later purchase can only
		// expire earlier if the operator shortened the expiry period.
		i := sort.Search(len(a.Lots), func(i int) bool { return a.Lots[i].ExpiresAt.After(l.ExpiresAt) })
		a.Lots = slices.Insert(a.Lots, i, l)
	}
	return nil
}

// debit takes amt from the live lots, oldest first, and books the rest as debt.
func (a *Account) debit(amt money.Amount, kind EntryKind, ref, reason string, now time.Time, r *Result) {
	left := amt
	n := 0
	for i := range a.Lots {
		if left == 0 {
			break
		}
		l := &a.Lots[i]
		take := min(l.Remaining, left)
		l.Remaining -= take
		left -= take
		r.Lots = append(r.Lots, *l)
		if l.Remaining == 0 {
			n++
		}
	}
	a.Lots = a.Lots[n:] // drained lots are all at the front
	a.Debt += left
	if kind == EntryCharge {
		a.Totals.Charged += amt
	} else {
		a.Totals.Adjusted -= amt
	}
	a.book(kind, -amt, now, 0, ref, reason, r)
	r.Charged = amt
}

func (a *Account) reserve(c Reserve, now time.Time, r *Result) error {
	if c.ID == "" {
		return fmt.Errorf("%w: reservation id is empty", ErrInvalidCommand)
	}
	if c.Amount <= 0 || c.Amount > money.MaxAmount {
		return fmt.Errorf("%w: reservation must be positive, got %d", ErrInvalidAmount, c.Amount)
	}
	if c.TTL <= 0 {
		return fmt.Errorf("%w: reservation TTL must be positive", ErrInvalidCommand)
	}
	if _, ok := a.Reservations[c.ID]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateReservation, c.ID)
	}
	avail := a.Available()
	grant := c.Amount
	if grant > avail {
		if !c.Partial || avail <= 0 {
			return fmt.Errorf("%w: requested %d, available %d", ErrInsufficientFunds, c.Amount, avail)
		}
		grant = avail
	}
	res := &Reservation{ID: c.ID, Amount: grant, CreatedAt: now, ExpiresAt: now.Add(c.TTL)}
	a.Reservations[c.ID] = res
	a.Reserved += grant
	if a.nextResExpiry.IsZero() || res.ExpiresAt.Before(a.nextResExpiry) {
		a.nextResExpiry = res.ExpiresAt
	}
	r.Granted = grant
	r.Reservation = snapshot(res)
	return nil
}

func snapshot(res *Reservation) *Reservation {
	cp := *res
	return &cp
}

func (a *Account) extend(c Extend, now time.Time, r *Result) error {
	res, ok := a.Reservations[c.ID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownReservation, c.ID)
	}
	if c.Amount < 0 || c.Amount > money.MaxAmount {
		return fmt.Errorf("%w: extension must not be negative, got %d", ErrInvalidAmount, c.Amount)
	}
	if c.TTL <= 0 {
		return fmt.Errorf("%w: reservation TTL must be positive", ErrInvalidCommand)
	}
	grant := max(0, min(c.Amount, a.Available()))
	res.Amount += grant
	a.Reserved += grant
	res.ExpiresAt = now.Add(c.TTL)
	r.Granted = grant
	r.Reservation = snapshot(res)
	return nil
}

func (a *Account) settle(c Settle, now time.Time, r *Result) error {
	res, ok := a.Reservations[c.ID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownReservation, c.ID)
	}
	if c.Amount < 0 || c.Amount > money.MaxAmount {
		return fmt.Errorf("%w: settlement must not be negative, got %d", ErrInvalidAmount, c.Amount)
	}
	a.Reserved -= res.Amount
	delete(a.Reservations, c.ID)
	r.Closed = append(r.Closed, c.ID)
	if c.Amount > 0 {
		a.debit(c.Amount, EntryCharge, c.ID, "", now, r)
	}
	return nil
}

func (a *Account) release(id string, r *Result) error {
	res, ok := a.Reservations[id]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownReservation, id)
	}
	a.Reserved -= res.Amount
	delete(a.Reservations, id)
	r.Closed = append(r.Closed, id)
	return nil
}

func (a *Account) adjust(c Adjust, now time.Time, cfg Config, r *Result) error {
	if c.Reason == "" {
		return fmt.Errorf("%w: an adjustment needs a reason", ErrInvalidCommand)
	}
	switch {
	case c.Amount > 0:
		return a.fund(c.Amount, "adjustment", "", EntryAdjustment, c.Reason, now, cfg, r)
	case c.Amount < 0 && c.Amount >= -money.MaxAmount:
		a.debit(-c.Amount, EntryAdjustment, "", c.Reason, now, r)
		return nil
	}
	return fmt.Errorf("%w: adjustment must be non-zero and within range, got %d", ErrInvalidAmount, c.Amount)
}

// Check verifies the invariants of domain §2 on a: the balance reconciles with the sums of
// entries and with the live lots less debt, reservations add up, and lots are well formed.
func Check(a *Account) error {
	t := a.Totals
	if want := t.Funded - t.Charged - t.Forfeited + t.Adjusted; a.Balance != want {
		return fmt.Errorf("balance %d ≠ funded %d − charged %d − forfeited %d + adjusted %d", a.Balance, t.Funded, t.Charged, t.Forfeited, t.Adjusted)
	}
	var live money.Amount
	for i, l := range a.Lots {
		if l.Remaining <= 0 || l.Remaining > l.Amount {
			return fmt.Errorf("lot %d remaining %d outside (0, %d]", l.ID, l.Remaining, l.Amount)
		}
		if i > 0 && a.Lots[i-1].ExpiresAt.After(l.ExpiresAt) {
			return fmt.Errorf("lot %d out of consumption order", l.ID)
		}
		live += l.Remaining
	}
	if a.Debt < 0 {
		return fmt.Errorf("negative debt %d", a.Debt)
	}
	if a.Debt > 0 && live > 0 {
		return fmt.Errorf("debt %d outstanding while lots hold %d", a.Debt, live)
	}
	if a.Balance != live-a.Debt {
		return fmt.Errorf("balance %d ≠ live lots %d − debt %d", a.Balance, live, a.Debt)
	}
	var held money.Amount
	for id, res := range a.Reservations {
		if res.Amount < 0 || res.ID != id {
			return fmt.Errorf("reservation %q malformed", id)
		}
		held += res.Amount
	}
	if held != a.Reserved {
		return fmt.Errorf("reserved %d ≠ Σ reservations %d", a.Reserved, held)
	}
	return nil
}
