package store_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// Billing contacts and webhooks go through the writer like every directory command, and
// the store reads them back as the notify worker needs them.
func TestContactsAndWebhooksThroughTheWriter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		usd, _ := money.LookupCurrency("USD")
		if err := s.CreateTenant(ctx, store.Tenant{ID: "t1", Name: "Acme", Currency: usd, CreatedAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		w := writer.New(s, writer.SystemClock{}, writer.Config{Env: &tenant.Env{Catalog: plans.Default()}})
		defer w.Close()
		secret := directory.NewWebhookSecret()
		ok := []directory.Command{
			directory.PutBillingContact{Contact: directory.Contact{Email: "billing@Example.COM", Name: "Billing"}},
			directory.PutBillingContact{Contact: directory.Contact{Email: "cfo@example.com"}},
			directory.PutWebhook{Webhook: directory.Webhook{ID: "all", URL: "https://hooks.example.com/cc", Secret: secret}},
			directory.PutWebhook{Webhook: directory.Webhook{ID: "money", URL: "http://127.0.0.1:9/x", Secret: secret,
				Events: []string{"recharge_failed", "balance_zero", "recharge_failed"}}},
		}
		for i, c := range ok {
			if _, err := w.Submit(ctx, "t1", "ok-"+string(rune('a'+i)), c); err != nil {
				t.Fatalf("%s: %v", c.Name(), err)
			}
		}
		bad := []struct {
			cmd   directory.Command
			field string
		}{
			{directory.PutBillingContact{Contact: directory.Contact{Email: "not an address"}}, "email"},
			{directory.PutBillingContact{Contact: directory.Contact{Email: "Name <a@example.com>"}}, "email"},
			{directory.PutBillingContact{Contact: directory.Contact{Email: "a@localhost"}}, "email"},
			{directory.RemoveBillingContact{Email: "nobody@example.com"}, "email"},
			{directory.PutWebhook{Webhook: directory.Webhook{ID: "x", URL: "ftp://example.com/", Secret: secret}}, "url"},
			{directory.PutWebhook{Webhook: directory.Webhook{ID: "x", URL: "https:///nohost", Secret: secret}}, "url"},
			{directory.PutWebhook{Webhook: directory.Webhook{ID: "x", URL: "https://u:p@example.com/", Secret: secret}}, "url"},
			{directory.PutWebhook{Webhook: directory.Webhook{ID: "x", URL: "https://example.com/"}}, "secret"},
			{directory.PutWebhook{Webhook: directory.Webhook{ID: "x", URL: "https://example.com/", Secret: "short"}}, "secret"},
			{directory.PutWebhook{Webhook: directory.Webhook{ID: "x", URL: "https://example.com/", Secret: secret, Events: []string{"nope"}}}, "events"},
			{directory.DeleteWebhook{ID: "nope"}, "id"},
		}
		for i, b := range bad {
			_, err := w.Submit(ctx, "t1", "bad-"+string(rune('a'+i)), b.cmd)
			var de *directory.Error
			if !errors.As(err, &de) || de.Field != b.field {
				t.Errorf("%+v: %v; want an error on %s", b.cmd, err, b.field)
			}
		}
		emails, err := s.BillingEmails(ctx, "t1")
		if err != nil || !reflect.DeepEqual(emails, []string{"billing@example.com", "cfo@example.com"}) {
			t.Fatalf("emails %v, %v", emails, err)
		}
		for _, c := range []struct {
			t    notify.Type
			want []string
		}{{notify.RechargeFailed, []string{"all", "money"}}, {notify.FundsExpired, []string{"all"}}} {
			eps, err := s.Endpoints(ctx, "t1", c.t)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range eps {
				ids = append(ids, e.ID)
				if e.Secret != secret {
					t.Fatalf("endpoint %s: secret not kept", e.ID)
				}
			}
			if !reflect.DeepEqual(ids, c.want) {
				t.Fatalf("%s: endpoints %v; want %v", c.t, ids, c.want)
			}
		}
		views, err := s.Webhooks(ctx, "t1")
		if err != nil || len(views) != 2 || strings.Contains(views[0].SecretHint, secret[:10]) {
			t.Fatalf("views %+v, %v", views, err)
		}
		// Replacing without a secret keeps it; deleting removes.
		if _, err := w.Submit(ctx, "t1", "upd", directory.PutWebhook{Webhook: directory.Webhook{ID: "all", URL: "https://hooks.example.com/v2"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Submit(ctx, "t1", "del", directory.DeleteWebhook{ID: "money"}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Submit(ctx, "t1", "rm", directory.RemoveBillingContact{Email: "cfo@example.com"}); err != nil {
			t.Fatal(err)
		}
		eps, err := s.Endpoints(ctx, "t1", notify.RechargeFailed)
		if err != nil || len(eps) != 1 || eps[0].URL != "https://hooks.example.com/v2" || eps[0].Secret != secret {
			t.Fatalf("after update: %+v, %v", eps, err)
		}
		if emails, _ := s.BillingEmails(ctx, "t1"); !reflect.DeepEqual(emails, []string{"billing@example.com"}) {
			t.Fatalf("emails after remove: %v", emails)
		}
		var _ jobs.Webhooks = s
	})
}
