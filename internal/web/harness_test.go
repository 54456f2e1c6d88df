package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/web"
	"github.com/commcredits/commcredits/internal/writer"
)

var (
	ctx = context.Background()
	usd = money.MustCurrency("USD")
)

const (
	tenantID = "acme"
	adminPW  = "correct horse battery"
)

// clock is the web's clock, moved by tests (session and link expiry).
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// harness is a server as `commcredits serve` builds it: store, writer, web UI.
type harness struct {
	t     testing.TB
	st    *store.SQL
	w     *writer.Writer
	ui    *web.Server
	clock *clock
	links *linkBox
	url   string
}

// linkBox keeps the sign-in links the server "sends".
type linkBox struct {
	mu   sync.Mutex
	sent map[string]string
}

func (b *linkBox) SendLink(_ context.Context, email, link string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent[email] = link
	return nil
}

func (b *linkBox) last(email string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sent[email]
}

const cardCSV = "prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n" +
	"1,United States,fixed_or_mobile,0.01,0,60,60,2020-01-01,false\n" +
	"44,United Kingdom,fixed_or_mobile,0.05,0,60,60,2020-01-01,false\n" +
	"971,United Arab Emirates,mobile,0.30,0.10,30,6,2020-01-01,false\n"

// newHarness starts the web UI on a fresh database; tls serves it over HTTPS (for Go's
// cookie jar, which keeps Secure cookies to HTTPS), otherwise on plain 127.0.0.1.
func newHarness(t testing.TB, dsn string, tls bool) *harness {
	t.Helper()
	st := storetest.Open(t, dsn)
	cards := rating.NewRegistry()
	if _, err := st.ImportRateCard(ctx, cards, rating.Outbound, usd, []byte(cardCSV), time.Now().AddDate(0, -1, 0)); err != nil {
		t.Fatal(err)
	}
	env := &tenant.Env{Catalog: plans.Default(), Cards: cards, CallTTL: time.Hour}
	w := writer.New(st, writer.SystemClock{}, writer.Config{Env: env})
	t.Cleanup(func() { _ = w.Close() })
	h := &harness{t: t, st: st, w: w, clock: &clock{}, links: &linkBox{sent: map[string]string{}}}
	ui, err := web.New(web.Deps{DB: st.DB(), Store: st, Writer: w, Env: env, Now: h.clock.Now, Links: h.links,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h.ui = ui
	mux := http.NewServeMux()
	ui.Mount(mux)
	if tls {
		srv := httptest.NewTLSServer(mux)
		t.Cleanup(srv.Close)
		h.url = srv.URL
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		h.url = "http://" + ln.Addr().String()
	}
	h.seed()
	return h
}

// seed makes tenant acme with two users and its admin account.
func (h *harness) seed() {
	t := h.t
	if err := h.st.CreateTenant(ctx, store.Tenant{ID: tenantID, Name: "Acme", Currency: usd, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := h.st.CreateTenant(ctx, store.Tenant{ID: "globex", Name: "Globex", Currency: usd, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for i, u := range []directory.User{
		{ID: "alice", DisplayName: "Alice Archer", Kind: directory.KindUser, UsageLocation: "GB", Licences: []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}},
		{ID: "bob", DisplayName: "Bob Baker", Kind: directory.KindUser, UsageLocation: "US", Licences: []string{"MCOEV", "MCOPSTN1"}},
		{ID: "carol", DisplayName: "Carol Cole", Kind: directory.KindUser, UsageLocation: "US", Licences: []string{"MCOEV"}},
	} {
		h.submit(fmt.Sprint("seed-user-", i), directory.PutUser{User: u})
	}
	for _, a := range []struct{ email, role, tenant string }{
		{"admin@acme.test", web.RoleTenantAdmin, tenantID},
		{"billing@acme.test", web.RoleBillingAdmin, tenantID},
		{"reader@acme.test", web.RoleReportsReader, tenantID},
		{"ops@operator.test", web.RoleOperator, ""},
	} {
		if _, err := h.ui.Accounts().Create(ctx, a.email, adminPW, a.role, a.tenant); err != nil {
			t.Fatal(err)
		}
	}
}

func (h *harness) submit(key string, cmd tenant.Command) tenant.Result {
	h.t.Helper()
	r, err := h.w.Submit(ctx, tenantID, key, cmd)
	if err != nil {
		h.t.Fatalf("%s: %v", cmd.Name(), err)
	}
	return r
}

func (h *harness) state() *tenant.State {
	h.t.Helper()
	st, err := h.st.State(ctx, tenantID, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// snapshot is what a refused form must leave as it was.
type snapshot struct {
	Balance, Reserved money.Amount
	Entries           int64
	Settings          recharge.Settings
	Method            string
	Users             string
	Numbers           int
}

func (h *harness) snapshot() snapshot {
	st := h.state()
	var users strings.Builder
	for _, id := range []string{"alice", "bob", "carol"} {
		u := st.Dir.Users[id]
		fmt.Fprintf(&users, "%s:%v:%s:%s:%s:%d;", id, u.Licences, u.UsageLocation, u.ConfDialOut, u.PSTNPolicy, u.SpendLimit)
	}
	return snapshot{Balance: st.Account.Balance, Reserved: st.Account.Reserved, Entries: st.Account.NextSeq,
		Settings: st.Recharge.Settings, Method: st.Recharge.Settings.PaymentMethod, Users: users.String(), Numbers: len(st.Dir.Numbers)}
}

// unchanged fails t when the store is no longer as before: what (a refused form, a forged
// token) must have changed nothing.
func (h *harness) unchanged(t testing.TB, before snapshot, what string) {
	t.Helper()
	if after := h.snapshot(); after != before {
		t.Fatalf("%s changed the store:\n%+v\n%+v", what, before, after)
	}
}

// client is a browser without JavaScript: a cookie jar, forms posted by hand.
type client struct {
	h    *harness
	http *http.Client
	csrf string
}

func (h *harness) client(tls *http.Client) *client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	if tls != nil {
		c.Transport = tls.Transport
	}
	return &client{h: h, http: c}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) do(req *http.Request) (int, string, *url.URL) {
	c.h.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if m := csrfRE.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return res.StatusCode, string(b), res.Request.URL
}

func (c *client) get(path string) (int, string, *url.URL) {
	req, _ := http.NewRequest(http.MethodGet, c.h.url+path, nil)
	return c.do(req)
}

// post sends a form with the page's CSRF token unless the form sets its own.
func (c *client) post(path string, form url.Values) (int, string, *url.URL) {
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", c.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, c.h.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

func (c *client) signIn(email string) {
	c.h.t.Helper()
	c.get("/ui/signin")
	code, body, u := c.post("/ui/signin", url.Values{"email": {email}, "password": {adminPW}})
	if code != http.StatusOK || strings.HasPrefix(u.Path, "/ui/signin") {
		c.h.t.Fatalf("sign in as %s: %d at %s\n%s", email, code, u, body)
	}
}

// Ledger entries are compared through NextSeq; ledger.Entry is imported for the helpers.
var _ = ledger.EntryFunding
