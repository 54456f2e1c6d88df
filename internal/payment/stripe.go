package payment

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/commcredits/commcredits/internal/money"
)

// StripeConfig configures the Stripe provider.
type StripeConfig struct {
	SecretKey string
	// BaseURL replaces https://api.stripe.com, e.g. a stripe-mock address in tests.
	BaseURL string
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
	// NetworkRetries is how often stripe-go itself retries a request that failed in
	// transit (with the same idempotency key). Zero leaves retrying to the caller's durable
	// job, which is where the back-off schedule lives.
	NetworkRetries int64
}

// Stripe is the reference Provider.
type Stripe struct {
	c *stripe.Client
}

var _ Provider = (*Stripe)(nil)

// NewStripe returns a Stripe provider.
func NewStripe(cfg StripeConfig) (*Stripe, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("payment: stripe secret key is empty")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        hc,
		MaxNetworkRetries: stripe.Int64(cfg.NetworkRetries),
		// The caller logs classified errors; stripe-go's own logging would duplicate them.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.BaseURL != "" {
		bc.URL = stripe.String(strings.TrimRight(cfg.BaseURL, "/"))
	}
	return &Stripe{c: stripe.NewClient(cfg.SecretKey, stripe.WithBackends(stripe.NewBackendsWithConfig(bc)))}, nil
}

// CreateCustomer implements Provider.
func (s *Stripe) CreateCustomer(ctx context.Context, req CustomerRequest) (string, error) {
	if req.TenantID == "" {
		return "", errors.New("payment: customer without tenant id")
	}
	p := &stripe.CustomerCreateParams{
		Name:     optional(req.Name),
		Email:    optional(req.Email),
		Metadata: map[string]string{"tenant_id": req.TenantID},
	}
	if req.IdempotencyKey != "" {
		p.SetIdempotencyKey(req.IdempotencyKey)
	}
	c, err := s.c.V1Customers.Create(ctx, p)
	if err != nil {
		return "", stripeError(err)
	}
	return c.ID, nil
}

// StartCardSetup implements Provider.
func (s *Stripe) StartCardSetup(ctx context.Context, customerID, idempotencyKey string) (Setup, error) {
	p := &stripe.SetupIntentCreateParams{
		Customer:           stripe.String(customerID),
		Usage:              stripe.String(string(stripe.SetupIntentUsageOffSession)),
		PaymentMethodTypes: []*string{stripe.String("card")},
	}
	if idempotencyKey != "" {
		p.SetIdempotencyKey(idempotencyKey)
	}
	si, err := s.c.V1SetupIntents.Create(ctx, p)
	if err != nil {
		return Setup{}, stripeError(err)
	}
	return Setup{ID: si.ID, ClientSecret: si.ClientSecret}, nil
}

// AttachPaymentMethod implements Provider.
func (s *Stripe) AttachPaymentMethod(ctx context.Context, customerID, paymentMethodID string) (Card, error) {
	pm, err := s.c.V1PaymentMethods.Attach(ctx, paymentMethodID, &stripe.PaymentMethodAttachParams{
		Customer: stripe.String(customerID),
	})
	if err != nil {
		return Card{}, stripeError(err)
	}
	return cardOf(pm)
}

// Card implements Provider.
func (s *Stripe) Card(ctx context.Context, paymentMethodID string) (Card, error) {
	pm, err := s.c.V1PaymentMethods.Retrieve(ctx, paymentMethodID, nil)
	if err != nil {
		return Card{}, stripeError(err)
	}
	return cardOf(pm)
}

func cardOf(pm *stripe.PaymentMethod) (Card, error) {
	if pm.Card == nil {
		return Card{}, fmt.Errorf("payment: payment method %s is a %s, not a card", pm.ID, pm.Type)
	}
	return Card{
		PaymentMethodID: pm.ID,
		Brand:           string(pm.Card.Brand),
		Last4:           pm.Card.Last4,
		ExpMonth:        int(pm.Card.ExpMonth),
		ExpYear:         int(pm.Card.ExpYear),
	}, nil
}

// Charge implements Provider with a confirmed off-session PaymentIntent. The idempotency
// key goes in the Idempotency-Key header, so a retry after a lost response returns
// Stripe's stored result instead of creating a second PaymentIntent.
func (s *Stripe) Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error) {
	if err := req.Validate(); err != nil {
		return ChargeResult{}, &Error{Kind: KindRejected, Code: "invalid_request", Err: err}
	}
	amount, err := stripeAmount(req.Amount, req.Currency)
	if err != nil {
		return ChargeResult{}, &Error{Kind: KindRejected, Code: "invalid_amount", Err: err}
	}
	p := &stripe.PaymentIntentCreateParams{
		Amount:             stripe.Int64(amount),
		Currency:           stripe.String(strings.ToLower(req.Currency.Code)),
		Customer:           stripe.String(req.CustomerID),
		PaymentMethod:      stripe.String(req.PaymentMethodID),
		PaymentMethodTypes: []*string{stripe.String("card")},
		OffSession:         stripe.Bool(true),
		Confirm:            stripe.Bool(true),
		Description:        optional(req.Description),
		Metadata: map[string]string{
			"tenant_id":       req.TenantID,
			"idempotency_key": req.IdempotencyKey,
		},
	}
	p.SetIdempotencyKey(req.IdempotencyKey)
	pi, err := s.c.V1PaymentIntents.Create(ctx, p)
	if err != nil {
		return ChargeResult{}, stripeError(err)
	}
	return intentResult(pi)
}

// Payment implements Provider.
func (s *Stripe) Payment(ctx context.Context, paymentID string) (ChargeResult, error) {
	pi, err := s.c.V1PaymentIntents.Retrieve(ctx, paymentID, nil)
	if err != nil {
		return ChargeResult{}, stripeError(err)
	}
	return intentResult(pi)
}

func intentResult(pi *stripe.PaymentIntent) (ChargeResult, error) {
	cur, err := money.LookupCurrency(string(pi.Currency))
	if err != nil {
		return ChargeResult{}, &Error{Kind: KindUnknownOutcome, PaymentID: pi.ID, Err: err}
	}
	res := ChargeResult{PaymentID: pi.ID, Amount: fromStripeAmount(pi.Amount, cur), Currency: cur}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded:
		res.Status = StatusSucceeded
		return res, nil
	case stripe.PaymentIntentStatusProcessing:
		res.Status = StatusProcessing
		return res, nil
	case stripe.PaymentIntentStatusRequiresAction:
		// 3-D Secure wanted and nobody is there to complete it.
		k, reason := Classify("authentication_required")
		return ChargeResult{}, &Error{Kind: k, Code: "authentication_required", Reason: reason, PaymentID: pi.ID}
	case stripe.PaymentIntentStatusRequiresPaymentMethod:
		// Confirmation failed; the decline is in last_payment_error.
		code := ""
		if e := pi.LastPaymentError; e != nil && e.Type == stripe.ErrorTypeCard {
			code = declineCode(e)
		}
		if code == "" {
			code = "card_declined"
		}
		k, reason := Classify(code)
		return ChargeResult{}, &Error{Kind: k, Code: code, Reason: reason, PaymentID: pi.ID}
	}
	return ChargeResult{}, &Error{
		Kind: KindRejected, Code: string(pi.Status), PaymentID: pi.ID,
		Err: fmt.Errorf("payment intent %s in unexpected status %q", pi.ID, pi.Status),
	}
}

func declineCode(e *stripe.Error) string {
	if e.DeclineCode != "" {
		return string(e.DeclineCode)
	}
	return string(e.Code)
}

// stripeError classifies an error from stripe-go.
func stripeError(err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		// Transport failure, context deadline, unparsable body: the request may have been
		// processed.
		return &Error{Kind: KindUnknownOutcome, Code: "network_error", Err: err}
	}
	out := &Error{Code: string(se.Code), Err: err}
	if se.PaymentIntent != nil {
		out.PaymentID = se.PaymentIntent.ID
	}
	switch {
	case se.Type == stripe.ErrorTypeCard:
		out.Code = declineCode(se)
		if out.Code == "" {
			out.Code = "card_declined"
		}
		out.Kind, out.Reason = Classify(out.Code)
	case se.HTTPStatusCode == http.StatusTooManyRequests:
		if out.Code == "" {
			out.Code = "rate_limit"
		}
		// Stripe did not process a rate-limited request.
		out.Kind, out.Reason = KindSoftDecline, declines["rate_limit"].reason
	case se.Type == stripe.ErrorTypeIdempotency && se.Code == stripe.ErrorCodeIdempotencyKeyInUse:
		// The first request with this key is still running at Stripe.
		out.Kind = KindUnknownOutcome
	case se.HTTPStatusCode >= 500 || se.HTTPStatusCode == 0 || se.Type == stripe.ErrorTypeAPI:
		out.Kind = KindUnknownOutcome
		if out.Code == "" {
			out.Code = "api_error"
		}
	default:
		// invalid_request_error, authentication, permission, idempotency key reused with
		// different parameters.
		out.Kind = KindRejected
		if out.Code == "" {
			out.Code = string(se.Type)
		}
	}
	return out
}

// stripeAmount converts ISO minor units to Stripe's. They agree except for ISK, which
// Stripe keeps as a two-decimal currency, and three-decimal currencies, where card
// networks need the last digit to be zero.
func stripeAmount(a money.Amount, c money.Currency) (int64, error) {
	switch {
	case c.Code == "ISK":
		return int64(a) * 100, nil
	case c.Digits == 3 && a%10 != 0:
		return 0, fmt.Errorf("payment: %s %s has a non-zero third decimal, which card networks refuse", a.Format(c), c.Code)
	}
	return int64(a), nil
}

func fromStripeAmount(v int64, c money.Currency) money.Amount {
	if c.Code == "ISK" {
		return money.Amount(v / 100)
	}
	return money.Amount(v)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
