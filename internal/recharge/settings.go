// Package recharge is the auto-recharge and funding policy of domain §6 as a pure state
// machine: State + Event (each carrying its time) in, new State + Output (actions for the
// caller and notify events) out. It does no I/O and never reads the clock, so the same
// events always give the same state, actions and notifications (replay, simulation,
// property tests).
//
// The writer applies BalanceChanged, SettingsUpdated, PaymentMethodUpdated, ManualPurchase
// and Tick; a durable job runner executes the StartAttempt and ScheduleRetry actions
// against the payment provider and feeds back AttemptSucceeded, AttemptFailed and
// RetryDue. The rules are documented in docs/recharge.md.
package recharge

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/money"
)

// Typed errors. A command refused with one of them changed nothing.
var (
	// ErrInvalid is wrapped by every *FieldError.
	ErrInvalid = errors.New("recharge: invalid")
	// ErrConflict is wrapped by *ConflictError: the settings changed since they were read.
	ErrConflict = errors.New("recharge: settings version conflict")
	// ErrBusy: a payment (recharge or purchase) is already in flight for the tenant.
	ErrBusy = errors.New("recharge: a payment is already in flight")
	// ErrUnknownAttempt: a result or retry names a key this tenant never issued.
	ErrUnknownAttempt = errors.New("recharge: unknown attempt")
)

// FieldError is a refused value; Field names it as in Settings or the event.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return "recharge: invalid " + e.Field + ": " + e.Problem }
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// ConflictError refuses a SettingsUpdated whose IfVersion is not the current version.
type ConflictError struct {
	Current, IfVersion int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("recharge: settings version conflict: current %d, update based on %d", e.Current, e.IfVersion)
}
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Settings is the tenant's auto-recharge configuration (one row, versioned).
type Settings struct {
	Enabled bool `json:"enabled"`
	// Trigger: a recharge fires when the available balance is strictly below it.
	Trigger money.Amount `json:"trigger"`
	// Amount is added by each recharge; at least Config.MinPurchase.
	Amount money.Amount `json:"amount"`
	// MonthlyCap bounds the recharges credited per calendar month (UTC); 0 = no cap.
	MonthlyCap money.Amount `json:"monthly_cap,omitempty"`
	// PaymentMethod is a card ("pm_...") or an enterprise agreement
	// ("ea:<agreement>" or "ea:<agreement>:<purchase order>").
	PaymentMethod string `json:"payment_method,omitempty"`
	// LowBalance is the balance_low alert level while auto-recharge is off or suspended;
	// 0 = no alert.
	LowBalance money.Amount `json:"low_balance,omitempty"`
	// Version is the row version, bumped by every change (settings, payment method,
	// suspension). SettingsUpdated ignores the value it carries here.
	Version int64 `json:"version"`
}

// MethodKind says how a payment method pays.
type MethodKind int

const (
	// MethodCard is charged through the payment provider.
	MethodCard MethodKind = iota + 1
	// MethodAgreement is invoiced under an enterprise agreement and credited at once.
	MethodAgreement
)

// Method is a parsed payment method.
type Method struct {
	Kind            MethodKind
	PaymentMethodID string // card: the provider's payment method id
	Agreement       string // agreement: the enterprise agreement number
	PurchaseOrder   string // agreement: optional purchase order number
}

// ParseMethod reads "pm_<id>" (card) or "ea:<agreement>[:<purchase order>]". Ids and
// numbers are letters, digits and "_.-" only, so they can appear in keys.
func ParseMethod(s string) (Method, error) {
	switch {
	case strings.HasPrefix(s, "pm_"):
		if !token(s[3:]) {
			return Method{}, fmt.Errorf("card payment method id %q: want pm_ followed by letters, digits, _ . -", s)
		}
		return Method{Kind: MethodCard, PaymentMethodID: s}, nil
	case strings.HasPrefix(s, "ea:"):
		ag, po, hasPO := strings.Cut(s[3:], ":")
		if !token(ag) {
			return Method{}, fmt.Errorf("enterprise agreement %q: want ea:<agreement>[:<purchase order>] of letters, digits, _ . -", s)
		}
		if hasPO && !token(po) {
			return Method{}, fmt.Errorf("purchase order in %q: want letters, digits, _ . -", s)
		}
		return Method{Kind: MethodAgreement, Agreement: ag, PurchaseOrder: po}, nil
	case s == "":
		return Method{}, errors.New("no payment method")
	}
	return Method{}, fmt.Errorf("unknown payment method kind %q: want a card (pm_...) or an enterprise agreement (ea:...)", s)
}

func token(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Config is the operator's policy. The zero value of each field means its default.
type Config struct {
	// Currency of the tenants' balances; used in notifications and the default minimum.
	Currency money.Currency
	// MinPurchase is the least a purchase or recharge may add: 50 units when zero.
	MinPurchase money.Amount
	// MaxFailures is N: that many consecutive soft declines suspend auto-recharge; 4 when zero.
	MaxFailures int
	// SoftBackoff spaces the retries after soft declines: DefaultSoftBackoff when zero.
	SoftBackoff Backoff
	// UnknownBackoff spaces the retries after unknown outcomes: DefaultUnknownBackoff when zero.
	UnknownBackoff Backoff
	// AlertAfterUnknown raises an Alert when one attempt has had this many consecutive
	// unknown outcomes (it keeps retrying with the same key); 10 when zero.
	AlertAfterUnknown int
}

// DefaultMaxFailures is N when Config.MaxFailures is zero.
const DefaultMaxFailures = 4

// Default back-off schedules.
var (
	// 30 min, 2 h, 8 h, 12 h, ...: with N = 4 the third retry is the last.
	DefaultSoftBackoff = Backoff{Base: 30 * time.Minute, Factor: 4, Max: 12 * time.Hour}
	// 30 s, 1 min, 2 min, ... 15 min: the outcome of a charge is usually known quickly.
	DefaultUnknownBackoff = Backoff{Base: 30 * time.Second, Factor: 2, Max: 15 * time.Minute}
)

// MinPurchaseAmount is the configured minimum, or 50 units of the currency.
func (c *Config) MinPurchaseAmount() money.Amount {
	if c.MinPurchase > 0 {
		return c.MinPurchase
	}
	return money.Units(50, c.Currency)
}

func (c *Config) maxFailures() int {
	if c.MaxFailures > 0 {
		return c.MaxFailures
	}
	return DefaultMaxFailures
}

func (c *Config) softBackoff() Backoff {
	if c.SoftBackoff.Base > 0 {
		return c.SoftBackoff
	}
	return DefaultSoftBackoff
}

func (c *Config) unknownBackoff() Backoff {
	if c.UnknownBackoff.Base > 0 {
		return c.UnknownBackoff
	}
	return DefaultUnknownBackoff
}

func (c *Config) alertAfterUnknown() int {
	if c.AlertAfterUnknown > 0 {
		return c.AlertAfterUnknown
	}
	return 10
}

// Validate checks s against the operator's policy. Every bad field is reported; each
// error is a *FieldError wrapping ErrInvalid (errors.Is(err, ErrInvalid)).
//
// A disabled auto-recharge may leave Amount zero and PaymentMethod empty (never set up);
// values that are set are checked all the same.
func (s Settings) Validate(cfg *Config) error {
	var errs []error
	minimum := cfg.MinPurchaseAmount()
	if s.Trigger < 0 || s.Trigger > money.MaxAmount {
		errs = append(errs, invalid("Trigger", "%s must be between 0 and %s", s.Trigger.Format(cfg.Currency), money.MaxAmount.Format(cfg.Currency)))
	}
	if s.Enabled || s.Amount != 0 {
		if s.Amount < minimum || s.Amount > money.MaxAmount {
			errs = append(errs, invalid("Amount", "%s is below the minimum purchase of %s %s", s.Amount.Format(cfg.Currency), minimum.Format(cfg.Currency), cfg.Currency))
			if s.Amount > money.MaxAmount {
				errs[len(errs)-1] = invalid("Amount", "%s is too large", s.Amount.Format(cfg.Currency))
			}
		}
	}
	switch {
	case s.MonthlyCap < 0 || s.MonthlyCap > money.MaxAmount:
		errs = append(errs, invalid("MonthlyCap", "%s must be 0 (no cap) or positive", s.MonthlyCap.Format(cfg.Currency)))
	case s.MonthlyCap > 0 && s.MonthlyCap < s.Amount:
		errs = append(errs, invalid("MonthlyCap", "%s is below the recharge amount %s: no recharge could ever run", s.MonthlyCap.Format(cfg.Currency), s.Amount.Format(cfg.Currency)))
	}
	if s.Enabled || s.PaymentMethod != "" {
		if _, err := ParseMethod(s.PaymentMethod); err != nil {
			errs = append(errs, invalid("PaymentMethod", "%v", err))
		}
	}
	if s.LowBalance < 0 || s.LowBalance > money.MaxAmount {
		errs = append(errs, invalid("LowBalance", "%s must be 0 (no alert) or positive", s.LowBalance.Format(cfg.Currency)))
	}
	return errors.Join(errs...)
}
