package web_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/web"
)

func TestAccounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		c := &clock{}
		acc := web.NewAccounts(s.DB(), c.Now)
		if _, err := acc.Create(ctx, "Ops@Example.com", "long enough password", web.RoleOperator, ""); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ name, email, pw, role, tenant, want string }{
			{"duplicate email, other case", "ops@example.com", "long enough password", web.RoleOperator, "", "exists already"},
			{"switch is an API role", "sw@example.com", "", web.RoleSwitch, "acme", "API keys"},
			{"unknown role", "x@example.com", "", "admin", "acme", "unknown role"},
			{"operator with a tenant", "y@example.com", "", web.RoleOperator, "acme", "every tenant"},
			{"admin without a tenant", "z@example.com", "", web.RoleTenantAdmin, "", "needs a tenant"},
			{"short password", "w@example.com", "short", web.RoleTenantAdmin, "acme", "at least 12"},
			{"not an email", "not-an-email", "", web.RoleTenantAdmin, "acme", "not an email"},
		} {
			if _, err := acc.Create(ctx, tc.email, tc.pw, tc.role, tc.tenant); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
			}
		}
		// Creations of one email at once: one account, the others ErrAccountExists.
		var wg sync.WaitGroup
		var made atomic.Int32
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := acc.Create(ctx, "race@example.com", "", web.RoleTenantAdmin, "acme")
				switch {
				case err == nil:
					made.Add(1)
				case !errors.Is(err, web.ErrAccountExists):
					t.Errorf("concurrent creation: %v", err)
				}
			}()
		}
		wg.Wait()
		if made.Load() != 1 {
			t.Errorf("%d accounts made of one email", made.Load())
		}
		if _, err := acc.Authenticate(ctx, "OPS@example.com", "long enough password"); err != nil {
			t.Fatalf("right password: %v", err)
		}
		for _, pw := range []string{"", "long enough passwor", "long enough password "} {
			if _, err := acc.Authenticate(ctx, "ops@example.com", pw); !errors.Is(err, web.ErrBadCredentials) {
				t.Errorf("password %q: %v", pw, err)
			}
		}
		if _, err := acc.Authenticate(ctx, "nobody@example.com", "long enough password"); !errors.Is(err, web.ErrBadCredentials) {
			t.Errorf("unknown email: %v", err)
		}
		// A link works once, within 15 minutes.
		tok, _, err := acc.NewLink(ctx, "ops@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if a, err := acc.UseLink(ctx, tok); err != nil || a.Email != "ops@example.com" {
			t.Fatalf("first use: %+v %v", a, err)
		}
		if _, err := acc.UseLink(ctx, tok); !errors.Is(err, web.ErrLinkInvalid) {
			t.Fatalf("second use: %v", err)
		}
		tok, _, _ = acc.NewLink(ctx, "ops@example.com")
		c.Advance(web.LinkTTL + time.Second)
		if _, err := acc.UseLink(ctx, tok); !errors.Is(err, web.ErrLinkInvalid) {
			t.Fatalf("expired link: %v", err)
		}
		if _, _, err := acc.NewLink(ctx, "nobody@example.com"); !errors.Is(err, web.ErrNoAccount) {
			t.Fatalf("link for nobody: %v", err)
		}
		// Sessions expire; the cookie of an expired one is told apart from none.
		a, _ := acc.ByEmail(ctx, "ops@example.com")
		cookie, sess, err := acc.StartSession(ctx, a)
		if err != nil || sess.CSRF == "" {
			t.Fatal(err)
		}
		if got, err := acc.Session(ctx, cookie); err != nil || got.Account.ID != a.ID || got.CSRF != sess.CSRF {
			t.Fatalf("session: %+v %v", got, err)
		}
		if _, err := acc.Session(ctx, cookie+"x"); !errors.Is(err, web.ErrExpired) {
			t.Fatalf("unknown cookie: %v", err)
		}
		c.Advance(web.SessionTTL)
		if _, err := acc.Session(ctx, cookie); !errors.Is(err, web.ErrExpired) {
			t.Fatalf("expired session: %v", err)
		}
		if err := acc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// The Credits page over plain forms, on both engines: add funds, payment method,
// auto-recharge, and the balance the store then holds.
func TestCreditsForms(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, _ *store.SQL) {
		h := newHarness(t, dsn, false)
		c := h.client(nil)
		c.signIn("admin@acme.test")
		code, body, _ := c.get("/ui/credits")
		if code != http.StatusOK || !strings.Contains(body, `id="balance">0.00 USD`) {
			t.Fatalf("credits page: %d\n%s", code, body)
		}
		code, body, _ = c.post("/ui/credits/method", url.Values{"method": {"ea:AG-1:PO-7"}})
		if code != http.StatusOK || !strings.Contains(body, "Payment method saved.") {
			t.Fatalf("method: %d\n%s", code, body)
		}
		code, body, _ = c.post("/ui/credits/funds", url.Values{"funds_amount": {"120.50"}})
		if code != http.StatusOK || !strings.Contains(body, "Balance now 120.50 USD") || !strings.Contains(body, `id="balance">120.50 USD`) {
			t.Fatalf("add funds: %d\n%s", code, body)
		}
		ver := h.state().Recharge.Settings.Version
		code, body, _ = c.post("/ui/credits/autorecharge", url.Values{"enabled": {"on"}, "trigger": {"20"}, "recharge_amount": {"50.00"},
			"payment_method": {"ea:AG-1:PO-7"}, "version": {itoa(ver)}})
		if code != http.StatusOK || !strings.Contains(body, "Auto-recharge saved") {
			t.Fatalf("auto-recharge: %d\n%s", code, body)
		}
		st := h.state()
		if st.Account.Balance != 12050 || !st.Recharge.Settings.Enabled || st.Recharge.Settings.Trigger != 2000 || st.Recharge.Settings.Amount != 5000 {
			t.Fatalf("stored: balance %d settings %+v", st.Account.Balance, st.Recharge.Settings)
		}
		// The same form sent twice (same key) is applied once.
		form := url.Values{"funds_amount": {"60"}, "idem": {"double-click"}}
		c.post("/ui/credits/funds", form)
		c.post("/ui/credits/funds", url.Values{"funds_amount": {"60"}, "idem": {"double-click"}})
		if b := h.state().Account.Balance; b != 18050 {
			t.Fatalf("balance after a form sent twice: %d, want 18050", b)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Bad input: the page says what is wrong, next to the field, and the store is unchanged.
func TestBadInputChangesNothing(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	c := h.client(nil)
	c.signIn("admin@acme.test")
	c.get("/ui/credits")
	c.post("/ui/credits/method", url.Values{"method": {"ea:AG-1"}})
	c.post("/ui/credits/funds", url.Values{"funds_amount": {"100"}})
	c.get("/ui/credits")
	ver := itoa(h.state().Recharge.Settings.Version)

	for _, tc := range []struct {
		name, path string
		form       url.Values
		code       int
		want       []string
	}{
		{"amount not a number", "/ui/credits/funds", url.Values{"funds_amount": {"ten"}}, 422,
			[]string{`id="funds_amount-err"`, "is not an amount"}},
		{"negative amount", "/ui/credits/funds", url.Values{"funds_amount": {"-5"}}, 422, []string{"more than zero"}},
		{"too many decimals", "/ui/credits/funds", url.Values{"funds_amount": {"60.123"}}, 422, []string{"too many decimals"}},
		{"empty amount", "/ui/credits/funds", url.Values{"funds_amount": {""}}, 422, []string{"Enter an amount."}},
		{"below the minimum purchase", "/ui/credits/funds", url.Values{"funds_amount": {"10"}}, 422,
			[]string{`id="funds_amount-err"`, "between 50.00"}},
		{"unknown payment method", "/ui/credits/funds", url.Values{"funds_amount": {"60"}, "funds_method": {"bitcoin"}}, 422,
			[]string{`id="funds_method-err"`, "unknown payment method kind"}},
		{"recharge below minimum", "/ui/credits/autorecharge", url.Values{"enabled": {"on"}, "trigger": {"10"}, "recharge_amount": {"5"},
			"payment_method": {"ea:AG-1"}, "version": {ver}}, 422, []string{`id="recharge_amount-err"`, "below the minimum purchase"}},
		{"recharge trigger garbage", "/ui/credits/autorecharge", url.Values{"enabled": {"on"}, "trigger": {"1e3"}, "recharge_amount": {"50"},
			"payment_method": {"ea:AG-1"}, "version": {ver}}, 422, []string{`id="trigger-err"`}},
		{"stale settings version", "/ui/credits/autorecharge", url.Values{"enabled": {"on"}, "trigger": {"10"}, "recharge_amount": {"50"},
			"payment_method": {"ea:AG-1"}, "version": {"999"}}, 422, []string{"changed meanwhile"}},
		{"card expiry month", "/ui/credits/method", url.Values{"method": {"pm_card"}, "exp_month": {"13"}, "exp_year": {"2030"}}, 422,
			[]string{`id="exp_month-err"`}},
		{"spend limit", "/ui/policies", url.Values{"user": {"alice"}, "conf_dial_out": {"any"}, "pstn": {"international"}, "spend_limit": {"lots"}}, 422,
			[]string{`id="spend_limit-err"`}},
		{"policy of nobody", "/ui/policies", url.Values{"user": {"mallory"}, "conf_dial_out": {"any"}, "pstn": {"international"}, "spend_limit": {"5"}}, 422,
			[]string{"mallory"}},
		{"bad policy value", "/ui/policies", url.Values{"user": {"alice"}, "conf_dial_out": {"everywhere"}, "pstn": {"international"}, "spend_limit": {"5"}}, 422,
			[]string{"everywhere"}},
		{"unknown licence for selected", "/ui/users/licences", url.Values{"user": {"alice", "bob"}, "add": {"NOPE"}}, 422, []string{"NOPE"}},
		{"no user selected", "/ui/users/licences", url.Values{"add": {"MCOPSTNPP"}}, 422, []string{`id="user-err"`}},
		{"usage location", "/ui/users/location", url.Values{"loc_user": {"alice"}, "country": {"ZZZ"}}, 422, []string{"ZZZ"}},
		{"toll number that is toll-free", "/ui/numbers/acquire", url.Values{"e164": {"+18005550100"}, "kind": {"service"}, "service": {"toll"}}, 422,
			[]string{"toll"}},
		{"not a number", "/ui/numbers/acquire", url.Values{"e164": {"call me"}, "kind": {"user"}}, 422, []string{`id="e164-err"`}},
		{"forged CSRF token", "/ui/credits/funds", url.Values{"funds_amount": {"60"}, "csrf": {"forged"}}, 403, []string{"security token"}},
		{"missing CSRF token", "/ui/credits/funds", url.Values{"funds_amount": {"60"}, "csrf": {""}}, 403, []string{"security token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot()
			code, body, _ := c.post(tc.path, tc.form)
			if code != tc.code {
				t.Fatalf("status %d, want %d\n%s", code, tc.code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q\n%s", w, body)
				}
			}
			h.unchanged(t, before, "a refused form")
		})
	}
}

// A licence CSV with bad rows lists every bad line and applies none; a good one applies all.
func TestLicenceCSV(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	c := h.client(nil)
	c.signIn("admin@acme.test")
	c.get("/ui/users")
	bad := "user_id,add,remove\nalice,MCOMEETADD,\nmallory,MCOEV,\nbob,NOPE;MCOPSTNPP,\ncarol,MCOPSTNPP,\n\"broken,\n"
	before := h.snapshot()
	code, body := c.upload(bad)
	if code != 422 || !strings.Contains(body, `id="csv-errors"`) {
		t.Fatalf("bad CSV: %d\n%s", code, body)
	}
	if !strings.Contains(body, "line 6") {
		t.Errorf("parse error of line 6 not shown\n%s", body)
	}
	h.unchanged(t, before, "a bad CSV")
	// Parsed but refused by the directory: every bad row named, none applied.
	bad = "user_id,add,remove\nalice,MCOMEETADD,\nmallory,MCOEV,\nbob,NOPE;MCOPSTNPP,\ncarol,MCOPSTNPP,\n"
	code, body = c.upload(bad)
	for _, w := range []string{"line 3", "mallory", "line 4", "NOPE"} {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if code != 422 || strings.Contains(body, "line 2:") || strings.Contains(body, "line 5:") {
		t.Errorf("good rows reported as bad, or status %d\n%s", code, body)
	}
	h.unchanged(t, before, "a bad CSV")
	code, body = c.upload("user_id,add,remove\nalice,MCOMEETADD,\nbob,MCOPSTNPP,\ncarol,MCOPSTNPP,MCOEV\n")
	if code != 200 || !strings.Contains(body, "3 row(s)") {
		t.Fatalf("good CSV: %d\n%s", code, body)
	}
	st := h.state()
	if !st.Dir.Users["alice"].Has("MCOMEETADD") || !st.Dir.Users["bob"].Has("MCOPSTNPP") || st.Dir.Users["carol"].Has("MCOEV") {
		t.Fatalf("licences after the CSV: %+v %+v %+v", st.Dir.Users["alice"], st.Dir.Users["bob"], st.Dir.Users["carol"])
	}
}

func (c *client) upload(csv string) (int, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("csrf", c.csrf)
	fw, _ := mw.CreateFormFile("csv", "licences.csv")
	_, _ = fw.Write([]byte(csv))
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.h.url+"/ui/users/licences/csv", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	code, body, _ := c.do(req)
	return code, body
}

// Toll-free numbers need credits: the engine refuses, the page shows its message.
func TestTollFreeNeedsCredits(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	c := h.client(nil)
	c.signIn("admin@acme.test")
	c.get("/ui/numbers")
	form := url.Values{"e164": {"+18005550100"}, "kind": {"service"}, "service": {"toll_free"}}
	code, body, _ := c.post("/ui/numbers/acquire", form)
	if code != 422 || !strings.Contains(strings.ToLower(body), "credits") || len(h.state().Dir.Numbers) != 0 {
		t.Fatalf("toll-free without credits: %d\n%s", code, body)
	}
	h.submit("fund", tenant.AddFunds{Amount: 5000, Method: "ea:AG-1"})
	code, body, _ = c.post("/ui/numbers/acquire", url.Values{"e164": {"+18005550100"}, "kind": {"service"}, "service": {"toll_free"}})
	if code != 200 || !strings.Contains(body, "acquired") {
		t.Fatalf("toll-free with credits: %d\n%s", code, body)
	}
	code, body, _ = c.post("/ui/numbers/assign", url.Values{"assign_e164": {"+18005550100"}, "to": {"bridge"}})
	if code != 200 || len(h.state().Dir.Bridge()) != 1 {
		t.Fatalf("assign to bridge: %d\n%s", code, body)
	}
	code, body, _ = c.post("/ui/bridge/tollfree", url.Values{"organizer": {"bob"}, "disabled": {"true"}})
	if code != 200 || !h.state().Dir.Users["bob"].TollFreeDialInDisabled {
		t.Fatalf("toll-free off for bob: %d\n%s", code, body)
	}
	if _, body, _ := c.get("/ui/bridge"); !strings.Contains(body, `name="e164" value="&#43;18005550100"`) {
		t.Fatalf("bridge page does not offer to remove +18005550100:\n%s", body)
	}
	code, body, u := c.post("/ui/numbers/unassign", url.Values{"e164": {"+18005550100"}, "back": {"bridge"}})
	if code != 200 || u.Path != "/ui/bridge" || len(h.state().Dir.Bridge()) != 0 {
		t.Fatalf("remove from the bridge: %d at %s\n%s", code, u, body)
	}
	code, body, _ = c.post("/ui/numbers/release", url.Values{"e164": {"+18005550100"}})
	if code != 200 || len(h.state().Dir.Numbers) != 0 || !strings.Contains(body, "released") {
		t.Fatalf("release: %d\n%s", code, body)
	}
}

// Sessions: expiry sends back to sign-in with a message and changes nothing; logout ends
// the session; a link signs in once.
func TestSessions(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	c := h.client(nil)
	if _, _, u := c.get("/ui/credits"); u.Path != "/ui/signin" {
		t.Fatalf("anonymous credits page went to %s", u)
	}
	code, body, _ := c.post("/ui/signin", url.Values{"email": {"admin@acme.test"}, "password": {adminPW}, "csrf": {"forged"}})
	if code != http.StatusForbidden {
		t.Fatalf("sign-in without the form's token: %d", code)
	}
	c.get("/ui/signin")
	code, body, _ = c.post("/ui/signin", url.Values{"email": {"admin@acme.test"}, "password": {"wrong password!"}})
	if code != http.StatusUnauthorized || !strings.Contains(body, "wrong") {
		t.Fatalf("wrong password: %d\n%s", code, body)
	}
	// The session cookie: HttpOnly, Secure, SameSite=Lax, scoped to the UI.
	noRedirect := &http.Client{Jar: c.http.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"email": {"admin@acme.test"}, "password": {adminPW}, "csrf": {c.csrf}}
	res, err := noRedirect.PostForm(h.url+"/ui/signin", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var session *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "cc_session" {
			session = ck
		}
	}
	if res.StatusCode != http.StatusSeeOther || session == nil || !session.HttpOnly || !session.Secure ||
		session.SameSite != http.SameSiteLaxMode || session.Path != "/ui/" || len(session.Value) < 40 {
		t.Fatalf("sign-in answer %d, session cookie %+v", res.StatusCode, session)
	}
	c.signIn("admin@acme.test")
	c.get("/ui/credits")
	before := h.snapshot()
	h.clock.Advance(web.SessionTTL + time.Minute)
	code, body, u := c.post("/ui/credits/funds", url.Values{"funds_amount": {"100"}})
	if u.Path != "/ui/signin" || !strings.Contains(body, "Your session has expired") {
		t.Fatalf("expired session: %d at %s\n%s", code, u, body)
	}
	h.unchanged(t, before, "an expired session")
	// Signing in again goes back to the page asked for, and never off the UI.
	h.clock.Advance(-web.SessionTTL - time.Minute)
	c.signIn("admin@acme.test")
	h.clock.Advance(web.SessionTTL + time.Minute)
	if _, body, u := c.get("/ui/reports/pools?month=2026-01"); u.Path != "/ui/signin" || !strings.Contains(body, `name="next" value="/ui/reports/pools?month=2026-01"`) {
		t.Fatalf("expired on a GET: at %s\n%s", u, body)
	}
	h.clock.Advance(-web.SessionTTL - time.Minute)
	code, body, u = c.post("/ui/signin", url.Values{"email": {"admin@acme.test"}, "password": {adminPW}, "next": {"/ui/reports/pools?month=2026-01"}})
	if code != 200 || u.RequestURI() != "/ui/reports/pools?month=2026-01" {
		t.Fatalf("sign-in with next: %d at %s", code, u)
	}
	for _, next := range []string{"//evil.test/ui/", "https://evil.test/ui/", "/ui/../../etc", "/ui/signin", "/\\evil.test"} {
		c.get("/ui/signin")
		if _, _, u := c.post("/ui/signin", url.Values{"email": {"admin@acme.test"}, "password": {adminPW}, "next": {next}}); u.Host != strings.TrimPrefix(h.url, "http://") || u.Path != "/ui/credits" {
			t.Errorf("next %q led to %s", next, u)
		}
	}
	h.clock.Advance(web.SessionTTL + time.Minute)

	// Magic link: requested, shown as a button, spent once.
	c.get("/ui/signin")
	code, body, _ = c.post("/ui/signin/link", url.Values{"link_email": {"admin@acme.test"}})
	link := h.links.last("admin@acme.test")
	if code != 200 || !strings.Contains(body, "on its way") || link == "" {
		t.Fatalf("request link: %d %q\n%s", code, link, body)
	}
	lu, _ := url.Parse(link)
	tok := lu.Query().Get("token")
	c.get("/ui/signin/link?token=" + url.QueryEscape(tok))
	code, body, u = c.post("/ui/signin/link/use", url.Values{"token": {tok}})
	if code != 200 || u.Path != "/ui/credits" {
		t.Fatalf("use link: %d at %s\n%s", code, u, body)
	}
	c2 := h.client(nil)
	c2.get("/ui/signin/link?token=" + url.QueryEscape(tok))
	if code, _, _ := c2.post("/ui/signin/link/use", url.Values{"token": {tok}}); code != http.StatusUnauthorized {
		t.Fatalf("link used twice: %d", code)
	}
	// An unknown address gets the same answer and no link.
	c2.get("/ui/signin")
	if code, body, _ := c2.post("/ui/signin/link", url.Values{"link_email": {"who@nowhere.test"}}); code != 200 || !strings.Contains(body, "on its way") || h.links.last("who@nowhere.test") != "" {
		t.Fatalf("link for an unknown address: %d", code)
	}
	// Logout.
	c.get("/ui/credits")
	if _, _, u := c.post("/ui/signout", url.Values{}); u.Path != "/ui/signin" {
		t.Fatalf("signout went to %s", u)
	}
	if _, _, u := c.get("/ui/credits"); u.Path != "/ui/signin" {
		t.Fatalf("after signout the credits page went to %s", u)
	}
}

// Roles as in the API: a reports reader reads reports only, a billing admin has no
// directory pages, an operator picks and switches tenants.
func TestRoles(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	for _, tc := range []struct {
		email string
		path  string
		code  int
	}{
		{"reader@acme.test", "/ui/credits", 403},
		{"reader@acme.test", "/ui/users", 403},
		{"reader@acme.test", "/ui/reports/pools", 200},
		{"reader@acme.test", "/ui/reports/blocked", 200},
		{"reader@acme.test", "/ui/reports/usage", 200},
		{"billing@acme.test", "/ui/credits", 200},
		{"billing@acme.test", "/ui/funding", 200},
		{"billing@acme.test", "/ui/webhooks", 200},
		{"reader@acme.test", "/ui/funding", 403},
		{"reader@acme.test", "/ui/webhooks", 403},
		{"billing@acme.test", "/ui/users", 403},
		{"billing@acme.test", "/ui/policies", 403},
		{"admin@acme.test", "/ui/users", 200},
		{"admin@acme.test", "/ui/tenants", 403},
	} {
		c := h.client(nil)
		c.signIn(tc.email)
		if code, body, _ := c.get(tc.path); code != tc.code {
			t.Errorf("%s GET %s: %d, want %d\n%s", tc.email, tc.path, code, tc.code, body)
		}
	}
	c := h.client(nil)
	c.signIn("reader@acme.test")
	c.get("/ui/reports/pools")
	before := h.snapshot()
	if code, _, _ := c.post("/ui/credits/funds", url.Values{"funds_amount": {"100"}}); code != 403 || h.snapshot() != before {
		t.Fatalf("reader posting funds: %d", code)
	}
	// Operator: no tenant yet, then switches.
	op := h.client(nil)
	op.signIn("ops@operator.test")
	if _, body, u := op.get("/ui/credits"); u.Path != "/ui/tenants" || !strings.Contains(body, "Globex") {
		t.Fatalf("operator without a tenant went to %s", u)
	}
	if code, body, _ := op.post("/ui/tenants/switch", url.Values{"tenant": {"nope"}}); code != 422 || !strings.Contains(body, "no tenant nope") {
		t.Fatalf("switch to an unknown tenant: %d", code)
	}
	if code, body, u := op.post("/ui/tenants/switch", url.Values{"tenant": {"globex"}}); !strings.Contains(body, "Now working on Globex") {
		t.Fatalf("switch to globex: %d at %s len %d\n%s", code, u, len(body), body[:min(len(body), 3000)])
	}
	if _, body, _ := op.post("/ui/tenants/switch", url.Values{"tenant": {tenantID}}); !strings.Contains(body, "Now working on Acme") {
		t.Fatalf("switch to acme:\n%s", body)
	}
	if code, body, _ := op.get("/ui/users"); code != 200 || !strings.Contains(body, "Alice Archer") {
		t.Fatalf("operator on acme's users: %d", code)
	}
	// An operator creates a tenant; bad fields are refused next to the field.
	op.get("/ui/tenants")
	for _, bad := range []url.Values{
		{"new_id": {"Bad Id"}, "new_name": {"X"}, "new_currency": {"USD"}},
		{"new_id": {"initech"}, "new_name": {"Initech"}, "new_currency": {"XYZ"}},
		{"new_id": {"acme"}, "new_name": {"Acme again"}, "new_currency": {"USD"}},
	} {
		if code, body, _ := op.post("/ui/tenants", bad); code != 422 || !strings.Contains(body, `-err"`) {
			t.Errorf("create tenant %v: %d", bad, code)
		}
	}
	if ts, _ := h.st.Tenants(ctx); len(ts) != 2 {
		t.Fatalf("a refused tenant was created: %d tenants", len(ts))
	}
	if _, body, _ := op.post("/ui/tenants", url.Values{"new_id": {"initech"}, "new_name": {"Initech"}, "new_currency": {"eur"}}); !strings.Contains(body, "Tenant Initech (initech) created") || !strings.Contains(body, "0.00 EUR") {
		t.Fatalf("create tenant:\n%s", body)
	}
	// A tenant admin cannot.
	adm := h.client(nil)
	adm.signIn("admin@acme.test")
	adm.get("/ui/credits")
	if code, _, _ := adm.post("/ui/tenants", url.Values{"new_id": {"evil"}, "new_name": {"Evil"}, "new_currency": {"USD"}}); code != 403 {
		t.Fatalf("tenant admin creating a tenant: %d", code)
	}
	_ = directory.KindUser
}

// Every page renders for a signed-in admin, with security headers.
func TestPagesRender(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	c := h.client(nil)
	c.signIn("admin@acme.test")
	for _, p := range []string{"/ui/credits", "/ui/users?q=ali&licence=MCOEV", "/ui/numbers", "/ui/bridge", "/ui/policies",
		"/ui/reports/usage", "/ui/reports/usage?from=2020-01-01", "/ui/reports/pools", "/ui/reports/pools?month=bad",
		"/ui/reports/blocked", "/ui/reports/statement", "/ui/contacts", "/ui/webhooks", "/ui/funding", "/ui/webhooks?edit=nope"} {
		req, _ := http.NewRequest(http.MethodGet, h.url+p, nil)
		res, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 && res.StatusCode != 422 && (p != "/ui/webhooks?edit=nope" || res.StatusCode != 404) {
			t.Errorf("%s: %d", p, res.StatusCode)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
	}
	if _, body, _ := c.get("/ui/reports/usage?from=2020-01-01"); !strings.Contains(body, "one year at most") {
		t.Errorf("usage older than a year not refused")
	}
}

// A tenant admin invites an admin of the tenant, who signs in with the link sent.
func TestInviteAdmin(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	c := h.client(nil)
	c.signIn("admin@acme.test")
	c.get("/ui/accounts")
	for _, bad := range []url.Values{
		{"invite_email": {"nope"}, "invite_role": {"tenant_admin"}},
		{"invite_email": {"new@acme.test"}, "invite_role": {"operator"}},
		{"invite_email": {"billing@acme.test"}, "invite_role": {"billing_admin"}},
	} {
		if code, body, _ := c.post("/ui/accounts", bad); code != 422 || !strings.Contains(body, `-err"`) {
			t.Errorf("invite %v: %d", bad, code)
		}
	}
	if list, _ := h.ui.Accounts().List(ctx); len(list) != 4 {
		t.Fatalf("a refused invitation created an account: %d accounts", len(list))
	}
	code, body, _ := c.post("/ui/accounts", url.Values{"invite_email": {"New@Acme.test"}, "invite_role": {"billing_admin"}})
	link := h.links.last("new@acme.test")
	if code != 200 || !strings.Contains(body, "a sign-in link is on its way") || !strings.Contains(body, "new@acme.test") || link == "" {
		t.Fatalf("invite: %d %q\n%s", code, link, body)
	}
	lu, _ := url.Parse(link)
	n := h.client(nil)
	n.get("/ui/signin/link?token=" + url.QueryEscape(lu.Query().Get("token")))
	if code, body, u := n.post("/ui/signin/link/use", url.Values{"token": {lu.Query().Get("token")}}); code != 200 || u.Path != "/ui/credits" || !strings.Contains(body, "billing_admin") {
		t.Fatalf("invited admin signs in: %d at %s", code, u)
	}
	// A billing admin may not invite.
	if code, _, _ := n.post("/ui/accounts", url.Values{"invite_email": {"x@acme.test"}, "invite_role": {"tenant_admin"}}); code != 403 {
		t.Fatalf("billing admin inviting: %d", code)
	}
}

// Billing contacts are the directory's, changed through the writer; receipts of purchases
// are listed on the Credits page and download as documents.
func TestContactsAndReceipts(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	c := h.client(nil)
	c.signIn("billing@acme.test")
	c.get("/ui/contacts")
	if code, body, _ := c.post("/ui/contacts/add", url.Values{"email": {"not an email"}}); code != 422 || !strings.Contains(body, `id="email-err"`) {
		t.Fatalf("bad contact: %d\n%s", code, body)
	}
	if len(h.state().Dir.Contacts) != 0 {
		t.Fatal("a refused contact was added")
	}
	code, body, _ := c.post("/ui/contacts/add", url.Values{"email": {"Pay@Acme.test"}, "name": {"Accounts payable"}})
	if code != 200 || !strings.Contains(body, "Accounts payable") || len(h.state().Dir.Contacts) != 1 {
		t.Fatalf("add contact: %d\n%s", code, body)
	}
	email := h.state().Dir.Contacts[0].Email
	if code, _, _ := c.post("/ui/contacts/remove", url.Values{"email": {email}}); code != 200 || len(h.state().Dir.Contacts) != 0 {
		t.Fatalf("remove contact: %d", code)
	}

	c.get("/ui/credits")
	c.post("/ui/credits/method", url.Values{"method": {"ea:AG-1:PO-7"}})
	c.post("/ui/credits/funds", url.Values{"funds_amount": {"75"}})
	rs, err := h.st.Receipts(ctx, tenantID, "", 0)
	if err != nil || len(rs) != 1 {
		t.Fatalf("receipts stored: %d, %v", len(rs), err)
	}
	_, body, _ = c.get("/ui/credits")
	if !strings.Contains(body, `href="/ui/receipts/`+rs[0].Number+`"`) {
		t.Fatalf("credits page does not link receipt %s:\n%s", rs[0].Number, body)
	}
	req, _ := http.NewRequest(http.MethodGet, h.url+"/ui/receipts/"+rs[0].Number, nil)
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Disposition"), rs[0].Number) || !strings.Contains(string(doc), "75.00") {
		t.Fatalf("receipt document: %d %q\n%s", res.StatusCode, res.Header.Get("Content-Disposition"), doc)
	}
	// Another tenant's receipt is not found from this session.
	if code, _, _ := c.get("/ui/receipts/CC-globex-000001"); code != http.StatusNotFound {
		t.Fatalf("foreign receipt: %d", code)
	}
}

// The usage export downloads as the zip of domain §8 (PSTN.calls.<date>.csv and
// parameters.json with the filter), or as XLSX; a bad filter is refused on a page.
func TestUsageExport(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	h.submit("fund", tenant.AddFunds{Amount: 10000, Method: "ea:AG-1"})
	for i, u := range []string{"alice", "alice", "bob"} {
		id := "x" + strconv.Itoa(i)
		caller := map[string]string{"alice": "+442071838750", "bob": "+12025550100"}[u]
		h.submit("", tenant.Authorize{CallID: id, Type: payer.UserOut, Principal: u, Caller: caller, Callee: "+12125550199"})
		h.submit("", tenant.Settle{CallID: id, Seconds: 61})
	}
	c := h.client(nil)
	c.signIn("reader@acme.test")
	_, page, _ := c.get("/ui/reports/usage?user=alice")
	m := regexp.MustCompile(`id="export-zip" href="([^"]+)"|href="([^"]+)" id="export-zip"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no zip link on the usage page:\n%s", page)
	}
	link := html.UnescapeString(m[1] + m[2])
	req, _ := http.NewRequest(http.MethodGet, h.url+link, nil)
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("zip export: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name] = string(b)
	}
	csvName := "PSTN.calls." + time.Now().UTC().Format("2006-01-02") + ".csv"
	if !strings.Contains(files["parameters.json"], `"user": "alice"`) && !strings.Contains(files["parameters.json"], `"user":"alice"`) {
		t.Errorf("parameters.json lacks the user filter:\n%s", files["parameters.json"])
	}
	rows := strings.Split(strings.TrimSpace(files[csvName]), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[0], "UsageId,Call ID") || strings.Contains(files[csvName], "Bob Baker") {
		t.Fatalf("%s: want the header and alice's 2 calls, got %d lines (files %v):\n%s", csvName, len(rows), len(files), files[csvName])
	}
	if code, body, _ := c.get("/ui/reports/usage/export?format=xlsx"); code != 200 || !strings.HasPrefix(body, "PK") {
		t.Fatalf("xlsx export: %d", code)
	}
	if code, body, _ := c.get("/ui/reports/usage/export?format=zip&from=yesterday"); code != 422 || !strings.Contains(body, "not a date") {
		t.Fatalf("bad export filter: %d\n%s", code, body)
	}
	if code, _, _ := c.get("/ui/reports/usage/export?format=pdf"); code != 422 {
		t.Fatalf("unknown export format: %d", code)
	}
}
