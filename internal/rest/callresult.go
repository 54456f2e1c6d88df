package rest

import (
	"context"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/tenant"
)

// CallResult is what a call or CDR command answers. Amounts are decimals in the tenant's
// currency; fields that do not apply to the command are left out.
type CallResult struct {
	CallID string `json:"call_id"`
	Leg    string `json:"leg,omitempty"`
	// Allowed: authorize admitted the call, extend granted more; always true for settle,
	// release and CDRs (which are errors when they cannot be booked).
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason,omitempty" doc:"why a call or an extension was refused"`
	// Outcome is who pays: free, pool (then credits when credits is true) or credits.
	Outcome     string     `json:"outcome,omitempty"`
	Capability  string     `json:"capability,omitempty" doc:"the licence that admitted the call"`
	Pool        string     `json:"pool,omitempty" doc:"the minute pool that pays first: kind/plan/country/user"`
	Credits     bool       `json:"credits,omitempty" doc:"credits pay (part of) the call"`
	Emergency   bool       `json:"emergency,omitempty"`
	Domestic    bool       `json:"domestic,omitempty"`
	Destination string     `json:"destination,omitempty" doc:"rate card destination the call is priced on"`
	RetryAfter  *time.Time `json:"retry_after,omitempty" doc:"when a pool_exhausted refusal lifts"`
	// GrantedSeconds is the call's total grant so far; Reserved what this command added to
	// what the call holds.
	GrantedSeconds int64  `json:"granted_seconds,omitempty"`
	Reserved       string `json:"reserved,omitempty"`
	// Settle and CDRs: seconds paid by the pool and by credits, the charge (connection fee
	// included), and for a CDR that could not be priced, free_call with the review reason.
	PoolSeconds   int64  `json:"pool_seconds,omitempty"`
	CreditSeconds int64  `json:"credit_seconds,omitempty"`
	Charge        string `json:"charge,omitempty"`
	FreeCall      bool   `json:"free_call,omitempty"`
	Review        string `json:"review,omitempty"`
	// The tenant's balance and available amount after the command.
	Balance   string `json:"balance"`
	Available string `json:"available"`
	Replayed  bool   `json:"replayed,omitempty" doc:"the call command had been applied before: this is its first result"`
}

type callResp struct {
	Replayed string `header:"Idempotent-Replayed"`
	Body     CallResult
}

func poolName(k plans.PoolKey) string {
	if k == (plans.PoolKey{}) {
		return ""
	}
	return string(k.Kind) + "/" + k.Plan + "/" + k.Country + "/" + k.User
}

func (c *CallResult) authorization(a *charging.Authorization, cur money.Currency) {
	c.Allowed, c.Reason = a.Allowed, string(a.Reason)
	c.Outcome, c.Capability, c.Pool, c.Credits = a.Outcome.String(), a.Capability, poolName(a.Pool), a.Credits
	c.Emergency, c.Domestic = a.Emergency, a.Domestic
	if a.Rated {
		c.Destination = a.Row.Destination
	}
	if !a.RetryAfter.IsZero() {
		t := a.RetryAfter
		c.RetryAfter = &t
	}
	c.GrantedSeconds = a.GrantedSeconds
	if a.Allowed {
		c.Reserved = a.Reserve.Format(cur)
	}
}

func (c *CallResult) settlement(s *charging.Settlement, cur money.Currency) {
	c.Allowed = true
	c.PoolSeconds, c.CreditSeconds, c.Charge = s.PoolSeconds, s.CreditSeconds, s.Charge.Format(cur)
}

// submitCall runs a call or CDR command and answers a CallResult.
func (a *API) submitCall(ctx context.Context, tenantID, idem, callID, leg string, cmd tenant.Command) (*callResp, error) {
	cur, err := a.currency(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	r, err := a.svc.Submit(ctx, tenantID, idem, cmd)
	if err != nil {
		return nil, problem(err)
	}
	out := &callResp{Body: callResult(r, callID, leg, cur)}
	if r.Replayed {
		out.Replayed = "true"
	}
	return out, nil
}

func callResult(r tenant.Result, callID, leg string, cur money.Currency) CallResult {
	c := CallResult{CallID: callID, Leg: leg, Balance: r.Balance.Format(cur), Available: r.Available.Format(cur), Replayed: r.Replayed}
	switch {
	case r.Authorization != nil:
		c.authorization(r.Authorization, cur)
	case r.Extension != nil:
		e := r.Extension
		c.Allowed, c.Reason, c.GrantedSeconds, c.Reserved = e.Allowed, string(e.Reason), e.GrantedSeconds, e.AddReserve.Format(cur)
	case r.Settlement != nil:
		c.settlement(r.Settlement, cur)
	case r.Priced != nil:
		p := r.Priced
		c.authorization(&p.Authorization, cur)
		c.Reserved, c.GrantedSeconds = "", 0
		c.settlement(&p.Settlement, cur)
		c.FreeCall, c.Review = p.FreeCall, string(p.Review)
	default:
		c.Allowed = true // release
	}
	return c
}
