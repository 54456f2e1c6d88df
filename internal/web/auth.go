package web

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/store"
)

// signinView is the sign-in page's data.
type signinView struct {
	Message string // why the visitor is here (expired session, signed out)
	Error   string
	Token   string // a link's token, on the page that spends it
	Sent    bool
	Next    string // the page to go to after signing in
}

// preToken returns the sign-in forms' CSRF token, setting its cookie when new. Before a
// session exists the token is double-submitted: the cookie and the form field must match.
func (s *Server) preToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(preCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	t := token(32)
	s.setCookie(w, preCookie, t, 3600)
	return t
}

func (s *Server) preCheck(r *http.Request) bool {
	c, err := r.Cookie(preCookie)
	return err == nil && sameToken(r.PostFormValue("csrf"), c.Value)
}

// preForm reads a sign-in form and checks its token; on failure it has answered with the
// sign-in page saying refused.
func (s *Server) preForm(w http.ResponseWriter, r *http.Request, refused string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || !s.preCheck(r) {
		s.signinForm(w, r, http.StatusForbidden, signinView{Error: refused}, nil)
		return false
	}
	return true
}

const tokenRefused = "The form's security token is missing or wrong. Try again."

func (s *Server) signinForm(w http.ResponseWriter, r *http.Request, code int, v signinView, form url.Values) {
	s.render(w, r, nil, code, "signin", view{Title: "Sign in", CSRF: s.preToken(w, r), D: v, Form: form})
}

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	var v signinView
	switch {
	case r.URL.Query().Get("expired") != "":
		v.Message = "Your session has expired. Sign in again."
	case r.URL.Query().Get("out") != "":
		v.Message = "You are signed out."
	}
	v.Next = localPath(r.URL.Query().Get("next"))
	s.signinForm(w, r, http.StatusOK, v, nil)
}

func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	if !s.preForm(w, r, tokenRefused) {
		return
	}
	acc, err := s.acc.Authenticate(r.Context(), r.PostFormValue("email"), r.PostFormValue("password"))
	if err != nil {
		if !errors.Is(err, ErrBadCredentials) {
			s.log.Error("web: sign-in", "err", err)
		}
		form := url.Values{"email": {r.PostFormValue("email")}}
		s.signinForm(w, r, http.StatusUnauthorized, signinView{Error: "The email or the password is wrong.",
			Next: localPath(r.PostFormValue("next"))}, form)
		return
	}
	s.startSession(w, r, acc, localPath(r.PostFormValue("next")))
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, acc Account, next string) {
	cookie, _, err := s.acc.StartSession(r.Context(), acc)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.setCookie(w, sessionCookie, cookie, int(SessionTTL.Seconds()))
	s.setCookie(w, preCookie, "", -1)
	s.log.Info("web: signed in", "account", acc.ID, "role", acc.Role)
	if next == "" {
		next = "/ui/"
	}
	s.done(w, r, next, "Signed in as "+acc.Email+".")
}

// requestLink sends a one-time sign-in link. The answer is the same whether or not the
// address has an account, so the form tells no one who has one.
func (s *Server) requestLink(w http.ResponseWriter, r *http.Request) {
	if !s.preForm(w, r, tokenRefused) {
		return
	}
	email := r.PostFormValue("link_email")
	addr, err := NormalizeEmail(email)
	if err != nil {
		s.render(w, r, nil, http.StatusUnprocessableEntity, "signin", view{Title: "Sign in", CSRF: s.preToken(w, r),
			Errors: map[string]string{"link_email": "Enter an email address, like name@example.com."},
			Form:   url.Values{"link_email": {email}}, D: signinView{}})
		return
	}
	t, _, err := s.acc.NewLink(r.Context(), addr)
	if err == nil {
		err = s.d.Links.SendLink(r.Context(), addr, s.linkURL(r, t))
		if err != nil {
			s.log.Error("web: send sign-in link", "err", err)
		}
	}
	s.signinForm(w, r, http.StatusOK, signinView{Sent: true}, nil)
}

// LinkURL is the address of a sign-in link with token t under base ("https://host").
func LinkURL(base, t string) string {
	return strings.TrimRight(base, "/") + "/ui/signin/link?token=" + url.QueryEscape(t)
}

func (s *Server) linkURL(r *http.Request, t string) string {
	base := s.d.BaseURL
	if base == "" {
		// Without a configured address: HTTPS unless this request plainly is not (a proxy
		// says http, or a loopback address served without TLS).
		scheme := "https"
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		switch p := r.Header.Get("X-Forwarded-Proto"); {
		case r.TLS != nil:
		case p == "http" || p == "https":
			scheme = p
		case host == "localhost" || net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback():
			scheme = "http"
		}
		base = scheme + "://" + r.Host
	}
	return LinkURL(base, t)
}

// linkPage shows a button that spends the link: mail scanners that fetch links must not
// use up the one sign-in.
func (s *Server) linkPage(w http.ResponseWriter, r *http.Request) {
	s.signinForm(w, r, http.StatusOK, signinView{Token: r.URL.Query().Get("token")}, nil)
}

func (s *Server) useLink(w http.ResponseWriter, r *http.Request) {
	if !s.preForm(w, r, "The form's security token is missing or wrong. Open the link again.") {
		return
	}
	acc, err := s.acc.UseLink(r.Context(), r.PostFormValue("token"))
	if err != nil {
		if !errors.Is(err, ErrLinkInvalid) {
			s.log.Error("web: sign-in link", "err", err)
		}
		s.signinForm(w, r, http.StatusUnauthorized, signinView{Error: "This sign-in link is invalid, already used or expired (links last 15 minutes). Ask for a new one."}, nil)
		return
	}
	s.startSession(w, r, acc, "")
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	c, ok := s.session(w, r, anyRole, false)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil || !sameToken(r.PostFormValue("csrf"), c.sess.CSRF) {
		s.csrfFailed(w, r, c)
		return
	}
	if err := s.acc.EndSession(r.Context(), c.cookie); err != nil {
		s.fail(w, r, c, err)
		return
	}
	s.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/ui/signin?out=1", http.StatusSeeOther)
}

// tenantsPage lets an operator pick the tenant to work on.
func (s *Server) tenantsPage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	ts, err := s.d.Store.Tenants(r.Context())
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	s.render(w, r, c, http.StatusOK, "tenants", view{Title: "Tenants", Active: "tenants", D: ts})
}

func (s *Server) switchTenant(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	id := r.PostFormValue("tenant")
	t, err := s.d.Store.Tenant(r.Context(), id)
	if err != nil {
		ts, _ := s.d.Store.Tenants(r.Context())
		s.render(w, r, c, http.StatusUnprocessableEntity, "tenants", view{Title: "Tenants", Active: "tenants", D: ts,
			Errors: map[string]string{"tenant": "There is no tenant " + id + "."}})
		return
	}
	if err := s.acc.SetTenant(r.Context(), c.sess, t.ID); err != nil {
		s.fail(w, r, c, err)
		return
	}
	s.done(w, r, "/ui/", "Now working on "+t.Name+" ("+t.ID+").")
}

// createTenant adds a tenant (operators only): an id, a name and its one currency.
func (s *Server) createTenant(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	f := r.PostForm
	id, name := strings.TrimSpace(f.Get("new_id")), strings.TrimSpace(f.Get("new_name"))
	var fe formError
	if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		fe.add("new_id", "Use 1 to 64 lower-case letters, digits, - or _.")
	}
	if name == "" {
		fe.add("new_name", "Enter a name.")
	}
	cur, err := money.LookupCurrency(strings.ToUpper(strings.TrimSpace(f.Get("new_currency"))))
	if err != nil {
		fe.add("new_currency", "Enter an ISO 4217 currency code, e.g. USD.")
	}
	if fe.empty() {
		err = s.d.Store.CreateTenant(r.Context(), store.Tenant{ID: id, Name: name, Currency: cur, CreatedAt: s.now()})
		if errors.Is(err, store.ErrExists) {
			fe.add("new_id", "A tenant with this id exists already.")
		} else if err != nil {
			s.fail(w, r, c, err)
			return
		}
	}
	if !fe.empty() {
		ts, _ := s.d.Store.Tenants(r.Context())
		s.render(w, r, c, http.StatusUnprocessableEntity, "tenants", view{Title: "Tenants", Active: "tenants", D: ts,
			Errors: fe.Fields, Form: f, Flash: "Nothing was changed."})
		return
	}
	if err := s.acc.SetTenant(r.Context(), c.sess, id); err != nil {
		s.fail(w, r, c, err)
		return
	}
	s.done(w, r, "/ui/credits", "Tenant "+name+" ("+id+") created; you are working on it now.")
}
