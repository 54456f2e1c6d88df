package web_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/web"
)

// Malformed query strings and forms (bad dates, unknown enum values, NUL bytes, very long
// ids) are answered as bad input or not found, never with a 500, for every role.
func TestMalformedInputNever500(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	long := strings.Repeat("x", 5000)
	for _, who := range []string{"admin@acme.test", "reader@acme.test", "ops@operator.test"} {
		c := h.client(nil)
		c.signIn(who)
		if who == "ops@operator.test" {
			c.post("/ui/tenants/switch", url.Values{"tenant": {"acme"}})
		}
		for _, p := range []string{
			"/ui/reports/usage?from=bad&to=bad", "/ui/reports/usage?from=2026-13-45", "/ui/reports/usage?call_type=zzz&capability=%00",
			"/ui/reports/usage/export?format=zzz", "/ui/reports/usage/export?format=zip&from=x", "/ui/reports/usage/export?format=csv&user=%00",
			"/ui/reports/usage/export?format=xlsx&from=1900-01-01&to=2999-01-01",
			"/ui/reports/pools?month=zz", "/ui/reports/pools?month=9999-99", "/ui/reports/blocked?from=x&to=y",
			"/ui/reports/statement?from=x", "/ui/reports/statement?from=2026-01-01&to=2020-01-01",
			"/ui/receipts/" + long, "/ui/receipts/%00", "/ui/receipts/..%2f..%2fx",
			"/ui/credits?cursor=zz&limit=99999999999", "/ui/users?cursor=%00&limit=-1", "/ui/funding?days=abc&threshold=%00&amount=1e999",
			"/ui/webhooks?edit=" + long, "/ui/numbers?q=%00", "/ui/policies?user=" + long, "/ui/accounts", "/ui/contacts",
			"/ui/signin?next=//evil.test", "/ui/signin/link?token=" + long,
		} {
			code, body, _ := c.get(p)
			if code >= 500 {
				t.Errorf("%s GET %s: %d %s", who, p[:min(len(p), 80)], code, body[:min(len(body), 300)])
			}
		}
		for _, f := range []struct {
			p string
			v url.Values
		}{
			{"/ui/webhooks/resend", url.Values{"delivery": {"nopipe"}}},
			{"/ui/webhooks/resend", url.Values{"delivery": {"a/b/c|bogus"}}},
			{"/ui/webhooks/delete", url.Values{"id": {long}}},
			{"/ui/credits/funds", url.Values{"amount": {"1e99"}}},
			{"/ui/credits/funds", url.Values{"amount": {"\x00"}}},
			{"/ui/credits/autorecharge", url.Values{"threshold": {"-1"}, "amount": {long}}},
			{"/ui/credits/method", url.Values{"method": {long}}},
			{"/ui/users", url.Values{"id": {long}, "kind": {"zzz"}}},
			{"/ui/users/licences", url.Values{"user": {long}, "licences": {"\x00"}}},
			{"/ui/users/location", url.Values{"user": {"alice"}, "location": {"\x00"}}},
			{"/ui/numbers/acquire", url.Values{"number": {long}, "type": {"zzz"}}},
			{"/ui/numbers/assign", url.Values{"number": {"+1"}, "user": {long}}},
			{"/ui/numbers/release", url.Values{"number": {"\x00"}}},
			{"/ui/bridge/tollfree", url.Values{"user": {long}}},
			{"/ui/policies", url.Values{"user": {long}, "dial_out": {"zzz"}}},
			{"/ui/accounts", url.Values{"email": {long}, "role": {"operator"}}},
			{"/ui/contacts/add", url.Values{"email": {long}}},
			{"/ui/contacts/remove", url.Values{"email": {long}}},
			{"/ui/tenants/switch", url.Values{"tenant": {long}}},
			{"/ui/tenants", url.Values{"new_id": {"\x00"}}},
		} {
			code, body, _ := c.post(f.p, f.v)
			if code >= 500 {
				t.Errorf("%s POST %s %v: %d %s", who, f.p, f.v.Encode()[:min(80, len(f.v.Encode()))], code, body[:min(len(body), 300)])
			}
		}
	}
}

// A resend names a delivery of the log ("<event id>|<target>"); one that is malformed or
// names no logged event of the tenant is not found (404 on the page), not a 500, and
// never reaches the job queue (nil here).
func TestResendOfUnknownDeliveryIsNotFound(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	src := web.JobsWebhooks{Store: h.st}
	for _, id := range []string{"", "nopipe", "purchase_succeeded/acme/1|bogus", "purchase_succeeded/acme/1|email",
		"a/b/c|webhook:wh_1", strings.Repeat("x", 5000) + "|email", "\x00|\x00"} {
		if err := src.Resend(ctx, tenantID, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("resend %.40q: %v, want not found", id, err)
		}
	}
}

// An operator who switched tenant in another tab and then sends a form of the first tab's
// page must not change the tenant switched to: each form names the tenant it was rendered
// for, and a mismatch is refused with nothing changed.
func TestFormOfAnotherTenantIsRefusedAfterASwitch(t *testing.T) {
	h := newHarness(t, "sqlite:"+t.TempDir()+"/cc.db", false)
	method := func(id string) string {
		st, err := h.st.State(ctx, id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return st.Recharge.Settings.PaymentMethod
	}
	c := h.client(nil)
	c.signIn("ops@operator.test")
	c.post("/ui/tenants/switch", url.Values{"tenant": {tenantID}})
	if code, body, _ := c.get("/ui/credits"); code != http.StatusOK || !strings.Contains(body, `name="tenant_ctx" value="`+tenantID+`"`) {
		t.Fatalf("credits page of %s: %d, no tenant_ctx field\n%s", tenantID, code, body)
	}
	c.post("/ui/tenants/switch", url.Values{"tenant": {"globex"}}) // the other tab
	code, body, _ := c.post("/ui/credits/method", url.Values{"method": {"ea:AG-1"}, "tenant_ctx": {tenantID}})
	if code != http.StatusConflict || !strings.Contains(body, "Nothing was changed") {
		t.Fatalf("stale form: %d, want 409\n%s", code, body)
	}
	if m, n := method("globex"), method(tenantID); m != "" || n != "" {
		t.Fatalf("a stale form changed a tenant: globex %q, %s %q", m, tenantID, n)
	}
	if code, body, _ := c.post("/ui/credits/method", url.Values{"method": {"ea:AG-1"}, "tenant_ctx": {"globex"}}); code != http.StatusOK {
		t.Fatalf("form of the current tenant: %d\n%s", code, body)
	}
	if m := method("globex"); m != "ea:AG-1" {
		t.Fatalf("globex method %q after its own form", m)
	}
}

// A NUL byte or invalid UTF-8 in a form is bad input (400) on both engines, with nothing
// changed: PostgreSQL cannot store it, and a command carrying one would fail the writer's
// whole group commit.
func TestFormWithNULIsBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, _ *store.SQL) {
		h := newHarness(t, dsn, false)
		c := h.client(nil)
		c.signIn("admin@acme.test")
		for _, f := range []struct {
			path string
			form url.Values
		}{
			{"/ui/users", url.Values{"id": {"dave"}, "display_name": {"Da\x00ve"}, "kind": {"user"}, "usage_location": {"GB"}}},
			{"/ui/users", url.Values{"id": {"dave"}, "display_name": {"Da\xffve"}, "kind": {"user"}, "usage_location": {"GB"}}},
			{"/ui/credits/method", url.Values{"method": {"ea:AG\x00"}}},
			{"/ui/credits/method", url.Values{"method": {"ea:AG\xff"}}},
			{"/ui/contacts/add", url.Values{"email": {"a@b.test"}, "name": {"N\x00"}}},
			{"/ui/webhooks", url.Values{"url": {"https://h.test/\x00"}}},
			{"/ui/webhooks", url.Values{"url": {"https://h.test/"}, "secret": {strings.Repeat("\x00", 40)}}},
			{"/ui/accounts", url.Values{"invite_email": {"a\xff@b.test"}, "invite_role": {"billing_admin"}}},
			{"/ui/users", url.Values{"id": {"dave"}, "display_name": {"Dave"}, "kind": {"user"}, "usage_location": {"GB"}, "idem": {"k\x00"}}},
		} {
			before := h.snapshot()
			code, body, _ := c.post(f.path, f.form)
			if code != http.StatusBadRequest && code != http.StatusUnprocessableEntity {
				t.Errorf("%s %q: %d, want 400 or 422\n%.400s", f.path, f.form.Encode(), code, body)
			}
			if h.state().Dir.Users["dave"] != nil || h.snapshot() != before || len(h.state().Dir.Webhooks) != 0 {
				t.Errorf("%s %q: the form changed the tenant", f.path, f.form.Encode())
			}
		}
	})
}
