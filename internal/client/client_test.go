package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDoRetries: what is retried (no answer, 503) and what is not (any other answer), and
// that every attempt of one write carries the same Idempotency-Key.
func TestDoRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		method   string
		answers  []int // per attempt: 0 drops the connection
		attempts int
		status   int // of the final problem; 0: success
	}{
		{"ok", http.MethodPost, []int{200}, 1, 0},
		{"dropped then ok", http.MethodPost, []int{0, 200}, 2, 0},
		{"503 then ok", http.MethodPut, []int{503, 503, 201}, 3, 0},
		{"422 not retried", http.MethodPost, []int{422, 200}, 1, 422},
		{"404 get not retried", http.MethodGet, []int{404, 200}, 1, 404},
		{"always dropped", http.MethodPost, []int{0, 0, 0, 0, 0}, 4, -1},
		{"always 503", http.MethodGet, []int{503, 503, 503, 503, 503}, 4, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var keys []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				n := len(keys)
				keys = append(keys, r.Header.Get("Idempotency-Key"))
				mu.Unlock()
				if r.Header.Get("Authorization") != "Bearer k" {
					t.Errorf("Authorization %q", r.Header.Get("Authorization"))
				}
				switch code := tc.answers[n]; code {
				case 0:
					c, _, _ := w.(http.Hijacker).Hijack()
					c.Close()
				case 200, 201:
					w.WriteHeader(code)
					_, _ = w.Write([]byte(`{"ok":true}`))
				default:
					w.Header().Set("Content-Type", "application/problem+json")
					w.WriteHeader(code)
					_, _ = w.Write([]byte(`{"status":` + strconv.Itoa(code) + `,"title":"t","detail":"d","errors":[{"location":"body.x","message":"bad","value":"v"}]}`))
				}
			}))
			defer srv.Close()
			c := &Client{BaseURL: srv.URL, Key: "k", Backoff: time.Millisecond}
			res, err := c.Do(context.Background(), Request{Method: tc.method, Path: "/v1/x", JSON: map[string]int{"a": 1}})
			if len(keys) != tc.attempts {
				t.Fatalf("%d attempts, want %d", len(keys), tc.attempts)
			}
			for _, k := range keys {
				write := tc.method != http.MethodGet
				if write && (k == "" || k != keys[0]) || !write && k != "" {
					t.Fatalf("Idempotency-Keys %q for %s", keys, tc.method)
				}
			}
			var p *Problem
			switch {
			case tc.status == 0:
				if err != nil || string(res.Body) != `{"ok":true}` {
					t.Fatalf("%v %v", res, err)
				}
			case tc.status < 0:
				var ne net.Error
				if err == nil || errors.As(err, &p) || !errors.As(err, &ne) && !strings.Contains(err.Error(), "EOF") {
					t.Fatalf("want a network error, got %v", err)
				}
			default:
				if !errors.As(err, &p) || p.Status != tc.status || len(p.Errors) != 1 || p.Errors[0].String() != `body.x: bad (got "v")` {
					t.Fatalf("problem %#v", err)
				}
			}
		})
	}
}

// TestProblemNotJSON: an answer that is not a problem document (a proxy's HTML page) is
// still a Problem with its status.
func TestProblemNotJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>bad gateway</html>"))
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, Retries: -1}
	_, err := c.Do(context.Background(), Request{Method: http.MethodGet, Path: "/v1/x"})
	var p *Problem
	if !errors.As(err, &p) || p.Status != 502 || !strings.Contains(p.Error(), "bad gateway") {
		t.Fatalf("%#v", err)
	}
}

// A body larger than the client holds is an error, not a body cut short; one that fits is
// whole.
func TestBodyOverLimit(t *testing.T) {
	defer func(old int) { maxBody = old }(maxBody)
	maxBody = 10
	body := "0123456789"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, Retries: -1}
	res, err := c.Do(context.Background(), Request{Method: http.MethodGet, Path: "/v1/x"})
	if err != nil || string(res.Body) != body {
		t.Fatalf("body of the limit: %v %v", res, err)
	}
	body += "x"
	if res, err := c.Do(context.Background(), Request{Method: http.MethodGet, Path: "/v1/x"}); err == nil {
		t.Fatalf("body past the limit read as %q", res.Body)
	}
}

// TestAll follows cursors until a page has none.
func TestAll(t *testing.T) {
	pages := map[string]string{
		"":   `{"items":[{"id":1},{"id":2}],"next_cursor":"c1"}`,
		"c1": `{"items":[{"id":3}],"next_cursor":"c2"}`,
		"c2": `{"items":[]}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(pages[r.URL.Query().Get("cursor")]))
	}))
	defer srv.Close()
	type item struct{ ID int }
	got, raw, err := List[item](context.Background(), &Client{BaseURL: srv.URL}, "/v1/things")
	if err != nil || len(got) != 3 || got[2].ID != 3 || string(raw[0]) != `{"id":1}` {
		t.Fatalf("%v %s %v", got, raw, err)
	}
}
