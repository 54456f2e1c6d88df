package writer_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// snapshot is what a refused funding command must leave as it was.
type snapshot struct {
	Recharge string
	Balance  int64
	Outbox   int
	Webhooks []store.WebhookView
}

func snap(t *testing.T, s *store.SQL) snapshot {
	t.Helper()
	st, _, err := loadState(s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st.Recharge)
	pending, err := s.PendingOutbox(ctx, "tenant-000")
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := s.Webhooks(ctx, "tenant-000")
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{Recharge: string(b), Balance: int64(st.Account.Balance), Outbox: len(pending), Webhooks: hooks}
}

// Bad funding input is refused with an error naming the field; nothing changes, nothing is
// charged or queued.
func TestBadFundingInputChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		w := writer.New(s, newClock(0), writer.Config{Env: callEnv(t)})
		defer w.Close()
		callTenant(t, s, w, 1050)
		if _, err := w.Submit(ctx, "tenant-000", "pm", tenant.SetPaymentMethod{Method: "pm_card_visa", ExpMonth: 12, ExpYear: 2099}); err != nil {
			t.Fatal(err)
		}
		okSettings := recharge.Settings{Enabled: true, Trigger: 1000, Amount: 5000, PaymentMethod: "pm_card_visa"}
		with := func(f func(*recharge.Settings)) recharge.Settings { s := okSettings; f(&s); return s }
		before := snap(t, s)
		for _, c := range []struct {
			name  string
			cmd   tenant.Command
			field string
		}{
			{"purchase below the minimum", tenant.AddFunds{Amount: 4999}, "Amount"},
			{"negative purchase", tenant.AddFunds{Amount: -5000}, "Amount"},
			{"recharge amount below the minimum", tenant.SetAutoRecharge{Settings: with(func(s *recharge.Settings) { s.Amount = 4999 }), IfVersion: 1}, "Amount"},
			{"negative trigger", tenant.SetAutoRecharge{Settings: with(func(s *recharge.Settings) { s.Trigger = -1 }), IfVersion: 1}, "Trigger"},
			{"unknown payment method in settings", tenant.SetAutoRecharge{Settings: with(func(s *recharge.Settings) { s.PaymentMethod = "visa-4242" }), IfVersion: 1}, "PaymentMethod"},
			{"unknown payment method on file", tenant.SetPaymentMethod{Method: "bitcoin:abc"}, "Method"},
			{"unknown payment method for a purchase", tenant.AddFunds{Amount: 5000, Method: "iban:DE00"}, "Method"},
			{"card expiry not a month", tenant.SetPaymentMethod{Method: "pm_card_x", ExpMonth: 13, ExpYear: 2030}, "Expiry"},
		} {
			_, err := w.Submit(ctx, "tenant-000", "bad-"+c.name, c.cmd)
			var fe *recharge.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Errorf("%s: %v; want an invalid %s", c.name, err, c.field)
			}
		}
		_, err := w.Submit(ctx, "tenant-000", "bad-hook", directory.PutWebhook{Webhook: directory.Webhook{ID: "h", URL: "mailto:ops@acme.test", Secret: directory.NewWebhookSecret()}})
		var de *directory.Error
		if !errors.As(err, &de) || de.Field != "url" {
			t.Errorf("webhook URL not http(s): %v", err)
		}
		if after := snap(t, s); !reflect.DeepEqual(before, after) {
			t.Fatalf("a refused command changed the tenant:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}
