package payment

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Step is one scripted outcome of a Fake charge.
type Step struct {
	// Code is a decline or error code ("expired_card", "insufficient_funds",
	// "rate_limit"); empty means the charge succeeds. Classified with Classify.
	Code string
	// Processing makes a successful charge come back as StatusProcessing.
	Processing bool
	// LoseResponse: the provider processes the charge (and remembers its result under the
	// idempotency key) but the caller sees an unknown outcome, as on a timeout after the
	// request arrived.
	LoseResponse bool
	// DropRequest: the request never reaches the provider; nothing is recorded and the
	// caller sees an unknown outcome, as on a connection failure before sending.
	DropRequest bool
}

// Succeed, Decline, Timeout and Unreachable build the common steps.
var (
	Succeed = Step{}
	// Timeout charges successfully but loses the response.
	Timeout = Step{LoseResponse: true}
	// Unreachable never reaches the provider.
	Unreachable = Step{DropRequest: true}
)

// Decline returns a step that fails with the given code.
func Decline(code string) Step { return Step{Code: code} }

// FakeCharge is a charge the Fake processed: money moved when Err is nil.
type FakeCharge struct {
	Request ChargeRequest
	Result  ChargeResult
	Err     *Error
}

// Fake is a scriptable in-memory Provider for what stripe-mock cannot do: declines,
// timeouts and idempotent retries. Each Charge that reaches the "provider" consumes the
// next Step; with the script exhausted, charges succeed. Like Stripe, it stores the result
// of every processed request under its idempotency key and replays it for a retry with the
// same key, without consuming a step or charging again; a retry whose parameters differ
// is rejected.
type Fake struct {
	mu        sync.Mutex
	script    []Step
	byKey     map[string]FakeCharge // stored responses, replayed verbatim like Stripe's
	processed []*FakeCharge
	attempts  int
	cards     map[string]Card
	owner     map[string]string // payment method id -> customer id
	customers int
	seq       int
}

var _ Provider = (*Fake)(nil)

// NewFake returns a Fake that will play steps in order.
func NewFake(steps ...Step) *Fake {
	return &Fake{
		script: steps,
		byKey:  map[string]FakeCharge{},
		cards:  map[string]Card{},
		owner:  map[string]string{},
	}
}

// Script appends steps.
func (f *Fake) Script(steps ...Step) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, steps...)
}

// AddCard makes a payment method known, as if the tenant had entered it in the browser.
func (f *Fake) AddCard(c Card) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cards[c.PaymentMethodID] = c
}

// Attempts is the number of Charge calls, including retries and dropped requests.
func (f *Fake) Attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

// Charges returns the charges that moved money, in order.
func (f *Fake) Charges() []FakeCharge {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []FakeCharge
	for _, c := range f.processed {
		if c.Err == nil {
			out = append(out, *c)
		}
	}
	return out
}

// CreateCustomer implements Provider.
func (f *Fake) CreateCustomer(ctx context.Context, req CustomerRequest) (string, error) {
	if req.TenantID == "" {
		return "", errors.New("payment: customer without tenant id")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.customers++
	return fmt.Sprintf("cus_fake%d", f.customers), nil
}

// StartCardSetup implements Provider.
func (f *Fake) StartCardSetup(ctx context.Context, customerID, idempotencyKey string) (Setup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	id := fmt.Sprintf("seti_fake%d", f.seq)
	return Setup{ID: id, ClientSecret: id + "_secret_fake"}, nil
}

// AttachPaymentMethod implements Provider.
func (f *Fake) AttachPaymentMethod(ctx context.Context, customerID, paymentMethodID string) (Card, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cards[paymentMethodID]
	if !ok {
		return Card{}, &Error{Kind: KindRejected, Code: "resource_missing", Err: fmt.Errorf("no payment method %q", paymentMethodID)}
	}
	f.owner[paymentMethodID] = customerID
	return c, nil
}

// Card implements Provider.
func (f *Fake) Card(ctx context.Context, paymentMethodID string) (Card, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cards[paymentMethodID]
	if !ok {
		return Card{}, &Error{Kind: KindRejected, Code: "resource_missing", Err: fmt.Errorf("no payment method %q", paymentMethodID)}
	}
	return c, nil
}

// Charge implements Provider.
func (f *Fake) Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error) {
	if err := req.Validate(); err != nil {
		return ChargeResult{}, &Error{Kind: KindRejected, Code: "invalid_request", Err: err}
	}
	if err := ctx.Err(); err != nil {
		return ChargeResult{}, &Error{Kind: KindUnknownOutcome, Code: "network_error", Err: err}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++

	if prev, ok := f.byKey[req.IdempotencyKey]; ok {
		if prev.Request != req {
			return ChargeResult{}, &Error{Kind: KindRejected, Code: "idempotency_error",
				Err: fmt.Errorf("idempotency key %q reused with different parameters", req.IdempotencyKey)}
		}
		return replay(&prev)
	}

	step := Succeed
	if len(f.script) > 0 {
		step = f.script[0]
		f.script = f.script[1:]
	}
	if step.DropRequest {
		return ChargeResult{}, &Error{Kind: KindUnknownOutcome, Code: "network_error", Err: errors.New("fake: request dropped")}
	}
	f.seq++
	c := &FakeCharge{Request: req}
	pid := fmt.Sprintf("pi_fake%d", f.seq)
	switch {
	case step.Code != "":
		k, reason := Classify(step.Code)
		c.Err = &Error{Kind: k, Code: step.Code, Reason: reason, PaymentID: pid}
	case step.Processing:
		c.Result = ChargeResult{PaymentID: pid, Status: StatusProcessing, Amount: req.Amount, Currency: req.Currency}
	default:
		c.Result = ChargeResult{PaymentID: pid, Status: StatusSucceeded, Amount: req.Amount, Currency: req.Currency}
	}
	// Stripe does not store results of requests it failed to process (5xx) or refused to
	// process (429), so those may be retried with a new outcome; everything else is final.
	if c.Err == nil || c.Err.Kind != KindUnknownOutcome && c.Err.Code != "rate_limit" {
		f.byKey[req.IdempotencyKey] = *c
	}
	if c.Err != nil && c.Err.Kind == KindUnknownOutcome {
		return ChargeResult{}, c.Err
	}
	f.processed = append(f.processed, c)
	if step.LoseResponse {
		return ChargeResult{}, &Error{Kind: KindUnknownOutcome, Code: "network_error", Err: errors.New("fake: response lost")}
	}
	return replay(c)
}

func replay(c *FakeCharge) (ChargeResult, error) {
	if c.Err != nil {
		e := *c.Err
		return ChargeResult{}, &e
	}
	return c.Result, nil
}

// Payment implements Provider.
func (f *Fake) Payment(ctx context.Context, paymentID string) (ChargeResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.processed {
		if c.Err == nil && c.Result.PaymentID == paymentID {
			return c.Result, nil
		}
	}
	return ChargeResult{}, &Error{Kind: KindRejected, Code: "resource_missing", Err: fmt.Errorf("no payment %q", paymentID)}
}

// Settle moves a StatusProcessing charge to StatusSucceeded, as the bank confirming it.
func (f *Fake) Settle(paymentID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.processed {
		if c.Err == nil && c.Result.PaymentID == paymentID && c.Result.Status == StatusProcessing {
			c.Result.Status = StatusSucceeded
			return true
		}
	}
	return false
}
