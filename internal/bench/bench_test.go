package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/pgtest"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

const childEnv = "COMMCREDITS_BENCH_TEST_CHILD"

// TestMain lets the test binary be P4's child process, as the commcredits binary is.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(ChildMain(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	pgtest.Main(m)
}

func tiny() Sizes {
	return Sizes{Tenants: 20, Prefixes: 5_000, P1CDRs: 2_000, P4CDRs: 3_000, HTTPOps: 2_000, P3Calls: 400, Lookups: 100_000,
		P7Calls: 20_000, LimitTime: 300 * time.Millisecond, LoadTime: 5 * time.Second, SQLiteRows: 20_000, Fsyncs: 200}
}

// fakeAPI stands in for the business API behind the same seam (APIFunc): it decodes a small
// JSON body and submits the tenant command through the writer, as the real one does.
func fakeAPI(_ context.Context, _ *store.SQL, wr *writer.Writer, _ *tenant.Env, _ Workload) (*APITarget, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/tenants/"), "/")
		if len(parts) < 3 || r.Header.Get("Authorization") != "Bearer k-"+parts[0] {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var body struct {
			CallID, Principal, Caller, Callee string
			Seconds                           int64
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var cmd tenant.Command
		action := parts[len(parts)-1]
		key := ""
		switch action {
		case "authorize":
			cmd = tenant.Authorize{CallID: body.CallID, Type: payer.UserOut, Principal: body.Principal, Caller: body.Caller, Callee: body.Callee}
		case "extend":
			cmd, key = tenant.Extend{CallID: parts[2], Seconds: body.Seconds}, "extend:"+parts[2]
		case "settle":
			cmd, key = tenant.Settle{CallID: parts[2], Seconds: body.Seconds}, "settle:"+parts[2]
		}
		res, err := wr.Submit(r.Context(), parts[0], key, cmd)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		_ = json.NewEncoder(w).Encode(res)
	})
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	return &APITarget{
		Base: "http://" + ln.Addr().String(),
		Key:  func(t string) string { return "k-" + t },
		AuthorizeBody: func(c Call) []byte {
			return js(map[string]any{"callid": c.ID, "principal": c.Principal, "caller": c.Caller, "callee": c.Callee})
		},
		ExtendBody: func(c Call, s int64) []byte { return js(map[string]any{"seconds": s}) },
		SettleBody: func(c Call, s int64) []byte { return js(map[string]any{"seconds": s}) },
		Allowed: func(b []byte) bool {
			var res tenant.Result
			return json.Unmarshal(b, &res) == nil && res.Authorization != nil && res.Authorization.Allowed
		},
		Close: func() { _ = srv.Close() },
	}, nil
}

// TestBenchEndToEnd runs the whole bench with tiny sizes and checks the JSON the command
// prints: every figure present with value, unit, limit and ratio; every measured value
// positive; every ratio its value over its limit.
func TestBenchEndToEnd(t *testing.T) {
	var progress bytes.Buffer
	rep, err := Run(context.Background(), Options{Sizes: tiny(), Seed: 3, Dir: t.TempDir(), Progress: &progress, API: fakeAPI,
		Child: func(args ...string) *exec.Cmd {
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(os.Environ(), childEnv+"=1")
			return cmd
		}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		// limits, machine and sizes are objects too; quick and elapsed_s are not.
		var loose map[string]json.RawMessage
		if err2 := json.Unmarshal(data, &loose); err2 != nil {
			t.Fatal(err2)
		}
		got = map[string]map[string]any{}
		for k, v := range loose {
			var m map[string]any
			if json.Unmarshal(v, &m) == nil {
				got[k] = m
			}
		}
	}
	for i := 1; i <= 7; i++ {
		k := fmt.Sprint("P", i)
		f, ok := got[k]
		if !ok {
			t.Fatalf("no %s in %s", k, data)
		}
		for _, field := range []string{"value", "unit", "limit", "ratio", "target", "met", "status"} {
			if _, ok := f[field]; !ok {
				t.Errorf("%s has no %q", k, field)
			}
		}
		want := "ok"
		if k == "P6" {
			want = "skipped" // no PostgreSQL URL given
		}
		if f["status"] != want {
			t.Errorf("%s status %v (%v), want %s", k, f["status"], f["reason"], want)
			continue
		}
		if want != "ok" {
			if f["value"] != nil || f["ratio"] != nil || f["reason"] == "" {
				t.Errorf("%s not measured but reports %v", k, f)
			}
			continue
		}
		v, ok := f["value"].(float64)
		if !ok || !(v > 0) {
			t.Errorf("%s value %v", k, f["value"])
		}
		if k == "P4" { // memory: no machine ceiling
			if f["limit"] != nil || f["ratio"] != nil {
				t.Errorf("P4 has a limit: %v", f)
			}
			continue
		}
		lim, ok1 := f["limit"].(float64)
		ratio, ok2 := f["ratio"].(float64)
		if !ok1 || !ok2 || !(lim > 0) || math.Abs(ratio-v/lim) > 1e-9*math.Abs(ratio) {
			t.Errorf("%s: value %v limit %v ratio %v", k, v, f["limit"], f["ratio"])
		}
	}
	for _, k := range []string{LimitSQLite, LimitUsage, LimitFsync, LimitHTTP, LimitMemLoad, LimitCSV} {
		if l, ok := got["limits"][k].(map[string]any); !ok || !(l["value"].(float64) > 0) {
			t.Errorf("limit %s: %v", k, got["limits"][k])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if got["P2"]["extra"].(map[string]any)["p99_ms"].(float64) <= 0 {
		t.Errorf("P2 has no p99: %v", got["P2"])
	}
	if h := got["limits"][LimitHTTP].(map[string]any)["value"].(float64); math.Abs(got["P3"]["limit"].(float64)*3-h) > 1e-9*h {
		t.Errorf("P3's limit is not a third of the HTTP ceiling")
	}
	if u, p1 := rep.Limits[LimitUsage].Value, *rep.P1.Value; math.Abs(rep.P1.Extra["usage_rows_ratio"].(float64)-p1/u) > 1e-9*p1/u {
		t.Errorf("P1's usage_rows_ratio %v, want %v / %v", rep.P1.Extra["usage_rows_ratio"], p1, u)
	}
	if rep.P4.Extra["cdrs"].(int64) != int64(tiny().P4CDRs) {
		t.Errorf("P4 child booked %v CDRs", rep.P4.Extra["cdrs"])
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	for _, s := range []string{"P1 ", "P7 ", "ratio", "limit sqlite_rows", "usage_rows_ratio", "P6 CDRs rated, pooled, debited and stored, durable, PostgreSQL", "skipped"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, text.String())
		}
	}
	t.Logf("%s\n%s", progress.String(), text.String())
	if !strings.Contains(progress.String(), "P1") {
		t.Errorf("no progress: %q", progress.String())
	}
}

func TestP2P3UnavailableWithoutTheAPI(t *testing.T) {
	r := &runner{opt: Options{}, progress: &bytes.Buffer{}, start: time.Now()}
	for _, fn := range []func(context.Context, *Report, *Figure) error{r.p2, r.p3} {
		err := fn(context.Background(), &Report{}, &Figure{})
		var sk skip
		if !errors.As(err, &sk) || sk.status != "unavailable" {
			t.Errorf("%v", err)
		}
	}
}

func TestFigureSet(t *testing.T) {
	for _, c := range []struct {
		better        string
		target, value float64
		limit         float64
		met           bool
		ratio         float64
	}{
		{"higher", 100, 150, 300, true, 0.5},
		{"higher", 100, 50, 200, false, 0.25},
		{"lower", 1, 0.5, 0.25, true, 2},
		{"lower", 1, 2, 0, false, -1}, // no limit: no ratio
	} {
		f := &Figure{Better: c.better, Target: c.target}
		f.set(c.value, &Limit{Value: c.limit}, "x")
		if *f.Met != c.met || *f.Value != c.value {
			t.Errorf("%+v: met %v", c, *f.Met)
		}
		if c.limit == 0 {
			if f.Ratio != nil || f.Limit != nil {
				t.Errorf("%+v: ratio %v", c, *f.Ratio)
			}
		} else if *f.Ratio != c.ratio {
			t.Errorf("%+v: ratio %v", c, *f.Ratio)
		}
	}
}

// BenchmarkAdmit is P7 as a Go benchmark, for profiling.
func BenchmarkAdmit(b *testing.B) {
	calls, err := Default().admitCalls(4096)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range calls {
		charging.Authorize(c.ctx, c.call)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := calls[i%len(calls)]
		charging.Authorize(c.ctx, c.call)
		i++
	}
}

// TestP6OnPostgres runs P6 against a real server: a scratch database is created, the raw
// ceiling and the CDR figure are measured in it, and it is dropped afterwards.
func TestP6OnPostgres(t *testing.T) {
	ctx := context.Background()
	admin := pgtest.AdminDSN(t)
	w := Default()
	w.Tenants, w.Prefixes = 10, 2_000
	r := &runner{opt: Options{Sizes: tiny(), Postgres: admin}, w: w.norm(), dir: t.TempDir(), progress: &bytes.Buffer{}, start: time.Now()}
	rep := &Report{Limits: map[string]Limit{}}
	f := &Figure{Target: 30_000, Better: "higher"}
	if err := r.p6(ctx, rep, f); err != nil {
		t.Fatal(err)
	}
	lim := rep.Limits[LimitPostgres]
	if f.Status != "ok" || !(*f.Value > 0) || !(lim.Value > 0) || *f.Ratio != *f.Value/lim.Value || f.Extra["cdrs"].(int64) != int64(tiny().P1CDRs) {
		t.Fatalf("%+v %+v", f, lim)
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var left int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname LIKE 'commcredits_bench_%'`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d scratch databases left (%v)", left, err)
	}
	// A URL that is not postgres:// is refused with a clear message.
	r.opt.Postgres = "host=/tmp dbname=x"
	if err := r.p6(ctx, rep, &Figure{}); err == nil || !strings.Contains(err.Error(), "postgres:// URL") {
		t.Errorf("%v", err)
	}
}

// TestAdmitAllocatesNothing: P7's calls, numbers of 243 countries, admitted with no
// allocation once their numbers are cached (the parse cache must hold the working set).
func TestAdmitAllocatesNothing(t *testing.T) {
	w := Default()
	w.Prefixes = 20_000
	calls, err := w.admitCalls(4096)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		charging.Authorize(c.ctx, c.call)
	}
	i := 0
	if n := testing.AllocsPerRun(3*len(calls), func() {
		c := calls[i%len(calls)]
		charging.Authorize(c.ctx, c.call)
		i++
	}); n != 0 {
		t.Errorf("admitting a call allocates %v times", n)
	}
}
