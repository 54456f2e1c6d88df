package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// Every funding transaction leaves one numbered receipt or invoice, written with its lot:
// an invoiced purchase with a purchase order, a card purchase once paid, an invoiced
// auto-recharge. A failed card purchase leaves none and takes no number.
func TestReceiptsPerFunding(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		usd := money.MustCurrency("USD")
		if err := s.CreateTenant(ctx, store.Tenant{ID: "t1", Name: "Acme Ltd", Currency: usd, CreatedAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		w := writer.New(s, writer.SystemClock{}, writer.Config{Env: &tenant.Env{Catalog: plans.Default()}})
		defer w.Close()
		submit := func(key string, c tenant.Command) {
			t.Helper()
			if _, err := w.Submit(ctx, "t1", key, c); err != nil {
				t.Fatalf("%s: %v", c.Name(), err)
			}
		}
		submit("ea", tenant.AddFunds{Amount: 10_000, Method: "ea:AG-1:PO-77"})
		submit("pm", tenant.SetPaymentMethod{Method: "pm_card_visa", ExpMonth: 12, ExpYear: 2099, Brand: "visa", Last4: "4242", Customer: "cus_1"})
		submit("buy-declined", tenant.AddFunds{Amount: 5_000})
		submit("report-declined", tenant.PaymentReport{Key: "purchase:t1:2:1", Kind: 3, Code: "insufficient_funds"})
		submit("buy", tenant.AddFunds{Amount: 6_000})
		submit("report", tenant.PaymentReport{Key: "purchase:t1:3:1", Succeeded: true, PaymentID: "pi_123"})
		submit("auto-ea", tenant.SetAutoRecharge{Settings: recharge.Settings{Enabled: true, Trigger: 20_000, Amount: 5_000,
			PaymentMethod: "ea:AG-2"}, IfVersion: 1})

		rs, err := s.Receipts(ctx, "t1", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			kind, purpose, summary, pid string
			amount                      money.Amount
		}{
			{"invoice", "purchase", "Enterprise agreement AG-1, PO PO-77", "purchase:t1:1", 10_000},
			{"receipt", "purchase", "Visa ending in 4242", "pi_123", 6_000},
			{"invoice", "recharge", "Enterprise agreement AG-2", "recharge:t1:4", 5_000},
		}
		if len(rs) != len(want) {
			t.Fatalf("%d receipts: %+v", len(rs), rs)
		}
		// A page of two, then what follows the second.
		if first, err := s.Receipts(ctx, "t1", "", 2); err != nil || len(first) != 2 || first[1].Number != rs[1].Number {
			t.Fatalf("first two: %+v %v", first, err)
		}
		if rest, err := s.Receipts(ctx, "t1", rs[1].Number, 2); err != nil || len(rest) != 1 || rest[0].Number != rs[2].Number {
			t.Fatalf("after the second: %+v %v", rest, err)
		}
		lots, err := s.Lots(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			r := rs[i]
			if r.Number != tenant.ReceiptNumber("t1", int64(i+1)) || r.Kind != w.kind || r.Purpose != w.purpose ||
				r.MethodSummary != w.summary || r.PaymentID != w.pid || r.Amount != w.amount || r.Currency != usd {
				t.Errorf("receipt %d: %+v; want %+v", i, r, w)
			}
			if r.LotID != lots[i].ID || lots[i].Amount != r.Amount {
				t.Errorf("receipt %d names lot %d; lots %+v", i, r.LotID, lots)
			}
		}
		doc, err := s.ReceiptDocument(ctx, "t1", rs[0].Number)
		if err != nil {
			t.Fatal(err)
		}
		body := string(doc.Body)
		for _, part := range []string{"INVOICE CC-t1-000001", "Acme Ltd", "100.00 USD", "PO-77", "Credits expire"} {
			if !strings.Contains(body, part) {
				t.Errorf("document lacks %q:\n%s", part, body)
			}
		}
		if doc.Filename != "CC-t1-000001.txt" || !strings.HasPrefix(doc.ContentType, "text/plain") {
			t.Errorf("document %s %s", doc.Filename, doc.ContentType)
		}
		if _, err := s.ReceiptDocument(ctx, "t1", "CC-t1-999999"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown receipt: %v", err)
		}
	})
}
