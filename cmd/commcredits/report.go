package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/report"
	"github.com/commcredits/commcredits/internal/store"
)

const reportUsage = `usage: commcredits report usage|pools|blocked|statement|runway --tenant ID [--db DSN] [flags]
  usage      PSTN usage, one row per call   [--from D] [--to D] [--user ID] [--call-type T] [--capability C]
  pools      minute pools of a month         [--month YYYY-MM]
  blocked    block and unblock events        [--from D] [--to D] [--user ID]
  statement  ledger entries, lots, expiring funds, forfeitures [--from D] [--to D]
  runway     burn rate, runway, suggested auto-recharge, dry run [--trigger X --amount Y [--cap Z] [--method M]]
  --format table|json|csv (all), zip|xlsx (usage); --out FILE (default stdout)
  Dates: RFC 3339 or YYYY-MM-DD (UTC midnight; a date-only --to includes that day).`

// cmdReport is `commcredits report KIND`: the reports of docs/reports.md.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	if remoteReport(args, h) {
		return cmdAPIReport(ctx, args, stdout, stderr, h)
	}
	kinds := map[string]bool{"usage": true, "pools": true, "blocked": true, "statement": true, "runway": true}
	if len(args) == 0 || !kinds[args[0]] {
		fmt.Fprintln(stderr, reportUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return exitOK
		}
		return exitUsage
	}
	kind := args[0]
	fs := newFlagSet("report "+kind, stderr)
	dsn := fs.String("db", envOr(h, envDB, db.DefaultDSN), "database DSN (env "+envDB+")")
	tenantID := fs.String("tenant", "", "tenant id (required)")
	format := fs.String("format", "table", "table, json, csv; zip or xlsx for usage")
	out := fs.String("out", "", "write to FILE instead of stdout")
	from := fs.String("from", "", "start of the range (RFC 3339 or YYYY-MM-DD)")
	to := fs.String("to", "", "end of the range, exclusive (a date-only value includes that day)")
	user := fs.String("user", "", "user or resource account id")
	callType := fs.String("call-type", "", "call type (user_out, conf_in, ...)")
	capability := fs.String("capability", "", "licence code that paid (MCOPSTNPP, MCOPSTN1, FREECALL, ...)")
	month := fs.String("month", "", "month YYYY-MM (pools; default this month)")
	trigger := fs.String("trigger", "", "dry run: recharge when the balance falls below this amount")
	amount := fs.String("amount", "", "dry run: recharge with this amount")
	capAmt := fs.String("cap", "", "dry run: monthly recharge cap (default none)")
	method := fs.String("method", "", "dry run: payment method (pm_... or ea:...; default an agreement)")
	limit := fs.Int("limit", 10000, "usage table/json: most rows shown")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "commcredits report %s: "+format+"\n", append([]any{kind}, a...)...)
		return code
	}
	if fs.NArg() != 0 {
		return fail(exitUsage, "unexpected argument %q", fs.Arg(0))
	}
	if *tenantID == "" {
		return fail(exitUsage, "--tenant is required")
	}
	switch f := *format; {
	case f == "table" || f == "json" || f == "csv":
	case (f == "zip" || f == "xlsx") && kind == "usage":
	default:
		return fail(exitUsage, "--format %q: want table, json or csv (zip and xlsx: usage only)", f)
	}
	fromT, err := parseWhen(*from, false)
	if err != nil {
		return fail(exitUsage, "--from: %v", err)
	}
	toT, err := parseWhen(*to, true)
	if err != nil {
		return fail(exitUsage, "--to: %v", err)
	}

	d, err := db.Open(ctx, *dsn, db.WithMigrate())
	if err != nil {
		return fail(exitError, "database %s: %v", db.Redact(*dsn), err)
	}
	defer d.Close()
	st := store.New(d)
	e := &report.Engine{Store: st, Now: h.now}

	w := stdout
	var file *os.File
	if *out != "" {
		if file, err = os.Create(*out); err != nil {
			return fail(exitError, "%v", err)
		}
		w = file
	}
	err = runReport(ctx, e, st, kind, *format, w, reportArgs{
		tenant: *tenantID, from: fromT, to: toT, user: *user, callType: *callType, capability: *capability,
		month: *month, trigger: *trigger, amount: *amount, cap: *capAmt, method: *method, limit: *limit,
	})
	if file != nil {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(*out) // a half-written export is worse than none
		}
	}
	if err != nil {
		return fail(exitError, "%v", err)
	}
	return exitOK
}

type reportArgs struct {
	tenant, user, callType, capability, month, trigger, amount, cap, method string
	from, to                                                                time.Time
	limit                                                                   int
}

// parseWhen reads --from or --to (report.ParseTime, in UTC).
func parseWhen(s string, endOfDay bool) (time.Time, error) {
	t, err := report.ParseTime(s, endOfDay)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: %v", s, err)
	}
	return t.UTC(), nil
}

func runReport(ctx context.Context, e *report.Engine, st *store.SQL, kind, format string, w io.Writer, a reportArgs) error {
	var v any
	var tables []report.Table
	var footer string // printed after the tables in table format
	switch kind {
	case "usage":
		req := report.UsageRequest{Tenant: a.tenant, From: a.from, To: a.to, User: a.user, CallType: a.callType, Capability: a.capability, Limit: a.limit}
		var err error
		switch format {
		case "csv":
			_, err = e.WriteUsageCSV(ctx, w, req)
			return err
		case "zip":
			_, err = e.WriteUsageZip(ctx, w, req)
			return err
		case "xlsx":
			_, err = e.WriteUsageXLSX(ctx, w, req)
			return err
		}
		r, err := e.Usage(ctx, req)
		if err != nil {
			return err
		}
		v, tables = r, []report.Table{r.Table()}
		footer = fmt.Sprintf("%d calls, %s %s charged, %s to %s", r.Calls, r.Charge, r.Currency,
			r.Parameters.From.Format(time.RFC3339), r.Parameters.To.Format(time.RFC3339))
		if r.Truncated {
			footer += fmt.Sprintf(" (first %d shown; use --format csv or zip for all)", len(r.Lines))
		}
	case "pools":
		r, err := e.Pools(ctx, report.PoolsRequest{Tenant: a.tenant, Month: plans.Month(a.month)})
		if err != nil {
			return err
		}
		v, tables = r, []report.Table{r.Table()}
	case "blocked":
		r, err := e.Blocked(ctx, report.BlockedRequest{Tenant: a.tenant, From: a.from, To: a.to, User: a.user})
		if err != nil {
			return err
		}
		v, tables = r, []report.Table{r.Table()}
	case "statement":
		req := report.StatementRequest{Tenant: a.tenant, From: a.from, To: a.to}
		if format == "csv" {
			return e.WriteStatementCSV(ctx, w, req)
		}
		r, err := e.Statement(ctx, req)
		if err != nil {
			return err
		}
		v, tables = r, []report.Table{r.Table()}
		if format == "table" {
			tables = append(tables, r.LotsTable())
		}
		footer = fmt.Sprintf("Balance %s %s (available %s, debt %s); expiring within 30 days: %s; forfeited in range: %s",
			r.Balance, r.Currency, r.Available, r.Debt, r.ExpiringSoonTotal, r.Forfeited)
	case "runway":
		req := report.FundingRequest{Tenant: a.tenant}
		if a.trigger != "" || a.amount != "" || a.cap != "" || a.method != "" {
			t, err := st.Tenant(ctx, a.tenant)
			if err != nil {
				return fmt.Errorf("tenant %q: %w", a.tenant, err)
			}
			s := recharge.Settings{Enabled: true, PaymentMethod: a.method}
			for _, f := range []struct {
				name, v string
				dst     *money.Amount
			}{{"--trigger", a.trigger, &s.Trigger}, {"--amount", a.amount, &s.Amount}, {"--cap", a.cap, &s.MonthlyCap}} {
				if f.v == "" {
					continue
				}
				if *f.dst, err = money.ParseAmount(f.v, t.Currency); err != nil {
					return fmt.Errorf("%s: %w", f.name, err)
				}
			}
			req.Settings = &s
		}
		r, err := e.Funding(ctx, req)
		if err != nil {
			return err
		}
		v, tables = r, []report.Table{r.Table()}
		footer = r.Runway
	}
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "csv":
		cw := csv.NewWriter(w)
		cw.UseCRLF = true
		_ = cw.Write(tables[0].Header)
		_ = cw.WriteAll(tables[0].Rows)
		return cw.Error()
	}
	for i, t := range tables {
		if i > 0 {
			fmt.Fprintln(w)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.Header, "\t"))
		for _, r := range t.Rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if footer != "" {
		fmt.Fprintf(w, "\n%s\n", footer)
	}
	return nil
}

// remoteReport: the API's report rows serve `report spend|refusals`, and any report asked
// of a server (--url, or COMMCREDITS_URL without --db); the report engine serves the rest.
func remoteReport(args []string, h hooks) bool {
	if len(args) > 0 && (args[0] == "spend" || args[0] == "refusals") {
		return true
	}
	url, dbFlag := h.getenv(envURL) != "", false
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case !strings.HasPrefix(a, "-"):
		case name == "url":
			url = true
		case name == "db":
			dbFlag = true
		}
	}
	return url && !dbFlag
}
