package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/notify/smtptest"
	"github.com/commcredits/commcredits/internal/payment/stripemock"
	"github.com/commcredits/commcredits/internal/pgtest"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// hookSink is a webhook receiver that keeps the deliveries whose signature verifies.
type hookSink struct {
	mu     sync.Mutex
	events []notify.Payload
	bad    int
}

func startHookSink(t *testing.T, secret string) (*hookSink, string) {
	t.Helper()
	h := &hookSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := notify.Verify(secret, r.Header.Get(notify.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			h.bad++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p notify.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			h.bad++
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.events = append(h.events, p)
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func (h *hookSink) of(typ notify.Type) []notify.Payload {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []notify.Payload
	for _, p := range h.events {
		if p.Type == typ {
			out = append(out, p)
		}
	}
	return out
}

// approvingStripe puts a proxy before stripe-mock that turns the PaymentIntents it creates
// into succeeded ones (stripe-mock validates the request but always answers with a
// fixture in requires_payment_method: it cannot approve a charge) and counts the charges
// per idempotency key.
func approvingStripe(t *testing.T) (string, func() map[string]int) {
	return approvingStripeSlow(t, 0, nil)
}

// approvingStripeSlow is approvingStripe answering charges after delay; arrived, if not
// nil, is closed when the first charge request arrives.
func approvingStripeSlow(t *testing.T, delay time.Duration, arrived chan struct{}) (string, func() map[string]int) {
	t.Helper()
	var once sync.Once
	target, err := url.Parse(stripemock.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	keys := map[string]int{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(r *http.Response) error {
		if r.Request.Method != http.MethodPost || r.Request.URL.Path != "/v1/payment_intents" || r.StatusCode != http.StatusOK {
			return nil
		}
		mu.Lock()
		keys[r.Request.Header.Get("Idempotency-Key")]++
		mu.Unlock()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		var pi map[string]any
		if err := json.Unmarshal(body, &pi); err != nil {
			return err
		}
		pi["status"], pi["last_payment_error"] = "succeeded", nil
		body, _ = json.Marshal(pi)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/payment_intents" {
			if arrived != nil {
				once.Do(func() { close(arrived) })
			}
			time.Sleep(delay)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range keys {
			out[k] = v
		}
		return out
	}
}

const fundTenant = "acme"

// setupTenant creates a tenant in the database at dsn, funded 10.50, with a billing
// contact, a webhook, a card and auto-recharge (trigger 10.00, amount 50.00), and returns
// a writer on the file for the test's own commands.
func setupTenant(t *testing.T, dsn, hookURL, secret string) (*store.SQL, *writer.Writer) {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, dsn, db.WithMigrate())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st := store.New(d)
	if err := st.CreateTenant(ctx, store.Tenant{ID: fundTenant, Name: "Acme Ltd", Currency: money.MustCurrency("USD"), CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	w := writer.New(st, writer.SystemClock{}, writer.Config{Env: &tenant.Env{Catalog: plans.Default()}})
	t.Cleanup(func() { _ = w.Close() })
	for i, cmd := range []tenant.Command{
		ledger.Fund{Amount: 1050, Source: "purchase"},
		directory.PutBillingContact{Contact: directory.Contact{Email: "ap@acme.test", Name: "Accounts payable"}},
		directory.PutWebhook{Webhook: directory.Webhook{ID: "erp", URL: hookURL, Secret: secret}},
		tenant.SetPaymentMethod{Method: "pm_card_visa", ExpMonth: 12, ExpYear: 2099, Brand: "visa", Last4: "4242", Customer: "cus_acme"},
		tenant.SetAutoRecharge{Settings: recharge.Settings{Enabled: true, Trigger: 1000, Amount: 5000, PaymentMethod: "pm_card_visa"}, IfVersion: 1},
	} {
		if _, err := w.Submit(ctx, fundTenant, "setup-"+strconv.Itoa(i), cmd); err != nil {
			t.Fatalf("%s: %v", cmd.Name(), err)
		}
	}
	return st, w
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The whole loop in `commcredits serve` on SQLite and PostgreSQL: a charge crosses the trigger, the
// dispatcher hands the attempt to River, Stripe (stripe-mock) charges it once, the outcome
// comes back through serve's writer, and the recharge_succeeded notification arrives once
// by email (a real SMTP server) and once as a signed webhook.
func TestServeRechargesAndNotifies(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dsn := "sqlite:" + filepath.Join(t.TempDir(), "cc.db")
			if engine == "postgres" {
				dsn = pgtest.DSN(t)
			}
			serveRechargesAndNotifies(t, dsn)
		})
	}
}

func serveRechargesAndNotifies(t *testing.T, dsn string) {
	stripeURL, charges := approvingStripe(t)
	in := smtptest.Start(t)
	secret := directory.NewWebhookSecret()
	hooks, hookURL := startHookSink(t, secret)
	st, w := setupTenant(t, dsn, hookURL, secret)

	s := startServe(t, noEnv, "--db", dsn, "--outbox-every", "100ms",
		"--stripe-secret-key", "sk_test_123", "--stripe-api-base", stripeURL,
		"--smtp-host", "127.0.0.1", "--smtp-port", strconv.Itoa(in.Port), "--smtp-tls", "none", "--base-url", "http://127.0.0.1",
		"--smtp-from", `"Communications Credits" <billing@commcredits.test>`, "--operator-key", restOperatorKey)
	ctx := context.Background()
	if _, err := w.Submit(ctx, fundTenant, "call-1", ledger.Charge{Amount: 100, Ref: "call-1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recharge email", 30*time.Second, func() bool { return len(in.Texts()) > 0 })
	waitFor(t, "the recharge webhook", 30*time.Second, func() bool { return len(hooks.of(notify.RechargeSucceeded)) > 0 })
	time.Sleep(1500 * time.Millisecond) // more than a poll interval: a duplicate would show

	a, err := st.Account(ctx, fundTenant)
	if err != nil {
		t.Fatal(err)
	}
	if a.Totals.Funded != 1050+5000 || a.Balance != 1050-100+5000 {
		t.Fatalf("funded %d, balance %d; want 6050, 5950", a.Totals.Funded, a.Balance)
	}
	if got := charges(); len(got) != 1 || got["recharge:"+fundTenant+":1:1"] != 1 {
		t.Fatalf("charges by idempotency key: %v; want one under recharge:%s:1:1", got, fundTenant)
	}
	msgs := in.Texts()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "50.00 USD") || !strings.Contains(msgs[0], "ap@acme.test") ||
		!strings.Contains(msgs[0], "59.50") {
		t.Fatalf("emails: %d, want one to ap@acme.test with 50.00 USD and the balance 59.50:\n%s", len(msgs), strings.Join(msgs, "\n----\n"))
	}
	got := hooks.of(notify.RechargeSucceeded)
	if len(got) != 1 || got[0].Data.Amount != "50.00" || got[0].Tenant.Name != "Acme Ltd" || hooks.bad != 0 {
		t.Fatalf("webhooks: %+v (bad %d); want one recharge_succeeded of 50.00 for Acme Ltd", got, hooks.bad)
	}
	// The web UI shows the delivery and resends it: the receiver gets the event again.
	checkWebhooksPage(t, s.base, st, fundTenant, "erp")
	waitFor(t, "the resent webhook", 30*time.Second, func() bool { return len(hooks.of(notify.RechargeSucceeded)) == 2 })
	resendThroughREST(t, s.base, got[0].ID, func() int { return len(hooks.of(notify.RechargeSucceeded)) })
	s.stop()
	select {
	case code := <-s.code:
		if code != exitOK {
			t.Fatalf("serve exited %d; log:\n%s", code, s.stderr)
		}
		s.code <- code
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not drain and stop")
	}
}

// Without a payment provider, a recharge fails at once and clearly: the tenant is told
// why (recharge_failed, auto-recharge suspended), nothing is credited, nothing waits.
func TestServeWithoutProviderFailsClearly(t *testing.T) {
	in := smtptest.Start(t)
	secret := directory.NewWebhookSecret()
	hooks, hookURL := startHookSink(t, secret)
	path := filepath.Join(t.TempDir(), "cc.db")
	st, w := setupTenant(t, "sqlite:"+path, hookURL, secret)
	startServe(t, noEnv, "--db", "sqlite:"+path, "--outbox-every", "100ms",
		"--smtp-host", "127.0.0.1", "--smtp-port", strconv.Itoa(in.Port), "--smtp-tls", "none", "--base-url", "http://127.0.0.1",
		"--smtp-from", "billing@commcredits.test")
	ctx := context.Background()
	if _, err := w.Submit(ctx, fundTenant, "call-1", ledger.Charge{Amount: 100, Ref: "call-1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recharge_failed and auto_recharge_suspended webhooks", 30*time.Second, func() bool {
		return len(hooks.of(notify.RechargeFailed)) > 0 && len(hooks.of(notify.AutoRechargeSuspended)) > 0
	})
	if f := hooks.of(notify.RechargeFailed); !strings.Contains(f[0].Data.Reason, "no payment provider") {
		t.Fatalf("reason %q", f[0].Data.Reason)
	}
	waitFor(t, "two emails", 30*time.Second, func() bool { return len(in.Texts()) >= 2 })
	if a, err := st.Account(ctx, fundTenant); err != nil || a.Totals.Funded != 1050 {
		t.Fatalf("funded %v, %v; want nothing credited", a, err)
	}
}

// SIGTERM while a charge is at the provider: serve stops reading the outbox, lets the
// payment job finish and report through the writer, then closes; the tenant is credited.
func TestServeDrainsAChargeInFlight(t *testing.T) {
	arrived := make(chan struct{})
	stripeURL, charges := approvingStripeSlow(t, 2*time.Second, arrived)
	secret := directory.NewWebhookSecret()
	_, hookURL := startHookSink(t, secret)
	path := filepath.Join(t.TempDir(), "cc.db")
	st, w := setupTenant(t, "sqlite:"+path, hookURL, secret)
	s := startServe(t, noEnv, "--db", "sqlite:"+path, "--outbox-every", "100ms",
		"--stripe-secret-key", "sk_test_123", "--stripe-api-base", stripeURL, "--shutdown-timeout", "20s")
	ctx := context.Background()
	if _, err := w.Submit(ctx, fundTenant, "call-1", ledger.Charge{Amount: 100, Ref: "call-1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("no charge reached the provider")
	}
	s.stop()
	select {
	case code := <-s.code:
		s.code <- code
		if code != exitOK {
			t.Fatalf("serve exited %d; log:\n%s", code, s.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	a, err := st.Account(ctx, fundTenant)
	if err != nil || a.Totals.Funded != 1050+5000 {
		t.Fatalf("after shutdown: funded %v, %v; want the charge in flight credited", a, err)
	}
	if got := charges(); len(got) != 1 {
		t.Fatalf("charges %v", got)
	}
}

const restOperatorKey = "cc_live_operatorkeyforthefundingtests0001"

// resendThroughREST reads serve's delivery log through the REST API (the job queue serve
// runs is wired into it) and resends event to the webhook: it arrives a second time.
func resendThroughREST(t *testing.T, base, event string, webhooks func() int) {
	t.Helper()
	call := func(method, path, body string) (int, []byte) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+restOperatorKey)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	code, b := call("GET", "/v1/tenants/"+fundTenant+"/notifications/deliveries", "")
	var log struct {
		Items []struct {
			EventID string `json:"event_id"`
			Target  string `json:"target"`
			OK      bool   `json:"ok"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &log); code != http.StatusOK || err != nil {
		t.Fatalf("delivery log: %d %s", code, b)
	}
	delivered := map[string]bool{}
	for _, d := range log.Items {
		if d.EventID == event && d.OK {
			delivered[d.Target] = true
		}
	}
	if !delivered["email"] || !delivered["webhook:erp"] {
		t.Fatalf("delivery log of %s: %s", event, b)
	}
	before := webhooks()
	body, _ := json.Marshal(map[string]string{"event_id": event, "target": "webhook:erp"})
	if code, b := call("POST", "/v1/tenants/"+fundTenant+"/notifications/resend", string(body)); code != http.StatusOK {
		t.Fatalf("resend: %d %s", code, b)
	}
	waitFor(t, "the resent webhook", 30*time.Second, func() bool { return webhooks() == before+1 })
}
