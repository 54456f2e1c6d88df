package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/notify/smtptest"
)

type contacts []string

func (c contacts) BillingEmails(context.Context, string) ([]string, error) { return c, nil }

type hooks []jobs.Endpoint

func (h hooks) Endpoints(context.Context, string, notify.Type) ([]jobs.Endpoint, error) {
	return h, nil
}

func mailer(t *testing.T, port int) *notify.SMTPSender {
	t.Helper()
	m, err := notify.NewSMTPSender(notify.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: notify.TLSNone,
		From: "billing@commcredits.test", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func rechargeEvent(t *testing.T, attemptKey string) jobs.Notify {
	t.Helper()
	n, err := jobs.NewNotify(notify.Event{
		ID: notify.Key(notify.RechargeSucceeded, "t-1", attemptKey), Type: notify.RechargeSucceeded,
		TenantID: "t-1", TenantName: "Acme", At: time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC),
		Currency: money.MustCurrency("USD"), Amount: 5000, Balance: 5312, PaymentID: "pi_1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNotifySendsOneEmailAndOneWebhook(t *testing.T) {
	each(t, func(t *testing.T, d *db.DB) {
		in := smtptest.Start(t)
		var (
			mu    sync.Mutex
			posts []string
		)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if err := notify.Verify("whsec", r.Header.Get(notify.SignatureHeader), body, time.Now(), 0); err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			mu.Lock()
			posts = append(posts, string(body))
			mu.Unlock()
		}))
		t.Cleanup(hook.Close)

		j := start(t, d, jobs.Config{
			Contacts: contacts{"ap@acme.test"}, Mailer: mailer(t, in.Port),
			Webhooks: hooks{{ID: "wh1", URL: hook.URL, Secret: "whsec"}},
		})
		n := rechargeEvent(t, "att-1")
		enqueue(t, d, j, n)
		enqueue(t, d, j, n) // the same state change twice: one job

		eventually(t, 15*time.Second, "an email", func() bool { return len(in.Texts()) > 0 })
		eventually(t, 15*time.Second, "a webhook", func() bool { mu.Lock(); defer mu.Unlock(); return len(posts) > 0 })
		time.Sleep(300 * time.Millisecond)
		msgs := in.Texts()
		if len(msgs) != 1 || !strings.Contains(msgs[0], "50.00 USD") || !strings.Contains(msgs[0], "ap@acme.test") {
			t.Fatalf("%d emails, want one with 50.00 USD to ap@acme.test: %q", len(msgs), msgs)
		}
		mu.Lock()
		if len(posts) != 1 || !strings.Contains(posts[0], `"amount":"50.00"`) {
			t.Errorf("webhook posts %q, want one with amount 50.00", posts)
		}
		mu.Unlock()
		log, err := j.Deliveries(context.Background(), n.DedupKey)
		if err != nil {
			t.Fatal(err)
		}
		if len(log) != 2 || !log[0].OK || !log[1].OK || log[0].Target != "email" || log[1].Target != "webhook:wh1" || log[1].HTTPStatus != 200 {
			t.Errorf("delivery log %+v, want email and webhook:wh1 delivered", log)
		}
	})
}

func TestNotifySMTPDownIsRetriedAndDeliveredOnce(t *testing.T) {
	each(t, func(t *testing.T, d *db.DB) {
		in := smtptest.Reserve(t) // a port with nothing listening yet
		j := start(t, d, jobs.Config{Contacts: contacts{"ap@acme.test"}, Mailer: mailer(t, in.Port), Webhooks: hooks{},
			Backoff: func(int) time.Duration { return 200 * time.Millisecond }})
		n := rechargeEvent(t, "att-down")
		enqueue(t, d, j, n)

		failed := func() int {
			log, err := j.Deliveries(context.Background(), n.DedupKey)
			if err != nil {
				t.Fatal(err)
			}
			c := 0
			for _, e := range log {
				if !e.OK {
					c++
				}
			}
			return c
		}
		eventually(t, 15*time.Second, "two failed tries", func() bool { return failed() >= 2 })

		in.Restart()
		eventually(t, 15*time.Second, "the email once the server is up", func() bool { return len(in.Texts()) > 0 })
		time.Sleep(500 * time.Millisecond)
		if got := len(in.Texts()); got != 1 {
			t.Fatalf("%d emails, want 1", got)
		}
		log, err := j.Deliveries(context.Background(), n.DedupKey)
		if err != nil {
			t.Fatal(err)
		}
		last := log[len(log)-1]
		if !last.OK || failed() < 2 || len(log) != failed()+1 || !strings.Contains(log[0].Error, "smtp") {
			t.Errorf("delivery log %+v, want failed tries then one success", log)
		}
	})
}

// A manual resend sends again to a target already delivered, once, and logs the new try
// under the same event id with its duration; the original delivery is not repeated.
func TestNotifyResendDeliversAgainOnce(t *testing.T) {
	each(t, func(t *testing.T, d *db.DB) {
		var (
			mu    sync.Mutex
			posts int
		)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			posts++
			mu.Unlock()
		}))
		t.Cleanup(hook.Close)
		count := func() int { mu.Lock(); defer mu.Unlock(); return posts }
		j := start(t, d, jobs.Config{Contacts: contacts{}, Webhooks: hooks{{ID: "wh1", URL: hook.URL, Secret: "whsec_0123456789abcdef"}}})
		n := rechargeEvent(t, "att-resend")
		enqueue(t, d, j, n)
		eventually(t, 15*time.Second, "the webhook", func() bool { return count() == 1 })
		var e notify.Event
		if err := json.Unmarshal(n.Event, &e); err != nil {
			t.Fatal(err)
		}
		if _, err := j.Resend(context.Background(), e, "smtp:nope", time.Now()); !errors.Is(err, notify.ErrInvalid) {
			t.Fatalf("resend to a bad target: %v", err)
		}
		name, err := j.Resend(context.Background(), e, "webhook:wh1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, "the resent webhook", func() bool { return count() == 2 })
		time.Sleep(300 * time.Millisecond)
		if c := count(); c != 2 {
			t.Fatalf("%d posts, want 2", c)
		}
		log, err := j.Deliveries(context.Background(), n.DedupKey)
		if err != nil || len(log) != 2 || log[0].Resend != "" || log[1].Resend != name || !log[1].OK || log[1].Duration <= 0 {
			t.Fatalf("delivery log %+v, %v", log, err)
		}
		byTenant, err := j.TenantDeliveries(context.Background(), "t-1", 10)
		if err != nil || len(byTenant) != 2 || byTenant[0].Resend != name {
			t.Fatalf("tenant log %+v, %v; want newest first", byTenant, err)
		}
	})
}

// Without an SMTP relay the email target fails (retried, logged), it is never dropped.
func TestNotifyWithoutMailerRetriesEmail(t *testing.T) {
	each(t, func(t *testing.T, d *db.DB) {
		j := start(t, d, jobs.Config{Contacts: contacts{"ap@acme.test"}, Webhooks: hooks{},
			Backoff: func(int) time.Duration { return 100 * time.Millisecond }})
		n := rechargeEvent(t, "att-nomailer")
		enqueue(t, d, j, n)
		eventually(t, 15*time.Second, "two failed tries", func() bool {
			log, err := j.Deliveries(context.Background(), n.DedupKey)
			if err != nil {
				t.Fatal(err)
			}
			return len(log) >= 2 && !log[1].OK && strings.Contains(log[1].Error, "no SMTP relay")
		})
	})
}

func TestNotifyNeedsContactsAndWebhooks(t *testing.T) {
	each(t, func(t *testing.T, d *db.DB) {
		for _, cfg := range []jobs.Config{{Mailer: mailer(t, 25)}, {Contacts: contacts{}}, {Webhooks: hooks{}}} {
			if j, err := jobs.New(d, cfg); err == nil {
				_ = j.Stop(context.Background())
				t.Errorf("New(%+v) accepted a half-configured notify worker", cfg)
			}
		}
	})
}
