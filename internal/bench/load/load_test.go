package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, c := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"median of even is the lower", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p100 is the max", ms(hundred...), 100, 100 * time.Millisecond},
		{"p0 is the min", ms(hundred...), 0, 1 * time.Millisecond},
		{"p99 of 10 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p90 of 10", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
	} {
		if got := Percentile(c.sorted, c.p); got != c.want {
			t.Errorf("%s: p%v = %v, want %v", c.name, c.p, got, c.want)
		}
	}
}

func post(ctx context.Context, c *http.Client, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/x", strings.NewReader(`{}`))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer Drain(resp)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func TestRunCountsOpsOnExactlyConnsConnections(t *testing.T) {
	// The server counts connections open at once; Go's transport may now and then replace
	// a keep-alive connection, but never holds more than one per worker.
	var mu sync.Mutex
	open, most, total := 0, 0, 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"ok":true}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch st {
		case http.StateNew:
			open++
			total++
			most = max(most, open)
		case http.StateClosed, http.StateHijacked:
			open--
		}
	}
	srv.Start()
	defer srv.Close()
	ops := make([]int, 3000)
	var omu sync.Mutex
	r, err := Run(context.Background(), Config{Base: srv.URL, Conns: 64, Max: 3000, Warmup: 200, Time: time.Minute,
		Op: func(ctx context.Context, c *http.Client, base string, _ int, i int64) error {
			if i >= 200 {
				omu.Lock()
				ops[i-200]++
				omu.Unlock()
			}
			return post(ctx, c, base)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops != 3000 || r.Errors != 0 {
		t.Fatalf("%+v", r)
	}
	for i, n := range ops {
		if n != 1 {
			t.Fatalf("operation %d ran %d times", i, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// The server may see a replaced connection close a moment after its successor opened.
	if most < 64 || most > 64+2 || r.Conns != int64(total) || total < 64 || total > 64+8 {
		t.Errorf("%d connections open at most, %d dialed (%d reported); want 64 at once", most, total, r.Conns)
	}
	if !(0 < r.P50 && r.P50 <= r.P99 && r.P99 <= r.Max) || r.PerSec <= 0 {
		t.Errorf("%+v", r)
	}
}

func TestRunStopsAtTheTimeBoundAndCountsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow/x" {
			time.Sleep(time.Second) // past the run's bound
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	op := func(ctx context.Context, c *http.Client, base string, _ int, _ int64) error {
		return post(ctx, c, base)
	}

	// Failed operations are counted, not timed.
	r, err := Run(context.Background(), Config{Base: srv.URL, Conns: 8, Max: 500, Time: time.Minute, Op: op})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops != 0 || r.Errors != 500 || !strings.Contains(r.FirstError, "418") {
		t.Errorf("%+v", r)
	}
	// Operations cut short by the time bound are neither.
	t0 := time.Now()
	r, err = Run(context.Background(), Config{Base: srv.URL + "/slow", Conns: 8, Max: 1 << 40, Time: 300 * time.Millisecond, Op: op})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("ran %v past a 300 ms bound", d)
	}
	if r.Ops != 0 || r.Errors != 0 {
		t.Errorf("%+v", r)
	}
}

func TestRunRefusesNonLoopbackTargets(t *testing.T) {
	op := func(context.Context, *http.Client, string, int, int64) error { return nil }
	for _, base := range []string{"http://10.0.0.1:80", "http://192.168.1.2", "http://example.com", "http://8.8.8.8", "://bad"} {
		if _, err := Run(context.Background(), Config{Base: base, Max: 1, Time: time.Second, Op: op}); err == nil {
			t.Errorf("%s: accepted", base)
		} else if base != "://bad" && !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%s: %v", base, err)
		}
	}
	for _, base := range []string{"http://127.0.0.1:1", "http://127.9.9.9:1", "http://localhost:1", "http://[::1]:1"} {
		if err := CheckLoopback(base); err != nil {
			t.Errorf("%s: %v", base, err)
		}
	}
}
