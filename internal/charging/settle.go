package charging

import (
	"strconv"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/rating"
)

// Settlement is what a finished call costs.
type Settlement struct {
	// PoolSeconds are drawn from Authorization.Pool (exact seconds); CreditSeconds are the
	// rest, charged on the row's increments.
	PoolSeconds   int64 `json:"pool_seconds"`
	CreditSeconds int64 `json:"credit_seconds"`
	// Uncovered are seconds past the pool that credits could not pay (the principal lacks
	// MCOPSTNPP, or the call had no credits): charged nothing, listed for review.
	Uncovered int64 `json:"uncovered,omitempty"`
	// Fee: Charge includes the connection fee (the call started on credits).
	Fee bool `json:"fee"`
	// Charge is the credit charge, connection fee included; Release is what of the
	// reservation is left over (negative when the charge exceeds what was held).
	Charge  money.Amount `json:"charge"`
	Release money.Amount `json:"release"`
	// Usage is the PSTN usage row; zero (DurationSeconds 0) for a call of zero seconds:
	// nothing happened.
	Usage UsageRow `json:"usage,omitzero"`
}

// SettleInput is the end of a call.
type SettleInput struct {
	Seconds int64 // connected seconds
	// PoolAvailable is what the pool can pay now, this call's hold included.
	PoolAvailable int64
	// Reserved is what is held for the call now (Authorization.Reserve plus extensions).
	Reserved money.Amount
	End      time.Time // zero means Start + Seconds
}

// Settle prices a finished call (domain §3): pool first for exact seconds, then credits as a
// call of the remaining seconds on the row's increments, with the connection fee only when
// the call started on credits. Free, emergency and refused calls cost nothing; zero seconds
// leave nothing at all.
func Settle(a *Authorization, in SettleInput) Settlement {
	s := Settlement{Release: in.Reserved}
	if in.Seconds <= 0 {
		return s
	}
	d := min(in.Seconds, rating.MaxCallSeconds)
	if a.Allowed && !a.Emergency {
		switch a.Outcome {
		case payer.Pool:
			pool := max(in.PoolAvailable, 0)
			if !a.Credits && pool < d {
				s.PoolSeconds, s.Uncovered = pool, d-pool
				break
			}
			sp := rating.SplitCall(&a.Row, pool, d, a.Currency)
			s.PoolSeconds, s.CreditSeconds, s.Charge, s.Fee = sp.PoolSeconds, sp.CreditSeconds, sp.CreditCharge, sp.Fee
		case payer.Credits:
			s.CreditSeconds, s.Fee = d, true
			s.Charge = rating.Charge(&a.Row, d, true, a.Currency)
		}
	}
	s.Release = in.Reserved - s.Charge
	end := in.End
	if end.IsZero() {
		end = a.Start.Add(time.Duration(d) * time.Second)
	}
	s.Usage = usageRow(a, d, end, &s)
	return s
}

// ExtendState is what a call in progress holds.
type ExtendState struct {
	GrantedSeconds int64        // granted so far
	PoolHeld       int64        // pool seconds held for it
	Reserved       money.Amount // amount held for it
}

// Extension is the answer to a request for more seconds.
type Extension struct {
	Allowed bool
	Reason  Reason
	// GrantedSeconds is the new total grant (≤ what was asked); AddPool and AddReserve are
	// the pool seconds and the amount to hold on top of what is held.
	GrantedSeconds int64
	AddPool        int64
	AddReserve     money.Amount
}

// Extend decides how much more to hold for more seconds of a call in progress, given the
// tenant's state now: ctx.Available, ctx.Policy, and ctx.Pools with every hold counted as
// used, this call's included, so that what a pool has left is what it can add. The new
// grant is capped by the maximum call length and by what the pool and the balance can pay;
// what credits pay is priced like Settle prices it, so that holding AddReserve covers a call
// lasting up to GrantedSeconds.
func Extend(ctx *Context, a *Authorization, st ExtendState, more int64) Extension {
	e := Extension{GrantedSeconds: st.GrantedSeconds}
	if !a.Allowed {
		e.Reason = a.Reason
		return e
	}
	target := min(st.GrantedSeconds+max(more, 0), ctx.maxCall())
	if target <= st.GrantedSeconds {
		// Nothing asked, or the call is at the maximum call length already.
		e.Allowed = more <= 0
		if !e.Allowed {
			e.Reason = ReasonMaxCallLength
		}
		return e
	}
	if a.Outcome == payer.Free || a.Emergency {
		e.Allowed, e.GrantedSeconds = true, target
		return e
	}
	pool := st.PoolHeld
	if a.Outcome == payer.Pool && st.PoolHeld >= st.GrantedSeconds {
		// Still on the pool: it may pay more.
		pool += min(ctx.poolLeft(a.Pool), target-st.PoolHeld)
	}
	pool = min(pool, target)
	creditSeconds := target - pool
	if creditSeconds > 0 && !a.Credits {
		if pool <= st.GrantedSeconds {
			e.Reason = ReasonPoolExhausted
			return e
		}
		creditSeconds, target = 0, pool
	}
	need := rating.Charge(&a.Row, creditSeconds, a.StartsOnCredits, a.Currency)
	add := max(need-st.Reserved, 0)
	if avail := spendable(ctx); add > avail {
		// Grant what the held amount plus what is available buys.
		cs := rating.MaxSeconds(&a.Row, st.Reserved+max(avail, 0), a.StartsOnCredits, a.Currency, creditSeconds)
		target = pool + cs
		need = rating.Charge(&a.Row, cs, a.StartsOnCredits, a.Currency)
		add = max(need-st.Reserved, 0)
		if target <= st.GrantedSeconds {
			e.Reason = ReasonInsufficientBalance
			if ctx.Policy.SpendLimit > 0 && avail < ctx.Available {
				e.Reason = ReasonSpendLimitReached
			}
			return e
		}
	}
	e.Allowed = true
	e.GrantedSeconds = target
	e.AddPool = pool - st.PoolHeld
	e.AddReserve = add
	return e
}

// spendable is what credits may add now: the available balance within the spend limit.
func spendable(ctx *Context) money.Amount {
	if !ctx.CreditsSetUp {
		return 0
	}
	a := ctx.Available
	if lim := ctx.Policy.SpendLimit; lim > 0 {
		a = min(a, lim-ctx.Policy.Spent)
	}
	return a
}

// UsageColumns are the PSTN usage report columns of domain §8, in order, followed by the
// rate card reference.
var UsageColumns = []string{
	"UsageId", "Call ID", "Conference ID", "User Location", "AAD ObjectId", "UPN",
	"User Display Name", "Caller ID", "Call Type", "Number Type", "Domestic/International",
	"Destination Dialed", "Destination Number", "Start Time", "End Time", "Duration Seconds",
	"Connection Fee", "Charge", "Currency", "Capability", "Card Ref",
}

// UsageRow is one row of the PSTN usage report. UPN, display name and conference id are the
// directory's; the caller fills them.
type UsageRow struct {
	// UsageID is the report's id; "" means tenant/call id/leg (Record writes it so).
	UsageID           string       `json:"usage_id,omitempty"`
	Tenant            string       `json:"tenant"`
	CallID            string       `json:"call_id"`
	Leg               string       `json:"leg,omitempty"`
	ConferenceID      string       `json:"conference_id,omitempty"`
	UserLocation      string       `json:"user_location"`
	UserID            string       `json:"user_id"`
	UPN               string       `json:"upn,omitempty"`
	DisplayName       string       `json:"display_name,omitempty"`
	CallerID          string       `json:"caller_id"` // E.164 digits; Record adds the "+"
	CallType          string       `json:"call_type"`
	NumberType        string       `json:"number_type"`
	International     bool         `json:"international"`
	DestinationDialed string       `json:"destination_dialed"` // the rate row's destination name
	DestinationNumber string       `json:"destination_number"` // E.164 digits; Record adds the "+"
	Start             time.Time    `json:"start"`
	End               time.Time    `json:"end"`
	DurationSeconds   int64        `json:"duration_seconds"`
	ConnectionFee     money.Amount `json:"connection_fee"`
	Charge            money.Amount `json:"charge"`
	Currency          string       `json:"currency"`
	Capability        string       `json:"capability"`
	CardRef           rating.Ref   `json:"card_ref,omitzero"` // Record writes "outbound/USD/v3#12" (row index)
	PoolSeconds       int64        `json:"pool_seconds,omitempty"`
	Review            string       `json:"review,omitempty"` // why the row needs a look (FREECALL, uncovered seconds)
}

func usageRow(a *Authorization, d int64, end time.Time, s *Settlement) UsageRow {
	u := UsageRow{
		CallID: a.CallID, Leg: a.Leg, Tenant: a.Tenant,
		UserLocation: a.Location, UserID: a.User,
		CallerID: a.Caller.E164, CallType: string(a.Type), NumberType: string(a.Remote.Type),
		International: !a.Domestic, DestinationNumber: a.Callee.E164,
		Start: a.Start.UTC(), End: end.UTC(), DurationSeconds: d, Charge: s.Charge,
		Currency: a.Currency.Code, Capability: a.Capability, PoolSeconds: s.PoolSeconds,
	}
	if a.Rated {
		u.DestinationDialed = a.Row.Destination
		u.CardRef = a.Ref
		if s.Fee {
			u.ConnectionFee = money.CallCharge(0, a.Row.Fee, 0, a.Currency)
		}
	}
	if s.Uncovered > 0 {
		u.Review = "uncovered_seconds"
	}
	return u
}

func refString(r rating.Ref) string {
	if r.Service == "" {
		return ""
	}
	return string(r.Service) + "/" + r.Currency + "/v" + strconv.Itoa(r.Version) + "#" + strconv.Itoa(r.Row)
}

func plus(e164 string) string {
	if e164 == "" || e164[0] == '+' {
		return e164
	}
	return "+" + e164
}

// Record returns the row's fields in UsageColumns order (RFC 3339 UTC times, decimal amounts).
func (u *UsageRow) Record() []string {
	di := "Domestic"
	if u.International {
		di = "International"
	}
	cur := money.Currency{Code: u.Currency}
	if c, err := money.LookupCurrency(u.Currency); err == nil {
		cur = c
	}
	id := u.UsageID
	if id == "" {
		id = u.Tenant + "/" + u.CallID + "/" + u.Leg
	}
	return []string{
		id, u.CallID, u.ConferenceID, u.UserLocation, u.UserID, u.UPN, u.DisplayName,
		plus(u.CallerID), u.CallType, u.NumberType, di, u.DestinationDialed, plus(u.DestinationNumber),
		u.Start.Format(time.RFC3339), u.End.Format(time.RFC3339), strconv.FormatInt(u.DurationSeconds, 10),
		u.ConnectionFee.Format(cur), u.Charge.Format(cur), u.Currency, u.Capability, refString(u.CardRef),
	}
}
