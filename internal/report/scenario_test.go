package report_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/pgtest"
	"github.com/commcredits/commcredits/internal/report"
	"github.com/commcredits/commcredits/internal/scenario"
	"github.com/commcredits/commcredits/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestMain stops the PostgreSQL cluster pgtest may have started for storetest.Each.
func TestMain(m *testing.M) { pgtest.Main(m) }

// withScenario runs a scenario file of testdata and calls fn with an engine over its final
// state, the clock at the scenario's end.
func withScenario(t *testing.T, name string, fn func(t *testing.T, e *report.Engine, st *store.SQL, now time.Time)) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ran := false
	_, err = scenario.Run(context.Background(), f, scenario.Options{Dir: "testdata", TempDir: t.TempDir(),
		Inspect: func(ctx context.Context, st *store.SQL, now time.Time) error {
			ran = true
			fn(t, &report.Engine{Store: st, Now: func() time.Time { return now }}, st, now)
			return nil
		}})
	if err != nil {
		t.Fatalf("scenario %s: %v", name, err)
	}
	if !ran {
		t.Fatal("Inspect not called")
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
