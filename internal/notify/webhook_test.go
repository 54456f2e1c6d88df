package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook endpoint that verifies like a tenant's would.
type receiver struct {
	mu     sync.Mutex
	status int
	bodies [][]byte
	errs   []error
	header http.Header
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.bodies = append(rc.bodies, b)
	rc.header = r.Header.Clone()
	rc.errs = append(rc.errs, Verify("whsec_test", r.Header.Get(SignatureHeader), b, time.Now(), 0))
	w.WriteHeader(rc.status)
	io.WriteString(w, "nope")
}

func TestDeliverSignsAndReceiverVerifies(t *testing.T) {
	rc := &receiver{status: http.StatusNoContent}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	e := sample(BalanceZero)
	e.Balance = 0
	status, err := Deliver(context.Background(), srv.Client(), srv.URL+"/hooks", "whsec_test", e)
	if err != nil || status != http.StatusNoContent {
		t.Fatalf("Deliver = %d, %v", status, err)
	}
	if len(rc.errs) != 1 || rc.errs[0] != nil {
		t.Fatalf("receiver verification: %v", rc.errs)
	}
	if rc.header.Get("Content-Type") != "application/json" || rc.header.Get(EventIDHeader) != e.ID {
		t.Errorf("headers %v", rc.header)
	}
	var p map[string]any
	if err := json.Unmarshal(rc.bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	data := p["data"].(map[string]any)
	if p["id"] != e.ID || p["type"] != "balance_zero" || data["balance"] != "0.00" || data["currency"] != "USD" {
		t.Errorf("payload %s", rc.bodies[0])
	}
	if p["tenant"].(map[string]any)["id"] != "t-1" {
		t.Errorf("tenant in payload %s", rc.bodies[0])
	}
}

func TestVerifyRejectsTampering(t *testing.T) {
	body := []byte(`{"id":"x","data":{"amount":"50.00"}}`)
	now := time.Unix(1_700_000_000, 0)
	h := SignatureValue("whsec_test", now, body)
	if err := Verify("whsec_test", h, body, now, 0); err != nil {
		t.Fatalf("genuine: %v", err)
	}
	tampered := []byte(strings.Replace(string(body), "50.00", "5000.00", 1))
	ts := h[:strings.Index(h, ",")]
	for name, tc := range map[string]struct {
		secret, header string
		body           []byte
		now            time.Time
		want           error
	}{
		"body changed":    {"whsec_test", h, tampered, now, ErrSignature},
		"other secret":    {"whsec_other", h, body, now, ErrSignature},
		"timestamp moved": {"whsec_test", strings.Replace(h, ts, "t=1700000001", 1), body, now, ErrSignature},
		"replayed later":  {"whsec_test", h, body, now.Add(6 * time.Minute), ErrSignatureTime},
		"from the future": {"whsec_test", h, body, now.Add(-6 * time.Minute), ErrSignatureTime},
		"no signature":    {"whsec_test", ts, body, now, ErrSignatureFormat},
		"garbage":         {"whsec_test", "hello", body, now, ErrSignatureFormat},
		"short signature": {"whsec_test", ts + ",v1=abcd", body, now, ErrSignatureFormat},
		"empty header":    {"whsec_test", "", body, now, ErrSignatureFormat},
		"duplicate time":  {"whsec_test", ts + "," + h, body, now, ErrSignatureFormat},
	} {
		if err := Verify(tc.secret, tc.header, tc.body, tc.now, 0); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// Rotation: old and new secret both sign; a receiver with either verifies.
	rotated := h + ",v1=" + Sign("whsec_new", now, body)
	for _, s := range []string{"whsec_test", "whsec_new"} {
		if err := Verify(s, rotated, body, now, 0); err != nil {
			t.Errorf("rotated header with %s: %v", s, err)
		}
	}
}

func TestSignKnownVector(t *testing.T) {
	// Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
	got := Sign("secret", time.Unix(1_700_000_000, 0), []byte("{}"))
	if got != "b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163" {
		t.Fatalf("Sign = %q", got)
	}
}

func TestDeliverNon2xxIsError(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusBadRequest, http.StatusInternalServerError} {
		rc := &receiver{status: status}
		srv := httptest.NewServer(rc)
		client := srv.Client()
		client.CheckRedirect = NoRedirects
		got, err := Deliver(context.Background(), client, srv.URL, "whsec_test", sample(RechargeSucceeded))
		srv.Close()
		var de *DeliveryError
		if got != status || !errors.As(err, &de) || de.Status != status || de.Body != "nope" {
			t.Errorf("status %d: Deliver = %d, %v", status, got, err)
		}
	}
}

func TestDeliverUnreachableIsRetryableError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	status, err := Deliver(context.Background(), &http.Client{Timeout: time.Second}, url, "whsec_test", sample(RechargeSucceeded))
	if err == nil || status != 0 || errors.Is(err, ErrInvalid) {
		t.Errorf("Deliver = %d, %v", status, err)
	}
}

func TestDeliverRefusesBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)",
		"example.com/hook", "http://", "https://user:pass@example.com/x", "http://[::1", "mailto:a@b.test"} {
		if err := ValidateURL(u); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateURL(%q) = %v", u, err)
		}
		if _, err := Deliver(context.Background(), http.DefaultClient, u, "s", sample(BalanceZero)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Deliver(%q) = %v", u, err)
		}
	}
	for _, u := range []string{"https://hooks.acme.test/commcredits", "http://127.0.0.1:8080/x?y=1"} {
		if err := ValidateURL(u); err != nil {
			t.Errorf("ValidateURL(%q) = %v", u, err)
		}
	}
	if _, err := Deliver(context.Background(), http.DefaultClient, "https://x.test", "", sample(BalanceZero)); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty secret: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Base: 10 * time.Second, Max: time.Hour}
	r := rand.New(rand.NewPCG(1, 2))
	for attempt, want := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second} {
		for range 200 {
			d := b.Delay(attempt, r)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	for _, attempt := range []int{9, 10, 62, 63, 1000} {
		if d := b.Delay(attempt, r); d < 30*time.Minute || d > time.Hour {
			t.Errorf("attempt %d: %v, want capped", attempt, d)
		}
	}
	// Jitter actually varies: two draws for the same attempt differ at least once.
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[b.Delay(3, r)] = true
	}
	if len(seen) < 2 {
		t.Error("no jitter")
	}
	// The extremes of the source map to the bounds.
	if d := b.Delay(0, fixed(0)); d != 5*time.Second {
		t.Errorf("min draw %v", d)
	}
	if d := b.Delay(0, fixed(-1)); d != 10*time.Second {
		t.Errorf("max draw %v", d)
	}
}

// fixed returns v from Int64N, or n-1 when v < 0.
type fixed int64

func (f fixed) Int64N(n int64) int64 {
	if f < 0 {
		return n - 1
	}
	return int64(f)
}

// docVerify is the stand-alone verifier printed in docs/webhooks.md, kept here so the
// documentation cannot drift from what Deliver sends.
func docVerify(secret, header string, body []byte, now time.Time) bool {
	var ts string
	var sigs []string
	for _, p := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func TestDocumentedVerifierAgrees(t *testing.T) {
	var got struct {
		header string
		body   []byte
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.header = r.Header.Get(SignatureHeader)
		got.body, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	if _, err := Deliver(context.Background(), srv.Client(), srv.URL, "whsec_doc", sample(RechargeFailed)); err != nil {
		t.Fatal(err)
	}
	if !docVerify("whsec_doc", got.header, got.body, time.Now()) {
		t.Error("documented verifier refuses a genuine delivery")
	}
	if docVerify("whsec_doc", got.header, append(got.body, ' '), time.Now()) {
		t.Error("documented verifier accepts a changed body")
	}
}

func TestDeliverTimesOutWithoutDeadline(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Deliver(ctx, &http.Client{}, srv.URL, "s", sample(BalanceZero)); err == nil {
		t.Fatal("hanging receiver acknowledged")
	}
	if time.Since(start) > 5*time.Second {
		t.Error("deadline ignored")
	}
}
