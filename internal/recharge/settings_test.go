package recharge

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
)

func TestValidate(t *testing.T) {
	cfg := &Config{Currency: usd}
	ok := cardSettings(10, 50)
	for _, tc := range []struct {
		name   string
		edit   func(*Settings)
		fields []string // fields named by the errors; none: valid
	}{
		{"valid card", func(s *Settings) {}, nil},
		{"valid agreement with purchase order", func(s *Settings) { s.PaymentMethod = "ea:EA-1234:PO.77" }, nil},
		{"valid agreement", func(s *Settings) { s.PaymentMethod = "ea:EA-1234" }, nil},
		{"disabled, never set up", func(s *Settings) { *s = Settings{} }, nil},
		{"trigger zero", func(s *Settings) { s.Trigger = 0 }, nil},
		{"amount at the minimum", func(s *Settings) { s.Amount = money.Units(50, usd) }, nil},
		{"amount below the minimum", func(s *Settings) { s.Amount = money.Units(50, usd) - 1 }, []string{"Amount"}},
		{"amount below the minimum while disabled", func(s *Settings) { s.Enabled, s.Amount = false, 100 }, []string{"Amount"}},
		{"amount zero while enabled", func(s *Settings) { s.Amount = 0 }, []string{"Amount"}},
		{"amount too large", func(s *Settings) { s.Amount = money.MaxAmount + 1 }, []string{"Amount"}},
		{"trigger negative", func(s *Settings) { s.Trigger = -1 }, []string{"Trigger"}},
		{"cap negative", func(s *Settings) { s.MonthlyCap = -1 }, []string{"MonthlyCap"}},
		{"cap below the amount", func(s *Settings) { s.MonthlyCap = money.Units(49, usd) }, []string{"MonthlyCap"}},
		{"low balance negative", func(s *Settings) { s.LowBalance = -5 }, []string{"LowBalance"}},
		{"no payment method while enabled", func(s *Settings) { s.PaymentMethod = "" }, []string{"PaymentMethod"}},
		{"unknown payment method kind", func(s *Settings) { s.PaymentMethod = "paypal:me" }, []string{"PaymentMethod"}},
		{"card id with a slash", func(s *Settings) { s.PaymentMethod = "pm_a/b" }, []string{"PaymentMethod"}},
		{"agreement without a number", func(s *Settings) { s.PaymentMethod = "ea:" }, []string{"PaymentMethod"}},
		{"agreement with an empty purchase order", func(s *Settings) { s.PaymentMethod = "ea:EA-1:" }, []string{"PaymentMethod"}},
		{"everything wrong", func(s *Settings) { s.Trigger, s.Amount, s.PaymentMethod = -1, 1, "iban:x" },
			[]string{"Trigger", "Amount", "PaymentMethod"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.edit(&s)
			err := s.Validate(cfg)
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.fields[0] {
				t.Fatalf("first field %v, want %s", fe, tc.fields[0])
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), "invalid "+f+":") {
					t.Fatalf("%q does not name %s", err, f)
				}
			}
		})
	}
}

func TestMinimumIsConfigurable(t *testing.T) {
	jpy := money.MustCurrency("JPY")
	if got := (&Config{Currency: jpy}).MinPurchaseAmount(); got != 50 {
		t.Fatalf("JPY default minimum %d", got)
	}
	cfg := &Config{Currency: usd, MinPurchase: money.Units(20, usd)}
	s := cardSettings(5, 20)
	if err := s.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	st := New("t-1")
	if _, err := st.Apply(ManualPurchase{Amount: money.Units(19, usd), Method: "ea:X", At: t0}, cfg); !errors.Is(err, ErrInvalid) {
		t.Fatalf("purchase below minimum: %v", err)
	}
}

func TestSettingsConflictAndRefusals(t *testing.T) {
	cfg := &Config{Currency: usd}
	s := New("t-1")
	if _, err := s.Apply(SettingsUpdated{Settings: cardSettings(10, 50), IfVersion: 0, At: t0}, cfg); err != nil {
		t.Fatal(err)
	}
	if s.Settings.Version != 1 || s.InFlight == nil {
		t.Fatalf("version %d, in flight %v: enabling at balance 0 < trigger fires", s.Settings.Version, s.InFlight)
	}
	before := *s
	_, err := s.Apply(SettingsUpdated{Settings: cardSettings(20, 50), IfVersion: 0, At: t0}, cfg)
	var ce *ConflictError
	if !errors.Is(err, ErrConflict) || !errors.As(err, &ce) || ce.Current != 1 || ce.IfVersion != 0 {
		t.Fatalf("stale update: %v", err)
	}
	if _, err := s.Apply(SettingsUpdated{Settings: Settings{Enabled: true, Trigger: -1}, IfVersion: 1, At: t0}, cfg); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid update: %v", err)
	}
	if _, err := s.Apply(PaymentMethodUpdated{Method: "bitcoin", At: t0}, cfg); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad method: %v", err)
	}
	if _, err := s.Apply(PaymentMethodUpdated{Method: "pm_x", Expiry: CardExpiry{Month: 13, Year: 2030}, At: t0}, cfg); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad expiry: %v", err)
	}
	if _, err := s.Apply(nil, cfg); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil event: %v", err)
	}
	if s.Settings != before.Settings || s.LastAttemptSeq != before.LastAttemptSeq {
		t.Fatal("a refused event changed the state")
	}
}

func TestBackoff(t *testing.T) {
	b := DefaultSoftBackoff
	want := []time.Duration{30 * time.Minute, 2 * time.Hour, 8 * time.Hour, 12 * time.Hour, 12 * time.Hour}
	for i, w := range want {
		if got := b.Delay(i+1, "k"); got != w {
			t.Fatalf("delay %d = %v, want %v", i+1, got, w)
		}
	}
	u := DefaultUnknownBackoff
	for i, w := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		if got := u.Delay(i+1, "k"); got != w {
			t.Fatalf("unknown delay %d = %v, want %v", i+1, got, w)
		}
	}
	if got := (Backoff{Base: time.Hour, Factor: 10}).Delay(100, "k"); got <= 0 {
		t.Fatalf("uncapped overflow: %v", got)
	}
	j := Backoff{Base: time.Hour, Factor: 2, Max: 10 * time.Hour, JitterPercent: 10}
	spread := map[time.Duration]bool{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		d := j.Delay(1, k)
		if d < 54*time.Minute || d > 66*time.Minute {
			t.Fatalf("jittered %v outside ±10%%", d)
		}
		if d != j.Delay(1, k) {
			t.Fatal("jitter not deterministic")
		}
		spread[d] = true
	}
	if len(spread) < 3 {
		t.Fatalf("jitter does not spread: %v", spread)
	}
	if d := j.Delay(10, "a"); d > 10*time.Hour {
		t.Fatalf("jitter above Max: %v", d)
	}
}

func TestParseMethod(t *testing.T) {
	m, err := ParseMethod("ea:EA-1:PO-2")
	if err != nil || m.Kind != MethodAgreement || m.Agreement != "EA-1" || m.PurchaseOrder != "PO-2" {
		t.Fatalf("%+v %v", m, err)
	}
	m, err = ParseMethod("pm_1Abc")
	if err != nil || m.Kind != MethodCard || m.PaymentMethodID != "pm_1Abc" {
		t.Fatalf("%+v %v", m, err)
	}
	for _, bad := range []string{"", "pm_", "card_123", "ea", "ea:a:b:c", "ea:a b"} {
		if _, err := ParseMethod(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}
