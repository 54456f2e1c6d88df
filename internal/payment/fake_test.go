package payment

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
)

func TestFakeDeclineClassification(t *testing.T) {
	tests := []struct {
		code   string
		kind   Kind
		reason string
	}{
		{"expired_card", KindHardDecline, "card expired"},
		{"lost_card", KindHardDecline, "card reported lost"},
		{"stolen_card", KindHardDecline, "card reported stolen"},
		{"incorrect_number", KindHardDecline, "invalid card number"},
		{"do_not_honor", KindHardDecline, "card declined by the issuer"},
		{"insufficient_funds", KindSoftDecline, "insufficient funds"},
		{"processing_error", KindSoftDecline, "processing error at the card issuer"},
		{"try_again_later", KindSoftDecline, "card declined temporarily"},
		{"rate_limit", KindSoftDecline, "payment provider busy; retrying later"},
		{"api_error", KindUnknownOutcome, "payment provider error"},
	}
	for _, tc := range tests {
		f := NewFake(Decline(tc.code))
		_, err := f.Charge(context.Background(), chargeReq())
		var pe *Error
		if !errors.As(err, &pe) || pe.Kind != tc.kind || pe.Code != tc.code || pe.Reason != tc.reason {
			t.Errorf("%s: err = %v, want %v %q", tc.code, err, tc.kind, tc.reason)
		}
		if n := len(f.Charges()); n != 0 {
			t.Errorf("%s: %d charges moved money", tc.code, n)
		}
	}
}

func TestFakeTimeoutThenRetryChargesOnce(t *testing.T) {
	// The response to the first attempt is lost; the script's next step would decline, so
	// a provider that charged again instead of replaying would be caught.
	f := NewFake(Timeout, Decline("insufficient_funds"))
	ctx := context.Background()
	req := chargeReq()

	_, err := f.Charge(ctx, req)
	if KindOf(err) != KindUnknownOutcome {
		t.Fatalf("first attempt: %v, want unknown outcome", err)
	}
	res, err := f.Charge(ctx, req)
	if err != nil || res.Status != StatusSucceeded || res.Amount != req.Amount {
		t.Fatalf("retry = %+v, %v; want the first attempt's success", res, err)
	}
	res2, err := f.Charge(ctx, req)
	if err != nil || res2 != res {
		t.Fatalf("second retry = %+v, %v; want %+v", res2, err, res)
	}
	if got := f.Charges(); len(got) != 1 || got[0].Result.PaymentID != res.PaymentID {
		t.Fatalf("charges = %+v, want exactly one", got)
	}
	if f.Attempts() != 3 {
		t.Errorf("attempts = %d", f.Attempts())
	}

	// A new attempt (new key) consumes the next step.
	req.IdempotencyKey = "k-2"
	if _, err := f.Charge(ctx, req); KindOf(err) != KindSoftDecline {
		t.Errorf("next attempt: %v", err)
	}
}

func TestFakeUnreachableThenRetryCharges(t *testing.T) {
	f := NewFake(Unreachable)
	req := chargeReq()
	if _, err := f.Charge(context.Background(), req); KindOf(err) != KindUnknownOutcome {
		t.Fatalf("dropped request: %v", err)
	}
	if len(f.Charges()) != 0 {
		t.Fatal("dropped request charged")
	}
	if _, err := f.Charge(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(f.Charges()) != 1 {
		t.Fatalf("charges = %d, want 1", len(f.Charges()))
	}
}

func TestFakeReplaysDeclinesAndRefusesChangedRetry(t *testing.T) {
	f := NewFake(Decline("expired_card"))
	req := chargeReq()
	for i := range 2 {
		if _, err := f.Charge(context.Background(), req); KindOf(err) != KindHardDecline {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	req.Amount = 9999
	if _, err := f.Charge(context.Background(), req); KindOf(err) != KindRejected {
		t.Errorf("same key, other amount: %v", err)
	}
}

func TestFakeProviderErrorIsNotStored(t *testing.T) {
	// Stripe does not keep 5xx results: the retry with the same key runs again.
	f := NewFake(Decline("api_error"))
	req := chargeReq()
	if _, err := f.Charge(context.Background(), req); KindOf(err) != KindUnknownOutcome {
		t.Fatal(err)
	}
	if res, err := f.Charge(context.Background(), req); err != nil || res.Status != StatusSucceeded {
		t.Fatalf("retry = %+v, %v", res, err)
	}
}

func TestFakeProcessingSettles(t *testing.T) {
	f := NewFake(Step{Processing: true})
	res, err := f.Charge(context.Background(), chargeReq())
	if err != nil || res.Status != StatusProcessing {
		t.Fatalf("%+v, %v", res, err)
	}
	if !f.Settle(res.PaymentID) {
		t.Fatal("Settle found nothing")
	}
	got, err := f.Payment(context.Background(), res.PaymentID)
	if err != nil || got.Status != StatusSucceeded {
		t.Fatalf("Payment = %+v, %v", got, err)
	}
	// Like Stripe, the stored response of the original request does not change.
	if again, _ := f.Charge(context.Background(), chargeReq()); again.Status != StatusProcessing {
		t.Errorf("replay = %+v", again)
	}
}

func TestFakeCards(t *testing.T) {
	f := NewFake()
	f.AddCard(Card{PaymentMethodID: "pm_1", Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2027})
	cus, err := f.CreateCustomer(context.Background(), CustomerRequest{TenantID: "t-1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.AttachPaymentMethod(context.Background(), cus, "pm_1")
	if err != nil || c.Last4 != "4242" {
		t.Fatalf("%+v, %v", c, err)
	}
	if _, err := f.Card(context.Background(), "pm_nope"); KindOf(err) != KindRejected {
		t.Errorf("unknown card: %v", err)
	}
}

func TestCardExpiry(t *testing.T) {
	c := Card{ExpMonth: 12, ExpYear: 2027}
	if got, want := c.ExpiresAt(), time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", got, want)
	}
	if c.Expired(time.Date(2027, 12, 31, 23, 59, 59, 0, time.UTC)) {
		t.Error("expired on its last valid day")
	}
	if !c.Expired(time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("not expired after its month")
	}
}

func TestChargeRequestValidate(t *testing.T) {
	ok := chargeReq()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*ChargeRequest){
		"tenant":   func(r *ChargeRequest) { r.TenantID = "" },
		"customer": func(r *ChargeRequest) { r.CustomerID = "" },
		"pm":       func(r *ChargeRequest) { r.PaymentMethodID = "" },
		"key":      func(r *ChargeRequest) { r.IdempotencyKey = "" },
		"currency": func(r *ChargeRequest) { r.Currency = money.Currency{} },
		"zero":     func(r *ChargeRequest) { r.Amount = 0 },
		"negative": func(r *ChargeRequest) { r.Amount = -1 },
		"huge":     func(r *ChargeRequest) { r.Amount = money.MaxAmount + 1 },
	} {
		r := ok
		mut(&r)
		if r.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestKindOf(t *testing.T) {
	if KindOf(nil) != 0 {
		t.Error("nil")
	}
	if KindOf(errors.New("mystery")) != KindUnknownOutcome {
		t.Error("unclassified error must be unknown outcome")
	}
	wrapped := errors.Join(errors.New("ctx"), &Error{Kind: KindHardDecline})
	if KindOf(wrapped) != KindHardDecline {
		t.Error("wrapped")
	}
}
