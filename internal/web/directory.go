package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/tenant"
)

type usersView struct {
	Users    []*directory.User
	Total    int
	Q        string
	Licence  string
	Licences []string // codes of the catalog, for the filter and the hints
	CSVErrs  []string
	Rows     int // rows of an applied CSV
}

func (s *Server) catalog() *plans.Catalog {
	if s.d.Env.Catalog != nil {
		return s.d.Env.Catalog
	}
	return plans.Default()
}

func (s *Server) state(r *http.Request, c *reqCtx) (*tenant.State, error) {
	return s.d.Store.State(r.Context(), c.tenant.ID, s.now())
}

// stateRender renders page (its nav key too) with the view build makes of the tenant's
// state, fe's messages and form.
func (s *Server) stateRender(w http.ResponseWriter, r *http.Request, c *reqCtx, code int, fe formError, form url.Values,
	page, title string, build func(*tenant.State) any) {
	st, err := s.state(r, c)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	s.render(w, r, c, code, page, view{Title: title, Active: page, D: build(st), Errors: fe.Fields, Form: form,
		Flash: pageFlash(code, fe)})
}

func sortedUsers(d *directory.Directory, keep func(*directory.User) bool) []*directory.User {
	var out []*directory.User
	for _, u := range d.Users {
		if keep == nil || keep(u) {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	s.usersRender(w, r, c, http.StatusOK, formError{}, usersView{}, nil)
}

func (s *Server) usersRender(w http.ResponseWriter, r *http.Request, c *reqCtx, code int, fe formError, v usersView, form url.Values) {
	st, err := s.state(r, c)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	q := r.URL.Query()
	v.Q, v.Licence = strings.TrimSpace(q.Get("q")), strings.ToUpper(strings.TrimSpace(q.Get("licence")))
	needle := strings.ToLower(v.Q)
	v.Total = len(st.Dir.Users)
	v.Users = sortedUsers(st.Dir, func(u *directory.User) bool {
		if v.Licence != "" && !u.Has(v.Licence) {
			return false
		}
		return needle == "" || strings.Contains(strings.ToLower(u.ID+" "+u.DisplayName+" "+u.UPN), needle)
	})
	for _, p := range s.catalog().Plans() {
		v.Licences = append(v.Licences, p.Code)
	}
	slices.Sort(v.Licences)
	flash := strings.Join(fe.General, " ")
	if code != http.StatusOK && flash == "" {
		flash = nothingChanged(fe)
	}
	s.render(w, r, c, code, "users", view{Title: "Users and licences", Active: "users", D: v, Errors: fe.Fields,
		Form: form, Flash: flash})
}

func codes(raw string) []string {
	return strings.FieldsFunc(strings.ToUpper(raw), func(r rune) bool { return r == ';' || r == ',' || r == ' ' || r == '\t' })
}

func (s *Server) putUser(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	f := r.PostForm
	u := directory.User{ID: strings.TrimSpace(f.Get("id")), DisplayName: strings.TrimSpace(f.Get("display_name")),
		UPN: strings.TrimSpace(f.Get("upn")), Kind: f.Get("kind"), UsageLocation: strings.TrimSpace(f.Get("usage_location")),
		Licences: codes(f.Get("licences"))}
	again := func(fe formError) { s.usersRender(w, r, c, http.StatusUnprocessableEntity, fe, usersView{}, f) }
	var fe formError
	if u.ID == "" {
		fe.add("id", "Enter an id.")
	}
	if st, err := s.state(r, c); err == nil && st.Dir.Users[u.ID] != nil {
		// PutUser replaces every field: the forms below change an existing user's parts.
		fe.add("id", "A user with this id exists already.")
	}
	if !fe.empty() {
		again(fe)
		return
	}
	if _, err := s.submit(r, c, directory.PutUser{User: u}); err != nil {
		s.refused(w, r, c, err, map[string]string{"id": "id", "display_name": "display_name", "upn": "upn", "kind": "kind",
			"usage_location": "usage_location", "licences": "licences"}, again)
		return
	}
	s.done(w, r, "/ui/users", "Added "+u.ID+".")
}

func (s *Server) assignLicences(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	f := r.PostForm
	cmd := directory.AssignLicences{UserIDs: f["user"], Add: codes(f.Get("add")), Remove: codes(f.Get("remove"))}
	again := func(fe formError) { s.usersRender(w, r, c, http.StatusUnprocessableEntity, fe, usersView{}, f) }
	var fe formError
	if len(cmd.UserIDs) == 0 {
		fe.add("user", "Select at least one user in the table.")
	}
	if len(cmd.Add)+len(cmd.Remove) == 0 {
		fe.add("add", "Enter a licence to add or to remove.")
	}
	if !fe.empty() {
		again(fe)
		return
	}
	if _, err := s.submit(r, c, cmd); err != nil {
		s.refused(w, r, c, err, map[string]string{"add": "add", "remove": "remove", "user_ids": "user"}, again)
		return
	}
	s.done(w, r, "/ui/users", fmt.Sprintf("Licences changed for %d user(s).", len(cmd.UserIDs)))
}

// licenceCSV applies a bulk licence CSV all or nothing. Every bad row is listed: first the
// rows that do not parse, then, checked against the directory as it is, the rows the engine
// would refuse. Only a file with no bad row is sent to the writer, which checks it again.
func (s *Server) licenceCSV(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	data := []byte(r.PostFormValue("csv_text"))
	if file, _, err := r.FormFile("csv"); err == nil {
		b, err := io.ReadAll(io.LimitReader(file, maxForm))
		file.Close()
		if err == nil && len(b) > 0 {
			data = b
		}
	}
	v := usersView{}
	again := func(fe formError) {
		v.CSVErrs = append(v.CSVErrs, fe.General...)
		for _, m := range fe.Fields {
			v.CSVErrs = append(v.CSVErrs, m)
		}
		s.usersRender(w, r, c, http.StatusUnprocessableEntity, formError{General: []string{"Nothing was changed: the CSV has errors, listed below."}},
			v, url.Values{"csv_text": {string(data)}})
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		again(formError{General: []string{"Choose a CSV file or paste its lines."}})
		return
	}
	rows, err := directory.ParseLicenceCSV(data)
	var ce *directory.CSVErrors
	if errors.As(err, &ce) {
		var fe formError
		for _, e := range ce.List {
			fe.add("", e.Error()+".")
		}
		if ce.Omitted > 0 {
			fe.add("", fmt.Sprintf("… and %d more.", ce.Omitted))
		}
		again(fe)
		return
	} else if err != nil {
		again(formError{General: []string{err.Error()}})
		return
	}
	st, err := s.state(r, c)
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	env := directory.Env{Catalog: s.catalog(), CreditsSetUp: st.CreditsSetUp()}
	dir := st.Dir.Clone()
	var fe formError
	for _, row := range rows {
		if _, err := directory.Apply(dir, directory.AssignLicenceRows{Rows: []directory.LicenceRow{row}}, env); err != nil {
			fe.add("", strings.Replace(err.Error(), "rows[0].", "", 1)+".")
		}
	}
	if !fe.empty() {
		again(fe)
		return
	}
	if _, err := s.submit(r, c, directory.AssignLicenceRows{Rows: rows}); err != nil {
		s.refused(w, r, c, err, nil, again)
		return
	}
	s.done(w, r, "/ui/users", fmt.Sprintf("Licence CSV applied: %d row(s).", len(rows)))
}

func (s *Server) setLocation(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	f := r.PostForm
	again := func(fe formError) { s.usersRender(w, r, c, http.StatusUnprocessableEntity, fe, usersView{}, f) }
	cmd := directory.SetUsageLocation{UserID: f.Get("loc_user"), Country: strings.ToUpper(strings.TrimSpace(f.Get("country")))}
	if _, err := s.submit(r, c, cmd); err != nil {
		s.refused(w, r, c, err, map[string]string{"user_id": "loc_user", "usage_location": "country"}, again)
		return
	}
	s.done(w, r, "/ui/users", "Usage location of "+cmd.UserID+" set to "+cmd.Country+".")
}

// Numbers.

type numbersView struct {
	Numbers []directory.Number
	Users   []*directory.User
	SetUp   bool
}

func (s *Server) numbersPage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	s.numbersRender(w, r, c, http.StatusOK, formError{}, nil)
}

func (s *Server) numbersRender(w http.ResponseWriter, r *http.Request, c *reqCtx, code int, fe formError, form url.Values) {
	s.stateRender(w, r, c, code, fe, form, "numbers", "Phone numbers", func(st *tenant.State) any {
		v := numbersView{Users: sortedUsers(st.Dir, nil), SetUp: st.CreditsSetUp()}
		for _, n := range st.Dir.Numbers {
			v.Numbers = append(v.Numbers, *n)
		}
		sort.Slice(v.Numbers, func(i, j int) bool { return v.Numbers[i].E164 < v.Numbers[j].E164 })
		return v
	})
}

func (s *Server) numberChange(w http.ResponseWriter, r *http.Request, c *reqCtx, cmd tenant.Command, fields map[string]string, back, msg string) {
	again := func(fe formError) {
		if back == "/ui/bridge" {
			s.bridgeRender(w, r, c, http.StatusUnprocessableEntity, fe, r.PostForm)
			return
		}
		s.numbersRender(w, r, c, http.StatusUnprocessableEntity, fe, r.PostForm)
	}
	if _, err := s.submit(r, c, cmd); err != nil {
		s.refused(w, r, c, err, fields, again)
		return
	}
	s.done(w, r, back, msg)
}

func back(r *http.Request) string {
	if r.PostFormValue("back") == "bridge" {
		return "/ui/bridge"
	}
	return "/ui/numbers"
}

func (s *Server) acquireNumber(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	f := r.PostForm
	cmd := directory.AcquireNumber{E164: strings.TrimSpace(f.Get("e164")), Kind: f.Get("kind"), Service: f.Get("service")}
	if cmd.Kind == directory.NumberUser {
		cmd.Service = ""
	}
	s.numberChange(w, r, c, cmd, map[string]string{"e164": "e164", "kind": "kind", "service": "service"}, back(r),
		"Number "+cmd.E164+" acquired.")
}

func (s *Server) assignNumber(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	cmd := directory.AssignNumber{E164: r.PostFormValue("assign_e164"), To: r.PostFormValue("to")}
	s.numberChange(w, r, c, cmd, map[string]string{"e164": "assign_e164", "to": "to"}, back(r),
		"Number "+cmd.E164+" assigned to "+cmd.To+".")
}

func (s *Server) unassignNumber(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	cmd := directory.UnassignNumber{E164: r.PostFormValue("e164")}
	s.numberChange(w, r, c, cmd, nil, back(r), "Number "+cmd.E164+" unassigned.")
}

func (s *Server) releaseNumber(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	cmd := directory.ReleaseNumber{E164: r.PostFormValue("e164")}
	s.numberChange(w, r, c, cmd, nil, back(r), "Number "+cmd.E164+" released.")
}

// Bridge.

type bridgeView struct {
	Bridge     []directory.Number
	Free       []directory.Number // free service numbers that could join the bridge
	Organizers []*directory.User
	SetUp      bool
}

func (s *Server) bridgePage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	s.bridgeRender(w, r, c, http.StatusOK, formError{}, nil)
}

func (s *Server) bridgeRender(w http.ResponseWriter, r *http.Request, c *reqCtx, code int, fe formError, form url.Values) {
	s.stateRender(w, r, c, code, fe, form, "bridge", "Conferencing bridge", func(st *tenant.State) any {
		v := bridgeView{Bridge: st.Dir.Bridge(), SetUp: st.CreditsSetUp(),
			Organizers: sortedUsers(st.Dir, func(u *directory.User) bool { return u.Kind == directory.KindUser })}
		for _, n := range st.Dir.Numbers {
			if n.Kind == directory.NumberService && n.AssignedTo == "" {
				v.Free = append(v.Free, *n)
			}
		}
		sort.Slice(v.Free, func(i, j int) bool { return v.Free[i].E164 < v.Free[j].E164 })
		return v
	})
}

func (s *Server) setTollFree(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	cmd := directory.SetTollFreeDialIn{OrganizerID: r.PostFormValue("organizer"), Disabled: r.PostFormValue("disabled") == "true"}
	state := "on"
	if cmd.Disabled {
		state = "off"
	}
	s.numberChange(w, r, c, cmd, nil, "/ui/bridge", "Toll-free dial-in "+state+" for meetings of "+cmd.OrganizerID+".")
}

// Policies and spend limits.

type policyRow struct {
	*directory.User
	Spent money.Amount
}

type policiesView struct {
	Rows  []policyRow
	Month plans.Month
	Cur   money.Currency
}

func (s *Server) policiesPage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	s.policiesRender(w, r, c, http.StatusOK, formError{}, nil)
}

func (s *Server) policiesRender(w http.ResponseWriter, r *http.Request, c *reqCtx, code int, fe formError, form url.Values) {
	s.stateRender(w, r, c, code, fe, form, "policies", "Dial-out policies and spend limits", func(st *tenant.State) any {
		m := plans.MonthOf(s.now())
		v := policiesView{Month: m, Cur: c.cur()}
		for _, u := range sortedUsers(st.Dir, nil) {
			v.Rows = append(v.Rows, policyRow{User: u, Spent: st.Spend[tenant.SpendRef{Month: m, User: u.ID}]})
		}
		return v
	})
}

func (s *Server) setPolicies(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	f := r.PostForm
	again := func(fe formError) { s.policiesRender(w, r, c, http.StatusUnprocessableEntity, fe, f) }
	var fe formError
	user := f.Get("user")
	limit := parseAmount(&fe, "spend_limit", f.Get("spend_limit"), c.cur(), true, false)
	conf, pstn := f.Get("conf_dial_out"), f.Get("pstn")
	if !fe.empty() {
		again(fe)
		return
	}
	fields := map[string]string{"user_id": "user", "conf_dial_out": "conf_dial_out", "pstn": "pstn", "spend_limit": "spend_limit"}
	// One command: the policies and the limit are saved together or not at all.
	cmd := directory.SetPolicies{UserID: user, ConfDialOut: &conf, PSTN: &pstn, SpendLimit: &limit}
	if _, err := s.d.Writer.Submit(r.Context(), c.tenant.ID, formKey(r), cmd); err != nil {
		s.refused(w, r, c, err, fields, again)
		return
	}
	msg := "Policies of " + user + " saved"
	if limit > 0 {
		msg += "; spend limit " + withCode(limit, c.cur()) + " a month."
	} else {
		msg += "; no spend limit."
	}
	s.done(w, r, "/ui/policies", msg)
}
