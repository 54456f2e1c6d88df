package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/report"
)

// rechargeRunLogShown bounds the dry run's recharge log on the page.
const rechargeRunLogShown = 50

type fundingView struct {
	Cur money.Currency
	F   *report.Funding
	// Tried: the dry run is of the visitor's settings (the form), not the tenant's or the
	// suggestion.
	Tried bool
	// UseSuggestion and UseTried open the Credits page with the auto-recharge form filled in.
	UseSuggestion, UseTried string
	Log                     []report.DryRecharge
	LogMore                 int
	MinPurchase             money.Amount
}

// fundingPage is the funding help of issue 7 §3 (docs/reports.md): the runway, a suggested
// trigger and amount, and a dry run over the last 60 days of calls. The form is a GET: the
// dry run reads history and changes nothing, so it needs no CSRF token and can be linked.
func (s *Server) fundingPage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	q := r.URL.Query()
	cur := c.cur()
	cfg := s.d.Env.Recharge
	cfg.Currency = cur
	var fe formError
	var tried *recharge.Settings
	if q.Has("trigger") || q.Has("amount") || q.Has("monthly_cap") {
		st := recharge.Settings{Enabled: true,
			Trigger:    parseAmount(&fe, "trigger", q.Get("trigger"), cur, false, false),
			Amount:     parseAmount(&fe, "amount", q.Get("amount"), cur, false, true),
			MonthlyCap: parseAmount(&fe, "monthly_cap", q.Get("monthly_cap"), cur, true, false),
		}
		if fe.empty() {
			// Checked here, as a real update would be, so each message lands next to its
			// field; the engine checks again and would only quote them all together.
			chk := st
			chk.PaymentMethod = "ea:dry-run"
			if err := chk.Validate(&cfg); err != nil {
				fe, _ = explain(err, map[string]string{"Trigger": "trigger", "Amount": "amount", "MonthlyCap": "monthly_cap"})
			}
		}
		if fe.empty() {
			tried = &st
		}
	}
	e := s.reportEngine()
	f, err := e.Funding(r.Context(), report.FundingRequest{Tenant: c.tenant.ID, Settings: tried})
	var rf *report.FieldError
	if errors.As(err, &rf) {
		fe.add("", upperFirst(rf.Msg)+".")
		f, err = e.Funding(r.Context(), report.FundingRequest{Tenant: c.tenant.ID})
	}
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	v := &fundingView{Cur: cur, F: f, Tried: tried != nil, MinPurchase: cfg.MinPurchaseAmount()}
	form := url.Values{}
	if sg := f.Suggestion; sg != nil {
		v.UseSuggestion = useSettingsURL(sg.Trigger, sg.Amount, "")
		form.Set("trigger", sg.Trigger)
		form.Set("amount", sg.Amount)
	}
	if d := f.DryRun; d != nil {
		if d.Settings.Source != "suggested" {
			v.UseTried = useSettingsURL(d.Settings.Trigger, d.Settings.Amount, d.Settings.MonthlyCap)
		}
		form.Set("trigger", d.Settings.Trigger)
		form.Set("amount", d.Settings.Amount)
		form.Set("monthly_cap", d.Settings.MonthlyCap)
		v.Log = d.RechargeLog
		if n := len(v.Log); n > rechargeRunLogShown {
			v.Log, v.LogMore = v.Log[:rechargeRunLogShown], n-rechargeRunLogShown
		}
	}
	code, flash := http.StatusOK, ""
	if !fe.empty() {
		// A refused dry run shows no result: the one below would be of other settings.
		code, flash = http.StatusUnprocessableEntity, "No dry run was made."
		if len(fe.General) > 0 {
			flash += " " + fe.General[0]
		} else {
			flash += " Fix the fields marked below."
		}
		v.F.DryRun, v.Log, v.UseTried = nil, nil, ""
		form = url.Values{"trigger": {q.Get("trigger")}, "amount": {q.Get("amount")}, "monthly_cap": {q.Get("monthly_cap")}}
	}
	s.render(w, r, c, code, "funding", view{Title: "Funding help", Active: "funding", D: v, Errors: fe.Fields, Form: form, Flash: flash})
}

// reportEngine is internal/report on this server's store, catalog, operator settings and clock.
func (s *Server) reportEngine() *report.Engine {
	return &report.Engine{Store: s.d.Store, Catalog: s.catalog(), Recharge: s.d.Env.Recharge, Ledger: s.d.Env.Ledger, Now: s.d.Now}
}

// useSettingsURL opens the Credits page with the auto-recharge form filled in (not saved).
func useSettingsURL(trigger, amount, monthlyCap string) string {
	q := url.Values{"use": {"1"}, "trigger": {trigger}, "recharge_amount": {amount}}
	if monthlyCap != "" {
		q.Set("monthly_cap", monthlyCap)
	}
	return "/ui/credits?" + q.Encode() + "#ar-h"
}
