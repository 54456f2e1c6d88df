// Package client is a typed client of the /v1 API (docs/api.md). It reuses the API's own
// request and response types where the rest package exports them, so the two cannot
// drift. The same client serves a remote server (an http.Client) and an API running in
// this process over a database (Handler), which is how the CLI's --db mode works.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"
)

// Client calls one server with one key.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080, without /v1
	Key     string // the bearer secret
	HTTP    *http.Client
	// Retries is how many times a request that failed without an answer (a network error)
	// or with 503 is sent again, with the same Idempotency-Key. Default 3.
	Retries int
	// IdempotencyKey, when set, is sent on every POST and PUT instead of a generated one.
	IdempotencyKey string
	// Backoff is the wait before the first retry, doubled after each (default 200ms).
	Backoff time.Duration
}

// Handler returns an http.Client that serves every request with h in this process.
func Handler(h http.Handler) *http.Client {
	return &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		res := rec.Result()
		res.Request = r
		return res, nil
	})}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Problem is an RFC 9457 problem document from the server.
type Problem struct {
	Status int      `json:"status"`
	Title  string   `json:"title"`
	Detail string   `json:"detail,omitempty"`
	Errors []Detail `json:"errors,omitempty"`
}

// Detail is one located error of a problem.
type Detail struct {
	Message  string `json:"message,omitempty"`
	Location string `json:"location,omitempty"`
	Value    any    `json:"value,omitempty"`
}

func (p *Problem) Error() string {
	s := fmt.Sprintf("%d %s", p.Status, p.Title)
	if p.Detail != "" && p.Detail != p.Title {
		s += ": " + p.Detail
	}
	for _, d := range p.Errors {
		s += "; " + d.String()
	}
	return s
}

// String is "location: message (value)".
func (d Detail) String() string {
	s := d.Message
	if d.Location != "" {
		s = d.Location + ": " + s
	}
	if d.Value != nil {
		if b, err := json.Marshal(d.Value); err == nil && len(b) < 80 {
			if s != "" {
				s += " "
			}
			s += "(got " + string(b) + ")"
		}
	}
	return s
}

// Response is a successful answer: its status, headers and JSON body as sent.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Request is one call.
type Request struct {
	Method      string
	Path        string     // /v1/...
	Query       url.Values // optional
	JSON        any        // body marshalled as JSON, or
	Raw         []byte     // a raw body of ContentType
	ContentType string
	IfMatch     string
}

// NewKey returns a fresh idempotency key.
func NewKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

// Do sends r and returns the answer; a 4xx or 5xx is a *Problem. A POST or PUT carries an
// Idempotency-Key (c.IdempotencyKey or a generated one) that stays the same across retries,
// so a retried write is applied at most once.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	var body []byte
	ct := r.ContentType
	switch {
	case r.JSON != nil:
		b, err := json.Marshal(r.JSON)
		if err != nil {
			return nil, err
		}
		body, ct = b, "application/json"
	case r.Raw != nil:
		body = r.Raw
	}
	u := strings.TrimSuffix(c.BaseURL, "/") + r.Path
	if len(r.Query) > 0 {
		u += "?" + r.Query.Encode()
	}
	idem := ""
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		idem = c.IdempotencyKey
		if idem == "" {
			idem = NewKey()
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Minute}
	}
	retries := c.Retries
	if retries == 0 {
		retries = 3
	}
	wait := c.Backoff
	if wait == 0 {
		wait = 200 * time.Millisecond
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, r.Method, u, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Accept", "application/json")
		if c.Key != "" {
			req.Header.Set("Authorization", "Bearer "+c.Key)
		}
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		if r.IfMatch != "" {
			req.Header.Set("If-Match", r.IfMatch)
		}
		res, err := hc.Do(req)
		var out *Response
		if err == nil {
			out, err = read(res)
		}
		var p *Problem
		retry := err != nil && ctx.Err() == nil && (!errors.As(err, &p) || p.Status == http.StatusServiceUnavailable)
		if !retry || attempt >= retries {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// maxBody bounds a response held in memory (a variable for the test).
var maxBody = 256 << 20

func read(res *http.Response) (*Response, error) {
	defer res.Body.Close()
	// One byte past the bound tells a body cut short from one that fits: an export cut
	// short must fail, not be written as if whole.
	b, err := io.ReadAll(io.LimitReader(res.Body, int64(maxBody)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("client: response larger than %d bytes", maxBody)
	}
	if res.StatusCode >= 400 {
		p := &Problem{}
		if json.Unmarshal(b, p) != nil || p.Status == 0 {
			p = &Problem{Status: res.StatusCode, Title: http.StatusText(res.StatusCode), Detail: strings.TrimSpace(string(b))}
		}
		return nil, p
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// Get sends a GET and decodes the body into out (when not nil).
func (c *Client) Get(ctx context.Context, path string, q url.Values, out any) (*Response, error) {
	return c.call(ctx, Request{Method: http.MethodGet, Path: path, Query: q}, out)
}

func (c *Client) call(ctx context.Context, r Request, out any) (*Response, error) {
	res, err := c.Do(ctx, r)
	if err != nil {
		return nil, err
	}
	if out != nil && len(res.Body) > 0 {
		if err := json.Unmarshal(res.Body, out); err != nil {
			return res, fmt.Errorf("%s %s: unexpected answer: %w", r.Method, r.Path, err)
		}
	}
	return res, nil
}

// page is the shape of every list (the usage report's rows are its lines).
type page struct {
	Items      []json.RawMessage `json:"items"`
	Lines      []json.RawMessage `json:"lines"`
	NextCursor string            `json:"next_cursor"`
}

// All follows the cursors of a list and returns every item as sent.
func (c *Client) All(ctx context.Context, path string) ([]json.RawMessage, error) {
	return c.follow(ctx, path, url.Values{"limit": {"1000"}}, func(p *page) []json.RawMessage { return p.Items })
}

// UsageLines follows the cursors of the usage report at path (q its filters) and returns
// every line as sent.
func (c *Client) UsageLines(ctx context.Context, path string, q url.Values) ([]json.RawMessage, error) {
	return c.follow(ctx, path, q, func(p *page) []json.RawMessage { return p.Lines })
}

func (c *Client) follow(ctx context.Context, path string, q url.Values, rows func(*page) []json.RawMessage) ([]json.RawMessage, error) {
	if q == nil {
		q = url.Values{}
	}
	var all []json.RawMessage
	for {
		var p page
		if _, err := c.Get(ctx, path, q, &p); err != nil {
			return nil, err
		}
		all = append(all, rows(&p)...)
		if p.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", p.NextCursor)
	}
}

// List is All decoded into T.
func List[T any](ctx context.Context, c *Client, path string) ([]T, []json.RawMessage, error) {
	raw, err := c.All(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	out := make([]T, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return nil, nil, fmt.Errorf("%s: unexpected item: %w", path, err)
		}
	}
	return out, raw, nil
}

// T is the path of a tenant's resource: T("ta", "credits") is /v1/tenants/ta/credits.
func T(tenant string, parts ...string) string {
	p := "/v1/tenants/" + url.PathEscape(tenant)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}
