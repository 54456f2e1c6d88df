package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>" (docs/webhooks.md).
const SignatureHeader = "Commcredits-Signature"

// EventIDHeader repeats the payload's id so receivers can deduplicate before parsing.
const EventIDHeader = "Commcredits-Event-Id"

// DefaultDeliveryTimeout bounds a delivery when neither ctx nor client sets a limit.
const DefaultDeliveryTimeout = 10 * time.Second

// DefaultTolerance is how far a signature's timestamp may be from the receiver's clock.
const DefaultTolerance = 5 * time.Minute

// Sign returns the hex HMAC-SHA256 of "<unix timestamp>.<body>" under secret. Binding the
// timestamp into the MAC is what lets a receiver refuse replays of an old delivery.
func Sign(secret string, timestamp time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// SignatureValue is the SignatureHeader value for body sent at timestamp.
func SignatureValue(secret string, timestamp time.Time, body []byte) string {
	return fmt.Sprintf("t=%d,v1=%s", timestamp.Unix(), Sign(secret, timestamp, body))
}

// Errors from Verify.
var (
	ErrSignatureFormat = errors.New("webhook signature: malformed header")
	ErrSignatureTime   = errors.New("webhook signature: timestamp outside tolerance")
	ErrSignature       = errors.New("webhook signature: no matching signature")
)

// Verify checks a SignatureHeader value against the raw request body, as a receiver
// does. Several v1 entries are allowed (a sender rotating secrets signs with both); one
// match is enough. tolerance <= 0 means DefaultTolerance.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts int64
	var haveTS bool
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrSignatureFormat
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveTS {
				return ErrSignatureFormat
			}
			ts, haveTS = n, true
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return ErrSignatureFormat
			}
			sigs = append(sigs, b)
		} // unknown schemes are ignored so that a v2 can be added alongside v1
	}
	if !haveTS || len(sigs) == 0 {
		return ErrSignatureFormat
	}
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > tolerance || d < -tolerance {
		return ErrSignatureTime
	}
	want, _ := hex.DecodeString(Sign(secret, at, body))
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignature
}

// ValidateURL accepts an absolute http or https URL with a host and no credentials.
func ValidateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: webhook URL %q: %v", ErrInvalid, raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: webhook URL %q: scheme must be http or https", ErrInvalid, raw)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%w: webhook URL %q: no host", ErrInvalid, raw)
	case u.User != nil:
		return fmt.Errorf("%w: webhook URL %q: credentials in the URL are not allowed; the signature authenticates deliveries", ErrInvalid, raw)
	}
	return nil
}

// Payload is the JSON body of a webhook delivery. Amounts are exact decimal strings in the
// tenant's currency, never JSON numbers.
type Payload struct {
	ID      string      `json:"id"`
	Type    Type        `json:"type"`
	Created time.Time   `json:"created"`
	Tenant  TenantRef   `json:"tenant"`
	Data    PayloadData `json:"data"`
}

// TenantRef names the tenant in a payload.
type TenantRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// PayloadData holds the event's fields that are set.
type PayloadData struct {
	Currency  string     `json:"currency,omitempty"`
	Amount    string     `json:"amount,omitempty"`
	Balance   string     `json:"balance,omitempty"`
	Threshold string     `json:"threshold,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	PaymentID string     `json:"payment_id,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	DaysLeft  int        `json:"days_left,omitempty"`
	Card      *Card      `json:"card,omitempty"`
	Pool      *Pool      `json:"pool,omitempty"`
}

// NewPayload builds the webhook body for e.
func NewPayload(e Event) (Payload, error) {
	if err := e.Validate(); err != nil {
		return Payload{}, err
	}
	p := Payload{
		ID: e.ID, Type: e.Type, Created: e.At.UTC(),
		Tenant: TenantRef{ID: e.TenantID, Name: e.TenantName},
		Data: PayloadData{
			Reason: e.Reason, PaymentID: e.PaymentID, DaysLeft: e.DaysLeft, Card: e.Card, Pool: e.Pool,
		},
	}
	if c := e.Currency; c.Code != "" {
		p.Data.Currency = c.Code
		// Balance is always meaningful with a currency: "0.00" is the point of balance_zero.
		p.Data.Balance = e.Balance.Format(c)
		if e.Amount != 0 {
			p.Data.Amount = e.Amount.Format(c)
		}
		if e.Threshold != 0 {
			p.Data.Threshold = e.Threshold.Format(c)
		}
	}
	if !e.ExpiresAt.IsZero() {
		t := e.ExpiresAt.UTC()
		p.Data.ExpiresAt = &t
	}
	return p, nil
}

// DeliveryError is a delivery the receiver did not accept with a 2xx.
type DeliveryError struct {
	Status int
	Body   string // the start of the receiver's answer, for the operator
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("webhook: receiver answered %d: %s", e.Status, e.Body)
}

// Deliver posts e as JSON to url, signed with secret at the current time. It returns the
// receiver's status (0 if there was none) and an error for anything but a 2xx, including
// redirects: the caller keeps the delivery queued and retries per Backoff. client should
// not follow redirects (see NoRedirects); without a deadline or client timeout a delivery
// gives up after DefaultDeliveryTimeout.
func Deliver(ctx context.Context, client *http.Client, url, secret string, e Event) (status int, err error) {
	if err := ValidateURL(url); err != nil {
		return 0, err
	}
	if secret == "" {
		return 0, fmt.Errorf("%w: webhook without a signing secret", ErrInvalid)
	}
	p, err := NewPayload(e)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return 0, fmt.Errorf("webhook: encode: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok && client.Timeout == 0 {
		// A receiver that never answers must not hold an outbox worker forever.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultDeliveryTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: webhook request: %v", ErrInvalid, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Commcredits-Webhook/1")
	req.Header.Set(EventIDHeader, e.ID)
	req.Header.Set(SignatureHeader, SignatureValue(secret, time.Now(), body))
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("webhook: post %s: %w", url, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, &DeliveryError{Status: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	}
	return resp.StatusCode, nil
}

// NoRedirects is an http.Client CheckRedirect that stops at the first redirect, so that a
// receiver cannot bounce a signed delivery to another host.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Rand is the random source Backoff draws jitter from; *math/rand/v2.Rand satisfies it.
type Rand interface {
	Int64N(n int64) int64
}

// Backoff is an exponential retry schedule with a cap and jitter.
type Backoff struct {
	Base time.Duration // delay scale of the first retry
	Max  time.Duration // cap before jitter
}

// DefaultBackoff spreads retries over about a day: 15–30 s, 30–60 s, ... up to 3–6 h.
var DefaultBackoff = Backoff{Base: 30 * time.Second, Max: 6 * time.Hour}

// Delay is the wait before retry number attempt (0 for the first retry): a value drawn
// uniformly from [d/2, d] where d = min(Max, Base·2^attempt). Half the delay is fixed so
// that retries never come back immediately; the random half keeps many failed deliveries
// to one receiver from retrying in lockstep.
func (b Backoff) Delay(attempt int, r Rand) time.Duration {
	if attempt < 0 {
		attempt = 0
	}
	d := b.Max
	if attempt < 62 && b.Base > 0 && b.Base <= b.Max>>uint(attempt) {
		d = b.Base << uint(attempt)
	}
	half := d / 2
	return half + time.Duration(r.Int64N(int64(d-half)+1))
}
