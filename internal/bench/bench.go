package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/ingest"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/writer"
)

// Sizes are how much each measurement does.
type Sizes struct {
	Tenants  int // workload tenants
	Prefixes int // rate-card prefixes (P5 and every pricing)
	P1CDRs   int // CDRs booked for P1 and P6
	P4CDRs   int // CDRs booked by P4's child process
	HTTPOps  int64
	P3Calls  int64
	Lookups  int // P5 lookups
	Imports  int // P5 card imports; the best counts
	P7Calls  int // P7 decisions
	// LimitTime bounds each ceiling's measurement; LoadTime each HTTP load run.
	LimitTime, LoadTime time.Duration
	SQLiteRows          int // raw insert ceiling: commands (two rows each) at most
	Fsyncs              int
}

// Full is the run: the 100,000-prefix card, 1,000 tenants, 10 million CDRs for P4.
func Full() Sizes {
	return Sizes{Tenants: 1000, Prefixes: 100_000, P1CDRs: 500_000, P4CDRs: 10_000_000, HTTPOps: 500_000, P3Calls: 150_000,
		Lookups: 2_000_000, Imports: 3, P7Calls: 1_000_000, LimitTime: 5 * time.Second, LoadTime: 20 * time.Second, SQLiteRows: 2_000_000, Fsyncs: 20_000}
}

// Quick is the same workload with smaller counts: it finishes in well under a minute.
func Quick() Sizes {
	return Sizes{Tenants: 1000, Prefixes: 100_000, P1CDRs: 10_000, P4CDRs: 20_000, HTTPOps: 60_000, P3Calls: 10_000,
		Lookups: 500_000, Imports: 1, P7Calls: 200_000, LimitTime: time.Second, LoadTime: 3 * time.Second, SQLiteRows: 200_000, Fsyncs: 2_000}
}

// Options configure a run.
type Options struct {
	Sizes
	Seed uint64
	// Postgres is an admin URL (postgres://…) of a server on which a scratch database is
	// created for P6 and dropped after; "" skips P6.
	Postgres string
	// Dir holds the run's scratch files (a temporary directory under it); "" is os.TempDir.
	Dir string
	// Progress receives progress lines while the run goes on (stderr); nil discards them.
	Progress io.Writer
	// Child makes the command that runs ChildMain with args in a new process, for P4; nil
	// reports P4 unavailable.
	Child func(args ...string) *exec.Cmd
	// API serves the business HTTP API for P2 and P3; nil reports them unavailable.
	API APIFunc
}

// Figure is one measured figure beside its machine ceiling. Value, Limit, Ratio and Met are
// null when not measured or not applicable; Status says why.
type Figure struct {
	Name   string   `json:"name"`
	Status string   `json:"status"` // ok, skipped, unavailable, failed
	Reason string   `json:"reason,omitempty"`
	Value  *float64 `json:"value"`
	Unit   string   `json:"unit"`
	// Limit is the matching machine ceiling in LimitUnit, measured in this run; Ratio is
	// Value ÷ Limit.
	Limit     *float64 `json:"limit"`
	LimitName string   `json:"limit_name,omitempty"`
	LimitUnit string   `json:"limit_unit,omitempty"`
	Ratio     *float64 `json:"ratio"`
	// Target is the issue's; Better says which way it is met ("higher" or "lower").
	Target float64 `json:"target"`
	Better string  `json:"better"`
	Met    *bool   `json:"met"`
	// Extra carries the figure's other numbers (p50, p99, allocations, the second half of
	// P5, counts).
	Extra map[string]any `json:"extra,omitempty"`
}

// Limit is one machine ceiling.
type Limit struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	What  string  `json:"what"`
}

// Report is a whole run. Its JSON keys are P1 … P7, limits, machine and sizes.
type Report struct {
	P1, P2, P3, P4, P5, P6, P7 *Figure
	Limits                     map[string]Limit
	Machine                    Machine
	Sizes                      Sizes
	Quick                      bool
	Elapsed                    time.Duration
}

// MarshalJSON writes the report as one object keyed P1 … P7 plus limits, machine, sizes.
func (r *Report) MarshalJSON() ([]byte, error) {
	m := map[string]any{"P1": r.P1, "P2": r.P2, "P3": r.P3, "P4": r.P4, "P5": r.P5, "P6": r.P6, "P7": r.P7,
		"limits": r.Limits, "machine": r.Machine, "quick": r.Quick, "elapsed_s": r.Elapsed.Seconds(),
		"sizes": map[string]any{"tenants": r.Sizes.Tenants, "prefixes": r.Sizes.Prefixes, "p1_cdrs": r.Sizes.P1CDRs, "p4_cdrs": r.Sizes.P4CDRs,
			"http_ops": r.Sizes.HTTPOps, "p3_calls": r.Sizes.P3Calls, "lookups": r.Sizes.Lookups, "p7_calls": r.Sizes.P7Calls}}
	return json.Marshal(m)
}

// Figures lists the report's figures in order.
func (r *Report) Figures() []*Figure { return []*Figure{r.P1, r.P2, r.P3, r.P4, r.P5, r.P6, r.P7} }

// Machine describes where the run ran.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemTotal string `json:"mem_total"`
	GOOS     string `json:"goos"`
	GOARCH   string `json:"goarch"`
	Go       string `json:"go"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Go: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if kb, err := procStatusKB("/proc/meminfo", "MemTotal"); err == nil {
		m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	return m
}

func f64(v float64) *float64 { return &v }

func (f *Figure) set(value float64, lim *Limit, limName string) {
	f.Status = "ok"
	f.Value = f64(value)
	if lim != nil && lim.Value > 0 {
		f.Limit, f.LimitName, f.LimitUnit = f64(lim.Value), limName, lim.Unit
		f.Ratio = f64(value / lim.Value)
	}
	met := value >= f.Target
	if f.Better == "lower" {
		met = value <= f.Target
	}
	f.Met = &met
}

func (f *Figure) fail(status string, err error) {
	f.Status, f.Reason = status, err.Error()
	f.Value, f.Limit, f.Ratio, f.Met = nil, nil, nil, nil
}

type runner struct {
	opt      Options
	w        Workload
	dir      string
	progress io.Writer
	start    time.Time
	apiState *apiRun // the database and API of P2 or P3
	apiN     int
}

func (r *runner) logf(format string, a ...any) {
	fmt.Fprintf(r.progress, "bench %6.1fs  "+format+"\n", append([]any{time.Since(r.start).Seconds()}, a...)...)
}

// Run measures the ceilings, then P1 … P7, and reports them; a figure that cannot be
// measured is reported with its reason, the others still are.
func Run(ctx context.Context, opt Options) (*Report, error) {
	if opt.Progress == nil {
		opt.Progress = io.Discard
	}
	r := &runner{opt: opt, progress: opt.Progress, start: time.Now()}
	r.w = Default()
	r.w.Seed = max(opt.Seed, 1)
	r.w.Tenants, r.w.Prefixes = opt.Tenants, opt.Prefixes
	r.w = r.w.norm()
	dir, err := os.MkdirTemp(opt.Dir, "commcredits-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r.dir = dir

	rep := &Report{Machine: machine(), Sizes: opt.Sizes, Limits: map[string]Limit{}}
	rep.P1 = &Figure{Name: "CDRs rated, pooled, debited and stored, durable, SQLite", Unit: "CDRs/s", Target: 100_000, Better: "higher"}
	rep.P2 = &Figure{Name: "authorize + reserve over HTTP, 64 connections", Unit: "req/s", Target: 50_000, Better: "higher"}
	rep.P3 = &Figure{Name: "full calls over HTTP (authorize, extend, settle), 64 connections", Unit: "calls/s", Target: 15_000, Better: "higher"}
	rep.P4 = &Figure{Name: fmt.Sprintf("peak RSS after %d CDRs", opt.P4CDRs), Unit: "MB", Target: 256, Better: "lower"}
	rep.P5 = &Figure{Name: fmt.Sprintf("rate-card import of %d prefixes", r.w.Prefixes), Unit: "s", Target: 1, Better: "lower"}
	rep.P6 = &Figure{Name: "CDRs rated, pooled, debited and stored, durable, PostgreSQL", Unit: "CDRs/s", Target: 30_000, Better: "higher"}
	rep.P7 = &Figure{Name: "price + admit one call in-process", Unit: "ns", Target: 1000, Better: "lower"}

	r.logf("machine: %d CPUs, %s; workload: %d tenants, %d prefixes, %d countries", rep.Machine.CPUs, rep.Machine.CPUModel, r.w.Tenants, r.w.Prefixes, Countries())
	if err := r.limits(ctx, rep); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	steps := []struct {
		f  *Figure
		fn func(context.Context, *Report, *Figure) error
	}{{rep.P5, r.p5}, {rep.P7, r.p7}, {rep.P1, r.p1}, {rep.P6, r.p6}, {rep.P2, r.p2}, {rep.P3, r.p3}, {rep.P4, r.p4}}
	for _, s := range steps {
		// A cancelled run (a signal, a timeout) still reports what it measured.
		if err := ctx.Err(); err != nil {
			s.f.fail("failed", fmt.Errorf("not measured: %w", err))
			continue
		}
		if err := s.fn(ctx, rep, s.f); err != nil {
			var sk skip
			if errors.As(err, &sk) {
				s.f.fail(sk.status, err)
			} else {
				s.f.fail("failed", err)
			}
			r.logf("%s: %s: %v", s.f.Name, s.f.Status, err)
		}
	}
	if r.apiState != nil {
		r.apiState.close()
	}
	rep.Elapsed = time.Since(r.start)
	return rep, nil
}

// skip marks a figure that was not measured on purpose (skipped) or could not be
// (unavailable).
type skip struct{ status, msg string }

func (s skip) Error() string { return s.msg }

// Limit keys.
const (
	LimitSQLite   = "sqlite_rows"
	LimitUsage    = "usage_rows"
	LimitPostgres = "postgres_rows"
	LimitFsync    = "fdatasync"
	LimitHTTP     = "http"
	LimitMemLoad  = "mem_load"
	LimitCSV      = "csv_parse"
)

func (r *runner) limits(ctx context.Context, rep *Report) error {
	o := r.opt
	fs, err := FdatasyncRate(r.dir, o.Fsyncs, o.LimitTime)
	if err != nil {
		return err
	}
	rep.Limits[LimitFsync] = Limit{fs, "fsyncs/s", "write 4 KiB + fdatasync, in a loop, on the scratch directory's file system"}
	r.logf("limit fdatasync: %.0f/s", fs)

	d, err := tempSQLite(ctx, r.dir, "raw.db")
	if err != nil {
		return err
	}
	const perTx = 500 // 1,000 rows per transaction, the size of the writer's batches under load
	t0 := time.Now()
	n, err := RawSQLiteInserts(ctx, d, 0, o.SQLiteRows, perTx, o.LimitTime)
	el := time.Since(t0)
	d.Close()
	if err != nil {
		return err
	}
	rows := float64(2*n) / el.Seconds()
	rep.Limits[LimitSQLite] = Limit{rows, "rows/s", "raw multi-row INSERTs into the engine's own tables, 1,000 rows per durable transaction, SQLite with the engine's settings (WAL, synchronous=FULL)"}
	r.logf("limit SQLite raw inserts: %.0f rows/s", rows)

	if d, err = tempSQLite(ctx, r.dir, "usage.db"); err != nil {
		return err
	}
	t0 = time.Now()
	n, err = RawUsageInserts(ctx, d, r.w.Tenants, o.SQLiteRows, 8192, 3*o.LimitTime)
	el = time.Since(t0)
	d.Close()
	if err != nil {
		return err
	}
	rows = float64(n) / el.Seconds()
	rep.Limits[LimitUsage] = Limit{rows, "rows/s", fmt.Sprintf("raw INSERTs of the usage row each CDR stores, nothing else, into the engine's schema: %d tenants, 8,192 rows per durable transaction", r.w.Tenants)}
	r.logf("limit SQLite usage rows: %.0f rows/s", rows)

	h, err := HTTPLimit(ctx, 64, o.HTTPOps, o.LoadTime)
	if err != nil {
		return err
	}
	if h.Errors > 0 || h.Ops == 0 {
		return fmt.Errorf("trivial HTTP handler: %d errors (%s)", h.Errors, h.FirstError)
	}
	rep.Limits[LimitHTTP] = Limit{h.PerSec, "req/s", fmt.Sprintf("trivial JSON handler on loopback, net/http, 64 keep-alive connections (p50 %v, p99 %v)", h.P50.Round(time.Microsecond), h.P99.Round(time.Microsecond))}
	r.logf("limit HTTP: %.0f req/s, p50 %v p99 %v", h.PerSec, h.P50.Round(time.Microsecond), h.P99.Round(time.Microsecond))

	ml := MemLoadLatency(64<<20, max(o.Lookups, 100_000))
	rep.Limits[LimitMemLoad] = Limit{float64(ml.Nanoseconds()), "ns", "one dependent random load in 64 MiB (a pointer chase): what each cache-missing step of a lookup costs"}
	r.logf("limit memory load: %v", ml)
	return nil
}

// P5: rate-card import (s) and lookup (ns).
func (r *runner) p5(ctx context.Context, rep *Report, f *Figure) error {
	data := r.w.CardCSV()
	csvT, err := CSVParseTime(data)
	if err != nil {
		return err
	}
	rep.Limits[LimitCSV] = Limit{csvT.Seconds(), "s", "reading the same card with encoding/csv and nothing else"}
	var card *rating.Card
	best := time.Duration(1 << 62)
	for range max(r.opt.Imports, 1) {
		t0 := time.Now()
		card, err = rating.Import(rating.Meta{Service: rating.Outbound, Currency: usd, Version: 1}, data)
		if err != nil {
			return err
		}
		best = min(best, time.Since(t0))
	}
	lim := rep.Limits[LimitCSV]
	f.set(best.Seconds(), &lim, LimitCSV)
	// Lookups of numbers under prefixes drawn uniformly from the card (the worst case for
	// caches), padded with random digits to 8–15 digits.
	rng := rand.New(rand.NewPCG(r.w.Seed, 5))
	nums := make([]string, 1<<16)
	for i := range nums {
		row := card.Row(rng.IntN(card.Len()))
		b := []byte(row.Prefix)
		for n := 8 + rng.IntN(8); len(b) < n; {
			b = append(b, byte('0'+rng.IntN(10)))
		}
		nums[i] = string(b)
	}
	at := r.w.Month.AddDate(0, 0, 10)
	found := 0
	t0 := time.Now()
	for i := range r.opt.Lookups {
		if _, ok := card.Lookup(nums[i&(len(nums)-1)], at); ok {
			found++
		}
	}
	ns := float64(time.Since(t0).Nanoseconds()) / float64(max(r.opt.Lookups, 1))
	if found != r.opt.Lookups {
		return fmt.Errorf("lookup found %d of %d numbers", found, r.opt.Lookups)
	}
	ml := rep.Limits[LimitMemLoad]
	lk := map[string]any{"value": ns, "unit": "ns", "target": 100.0, "met": ns <= 100, "limit": ml.Value, "limit_name": LimitMemLoad, "ratio": ns / ml.Value}
	f.Extra = map[string]any{"lookup": lk, "prefixes": card.Len(), "card_bytes": len(data)}
	met := *f.Met && ns <= 100
	f.Met = &met
	r.logf("P5 import %.3f s (csv alone %.3f s), lookup %.1f ns", best.Seconds(), csvT.Seconds(), ns)
	return nil
}

// admitCall is one call ready for charging.Authorize: its tenant's context and the call.
type admitCall struct {
	ctx  *charging.Context
	call *charging.Call
}

// admitCalls prepares n of the workload's calls for P7, each with its principal's pools and
// a funded balance.
func (w Workload) admitCalls(n int) ([]admitCall, error) {
	env, err := w.Env()
	if err != nil {
		return nil, err
	}
	t := w.Traffic(n)
	var calls []admitCall
	cat := plans.Default()
	lic := map[string][]string{"payg": {"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}, "dom": {"MCOEV", "MCOPSTN5", "MCOPSTNPP"}, "intl": {"MCOEV", "MCOPSTN2", "MCOPSTNPP"}}
	for c, ok := t.Next(); ok; c, ok = t.Next() {
		ti, _ := strconv.Atoi(strings.TrimPrefix(c.Tenant, "t"))
		kind, _, _ := strings.Cut(c.Principal, "-")
		p := plans.Principal{ID: c.Principal, Licences: lic[kind], UsageLocation: w.home(ti)}
		cc := &charging.Context{Catalog: cat, CreditsSetUp: true, Available: 500_00, Cards: env.Cards,
			Pools: plans.Size(cat, plans.MonthOf(c.Start), []plans.Principal{p}, plans.SizeOptions{})}
		calls = append(calls, admitCall{cc, &charging.Call{Tenant: c.Tenant, Currency: usd, ID: c.ID, Type: c.Authorize().Type,
			Principal: p, Caller: c.Caller, Callee: c.Callee, Start: c.Start}})
	}
	return calls, nil
}

// P7: price + admit one call in-process: charging.Authorize (numbers parsed, card lookup,
// who pays, policy, pool, maximum seconds, reservation) for the workload's calls.
func (r *runner) p7(ctx context.Context, rep *Report, f *Figure) error {
	calls, err := r.w.admitCalls(4096)
	if err != nil {
		return err
	}
	allowed := 0
	for _, p := range calls { // warm the number cache and check the decisions are real
		if a := charging.Authorize(p.ctx, p.call); a.Allowed {
			allowed++
		}
	}
	if allowed < len(calls)/2 {
		return fmt.Errorf("only %d of %d calls allowed", allowed, len(calls))
	}
	n := r.opt.P7Calls
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	t0 := time.Now()
	for i := range n {
		p := calls[i%len(calls)]
		charging.Authorize(p.ctx, p.call)
	}
	el := time.Since(t0)
	runtime.ReadMemStats(&ms1)
	ns := float64(el.Nanoseconds()) / float64(n)
	allocs := float64(ms1.Mallocs-ms0.Mallocs) / float64(n)
	lim := rep.Limits[LimitMemLoad]
	f.set(ns, &lim, LimitMemLoad)
	met := *f.Met && allocs == 0
	f.Met = &met
	f.Extra = map[string]any{"allocs_per_op": allocs, "target_allocs": 0, "calls": n, "distinct_calls": len(calls),
		"allowed_share": float64(allowed) / float64(len(calls))}
	r.logf("P7 %.0f ns/call, %.2f allocs/call", ns, allocs)
	return nil
}

// ingestRun seeds the workload into the database at dsn and books n CDRs through the engine's
// own path (ingest → writer → store, as `commcredits cdr import` does); seeded, when set, is
// called between the two. It returns the import's report and its wall time (seeding
// excluded).
func ingestRun(ctx context.Context, dsn string, w Workload, n int, progress func(ingest.Progress), seeded func()) (ingest.Report, time.Duration, error) {
	d, err := db.Open(ctx, dsn, db.WithMigrate())
	if err != nil {
		return ingest.Report{}, 0, err
	}
	defer d.Close()
	st := store.New(d)
	env, err := w.Env()
	if err != nil {
		return ingest.Report{}, 0, err
	}
	wr := writer.New(st, Clock{w.Now()}, writer.Config{Env: env})
	defer wr.Close()
	if err := w.Populate(ctx, st, wr); err != nil {
		return ingest.Report{}, 0, fmt.Errorf("seeding: %w", err)
	}
	if seeded != nil {
		seeded()
	}
	t0 := time.Now()
	rep, err := ingest.Import(ctx, wr, w.CSV(n), ingest.Options{Progress: progress, ProgressEvery: 2 * time.Second})
	el := time.Since(t0)
	if err != nil {
		return rep, el, err
	}
	if rep.Lines != int64(n) || rep.Rejected != 0 {
		return rep, el, fmt.Errorf("imported %d of %d CDRs, %d rejected (first: %v)", rep.Lines, n, rep.Rejected, firstLineError(rep))
	}
	return rep, el, nil
}

func firstLineError(rep ingest.Report) string {
	if len(rep.Errors) == 0 {
		return "none"
	}
	return rep.Errors[0].String()
}

func (r *runner) progressOf(label string) func(ingest.Progress) {
	return func(p ingest.Progress) {
		if !p.Final {
			r.logf("%s: %d CDRs, %.0f/s", label, p.Lines, p.Rate)
		}
	}
}

func (r *runner) p1(ctx context.Context, rep *Report, f *Figure) error {
	r.logf("P1: seeding %d tenants, booking %d CDRs into SQLite", r.w.Tenants, r.opt.P1CDRs)
	ir, el, err := ingestRun(ctx, "sqlite:"+r.dir+"/p1.db", r.w, r.opt.P1CDRs, r.progressOf("P1"), nil)
	if err != nil {
		return err
	}
	rate := float64(ir.Lines) / el.Seconds()
	lim := rep.Limits[LimitSQLite]
	f.set(rate, &lim, LimitSQLite)
	f.Extra = map[string]any{"cdrs": ir.Lines, "booked": ir.Booked, "free_calls": ir.FreeCalls, "seconds": el.Seconds(),
		"fdatasync_per_s": rep.Limits[LimitFsync].Value}
	if u, ok := rep.Limits[LimitUsage]; ok && u.Value > 0 {
		f.Extra["usage_rows_ratio"] = rate / u.Value
	}
	r.logf("P1 %.0f CDRs/s (%.3f of raw SQLite rows/s)", rate, *f.Ratio)
	return nil
}

// EnvPostgres names the environment variable that gives P6's admin URL.
const EnvPostgres = "COMMCREDITS_BENCH_POSTGRES"

func (r *runner) p6(ctx context.Context, rep *Report, f *Figure) error {
	if r.opt.Postgres == "" {
		return skip{"skipped", "no PostgreSQL URL: pass --postgres URL or set " + EnvPostgres}
	}
	dsn, drop, err := scratchDatabase(ctx, r.opt.Postgres)
	if err != nil {
		return err
	}
	defer drop()
	d, err := db.Open(ctx, dsn, db.WithMigrate())
	if err != nil {
		return err
	}
	t0 := time.Now()
	n, err := rawPostgresInserts(ctx, d, r.opt.SQLiteRows, 500, r.opt.LimitTime)
	el := time.Since(t0)
	if err == nil {
		_, err = d.Pool().Exec(ctx, `DELETE FROM ledger_entries; DELETE FROM commands`)
	}
	d.Close()
	if err != nil {
		return fmt.Errorf("raw inserts: %w", err)
	}
	rep.Limits[LimitPostgres] = Limit{float64(2*n) / el.Seconds(), "rows/s", "raw multi-row INSERTs into the engine's own tables, 1,000 rows per transaction, one pipelined batch each, on the given server (as durable as it is configured)"}
	r.logf("limit PostgreSQL raw inserts: %.0f rows/s", rep.Limits[LimitPostgres].Value)
	r.logf("P6: seeding %d tenants, booking %d CDRs into PostgreSQL", r.w.Tenants, r.opt.P1CDRs)
	ir, el, err := ingestRun(ctx, dsn, r.w, r.opt.P1CDRs, r.progressOf("P6"), nil)
	if err != nil {
		return err
	}
	rate := float64(ir.Lines) / el.Seconds()
	lim := rep.Limits[LimitPostgres]
	f.set(rate, &lim, LimitPostgres)
	f.Extra = map[string]any{"cdrs": ir.Lines, "seconds": el.Seconds()}
	r.logf("P6 %.0f CDRs/s", rate)
	return nil
}

// scratchDatabase creates an empty database on the server of adminURL and returns its URL
// and a function that drops it.
func scratchDatabase(ctx context.Context, adminURL string) (string, func(), error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("--postgres wants a postgres:// URL, got %q", db.Redact(adminURL))
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	name := fmt.Sprintf("commcredits_bench_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
	conn.Close(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: create scratch database: %w", err)
	}
	u.Path = "/" + name
	drop := func() {
		c, err := pgx.Connect(context.Background(), adminURL)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return u.String(), drop, nil
}

// P4: the child process books P4CDRs CDRs; its peak RSS is read from /proc/<pid>/status.
func (r *runner) p4(ctx context.Context, rep *Report, f *Figure) error {
	if r.opt.Child == nil {
		return skip{"unavailable", "no way to start a child process was given"}
	}
	args := []string{"--cdrs", fmt.Sprint(r.opt.P4CDRs), "--tenants", fmt.Sprint(r.w.Tenants), "--prefixes", fmt.Sprint(r.w.Prefixes),
		"--seed", fmt.Sprint(r.w.Seed), "--dir", r.dir}
	cmd := r.opt.Child(args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = r.progress
	r.logf("P4: child process books %d CDRs", r.opt.P4CDRs)
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	// Reading the child's answer does not watch ctx: a cancelled run stops the child.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Kill()
		case <-done:
		}
	}()
	var res childResult
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("child: %w", err)
	}
	if err := json.Unmarshal(line, &res); err != nil {
		return fmt.Errorf("child said %q: %w", line, err)
	}
	if res.Error != "" {
		return errors.New("child: " + res.Error)
	}
	// The child waits on its stdin: it is still alive, at its peak, while we read.
	hwm, err := procStatusKB(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid), "VmHWM")
	if err != nil {
		return err
	}
	mb := float64(hwm) / 1024
	f.set(mb, nil, "")
	f.Extra = map[string]any{"cdrs": res.CDRs, "seconds": res.Seconds, "cdrs_per_s": float64(res.CDRs) / res.Seconds,
		"rss_after_seeding_mb": float64(res.SeededKB) / 1024, "note": "no machine ceiling applies to memory; the baseline after seeding is in rss_after_seeding_mb"}
	r.logf("P4 peak RSS %.0f MB after %d CDRs (%.0f MB after seeding)", mb, res.CDRs, float64(res.SeededKB)/1024)
	return nil
}

type childResult struct {
	CDRs     int64   `json:"cdrs"`
	Seconds  float64 `json:"seconds"`
	SeededKB int64   `json:"seeded_kb"`
	Error    string  `json:"error,omitempty"`
}

// ChildMain is P4's child process: it seeds the workload into a fresh SQLite database and
// books --cdrs CDRs, prints one JSON line, then waits for stdin to close so that its parent
// can read its peak RSS while it is alive.
func ChildMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	w := Default()
	var n int
	var dir string
	for i := 0; i+1 < len(args); i += 2 {
		v := args[i+1]
		switch args[i] {
		case "--cdrs":
			n, _ = strconv.Atoi(v)
		case "--tenants":
			w.Tenants, _ = strconv.Atoi(v)
		case "--prefixes":
			w.Prefixes, _ = strconv.Atoi(v)
		case "--seed":
			w.Seed, _ = strconv.ParseUint(v, 10, 64)
		case "--dir":
			dir = v
		}
	}
	w = w.norm()
	var res childResult
	var seeded int64
	progress := func(p ingest.Progress) {
		if !p.Final {
			fmt.Fprintf(stderr, "bench child  P4: %d CDRs, %.0f/s\n", p.Lines, p.Rate)
		}
	}
	// The RSS once the workload is seeded, before the first CDR is read.
	ir, el, err := ingestRun(ctx, "sqlite:"+dir+"/p4.db", w, n, progress, func() { seeded, _ = procStatusKB("/proc/self/status", "VmRSS") })
	res.CDRs, res.Seconds, res.SeededKB = ir.Lines, el.Seconds(), seeded
	if err != nil {
		res.Error = err.Error()
	}
	data, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "%s\n", data)
	_, _ = io.Copy(io.Discard, stdin)
	if err != nil {
		return 1
	}
	return 0
}

// procStatusKB reads a "Field: N kB" line of a /proc status-like file.
func procStatusKB(path, field string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in %s", field, path)
}

// WriteText prints the report as one line per figure with its ceiling and ratio.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "commcredits bench (%s) on %d CPUs, %s, %s, %s, in %.0f s\n", map[bool]string{true: "quick", false: "full"}[r.Quick],
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.MemTotal, r.Machine.Go, r.Elapsed.Seconds())
	fmt.Fprintln(w, "limits:")
	for _, k := range []string{LimitSQLite, LimitUsage, LimitPostgres, LimitFsync, LimitHTTP, LimitMemLoad, LimitCSV} {
		if l, ok := r.Limits[k]; ok {
			fmt.Fprintf(w, "  %-14s %14s %-8s %s\n", k, num(l.Value), l.Unit, l.What)
		}
	}
	for i, f := range r.Figures() {
		fmt.Fprintf(w, "P%d %s\n", i+1, f.line())
		if lk, ok := f.Extra["lookup"].(map[string]any); ok && f.Status == "ok" {
			fmt.Fprintf(w, "   lookup %s ns (target ≤ 100 ns), limit %s %s ns, ratio %.2f\n",
				num(lk["value"].(float64)), LimitMemLoad, num(lk["limit"].(float64)), lk["ratio"].(float64))
		}
		if f.Status == "ok" && len(f.Extra) > 0 {
			for _, k := range []string{"usage_rows_ratio", "p50_ms", "p99_ms", "allocs_per_op", "refused", "first_refusal"} {
				if v, ok := f.Extra[k]; ok {
					fmt.Fprintf(w, "   %s %v\n", k, v)
				}
			}
		}
	}
}

func (f *Figure) line() string {
	cmp := "≥"
	if f.Better == "lower" {
		cmp = "≤"
	}
	if f.Status != "ok" {
		return fmt.Sprintf("%-62s %s: %s (target %s %s %s)", f.Name, f.Status, f.Reason, cmp, num(f.Target), f.Unit)
	}
	s := fmt.Sprintf("%-62s %12s %-7s target %s %s", f.Name, num(*f.Value), f.Unit, cmp, num(f.Target))
	if f.Limit != nil {
		s += fmt.Sprintf("  limit %s %s %s  ratio %.3f", f.LimitName, num(*f.Limit), f.LimitUnit, *f.Ratio)
	} else {
		s += "  limit none  ratio -"
	}
	if *f.Met {
		return s + "  met"
	}
	return s + "  MISSED"
}

// num prints v with thousands separators, keeping three significant decimals below 10.
func num(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
