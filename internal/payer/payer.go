// Package payer decides who pays for a call (domain §4): free, a minute pool then credits,
// credits only, or refused with a reason code, and the capability the usage report names.
// It is one pure decision over plain inputs; pricing (rating) and pool arithmetic (plans)
// are the caller's next steps.
package payer

import (
	"github.com/commcredits/commcredits/internal/numbers"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
)

// CallType is the call type of domain §4 and of the usage report.
type CallType string

// Call types.
const (
	UserIn            CallType = "user_in"
	UserOut           CallType = "user_out"
	UserOutTransfer   CallType = "user_out_transfer"
	UserOutForwarding CallType = "user_out_forwarding"
	UserOutConf       CallType = "user_out_conf"
	ConfIn            CallType = "conf_in"
	ConfOut           CallType = "conf_out"
	UcapIn            CallType = "ucap_in"
	UcapOut           CallType = "ucap_out"
	UnassignedIn      CallType = "unassigned_in"
)

// Valid reports whether t is one of the call types of domain §4.
func (t CallType) Valid() bool {
	switch t {
	case UserIn, UserOut, UserOutTransfer, UserOutForwarding, UserOutConf, ConfIn, ConfOut, UcapIn, UcapOut, UnassignedIn:
		return true
	}
	return false
}

// ServiceNumberType is the kind of the tenant's number an inbound call reached.
type ServiceNumberType string

// Service number types.
const (
	Toll         ServiceNumberType = "toll"
	TollFreeLine ServiceNumberType = "toll_free"
)

// ServiceNumber is the tenant's number an inbound call (conf_in, ucap_in) reached.
type ServiceNumber struct {
	Type    ServiceNumberType
	Country string // ISO 3166; a toll-free number works only within its own country
}

// Input is what the decision needs about one call.
type Input struct {
	Call CallType
	// Principal is the user (user_*), the resource account (ucap_*) or the meeting organizer
	// (conf_*): licences and usage location. Unused for unassigned_in.
	Principal plans.Principal
	// TollFreeDisabled: the organizer has toll-free dial-in turned off (conf_in).
	TollFreeDisabled bool
	// Remote is the other party: the dialed number on outbound calls, the caller on inbound.
	Remote numbers.Number
	// Service is the tenant's number called, for conf_in and ucap_in.
	Service ServiceNumber
	// Row is the rate row for the call on the card that CardFor names (nil when none was found
	// or the call needs none).
	Row *rating.Row
}

// Outcome is what pays.
type Outcome uint8

// Outcomes. Refused is the zero value so that a forgotten decision refuses.
const (
	Refused Outcome = iota
	Free            // never charged
	Pool            // minutes from Decision.Pool; then credits if Decision.Credits
	Credits         // credits only
)

func (o Outcome) String() string {
	return [...]string{"refused", "free", "pool", "credits"}[o]
}

// Reason is why a call is refused.
type Reason string

// Reason codes.
const (
	ReasonUnknownCallType      Reason = "unknown_call_type"
	ReasonPremium              Reason = "premium_destination"     // premium-rate number
	ReasonBlocked              Reason = "blocked_destination"     // the rate row is blocked
	ReasonNoRate               Reason = "no_rate"                 // no rate row: unpriceable (capability FREECALL)
	ReasonNoPhoneSystem        Reason = "no_phone_system"         // no MCOEV (users) or MCOEV_VIRTUALUSER (resource accounts)
	ReasonNoCallingPlan        Reason = "no_calling_plan"         // outbound without a calling plan
	ReasonNoCreditsLicence     Reason = "no_credits_licence"      // credits needed, MCOPSTNPP missing
	ReasonNoConferencing       Reason = "no_audio_conferencing"   // organizer without Audio Conferencing
	ReasonTollFreeDisabled     Reason = "toll_free_disabled"      // organizer turned toll-free dial-in off
	ReasonTollFreeOtherCountry Reason = "toll_free_other_country" // toll-free number called from abroad
)

// Decision says who pays for a call.
type Decision struct {
	Outcome Outcome
	// Pool is the pool that pays first when Outcome is Pool.
	Pool plans.PoolKey
	// Credits: credits pay the call (Outcome Credits), or what the pool cannot (Outcome Pool;
	// false when the principal lacks MCOPSTNPP, so the call may last only the pool's seconds).
	Credits bool
	// Reason is set when Outcome is Refused.
	Reason Reason
	// Capability is the licence code for the usage report: the calling plan or conferencing
	// licence for pool and free calls, MCOPSTNPP (or MCOMEETACPEA) for credits, FREECALL for an
	// unpriceable call.
	Capability string
	// Domestic: the remote number's country is the principal's (the organizer's) usage
	// location, US and PR counting as one.
	Domestic bool
	// Emergency: an emergency number, always allowed, never charged.
	Emergency bool
}

// CardFor names the rate card that prices a call of this type and which number is matched on
// it (onCaller: the caller's number, for toll-free inbound). ok is false for calls no card prices.
func CardFor(call CallType, service ServiceNumberType) (card rating.Service, onCaller, ok bool) {
	switch call {
	case UserOut, UserOutTransfer, UserOutForwarding, UserOutConf, UcapOut:
		return rating.Outbound, false, true
	case ConfOut:
		return rating.DialOut, false, true
	case ConfIn, UcapIn:
		if service == TollFreeLine {
			return rating.TollFree, true, true
		}
		if call == ConfIn {
			// Toll dial-in is free except for pay-per-minute organizers (MCOMEETACPEA), whose
			// minutes are priced on the dial-out card by the caller's number.
			return rating.DialOut, true, true
		}
	}
	return "", false, false
}

// licences is what Decide needs from a principal's licences, gathered in one pass.
type licences struct {
	phoneSystem, virtualUser, credits, conferencing, ppm bool
	plan                                                 *plans.Plan // best-ranked calling or pay-as-you-go plan; nil if none
}

// planCode is the code of the principal's calling plan, "" without one.
func (l *licences) planCode() string {
	if l.plan == nil {
		return ""
	}
	return l.plan.Code
}

func gather(cat *plans.Catalog, p *plans.Principal) licences {
	var l licences
	best := -1
	for _, code := range p.Licences {
		plan, rank, ok := cat.Licence(code)
		if !ok {
			continue
		}
		switch plan.Kind {
		case plans.KindPhoneSystem:
			l.phoneSystem = true
		case plans.KindVirtualUser:
			l.virtualUser = true
		case plans.KindCredits:
			l.credits = true
		case plans.KindConferencing:
			l.conferencing = true
		case plans.KindConferencingPPM:
			l.ppm = true
		case plans.KindCallingPlan, plans.KindPayAsYouGo:
			if best < 0 || rank < best {
				best, l.plan = rank, plan
			}
		}
	}
	return l
}

// Decide applies domain §4 to one call. It does not allocate.
func Decide(cat *plans.Catalog, in *Input) Decision {
	switch in.Call {
	case UserIn, UnassignedIn:
		d := free(capabilityOf(cat, in))
		d.Domestic = domestic(in)
		return d
	case UserOut, UserOutTransfer, UserOutForwarding, UserOutConf, UcapOut:
		return outbound(cat, in)
	case ConfOut:
		return confOut(cat, in)
	case ConfIn:
		return confIn(cat, in)
	case UcapIn:
		return ucapIn(cat, in)
	}
	return refuse(ReasonUnknownCallType)
}

func free(capability string) Decision { return Decision{Outcome: Free, Capability: capability} }

func refuse(r Reason) Decision {
	d := Decision{Outcome: Refused, Reason: r}
	if r == ReasonNoRate {
		d.Capability = plans.FREECALL
	}
	return d
}

// capabilityOf names the licence of a free inbound call: the calling plan, else the phone licence.
func capabilityOf(cat *plans.Catalog, in *Input) string {
	if in.Call == UnassignedIn {
		return ""
	}
	l := gather(cat, &in.Principal)
	switch {
	case l.plan != nil:
		return l.plan.Code
	case l.virtualUser:
		return "MCOEV_VIRTUALUSER"
	case l.phoneSystem:
		return "MCOEV"
	}
	return ""
}

// domestic: the remote number is in the principal's usage location (US and PR as one).
func domestic(in *Input) bool {
	return in.Remote.Country != "" && plans.PoolCountry(in.Remote.Country) == plans.PoolCountry(in.Principal.UsageLocation)
}

// priced checks what every charged call needs: a rate row that is not blocked, a destination
// that is not premium. It returns "" when the call can be priced.
func priced(in *Input) Reason {
	switch {
	case in.Remote.Type == numbers.Premium:
		return ReasonPremium
	case in.Row == nil:
		return ReasonNoRate
	case in.Row.Blocked:
		return ReasonBlocked
	}
	return ""
}

func credits(l licences, capability string, dom bool) Decision {
	if !l.credits {
		return Decision{Outcome: Refused, Reason: ReasonNoCreditsLicence, Domestic: dom}
	}
	return Decision{Outcome: Credits, Credits: true, Capability: capability, Domestic: dom}
}

func outbound(cat *plans.Catalog, in *Input) Decision {
	l := gather(cat, &in.Principal)
	dom := domestic(in)
	if in.Remote.Emergency {
		d := free(l.planCode())
		d.Emergency, d.Domestic = true, true
		return d
	}
	if in.Call == UcapOut && !l.virtualUser && !l.phoneSystem || in.Call != UcapOut && !l.phoneSystem {
		return refuse(ReasonNoPhoneSystem)
	}
	if r := priced(in); r != "" {
		return refuse(r)
	}
	if l.plan == nil {
		return refuse(ReasonNoCallingPlan)
	}
	p := l.plan
	switch {
	case p.Kind == plans.KindPayAsYouGo:
		return credits(l, plans.MCOPSTNPP, dom)
	case dom && p.PerUser:
		return Decision{Outcome: Pool, Pool: plans.UserPool(p.Code, in.Principal.ID), Credits: l.credits, Capability: p.Code, Domestic: true}
	case dom:
		return Decision{Outcome: Pool, Pool: plans.DomesticPool(p.Code, in.Principal.UsageLocation), Credits: l.credits, Capability: p.Code, Domestic: true}
	case len(p.InternationalMinutes) > 0:
		return Decision{Outcome: Pool, Pool: plans.InternationalPool(p.Code, in.Principal.UsageLocation), Credits: l.credits, Capability: p.Code}
	}
	return credits(l, plans.MCOPSTNPP, false)
}

func confOut(cat *plans.Catalog, in *Input) Decision {
	l := gather(cat, &in.Principal)
	dom := domestic(in)
	if in.Remote.Emergency {
		return Decision{Outcome: Free, Emergency: true, Domestic: true, Capability: "MCOMEETADD"}
	}
	if r := priced(in); r != "" {
		return refuse(r)
	}
	switch {
	case l.ppm:
		return credits(l, "MCOMEETACPEA", dom)
	case !l.conferencing:
		return refuse(ReasonNoConferencing)
	case cat.InZoneA(in.Remote.Country):
		return Decision{Outcome: Pool, Pool: plans.DialOutPool(), Credits: l.credits, Capability: "MCOMEETADD", Domestic: dom}
	}
	return credits(l, plans.MCOPSTNPP, dom)
}

// tollFree checks an inbound call to a toll-free number: called from its own country, and
// priced on the toll-free card by the caller's number.
func tollFree(in *Input) Reason {
	if in.Remote.Country != in.Service.Country {
		return ReasonTollFreeOtherCountry
	}
	if in.Row == nil {
		return ReasonNoRate
	}
	if in.Row.Blocked {
		return ReasonBlocked
	}
	return ""
}

func confIn(cat *plans.Catalog, in *Input) Decision {
	l := gather(cat, &in.Principal)
	dom := domestic(in)
	if !l.ppm && !l.conferencing {
		return refuse(ReasonNoConferencing)
	}
	if in.Service.Type == TollFreeLine {
		if in.TollFreeDisabled {
			return refuse(ReasonTollFreeDisabled)
		}
		if r := tollFree(in); r != "" {
			return refuse(r)
		}
		if l.ppm {
			return credits(l, "MCOMEETACPEA", dom)
		}
		return credits(l, plans.MCOPSTNPP, dom)
	}
	if l.ppm {
		if in.Row == nil {
			return refuse(ReasonNoRate)
		}
		return credits(l, "MCOMEETACPEA", dom)
	}
	d := free("MCOMEETADD")
	d.Domestic = dom
	return d
}

func ucapIn(cat *plans.Catalog, in *Input) Decision {
	if in.Service.Type != TollFreeLine {
		d := free(capabilityOf(cat, in))
		d.Domestic = domestic(in)
		return d
	}
	if r := tollFree(in); r != "" {
		return refuse(r)
	}
	return credits(gather(cat, &in.Principal), plans.MCOPSTNPP, domestic(in))
}
