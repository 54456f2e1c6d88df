package rest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/report"
)

type reportIn struct {
	TenantPath
	PageQuery
}

// storeReport registers a read-only report whose rows the store returns in a stable order;
// the cursor is the position after the last row returned.
func storeReport[T any](a *API, id, p, summary string, rows func(ctx context.Context, tenantID string) ([]T, error)) {
	huma.Register(a, a.op(id, http.MethodGet, p, summary, accRead, "reports"),
		func(ctx context.Context, in *reportIn) (*listOut[T], error) {
			if _, err := a.svc.Store.Tenant(ctx, in.Tenant); err != nil {
				return nil, problem(err)
			}
			all, err := rows(ctx, in.Tenant)
			if err != nil {
				return nil, problem(err)
			}
			start, err := position(in.Cursor)
			if err != nil {
				return nil, err
			}
			out := &listOut[T]{}
			out.Body.Items, out.Body.NextCursor = positioned(all, start, in.limit())
			return out, nil
		})
}

// errPageFull stops a row stream once a page has its lines.
var errPageFull = errors.New("page full")

// position decodes a positional cursor ("" is the start).
func position(cursor string) (int, error) {
	if cursor == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(decodeCursor(cursor))
	if err != nil || n < 0 {
		return 0, huma.Error400BadRequest("bad cursor", &huma.ErrorDetail{Location: "query.cursor", Value: cursor})
	}
	return n, nil
}

// when reads a query time (report.ParseTime, in UTC).
func when(loc, s string, endOfDay bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := report.ParseTime(s, endOfDay)
	if err != nil {
		return time.Time{}, problem(badField(loc, s, "%v", err))
	}
	// Year 1 would read as "not given" (the zero time) and pick the default range.
	if t.Year() < 1970 {
		return time.Time{}, problem(badField(loc, s, "before 1970"))
	}
	return t.UTC(), nil
}

// RangeQuery is the date range of a report.
type RangeQuery struct {
	From string `query:"from" maxLength:"40" doc:"start, inclusive: RFC 3339 or YYYY-MM-DD (UTC midnight)"`
	To   string `query:"to" maxLength:"40" doc:"end, exclusive: RFC 3339, or YYYY-MM-DD which includes that day; default now"`
}

func (q RangeQuery) times() (from, to time.Time, err error) {
	if from, err = when("query.from", q.From, false); err != nil {
		return
	}
	to, err = when("query.to", q.To, true)
	return
}

// UsageQuery filters the usage report and its exports.
type UsageQuery struct {
	RangeQuery
	User       string `query:"user" maxLength:"128" doc:"user or resource account id"`
	CallType   string `query:"call_type" maxLength:"40" doc:"user_out, conf_in, … (domain §4)"`
	Capability string `query:"capability" maxLength:"40" doc:"licence code that paid, or FREECALL"`
}

func (q UsageQuery) request(tenantID string) (report.UsageRequest, error) {
	from, to, err := q.times()
	return report.UsageRequest{Tenant: tenantID, From: from, To: to, User: q.User, CallType: q.CallType, Capability: q.Capability}, err
}

// UsageOut is the usage report (docs/reports.md) with a page of its lines: lines start at
// the cursor; next_cursor is set while more follow.
type UsageOut struct {
	report.UsageReport
	NextCursor string `json:"next_cursor,omitempty"`
}

// Export formats of the usage report and their media types.
var exportTypes = map[string]string{
	"zip":  "application/zip",
	"csv":  "text/csv; charset=utf-8",
	"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

// exportFormat picks the format from the query, else from Accept, else zip (domain §8).
func exportFormat(format, accept string) (string, error) {
	if format != "" {
		if _, ok := exportTypes[format]; !ok {
			return "", problem(badField("query.format", format, "want zip, csv or xlsx"))
		}
		return format, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		for f, t := range exportTypes {
			if base, _, _ := strings.Cut(t, ";"); strings.EqualFold(mt, base) {
				return f, nil
			}
		}
	}
	return "zip", nil
}

// lazyWriter sets the response headers at the first byte, so that a request the engine
// refuses before writing anything still gets a problem document.
type lazyWriter struct {
	ctx     huma.Context
	headers [][2]string
	started bool
	w       io.Writer
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		for _, h := range l.headers {
			l.ctx.SetHeader(h[0], h[1])
		}
		l.ctx.SetStatus(http.StatusOK)
		l.w = l.ctx.BodyWriter()
	}
	return l.w.Write(p)
}

// stream answers a file written by write: headers at the first byte; an error before it is
// a problem document, one after it cuts the response short (the cause goes to the log).
func (a *API) stream(hctx huma.Context, name, contentType string, write func(w io.Writer) error) {
	lw := &lazyWriter{ctx: hctx, headers: [][2]string{{"Content-Type", contentType},
		{"Content-Disposition", `attachment; filename="` + name + `"`}}}
	err := write(lw)
	if err == nil && !lw.started {
		lw.Write(nil) // an empty file still gets its headers
		return
	}
	if err == nil {
		return
	}
	if !lw.started {
		writeProblem(a, hctx, problem(err))
		return
	}
	errorLog.Load().Error("api: export cut short", "file", name, "err", err)
}

type streamOut struct {
	Body func(ctx huma.Context)
}

func (a *API) engine() *report.Engine {
	e := &report.Engine{Store: a.svc.Store, Now: a.svc.Now}
	if a.svc.Env != nil {
		e.Catalog, e.Recharge, e.Ledger = a.svc.Env.Catalog, a.svc.Env.Recharge, a.svc.Env.Ledger
	}
	return e
}

func (a *API) reportRoutes() {
	st := a.svc.Store
	storeReport(a, "report-spend", "/v1/tenants/{tenant}/reports/spend", "Credit spend per user and month", st.ReportSpend)
	storeReport(a, "report-refusals", "/v1/tenants/{tenant}/reports/refusals", "Calls refused, with the reason", st.ReportRefusals)

	type usageIn struct {
		TenantPath
		UsageQuery
		PageQuery
	}
	huma.Register(a, a.op("report-usage", http.MethodGet, "/v1/tenants/{tenant}/reports/usage",
		"PSTN usage (domain §8): a page of calls, totals over the range and the per-day series", accRead, "reports"),
		func(ctx context.Context, in *usageIn) (*struct{ Body UsageOut }, error) {
			req, err := in.request(in.Tenant)
			if err != nil {
				return nil, err
			}
			start, err := position(in.Cursor)
			if err != nil {
				return nil, err
			}
			e := a.engine()
			req.Limit = in.limit()
			r, err := e.Usage(ctx, req)
			if err != nil {
				return nil, problem(err)
			}
			if start > 0 {
				// A later page: the lines after the cursor, read by streaming past the first
				// and no further than the page's end.
				lines, i := make([]report.UsageLine, 0, in.limit()), 0
				_, err := e.EachUsage(ctx, req, func(l *report.UsageLine) error {
					if len(lines) == in.limit() {
						return errPageFull
					}
					if i >= start {
						lines = append(lines, *l)
					}
					i++
					return nil
				})
				if err != nil && !errors.Is(err, errPageFull) {
					return nil, problem(err)
				}
				r.Lines = lines
			}
			out := UsageOut{UsageReport: *r}
			if int64(start+len(r.Lines)) < r.Calls {
				out.NextCursor = encodeCursor(strconv.Itoa(start + len(r.Lines)))
			}
			out.Truncated = out.NextCursor != ""
			return &struct{ Body UsageOut }{out}, nil
		})

	type exportIn struct {
		TenantPath
		UsageQuery
		Format string `query:"format" enum:"zip,csv,xlsx," doc:"zip (default), csv or xlsx; or send Accept: application/zip, text/csv or application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"`
		Accept string `header:"Accept"`
	}
	o := a.op("export-usage", http.MethodGet, "/v1/tenants/{tenant}/reports/usage/export",
		"PSTN usage export, streamed: zip of PSTN.calls.<UTC date>.csv and parameters.json, or the CSV, or XLSX", accRead, "reports")
	o.Responses = map[string]*huma.Response{"200": {Description: "the export file", Content: map[string]*huma.MediaType{
		exportTypes["zip"]: {}, "text/csv": {}, exportTypes["xlsx"]: {}}}}
	huma.Register(a, o, func(ctx context.Context, in *exportIn) (*streamOut, error) {
		format, err := exportFormat(in.Format, in.Accept)
		if err != nil {
			return nil, err
		}
		req, err := in.request(in.Tenant)
		if err != nil {
			return nil, err
		}
		e := a.engine()
		now := e.Now
		at := time.Now().UTC()
		if now != nil {
			at = now().UTC()
		}
		e.Now = func() time.Time { return at } // the file name and parameters.json agree
		name := strings.TrimSuffix(report.CSVName(at), ".csv") + "." + format
		return &streamOut{Body: func(hctx huma.Context) {
			a.stream(hctx, name, exportTypes[format], func(w io.Writer) error {
				var err error
				switch format {
				case "csv":
					_, err = e.WriteUsageCSV(ctx, w, req)
				case "xlsx":
					_, err = e.WriteUsageXLSX(ctx, w, req)
				default:
					_, err = e.WriteUsageZip(ctx, w, req)
				}
				return err
			})
		}}, nil
	})

	type poolsIn struct {
		TenantPath
		Month string `query:"month" maxLength:"7" doc:"YYYY-MM (UTC); default this month"`
	}
	huma.Register(a, a.op("report-pools", http.MethodGet, "/v1/tenants/{tenant}/reports/pools", "Minute pools of a month", accRead, "reports"),
		func(ctx context.Context, in *poolsIn) (*struct{ Body *report.PoolsReport }, error) {
			r, err := a.engine().Pools(ctx, report.PoolsRequest{Tenant: in.Tenant, Month: plans.Month(in.Month)})
			if err != nil {
				return nil, problem(err)
			}
			return &struct{ Body *report.PoolsReport }{r}, nil
		})

	type blockedIn struct {
		TenantPath
		RangeQuery
		User string `query:"user" maxLength:"128" doc:"one user's events"`
	}
	huma.Register(a, a.op("report-blocked-users", http.MethodGet, "/v1/tenants/{tenant}/reports/blocked-users",
		"Users blocked and unblocked (balance, pool, spend limit) and who is blocked now", accRead, "reports"),
		func(ctx context.Context, in *blockedIn) (*struct{ Body *report.BlockedReport }, error) {
			from, to, err := in.times()
			if err != nil {
				return nil, err
			}
			r, err := a.engine().Blocked(ctx, report.BlockedRequest{Tenant: in.Tenant, From: from, To: to, User: in.User})
			if err != nil {
				return nil, problem(err)
			}
			return &struct{ Body *report.BlockedReport }{r}, nil
		})

	type statementIn struct {
		TenantPath
		RangeQuery
	}
	huma.Register(a, a.op("report-statement", http.MethodGet, "/v1/tenants/{tenant}/reports/statement",
		"Credits statement: ledger entries with balances, lots, funds expiring soon, forfeitures", accRead, "reports"),
		func(ctx context.Context, in *statementIn) (*struct{ Body *report.Statement }, error) {
			from, to, err := in.times()
			if err != nil {
				return nil, err
			}
			r, err := a.engine().Statement(ctx, report.StatementRequest{Tenant: in.Tenant, From: from, To: to})
			if err != nil {
				return nil, problem(err)
			}
			return &struct{ Body *report.Statement }{r}, nil
		})
	o = a.op("export-statement", http.MethodGet, "/v1/tenants/{tenant}/reports/statement/export",
		"Credits statement entries as CSV, streamed", accRead, "reports")
	o.Responses = map[string]*huma.Response{"200": {Description: "the CSV file", Content: map[string]*huma.MediaType{"text/csv": {}}}}
	huma.Register(a, o, func(ctx context.Context, in *statementIn) (*streamOut, error) {
		from, to, err := in.times()
		if err != nil {
			return nil, err
		}
		e := a.engine()
		name := "statement." + in.Tenant + "." + time.Now().UTC().Format(time.DateOnly) + ".csv"
		return &streamOut{Body: func(hctx huma.Context) {
			a.stream(hctx, name, exportTypes["csv"], func(w io.Writer) error {
				return e.WriteStatementCSV(ctx, w, report.StatementRequest{Tenant: in.Tenant, From: from, To: to})
			})
		}}, nil
	})

	huma.Register(a, a.op("report-funding", http.MethodGet, "/v1/tenants/{tenant}/reports/funding",
		"Funding help: burn rate, runway, suggested auto-recharge and a dry run of the current (or suggested) settings", accRead, "reports"),
		func(ctx context.Context, in *TenantPath) (*struct{ Body *report.Funding }, error) {
			r, err := a.engine().Funding(ctx, report.FundingRequest{Tenant: in.Tenant})
			if err != nil {
				return nil, problem(err)
			}
			return &struct{ Body *report.Funding }{r}, nil
		})

	type dryRunIn struct {
		TenantPath
		IdemHeader
		Body struct {
			Trigger       string `json:"trigger" minLength:"1" maxLength:"32" doc:"recharge when the balance falls below this"`
			Amount        string `json:"amount" minLength:"1" maxLength:"32" doc:"added by each recharge"`
			MonthlyCap    string `json:"monthly_cap,omitempty" maxLength:"32" doc:"0 or empty: no cap"`
			PaymentMethod string `json:"payment_method,omitempty" maxLength:"200" doc:"pm_… or ea:…; default an agreement"`
		}
	}
	huma.Register(a, a.op("report-funding-dry-run", http.MethodPost, "/v1/tenants/{tenant}/reports/funding/dry-run",
		"Dry run of the given auto-recharge settings over the last 60 days (changes nothing)", accRead, "reports"),
		func(ctx context.Context, in *dryRunIn) (*struct{ Body *report.Funding }, error) {
			cur, err := a.currency(ctx, in.Tenant)
			if err != nil {
				return nil, err
			}
			s := recharge.Settings{Enabled: true, PaymentMethod: in.Body.PaymentMethod}
			for _, f := range []struct {
				loc, v string
				dst    *money.Amount
			}{{"body.trigger", in.Body.Trigger, &s.Trigger}, {"body.amount", in.Body.Amount, &s.Amount}, {"body.monthly_cap", in.Body.MonthlyCap, &s.MonthlyCap}} {
				if f.v == "" {
					continue
				}
				if *f.dst, err = amount(f.loc, f.v, cur); err != nil {
					return nil, problem(err)
				}
			}
			r, err := a.engine().Funding(ctx, report.FundingRequest{Tenant: in.Tenant, Settings: &s})
			if err != nil {
				return nil, dryRunProblem(err)
			}
			return &struct{ Body *report.Funding }{r}, nil
		})
}

// dryRunProblem names body fields: the settings of a dry run come in the body (a
// recharge.FieldError names them already).
func dryRunProblem(err error) error {
	p := problem(err)
	var rfe *recharge.FieldError
	if m, ok := p.(*huma.ErrorModel); ok && !errors.As(err, &rfe) {
		for _, d := range m.Errors {
			d.Location = strings.Replace(d.Location, "query.", "body.", 1)
		}
	}
	return p
}

// writeProblem writes err (from problem) as the response's problem document.
func writeProblem(a *API, hctx huma.Context, err error) {
	m, ok := err.(*huma.ErrorModel)
	if !ok {
		_ = huma.WriteErr(a, hctx, http.StatusInternalServerError, "internal error")
		return
	}
	errs := make([]error, len(m.Errors))
	for i, d := range m.Errors {
		errs[i] = d
	}
	_ = huma.WriteErr(a, hctx, m.Status, m.Detail, errs...)
}
