// Package charging is the pure decision layer of call charging (domain §3–§5, issue 4):
// whether a call is admitted, what pays for it, how long it may last and how much to
// reserve (Authorize); how much more to hold while it lasts (Extend); what the finished call
// costs and the usage row it leaves (Settle); when a refusal blocks a user (BlockState); and
// the CDRs of switches that never ask first (ParseCSV, DecodeJSON, PriceCDR).
//
// Nothing here does I/O or reads the clock: times are passed in, inputs and outputs are plain
// values, and the same inputs always give the same answer. Persistence, the ledger's
// Reserve/Extend/Settle commands and the serialisation per tenant belong to the caller.
package charging

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/numbers"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
)

// Reason is why a call is refused: payer's reason codes plus the admission reasons below.
type Reason = payer.Reason

// Admission reason codes (domain §5), in addition to payer's.
const (
	ReasonInsufficientBalance Reason = "insufficient_balance" // available balance ≤ 0, or it does not buy the first increment
	ReasonCreditsNotSetUp     Reason = "credits_not_set_up"   // the tenant has not set up Communications Credits
	ReasonSpendLimitReached   Reason = "spend_limit_reached"  // the user's monthly spend limit is used up
	ReasonDialOutPolicy       Reason = "dial_out_policy"      // the user's dial-out policy forbids this destination
	ReasonPoolExhausted       Reason = "pool_exhausted"       // the pool is used up and credits cannot pay; see RetryAfter
	ReasonInvalidNumber       Reason = "invalid_number"       // the number the call is priced on does not parse
	ReasonMaxCallLength       Reason = "max_call_length"      // Extend: the call is at the maximum call length
	ReasonNoRateCard          Reason = "no_rate_card"         // no card for the service in the tenant's currency (capability FREECALL)
)

// DefaultMaxCallSeconds caps a call when Context.MaxCallSeconds is 0 (Decision: 4 hours).
const DefaultMaxCallSeconds = 4 * 3600

// ConferencePolicy is a user's conference dial-out policy. The zero value allows any destination.
type ConferencePolicy uint8

// Conference dial-out policies.
const (
	ConferenceAny         ConferencePolicy = iota // any destination
	ConferenceSameCountry                         // only the organizer's country (US and PR as one)
	ConferenceZoneA                               // only Zone A countries
	ConferenceNone                                // no dial-out
)

// PSTNPolicy is a user's PSTN dial-out policy for user_* and ucap_out calls. The zero value
// allows international and domestic calls.
type PSTNPolicy uint8

// PSTN dial-out policies.
const (
	PSTNInternational PSTNPolicy = iota // international and domestic
	PSTNDomestic                        // domestic only
	PSTNNone                            // no outbound PSTN calls (emergency numbers still work)
)

// Policy is what limits one principal's calls besides licences.
type Policy struct {
	Conference ConferencePolicy
	PSTN       PSTNPolicy
	// SpendLimit is the principal's monthly credit spend limit; 0 means none. Spent is what
	// the principal's calls have charged to credits this month (settled charges plus open
	// reservations, as the caller chooses to count them).
	SpendLimit money.Amount
	Spent      money.Amount
}

// Cards gives the current rate card of a service in a currency; *rating.Registry is one.
type Cards interface {
	Current(s rating.Service, currency string) (*rating.Card, bool)
}

// Context is the tenant's state a decision reads. The caller reads it under the tenant's
// serialisation so that concurrent calls see each other's reservations.
type Context struct {
	Catalog *plans.Catalog
	// CreditsSetUp: the tenant has set up Communications Credits.
	CreditsSetUp bool
	// Available is the ledger's available balance (balance − open reservations).
	Available money.Amount
	// Pools are the tenant's pools for the call's month, with the seconds held by calls in
	// progress already subtracted (drawn) by the caller; nil when the tenant has none.
	Pools *plans.Pools
	Cards Cards
	// MaxCallSeconds caps every call; 0 means DefaultMaxCallSeconds.
	MaxCallSeconds int64
	// Policy is the principal's dial-out policy and spend limit.
	Policy Policy
}

func (ctx *Context) maxCall() int64 {
	if ctx.MaxCallSeconds > 0 {
		return min(ctx.MaxCallSeconds, rating.MaxCallSeconds)
	}
	return DefaultMaxCallSeconds
}

// poolLeft is what pool k can pay now.
func (ctx *Context) poolLeft(k plans.PoolKey) int64 {
	if ctx.Pools == nil {
		return 0
	}
	return ctx.Pools.Available(k)
}

// Call is one call to authorize.
type Call struct {
	Tenant   string
	Currency money.Currency // the tenant's currency; rate cards are chosen in it
	ID       string
	Leg      string
	Type     payer.CallType
	// Principal is the user (user_*), resource account (ucap_*) or organizer (conf_*).
	Principal        plans.Principal
	TollFreeDisabled bool // conf_in: the organizer turned toll-free dial-in off
	// Caller and Callee as received or dialed; DefaultCountry parses numbers without a
	// country code ("" means the principal's usage location).
	Caller, Callee string
	DefaultCountry string
	// Service is the tenant's number an inbound call (conf_in, ucap_in) reached; "" means
	// Callee. ServiceType overrides its kind; "" means toll-free when the number parses as a
	// toll-free number, toll otherwise (also when it does not parse).
	Service     string
	ServiceType payer.ServiceNumberType
	Start       time.Time
	// InitialSeconds asks for a smaller first grant than the maximum ("the first N minutes");
	// 0 grants the maximum.
	InitialSeconds int64
}

// Numbers are a call's parsed numbers. A number that did not parse is left zero with its
// Bad flag set; whether that refuses the call depends on which number prices it.
type Numbers struct {
	Caller, Callee, Service          numbers.Number
	BadCaller, BadCallee, BadService bool
}

// ParseNumbers parses the call's numbers (libphonenumber; it allocates).
func ParseNumbers(c *Call) Numbers {
	cc := c.DefaultCountry
	if cc == "" {
		cc = c.Principal.UsageLocation
	}
	var n Numbers
	var err error
	if n.Callee, err = numbers.Parse(c.Callee, cc); err != nil {
		n.Callee, n.BadCallee = numbers.Number{}, true
	}
	if n.Caller, err = numbers.Parse(c.Caller, cc); err != nil {
		n.Caller, n.BadCaller = numbers.Number{}, true
	}
	svc := c.Service
	if svc == "" && !outbound(c.Type) {
		svc = c.Callee // an inbound call's callee is the tenant's number
	}
	if svc != "" {
		if n.Service, err = numbers.Parse(svc, cc); err != nil {
			n.Service, n.BadService = numbers.Number{}, true
		}
	} else {
		n.BadService = true
	}
	return n
}

// Authorization is the answer to one call: allowed or refused, why, what pays, how long the
// call may last and what to hold for it. It is a plain value the caller persists.
type Authorization struct {
	Tenant   string         `json:"tenant"`
	CallID   string         `json:"call_id"`
	Leg      string         `json:"leg,omitempty"`
	Type     payer.CallType `json:"type"`
	User     string         `json:"user"`     // the principal's id
	Location string         `json:"location"` // the principal's usage location
	Start    time.Time      `json:"start"`
	Currency money.Currency `json:"currency"`

	Allowed bool   `json:"allowed"`
	Reason  Reason `json:"reason,omitempty"` // set when refused
	// CreditsReason says why credits could not extend a pool call (or, with pool_exhausted,
	// why they could not take over); "" when they could.
	CreditsReason Reason `json:"credits_reason,omitempty"`
	// RetryAfter is when a pool_exhausted refusal lifts: the first day of the next month (UTC).
	RetryAfter time.Time `json:"retry_after,omitzero"`

	Outcome payer.Outcome `json:"outcome"`       // free, pool (then credits if Credits), credits
	Pool    plans.PoolKey `json:"pool,omitzero"` // the pool that pays first when Outcome is pool
	// Credits: credits pay (part of) this call.
	Credits    bool   `json:"credits"`
	Capability string `json:"capability,omitempty"`
	Domestic   bool   `json:"domestic"`
	Emergency  bool   `json:"emergency"`

	Caller numbers.Number `json:"caller"` // as parsed ("" E164 when a number did not parse)
	Callee numbers.Number `json:"callee"`
	Remote numbers.Number `json:"remote"` // the number the call is priced on

	// Rated: Row and Ref are set (the call was priced on a card).
	Rated bool       `json:"rated"`
	Row   rating.Row `json:"row,omitzero"`
	Ref   rating.Ref `json:"ref,omitzero"`

	// MaxSeconds is the longest the call may last: pool seconds left plus what credits buy,
	// capped by the maximum call length and the spend limit. For free calls, the maximum
	// call length.
	MaxSeconds int64 `json:"max_seconds"`
	// PoolLeft is what the pool could pay at authorization; StartsOnCredits: the call starts
	// on credits (no pool seconds), so the connection fee is due.
	PoolLeft        int64 `json:"pool_left"`
	StartsOnCredits bool  `json:"starts_on_credits"`
	// GrantedSeconds is the first grant (MaxSeconds, or less when Call.InitialSeconds asks);
	// PoolHold the pool seconds to hold for it; Reserve the amount to reserve for the rest.
	GrantedSeconds int64        `json:"granted_seconds"`
	PoolHold       int64        `json:"pool_hold"`
	Reserve        money.Amount `json:"reserve"`
}

// MarshalJSON writes the outcome by name ("free", "pool", "credits", "refused").
func (a Authorization) MarshalJSON() ([]byte, error) {
	type plain Authorization
	return json.Marshal(struct {
		plain
		Outcome string `json:"outcome"`
	}{plain(a), a.Outcome.String()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (a *Authorization) UnmarshalJSON(data []byte) error {
	type plain Authorization
	var v struct {
		*plain
		Outcome string `json:"outcome"`
	}
	v.plain = (*plain)(a)
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	for o := payer.Refused; o <= payer.Credits; o++ {
		if o.String() == v.Outcome {
			a.Outcome = o
			return nil
		}
	}
	return fmt.Errorf("charging: unknown outcome %q", v.Outcome)
}

// outbound reports whether the call type dials out (the remote number is the callee).
func outbound(t payer.CallType) bool {
	switch t {
	case payer.UserOut, payer.UserOutTransfer, payer.UserOutForwarding, payer.UserOutConf, payer.UcapOut, payer.ConfOut:
		return true
	}
	return false
}

// Authorize parses the call's numbers and decides it; see AuthorizeParsed.
func Authorize(ctx *Context, c *Call) Authorization {
	n := ParseNumbers(c)
	return AuthorizeParsed(ctx, c, &n)
}

// AuthorizeParsed applies domain §4 and §5 to a call whose numbers are parsed. Emergency
// numbers are recognised first and always allowed, free. It does not allocate.
func AuthorizeParsed(ctx *Context, c *Call, n *Numbers) Authorization {
	a := Authorization{
		Tenant: c.Tenant, CallID: c.ID, Leg: c.Leg, Type: c.Type, User: c.Principal.ID,
		Location: c.Principal.UsageLocation, Start: c.Start, Currency: c.Currency,
		Caller: n.Caller, Callee: n.Callee,
	}
	out := outbound(c.Type)
	in := payer.Input{Call: c.Type, Principal: c.Principal, TollFreeDisabled: c.TollFreeDisabled}
	if out {
		in.Remote = n.Callee
	} else {
		in.Remote = n.Caller
		in.Service = serviceOf(c, n)
	}
	a.Remote = in.Remote
	maxCall := ctx.maxCall()

	if out && n.Callee.Emergency {
		d := payer.Decide(ctx.Catalog, &in)
		a.Allowed, a.Outcome, a.Emergency, a.Domestic = true, payer.Free, true, true
		a.Capability = d.Capability
		a.MaxSeconds, a.GrantedSeconds = maxCall, maxCall
		return a
	}

	svc, onCaller, priced := payer.CardFor(c.Type, in.Service.Type)
	noCard := false
	if priced {
		bad := n.BadCallee
		if onCaller {
			bad = n.BadCaller
		}
		if bad && (out || in.Service.Type == payer.TollFreeLine || needsPPM(ctx.Catalog, &c.Principal, c.Type)) {
			return refuse(a, ReasonInvalidNumber)
		}
		noCard = true
		if ctx.Cards != nil {
			if card, ok := ctx.Cards.Current(svc, c.Currency.Code); ok {
				noCard = false
				if row, ok := card.Lookup(in.Remote.E164, c.Start); ok {
					in.Row = row
					a.Rated, a.Row, a.Ref = true, *row, card.Ref(row)
				}
			}
		}
	}

	d := payer.Decide(ctx.Catalog, &in)
	a.Outcome, a.Pool, a.Credits, a.Capability, a.Domestic = d.Outcome, d.Pool, d.Credits, d.Capability, d.Domestic
	if d.Outcome == payer.Refused {
		a.Capability = d.Capability
		if d.Reason == payer.ReasonNoRate && noCard {
			d.Reason = ReasonNoRateCard
		}
		return refuse(a, d.Reason)
	}
	if r := dialOut(ctx, c.Type, &in.Remote, d.Domestic); r != "" {
		return refuse(a, r)
	}
	if d.Outcome == payer.Free {
		a.Allowed = true
		a.MaxSeconds = maxCall
		a.GrantedSeconds = grant(c.InitialSeconds, maxCall)
		return a
	}

	var poolLeft int64
	if d.Outcome == payer.Pool {
		poolLeft = min(ctx.poolLeft(d.Pool), maxCall)
	}
	a.PoolLeft = poolLeft
	a.StartsOnCredits = poolLeft == 0

	// What credits may spend: the available balance, within the spend limit.
	var budget money.Amount
	creditsReason := Reason("")
	switch {
	case !d.Credits:
		creditsReason = payer.ReasonNoCreditsLicence
	case !ctx.CreditsSetUp:
		creditsReason = ReasonCreditsNotSetUp
	case ctx.Available <= 0:
		creditsReason = ReasonInsufficientBalance
	default:
		budget = ctx.Available
		if lim := ctx.Policy.SpendLimit; lim > 0 {
			if left := lim - ctx.Policy.Spent; left <= 0 {
				creditsReason, budget = ReasonSpendLimitReached, 0
			} else if left < budget {
				budget = left
			}
		}
	}
	var creditSeconds int64
	if creditsReason == "" {
		creditSeconds = rating.MaxSeconds(&a.Row, budget, a.StartsOnCredits, c.Currency, maxCall-poolLeft)
		if creditSeconds == 0 && poolLeft < maxCall {
			creditsReason = ReasonInsufficientBalance
			if budget < ctx.Available {
				creditsReason = ReasonSpendLimitReached
			}
		}
	}
	a.CreditsReason = creditsReason
	a.Credits = creditSeconds > 0
	a.MaxSeconds = poolLeft + creditSeconds
	if a.MaxSeconds == 0 {
		if d.Outcome == payer.Pool {
			a.RetryAfter = nextMonth(c.Start)
			return refuse(a, ReasonPoolExhausted)
		}
		return refuse(a, creditsReason)
	}
	if d.Outcome == payer.Pool && poolLeft == 0 {
		// The pool is gone: the call is a credits call from its first second.
		a.Outcome, a.Pool, a.Capability = payer.Credits, plans.PoolKey{}, creditsCapability(&c.Principal, ctx.Catalog)
	}
	a.Allowed = true
	a.GrantedSeconds = grant(c.InitialSeconds, a.MaxSeconds)
	a.PoolHold = min(poolLeft, a.GrantedSeconds)
	a.Reserve = rating.Charge(&a.Row, a.GrantedSeconds-a.PoolHold, a.StartsOnCredits, c.Currency)
	return a
}

func grant(initial, maxSeconds int64) int64 {
	if initial > 0 && initial < maxSeconds {
		return initial
	}
	return maxSeconds
}

func refuse(a Authorization, r Reason) Authorization {
	a.Allowed, a.Reason = false, r
	a.Outcome = payer.Refused
	a.MaxSeconds, a.GrantedSeconds, a.PoolHold, a.Reserve = 0, 0, 0, 0
	if (r == payer.ReasonNoRate || r == ReasonNoRateCard) && a.Capability == "" {
		a.Capability = plans.FREECALL
	}
	return a
}

// nextMonth is the first instant of the month after t's (UTC).
func nextMonth(t time.Time) time.Time {
	y, m, _ := t.UTC().Date()
	return time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
}

// serviceOf is the tenant number an inbound call reached: its kind (ServiceType, else
// toll-free when the number is a toll-free number) and country.
func serviceOf(c *Call, n *Numbers) payer.ServiceNumber {
	s := payer.ServiceNumber{Type: c.ServiceType, Country: n.Service.Country}
	if s.Type == "" {
		s.Type = payer.Toll
		if n.Service.Type == numbers.TollFree {
			s.Type = payer.TollFreeLine
		}
	}
	return s
}

// creditsCapability is the capability of a call credits pay from its first second.
func creditsCapability(p *plans.Principal, cat *plans.Catalog) string {
	for _, code := range p.Licences {
		if cat.Kind(code) == plans.KindConferencingPPM {
			return "MCOMEETACPEA"
		}
	}
	return plans.MCOPSTNPP
}

// needsPPM: a toll conf_in of a pay-per-minute organizer is priced on the caller's number.
func needsPPM(cat *plans.Catalog, p *plans.Principal, t payer.CallType) bool {
	if t != payer.ConfIn {
		return false
	}
	for _, code := range p.Licences {
		if cat.Kind(code) == plans.KindConferencingPPM {
			return true
		}
	}
	return false
}

// dialOut applies the principal's dial-out policy to an outbound call.
func dialOut(ctx *Context, t payer.CallType, remote *numbers.Number, domestic bool) Reason {
	switch t {
	case payer.ConfOut:
		switch ctx.Policy.Conference {
		case ConferenceNone:
			return ReasonDialOutPolicy
		case ConferenceSameCountry:
			if !domestic {
				return ReasonDialOutPolicy
			}
		case ConferenceZoneA:
			if !ctx.Catalog.InZoneA(remote.Country) {
				return ReasonDialOutPolicy
			}
		}
	case payer.UserOut, payer.UserOutTransfer, payer.UserOutForwarding, payer.UserOutConf, payer.UcapOut:
		switch ctx.Policy.PSTN {
		case PSTNNone:
			return ReasonDialOutPolicy
		case PSTNDomestic:
			if !domestic {
				return ReasonDialOutPolicy
			}
		}
	}
	return ""
}
