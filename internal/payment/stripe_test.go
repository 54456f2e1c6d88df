package payment

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payment/stripemock"
)

var usd = money.MustCurrency("USD")

// recorder is an http.RoundTripper that keeps what the client sent.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
	next http.RoundTripper
}

type recorded struct {
	Method, Path, IdempotencyKey string
	Form                         url.Values
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := recorded{Method: req.Method, Path: req.URL.Path, IdempotencyKey: req.Header.Get("Idempotency-Key")}
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		rec.Form, _ = url.ParseQuery(string(b))
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, rec)
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) last(t *testing.T) recorded {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("no request recorded")
	}
	return r.reqs[len(r.reqs)-1]
}

func newStripe(t *testing.T, base string) (*Stripe, *recorder) {
	t.Helper()
	rec := &recorder{next: http.DefaultTransport}
	s, err := NewStripe(StripeConfig{
		SecretKey:  "sk_test_commcredits",
		BaseURL:    base,
		HTTPClient: &http.Client{Transport: rec, Timeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, rec
}

func wantForm(t *testing.T, got url.Values, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g := got.Get(k); g != v {
			t.Errorf("form %s = %q, want %q (form %v)", k, g, v, got)
		}
	}
}

func TestStripeAgainstStripeMock(t *testing.T) {
	base := stripemock.Start(t)
	s, rec := newStripe(t, base)
	ctx := context.Background()

	cus, err := s.CreateCustomer(ctx, CustomerRequest{TenantID: "t-1", Name: "Acme", Email: "billing@acme.test", IdempotencyKey: "cust-t-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cus, "cus_") {
		t.Errorf("customer id %q", cus)
	}
	r := rec.last(t)
	if r.Method != "POST" || r.Path != "/v1/customers" || r.IdempotencyKey != "cust-t-1" {
		t.Errorf("customer request %+v", r)
	}
	wantForm(t, r.Form, map[string]string{"name": "Acme", "email": "billing@acme.test", "metadata[tenant_id]": "t-1"})

	setup, err := s.StartCardSetup(ctx, cus, "setup-1")
	if err != nil {
		t.Fatal(err)
	}
	if setup.ID == "" || setup.ClientSecret == "" {
		t.Errorf("setup %+v", setup)
	}
	wantForm(t, rec.last(t).Form, map[string]string{"customer": cus, "usage": "off_session", "payment_method_types[0]": "card"})

	card, err := s.AttachPaymentMethod(ctx, cus, "pm_card_visa")
	if err != nil {
		t.Fatal(err)
	}
	if r := rec.last(t); r.Path != "/v1/payment_methods/pm_card_visa/attach" || r.Form.Get("customer") != cus {
		t.Errorf("attach request %+v", r)
	}
	// stripe-mock's fixture card.
	if card.Brand != "visa" || card.Last4 != "4242" || card.ExpMonth < 1 || card.ExpMonth > 12 || card.ExpYear < 2000 {
		t.Errorf("card %+v", card)
	}
	again, err := s.Card(ctx, card.PaymentMethodID)
	if err != nil || again != card {
		t.Errorf("Card = %+v, %v; want %+v", again, err, card)
	}

	req := ChargeRequest{
		TenantID: "t-1", CustomerID: cus, PaymentMethodID: card.PaymentMethodID,
		Amount: money.Units(50, usd), Currency: usd, IdempotencyKey: "recharge-t-1-7", Description: "Auto-recharge",
	}
	_, err = s.Charge(ctx, req)
	r = rec.last(t)
	if r.Method != "POST" || r.Path != "/v1/payment_intents" || r.IdempotencyKey != "recharge-t-1-7" {
		t.Errorf("charge request %+v", r)
	}
	wantForm(t, r.Form, map[string]string{
		"amount": "5000", "currency": "usd", "customer": cus, "payment_method": card.PaymentMethodID,
		"off_session": "true", "confirm": "true", "payment_method_types[0]": "card",
		"description": "Auto-recharge", "metadata[tenant_id]": "t-1", "metadata[idempotency_key]": "recharge-t-1-7",
	})
	// stripe-mock accepts the request (an invalid one would be KindRejected) but answers
	// with a fixture PaymentIntent in status requires_payment_method: a generic decline.
	var pe *Error
	if !errors.As(err, &pe) || pe.Kind != KindSoftDecline || !strings.HasPrefix(pe.PaymentID, "pi_") {
		t.Errorf("charge against stripe-mock: %v", err)
	}

	if _, err := s.Payment(ctx, "pi_123"); KindOf(err) == KindRejected || KindOf(err) == KindUnknownOutcome {
		t.Errorf("Payment: %v", err)
	}
}

func TestStripeMockRejectsMalformedRequest(t *testing.T) {
	base := stripemock.Start(t)
	s, _ := newStripe(t, base)
	// An empty customer id is not a valid path segment for stripe-mock; it must be
	// classified as rejected (our bug), never as a decline.
	_, err := s.AttachPaymentMethod(context.Background(), "cus_1", "")
	if KindOf(err) != KindRejected {
		t.Fatalf("err = %v (kind %v), want rejected", err, KindOf(err))
	}
}

// canned serves one fixed response for every request.
func canned(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func chargeReq() ChargeRequest {
	return ChargeRequest{TenantID: "t-1", CustomerID: "cus_1", PaymentMethodID: "pm_1",
		Amount: 5000, Currency: usd, IdempotencyKey: "k-1"}
}

func TestStripeChargeResponses(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		kind     Kind
		code     string
		reason   string
		pid      string
		result   Status
		resultID string
	}{
		{name: "succeeded", status: 200,
			body:   `{"id":"pi_ok","object":"payment_intent","amount":5000,"currency":"usd","status":"succeeded"}`,
			result: StatusSucceeded, resultID: "pi_ok"},
		{name: "processing", status: 200,
			body:   `{"id":"pi_p","object":"payment_intent","amount":5000,"currency":"usd","status":"processing"}`,
			result: StatusProcessing, resultID: "pi_p"},
		{name: "requires action off-session", status: 200,
			body: `{"id":"pi_3ds","object":"payment_intent","amount":5000,"currency":"usd","status":"requires_action"}`,
			kind: KindHardDecline, code: "authentication_required", pid: "pi_3ds"},
		{name: "expired card", status: 402,
			body: `{"error":{"type":"card_error","code":"expired_card","message":"Your card has expired.","payment_intent":{"id":"pi_exp","object":"payment_intent","status":"requires_payment_method"}}}`,
			kind: KindHardDecline, code: "expired_card", reason: "card expired", pid: "pi_exp"},
		{name: "insufficient funds", status: 402,
			body: `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}`,
			kind: KindSoftDecline, code: "insufficient_funds", reason: "insufficient funds"},
		{name: "authentication required", status: 402,
			body: `{"error":{"type":"card_error","code":"authentication_required","decline_code":"authentication_required"}}`,
			kind: KindHardDecline, code: "authentication_required"},
		{name: "server error", status: 500,
			body: `{"error":{"type":"api_error","message":"boom"}}`, kind: KindUnknownOutcome},
		{name: "non-JSON gateway error", status: 502, body: `<html>bad gateway</html>`, kind: KindUnknownOutcome},
		{name: "rate limited", status: 429,
			body: `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`,
			kind: KindSoftDecline, code: "rate_limit"},
		{name: "key in use", status: 409,
			body: `{"error":{"type":"idempotency_error","code":"idempotency_key_in_use"}}`, kind: KindUnknownOutcome},
		{name: "key reused differently", status: 400,
			body: `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}`,
			kind: KindRejected},
		{name: "unknown customer", status: 400,
			body: `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such customer"}}`,
			kind: KindRejected, code: "resource_missing"},
		{name: "bad key", status: 401,
			body: `{"error":{"type":"invalid_request_error","message":"Invalid API Key"}}`, kind: KindRejected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStripe(t, canned(t, tc.status, tc.body))
			res, err := s.Charge(context.Background(), chargeReq())
			if tc.kind == 0 {
				if err != nil || res.Status != tc.result || res.PaymentID != tc.resultID || res.Amount != 5000 || res.Currency != usd {
					t.Fatalf("Charge = %+v, %v", res, err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if pe.Kind != tc.kind || (tc.code != "" && pe.Code != tc.code) ||
				(tc.reason != "" && pe.Reason != tc.reason) || pe.PaymentID != tc.pid {
				t.Errorf("err = %+v, want kind %v code %q reason %q payment %q", pe, tc.kind, tc.code, tc.reason, tc.pid)
			}
		})
	}
}

func TestStripeTransportFailuresAreUnknownOutcome(t *testing.T) {
	// Nothing listens on a port we just closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, _ := newStripe(t, "http://"+addr)
	if _, err := s.Charge(context.Background(), chargeReq()); KindOf(err) != KindUnknownOutcome {
		t.Errorf("connection refused: %v", err)
	}

	// A server slower than the client's deadline: the charge may have gone through.
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	s, _ = newStripe(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Charge(ctx, chargeReq()); KindOf(err) != KindUnknownOutcome {
		t.Errorf("timeout: %v", err)
	}
}

func TestStripeRefusesBadRequestsLocally(t *testing.T) {
	s, rec := newStripe(t, "http://127.0.0.1:1")
	bad := chargeReq()
	bad.IdempotencyKey = ""
	if _, err := s.Charge(context.Background(), bad); KindOf(err) != KindRejected {
		t.Errorf("no key: %v", err)
	}
	bhd := money.MustCurrency("BHD")
	bad = chargeReq()
	bad.Amount, bad.Currency = 1005, bhd
	if _, err := s.Charge(context.Background(), bad); KindOf(err) != KindRejected {
		t.Errorf("BHD 1.005: %v", err)
	}
	if len(rec.reqs) != 0 {
		t.Errorf("sent %d requests, want none", len(rec.reqs))
	}
}

func TestStripeAmount(t *testing.T) {
	for _, tc := range []struct {
		code string
		a    money.Amount
		want int64
	}{{"USD", 5000, 5000}, {"JPY", 500, 500}, {"ISK", 500, 50000}, {"BHD", 1230, 1230}} {
		c := money.MustCurrency(tc.code)
		got, err := stripeAmount(tc.a, c)
		if err != nil || got != tc.want {
			t.Errorf("stripeAmount(%d %s) = %d, %v; want %d", tc.a, tc.code, got, err, tc.want)
		}
		if back := fromStripeAmount(got, c); back != tc.a {
			t.Errorf("fromStripeAmount(%d %s) = %d, want %d", got, tc.code, back, tc.a)
		}
	}
}

func TestStripeErrorMapping(t *testing.T) {
	card := func(code stripe.ErrorCode, decline stripe.DeclineCode) *stripe.Error {
		return &stripe.Error{Type: stripe.ErrorTypeCard, HTTPStatusCode: 402, Code: code, DeclineCode: decline}
	}
	tests := []struct {
		name   string
		err    error
		kind   Kind
		code   string
		reason string
	}{
		{"expired_card", card(stripe.ErrorCodeExpiredCard, ""), KindHardDecline, "expired_card", "card expired"},
		{"declined expired_card", card(stripe.ErrorCodeCardDeclined, stripe.DeclineCodeExpiredCard), KindHardDecline, "expired_card", "card expired"},
		{"lost_card", card(stripe.ErrorCodeCardDeclined, stripe.DeclineCodeLostCard), KindHardDecline, "lost_card", "card reported lost"},
		{"stolen_card", card(stripe.ErrorCodeCardDeclined, stripe.DeclineCodeStolenCard), KindHardDecline, "stolen_card", "card reported stolen"},
		{"incorrect_number", card(stripe.ErrorCodeIncorrectNumber, ""), KindHardDecline, "incorrect_number", "invalid card number"},
		{"invalid_expiry_year", card(stripe.ErrorCodeInvalidExpiryYear, ""), KindHardDecline, "invalid_expiry_year", "invalid card expiry date"},
		{"do_not_honor", card(stripe.ErrorCodeCardDeclined, stripe.DeclineCodeDoNotHonor), KindHardDecline, "do_not_honor", "card declined by the issuer"},
		{"authentication_required", card(stripe.ErrorCodeAuthenticationRequired, stripe.DeclineCodeAuthenticationRequired), KindHardDecline, "authentication_required", ""},
		{"insufficient_funds", card(stripe.ErrorCodeCardDeclined, stripe.DeclineCodeInsufficientFunds), KindSoftDecline, "insufficient_funds", "insufficient funds"},
		{"processing_error", card(stripe.ErrorCodeProcessingError, ""), KindSoftDecline, "processing_error", ""},
		{"try_again_later", card(stripe.ErrorCodeCardDeclined, stripe.DeclineCodeTryAgainLater), KindSoftDecline, "try_again_later", ""},
		{"generic", card(stripe.ErrorCodeCardDeclined, ""), KindSoftDecline, "card_declined", "card declined"},
		{"unseen code", card(stripe.ErrorCodeCardDeclined, "brand_new_reason"), KindSoftDecline, "brand_new_reason", "card declined"},
		{"no code at all", card("", ""), KindSoftDecline, "card_declined", ""},
		{"rate limited", &stripe.Error{Type: stripe.ErrorTypeInvalidRequest, HTTPStatusCode: 429, Code: stripe.ErrorCodeRateLimit}, KindSoftDecline, "rate_limit", ""},
		{"lock timeout", &stripe.Error{Type: stripe.ErrorTypeInvalidRequest, HTTPStatusCode: 429, Code: stripe.ErrorCodeLockTimeout}, KindSoftDecline, "lock_timeout", ""},
		{"500", &stripe.Error{Type: stripe.ErrorTypeAPI, HTTPStatusCode: 500}, KindUnknownOutcome, "api_error", ""},
		{"503 no type", &stripe.Error{HTTPStatusCode: 503}, KindUnknownOutcome, "api_error", ""},
		{"key in use", &stripe.Error{Type: stripe.ErrorTypeIdempotency, HTTPStatusCode: 409, Code: stripe.ErrorCodeIdempotencyKeyInUse}, KindUnknownOutcome, "idempotency_key_in_use", ""},
		{"key reused", &stripe.Error{Type: stripe.ErrorTypeIdempotency, HTTPStatusCode: 400}, KindRejected, "idempotency_error", ""},
		{"invalid request", &stripe.Error{Type: stripe.ErrorTypeInvalidRequest, HTTPStatusCode: 400, Code: stripe.ErrorCodeParameterMissing}, KindRejected, "parameter_missing", ""},
		{"network", &url.Error{Op: "Post", URL: "https://api.stripe.com", Err: errors.New("connection reset")}, KindUnknownOutcome, "network_error", ""},
		{"deadline", context.DeadlineExceeded, KindUnknownOutcome, "network_error", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pe *Error
			if !errors.As(stripeError(tc.err), &pe) {
				t.Fatal("not an *Error")
			}
			if pe.Kind != tc.kind || pe.Code != tc.code || (tc.reason != "" && pe.Reason != tc.reason) {
				t.Errorf("got kind %v code %q reason %q; want %v %q %q", pe.Kind, pe.Code, pe.Reason, tc.kind, tc.code, tc.reason)
			}
			if pe.Kind == KindHardDecline || pe.Kind == KindSoftDecline {
				if pe.Reason == "" {
					t.Error("a decline needs a reason for the email")
				}
			}
			if !errors.Is(pe, tc.err) {
				t.Error("provider error not wrapped")
			}
		})
	}
}
