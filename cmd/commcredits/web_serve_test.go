package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/web"
)

// checkWebhooksPage signs in to the web UI of a running serve as an admin of tenant, finds
// the delivery of webhook hookID in the delivery log and resends it; it returns once the
// page has accepted the resend.
func checkWebhooksPage(t *testing.T, base string, st *store.SQL, tenantID, hookID string) {
	t.Helper()
	const pw = "a long enough password"
	if _, err := web.NewAccounts(st.DB(), time.Now).Create(t.Context(), "admin@"+tenantID+".test", pw, web.RoleTenantAdmin, tenantID); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	csrfRE := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	var csrf string
	do := func(method, path string, form url.Values) (int, string) {
		t.Helper()
		var res *http.Response
		var err error
		if method == http.MethodGet {
			res, err = c.Get(base + path)
		} else {
			form.Set("csrf", csrf)
			res, err = c.PostForm(base+path, form)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if m := csrfRE.FindSubmatch(b); m != nil {
			csrf = string(m[1])
		}
		return res.StatusCode, string(b)
	}
	do(http.MethodGet, "/ui/signin", nil)
	if code, body := do(http.MethodPost, "/ui/signin", url.Values{"email": {"admin@" + tenantID + ".test"}, "password": {pw}}); code != 200 || !strings.Contains(body, "Signed in") {
		t.Fatalf("sign in: %d\n%s", code, body)
	}
	code, body := do(http.MethodGet, "/ui/webhooks", nil)
	m := regexp.MustCompile(`name="delivery" value="([^"]*webhook:` + hookID + `)"`).FindStringSubmatch(body)
	if code != 200 || !strings.Contains(body, `id="deliveries"`) || m == nil {
		t.Fatalf("webhooks page: %d, no delivery to webhook:%s\n%s", code, hookID, body)
	}
	if code, body := do(http.MethodPost, "/ui/webhooks/resend", url.Values{"delivery": {m[1]}}); code != 200 || !strings.Contains(body, "queued again") {
		t.Fatalf("resend: %d\n%s", code, body)
	}
}

// Without an SMTP relay serve sends no sign-in link and logs none (a logged link signs in
// whoever reads the log), unless --log-sign-in-links asks for it.
func TestServeSignInLinksWithoutRelay(t *testing.T) {
	for _, logged := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "cc.db")
		args := []string{"--db", "sqlite:" + path, "--insecure-cookies"}
		if logged {
			args = append(args, "--log-sign-in-links")
		}
		s := startServe(t, noEnv, args...)
		d, err := db.Open(t.Context(), "sqlite:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := web.NewAccounts(d, time.Now).Create(t.Context(), "ops@example.com", "", web.RoleOperator, ""); err != nil {
			t.Fatal(err)
		}
		d.Close()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		res, err := c.Get(s.base + "/ui/signin")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no csrf token on the sign-in page:\n%s", b)
		}
		res, err = c.PostForm(s.base+"/ui/signin/link", url.Values{"csrf": {string(m[1])}, "link_email": {"ops@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("link request: %d", res.StatusCode)
		}
		if code := s.shutdown(t); code != 0 {
			t.Fatalf("exit %d", code)
		}
		if got := strings.Contains(s.stderr.String(), "token="); got != logged {
			t.Fatalf("--log-sign-in-links=%v: link in the log %v\n%s", logged, got, s.stderr)
		}
	}
}
