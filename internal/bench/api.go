package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/commcredits/commcredits/internal/bench/load"
	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// APITarget is the business HTTP API serving on a loopback address, as P2 and P3 drive it.
// The paths and the bearer authentication are the API's fixed contract:
//
//	POST {Base}/v1/tenants/{tenant}/calls/authorize
//	POST {Base}/v1/tenants/{tenant}/calls/{call_id}/extend
//	POST {Base}/v1/tenants/{tenant}/calls/{call_id}/settle
//	Authorization: Bearer {Key(tenant)}
//
// The bodies are built by the API's side of the seam, which knows its field names.
type APITarget struct {
	Base          string                     // "http://127.0.0.1:PORT"
	Key           func(tenant string) string // the bearer key that may act for tenant
	AuthorizeBody func(c Call) []byte        // c.ID is the call id to authorize
	ExtendBody    func(c Call, seconds int64) []byte
	SettleBody    func(c Call, seconds int64) []byte
	// Allowed reads an authorize answer: whether the call may proceed. A refusal (no funds)
	// is an answer too; in P3 the call then ends after its first request. nil: every 2xx
	// answer allows.
	Allowed func(body []byte) bool
	Close   func()
}

// APIFunc starts the business API over st and wr (whose environment, with the workload's
// rate card, is env), on a loopback listener. The database already holds the workload w's
// tenants (Workload.Populate).
type APIFunc func(ctx context.Context, st *store.SQL, wr *writer.Writer, env *tenant.Env, w Workload) (*APITarget, error)

// apiRun is the database and API shared by P2 and P3.
type apiRun struct {
	t     *APITarget
	calls []Call
	close func()
}

func (r *runner) api(ctx context.Context) (*apiRun, error) {
	if r.opt.API == nil {
		return nil, skip{"unavailable", "the business API is not wired into this build: give bench.Options.API (cmd/commcredits/bench.go, benchAPI)"}
	}
	if r.apiState != nil {
		r.apiState.close()
		r.apiState = nil
	}
	// A database of its own per figure: P2 leaves its calls open, holding funds.
	r.apiN++
	d, err := db.Open(ctx, fmt.Sprintf("sqlite:%s/api%d.db", r.dir, r.apiN), db.WithMigrate())
	if err != nil {
		return nil, err
	}
	st := store.New(d)
	env, err := r.w.Env()
	if err != nil {
		d.Close()
		return nil, err
	}
	// The API's calls run now (in the month after the workload's CDRs).
	wr := writer.New(st, writer.SystemClock{}, writer.Config{Env: env})
	r.logf("API: seeding %d tenants", r.w.Tenants)
	if err := r.w.Populate(ctx, st, wr); err != nil {
		wr.Close()
		d.Close()
		return nil, fmt.Errorf("seeding: %w", err)
	}
	t, err := r.opt.API(ctx, st, wr, env, r.w)
	if err != nil {
		wr.Close()
		d.Close()
		return nil, fmt.Errorf("starting the API: %w", err)
	}
	if err := load.CheckLoopback(t.Base); err != nil {
		t.Close()
		wr.Close()
		d.Close()
		return nil, err
	}
	tr := r.w.Traffic(1 << 14)
	var calls []Call
	for c, ok := tr.Next(); ok; c, ok = tr.Next() {
		calls = append(calls, c)
	}
	r.apiState = &apiRun{t: t, calls: calls, close: func() { t.Close(); wr.Close(); d.Close() }}
	return r.apiState, nil
}

// callFor is the workload's i-th call under a call id of its own for this run.
func (a *apiRun) callFor(prefix string, i int64) Call {
	c := a.calls[i%int64(len(a.calls))]
	c.ID = fmt.Sprintf("%s-%d", prefix, i)
	return c
}

func (a *apiRun) url(c Call, action string) string {
	if action == "authorize" {
		return fmt.Sprintf("%s/v1/tenants/%s/calls/authorize", a.t.Base, url.PathEscape(c.Tenant))
	}
	return fmt.Sprintf("%s/v1/tenants/%s/calls/%s/%s", a.t.Base, url.PathEscape(c.Tenant), url.PathEscape(c.ID), action)
}

// P2: authorize + reserve, one request per operation, 64 connections.
func (r *runner) p2(ctx context.Context, rep *Report, f *Figure) error {
	a, err := r.api(ctx)
	if err != nil {
		return err
	}
	var ref refusals
	bufs := make([]bytes.Buffer, 64)
	res, err := load.Run(ctx, load.Config{Base: a.t.Base, Conns: 64, Max: r.opt.HTTPOps, Warmup: loadWarmup, Time: r.opt.LoadTime,
		Op: func(ctx context.Context, hc *http.Client, _ string, worker int, i int64) error {
			c := a.callFor("p2", i)
			_, err := a.authorize(ctx, hc, c, &bufs[worker], &ref, i)
			return err
		}})
	if err != nil {
		return err
	}
	if err := loadErr(res); err != nil {
		return err
	}
	lim := rep.Limits[LimitHTTP]
	f.set(res.PerSec, &lim, LimitHTTP)
	p99 := float64(res.P99) / float64(time.Millisecond)
	met := *f.Met && p99 <= 3
	f.Met = &met
	f.Extra = map[string]any{"p50_ms": float64(res.P50) / float64(time.Millisecond), "p99_ms": p99, "target_p99_ms": 3,
		"requests": res.Ops, "errors": res.Errors, "connections": res.Conns}
	ref.report(f.Extra)
	r.logf("P2 %.0f req/s, p50 %v p99 %v", res.PerSec, res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond))
	return nil
}

// P3: full calls, authorize → extend → settle, three requests per operation.
func (r *runner) p3(ctx context.Context, rep *Report, f *Figure) error {
	a, err := r.api(ctx)
	if err != nil {
		return err
	}
	var ref refusals
	bufs := make([]bytes.Buffer, 64)
	res, err := load.Run(ctx, load.Config{Base: a.t.Base, Conns: 64, Max: r.opt.P3Calls, Warmup: loadWarmup, Time: r.opt.LoadTime,
		Op: func(ctx context.Context, hc *http.Client, _ string, worker int, i int64) error {
			c := a.callFor("p3", i)
			key := a.t.Key(c.Tenant)
			if ok, err := a.authorize(ctx, hc, c, &bufs[worker], &ref, i); !ok || err != nil {
				return err
			}
			if err := post(ctx, hc, a.url(c, "extend"), key, a.t.ExtendBody(c, 60), nil); err != nil {
				return err
			}
			return post(ctx, hc, a.url(c, "settle"), key, a.t.SettleBody(c, c.Seconds), nil)
		}})
	if err != nil {
		return err
	}
	if err := loadErr(res); err != nil {
		return err
	}
	// A call is three requests: its ceiling is a third of the trivial handler's.
	h := rep.Limits[LimitHTTP]
	lim := Limit{Value: h.Value / 3, Unit: "calls/s"}
	full := res.Ops - ref.n.Load()
	f.set(float64(full)/res.Elapsed.Seconds(), &lim, LimitHTTP+"/3")
	f.Extra = map[string]any{"p50_ms": float64(res.P50) / float64(time.Millisecond), "p99_ms": float64(res.P99) / float64(time.Millisecond),
		"calls": full, "errors": res.Errors, "connections": res.Conns}
	ref.report(f.Extra)
	r.logf("P3 %.0f full calls/s (%d refused at authorize), p50 %v p99 %v", *f.Value, ref.n.Load(), res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond))
	return nil
}

// loadWarmup is how many operations of a load run are not measured.
const loadWarmup = 64

// refusals counts the authorizations the engine refused after the warm-up and keeps the
// first one's answer.
type refusals struct {
	n     atomic.Int64
	first atomic.Pointer[string]
}

func (r *refusals) report(extra map[string]any) {
	extra["refused"] = r.n.Load()
	if p := r.first.Load(); p != nil {
		extra["first_refusal"] = *p
	}
}

// authorize posts call c's authorization, its answer into buf, and reports whether it was
// allowed; a refusal of operation i is counted in ref.
func (a *apiRun) authorize(ctx context.Context, hc *http.Client, c Call, buf *bytes.Buffer, ref *refusals, i int64) (bool, error) {
	buf.Reset()
	if err := post(ctx, hc, a.url(c, "authorize"), a.t.Key(c.Tenant), a.t.AuthorizeBody(c), buf); err != nil {
		return false, err
	}
	if a.t.Allowed == nil || a.t.Allowed(buf.Bytes()) {
		return true, nil
	}
	if i >= loadWarmup {
		ref.n.Add(1)
		ref.first.CompareAndSwap(nil, refusal(buf.Bytes()))
	}
	return false, nil
}

// loadErr fails a run in which any operation failed: a figure made of errors is not one.
func loadErr(res load.Result) error {
	if res.Errors > 0 || res.Ops == 0 {
		return fmt.Errorf("%d of %d operations failed (first: %s)", res.Errors, res.Ops+res.Errors, res.FirstError)
	}
	return nil
}

// refusal is an authorize answer that refused, shortened for the report.
func refusal(body []byte) *string {
	s := string(bytes.TrimSpace(body))
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return &s
}
