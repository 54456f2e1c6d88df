package web_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/report"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
)

// withCalls funds acme and places calls, so that the funding help has a burn to measure.
func withCalls(h *harness, n int) {
	h.submit("fund", tenant.AddFunds{Amount: 10000, Method: "ea:AG-1"})
	for i := range n {
		id := "fc" + strconv.Itoa(i)
		h.submit("", tenant.Authorize{CallID: id, Type: payer.UserOut, Principal: "alice", Caller: "+442071838750", Callee: "+971501234567"})
		h.submit("", tenant.Settle{CallID: id, Seconds: 600})
	}
}

// The funding help shows the report engine's runway, suggestion and dry run; bad dry-run
// settings are refused next to their field and nothing is changed either way.
func TestFundingHelp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, _ *store.SQL) { testFundingHelp(t, dsn) })
}

func testFundingHelp(t *testing.T, dsn string) {
	h := newHarness(t, dsn, false)
	withCalls(h, 12)
	e := &report.Engine{Store: h.st}
	want, err := e.Funding(ctx, report.FundingRequest{Tenant: tenantID})
	if err != nil || want.Suggestion == nil || want.RunwayDays == nil {
		t.Fatalf("engine: %+v, %v", want, err)
	}
	c := h.client(nil)
	c.signIn("billing@acme.test")
	before := h.snapshot()
	code, body, _ := c.get("/ui/funding")
	if code != 200 {
		t.Fatalf("funding page: %d\n%s", code, body)
	}
	for _, s := range []string{html.EscapeString(want.Runway), `id="runway"`, "<strong>" + want.Suggestion.Amount + " USD</strong>",
		"<strong>" + want.Suggestion.Trigger + " USD</strong>", `id="use-suggestion"`, `aria-current="page">Funding help`} {
		if !strings.Contains(body, s) {
			t.Errorf("funding page lacks %q", s)
		}
	}
	// The page's default dry run is the suggestion's (auto-recharge is off).
	if want.DryRun == nil || want.DryRun.Settings.Source != "suggested" ||
		!strings.Contains(body, `id="dry-recharges">`+strconv.Itoa(want.DryRun.Recharges)+" (") {
		t.Errorf("default dry run %+v not on the page", want.DryRun)
	}

	// "Use these settings" fills in the Credits page's auto-recharge form; nothing is saved.
	m := regexp.MustCompile(`id="use-suggestion" href="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no use-suggestion link")
	}
	code, body, _ = c.get(html.UnescapeString(m[1]))
	if code != 200 || !strings.Contains(body, `id="trigger" name="trigger" type="text" value="`+want.Suggestion.Trigger+`"`) ||
		!strings.Contains(body, `id="recharge_amount" name="recharge_amount" type="text" value="`+want.Suggestion.Amount+`"`) ||
		!strings.Contains(body, `id="enabled" name="enabled" checked`) {
		t.Fatalf("credits page not filled in from the suggestion: %d\n%s", code, body)
	}
	h.unchanged(t, before, "following the suggestion")

	// A dry run of given settings matches the engine's for the same settings.
	for _, tc := range []struct{ trigger, amount, cap string }{{"5", "50", ""}, {"40", "50.00", "50"}, {"0", "60", ""}} {
		q := url.Values{"trigger": {tc.trigger}, "amount": {tc.amount}, "monthly_cap": {tc.cap}}
		code, body, _ := c.get("/ui/funding?" + q.Encode())
		st := recharge.Settings{Enabled: true, Trigger: mustAmount(t, tc.trigger), Amount: mustAmount(t, tc.amount)}
		if tc.cap != "" {
			st.MonthlyCap = mustAmount(t, tc.cap)
		}
		f, err := e.Funding(ctx, report.FundingRequest{Tenant: tenantID, Settings: &st})
		if err != nil {
			t.Fatal(err)
		}
		d := f.DryRun
		caps := "none"
		if len(d.CapReachedMonths) > 0 {
			caps = strings.Join(d.CapReachedMonths, ", ")
		}
		for _, s := range []string{`id="dry-recharges">` + strconv.Itoa(d.Recharges) + " (" + d.Recharged + " USD)",
			`id="dry-lowest">` + d.LowestBalance + " USD", `id="dry-refused">` + strconv.Itoa(d.RefusedCalls),
			`id="dry-cut">` + strconv.Itoa(d.CutShort) + "<", `id="dry-caps">` + caps + "<", `id="use-tried"`} {
			if code != 200 || !strings.Contains(body, s) {
				t.Errorf("dry run %+v: %d, page lacks %q", tc, code, s)
			}
		}
		h.unchanged(t, before, fmt.Sprintf("dry run %+v", tc))
	}

	for _, tc := range []struct {
		name string
		q    url.Values
		want string
	}{
		{"negative trigger", url.Values{"trigger": {"-5"}, "amount": {"50"}}, `id="trigger-err"`},
		{"too many decimals", url.Values{"trigger": {"5"}, "amount": {"50.001"}}, `id="amount-err"`},
		{"not an amount", url.Values{"trigger": {"five"}, "amount": {"50"}}, `id="trigger-err"`},
		{"amount below the minimum purchase", url.Values{"trigger": {"5"}, "amount": {"10"}}, "below the minimum purchase"},
		{"missing amount", url.Values{"trigger": {"5"}}, `id="amount-err"`},
		{"cap below the amount", url.Values{"trigger": {"5"}, "amount": {"50"}, "monthly_cap": {"20"}}, `id="monthly_cap-err"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := c.get("/ui/funding?" + tc.q.Encode())
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, tc.want) || !strings.Contains(body, "No dry run was made") {
				t.Fatalf("%d, want 422 with %q\n%s", code, tc.want, body)
			}
			if strings.Contains(body, `id="dry-recharges"`) {
				t.Error("a refused dry run shows a result")
			}
			h.unchanged(t, before, "a refused dry run")
		})
	}

	for _, tc := range []struct {
		email string
		code  int
	}{{"reader@acme.test", 403}, {"admin@acme.test", 200}, {"billing@acme.test", 200}} {
		c := h.client(nil)
		c.signIn(tc.email)
		if code, _, _ := c.get("/ui/funding?trigger=5&amount=50"); code != tc.code {
			t.Errorf("%s: %d, want %d", tc.email, code, tc.code)
		}
	}
}

// Without calls there is no burn: the page says so and offers no suggestion.
func TestFundingHelpNoBurn(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	c := h.client(nil)
	c.signIn("admin@acme.test")
	code, body, _ := c.get("/ui/funding")
	if code != 200 || !strings.Contains(body, "no burn rate to project") || strings.Contains(body, `id="use-suggestion"`) ||
		!strings.Contains(body, `id="dryrun-none"`) {
		t.Fatalf("%d\n%s", code, body)
	}
	if code, body, _ := c.get("/ui/funding?trigger=0&amount=50"); code != 200 || !strings.Contains(body, `id="dry-recharges">0 (`) {
		t.Fatalf("dry run without history: %d\n%s", code, body)
	}
}

func mustAmount(t *testing.T, s string) money.Amount {
	t.Helper()
	a, err := money.ParseAmount(s, usd)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
