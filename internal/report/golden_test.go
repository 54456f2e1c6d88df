package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/report"
	"github.com/commcredits/commcredits/internal/store"
)

func asJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestGolden runs the globex scenario through the real engine and pins every report.
func TestGolden(t *testing.T) {
	ctx := context.Background()
	withScenario(t, "globex.jsonl", func(t *testing.T, e *report.Engine, _ *store.SQL, now time.Time) {
		from := now.AddDate(-1, 0, 0)
		var csv bytes.Buffer
		if _, err := e.WriteUsageCSV(ctx, &csv, report.UsageRequest{Tenant: "globex", From: from}); err != nil {
			t.Fatal(err)
		}
		golden(t, "globex.usage.csv", csv.Bytes())
		u, err := e.Usage(ctx, report.UsageRequest{Tenant: "globex", From: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "globex.usage.json", asJSON(t, u))
		p, err := e.Pools(ctx, report.PoolsRequest{Tenant: "globex", Month: "2026-09"})
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "globex.pools.json", asJSON(t, p))
		b, err := e.Blocked(ctx, report.BlockedRequest{Tenant: "globex"})
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "globex.blocked.json", asJSON(t, b))
		s, err := e.Statement(ctx, report.StatementRequest{Tenant: "globex"})
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "globex.statement.json", asJSON(t, s))
		csv.Reset()
		if err := e.WriteStatementCSV(ctx, &csv, report.StatementRequest{Tenant: "globex"}); err != nil {
			t.Fatal(err)
		}
		golden(t, "globex.statement.csv", csv.Bytes())
		// the streamed CSV holds exactly the statement's entries
		if want := len(s.Entries) + 1; bytes.Count(csv.Bytes(), []byte("\r\n")) != want {
			t.Fatalf("statement CSV has %d lines, want %d", bytes.Count(csv.Bytes(), []byte("\r\n")), want)
		}
		f, err := e.Funding(ctx, report.FundingRequest{Tenant: "globex"})
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "globex.funding.json", asJSON(t, f))
	})
}
