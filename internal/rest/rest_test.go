package rest_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/commcredits/commcredits/internal/rest"
	"github.com/commcredits/commcredits/internal/service"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
)

func sqliteStore(t testing.TB) *store.SQL {
	return storetest.Open(t, "sqlite:"+filepath.Join(t.TempDir(), "cc.db"))
}

type route struct {
	method, path, id, access string
	op                       *huma.Operation
}

// routes lists every operation registered on the API, from its OpenAPI document: a route
// added later is walked by these tests without touching them.
func routes(a *rest.API) []route {
	var out []route
	for p, item := range a.OpenAPI().Paths {
		for _, m := range []struct {
			method string
			op     *huma.Operation
		}{{"GET", item.Get}, {"PUT", item.Put}, {"POST", item.Post}, {"DELETE", item.Delete}, {"PATCH", item.Patch}} {
			if m.op == nil {
				continue
			}
			acc, _ := m.op.Metadata["access"].(string)
			out = append(out, route{m.method, p, m.op.OperationID, acc, m.op})
		}
	}
	return out
}

// fill puts tenant and plausible values into a route's path parameters.
func fill(p, tenantID string) string {
	r := strings.NewReplacer("{tenant}", tenantID, "{user_id}", "alice", "{call_id}", "c1", "{e164}", "+12025550101",
		"{key_id}", "key_0000000000000000", "{code}", "MCOEV", "{service}", "outbound", "{currency}", "USD")
	return r.Replace(p)
}

// plausible bodies, so that a request that got past access control would change something.
var bodies = map[string]any{
	"set-billing-country":     map[string]any{"country": "GB"},
	"set-purchased-licences":  map[string]any{"count": 5},
	"create-key":              map[string]any{"role": "tenant_admin"},
	"put-user":                map[string]any{"display_name": "X", "usage_location": "GB"},
	"put-users-bulk":          map[string]any{"users": []any{map[string]any{"id": "x", "display_name": "X", "usage_location": "GB"}}},
	"assign-licences":         map[string]any{"user_ids": []string{"alice"}, "remove": []string{"MCOPSTNPP"}},
	"set-usage-location":      map[string]any{"country": "DE"},
	"set-policies":            map[string]any{"pstn": "none"},
	"set-spend-limit":         map[string]any{"limit": "1.00"},
	"set-organizer-toll-free": map[string]any{"disabled": true},
	"acquire-number":          map[string]any{"e164": "+12025550102", "kind": "user"},
	"assign-number":           map[string]any{"to": "alice"},
	"add-funds":               map[string]any{"amount": "10.00", "method": "ea:T-1"},
	"set-auto-recharge":       map[string]any{"enabled": false, "trigger": "0", "amount": "0"},
	"set-payment-method":      map[string]any{"method": "ea:X-2"},
	"authorize-call":          map[string]any{"call_id": "c9", "call_type": "user_out", "principal": "alice", "callee": "+14155550100"},
	"extend-call":             map[string]any{"seconds": 60},
	"settle-call":             map[string]any{"seconds": 60},
	"release-call":            map[string]any{},
	"post-cdr":                map[string]any{"call_id": "c8", "call_type": "user_out", "principal": "alice", "callee": "+14155550100", "start": "2026-01-01T00:00:00Z", "duration_seconds": 60},
	"post-cdr-batch":          map[string]any{"cdrs": []any{map[string]any{"call_id": "c7", "call_type": "user_out", "principal": "alice", "callee": "+14155550100", "start": "2026-01-01T00:00:00Z", "duration_seconds": 60}}},
	"import-cdrs":             []byte("tenant,call_id,call_type,principal,callee,start,duration_seconds\nta,c6,user_out,alice,+14155550100,2026-01-01T00:00:00Z,60\n"),
	"import-licences":         []byte("user_id,add,remove\nalice,,MCOPSTNPP\n"),
	"upload-rate-card":        []byte(outboundCard),
	"create-tenant":           map[string]any{"id": "tz", "name": "Z", "currency": "USD"},
	"create-operator-key":     map[string]any{"name": "x"},
}

// A key of one tenant can never read or change another: every route, with every role of
// tenant tb, against tenant ta, is refused (404 for tenant routes, 403 for operator ones)
// and ta is exactly as before.
func TestForeignKeyWalksEveryRoute(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	// A call in progress in ta, so that extend, settle and release would have something to end.
	h.do("POST", "/v1/tenants/ta/calls/authorize", h.keys["ta"]["switch"], map[string]any{"call_id": "c1", "call_type": "user_out",
		"principal": "alice", "caller": "+442071838750", "callee": "+14155550100"}).want(200)
	before := h.snapshot("ta")
	rs := routes(h.api)
	if len(rs) < 40 {
		t.Fatalf("only %d routes found", len(rs))
	}
	for _, r := range rs {
		for _, role := range service.TenantRoles {
			t.Run(r.id+"/"+role, func(t *testing.T) {
				h.t = t
				res := h.do(r.method, fill(r.path, "ta"), h.keys["tb"][role], bodies[r.id], "Idempotency-Key", "walk-"+r.id)
				switch {
				case strings.Contains(r.path, "{tenant}"):
					res.want(http.StatusNotFound)
				case r.method == http.MethodGet && rest.Allowed(r.access, role):
					res.want(http.StatusOK) // catalogs shared by every tenant: no tenant's data
				default:
					res.want(http.StatusForbidden)
				}
				if ct := res.header.Get("Content-Type"); res.code >= 400 && ct != "application/problem+json" {
					t.Errorf("content type %q", ct)
				}
			})
		}
	}
	h.t = t
	if after := h.snapshot("ta"); after != before {
		t.Fatalf("tenant ta changed:\nbefore %s\nafter  %s", before, after)
	}
	// The walk reached the handlers' tenant check, not a missing route: the same requests
	// with ta's own admin key get past it (spot check).
	h.do("GET", "/v1/tenants/ta/credits", h.keys["ta"]["billing_admin"], nil).want(200)
}

// Every role of a tenant, on every route of its own tenant: refused with 403 exactly when
// the role may not call the route, and never refused for a role that may.
func TestRoleMatrix(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	roles := append([]string{service.RoleOperator}, service.TenantRoles...)
	for _, r := range routes(h.api) {
		if r.access == "" {
			t.Fatalf("%s declares no access class", r.id)
		}
		for _, role := range roles {
			key := h.op
			if role != service.RoleOperator {
				key = h.keys["ta"][role]
			}
			allowed := rest.Allowed(r.access, role)
			t.Run(r.id+"/"+role, func(t *testing.T) {
				h.t = t
				res := h.do(r.method, fill(r.path, "ta"), key, bodies[r.id], "Idempotency-Key", "matrix-"+role+"-"+r.id)
				if !allowed {
					res.want(http.StatusForbidden)
					return
				}
				if res.code == http.StatusForbidden || res.code == http.StatusUnauthorized || res.code >= 500 {
					t.Fatalf("allowed role got %d: %s", res.code, res.body)
				}
			})
		}
	}
	// What the issue names explicitly.
	for _, c := range []struct {
		role, id string
		want     bool
	}{
		{service.RoleSwitch, "authorize-call", true}, {service.RoleSwitch, "post-cdr", true}, {service.RoleSwitch, "get-balance", false},
		{service.RoleSwitch, "put-user", false}, {service.RoleReportsReader, "report-usage", true}, {service.RoleReportsReader, "add-funds", false},
		{service.RoleReportsReader, "authorize-call", false}, {service.RoleBillingAdmin, "add-funds", true}, {service.RoleBillingAdmin, "put-user", false},
		{service.RoleTenantAdmin, "create-tenant", false}, {service.RoleTenantAdmin, "upload-rate-card", false},
	} {
		for _, r := range routes(h.api) {
			if r.id == c.id && rest.Allowed(r.access, c.role) != c.want {
				t.Errorf("%s may call %s: %v, want %v", c.role, c.id, !c.want, c.want)
			}
		}
	}
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	for _, c := range []struct{ name, key string }{
		{"none", ""}, {"unknown", "cc_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, {"not ours", "Basic Zm9vOmJhcg=="},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			res := h.do("GET", "/v1/tenants/ta/credits", c.key, nil).want(http.StatusUnauthorized)
			if res.header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate")
			}
		})
	}
	h.t = t
	// A revoked key stops working at once.
	res := h.do("POST", "/v1/tenants/ta/keys", h.keys["ta"]["tenant_admin"], map[string]any{"role": "reports_reader", "name": "temp"}).want(201)
	k := res.json()
	secret, id := k["secret"].(string), k["id"].(string)
	if !strings.HasPrefix(secret, service.KeyPrefix) {
		t.Fatalf("secret %q", secret)
	}
	h.do("GET", "/v1/tenants/ta/credits", secret, nil).want(200)
	h.do("DELETE", "/v1/tenants/ta/keys/"+id, h.keys["ta"]["tenant_admin"], nil).want(204)
	h.do("GET", "/v1/tenants/ta/credits", secret, nil).want(http.StatusUnauthorized)
	// Keys are stored hashed: the secret appears nowhere in the database.
	ks, err := h.st.APIKeys(context.Background(), "ta", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if strings.Contains(string(k.Hash), secret) || len(k.Hash) != 32 {
			t.Fatalf("key %s stored as %x", k.ID, k.Hash)
		}
	}
	list := h.do("GET", "/v1/tenants/ta/keys", h.keys["ta"]["tenant_admin"], nil).want(200)
	if strings.Contains(string(list.body), "cc_live_") {
		t.Fatalf("key list shows a secret: %s", list.body)
	}
}

func TestOpenAPIAndDocs(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	res := h.do("GET", "/openapi.json", "", nil).want(200)
	doc := res.json()
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi %v", doc["openapi"])
	}
	paths := doc["paths"].(map[string]any)
	for _, p := range []string{"/v1/tenants/{tenant}/calls/authorize", "/v1/tenants/{tenant}/calls/{call_id}/extend",
		"/v1/tenants/{tenant}/calls/{call_id}/settle", "/v1/tenants/{tenant}/calls/{call_id}/release",
		"/v1/tenants/{tenant}/cdrs", "/v1/tenants/{tenant}/cdrs/batch", "/v1/tenants/{tenant}/cdrs/import"} {
		if paths[p] == nil {
			t.Errorf("contract path %s missing", p)
		}
	}
	docs := h.do("GET", "/docs", "", nil).want(200)
	if strings.Contains(string(docs.body), "<script src") || strings.Contains(string(docs.body), "unpkg") {
		t.Fatal("docs page loads an external script")
	}
}

func TestPagination(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	admin := h.keys["ta"]["tenant_admin"]
	for i := range 7 {
		h.do("PUT", fmt.Sprintf("/v1/tenants/ta/users/u%02d", i), admin, map[string]any{"display_name": "U", "usage_location": "US"}).want(200)
	}
	var seen []string
	cursor := ""
	for range 10 {
		res := h.do("GET", "/v1/tenants/ta/users?limit=3&cursor="+cursor, admin, nil).want(200).json()
		for _, it := range res["items"].([]any) {
			seen = append(seen, it.(map[string]any)["id"].(string))
		}
		next, _ := res["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	want := "alice,bob,u00,u01,u02,u03,u04,u05,u06"
	if got := strings.Join(seen, ","); got != want {
		t.Fatalf("pages gave %s, want %s", got, want)
	}
	// Ledger entries page by sequence.
	for i := range 3 {
		h.do("POST", "/v1/tenants/ta/credits/funds", admin, map[string]any{"amount": fmt.Sprintf("%d.00", 50+i), "method": "ea:T-1"}).want(200)
	}
	first := h.do("GET", "/v1/tenants/ta/credits/entries?limit=2", admin, nil).want(200).json()
	second := h.do("GET", "/v1/tenants/ta/credits/entries?limit=2&cursor="+first["next_cursor"].(string), admin, nil).want(200).json()
	if s := second["items"].([]any)[0].(map[string]any)["seq"].(float64); s != 3 {
		t.Fatalf("second page starts at seq %v", s)
	}
}

func TestETags(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	admin := h.keys["ta"]["billing_admin"]
	res := h.do("GET", "/v1/tenants/ta/credits/auto-recharge", admin, nil).want(200)
	etag := res.header.Get("ETag")
	body := map[string]any{"enabled": true, "trigger": "20.00", "amount": "60.00", "payment_method": "ea:T-1"}
	h.do("PUT", "/v1/tenants/ta/credits/auto-recharge", admin, body).want(http.StatusPreconditionRequired)
	h.do("PUT", "/v1/tenants/ta/credits/auto-recharge", admin, body, "If-Match", `"v999"`).want(http.StatusPreconditionFailed)
	h.do("PUT", "/v1/tenants/ta/credits/auto-recharge", admin, body, "If-Match", etag).want(200)
	// A weak or listed ETag is compared as an ETag.
	etag = h.do("GET", "/v1/tenants/ta/credits/auto-recharge", admin, nil).header.Get("ETag")
	h.do("PUT", "/v1/tenants/ta/credits/auto-recharge", admin, body, "If-Match", `"x", W/`+etag).want(200)
	// The old ETag is stale now.
	h.do("PUT", "/v1/tenants/ta/credits/auto-recharge", admin, body, "If-Match", etag).want(http.StatusPreconditionFailed)
	got := h.do("GET", "/v1/tenants/ta/credits/auto-recharge", admin, nil).want(200)
	if got.header.Get("ETag") == etag || got.json()["trigger"] != "20.00" {
		t.Fatalf("after update: %s %s", got.header.Get("ETag"), got.body)
	}
	// Payment method shares the settings version.
	pm := h.do("GET", "/v1/tenants/ta/credits/payment-method", admin, nil).want(200)
	h.do("PUT", "/v1/tenants/ta/credits/payment-method", admin, map[string]any{"method": "ea:Z-9"}, "If-Match", etag).want(http.StatusPreconditionFailed)
	h.do("PUT", "/v1/tenants/ta/credits/payment-method", admin, map[string]any{"method": "ea:Z-9"}, "If-Match", pm.header.Get("ETag")).want(200)
	// Spend limit and policies.
	sl := h.do("GET", "/v1/tenants/ta/users/alice/spend-limit", admin, nil).want(200)
	h.do("PUT", "/v1/tenants/ta/users/alice/spend-limit", admin, map[string]any{"limit": "5.00"}, "If-Match", sl.header.Get("ETag")).want(200)
	h.do("PUT", "/v1/tenants/ta/users/alice/spend-limit", admin, map[string]any{"limit": "6.00"}, "If-Match", sl.header.Get("ETag")).want(http.StatusPreconditionFailed)
	if l := h.do("GET", "/v1/tenants/ta/users/alice/spend-limit", admin, nil).json()["limit"]; l != "5.00" {
		t.Fatalf("limit %v", l)
	}
	ta := h.keys["ta"]["tenant_admin"]
	pol := h.do("GET", "/v1/tenants/ta/users/alice/policies", ta, nil).want(200)
	h.do("PUT", "/v1/tenants/ta/users/alice/policies", ta, map[string]any{"pstn": "domestic"}, "If-Match", `"nope"`).want(http.StatusPreconditionFailed)
	h.do("PUT", "/v1/tenants/ta/users/alice/policies", ta, map[string]any{"pstn": "domestic"}, "If-Match", pol.header.Get("ETag")).want(200)
}

// Concurrent changes sent with the same ETag: exactly one wins, the others are 412.
func TestIfMatchRace(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	ba := h.keys["ta"]["billing_admin"]
	etag := h.do("GET", "/v1/tenants/ta/users/alice/spend-limit", ba, nil).want(200).header.Get("ETag")
	const n = 8
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := h.do("PUT", "/v1/tenants/ta/users/alice/spend-limit", ba, map[string]any{"limit": fmt.Sprintf("%d.00", i+1)}, "If-Match", etag)
			codes <- r.code
		}()
	}
	wg.Wait()
	close(codes)
	won := 0
	for c := range codes {
		switch c {
		case 200:
			won++
		case http.StatusPreconditionFailed:
		default:
			t.Fatalf("status %d", c)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent updates with the same ETag won", won, n)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{RateLimit: 0.5, Burst: 8})
	key := h.keys["ta"]["reports_reader"] // not used by the set-up
	var last resp
	n := 0
	for range 20 {
		last = h.do("GET", "/v1/tenants/ta/credits", key, nil)
		if last.code == http.StatusTooManyRequests {
			break
		}
		last.want(200)
		n++
	}
	last.want(http.StatusTooManyRequests)
	if n != 8 || last.header.Get("Retry-After") != "2" {
		t.Fatalf("%d requests passed; Retry-After %q", n, last.header.Get("Retry-After"))
	}
	// Limits are per key: another key of the same tenant is not slowed down.
	h.do("GET", "/v1/tenants/ta/credits", h.keys["ta"]["billing_admin"], nil).want(200)
}
