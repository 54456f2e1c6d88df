package web_test

import (
	"archive/zip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/web"
)

// envChromium names the browser binary when it is not on PATH as chromium.
const envChromium = "COMMCREDITS_CHROMIUM"

// chromiumPath finds Chromium. A missing browser fails the test: the browser tests are
// part of the suite (.ci/run installs Chromium when it is missing).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(envChromium); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("Chromium not found: the browser tests need it. Install it (apt-get install -y chromium, as .ci/run does) or set %s to the browser binary.", envChromium)
	return ""
}

// browser is one headless Chromium with a fresh profile.
type browser struct {
	t    *testing.T
	h    *harness
	ctx  context.Context
	shot string // screenshot directory
	n    int
}

func newBrowser(t *testing.T, h *harness) *browser {
	// A fresh profile, removed after the browser has exited (t.TempDir's own removal can
	// race with Chromium's last writes).
	profile, err := os.MkdirTemp("", "commcredits-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(bctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelT()
		cancelB() // the first tab's cancel closes the browser
		cancelA()
		for range 20 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	// The screenshots of this run only: the numbering changes when pages are added.
	dir := filepath.Join("..", "..", "artifacts", "screenshots")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, h: h, ctx: ctx, shot: dir}
}

func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// open loads a page and waits until it has rendered.
func (b *browser) open(path string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.h.url+path), chromedp.WaitReady("main", chromedp.ByQuery))
}

// submit sends the form and waits for the page that answers it.
func (b *browser) submit(form string) {
	b.t.Helper()
	b.navigating("submit "+form, chromedp.Submit(form, chromedp.ByQuery))
}

// navigating runs act and waits for the page it loads: the marker set on the old document
// is gone once the new one has loaded.
func (b *browser) navigating(what string, act chromedp.Action) {
	b.t.Helper()
	b.run(what, chromedp.Evaluate(`window.__before = true`, nil), act)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var done bool
		// While the old document unloads the evaluation can fail: try again.
		err := chromedp.Run(b.ctx, chromedp.Evaluate(`window.__before === undefined && document.readyState === "complete"`, &done))
		if err == nil && done {
			break
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: no new page after 20s (%v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.run("wait after "+what, chromedp.WaitReady("main", chromedp.ByQuery))
}

// fill replaces an input's value.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	b.run("fill "+sel, chromedp.SetValue(sel, value, chromedp.ByQuery))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.run("read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.NodeVisible))
	return strings.TrimSpace(s)
}

func (b *browser) contains(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); !strings.Contains(got, want) {
		b.screenshot("failed")
		b.t.Fatalf("%s says %q, want it to contain %q", sel, got, want)
	}
}

// unlabelled lists the form controls of the page that no label names.
const unlabelled = `[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
	.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
	.map(e => e.id || e.name)`

// screenshot saves the whole page as artifacts/screenshots/NN-name.png, after checking that
// every control on it has a label.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	var bare []string
	b.run("labels on "+name, chromedp.Evaluate(unlabelled, &bare))
	if len(bare) > 0 && name != "failed" {
		b.t.Errorf("page %s: controls without a label: %v", name, bare)
	}
	var png []byte
	b.run("screenshot "+name, chromedp.FullScreenshot(&png, 100))
	b.n++
	if err := os.WriteFile(filepath.Join(b.shot, fmt.Sprintf("%02d-%s.png", b.n, name)), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// The whole admin journey in a real browser, against a server on 127.0.0.1 with a SQLite
// database: sign in, set up credits with auto-recharge, bulk licences from a CSV, calls
// through the writer the server uses, the balance and the reports following them, a refused
// call in blocked users, a forged CSRF token and an expired session rejected.
func TestBrowser(t *testing.T) {
	h := newHarness(t, "sqlite:"+filepath.Join(t.TempDir(), "cc.db"), false)
	b := newBrowser(t, h)

	b.open("/ui/credits")
	b.contains("h1", "Sign in")
	b.screenshot("signin")
	// By keyboard only: type, Tab to the password, Enter to sign in.
	b.run("focus email", chromedp.Focus("#email", chromedp.ByQuery), chromedp.KeyEvent("admin@acme.test"), chromedp.KeyEvent("\t"))
	var focused string
	b.run("tab", chromedp.Evaluate(`document.activeElement.id`, &focused))
	if focused != "password" {
		t.Fatalf("Tab from the email went to %q, want the password", focused)
	}
	b.navigating("type password and Enter", chromedp.KeyEvent(adminPW+"\r"))
	b.contains("#flash", "Signed in as admin@acme.test")
	b.contains("#balance", "0.00 USD")
	b.screenshot("credits-empty")

	// Payment method, then a bad amount: the page says so next to the field.
	b.fill("#method", "ea:AG-1:PO-7")
	b.submit("#method-form")
	b.contains("#flash", "Payment method saved")
	before := h.snapshot()
	b.fill("#funds_amount", "12,50")
	b.submit("#funds-form")
	b.contains("#funds_amount-err", "is not an amount")
	b.screenshot("credits-invalid-amount")
	h.unchanged(t, before, "an invalid amount")
	b.fill("#funds_amount", "100.00")
	b.submit("#funds-form")
	b.contains("#flash", "Balance now 100.00 USD")
	b.contains("#balance", "100.00 USD")

	// Auto-recharge: 50.00 when the available balance falls below 30.00.
	b.run("enable auto-recharge", chromedp.Click("#enabled", chromedp.ByQuery))
	b.fill("#trigger", "30")
	b.fill("#recharge_amount", "50.00")
	b.fill("#payment_method", "ea:AG-1:PO-7")
	b.submit("#autorecharge-form")
	b.contains("#autorecharge-status", "On: 50.00 USD when the available balance falls below 30.00 USD")
	b.screenshot("credits-funded")

	// Bulk licences: a CSV with a bad row is refused as a whole; then the good one.
	b.open("/ui/users")
	b.fill("#csv_text", "user_id,add,remove\nbob,MCOPSTNPP,\ncarol,NOPE,\n")
	b.submit("#csv-form")
	b.contains("#csv-errors", "line 3")
	b.screenshot("users-csv-errors")
	if h.state().Dir.Users["bob"].Has("MCOPSTNPP") {
		t.Fatal("a CSV with a bad row was applied in part")
	}
	b.fill("#csv_text", "user_id,add,remove\nbob,MCOPSTNPP,\n")
	b.submit("#csv-form")
	b.contains("#flash", "1 row(s)")
	b.screenshot("users")

	// A spend limit for alice from the policies page.
	b.open("/ui/policies")
	b.run("choose alice", chromedp.SetValue("#user", "alice", chromedp.ByQuery))
	b.fill("#spend_limit", "1.00")
	b.submit("#policy-form")
	b.contains("#flash", "spend limit 1.00 USD")
	b.screenshot("policies")

	// Calls, through the writer the server uses (what the switch API submits).
	call := func(id, user, callee string, seconds int64) bool {
		caller := map[string]string{"alice": "+442071838750", "bob": "+12025550100"}[user]
		r := h.submit("", tenant.Authorize{CallID: id, Type: payer.UserOut, Principal: user, Caller: caller, Callee: callee})
		if !r.Authorization.Allowed {
			return false
		}
		h.submit("", tenant.Settle{CallID: id, Seconds: min(seconds, r.Authorization.GrantedSeconds)})
		return true
	}
	for i := range 2 {
		if !call(fmt.Sprint("bob-uae-", i), "bob", "+971501234567", 7200) {
			t.Fatalf("bob's call %d to the UAE refused", i)
		}
	}
	if !call("bob-us", "bob", "+12125550199", 125) {
		t.Fatal("bob's domestic call refused")
	}
	refused := false
	for i := range 6 {
		if !call(fmt.Sprint("alice-", i), "alice", "+971501234567", 120) {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("alice's calls were never refused by her spend limit")
	}
	st := h.state()
	if st.Account.Totals.Funded != 15000 {
		t.Fatalf("auto-recharge did not run once: funded %d", st.Account.Totals.Funded)
	}
	b.open("/ui/credits")
	b.contains("#balance", st.Account.Balance.Format(usd)+" USD")
	b.contains("#transactions", "funding")
	b.contains("#lots", "recharge")
	b.screenshot("credits-after-calls")

	b.open("/ui/reports/usage")
	b.contains("#usage-summary", fmt.Sprintf("%d calls", len(mustUsage(t, h))))
	b.contains("#usage", "Bob Baker")
	b.screenshot("report-usage")
	// Export the report and open the downloaded zip.
	dl := t.TempDir()
	b.run("allow downloads", cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dl))
	b.run("export zip", chromedp.Click("#export-zip", chromedp.ByQuery))
	var zipPath string
	for deadline := time.Now().Add(20 * time.Second); zipPath == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(dl, "*.zip")); len(m) == 1 {
			zipPath = m[0]
		}
	}
	if zipPath == "" {
		t.Fatal("the zip export was not downloaded within 20s")
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatalf("open the downloaded export: %v", err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	zr.Close()
	if len(names) != 2 || !slices.Contains(names, "parameters.json") || !slices.Contains(names, "PSTN.calls."+time.Now().UTC().Format("2006-01-02")+".csv") {
		t.Fatalf("downloaded export holds %v", names)
	}
	b.open("/ui/reports/pools")
	b.contains("#pools", "MCOPSTN1")
	b.screenshot("report-pools")
	b.open("/ui/reports/blocked")
	b.contains("#blocked", "Alice Archer")
	b.contains("#blocked", "spend_limit_reached")
	b.contains("#refusals", "alice")
	b.screenshot("report-blocked")
	b.open("/ui/reports/statement")
	b.contains("#statement", "charge")
	b.screenshot("report-statement")

	// Funding help: the runway, a dry run of other settings, and those settings carried to
	// the Credits page's auto-recharge form, which is not saved until sent.
	before = h.snapshot()
	b.open("/ui/funding")
	b.contains("#runway", "lasts about")
	b.screenshot("funding")
	b.fill("#trigger", "5")
	b.fill("#amount", "50")
	b.run("no cap", chromedp.Evaluate(`document.querySelector('#monthly_cap').value = ''`, nil))
	b.submit("#dryrun-form")
	b.contains("#dryrun", "the settings above")
	b.contains("#dryrun", "recharge 50.00 USD below 5.00 USD")
	b.contains("#dry-verdict", "With these settings")
	b.screenshot("funding-dry-run")
	b.navigating("use these settings", chromedp.Click("#use-tried", chromedp.ByQuery))
	b.contains("#flash", "filled in from the funding help")
	var trig, amt string
	b.run("read the filled form", chromedp.Value("#trigger", &trig, chromedp.ByQuery), chromedp.Value("#recharge_amount", &amt, chromedp.ByQuery))
	if trig != "5.00" || amt != "50.00" {
		t.Fatalf("auto-recharge form filled with trigger %q amount %q, want 5.00 and 50.00", trig, amt)
	}
	b.screenshot("credits-prefilled")
	h.unchanged(t, before, "the funding help")

	// Numbers and the bridge: toll-free works now that credits are set up.
	b.open("/ui/numbers")
	b.fill("#e164", "+18005550100")
	b.run("service number", chromedp.SetValue("#kind", "service", chromedp.ByQuery), chromedp.SetValue("#service", "toll_free", chromedp.ByQuery))
	b.submit("#acquire-form")
	b.contains("#flash", "acquired")
	b.screenshot("numbers")
	b.open("/ui/bridge")
	b.screenshot("bridge")
	b.open("/ui/contacts")
	b.screenshot("contacts")
	b.open("/ui/webhooks")
	b.screenshot("webhooks")
	b.fill("#url", "ftp://hooks.example.test/cc")
	b.submit("#webhook-form")
	b.contains("#url-err", "http://")
	b.screenshot("webhook-refused")
	if n := len(h.state().Dir.Webhooks); n != 0 {
		t.Fatalf("a refused webhook was stored: %d", n)
	}
	b.fill("#url", "https://hooks.example.test/cc")
	b.run("tick an event", chromedp.Click("#ev-0", chromedp.ByQuery))
	b.submit("#webhook-form")
	b.contains("#flash", "created")
	secret := b.text("#new-secret")
	b.screenshot("webhook-created")
	if hs := h.state().Dir.Webhooks; len(hs) != 1 {
		t.Fatalf("webhooks stored: %d", len(hs))
	} else {
		for _, w := range hs {
			if w.Secret != secret || w.URL != "https://hooks.example.test/cc" || len(w.Events) != 1 {
				t.Fatalf("stored %+v, page showed secret %q", w, secret)
			}
		}
	}
	b.open("/ui/accounts")
	b.contains("#accounts", "billing@acme.test")
	b.screenshot("accounts")

	// A forged CSRF token: refused, nothing changed.
	b.open("/ui/credits")
	before = h.snapshot()
	b.run("forge", chromedp.Evaluate(`document.querySelector('#funds-form input[name=csrf]').value = 'forged'`, nil))
	b.fill("#funds_amount", "60")
	b.submit("#funds-form")
	b.contains("main", "security token is missing or wrong")
	b.screenshot("csrf-rejected")
	h.unchanged(t, before, "a forged CSRF token")

	// An expired session: back to sign-in with a message, nothing changed.
	b.open("/ui/credits")
	h.clock.Advance(web.SessionTTL + time.Minute)
	b.fill("#funds_amount", "60")
	b.submit("#funds-form")
	b.contains("#signin-message", "Your session has expired")
	b.screenshot("session-expired")
	h.unchanged(t, before, "an expired session")

	// An operator signs in with an emailed link, creates a tenant and works on it.
	b.fill("#link_email", "ops@operator.test")
	b.submit("form[action='/ui/signin/link']")
	b.contains("#link-sent", "on its way")
	link := h.links.last("ops@operator.test")
	if link == "" {
		t.Fatal("no sign-in link sent")
	}
	b.run("open link", chromedp.Navigate(link), chromedp.WaitReady("#use-link", chromedp.ByQuery))
	b.screenshot("signin-link")
	b.submit("form[action='/ui/signin/link/use']")
	b.contains("h1", "Tenants")
	b.fill("#new_id", "initech")
	b.fill("#new_name", "Initech")
	b.fill("#new_currency", "EUR")
	b.screenshot("tenants")
	b.submit("#tenant-form")
	b.contains("#flash", "Tenant Initech (initech) created")
	b.contains("#balance", "0.00 EUR")
	b.run("switch back", chromedp.SetValue("#switch-tenant", tenantID, chromedp.ByQuery))
	b.submit("form[action='/ui/tenants/switch']")
	b.contains("#flash", "Now working on Acme")
	b.screenshot("operator-on-acme")
}

func mustUsage(t *testing.T, h *harness) []string {
	rows, err := h.st.ReportUsage(ctx, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.CallID
	}
	return out
}
