// Package load is a closed-loop HTTP load generator for loopback targets: a fixed number of
// keep-alive connections, each driven by one worker that sends its next operation as soon
// as the last one answered, bounded by a count of operations and by time. It records every
// operation's latency and reports throughput and exact percentiles.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one unit of work, done on client against base (for example one request, or the
// three requests of a call). client is the worker's own, with one keep-alive connection.
// i numbers the operations of a run from 0; worker is the worker (0 … Conns−1). A returned error counts the operation as failed.
// Requests must be sent with ctx: its end (the run's time bound) is their timeout.
type Op func(ctx context.Context, client *http.Client, base string, worker int, i int64) error

// Config bounds a run.
type Config struct {
	// Base is the target's URL ("http://127.0.0.1:8080"); its host must be a loopback
	// address.
	Base  string
	Conns int           // connections (and workers); default 64
	Max   int64         // operations at most; required
	Time  time.Duration // wall time at most; required
	// Warmup operations run first and are not counted (they open the connections).
	Warmup int64
	Op     Op
}

// Result is what a run measured.
type Result struct {
	Ops     int64         `json:"ops"`    // operations that succeeded
	Errors  int64         `json:"errors"` // operations that failed
	Elapsed time.Duration `json:"elapsed"`
	PerSec  float64       `json:"per_sec"` // Ops / Elapsed
	P50     time.Duration `json:"p50"`
	P99     time.Duration `json:"p99"`
	Max     time.Duration `json:"max"`
	// FirstError is the first failure seen, for the report.
	FirstError string `json:"first_error,omitempty"`
	// Conns is the number of connections dialed: one per worker, and now and then one
	// more when Go's transport replaces a keep-alive connection (never two at once per
	// worker).
	Conns int64 `json:"conns"`
}

// ErrNotLoopback is returned for a target that is not on this machine's loopback.
var ErrNotLoopback = errors.New("load: the target must be a loopback address")

// CheckLoopback accepts only URLs whose host is "localhost" or an IP in 127.0.0.0/8 or ::1.
func CheckLoopback(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("load: target %q: %w", base, err)
	}
	h := u.Hostname()
	if h == "localhost" {
		return nil
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %q", ErrNotLoopback, base)
	}
	return nil
}

// Run drives cfg.Op against cfg.Base until cfg.Max operations were done or cfg.Time has
// passed, whichever comes first.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := CheckLoopback(cfg.Base); err != nil {
		return Result{}, err
	}
	if cfg.Conns <= 0 {
		cfg.Conns = 64
	}
	if cfg.Max <= 0 || cfg.Time <= 0 || cfg.Op == nil {
		return Result{}, errors.New("load: Max, Time and Op are required")
	}
	// A client per worker, each allowed one connection: exactly Conns connections, each
	// kept alive by its worker (a shared transport sometimes dials an extra one while a
	// finished connection is on its way back to the idle pool).
	var dials atomic.Int64
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	clients := make([]*http.Client, cfg.Conns)
	for w := range clients {
		tr := &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return dialer.DialContext(ctx, network, addr)
			},
			MaxConnsPerHost:     1,
			MaxIdleConnsPerHost: 1,
			MaxIdleConns:        1,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		}
		defer tr.CloseIdleConnections()
		// No Client.Timeout: it arms a timer and a context for every request, client work
		// the target's figure would pay for. ops send their requests with ctx, which the
		// run's time bound ends.
		clients[w] = &http.Client{Transport: tr}
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.Time)
	defer cancel()

	// Warm-up: every worker opens its connection.
	var next atomic.Int64
	var wg sync.WaitGroup
	if cfg.Warmup > 0 {
		for w := range cfg.Conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= cfg.Warmup || ctx.Err() != nil {
						return
					}
					_ = cfg.Op(ctx, clients[w], cfg.Base, w, i)
				}
			}()
		}
		wg.Wait()
		next.Store(cfg.Warmup) // workers overshoot by one each while stopping
	}

	lat := make([][]time.Duration, cfg.Conns)
	var failed atomic.Int64
	var firstErr atomic.Pointer[string]
	start := time.Now()
	for w := range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, min(cfg.Max/int64(cfg.Conns)+1, 1<<20))
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= cfg.Warmup+cfg.Max {
					break
				}
				t0 := time.Now()
				err := cfg.Op(ctx, clients[w], cfg.Base, w, i)
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						break // the time bound cut it short: not the target's failure
					}
					failed.Add(1)
					msg := err.Error()
					firstErr.CompareAndSwap(nil, &msg)
					continue
				}
				mine = append(mine, d)
			}
			lat[w] = mine
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	r := Result{Ops: int64(len(all)), Errors: failed.Load(), Elapsed: elapsed, Conns: dials.Load()}
	if elapsed > 0 {
		r.PerSec = float64(r.Ops) / elapsed.Seconds()
	}
	if p := firstErr.Load(); p != nil {
		r.FirstError = *p
	}
	slices.Sort(all)
	r.P50, r.P99 = Percentile(all, 50), Percentile(all, 99)
	if len(all) > 0 {
		r.Max = all[len(all)-1]
	}
	return r, nil
}

// Percentile is the nearest-rank p-th percentile of sorted: the smallest sample such that
// at least p% of the samples are at or below it; 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Drain reads and closes a response body so that its connection is reused.
func Drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}
