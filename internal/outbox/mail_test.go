package outbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/notify/smtptest"
	"github.com/commcredits/commcredits/internal/outbox"
	"github.com/commcredits/commcredits/internal/payment"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// with counts the mails of an event type (by the event id header every mail carries).
func with(in *smtptest.Inbox, typ notify.Type) int { return len(of(in, typ)) }

// of returns the mails of an event type, quoted-printable soft line breaks removed.
func of(in *smtptest.Inbox, typ notify.Type) []string {
	var out []string
	for _, m := range in.Texts() {
		if strings.Contains(m, "X-Commcredits-Event: "+string(typ)+"/") {
			out = append(out, strings.ReplaceAll(m, "=\r\n", ""))
		}
	}
	return out
}

// mailLoop is the whole loop with email: the tenant (funded 10.50, card, auto-recharge
// below 10.00 with 50.00) has a billing contact, and the notify worker mails it through a
// real SMTP server on port.
func mailLoop(t *testing.T, s *store.SQL, fake *payment.Fake, port int) (*writer.Writer, *outbox.Dispatcher) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateTenant(ctx, store.Tenant{ID: tid, Name: "Acme", Currency: money.MustCurrency("USD"), CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	w := writer.New(s, writer.SystemClock{}, writer.Config{Env: &tenant.Env{Catalog: plans.Default()}})
	t.Cleanup(func() { _ = w.Close() })
	for i, cmd := range []tenant.Command{
		ledger.Fund{Amount: 1050, Source: "purchase"},
		directory.PutBillingContact{Contact: directory.Contact{Email: "ap@acme.test"}},
		tenant.SetPaymentMethod{Method: "pm_card_old", ExpMonth: 12, ExpYear: 2099, Brand: "visa", Last4: "0069", Customer: "cus_1"},
		tenant.SetAutoRecharge{Settings: recharge.Settings{Enabled: true, Trigger: 1000, Amount: 5000, PaymentMethod: "pm_card_old"}, IfVersion: 1},
	} {
		if _, err := w.Submit(ctx, tid, "setup-"+string(rune('a'+i)), cmd); err != nil {
			t.Fatalf("%s: %v", cmd.Name(), err)
		}
	}
	m, err := notify.NewSMTPSender(notify.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: notify.TLSNone,
		From: "billing@commcredits.test", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	j := startJobs(t, s, jobs.Config{
		Charger:  jobs.ProviderCharger{Provider: fake},
		Reporter: outbox.Reporter{Writer: w},
		Contacts: s, Webhooks: s, Mailer: m, Names: s.TenantName,
		Backoff: func(int) time.Duration { return 100 * time.Millisecond },
	})
	return w, &outbox.Dispatcher{Store: s, Jobs: j, Writer: w}
}

func pump(t *testing.T, d *outbox.Dispatcher, what string, cond func() bool) {
	t.Helper()
	dispatchUntil(t, d, 30*time.Second, what, cond)
}

// dispatchUntil dispatches every 50 ms until cond holds, for at most limit.
func dispatchUntil(t *testing.T, d *outbox.Dispatcher, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		if _, err := d.Dispatch(context.Background()); err != nil {
			t.Fatalf("dispatch: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A hard decline suspends auto-recharge and mails the tenant once (recharge failed with
// the reason, auto-recharge suspended); a new card lifts the suspension and recharges at
// once, which is mailed once too.
func TestHardDeclineMailsOnceThenNewCardReenables(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		ctx := context.Background()
		in := smtptest.Start(t)
		fake := payment.NewFake(payment.Decline("expired_card"))
		w, d := mailLoop(t, s, fake, in.Port)
		if _, err := w.Submit(ctx, tid, "call-1", ledger.Charge{Amount: 100}); err != nil {
			t.Fatal(err)
		}
		pump(t, d, "the decline mails", func() bool {
			return with(in, notify.RechargeFailed) > 0 && with(in, notify.AutoRechargeSuspended) > 0
		})
		if _, err := w.Submit(ctx, tid, "new-card", tenant.SetPaymentMethod{Method: "pm_card_new", ExpMonth: 1, ExpYear: 2099,
			Brand: "visa", Last4: "4242"}); err != nil {
			t.Fatal(err)
		}
		if m := of(in, notify.RechargeFailed); !strings.Contains(m[0], "card expired") || !strings.Contains(m[0], "50.00 USD") {
			t.Fatalf("recharge_failed mail without the reason or amount:\n%s", m[0])
		}
		pump(t, d, "the recharge mail", func() bool { return with(in, notify.RechargeSucceeded) > 0 })
		time.Sleep(500 * time.Millisecond)
		if _, err := d.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		for typ, want := range map[notify.Type]int{notify.RechargeFailed: 1, notify.AutoRechargeSuspended: 1, notify.RechargeSucceeded: 1} {
			if n := with(in, typ); n != want {
				t.Errorf("%d %s mails, want %d", n, typ, want)
			}
		}
		a, err := s.Account(ctx, tid)
		if err != nil || a.Totals.Funded != 1050+5000 {
			t.Fatalf("funded %v %v", a, err)
		}
		if c := fake.Charges(); len(c) != 1 || c[0].Request.PaymentMethodID != "pm_card_new" {
			t.Fatalf("charges %+v; want one on the new card", c)
		}
	})
}

// With the SMTP server down, the recharge mail is retried and arrives once when it is
// back; nothing is lost or doubled.
func TestSMTPDownMailArrivesLaterOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		ctx := context.Background()
		in := smtptest.Reserve(t)
		w, d := mailLoop(t, s, payment.NewFake(), in.Port)
		if _, err := w.Submit(ctx, tid, "call-1", ledger.Charge{Amount: 100}); err != nil {
			t.Fatal(err)
		}
		pump(t, d, "credited", func() bool {
			a, err := s.Account(ctx, tid)
			return err == nil && a.Totals.Funded == 6050
		})
		id := notify.Key(notify.RechargeSucceeded, tid, "recharge:"+tid+":1")
		pump(t, d, "two failed tries while the server is down", func() bool {
			log, err := d.Jobs.Deliveries(ctx, id)
			return err == nil && len(log) >= 2 && !log[0].OK && !log[1].OK
		})
		in.Restart()
		pump(t, d, "the mail", func() bool { return with(in, notify.RechargeSucceeded) > 0 })
		time.Sleep(time.Second)
		if n := with(in, notify.RechargeSucceeded); n != 1 {
			t.Fatalf("%d recharge mails, want 1", n)
		}
		// A manual resend of the logged event mails it once more.
		ev, err := s.NotifyEvent(ctx, tid, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Jobs.Resend(ctx, ev, jobs.TargetEmail, time.Now()); err != nil {
			t.Fatal(err)
		}
		pump(t, d, "the resent mail", func() bool { return with(in, notify.RechargeSucceeded) == 2 })
		log, err := d.Jobs.Deliveries(ctx, ev.ID)
		if err != nil || len(log) < 4 || !log[len(log)-1].OK || log[len(log)-1].Resend == "" || log[0].OK {
			t.Fatalf("delivery log %+v, %v; want failed tries, the delivery, the resend", log, err)
		}
	})
}
