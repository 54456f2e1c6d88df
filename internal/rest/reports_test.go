package rest_test

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/commcredits/commcredits/internal/report"
	"github.com/commcredits/commcredits/internal/rest"
)

// usageHarness is a harness whose tenant ta has two priced calls an hour ago: alice's to
// the US and bob's to the UK.
func usageHarness(t *testing.T) *harness {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Format(time.RFC3339)
	sw := h.keys["ta"]["switch"]
	for _, c := range []struct{ id, who, to string }{{"u1", "alice", "+14155550100"}, {"u2", "bob", "+442079460001"}} {
		h.do("POST", "/v1/tenants/ta/cdrs", sw, map[string]any{"call_id": c.id, "call_type": "user_out", "principal": c.who,
			"callee": c.to, "start": start, "duration_seconds": 200}).want(200)
	}
	return h
}

func TestUsageReport(t *testing.T) {
	h := usageHarness(t)
	rr := h.keys["ta"]["reports_reader"]
	all := h.do("GET", "/v1/tenants/ta/reports/usage", rr, nil).want(200).json()
	if all["calls"] != float64(2) || len(all["lines"].([]any)) != 2 || all["next_cursor"] != nil || all["truncated"] != false {
		t.Fatalf("usage %v", all)
	}
	if !slices.Equal(toStrings(all["columns"]), report.UsageColumns) {
		t.Fatalf("columns %v", all["columns"])
	}
	// Pages of one line: the second page holds the other call, and the totals stay.
	p1 := h.do("GET", "/v1/tenants/ta/reports/usage?limit=1", rr, nil).want(200).json()
	p2 := h.do("GET", "/v1/tenants/ta/reports/usage?limit=1&cursor="+url.QueryEscape(p1["next_cursor"].(string)), rr, nil).want(200).json()
	l1, l2 := p1["lines"].([]any), p2["lines"].([]any)
	if len(l1) != 1 || len(l2) != 1 || p2["next_cursor"] != nil || p2["calls"] != float64(2) ||
		l1[0].(map[string]any)["call_id"] == l2[0].(map[string]any)["call_id"] {
		t.Fatalf("pages %v / %v", p1, p2)
	}
	if f := h.do("GET", "/v1/tenants/ta/reports/usage?user=alice", rr, nil).want(200).json(); f["calls"] != float64(1) ||
		f["lines"].([]any)[0].(map[string]any)["aad_object_id"] != "alice" {
		t.Fatalf("filtered %v", f)
	}

	before := h.snapshot("ta")
	old := time.Now().UTC().AddDate(-1, 0, -2).Format(time.DateOnly)
	for _, c := range []struct{ query, loc string }{
		{"from=yesterday", "query.from"},
		{"to=2026-02-30", "query.to"},
		{"from=0001-01-01T00:00:00Z", "query.from"},
		{"from=" + old, "query.from"},
		{"call_type=user_sideways", "query.call_type"},
		{"capability=NOPE", "query.capability"},
	} {
		for _, p := range []string{"/v1/tenants/ta/reports/usage?", "/v1/tenants/ta/reports/usage/export?"} {
			wantProblem(t, h.do("GET", p+c.query, rr, nil), 422, c.loc)
		}
	}
	wantProblem(t, h.do("GET", "/v1/tenants/ta/reports/usage/export?format=pdf", rr, nil), 422, "query.format")
	if after := h.snapshot("ta"); after != before {
		t.Fatal("a report request changed the tenant")
	}
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

func TestUsageExports(t *testing.T) {
	h := usageHarness(t)
	rr := h.keys["ta"]["reports_reader"]
	day := time.Now().UTC().Format(time.DateOnly)
	csvName := "PSTN.calls." + day + ".csv"
	for _, c := range []struct {
		name, query, accept, ctype, file string
	}{
		{"zip by default", "", "", "application/zip", "PSTN.calls." + day + ".zip"},
		{"csv by format", "format=csv", "", "text/csv; charset=utf-8", csvName},
		{"csv by Accept", "", "text/csv", "text/csv; charset=utf-8", csvName},
		{"xlsx by Accept", "", "application/json, application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "PSTN.calls." + day + ".xlsx"},
		{"format wins over Accept", "format=xlsx", "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "PSTN.calls." + day + ".xlsx"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			r := h.do("GET", "/v1/tenants/ta/reports/usage/export?"+c.query, rr, nil, "Accept", c.accept).want(200)
			if ct := r.header.Get("Content-Type"); ct != c.ctype {
				t.Fatalf("content type %q", ct)
			}
			if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="`+c.file+`"` {
				t.Fatalf("disposition %q", cd)
			}
			var rows [][]string
			switch {
			case strings.HasSuffix(c.file, ".zip"):
				zr, err := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body)))
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				files := map[string][]byte{}
				for _, f := range zr.File {
					names = append(names, f.Name)
					rc, err := f.Open()
					if err != nil {
						t.Fatal(err)
					}
					files[f.Name], _ = io.ReadAll(rc)
					rc.Close()
				}
				if !slices.Equal(names, []string{csvName, "parameters.json"}) {
					t.Fatalf("zip holds %v", names)
				}
				var p report.UsageParameters
				if err := json.Unmarshal(files["parameters.json"], &p); err != nil || p.Tenant != "ta" || p.Rows == nil || *p.Rows != 2 {
					t.Fatalf("parameters %s (%v)", files["parameters.json"], err)
				}
				rows = readCSV(t, files[csvName])
			case strings.HasSuffix(c.file, ".csv"):
				rows = readCSV(t, r.body)
			default:
				f, err := excelize.OpenReader(bytes.NewReader(r.body))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if rows, err = f.GetRows(report.UsageSheet); err != nil {
					t.Fatal(err)
				}
				params, err := f.GetRows(report.ParametersSheet)
				if err != nil || len(params) == 0 || params[0][0] != "tenant" || params[0][1] != "ta" {
					t.Fatalf("parameters sheet %v (%v)", params, err)
				}
			}
			if len(rows) != 3 || !slices.Equal(rows[0], report.UsageColumns) {
				t.Fatalf("rows %v", rows)
			}
			var users []string
			for _, row := range rows[1:] {
				users = append(users, row[4])
				if row[15] != "200" || row[18] != "USD" {
					t.Fatalf("row %v", row)
				}
			}
			slices.Sort(users)
			if !slices.Equal(users, []string{"alice", "bob"}) {
				t.Fatalf("users %v", users)
			}
		})
	}
	h.t = t
	// A filter narrows the export as it does the report.
	if rows := readCSV(t, h.do("GET", "/v1/tenants/ta/reports/usage/export?format=csv&user=bob", rr, nil).want(200).body); len(rows) != 2 || rows[1][4] != "bob" {
		t.Fatalf("bob's export %v", rows)
	}
	// The switch reads no reports; another tenant's key finds no tenant.
	h.do("GET", "/v1/tenants/ta/reports/usage/export", h.keys["ta"]["switch"], nil).want(403)
	h.do("GET", "/v1/tenants/ta/reports/usage/export", h.keys["tb"]["tenant_admin"], nil).want(404)
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	if len(b) > 0 && !bytes.Contains(b, []byte("\r\n")) {
		t.Fatal("CSV lines do not end in CRLF")
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestPoolsBlockedStatementFunding(t *testing.T) {
	h := usageHarness(t)
	rr := h.keys["ta"]["reports_reader"]
	month := time.Now().UTC().Format("2006-01")
	pools := h.do("GET", "/v1/tenants/ta/reports/pools?month="+month, rr, nil).want(200).json()
	if pools["month"] != month || len(pools["pools"].([]any)) == 0 {
		t.Fatalf("pools %v", pools)
	}
	wantProblem(t, h.do("GET", "/v1/tenants/ta/reports/pools?month=2026-13", rr, nil), 422, "query.month")

	blocked := h.do("GET", "/v1/tenants/ta/reports/blocked-users?user=alice", rr, nil).want(200).json()
	if _, ok := blocked["events"]; !ok {
		t.Fatalf("blocked %v", blocked)
	}
	wantProblem(t, h.do("GET", "/v1/tenants/ta/reports/blocked-users?to=soon", rr, nil), 422, "query.to")

	st := h.do("GET", "/v1/tenants/ta/reports/statement", rr, nil).want(200).json()
	entries := st["entries"].([]any)
	if len(entries) != 3 || st["funded"] != "100.00" || st["balance"] == "100.00" {
		t.Fatalf("statement %v", st)
	}
	exp := h.do("GET", "/v1/tenants/ta/reports/statement/export", rr, nil).want(200)
	if ct := exp.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	if cd := exp.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="statement.ta.`) {
		t.Fatalf("disposition %q", cd)
	}
	if rows := readCSV(t, exp.body); len(rows) != len(entries)+1 {
		t.Fatalf("statement CSV has %d rows for %d entries", len(rows), len(entries))
	}
	wantProblem(t, h.do("GET", "/v1/tenants/ta/reports/statement/export?from=x", rr, nil), 422, "query.from")

	f := h.do("GET", "/v1/tenants/ta/reports/funding", rr, nil).want(200).json()
	if f["burn"] == "0.00" || f["suggestion"] == nil || f["dry_run"] == nil || f["runway"] == "" {
		t.Fatalf("funding %v", f)
	}
	before := h.snapshot("ta")
	dry := h.do("POST", "/v1/tenants/ta/reports/funding/dry-run", rr, map[string]any{"trigger": "99.00", "amount": "50.00"}).want(200).json()
	settings := dry["dry_run"].(map[string]any)["settings"].(map[string]any)
	if settings["source"] != "request" || settings["trigger"] != "99.00" || settings["amount"] != "50.00" {
		t.Fatalf("dry run settings %v", settings)
	}
	if dry["dry_run"].(map[string]any)["recharges"].(float64) < 1 {
		t.Fatalf("a trigger above the balance fired no recharge: %v", dry["dry_run"])
	}
	wantProblem(t, h.do("POST", "/v1/tenants/ta/reports/funding/dry-run", rr, map[string]any{"trigger": "1.001", "amount": "50.00"}), 422, "body.trigger")
	wantProblem(t, h.do("POST", "/v1/tenants/ta/reports/funding/dry-run", rr, map[string]any{"trigger": "10.00"}), 422, "body.amount")
	if after := h.snapshot("ta"); after != before {
		t.Fatal("a dry run changed the tenant")
	}
}
