package notify

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
)

var (
	usd = money.MustCurrency("USD")
	at  = time.Date(2025, 3, 2, 10, 4, 5, 0, time.UTC)
)

// sample returns a complete event of type t.
func sample(t Type) Event {
	e := Event{ID: Key(t, "t-1", "1"), Type: t, TenantID: "t-1", TenantName: "Acme & Sons", At: at,
		Currency: usd, Amount: 5000, Balance: 1234, Threshold: 1000, Reason: "card expired",
		ExpiresAt: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), DaysLeft: 7,
		Card: &Card{Brand: "mastercard", Last4: "5454", ExpMonth: 4, ExpYear: 2025},
		Pool: &Pool{Name: "Dial-out (Zone A)", Month: "2025-03", Percent: 100, UsedMinutes: 600, TotalMinutes: 600},
	}
	return e
}

func TestRenderEveryType(t *testing.T) {
	subjects := map[Type]string{
		RechargeSucceeded:     "Communications Credits: 50.00 USD added to your balance",
		RechargeFailed:        "Communications Credits: automatic recharge of 50.00 USD failed (card expired)",
		BalanceZero:           "Communications Credits: your balance has reached zero",
		PurchaseSucceeded:     "Communications Credits: purchase of 50.00 USD received",
		BalanceLow:            "Communications Credits: your balance is low (12.34 USD)",
		FundsExpiring:         "Communications Credits: 50.00 USD expires in 7 days",
		FundsExpired:          "Communications Credits: 50.00 USD of credits expired",
		PoolThreshold:         "Communications Credits: Dial-out (Zone A) minutes used up",
		AutoRechargeSuspended: "Communications Credits: automatic recharge suspended",
		CardExpiring:          "Communications Credits: your Mastercard ending in 5454 expires soon",
		RechargeCapReached:    "Communications Credits: monthly recharge limit of 10.00 USD reached",
	}
	if len(subjects) != len(Types) {
		t.Fatalf("test covers %d types, package has %d", len(subjects), len(Types))
	}
	for _, typ := range Types {
		m, err := Render(sample(typ))
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if m.Subject != subjects[typ] {
			t.Errorf("%s: subject %q, want %q", typ, m.Subject, subjects[typ])
		}
		if !strings.Contains(m.Text, "Reference: "+Key(typ, "t-1", "1")) || !strings.Contains(m.Text, "Acme & Sons") {
			t.Errorf("%s: text footer missing:\n%s", typ, m.Text)
		}
		// html/template escapes the tenant name; text/template must not.
		if !strings.Contains(m.HTML, "Acme &amp; Sons") || !strings.Contains(m.HTML, "<title>"+strings.ReplaceAll(m.Subject, "&", "&amp;")) {
			t.Errorf("%s: HTML head or escaping wrong", typ)
		}
		if strings.Contains(m.Text+m.HTML, "<no value>") || strings.Contains(m.Text+m.HTML, "%!") {
			t.Errorf("%s: template hole in output", typ)
		}
	}
}

func TestRenderEscapesHTML(t *testing.T) {
	e := sample(RechargeFailed)
	e.Reason = `<script>alert(1)</script>`
	m, err := Render(e)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") {
		t.Error("reason not escaped in HTML")
	}
	if !strings.Contains(m.Text, "<script>") {
		t.Error("text part should carry the reason verbatim")
	}
}

func TestRenderAmountsExactInCurrency(t *testing.T) {
	for _, tc := range []struct {
		code   string
		amount money.Amount
		want   string
	}{{"USD", 1, "0.01 USD"}, {"JPY", 5000, "5000 JPY"}, {"BHD", 12345, "12.345 BHD"}, {"EUR", 999999999, "9999999.99 EUR"}} {
		e := sample(RechargeSucceeded)
		e.Currency, e.Amount = money.MustCurrency(tc.code), tc.amount
		m, err := Render(e)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.Subject, tc.want) || !strings.Contains(m.Text, tc.want) || !strings.Contains(m.HTML, tc.want) {
			t.Errorf("%s: %q not in every part; subject %q", tc.code, tc.want, m.Subject)
		}
	}
}

func TestPoolThresholdWording(t *testing.T) {
	e := sample(PoolThreshold)
	e.Pool.Percent, e.Pool.UsedMinutes = 80, 480
	m, err := Render(e)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Communications Credits: Dial-out (Zone A) minutes 80% used" || !strings.Contains(m.Text, "480 of 600 minutes") {
		t.Errorf("subject %q\n%s", m.Subject, m.Text)
	}
	e = sample(FundsExpiring)
	e.DaysLeft = 1
	if m, _ := Render(e); !strings.Contains(m.Subject, "expires in 1 day") {
		t.Errorf("subject %q", m.Subject)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mut   func(*Event)
		field string
	}{
		{"type", func(e *Event) { e.Type = "balance_negative" }, "Type"},
		{"id", func(e *Event) { e.ID = "" }, "ID"},
		{"tenant", func(e *Event) { e.TenantID = "" }, "TenantID"},
		{"time", func(e *Event) { e.At = time.Time{} }, "At"},
		{"currency", func(e *Event) { e.Currency = money.Currency{} }, "Currency"},
		{"reason", func(e *Event) { e.Type, e.Reason = RechargeFailed, "" }, "Reason"},
		{"amount", func(e *Event) { e.Type, e.Amount = RechargeSucceeded, 0 }, "Amount"},
		{"pool", func(e *Event) { e.Type, e.Pool = PoolThreshold, nil }, "Pool"},
		{"card", func(e *Event) { e.Type, e.Card = CardExpiring, nil }, "Card"},
		{"days", func(e *Event) { e.Type, e.DaysLeft = FundsExpiring, 0 }, "DaysLeft"},
	} {
		e := sample(RechargeFailed)
		tc.mut(&e)
		err := e.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if _, err := Render(e); err == nil {
			t.Errorf("%s: rendered an invalid event", tc.name)
		}
	}
}

func TestKey(t *testing.T) {
	if got := Key(BalanceZero, "t-1", "1042"); got != "balance_zero/t-1/1042" {
		t.Errorf("Key = %q", got)
	}
	for _, parts := range [][]string{{"a/b"}, {""}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Key accepted %q", parts)
				}
			}()
			Key(BalanceZero, "t-1", parts...)
		}()
	}
}
