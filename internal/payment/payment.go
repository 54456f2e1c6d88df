// Package payment charges a tenant's saved card off-session through a payment provider.
//
// The recharge policy that calls it needs three answers from every charge: the money moved
// (credit the tenant), it did not move and will not move on a retry (hard decline: suspend
// auto-recharge), it did not move but may on a later retry (soft decline: back off), or
// nobody knows (unknown outcome: retry with the same idempotency key, which the provider
// guarantees never charges twice). Errors carry that answer as a Kind.
package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/commcredits/commcredits/internal/money"
)

// Provider is a card processor. Implementations must be safe for concurrent use.
type Provider interface {
	// CreateCustomer registers the tenant with the provider and returns the customer id.
	CreateCustomer(ctx context.Context, req CustomerRequest) (customerID string, err error)
	// StartCardSetup returns the client secret with which the tenant's browser collects a
	// card that may later be charged off-session; the card ends up attached to the customer.
	StartCardSetup(ctx context.Context, customerID, idempotencyKey string) (Setup, error)
	// AttachPaymentMethod attaches an already collected payment method to the customer.
	AttachPaymentMethod(ctx context.Context, customerID, paymentMethodID string) (Card, error)
	// Card returns what the engine keeps about a payment method: brand, last4, expiry.
	Card(ctx context.Context, paymentMethodID string) (Card, error)
	// Charge moves req.Amount from the card off-session. A nil error means Status is
	// StatusSucceeded or StatusProcessing; any error is an *Error or must be treated as
	// KindUnknownOutcome (see KindOf).
	Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error)
	// Payment looks a charge up by its provider id, to settle a StatusProcessing result.
	Payment(ctx context.Context, paymentID string) (ChargeResult, error)
}

// CustomerRequest describes the tenant to the provider.
type CustomerRequest struct {
	TenantID       string
	Name           string
	Email          string // billing contact, optional
	IdempotencyKey string // optional; makes a retried creation return the same customer
}

// Setup is a pending card collection (a Stripe SetupIntent).
type Setup struct {
	ID           string
	ClientSecret string // handed to the browser only, never logged or stored
}

// Card is a payment method as shown to the tenant and watched for expiry.
type Card struct {
	PaymentMethodID string
	Brand           string // "visa", "mastercard", ...
	Last4           string
	ExpMonth        int // 1..12
	ExpYear         int // four digits
}

// ExpiresAt is the first instant the card is no longer valid: cards are good through the
// last day of their expiry month, so this is the first day of the next month, UTC.
func (c Card) ExpiresAt() time.Time {
	return time.Date(c.ExpYear, time.Month(c.ExpMonth)+1, 1, 0, 0, 0, 0, time.UTC)
}

// Expired reports whether the card can no longer be charged at t.
func (c Card) Expired(t time.Time) bool { return !t.Before(c.ExpiresAt()) }

// ChargeRequest is one attempt to charge a card. An attempt that ended in an unknown
// outcome must be repeated with the same IdempotencyKey and the same fields.
type ChargeRequest struct {
	TenantID        string
	CustomerID      string
	PaymentMethodID string
	Amount          money.Amount
	Currency        money.Currency
	IdempotencyKey  string
	Description     string // shown on the provider's dashboard and receipts
}

// Validate refuses a request that no provider should see.
func (r ChargeRequest) Validate() error {
	switch {
	case r.TenantID == "":
		return errors.New("payment: charge without tenant id")
	case r.CustomerID == "" || r.PaymentMethodID == "":
		return errors.New("payment: charge without customer or payment method")
	case r.IdempotencyKey == "":
		return errors.New("payment: charge without idempotency key")
	case r.Currency.Code == "":
		return errors.New("payment: charge without currency")
	case r.Amount <= 0 || r.Amount > money.MaxAmount:
		return fmt.Errorf("payment: charge amount %s out of range", r.Amount.Format(r.Currency))
	}
	return nil
}

// Status is the state of a charge that did not fail.
type Status string

const (
	// StatusSucceeded: the money moved; credit the tenant.
	StatusSucceeded Status = "succeeded"
	// StatusProcessing: accepted but not final (some banks confirm later); do not credit
	// yet, poll Payment or wait for the provider's webhook.
	StatusProcessing Status = "processing"
)

// ChargeResult is the provider's record of a charge.
type ChargeResult struct {
	PaymentID string // provider payment id, e.g. "pi_..."
	Status    Status
	Amount    money.Amount
	Currency  money.Currency
}

// Kind classifies a failed charge for the recharge policy.
type Kind int

const (
	// KindUnknownOutcome: the charge may or may not have happened (timeout, network error,
	// provider 5xx). Retry with the same idempotency key; never with a new one until the
	// outcome is known.
	KindUnknownOutcome Kind = iota + 1
	// KindHardDecline: the card will not work again (expired, lost, stolen, invalid,
	// closed, needs the customer present). Suspend auto-recharge until the card changes.
	KindHardDecline
	// KindSoftDecline: this attempt failed but a later one may succeed (insufficient funds,
	// issuer unavailable, rate limited). Back off and count consecutive failures.
	KindSoftDecline
	// KindRejected: the provider refused the request itself (bad key, unknown customer,
	// idempotency key reused with other parameters). Not the card's fault and not fixed by
	// retrying: alert the operator.
	KindRejected
)

func (k Kind) String() string {
	switch k {
	case KindUnknownOutcome:
		return "unknown_outcome"
	case KindHardDecline:
		return "hard_decline"
	case KindSoftDecline:
		return "soft_decline"
	case KindRejected:
		return "rejected"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a failed provider call.
type Error struct {
	Kind      Kind
	Code      string // provider decline or error code, e.g. "expired_card"
	Reason    string // for the tenant's email, e.g. "card expired"
	PaymentID string // provider payment id when the provider recorded the failed attempt
	Err       error  // provider error, for logs
}

func (e *Error) Error() string {
	s := "payment: " + e.Kind.String()
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf classifies err. An error that is not an *Error (a context deadline, a bug in a
// transport) is an unknown outcome because the request may have reached the provider;
// retrying it with the same key is always safe. KindOf(nil) is 0.
func KindOf(err error) Kind {
	if err == nil {
		return 0
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return KindUnknownOutcome
}

// CodeNotConfigured is the code of every error of NotConfigured.
const CodeNotConfigured = "provider_not_configured"

// NotConfigured is the Provider of a process started without payment provider settings:
// every call fails at once as KindRejected with CodeNotConfigured, so a card charge ends as
// a clear failure (an operator alert, recharge_failed, auto-recharge suspended) instead of
// waiting for a provider that does not exist. Enterprise agreements need no provider.
type NotConfigured struct{}

var _ Provider = NotConfigured{}

func notConfigured() *Error {
	return &Error{Kind: KindRejected, Code: CodeNotConfigured, Reason: "no payment provider is configured",
		Err: errors.New("payment: no payment provider configured (set the Stripe secret key)")}
}

func (NotConfigured) CreateCustomer(context.Context, CustomerRequest) (string, error) {
	return "", notConfigured()
}
func (NotConfigured) StartCardSetup(context.Context, string, string) (Setup, error) {
	return Setup{}, notConfigured()
}
func (NotConfigured) AttachPaymentMethod(context.Context, string, string) (Card, error) {
	return Card{}, notConfigured()
}
func (NotConfigured) Card(context.Context, string) (Card, error) { return Card{}, notConfigured() }
func (NotConfigured) Charge(context.Context, ChargeRequest) (ChargeResult, error) {
	return ChargeResult{}, notConfigured()
}
func (NotConfigured) Payment(context.Context, string) (ChargeResult, error) {
	return ChargeResult{}, notConfigured()
}
