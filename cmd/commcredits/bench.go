package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/commcredits/commcredits/internal/bench"
)

// benchChild is the hidden subcommand P4 re-executes this binary with, so that the memory
// measured is the child's alone.
const benchChild = "bench-child-rss"

// benchAPI serves the business API for P2 and P3 (bench.APIFunc: start it on a loopback
// listener over the given store and writer, return the base URL, a bearer key per tenant and
// the JSON bodies of authorize, extend and settle). While it is nil, P2 and P3 report
// "unavailable" with the reason.
var benchAPI bench.APIFunc

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
