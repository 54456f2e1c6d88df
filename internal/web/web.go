// Package web is the admin web UI served by `commcredits serve` under /ui/: sign-in
// (password or one-time link) for operators and tenant admins, sessions in the database,
// CSRF tokens on every form, and server-rendered pages for the admin operations of domain
// §9. Pages read committed state from the store; every change goes through the writer as
// the same tenant and directory commands the engine applies, so the engine's own checks and
// messages are the page's. Templates and assets are embedded; forms work without
// JavaScript (docs/web.md).
package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Submitter is the writer as the pages use it (*writer.Writer satisfies it).
type Submitter interface {
	Submit(ctx context.Context, tenantID, key string, cmd tenant.Command) (tenant.Result, error)
}

// LinkSender delivers a one-time sign-in link to an email address.
type LinkSender interface {
	SendLink(ctx context.Context, email, link string) error
}

// NoLinks sends no sign-in link: there is no mail relay, and a logged link would sign in
// whoever reads the log. The sign-in page answers as usual; the link is not delivered.
type NoLinks struct{}

// ErrNoMailRelay is NoLinks' answer.
var ErrNoMailRelay = errors.New("no SMTP relay configured (--smtp-host): sign-in links cannot be mailed; an operator prints one with `commcredits account link`")

// SendLink implements LinkSender.
func (NoLinks) SendLink(context.Context, string, string) error { return ErrNoMailRelay }

// LogLinks logs sign-in links instead of mailing them (development, tests).
type LogLinks struct{ Log *slog.Logger }

// SendLink implements LinkSender.
func (l LogLinks) SendLink(_ context.Context, email, link string) error {
	l.Log.Info("web sign-in link", "email", email, "link", link)
	return nil
}

// Deps are what the pages need.
type Deps struct {
	DB     *db.DB     // required: accounts and sessions
	Store  *store.SQL // required
	Writer Submitter  // required
	Env    *tenant.Env
	Logger *slog.Logger
	Now    func() time.Time // default time.Now
	Links  LinkSender       // default LogLinks
	// BaseURL prefixes sign-in links ("https://credits.example.com"); default the request's host.
	BaseURL string
	// InsecureCookies drops the Secure flag (plain HTTP other than localhost).
	InsecureCookies bool
	// Pages backed by other packages. Nil: reports, contacts and receipts from the store and
	// the directory; webhook endpoints from the directory, without a delivery log.
	Contacts ContactSource
	Webhooks WebhookSource
	Receipts ReceiptSource
	Reports  ReportSource
}

// Server serves the pages.
type Server struct {
	d     Deps
	acc   *Accounts
	log   *slog.Logger
	pages map[string]*template.Template
	menu  []menuPage
}

// New builds the web UI.
func New(d Deps) (*Server, error) {
	if d.DB == nil || d.Store == nil || d.Writer == nil {
		return nil, errors.New("web: DB, Store and Writer are required")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Env == nil {
		d.Env = &tenant.Env{}
	}
	if d.Links == nil {
		d.Links = LogLinks{Log: d.Logger}
	}
	if d.Reports == nil {
		d.Reports = storeReports{d.Store}
	}
	if d.Contacts == nil {
		d.Contacts = dirContacts{st: d.Store, w: d.Writer, now: d.Now}
	}
	if d.Receipts == nil {
		d.Receipts = storeReceipts{d.Store}
	}
	s := &Server{d: d, acc: NewAccounts(d.DB, d.Now), log: d.Logger, pages: map[string]*template.Template{}}
	s.menu = s.menuPages()
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		s.pages[strings.TrimSuffix(base, ".html")] = t
	}
	return s, nil
}

// Accounts returns the account store (the CLI creates the first account with it).
func (s *Server) Accounts() *Accounts { return s.acc }

// Mux is where the pages are mounted (*http.ServeMux and *api.Server satisfy it).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Mount registers every page on m under /ui/, and / redirecting there.
func (s *Server) Mount(m Mux) {
	static, _ := fs.Sub(assets, "static")
	m.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", staticHandler(http.FileServerFS(static))))
	m.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusSeeOther))
	h := func(pattern string, fn http.HandlerFunc) { m.Handle(pattern, s.headers(fn)) }

	h("GET /ui/signin", s.signinPage)
	h("POST /ui/signin", s.signin)
	h("POST /ui/signin/link", s.requestLink)
	h("GET /ui/signin/link", s.linkPage)
	h("POST /ui/signin/link/use", s.useLink)
	h("POST /ui/signout", s.signout)

	h("GET /ui/{$}", s.page(anyRole, false, func(w http.ResponseWriter, r *http.Request, c *reqCtx) {
		dest := "/ui/credits"
		if !can(c.sess.Account.Role, permCredits) {
			dest = "/ui/reports/pools"
		}
		http.Redirect(w, r, dest, http.StatusSeeOther)
	}))
	for _, p := range s.menu {
		h("GET "+p.href, s.page(p.allowed, !p.noTenant, p.fn))
	}
	h("POST /ui/tenants/switch", s.post([]string{RoleOperator}, false, s.switchTenant))
	h("POST /ui/tenants", s.post([]string{RoleOperator}, false, s.createTenant))

	h("POST /ui/credits/funds", s.post(permCredits, true, s.addFunds))
	h("POST /ui/credits/autorecharge", s.post(permCredits, true, s.setAutoRecharge))
	h("POST /ui/credits/method", s.post(permCredits, true, s.setMethod))

	h("POST /ui/users", s.post(permDirectory, true, s.putUser))
	h("POST /ui/users/licences", s.post(permDirectory, true, s.assignLicences))
	h("POST /ui/users/licences/csv", s.post(permDirectory, true, s.licenceCSV))
	h("POST /ui/users/location", s.post(permDirectory, true, s.setLocation))

	h("POST /ui/numbers/acquire", s.post(permDirectory, true, s.acquireNumber))
	h("POST /ui/numbers/assign", s.post(permDirectory, true, s.assignNumber))
	h("POST /ui/numbers/unassign", s.post(permDirectory, true, s.unassignNumber))
	h("POST /ui/numbers/release", s.post(permDirectory, true, s.releaseNumber))

	h("POST /ui/bridge/tollfree", s.post(permDirectory, true, s.setTollFree))

	h("POST /ui/policies", s.post(permDirectory, true, s.setPolicies))

	h("GET /ui/reports/usage/export", s.page(anyRole, true, s.usageExport))
	h("GET /ui/receipts/{number}", s.page(permCredits, true, s.receiptDocument))

	h("POST /ui/accounts", s.post(permDirectory, true, s.inviteAccount))
	h("POST /ui/contacts/add", s.post(permCredits, true, s.contactAdd))
	h("POST /ui/contacts/remove", s.post(permCredits, true, s.contactRemove))
	h("POST /ui/webhooks/resend", s.post(permCredits, true, s.webhookResend))
	h("POST /ui/webhooks", s.post(permCredits, true, s.webhookPut))
	h("POST /ui/webhooks/delete", s.post(permCredits, true, s.webhookDelete))
}

// Role sets allowed on pages.
var (
	anyRole       = []string{RoleOperator, RoleTenantAdmin, RoleBillingAdmin, RoleReportsReader}
	permCredits   = []string{RoleOperator, RoleTenantAdmin, RoleBillingAdmin}
	permDirectory = []string{RoleOperator, RoleTenantAdmin}
)

func can(role string, allowed []string) bool { return slices.Contains(allowed, role) }

func staticHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// headers: no inline script or style, no framing, forms post only here; the Referer never
// carries a sign-in token elsewhere.
func (s *Server) headers(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next(w, r)
	})
}

// reqCtx is a signed-in request.
type reqCtx struct {
	sess   *Session
	cookie string
	tenant store.Tenant // zero when the page needs none and none is chosen
}

func (c *reqCtx) cur() money.Currency { return c.tenant.Currency }

const (
	sessionCookie = "cc_session"
	flashCookie   = "cc_flash"
	preCookie     = "cc_pre" // double-submit CSRF token of the sign-in forms
)

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/ui/", MaxAge: maxAge, HttpOnly: true,
		Secure: !s.d.InsecureCookies, SameSite: http.SameSiteLaxMode})
}

func (s *Server) flash(w http.ResponseWriter, msg string) {
	s.setCookie(w, flashCookie, base64.RawURLEncoding.EncodeToString([]byte(msg)), 60)
}

// session loads the request's session; on failure it has answered (redirect to sign-in).
func (s *Server) session(w http.ResponseWriter, r *http.Request, allowed []string, needTenant bool) (*reqCtx, bool) {
	ck, _ := r.Cookie(sessionCookie)
	val := ""
	if ck != nil {
		val = ck.Value
	}
	sess, err := s.acc.Session(r.Context(), val)
	if err != nil {
		if errors.Is(err, ErrExpired) {
			s.setCookie(w, sessionCookie, "", -1)
			http.Redirect(w, r, "/ui/signin?expired=1"+nextParam(r), http.StatusSeeOther)
			return nil, false
		}
		if !errors.Is(err, ErrNoSession) {
			s.log.Error("web: session", "err", err)
		}
		http.Redirect(w, r, "/ui/signin?"+strings.TrimPrefix(nextParam(r), "&"), http.StatusSeeOther)
		return nil, false
	}
	c := &reqCtx{sess: sess, cookie: val}
	if !can(sess.Account.Role, allowed) {
		s.render(w, r, c, http.StatusForbidden, "error", view{Title: "Not allowed",
			D: "Your role (" + sess.Account.Role + ") may not open this page."})
		return nil, false
	}
	if sess.Tenant != "" {
		t, err := s.d.Store.Tenant(r.Context(), sess.Tenant)
		if err != nil {
			s.fail(w, r, c, err)
			return nil, false
		}
		c.tenant = t
	}
	if needTenant && c.tenant.ID == "" {
		http.Redirect(w, r, "/ui/tenants", http.StatusSeeOther)
		return nil, false
	}
	return c, true
}

type handler func(w http.ResponseWriter, r *http.Request, c *reqCtx)

func (s *Server) page(allowed []string, needTenant bool, fn handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c, ok := s.session(w, r, allowed, needTenant); ok {
			fn(w, r, c)
		}
	}
}

// maxForm bounds a form body, a licence CSV upload included.
const maxForm = 8 << 20

// post is page for a form: the session's CSRF token must come with it, or nothing runs.
func (s *Server) post(allowed []string, needTenant bool, fn handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.session(w, r, allowed, needTenant)
		if !ok {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		var err error
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			err = r.ParseMultipartForm(maxForm)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			s.render(w, r, c, http.StatusBadRequest, "error", view{Title: "Bad request", D: "The form could not be read: " + err.Error()})
			return
		}
		if !sameToken(r.PostFormValue("csrf"), c.sess.CSRF) {
			s.csrfFailed(w, r, c)
			return
		}
		// PostgreSQL cannot store a NUL byte or invalid UTF-8, and a command carrying one
		// would fail the writer's whole group commit, other tenants' commands with it.
		for k, vs := range r.Form {
			for _, v := range append(vs, k) {
				if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
					s.render(w, r, c, http.StatusBadRequest, "error", view{Title: "Bad request",
						D: "The form's field " + strconv.Quote(k) + " holds a NUL byte or invalid UTF-8. Nothing was changed."})
					return
				}
			}
		}
		// An operator may have switched tenant in another tab since this form was rendered:
		// the form names its tenant, and must not change another one.
		if t, ok := r.PostForm["tenant_ctx"]; ok && needTenant && t[0] != c.tenant.ID {
			s.render(w, r, c, http.StatusConflict, "error", view{Title: "Form of another tenant",
				D: "This form was for tenant " + t[0] + ", but you now work on " + c.tenant.ID +
					" (switched in another tab or window). Nothing was changed. Reload the page and try again."})
			return
		}
		fn(w, r, c)
	}
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (s *Server) csrfFailed(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	s.log.Warn("web: CSRF token mismatch", "path", r.URL.Path)
	s.render(w, r, c, http.StatusForbidden, "error", view{Title: "Form rejected",
		D: "The form's security token is missing or wrong, so nothing was changed. Reload the page and try again."})
}

// view is what every template gets.
type view struct {
	Title   string
	Active  string
	Sess    *Session
	Tenant  store.Tenant
	Tenants []store.Tenant
	CSRF    string
	Flash   string
	Bad     bool // the page answers a refused request: the flash is an error
	Errors  map[string]string
	Form    url.Values
	Nav     []navItem
	D       any
}

type navItem struct {
	Href, Label, Key string
}

// menuPage is a page of the navigation: one entry says who may open it, for the route and
// for the menu alike.
type menuPage struct {
	allowed     []string
	href, label string
	noTenant    bool // opens without a tenant chosen
	fn          handler
}

// menuPages are the navigation's pages in menu order. A page's key (view.Active) is the
// last element of its address.
func (s *Server) menuPages() []menuPage {
	return []menuPage{
		{[]string{RoleOperator}, "/ui/tenants", "Tenants", true, s.tenantsPage},
		{permCredits, "/ui/credits", "Credits", false, s.creditsPage},
		{permCredits, "/ui/funding", "Funding help", false, s.fundingPage},
		{permDirectory, "/ui/users", "Users and licences", false, s.usersPage},
		{permDirectory, "/ui/numbers", "Phone numbers", false, s.numbersPage},
		{permDirectory, "/ui/bridge", "Bridge", false, s.bridgePage},
		{permDirectory, "/ui/policies", "Policies", false, s.policiesPage},
		{anyRole, "/ui/reports/usage", "PSTN usage", false, s.usageReport},
		{anyRole, "/ui/reports/pools", "Minute pools", false, s.poolsReport},
		{anyRole, "/ui/reports/blocked", "Blocked users", false, s.blockedReport},
		{permCredits, "/ui/reports/statement", "Statement", false, s.statementReport},
		{permDirectory, "/ui/accounts", "Admins", false, s.accountsPage},
		{permCredits, "/ui/contacts", "Contacts", false, s.contactsPage},
		{permCredits, "/ui/webhooks", "Webhooks", false, s.webhooksPage},
	}
}

func (s *Server) nav(role string) []navItem {
	var out []navItem
	for _, p := range s.menu {
		if can(role, p.allowed) {
			out = append(out, navItem{p.href, p.label, path.Base(p.href)})
		}
	}
	return out
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, c *reqCtx, code int, name string, v view) {
	t := s.pages[name]
	if t == nil {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	if c != nil {
		v.Sess, v.Tenant, v.CSRF, v.Nav = c.sess, c.tenant, c.sess.CSRF, s.nav(c.sess.Account.Role)
		if c.sess.Account.Operator() {
			v.Tenants, _ = s.d.Store.Tenants(r.Context())
		}
	}
	// The flash of the change before the redirect is shown once, on the page that renders.
	if f, err := r.Cookie(flashCookie); err == nil {
		if b, err := base64.RawURLEncoding.DecodeString(f.Value); err == nil && v.Flash == "" {
			v.Flash = string(b)
		}
		s.setCookie(w, flashCookie, "", -1)
	}
	if v.Form == nil {
		v.Form = url.Values{}
	}
	v.Bad = code >= 400
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		s.log.Error("web: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, b.String())
}

// fail answers an unexpected error: logged in full, shown without internals.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, c *reqCtx, err error) {
	s.log.Error("web: request failed", "path", r.URL.Path, "err", err)
	code := http.StatusInternalServerError
	msg := "Something went wrong; nothing was changed. Try again."
	if errors.Is(err, store.ErrNotFound) {
		code, msg = http.StatusNotFound, "Not found."
	}
	if c == nil {
		http.Error(w, msg, code)
		return
	}
	s.render(w, r, c, code, "error", view{Title: "Error", D: msg})
}

// done ends a successful change: a flash message and back to the page (POST/redirect/GET).
func (s *Server) done(w http.ResponseWriter, r *http.Request, to, msg string) {
	s.flash(w, msg)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *Server) now() time.Time { return s.d.Now().UTC() }

// formKey is the idempotency key of a form: each rendered form carries a fresh one, so a
// form sent twice (a double click, a reload) is applied once.
func formKey(r *http.Request) string {
	if k := r.PostFormValue("idem"); k != "" && len(k) <= 64 {
		return "web:" + k
	}
	return "web:" + token(12)
}

// localPath returns p when it is a page of this UI ("/ui/…"), else "": a sign-in never
// sends the browser elsewhere.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/ui/") || strings.ContainsAny(p, "\\\r\n") || strings.HasPrefix(p, "/ui/signin") {
		return ""
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.Contains(u.Path, "..") {
		return ""
	}
	return p
}

// nextParam is "&next=…", the page to come back to after signing in: the page asked for, or
// for a form, the page it was sent from.
func nextParam(r *http.Request) string {
	p := r.URL.RequestURI()
	if r.Method != http.MethodGet {
		p = ""
		if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host {
			p = ref.RequestURI()
		}
	}
	if p = localPath(p); p == "" {
		return ""
	}
	return "&next=" + url.QueryEscape(p)
}
