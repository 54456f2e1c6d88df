package report_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/report"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

var ctx = context.Background()

func TestMask(t *testing.T) {
	// Every country of domain §8, and one that masks nothing.
	want := map[string]int{"BE": 3, "CH": 4, "DE": 3, "DK": 3, "ES": 3, "FI": 3, "FR": 4, "IT": 3, "NL": 3, "NO": 3, "SE": 3}
	if len(report.MaskDigits) != len(want) {
		t.Fatalf("MaskDigits has %d countries, want %d", len(report.MaskDigits), len(want))
	}
	for cc, n := range want {
		t.Run(cc, func(t *testing.T) {
			if report.MaskDigits[cc] != n {
				t.Fatalf("MaskDigits[%s] = %d, want %d", cc, report.MaskDigits[cc], n)
			}
			got := report.Mask("4930123456", report.MaskDigits[cc])
			if want := "4930123456"[:10-n] + strings.Repeat("*", n); got != want {
				t.Fatalf("Mask = %q, want %q", got, want)
			}
		})
	}
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{{"12", 3, "**"}, {"123", 0, "123"}, {"", 3, ""}, {"1234", 4, "****"}} {
		if got := report.Mask(tc.in, tc.n); got != tc.want {
			t.Errorf("Mask(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// TestUsageExports checks the zip (file names, parameters, RFC 4180), the XLSX read back,
// filters and range errors on the globex scenario.
func TestUsageExports(t *testing.T) {
	withScenario(t, "globex.jsonl", func(t *testing.T, e *report.Engine, _ *store.SQL, now time.Time) {
		req := report.UsageRequest{Tenant: "globex", From: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), User: "anna"}
		var buf bytes.Buffer
		if _, err := e.WriteUsageZip(ctx, &buf, req); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		if len(zr.File) != 2 || zr.File[0].Name != "PSTN.calls.2026-10-20.csv" || zr.File[1].Name != "parameters.json" {
			t.Fatalf("zip files %v", names(zr))
		}
		csvData := read(t, zr.File[0])
		if !strings.Contains(string(csvData), "\r\n") || !strings.Contains(string(csvData), `"Berg, Anna ""the boss"""`) {
			t.Fatalf("not RFC 4180 (CRLF, quoted comma and quotes):\n%s", csvData)
		}
		recs, err := csv.NewReader(bytes.NewReader(csvData)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(recs[0], "|") != strings.Join(report.UsageColumns, "|") || len(recs[0]) != 20 {
			t.Fatalf("header %q", recs[0])
		}
		// anna's calls since 1 Sep: a1 a2 a3 a4 a5 a6
		if len(recs) != 7 || recs[1][1] != "a1" || recs[6][1] != "a6" {
			t.Fatalf("rows %q", recs)
		}
		for _, r := range recs[1:] {
			if r[4] != "anna" || r[6] != `Berg, Anna "the boss"` {
				t.Fatalf("filter or quoting: %q", r)
			}
			if _, err := time.Parse(time.RFC3339, r[13]); err != nil || !strings.HasSuffix(r[13], "Z") {
				t.Fatalf("start time %q not UTC ISO 8601", r[13])
			}
		}
		// bob's own number is not masked, external ones are (DE: 3 digits)
		if recs[3][12] != "+12025550150" || recs[1][12] != "+4989123***" || recs[1][7] != "+4930123456" {
			t.Fatalf("masking: callee %q %q, caller %q", recs[3][12], recs[1][12], recs[1][7])
		}
		var p report.UsageParameters
		if err := json.Unmarshal(read(t, zr.File[1]), &p); err != nil {
			t.Fatal(err)
		}
		if p.Tenant != "globex" || p.User != "anna" || !p.From.Equal(req.From) || !p.To.Equal(now) || p.Rows == nil || *p.Rows != 6 ||
			p.MaskedDigits != 3 || p.BillingCountry != "DE" {
			t.Fatalf("parameters %+v", p)
		}

		buf.Reset()
		if _, err := e.WriteUsageXLSX(ctx, &buf, req); err != nil {
			t.Fatal(err)
		}
		f, err := excelize.OpenReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := f.GetRows(report.UsageSheet)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(recs) {
			t.Fatalf("xlsx has %d rows, csv %d", len(rows), len(recs))
		}
		for i := range rows {
			if strings.Join(rows[i], "|") != strings.Join(recs[i], "|") {
				t.Fatalf("xlsx row %d %q, csv %q", i, rows[i], recs[i])
			}
		}
		prow, _ := f.GetRows(report.ParametersSheet)
		if len(prow) < 10 || prow[0][1] != "globex" || prow[9][1] != "6" {
			t.Fatalf("parameters sheet %q", prow)
		}
		_ = f.Close()
	})
}

func TestUsageFilters(t *testing.T) {
	withScenario(t, "globex.jsonl", func(t *testing.T, e *report.Engine, _ *store.SQL, now time.Time) {
		sep := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
		for _, tc := range []struct {
			name string
			req  report.UsageRequest
			want string // call ids
		}{
			{"all of the last year", report.UsageRequest{From: now.AddDate(-1, 0, 0)}, "a1 a2 b1 b2 a3 c1 a4 a5 c3 a6"},
			{"default 30 days", report.UsageRequest{}, "a5 c3 a6"},
			{"user", report.UsageRequest{From: sep, User: "carl"}, "c1 c3"},
			{"call type", report.UsageRequest{From: sep, CallType: "user_in"}, "b2"},
			{"capability", report.UsageRequest{From: sep, Capability: "MCOPSTN1"}, "b1 b2"},
			{"range", report.UsageRequest{From: sep, To: time.Date(2026, 9, 10, 11, 0, 0, 0, time.UTC)}, "a1 a2 b1 b2 a3 c1"},
			{"nothing", report.UsageRequest{From: sep, User: "nobody"}, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.req.Tenant = "globex"
				var ids []string
				if _, err := e.EachUsage(ctx, tc.req, func(l *report.UsageLine) error { ids = append(ids, l.CallID); return nil }); err != nil {
					t.Fatal(err)
				}
				if got := strings.Join(ids, " "); got != tc.want {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			})
		}
		// ten calls since 1 September; anna paid 0.05 + 0.06 + 0.06 + 0.10 + 1.44 + 0.24
		r, err := e.Usage(ctx, report.UsageRequest{Tenant: "globex", From: sep, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Lines) != 2 || !r.Truncated || r.Calls != 10 || *r.Parameters.Rows != 10 || r.Charge != "1.95" || r.Lines[1].CallID != "a2" {
			t.Fatalf("limited report: %d lines, truncated %v, calls %d, charge %s", len(r.Lines), r.Truncated, r.Calls, r.Charge)
		}
		if _, err := e.Usage(ctx, report.UsageRequest{Tenant: "globex", Limit: 10001}); !errors.Is(err, report.ErrInvalid) {
			t.Fatalf("limit 10001: %v", err)
		}
		days, err := e.UsageDaily(ctx, report.UsageRequest{Tenant: "globex", From: sep, To: time.Date(2026, 9, 11, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 10 || days[0].Day != "2026-09-01" || days[0].Calls != 5 || days[0].Charge != "0.17" ||
			days[1].Calls != 0 || days[9].Calls != 2 || days[9].Charge != "0.10" {
			t.Fatalf("days %+v", days)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	withScenario(t, "globex.jsonl", func(t *testing.T, e *report.Engine, _ *store.SQL, now time.Time) {
		for _, tc := range []struct {
			name  string
			req   report.UsageRequest
			want  error
			field string
		}{
			{"older than a year", report.UsageRequest{Tenant: "globex", From: now.AddDate(-1, 0, -1)}, report.ErrTooOld, "from"},
			{"to older than a year", report.UsageRequest{Tenant: "globex", To: now.AddDate(-1, 0, -3)}, report.ErrTooOld, "to"},
			{"from after to", report.UsageRequest{Tenant: "globex", From: now.AddDate(0, 0, -1), To: now.AddDate(0, 0, -2)}, report.ErrInvalid, "from"},
			{"call type", report.UsageRequest{Tenant: "globex", CallType: "user_sideways"}, report.ErrInvalid, "call_type"},
			{"capability", report.UsageRequest{Tenant: "globex", Capability: "MCOFAKE"}, report.ErrInvalid, "capability"},
			{"no tenant", report.UsageRequest{}, report.ErrInvalid, "tenant"},
			{"unknown tenant", report.UsageRequest{Tenant: "nope"}, report.ErrNotFound, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var buf bytes.Buffer
				_, err := e.WriteUsageZip(ctx, &buf, tc.req)
				if !errors.Is(err, tc.want) {
					t.Fatalf("err %v, want %v", err, tc.want)
				}
				var fe *report.FieldError
				if tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
					t.Fatalf("err %v does not name field %q", err, tc.field)
				}
				if buf.Len() != 0 {
					t.Fatalf("a refused request wrote %d bytes", buf.Len())
				}
			})
		}
		// exactly one year back is allowed
		if _, err := e.Usage(ctx, report.UsageRequest{Tenant: "globex", From: now.AddDate(-1, 0, 0)}); err != nil {
			t.Fatal(err)
		}
	})
}

func usd(s string) money.Amount {
	a, err := money.ParseAmount(s, money.MustCurrency("USD"))
	if err != nil {
		panic(err)
	}
	return a
}

// TestDryRun replays the dryrun scenario (100.00 opening, six 30.00 debits on 2–7 March,
// a historical 25.00 auto-recharge dropped) under settings with hand-computed outcomes.
func TestDryRun(t *testing.T) {
	withScenario(t, "dryrun.jsonl", func(t *testing.T, e *report.Engine, _ *store.SQL, now time.Time) {
		for _, tc := range []struct {
			name                       string
			s                          recharge.Settings
			recharges, refused, cut    int
			lowest, closing, recharged string
			caps                       string
		}{
			// 70, 40, 10, cut to 0, refused, refused
			{"off", recharge.Settings{}, 0, 2, 1, "0.00", "0.00", "0.00", ""},
			// 70, 40→90, 60, 30→80, 50, 20→70
			{"trigger 50 amount 50", recharge.Settings{Enabled: true, Trigger: usd("50"), Amount: usd("50")}, 3, 0, 0, "20.00", "70.00", "150.00", ""},
			// as above, but the cap allows one recharge in March: 70, 40→90, 60, 30 (cap), 0, refused
			{"monthly cap", recharge.Settings{Enabled: true, Trigger: usd("50"), Amount: usd("50"), MonthlyCap: usd("50")}, 1, 1, 0, "0.00", "0.00", "50.00", "2026-03"},
			// a trigger above the opening balance fires at once: 100→200, then 170, 140, 110→210,
			// 180, 150, 120 (not strictly below 120: no recharge)
			{"trigger 120 card", recharge.Settings{Enabled: true, Trigger: usd("120"), Amount: usd("100"), PaymentMethod: "pm_card_visa"}, 2, 0, 0, "100.00", "120.00", "200.00", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := tc.s
				f, err := e.Funding(ctx, report.FundingRequest{Tenant: "initech", Settings: &s})
				if err != nil {
					t.Fatal(err)
				}
				d := f.DryRun
				if d.OpeningBalance != "100.00" || d.Debits != 6 || d.Charged != "180.00" {
					t.Fatalf("replayed %+v", d)
				}
				caps := strings.Join(d.CapReachedMonths, ",")
				if d.Recharges != tc.recharges || d.RefusedCalls != tc.refused || d.CutShort != tc.cut || d.LowestBalance != tc.lowest ||
					d.ClosingBalance != tc.closing || d.Recharged != tc.recharged || caps != tc.caps || d.WouldRefuse != (tc.refused > 0) {
					t.Fatalf("got recharges %d refused %d cut %d lowest %s closing %s recharged %s caps %q",
						d.Recharges, d.RefusedCalls, d.CutShort, d.LowestBalance, d.ClosingBalance, d.Recharged, caps)
				}
				if len(d.RechargeLog) != tc.recharges {
					t.Fatalf("log %+v", d.RechargeLog)
				}
			})
		}
		// Below the minimum purchase: refused naming the field.
		_, err := e.Funding(ctx, report.FundingRequest{Tenant: "initech", Settings: &recharge.Settings{Enabled: true, Trigger: usd("10"), Amount: usd("5")}})
		var fe *report.FieldError
		if !errors.As(err, &fe) || fe.Field != "settings" || !strings.Contains(err.Error(), "Amount") {
			t.Fatalf("invalid settings: %v", err)
		}
		// Burn: 180.00 in the last 30 days (2–7 March lie within 1–31 March): 6.00 a day; the
		// balance is negative, so the runway is 0 days. p95 of the daily burn is 30.00: trigger
		// 3 × 30 = 90; amount 30 days × 6.00 = 180.
		f, err := e.Funding(ctx, report.FundingRequest{Tenant: "initech"})
		if err != nil {
			t.Fatal(err)
		}
		if f.Burn != "180.00" || f.DailyBurn != "6.00" || f.P95DailyBurn != "30.00" || f.RunwayDays == nil || *f.RunwayDays != 0 ||
			f.Suggestion == nil || f.Suggestion.Trigger != "90.00" || f.Suggestion.Amount != "180.00" || f.DryRun.Settings.Source != "suggested" {
			t.Fatalf("funding %+v %+v", f, f.Suggestion)
		}
	})
}

func TestNiceAndP95(t *testing.T) {
	c := money.MustCurrency("USD")
	for _, tc := range []struct{ in, want string }{{"0.30", "1.00"}, {"9.10", "10.00"}, {"87.20", "88.00"}, {"1234.56", "1300.00"}, {"100.00", "100.00"}, {"0", "0.00"}} {
		if got := report.Nice(usd(tc.in), c).Format(c); got != tc.want {
			t.Errorf("Nice(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	days := make([]money.Amount, 30)
	for i := range days {
		days[i] = money.Amount(i + 1) // 1..30: nearest rank 29 → 29
	}
	if got := report.P95(days); got != 29 {
		t.Fatalf("P95 = %d, want 29", got)
	}
	// runway with a positive balance: 22.76 at 1.68 per 30 days → 406 days (golden); here by hand
	if got := int64(2276) * 30 / 168; got != 406 {
		t.Fatalf("runway arithmetic %d", got)
	}
}

// Calls on one day of thirty: the 95th-percentile day is 0, and the trigger comes from the
// average day (3 × 30.00 / 30 = 3.00) instead of being 0, which would recharge only in debt.
func TestSuggestSparseDays(t *testing.T) {
	c := money.MustCurrency("USD")
	days := make([]money.Amount, 30)
	days[29] = usd("30.00")
	s := report.Suggest(days, usd("50.00"), c)
	if s == nil || s.Trigger != "3.00" || s.Amount != "50.00" {
		t.Fatalf("suggestion %+v, want trigger 3.00, amount 50.00", s)
	}
	if report.Suggest(make([]money.Amount, 30), usd("50.00"), c) != nil {
		t.Fatal("a suggestion without any burn")
	}
}

func names(z *zip.Reader) []string {
	var out []string
	for _, f := range z.File {
		out = append(out, f.Name)
	}
	return out
}

func read(t *testing.T, f *zip.File) []byte {
	t.Helper()
	r, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// Without settings in the request, the dry run uses the tenant's own enabled settings, set
// through the writer; the auto-recharges they fire now are history the replay drops.
func TestDryRunTenantSettings(t *testing.T) {
	withScenario(t, "dryrun.jsonl", func(t *testing.T, e *report.Engine, st *store.SQL, now time.Time) {
		w := writer.New(st, fixedClock(now), writer.Config{Env: &tenant.Env{Catalog: plans.Default(), Cards: rating.NewRegistry()}})
		defer w.Close()
		if _, err := w.Submit(ctx, "initech", "ar", tenant.SetAutoRecharge{Settings: recharge.Settings{Enabled: true,
			Trigger: usd("50"), Amount: usd("50"), PaymentMethod: "ea:agreement-1"}}); err != nil {
			t.Fatal(err)
		}
		f, err := e.Funding(ctx, report.FundingRequest{Tenant: "initech"})
		if err != nil {
			t.Fatal(err)
		}
		if f.Balance != "95.00" { // −55.00 + 3 × 50.00 credited at once by the agreement (−5, 45, 95)
			t.Fatalf("balance %s", f.Balance)
		}
		d := f.DryRun
		if d.Settings.Source != "tenant" || d.Settings.PaymentMethod != "ea:agreement-1" || d.Recharges != 3 || d.ClosingBalance != "70.00" || d.LowestBalance != "20.00" {
			t.Fatalf("dry run %+v", d)
		}
	})
}
