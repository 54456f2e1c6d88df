package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/report"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
)

// bar is one bar of an inline SVG chart, in the chart's own units (viewBox 0 0 W H).
type bar struct {
	X, Y, W, H float64
	Label      string // under the bar
	Title      string // the tooltip and what a screen reader reads
}

type chart struct {
	Title string
	W, H  float64
	Bars  []bar
	Max   string // the value of the tallest bar
}

const chartW, chartH = 600.0, 160.0

// barChart scales values to bars; labels name each.
func barChart(title string, labels []string, values []int64, format func(int64) string) chart {
	c := chart{Title: title, W: chartW, H: chartH}
	var top int64
	for _, v := range values {
		top = max(top, v)
	}
	c.Max = format(top)
	if len(values) == 0 {
		return c
	}
	step := chartW / float64(len(values))
	for i, v := range values {
		h := 0.0
		if top > 0 {
			h = float64(v) / float64(top) * (chartH - 20)
		}
		b := bar{X: float64(i)*step + step*0.1, W: step * 0.8, H: h, Y: chartH - 20 - h,
			Title: labels[i] + ": " + format(v)}
		if len(values) <= 31 {
			b.Label = labels[i][len(labels[i])-2:]
		}
		c.Bars = append(c.Bars, b)
	}
	return c
}

// Minute pools.

type poolRow struct {
	Key                    plans.PoolKey
	Country, Capability    string
	Description            string
	Total, Used, Available int64 // minutes
	Percent                int64
}

type poolsView struct {
	Month  plans.Month
	Months []plans.Month
	Rows   []poolRow
	Chart  chart
}

func poolDescription(k plans.PoolKey) string {
	switch k.Kind {
	case plans.PoolDomestic:
		return "Domestic calling plan minutes, pooled"
	case plans.PoolInternational:
		return "International calling plan minutes, pooled"
	case plans.PoolDialOut:
		return "Conference dial-out to Zone A, tenant-wide"
	case plans.PoolUser:
		return "Minutes of user " + k.User + ", not pooled"
	}
	return string(k.Kind)
}

func (s *Server) poolsReport(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	now := s.now()
	cur := plans.MonthOf(now)
	m := plans.Month(r.URL.Query().Get("month"))
	var fe formError
	if m == "" {
		m = cur
	} else if _, _, err := m.Bounds(); err != nil {
		fe.add("month", "Choose a month like "+string(cur)+".")
		m = cur
	}
	st, err := s.state(r, c)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	used, err := s.d.Reports.PoolUsage(r.Context(), c.tenant.ID)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	v := poolsView{Month: m}
	seen := map[plans.Month]bool{cur: true}
	v.Months = append(v.Months, cur)
	for _, u := range used {
		if !seen[u.Month] {
			seen[u.Month] = true
			v.Months = append(v.Months, u.Month)
		}
	}
	slices.Sort(v.Months)
	slices.Reverse(v.Months)
	// Sizes come from the directory as it is now (a past month is shown at today's size);
	// use from the stored rows of the month.
	sized := plans.Size(s.catalog(), m, st.Dir.Principals(), s.d.Env.Pools)
	useOf := map[plans.PoolKey]int64{}
	for _, u := range used {
		if u.Month == m {
			useOf[u.Key] = u.Used + u.Held
		}
	}
	keys := map[plans.PoolKey]int64{}
	for _, e := range sized.All() {
		keys[e.Key] = e.TotalSeconds
	}
	for k := range useOf {
		if _, ok := keys[k]; !ok {
			keys[k] = 0
		}
	}
	for k, total := range keys {
		u := useOf[k]
		row := poolRow{Key: k, Country: k.Country, Capability: k.Plan, Description: poolDescription(k),
			Total: total / 60, Used: u / 60, Available: max(total-u, 0) / 60}
		if k.Kind == plans.PoolDialOut {
			row.Capability = "MCOMEETADD"
		}
		if total > 0 {
			row.Percent = u * 100 / total
		}
		v.Rows = append(v.Rows, row)
	}
	sort.Slice(v.Rows, func(i, j int) bool { return v.Rows[i].Key.String() < v.Rows[j].Key.String() })
	var labels []string
	var pct []int64
	for _, row := range v.Rows {
		labels = append(labels, row.Key.String()+"  ")
		pct = append(pct, row.Percent)
	}
	v.Chart = barChart("Percent used per pool, "+string(m), labels, pct, func(n int64) string { return fmt.Sprintf("%d%%", n) })
	for i := range v.Chart.Bars {
		v.Chart.Bars[i].Label = ""
	}
	code := http.StatusOK
	if !fe.empty() {
		code = http.StatusUnprocessableEntity
	}
	s.render(w, r, c, code, "pools", view{Title: "Minute pools", Active: "pools", D: v, Errors: fe.Fields,
		Form: url.Values{"month": {string(m)}}})
}

// Blocked users.

type blockedRow struct {
	charging.BlockEvent
	DisplayName string
}

type blockedView struct {
	Events   []blockedRow
	Refusals []tenant.Refusal
}

func (s *Server) blockedReport(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	st, err := s.state(r, c)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	evs, err := s.d.Reports.BlockEvents(r.Context(), c.tenant.ID)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	refs, err := s.d.Reports.Refusals(r.Context(), c.tenant.ID)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	var v blockedView
	for i := len(evs) - 1; i >= 0; i-- {
		row := blockedRow{BlockEvent: evs[i], DisplayName: evs[i].User}
		if u := st.Dir.Users[evs[i].User]; u != nil && u.DisplayName != "" {
			row.DisplayName = u.DisplayName
		}
		v.Events = append(v.Events, row)
	}
	for i := len(refs) - 1; i >= 0 && len(v.Refusals) < 100; i-- {
		v.Refusals = append(v.Refusals, refs[i])
	}
	s.render(w, r, c, http.StatusOK, "blocked", view{Title: "Blocked users", Active: "blocked", D: v})
}

// PSTN usage.

// mask hides the last digits of an external number for a tenant of country cc; how many is
// the report engine's table (domain §8), so the page and the exports mask alike.
func mask(number, cc string) string {
	n := report.MaskDigits[cc]
	if n == 0 || len(number) <= n {
		return number
	}
	return number[:len(number)-n] + strings.Repeat("X", n)
}

// usageFilter is the usage page's filter (domain §8): calls started in [From, To).
type usageFilter struct {
	From, To   time.Time
	User       string
	CallType   string
	Capability string
}

type usageRow struct {
	store.UsageRecord
	Caller, Destination string
}

// usageRowsShown bounds the table; the totals and charts count every call in the range.
const usageRowsShown = 1000

type usageView struct {
	Rows       []usageRow
	Cur        money.Currency
	Calls      int
	Charges    money.Amount
	CallsChart chart
	MoneyChart chart
	Users      []*directory.User
	CallTypes  []string
	Caps       []string
	ZipURL     string
	XLSXURL    string
	CSVURL     string
}

func (s *Server) usageReport(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	now := s.now()
	q := r.URL.Query()
	var fe formError
	day := func(field string, def time.Time) time.Time {
		raw := strings.TrimSpace(q.Get(field))
		if raw == "" {
			return def
		}
		t, err := time.Parse("2006-01-02", raw)
		if err != nil {
			fe.add(field, fmt.Sprintf("%q is not a date: write it as YYYY-MM-DD.", raw))
			return def
		}
		return t
	}
	today := now.Truncate(24 * time.Hour)
	from := day("from", today.AddDate(0, 0, -29))
	to := day("to", today)
	if from.Before(today.AddDate(-1, 0, 0)) {
		fe.add("from", "The report goes back one year at most.")
		from = today.AddDate(-1, 0, 0)
	}
	if to.Before(from) {
		fe.add("to", "The end date is before the start date.")
		to = from
	}
	f := usageFilter{From: from, To: to.AddDate(0, 0, 1), User: q.Get("user"), CallType: q.Get("call_type"), Capability: q.Get("capability")}
	st, err := s.state(r, c)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	rows, err := s.d.Reports.Usage(r.Context(), c.tenant.ID)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	v := usageView{Cur: c.cur(), Users: sortedUsers(st.Dir, nil)}
	types, caps := map[string]bool{}, map[string]bool{}
	days := int(f.To.Sub(f.From).Hours() / 24)
	calls, charges := make([]int64, days), make([]int64, days)
	cc := st.Dir.BillingCountry
	for _, u := range rows {
		types[u.CallType], caps[u.Capability] = true, true
		if u.Start.Before(f.From) || !u.Start.Before(f.To) || (f.User != "" && u.UserID != f.User) ||
			(f.CallType != "" && u.CallType != f.CallType) || (f.Capability != "" && u.Capability != f.Capability) {
			continue
		}
		row := usageRow{UsageRecord: u, Caller: u.CallerID, Destination: u.DestinationNumber}
		if _, ours := st.Dir.Numbers[u.CallerID]; !ours {
			row.Caller = mask(u.CallerID, cc)
		}
		if _, ours := st.Dir.Numbers[u.DestinationNumber]; !ours {
			row.Destination = mask(u.DestinationNumber, cc)
		}
		if len(v.Rows) < usageRowsShown {
			v.Rows = append(v.Rows, row)
		}
		v.Calls++
		v.Charges += u.Charge
		i := int(u.Start.Sub(f.From).Hours() / 24)
		calls[i]++
		charges[i] += int64(u.Charge)
	}
	for k := range types {
		v.CallTypes = append(v.CallTypes, k)
	}
	for k := range caps {
		v.Caps = append(v.Caps, k)
	}
	slices.Sort(v.CallTypes)
	slices.Sort(v.Caps)
	labels := make([]string, days)
	for i := range labels {
		labels[i] = f.From.AddDate(0, 0, i).Format("2006-01-02")
	}
	v.CallsChart = barChart("Calls per day", labels, calls, func(n int64) string { return fmt.Sprint(n) })
	v.MoneyChart = barChart("Charges per day ("+v.Cur.Code+")", labels, charges,
		func(n int64) string { return money.Amount(n).Format(v.Cur) })
	form := url.Values{"from": {from.Format("2006-01-02")}, "to": {to.Format("2006-01-02")}, "user": {f.User},
		"call_type": {f.CallType}, "capability": {f.Capability}}
	v.ZipURL, v.XLSXURL, v.CSVURL = exportURL("zip", form), exportURL("xlsx", form), exportURL("csv", form)
	code := http.StatusOK
	if !fe.empty() {
		code = http.StatusUnprocessableEntity
	}
	s.render(w, r, c, code, "usage", view{Title: "PSTN usage", Active: "usage", D: v, Errors: fe.Fields, Form: form})
}

// Credits statement.

type statementView struct {
	Cur         money.Currency
	Account     *ledger.Account
	Entries     []ledger.Entry
	Lots        []ledger.Lot
	Forfeited   money.Amount
	ExpiringSum money.Amount
	More        bool
}

// statementMax bounds the entries on one page.
const statementMax = 2000

func (s *Server) statementReport(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	a, err := s.d.Store.Account(r.Context(), c.tenant.ID)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	es, err := s.d.Store.Entries(r.Context(), c.tenant.ID, 0, statementMax+1)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	lots, err := s.d.Store.Lots(r.Context(), c.tenant.ID)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	v := statementView{Cur: a.Currency, Account: a, Lots: lots}
	if len(es) > statementMax {
		es, v.More = es[:statementMax], true
	}
	v.Entries = es
	now := s.now()
	for _, l := range lots {
		v.Forfeited += l.Forfeited
		if expiringSoon(l, now) {
			v.ExpiringSum += l.Remaining
		}
	}
	s.render(w, r, c, http.StatusOK, "statement", view{Title: "Credits statement", Active: "statement", D: v})
}

// Contacts and webhooks.

// Deps.Contacts is never nil here: New puts the directory's contacts in when none is given.

func (s *Server) contactsPage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	list, err := s.d.Contacts.Contacts(r.Context(), c.tenant.ID)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	s.render(w, r, c, http.StatusOK, "contacts", view{Title: "Notification contacts", Active: "contacts", D: list})
}

// contactsRefused shows the contacts again after a refused change, with fe's messages.
func (s *Server) contactsRefused(w http.ResponseWriter, r *http.Request, c *reqCtx, fe formError, form url.Values) {
	list, _ := s.d.Contacts.Contacts(r.Context(), c.tenant.ID)
	s.render(w, r, c, http.StatusUnprocessableEntity, "contacts", view{Title: "Notification contacts", Active: "contacts",
		D: list, Form: form, Errors: fe.Fields, Flash: nothingChanged(fe)})
}

func (s *Server) contactAdd(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	email, err := NormalizeEmail(r.PostFormValue("email"))
	if err == nil {
		err = s.d.Contacts.AddContact(r.Context(), c.tenant.ID, Contact{Email: email, Name: strings.TrimSpace(r.PostFormValue("name"))})
	}
	if err != nil {
		fe, known := explain(err, map[string]string{"email": "email", "name": "name"})
		if !known {
			fe = formError{Fields: map[string]string{"email": upperFirst(err.Error()) + "."}}
		}
		s.contactsRefused(w, r, c, fe, r.PostForm)
		return
	}
	s.done(w, r, "/ui/contacts", "Contact "+email+" added.")
}

func (s *Server) contactRemove(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	email := r.PostFormValue("email")
	if err := s.d.Contacts.RemoveContact(r.Context(), c.tenant.ID, email); err != nil {
		// A bad or unknown address is the sender's mistake, not a 500.
		fe, known := explain(err, map[string]string{"email": "email"})
		if !known {
			s.fail(w, r, c, err)
			return
		}
		s.contactsRefused(w, r, c, fe, nil)
		return
	}
	s.done(w, r, "/ui/contacts", "Contact "+email+" removed.")
}

func (s *Server) webhookResend(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if s.d.Webhooks == nil {
		s.render(w, r, c, http.StatusNotFound, "error", view{Title: "Not available", D: "Webhooks are not managed on this server."})
		return
	}
	id := r.PostFormValue("delivery")
	if err := s.d.Webhooks.Resend(r.Context(), c.tenant.ID, id); err != nil {
		s.fail(w, r, c, err)
		return
	}
	s.done(w, r, "/ui/webhooks", "Delivery "+id+" queued again.")
}
