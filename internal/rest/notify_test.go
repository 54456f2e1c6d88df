package rest_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/rest"
)

// wantProblem checks a refused request: the status, a problem document and a location
// naming the field.
func wantProblem(t *testing.T, r resp, status int, loc string) {
	t.Helper()
	r.want(status)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: content type %q", r.req, ct)
	}
	if !strings.Contains(string(r.body), `"location":"`+loc+`"`) {
		t.Errorf("%s: problem does not name %s: %s", r.req, loc, r.body)
	}
}

func TestNotificationContacts(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	bill := h.keys["ta"]["billing_admin"]
	base := "/v1/tenants/ta/notification-contacts"
	h.do("PUT", base+"/Ann@Example.COM", bill, map[string]any{"name": "Ann"}).want(200)
	h.do("PUT", base+"/bo@example.org", h.keys["ta"]["tenant_admin"], map[string]any{}).want(200)
	items := h.do("GET", base, bill, nil).want(200).json()["items"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["email"] != "Ann@example.com" || items[0].(map[string]any)["name"] != "Ann" {
		t.Fatalf("contacts %v", items)
	}
	// Renaming keeps one contact.
	h.do("PUT", base+"/Ann@example.com", bill, map[string]any{"name": "Ann B"}).want(200)
	if n := len(h.do("GET", base, bill, nil).json()["items"].([]any)); n != 2 {
		t.Fatalf("%d contacts after a rename", n)
	}

	before := h.snapshot("ta")
	for _, c := range []struct {
		method, email string
		status        int
		loc           string
	}{
		{"PUT", "not-an-email", 422, "path.email"},
		{"PUT", "Ann%20%3Ca@example.com%3E", 422, "path.email"},
		{"PUT", "a@localhost", 422, "path.email"},
		{"DELETE", "nobody@example.com", 404, "path.email"},
		{"DELETE", "bad", 422, "path.email"},
	} {
		wantProblem(t, h.do(c.method, base+"/"+c.email, bill, map[string]any{"name": "X"}), c.status, c.loc)
	}
	if after := h.snapshot("ta"); after != before {
		t.Fatal("a refused contact changed the tenant")
	}
	h.do("DELETE", base+"/bo@example.org", bill, nil).want(200)
	if items := h.do("GET", base, bill, nil).json()["items"].([]any); len(items) != 1 {
		t.Fatalf("contacts after delete %v", items)
	}
	// Reports readers do not see the addresses.
	h.do("GET", base, h.keys["ta"]["reports_reader"], nil).want(403)
}

func TestWebhooks(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	bill := h.keys["ta"]["billing_admin"]
	base := "/v1/tenants/ta/webhooks"

	// A generated secret is shown once, in the creating response.
	created := h.do("POST", base, bill, map[string]any{"url": "https://hooks.example.com/cc", "events": []string{"balance_low"}},
		"Idempotency-Key", "wh-create-1").want(201)
	w := created.json()
	secret, _ := w["secret"].(string)
	id, _ := w["id"].(string)
	if !strings.HasPrefix(secret, "whsec_") || len(secret) != 70 || !strings.HasPrefix(id, "wh_") {
		t.Fatalf("created %s", created.body)
	}
	if w["secret_hint"] != "…"+secret[len(secret)-4:] {
		t.Fatalf("hint %v for secret %s", w["secret_hint"], secret)
	}
	// A replay shows the webhook without its secret and makes no second one.
	replay := h.do("POST", base, bill, map[string]any{"url": "https://hooks.example.com/cc", "events": []string{"balance_low"}},
		"Idempotency-Key", "wh-create-1").want(201)
	if replay.header.Get("Idempotent-Replayed") != "true" || strings.Contains(string(replay.body), secret) || replay.json()["id"] != id {
		t.Fatalf("replay %s %v", replay.body, replay.header)
	}
	// A given secret is kept.
	given := "given-secret-0123456789abcd"
	h.do("POST", base, bill, map[string]any{"id": "erp", "url": "https://erp.example.com/in", "secret": given}).want(201)
	list := h.do("GET", base, h.keys["ta"]["tenant_admin"], nil).want(200)
	if strings.Contains(string(list.body), secret) || strings.Contains(string(list.body), given) || strings.Contains(string(list.body), `"secret"`) {
		t.Fatalf("the list shows a secret: %s", list.body)
	}
	items := list.json()["items"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["id"] != "erp" || items[0].(map[string]any)["secret_hint"] != "…abcd" {
		t.Fatalf("webhooks %s", list.body)
	}

	// Bad input: the field is named and nothing changes.
	before := h.snapshot("ta")
	for _, c := range []struct {
		name   string
		method string
		path   string
		body   map[string]any
		status int
		loc    string
	}{
		{"ftp", "POST", base, map[string]any{"url": "ftp://hooks.example.com/cc"}, 422, "body.url"},
		{"credentials", "POST", base, map[string]any{"url": "https://u:p@hooks.example.com/cc"}, 422, "body.url"},
		{"not a url", "POST", base, map[string]any{"url": "hooks"}, 422, "body.url"},
		{"unknown event", "POST", base, map[string]any{"url": "https://hooks.example.com/x", "events": []string{"nope"}}, 422, "body.events"},
		{"short secret", "POST", base, map[string]any{"url": "https://hooks.example.com/x", "secret": "short"}, 422, "body.secret"},
		{"taken id", "POST", base, map[string]any{"id": "erp", "url": "https://hooks.example.com/x"}, 409, "body.id"},
		{"replace bad url", "PUT", base + "/erp", map[string]any{"url": "ftp://erp.example.com"}, 422, "body.url"},
		{"replace unknown", "PUT", base + "/nope", map[string]any{"url": "https://erp.example.com"}, 404, "path.webhook_id"},
		{"delete unknown", "DELETE", base + "/nope", nil, 404, "path.webhook_id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			var body any
			if c.body != nil {
				body = c.body
			}
			wantProblem(t, h.do(c.method, c.path, bill, body), c.status, c.loc)
		})
	}
	h.t = t
	if after := h.snapshot("ta"); after != before {
		t.Fatal("a refused webhook request changed the tenant")
	}

	// Replace under If-Match: a stale ETag is 412, the current one wins; the secret stays.
	got := h.do("GET", base+"/erp", bill, nil).want(200)
	etag := got.header.Get("ETag")
	h.do("PUT", base+"/erp", bill, map[string]any{"url": "https://erp.example.com/v2"}, "If-Match", `"stale"`).want(412)
	rep := h.do("PUT", base+"/erp", bill, map[string]any{"url": "https://erp.example.com/v2", "events": []string{"balance_low"}}, "If-Match", etag).want(200).json()
	if rep["url"] != "https://erp.example.com/v2" || rep["secret_hint"] != "…abcd" || rep["secret"] != nil {
		t.Fatalf("replaced %v", rep)
	}
	h.do("PUT", base+"/erp", bill, map[string]any{"url": "https://erp.example.com/v3"}, "If-Match", etag).want(412)
	h.do("DELETE", base+"/erp", bill, nil).want(200)
	h.do("GET", base+"/erp", bill, nil).want(404)
}

func TestDeliveriesAndResend(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	ctx := context.Background()
	bill := h.keys["ta"]["billing_admin"]
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for i := range 3 {
		h.jobs.log = append(h.jobs.log, jobs.Delivery{DedupKey: "ev" + string(rune('a'+i)), Tenant: "ta", Target: "email", OK: true, At: at})
	}
	h.jobs.log = append(h.jobs.log, jobs.Delivery{DedupKey: "other", Tenant: "tb", Target: "email", At: at})
	p1 := h.do("GET", "/v1/tenants/ta/notifications/deliveries?limit=2", bill, nil).want(200).json()
	if len(p1["items"].([]any)) != 2 || p1["next_cursor"] == nil {
		t.Fatalf("page 1 %v", p1)
	}
	p2 := h.do("GET", "/v1/tenants/ta/notifications/deliveries?limit=2&cursor="+p1["next_cursor"].(string), bill, nil).want(200).json()
	if items := p2["items"].([]any); len(items) != 1 || items[0].(map[string]any)["event_id"] != "evc" || p2["next_cursor"] != nil {
		t.Fatalf("page 2 %v", p2)
	}

	// The funding of the harness left notifications in the outbox: resend one.
	rows, err := h.st.PendingOutboxRows(ctx, 100, "notify")
	if err != nil {
		t.Fatal(err)
	}
	event := ""
	for _, r := range rows {
		if r.Tenant == "ta" {
			event = strings.TrimPrefix(r.Key, "notify:")
		}
	}
	if event == "" {
		t.Fatal("no notification of ta in the outbox")
	}
	res := h.do("POST", "/v1/tenants/ta/notifications/resend", bill, map[string]any{"event_id": event, "target": "email"}, "Idempotency-Key", "rs-1").want(200).json()
	if !strings.HasPrefix(res["resend"].(string), "resend-") || len(h.jobs.resends) != 1 || h.jobs.resends[0].ID != event {
		t.Fatalf("resend %v, queued %v", res, h.jobs.resends)
	}
	again := h.do("POST", "/v1/tenants/ta/notifications/resend", bill, map[string]any{"event_id": event, "target": "email"}, "Idempotency-Key", "rs-1").want(200)
	if again.header.Get("Idempotent-Replayed") != "true" || len(h.jobs.resends) != 1 {
		t.Fatalf("replayed resend queued again: %d", len(h.jobs.resends))
	}
	wantProblem(t, h.do("POST", "/v1/tenants/ta/notifications/resend", bill, map[string]any{"event_id": "nope"}), 404, "body.event_id")
	wantProblem(t, h.do("POST", "/v1/tenants/ta/notifications/resend", bill, map[string]any{"event_id": event, "target": "sms"}), 422, "body.target")
	if len(h.jobs.resends) != 1 {
		t.Fatal("a refused resend was queued")
	}

	// Without a job queue: a clear 503, never a 500.
	h.svc.Jobs = nil
	for _, r := range []resp{
		h.do("GET", "/v1/tenants/ta/notifications/deliveries", bill, nil),
		h.do("POST", "/v1/tenants/ta/notifications/resend", bill, map[string]any{"event_id": event}),
	} {
		r.want(503)
		if !strings.Contains(string(r.body), "job queue is not running") {
			t.Fatalf("%s: %s", r.req, r.body)
		}
	}
}

func TestReceipts(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	rr := h.keys["ta"]["reports_reader"]
	h.do("POST", "/v1/tenants/ta/credits/funds", h.keys["ta"]["billing_admin"], map[string]any{"amount": "75.00", "method": "ea:T-2:PO-9"}).want(200)
	p1 := h.do("GET", "/v1/tenants/ta/receipts?limit=1", rr, nil).want(200).json()
	items := p1["items"].([]any)
	if len(items) != 1 || p1["next_cursor"] == nil {
		t.Fatalf("receipts page 1 %v", p1)
	}
	first := items[0].(map[string]any)
	if first["number"] != "CC-ta-000001" || first["amount"] != "100.00" || first["currency"] != "USD" {
		t.Fatalf("first receipt %v", first)
	}
	p2 := h.do("GET", "/v1/tenants/ta/receipts?limit=1&cursor="+p1["next_cursor"].(string), rr, nil).want(200).json()
	second := p2["items"].([]any)[0].(map[string]any)
	if second["number"] != "CC-ta-000002" || second["amount"] != "75.00" || second["purchase_order"] != "PO-9" || p2["next_cursor"] != nil {
		t.Fatalf("page 2 %v", p2)
	}
	one := h.do("GET", "/v1/tenants/ta/receipts/CC-ta-000002", rr, nil).want(200).json()
	if one["number"] != "CC-ta-000002" || one["amount"] != "75.00" {
		t.Fatalf("receipt %v", one)
	}
	doc := h.do("GET", "/v1/tenants/ta/receipts/CC-ta-000002/document", rr, nil).want(200)
	if ct := doc.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	if cd := doc.header.Get("Content-Disposition"); cd != `attachment; filename="CC-ta-000002.txt"` {
		t.Fatalf("disposition %q", cd)
	}
	if !strings.Contains(string(doc.body), "CC-ta-000002") || !strings.Contains(string(doc.body), "75.00") {
		t.Fatalf("document %s", doc.body)
	}
	wantProblem(t, h.do("GET", "/v1/tenants/ta/receipts/CC-ta-000009", rr, nil), 404, "path.number")
	wantProblem(t, h.do("GET", "/v1/tenants/ta/receipts/CC-tb-000001/document", rr, nil), 404, "path.number")
}

// Requests racing with one Idempotency-Key create one webhook, and exactly one response
// carries its secret.
func TestWebhookCreateRace(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	bill := h.keys["ta"]["billing_admin"]
	const n = 8
	out := make(chan resp, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out <- h.do("POST", "/v1/tenants/ta/webhooks", bill, map[string]any{"url": "https://hooks.example.com/race"}, "Idempotency-Key", "race-1")
		}()
	}
	wg.Wait()
	close(out)
	secrets, ids := 0, map[any]bool{}
	for r := range out {
		r.want(201)
		m := r.json()
		ids[m["id"]] = true
		if m["secret"] != nil {
			secrets++
		}
	}
	items := h.do("GET", "/v1/tenants/ta/webhooks", bill, nil).want(200).json()["items"].([]any)
	if secrets != 1 || len(ids) != 1 || len(items) != 1 {
		t.Fatalf("%d secrets shown, ids %v, %d webhooks; want 1, one id, 1", secrets, ids, len(items))
	}
}
