package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/commcredits/commcredits/internal/api"
	"github.com/commcredits/commcredits/internal/bench"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/rest"
	"github.com/commcredits/commcredits/internal/service"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// benchChild is the hidden subcommand P4 re-executes this binary with, so that the memory
// measured is the child's alone.
const benchChild = "bench-child-rss"

// benchAPI serves the /v1 API for P2 and P3 as `serve` does (api.Server with its metrics
// middleware, rest over service), on 127.0.0.1, with a switch key per tenant and no rate
// limit (the figure is the engine's, not the limiter's).
var benchAPI bench.APIFunc = func(ctx context.Context, st *store.SQL, wr *writer.Writer, env *tenant.Env, w bench.Workload) (*bench.APITarget, error) {
	cards, ok := env.Cards.(*rating.Registry)
	if !ok {
		return nil, fmt.Errorf("bench: the environment's cards are a %T, not a registry", env.Cards)
	}
	svc := &service.Service{Store: st, Writer: wr, Cards: cards, Env: env}
	keys := make(map[string]string, w.Tenants)
	for i := range w.Tenants {
		id := bench.TenantID(i)
		_, secret, err := svc.CreateKey(ctx, id, service.RoleSwitch, "bench")
		if err != nil {
			return nil, err
		}
		keys[id] = secret
	}
	srv := api.New(api.Deps{DB: st.DB(), DBKind: string(st.DB().Kind()), Logger: slog.New(slog.DiscardHandler), Version: version})
	rest.Mount(srv.Mux(), svc, rest.Config{Version: version, RateLimit: -1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	return &bench.APITarget{
		Base: "http://" + ln.Addr().String(),
		Key:  func(t string) string { return keys[t] },
		AuthorizeBody: func(c bench.Call) []byte {
			return js(map[string]any{"call_id": c.ID, "call_type": "user_out", "principal": c.Principal, "caller": c.Caller, "callee": c.Callee})
		},
		ExtendBody: func(_ bench.Call, s int64) []byte { return js(map[string]any{"seconds": s}) },
		SettleBody: func(_ bench.Call, s int64) []byte { return js(map[string]any{"seconds": s}) },
		Allowed: func(b []byte) bool {
			var r struct {
				Allowed bool `json:"allowed"`
			}
			return json.Unmarshal(b, &r) == nil && r.Allowed
		},
		Close: func() { _ = hs.Close() },
	}, nil
}

// cmdBench is `commcredits bench [--quick] [--json] [--cdrs N] [--postgres URL]`: the issue
// 8 figures beside the machine's ceilings, measured in one run (BENCHMARKS.md).
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	fs := newFlagSet("bench", stderr)
	quick := fs.Bool("quick", false, "smaller counts: finishes in under a minute")
	asJSON := fs.Bool("json", false, "print one JSON object (keys P1 … P7, limits, machine, sizes)")
	cdrs := fs.Int("cdrs", 0, "CDRs booked for P4's memory figure (default 10,000,000; 20,000 with --quick)")
	p1 := fs.Int("p1-cdrs", 0, "CDRs booked for P1 and P6 (default 500,000; 10,000 with --quick)")
	pg := fs.String("postgres", envOr(h, bench.EnvPostgres, ""), "admin URL of a PostgreSQL server for P6 (a scratch database is created and dropped; env "+bench.EnvPostgres+")")
	dir := fs.String("dir", "", "directory for scratch databases (default the system's temporary directory)")
	seed := fs.Uint64("seed", 1, "workload seed")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	sizes := bench.Full()
	if *quick {
		sizes = bench.Quick()
	}
	if *cdrs > 0 {
		sizes.P4CDRs = *cdrs
	}
	if *p1 > 0 {
		sizes.P1CDRs = *p1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "commcredits bench: %v\n", err)
		return exitError
	}
	rep, err := bench.Run(ctx, bench.Options{Sizes: sizes, Seed: *seed, Postgres: *pg, Dir: *dir, Progress: stderr, API: benchAPI,
		Child: func(args ...string) *exec.Cmd {
			cmd := exec.Command(self, append([]string{benchChild}, args...)...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the run
			return cmd
		}})
	if err != nil {
		fmt.Fprintf(stderr, "commcredits bench: %v\n", err)
		return exitError
	}
	rep.Quick = *quick
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return exitError
		}
		return exitOK
	}
	rep.WriteText(stdout)
	return exitOK
}
