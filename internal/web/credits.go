package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/report"
	"github.com/commcredits/commcredits/internal/tenant"
)

// transactionsShown is how many of the latest ledger entries the Credits page lists.
const transactionsShown = 50

type creditsView struct {
	Cur         money.Currency
	Account     *ledger.Account
	Available   money.Amount
	SetUp       bool
	Lots        []ledger.Lot // with money left, by expiry
	Expiring    []ledger.Lot // of Lots, expiring within 30 days
	ExpiringSum money.Amount
	Entries     []ledger.Entry // newest first
	Recharge    *recharge.State
	InFlight    bool
	Receipts    []Receipt
}

func (s *Server) creditsView(r *http.Request, c *reqCtx) (*creditsView, error) {
	now := s.now()
	st, err := s.d.Store.State(r.Context(), c.tenant.ID, now)
	if err != nil {
		return nil, err
	}
	a := st.Account
	v := &creditsView{Cur: a.Currency, Account: a, Available: a.Available(), SetUp: st.CreditsSetUp(),
		Recharge: st.Recharge, InFlight: st.Recharge.InFlight != nil}
	for _, l := range a.Lots {
		if l.Remaining <= 0 {
			continue
		}
		v.Lots = append(v.Lots, l)
		if expiringSoon(l, now) {
			v.Expiring = append(v.Expiring, l)
			v.ExpiringSum += l.Remaining
		}
	}
	after := max(a.NextSeq-1-transactionsShown, 0)
	es, err := s.d.Store.Entries(r.Context(), c.tenant.ID, after, transactionsShown)
	if err != nil {
		return nil, err
	}
	for i := len(es) - 1; i >= 0; i-- {
		v.Entries = append(v.Entries, es[i])
	}
	// Never nil: New puts the store's receipts in when Deps gives none.
	if v.Receipts, err = s.d.Receipts.Receipts(r.Context(), c.tenant.ID); err != nil {
		return nil, err
	}
	return v, nil
}

func (s *Server) creditsPage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	q := r.URL.Query()
	if q.Get("use") == "" {
		s.creditsShow(w, r, c, http.StatusOK, view{}, nil)
		return
	}
	// "Use these settings" from the funding help: the auto-recharge form is filled in with
	// them, switched on, and saved only when the admin sends it.
	s.creditsShow(w, r, c, http.StatusOK, view{
		Flash: "The auto-recharge form below is filled in from the funding help. Nothing is saved until you choose Save auto-recharge."},
		func(form url.Values) {
			form.Set("enabled", "on")
			for _, k := range []string{"trigger", "recharge_amount", "monthly_cap"} {
				if q.Has(k) {
					form.Set(k, q.Get(k))
				}
			}
		})
}

// creditsShow renders the Credits page with page's messages; its forms hold the saved
// settings, as fill changes them (the funding help's settings, a refused form's input).
func (s *Server) creditsShow(w http.ResponseWriter, r *http.Request, c *reqCtx, code int, page view, fill func(url.Values)) {
	v, err := s.creditsView(r, c)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	form := settingsForm(v)
	if fill != nil {
		fill(form)
	}
	page.Title, page.Active, page.D, page.Form = "Credits", "credits", v, form
	s.render(w, r, c, code, "credits", page)
}

// expiringSoon: l has money left that expires within the report engine's window, the one
// the statement export uses too.
func expiringSoon(l ledger.Lot, now time.Time) bool {
	return l.Remaining > 0 && l.ExpiresAt.Before(now.Add(report.ExpiringWindow))
}

// settingsForm fills the auto-recharge and payment method forms with what is saved.
func settingsForm(v *creditsView) url.Values {
	st, cur := v.Recharge.Settings, v.Cur
	f := url.Values{}
	if st.Enabled {
		f.Set("enabled", "on")
	}
	f.Set("trigger", optionalAmount(st.Trigger, cur))
	f.Set("recharge_amount", optionalAmount(st.Amount, cur))
	f.Set("monthly_cap", optionalAmount(st.MonthlyCap, cur))
	f.Set("low_balance", optionalAmount(st.LowBalance, cur))
	f.Set("payment_method", st.PaymentMethod)
	f.Set("version", strconv.FormatInt(st.Version, 10))
	f.Set("method", st.PaymentMethod)
	if e := v.Recharge.CardExpiry; e.Month > 0 {
		f.Set("exp_month", strconv.Itoa(e.Month))
		f.Set("exp_year", strconv.Itoa(e.Year))
	}
	f.Set("brand", v.Recharge.CardBrand)
	f.Set("last4", v.Recharge.CardLast4)
	return f
}

// creditsAgain keeps what the visitor typed in the form that failed (keys), the saved
// values in the others.
func (s *Server) creditsAgain(w http.ResponseWriter, r *http.Request, c *reqCtx, fe formError, keys ...string) {
	s.creditsShow(w, r, c, http.StatusUnprocessableEntity, view{Errors: fe.Fields, Flash: nothingChanged(fe)},
		func(form url.Values) {
			for _, k := range keys {
				form[k] = r.PostForm[k]
			}
		})
}

func (s *Server) addFunds(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var fe formError
	amt := parseAmount(&fe, "funds_amount", r.PostFormValue("funds_amount"), c.cur(), false, true)
	again := func(fe formError) { s.creditsAgain(w, r, c, fe, "funds_amount", "funds_method") }
	if !fe.empty() {
		again(fe)
		return
	}
	method := strings.TrimSpace(r.PostFormValue("funds_method"))
	res, err := s.submit(r, c, tenant.AddFunds{Amount: amt, Method: method})
	if err != nil {
		s.refused(w, r, c, err, map[string]string{"Amount": "funds_amount", "Method": "funds_method"}, again)
		return
	}
	cur := c.cur()
	msg := fmt.Sprintf("Purchase of %s started: it is credited when the card payment succeeds.", withCode(amt, cur))
	if method == "" {
		if st, err := s.d.Store.State(r.Context(), c.tenant.ID, s.now()); err == nil {
			method = st.Recharge.Settings.PaymentMethod
		}
	}
	if m, err := recharge.ParseMethod(method); err == nil && m.Kind == recharge.MethodAgreement {
		msg = fmt.Sprintf("Purchase of %s invoiced and credited. Balance now %s.", withCode(amt, cur),
			withCode(res.Balance, cur))
	}
	s.done(w, r, "/ui/credits", msg)
}

func (s *Server) setAutoRecharge(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var fe formError
	cur := c.cur()
	enabled := r.PostFormValue("enabled") != ""
	st := recharge.Settings{Enabled: enabled,
		Trigger:       parseAmount(&fe, "trigger", r.PostFormValue("trigger"), cur, !enabled, false),
		Amount:        parseAmount(&fe, "recharge_amount", r.PostFormValue("recharge_amount"), cur, !enabled, true),
		MonthlyCap:    parseAmount(&fe, "monthly_cap", r.PostFormValue("monthly_cap"), cur, true, false),
		LowBalance:    parseAmount(&fe, "low_balance", r.PostFormValue("low_balance"), cur, true, false),
		PaymentMethod: strings.TrimSpace(r.PostFormValue("payment_method")),
	}
	ver, err := strconv.ParseInt(r.PostFormValue("version"), 10, 64)
	if err != nil {
		fe.add("", "The form is incomplete (settings version). Reload the page.")
	}
	again := func(fe formError) {
		s.creditsAgain(w, r, c, fe, "enabled", "trigger", "recharge_amount", "monthly_cap", "low_balance", "payment_method")
	}
	if !fe.empty() {
		again(fe)
		return
	}
	if _, err := s.submit(r, c, tenant.SetAutoRecharge{Settings: st, IfVersion: ver}); err != nil {
		s.refused(w, r, c, err, map[string]string{"Trigger": "trigger", "Amount": "recharge_amount", "MonthlyCap": "monthly_cap",
			"PaymentMethod": "payment_method", "LowBalance": "low_balance"}, again)
		return
	}
	msg := "Auto-recharge is off."
	if enabled {
		msg = fmt.Sprintf("Auto-recharge saved: %s when the available balance falls below %s.", withCode(st.Amount, cur), st.Trigger.Format(cur))
	}
	s.done(w, r, "/ui/credits", msg)
}

func (s *Server) setMethod(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	var fe formError
	cmd := tenant.SetPaymentMethod{Method: strings.TrimSpace(r.PostFormValue("method")),
		Brand: strings.TrimSpace(r.PostFormValue("brand")), Last4: strings.TrimSpace(r.PostFormValue("last4"))}
	num := func(field string, lo, hi int) int {
		raw := strings.TrimSpace(r.PostFormValue(field))
		if raw == "" {
			return 0
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < lo || n > hi {
			fe.add(field, fmt.Sprintf("Enter a number from %d to %d.", lo, hi))
		}
		return n
	}
	cmd.ExpMonth, cmd.ExpYear = num("exp_month", 1, 12), num("exp_year", 2000, 2100)
	if cmd.Method == "" {
		fe.add("method", "Enter a card (pm_…) or an enterprise agreement (ea:AGREEMENT or ea:AGREEMENT:PO).")
	}
	if cmd.Last4 != "" && (len(cmd.Last4) != 4 || strings.Trim(cmd.Last4, "0123456789") != "") {
		fe.add("last4", "Enter the card's last four digits.")
	}
	again := func(fe formError) { s.creditsAgain(w, r, c, fe, "method", "exp_month", "exp_year", "brand", "last4") }
	if !fe.empty() {
		again(fe)
		return
	}
	if _, err := s.submit(r, c, cmd); err != nil {
		s.refused(w, r, c, err, map[string]string{"Method": "method", "Expiry": "exp_month"}, again)
		return
	}
	s.done(w, r, "/ui/credits", "Payment method saved.")
}
