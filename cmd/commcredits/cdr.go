package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/ingest"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// rateCardFlags are repeated --ratecard service:currency:path flags.
type rateCardFlags []string

func (r *rateCardFlags) String() string     { return strings.Join(*r, ",") }
func (r *rateCardFlags) Set(s string) error { *r = append(*r, s); return nil }

// cmdCDR is `commcredits cdr import FILE`: book a CDR CSV file against the database
// directly (docs/cdr.md, "Importing a CDR file"). Exit 0 when every line was booked, a
// duplicate or a free call; 1 when any line was rejected or the import stopped; 2 on usage.
func cmdCDR(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprintln(stderr, "usage: commcredits cdr import FILE [--db DSN] [--checkpoint FILE] [--resume] [--in-flight N] [--memory-limit MIB] [--json] [--ratecard service:currency:path]...\n       commcredits cdr import FILE --url URL --key KEY --tenant T [--json]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return exitOK
		}
		return exitUsage
	}
	fs := newFlagSet("cdr import", stderr)
	dsn := fs.String("db", envOr(h, envDB, db.DefaultDSN), "database DSN (env "+envDB+")")
	checkpoint := fs.String("checkpoint", "", "checkpoint file: rewritten every second with the offset every record before which is booked")
	resume := fs.Bool("resume", false, "start from the --checkpoint file's offset (a missing file starts from the beginning)")
	inFlight := fs.Int("in-flight", 0, fmt.Sprintf("CDRs waiting on the writer at once (0: %d, or %d under a memory limit)", ingest.DefaultInFlight, ingest.LimitedInFlight))
	memLimit := fs.Int("memory-limit", defaultImportMemoryMB, "soft limit of the Go heap in MiB while importing (0: none; the GOMEMLIMIT environment variable wins)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var cards rateCardFlags
	fs.Var(&cards, "ratecard", "rate card `service:currency:path.csv` (service outbound, dial_out or toll_free); repeatable")
	url := fs.String("url", envOr(h, envURL, ""), "server URL (env "+envURL+"): post the file to the tenant's CDR import instead of --db")
	key := fs.String("key", envOr(h, envKey, ""), "API key for --url (env "+envKey+")")
	tenantID := fs.String("tenant", envOr(h, envTenant, ""), "with --url: the tenant the file is booked for; records of others are refused (env "+envTenant+")")
	idem := fs.String("idempotency-key", "", "with --url: Idempotency-Key of the upload")
	// Flags may come before or after FILE.
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "commcredits cdr import: want one FILE, got %d\n", len(files))
		return exitUsage
	}
	if *resume && *checkpoint == "" {
		fmt.Fprintln(stderr, "commcredits cdr import: --resume needs --checkpoint FILE")
		return exitUsage
	}
	// Usage errors are reported before anything is opened.
	type cardSpec struct {
		svc  rating.Service
		cur  money.Currency
		path string
	}
	var specs []cardSpec
	for _, spec := range cards {
		parts := strings.SplitN(spec, ":", 3)
		if len(parts) != 3 {
			fmt.Fprintf(stderr, "commcredits cdr import: --ratecard %q: want service:currency:path\n", spec)
			return exitUsage
		}
		svc, ok := rating.ParseService(parts[0])
		if !ok {
			fmt.Fprintf(stderr, "commcredits cdr import: --ratecard %q: unknown service %q (outbound, dial_out, toll_free)\n", spec, parts[0])
			return exitUsage
		}
		cur, err := money.LookupCurrency(strings.ToUpper(parts[1]))
		if err != nil {
			fmt.Fprintf(stderr, "commcredits cdr import: --ratecard %q: %v\n", spec, err)
			return exitUsage
		}
		specs = append(specs, cardSpec{svc, cur, parts[2]})
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "commcredits cdr import: "+format+"\n", a...)
		return exitError
	}
	remote, err := useURL(fs, *url)
	if err != nil {
		return exitWith(stderr, "cdr import", err)
	}
	if remote {
		explicit := given(fs)
		for _, f := range []string{"checkpoint", "resume", "in-flight", "ratecard", "memory-limit"} {
			if explicit[f] {
				fmt.Fprintf(stderr, "commcredits cdr import: --%s works with --db only (the server prices with its stored cards and imports the file in one request)\n", f)
				return exitUsage
			}
		}
		if *tenantID == "" {
			fmt.Fprintf(stderr, "commcredits cdr import: --url needs --tenant (or %s)\n", envTenant)
			return exitUsage
		}
		cn := conn{url: *url, key: *key, idem: *idem, timeout: 30 * time.Minute}
		c, _, err := cn.open(ctx, fs, stderr)
		if err != nil {
			return exitWith(stderr, "cdr import", err)
		}
		data, err := readFile(files[0])
		if err != nil {
			return fail("%v", err)
		}
		rep, res, err := c.ImportCDRs(ctx, *tenantID, data)
		if err != nil {
			return exitWith(stderr, "cdr import", err)
		}
		if *asJSON {
			printJSON(stdout, res.Body)
		} else {
			printReport(stdout, &rep)
		}
		if !rep.OK() {
			return fail("%d line(s) rejected", rep.Rejected)
		}
		return exitOK
	}
	f, err := os.Open(files[0])
	if err != nil {
		return fail("%v", err)
	}
	defer f.Close()
	limitImportMemory(*memLimit)

	openCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	d, err := db.Open(openCtx, *dsn, db.WithMigrate())
	cancel()
	if err != nil {
		return fail("database %s: %v", db.Redact(*dsn), err)
	}
	defer d.Close()
	// The stored rate cards, then any --ratecard for this run only (not stored; use
	// "commcredits ratecard import" to keep a card).
	st := store.New(d)
	reg := rating.NewRegistry()
	if _, err := st.LoadRateCards(ctx, reg); err != nil {
		return fail("rate cards: %v", err)
	}
	for _, c := range specs {
		data, err := os.ReadFile(c.path)
		if err != nil {
			return fail("rate card: %v", err)
		}
		if _, err := reg.Import(c.svc, c.cur, data, time.Now()); err != nil {
			return fail("rate card %s: %v", c.path, err)
		}
	}
	w := writer.New(st, writer.SystemClock{}, writer.Config{Env: &tenant.Env{Catalog: plans.Default(), Cards: reg}})
	defer w.Close()

	tty := false
	if sf, ok := stderr.(*os.File); ok {
		if fi, err := sf.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	every := 10 * time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	rep, err := ingest.Import(ctx, w, f, ingest.Options{InFlight: *inFlight, Checkpoint: *checkpoint, Resume: *resume,
		ProgressEvery: every, Progress: func(p ingest.Progress) {
			line := progressLine(p)
			switch {
			case tty:
				end := ""
				if p.Final {
					end = "\n"
				}
				fmt.Fprintf(stderr, "\r\x1b[K%s%s", line, end)
			default:
				fmt.Fprintln(stderr, line)
			}
		}})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printReport(stdout, &rep)
	}
	if err != nil {
		if *checkpoint != "" {
			return fail("%v (stopped; every line before byte %d is done: run again with --resume --checkpoint %s)", err, rep.End, *checkpoint)
		}
		return fail("%v (stopped at byte %d)", err, rep.End)
	}
	if !rep.OK() {
		fmt.Fprintf(stderr, "commcredits cdr import: %d line(s) rejected\n", rep.Rejected)
		return exitError
	}
	return exitOK
}

func progressLine(p ingest.Progress) string {
	s := fmt.Sprintf("cdr import: %d lines, %s", p.Lines, mib(p.Bytes))
	if p.Total > 0 {
		s += fmt.Sprintf(" of %s (%.1f%%)", mib(p.Total), 100*float64(p.Bytes)/float64(p.Total))
	}
	return s + fmt.Sprintf(", %.0f/s, %s", p.Rate, p.Elapsed.Round(100*time.Millisecond))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func printReport(w io.Writer, r *ingest.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "lines\t%d\n", r.Lines)
	fmt.Fprintf(tw, "booked\t%d\n", r.Booked)
	fmt.Fprintf(tw, "duplicates\t%d\n", r.Duplicates)
	fmt.Fprintf(tw, "free calls\t%d\n", r.FreeCalls)
	fmt.Fprintf(tw, "rejected\t%d\n", r.Rejected)
	state := "complete"
	if !r.Complete {
		state = "incomplete"
	}
	if r.Resumed {
		state += ", resumed"
	}
	fmt.Fprintf(tw, "bytes\t%d to %d (%s)\n", r.Start, r.End, state)
	rate := 0.0
	if s := r.Elapsed.Seconds(); s > 0 {
		rate = float64(r.Lines) / s
	}
	fmt.Fprintf(tw, "elapsed\t%s (%.0f lines/s)\n", r.Elapsed.Round(time.Millisecond), rate)
	_ = tw.Flush()
	if len(r.Charged) > 0 {
		fmt.Fprintln(w, "\ncharged:")
		fmt.Fprintln(tw, "tenant\tcurrency\tcdrs\tseconds\tamount")
		for _, t := range r.Charged {
			amount := fmt.Sprint(int64(t.Amount))
			if c, err := money.LookupCurrency(t.Currency); err == nil {
				amount = t.Amount.Format(c)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", t.Tenant, t.Currency, t.CDRs, t.Seconds, amount)
		}
		_ = tw.Flush()
	}
	if len(r.Review) > 0 {
		fmt.Fprintln(w, "\nfor review:")
		for _, v := range r.Review {
			kind := "booked"
			if v.FreeCall {
				kind = "FREECALL"
			}
			fmt.Fprintf(tw, "line %d\t%s\t%s\t%s\t%s\n", v.Line, v.Tenant, tenant.CallKey(v.CallID, v.Leg), kind, v.Reason)
		}
		_ = tw.Flush()
		if r.ReviewOmitted > 0 {
			fmt.Fprintf(w, "… and %d more\n", r.ReviewOmitted)
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\nrejected:")
		for _, e := range r.Errors {
			fmt.Fprintln(w, e.String())
		}
		if r.ErrorsOmitted > 0 {
			fmt.Fprintf(w, "… and %d more\n", r.ErrorsOmitted)
		}
	}
}

// defaultImportMemoryMB is cdr import's --memory-limit. An import's live heap is the rate
// cards, the tenants it books for and the CDRs in flight (75-80 MB for bench's workload of
// 1,000 tenants and a 100,000-prefix card, 8,192 CDRs in flight under a limit); left alone,
// Go lets the heap grow to twice that before collecting. With the limit it collects earlier
// once the heap nears it, and the Go part of the RSS sits at the limit: each MiB off it is a
// MiB off P4's peak. 160 MiB collected half as often as 128 MiB for 29 MB more RSS, 120 MiB
// saved 8 MB more for a fifth more collections (BENCHMARKS.md, session 5). A limit below
// what is live (many more tenants) costs CPU, not correctness.
const defaultImportMemoryMB = 128

// limitImportMemory sets the Go heap's soft limit to mb MiB, unless mb is 0 or GOMEMLIMIT
// is set (the operator's choice wins).
func limitImportMemory(mb int) {
	if mb > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(mb) << 20)
	}
}
