package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/scenario"
	"github.com/commcredits/commcredits/internal/store"
)

// The report command over the globex scenario's database (internal/report/testdata).
func TestReportCommand(t *testing.T) {
	f, err := os.Open("../../internal/report/testdata/globex.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tmp := t.TempDir()
	_, err = scenario.Run(context.Background(), f, scenario.Options{Dir: "../../internal/report/testdata", TempDir: tmp,
		Inspect: func(ctx context.Context, _ *store.SQL, now time.Time) error {
			dbs, _ := filepath.Glob(filepath.Join(tmp, "*", "scenario.db"))
			if len(dbs) != 1 {
				t.Fatalf("scenario databases %v", dbs)
			}
			h := hooks{getenv: func(string) string { return "" }, now: func() time.Time { return now }}
			rep := func(args ...string) (int, string, string) {
				var out, errOut bytes.Buffer
				code := runWith(ctx, append([]string{"report"}, append(args, "--db", "sqlite:"+dbs[0])...), &out, &errOut, h)
				return code, out.String(), errOut.String()
			}
			for _, tc := range []struct {
				args []string
				code int
				want []string // substrings of stdout (or of stderr when code != 0)
			}{
				{[]string{"usage", "--tenant", "globex", "--from", "2026-09-01", "--user", "anna"},
					0, []string{"Call ID", "+4989123***", "Berg, Anna \"the boss\"", "6 calls, 1.95 USD charged"}},
				{[]string{"usage", "--tenant", "globex", "--from", "2026-09-01", "--to", "2026-09-01", "--format", "csv"},
					0, []string{"UsageId,Call ID", "globex/a3/,a3", "\r\n"}},
				{[]string{"pools", "--tenant", "globex", "--month", "2026-09"}, 0, []string{"MCOPSTN5", "100.0"}},
				{[]string{"blocked", "--tenant", "globex"}, 0, []string{"Carl Diaz", "pool_exhausted", "unblocked"}},
				{[]string{"statement", "--tenant", "globex"}, 0, []string{"forfeiture", "-3.27", "expiring within 30 days: 2.76"}},
				{[]string{"runway", "--tenant", "globex", "--trigger", "27", "--amount", "50"}, 0, []string{"lasts about 406 days", "recharges", "1 (50.00)"}},
				{[]string{"usage", "--tenant", "globex", "--from", "2025-01-01"}, 1, []string{"more than one year"}},
				{[]string{"usage", "--tenant", "globex", "--call-type", "sideways"}, 1, []string{"call_type"}},
				{[]string{"pools", "--tenant", "globex", "--format", "zip"}, 2, []string{"usage only"}},
				{[]string{"usage"}, 2, []string{"--tenant is required"}},
				{[]string{"runway", "--tenant", "globex", "--amount", "5"}, 1, []string{"Amount", "minimum purchase"}},
			} {
				code, out, errOut := rep(tc.args...)
				got := out
				if tc.code != 0 {
					got = errOut
				}
				if code != tc.code {
					t.Errorf("%v: exit %d, want %d\n%s%s", tc.args, code, tc.code, out, errOut)
					continue
				}
				for _, w := range tc.want {
					if !strings.Contains(got, w) {
						t.Errorf("%v: output lacks %q:\n%s", tc.args, w, got)
					}
				}
			}
			zipPath := filepath.Join(tmp, "out.zip")
			if code, _, errOut := rep("usage", "--tenant", "globex", "--format", "zip", "--out", zipPath); code != 0 {
				t.Fatalf("zip: %s", errOut)
			}
			zr, err := zip.OpenReader(zipPath)
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			if len(zr.File) != 2 || zr.File[0].Name != "PSTN.calls.2026-10-20.csv" || zr.File[1].Name != "parameters.json" {
				t.Fatalf("zip holds %v", zr.File)
			}
			code, out, _ := rep("runway", "--tenant", "globex", "--format", "json")
			var fj struct {
				RunwayDays *int64 `json:"runway_days"`
			}
			if code != 0 || json.Unmarshal([]byte(out), &fj) != nil || fj.RunwayDays == nil || *fj.RunwayDays != 406 {
				t.Fatalf("runway json %d %s", code, out)
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
}
