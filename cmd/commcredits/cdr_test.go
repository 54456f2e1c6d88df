package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ingest"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/writer"
)

// `cdr import` books a file against the database: exit 0 and a summary when every line is
// good, the same again as duplicates, exit 1 with the rejected lines listed otherwise.
func TestCDRImportCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "cc.db")
	d, err := db.Open(ctx, dsn, db.WithMigrate())
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(d)
	w := writer.New(s, writer.SystemClock{}, writer.Config{})
	if err := s.CreateTenant(ctx, store.Tenant{ID: "t1", Name: "T1", Currency: money.MustCurrency("USD"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Submit(ctx, "t1", "u", directory.PutUser{User: directory.User{ID: "alice", DisplayName: "Alice",
		Kind: directory.KindUser, UsageLocation: "GB", Licences: []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Submit(ctx, "t1", "f", ledger.Fund{Amount: 10_000, Source: "purchase"}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	d.Close()

	card := filepath.Join(dir, "card.csv")
	if err := os.WriteFile(card, []byte("prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n"+
		"971,United Arab Emirates,mobile,0.30,0.10,30,6,2026-01-01,false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.csv")
	if err := os.WriteFile(good, []byte("tenant,call_id,call_type,principal,caller,callee,start,duration_seconds\n"+
		"t1,c1,user_out,alice,+442071838750,+971501234567,2026-03-05T10:00:00Z,60\n"+
		"t1,c2,user_out,alice,+442071838750,+971501234567,2026-03-05T11:00:00Z,60\n"+
		"t1,c3,user_out,alice,+442071838750,+81312345678,2026-03-05T12:00:00Z,60\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(dir, "good.checkpoint")
	var out, errOut bytes.Buffer
	args := []string{"cdr", "import", good, "--db", dsn, "--ratecard", "outbound:USD:" + card, "--checkpoint", cp, "--json"}
	if code := runWith(ctx, args, &out, &errOut, hooks{getenv: noEnv}); code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	var rep ingest.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if rep.Lines != 3 || rep.Booked != 2 || rep.FreeCalls != 1 || len(rep.Charged) != 1 || rep.Charged[0].Amount != 80 || !rep.Complete {
		t.Fatalf("report %+v", rep)
	}
	if c, err := ingest.ReadCheckpoint(cp); err != nil || !c.Complete {
		t.Fatalf("checkpoint %+v %v", c, err)
	}

	// Again, as a table, flags before the file: all duplicates.
	out.Reset()
	errOut.Reset()
	args = []string{"cdr", "import", "--db", dsn, "--ratecard", "outbound:USD:" + card, good}
	if code := runWith(ctx, args, &out, &errOut, hooks{getenv: noEnv}); code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "duplicates  3") || !strings.Contains(out.String(), "booked      0") {
		t.Fatalf("second import:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "cdr import: 3 lines") {
		t.Fatalf("no final progress line on stderr: %q", errOut.String())
	}

	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("tenant,call_id,call_type,principal,caller,callee,start,duration_seconds\n"+
		"t1,c4,user_out,alice,+442071838750,+971501234567,2026-03-05T10:00:00Z,60\n"+
		"t1,c5,user_out,alice,+442071838750,+971501234567,soon,60\n"+
		"t9,c6,user_out,alice,+442071838750,+971501234567,2026-03-05T10:00:00Z,60\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	args = []string{"cdr", "import", bad, "--db", dsn, "--ratecard", "outbound:USD:" + card, "--in-flight", "2"}
	if code := runWith(ctx, args, &out, &errOut, hooks{getenv: noEnv}); code != exitError {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"booked      1", "rejected    2", "line 3: start: ", `line 4: unknown tenant (tenant "t9", call "c6")`, "t1      USD       1     60       0.40"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	for _, args := range [][]string{
		{"cdr"},
		{"cdr", "import"},
		{"cdr", "import", good, "--resume"},
		{"cdr", "import", good, "--ratecard", "outbound:USD"},
		{"cdr", "import", good, "--ratecard", "inbound:USD:" + card},
	} {
		if code := runWith(ctx, args, &out, &errOut, hooks{getenv: noEnv}); code != exitUsage {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestLimitImportMemory(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	for _, tc := range []struct {
		env  string
		mb   int
		want int64
	}{
		{"", 160, 160 << 20},
		{"", 0, 1 << 40},       // none: what was set before stays
		{"1GiB", 160, 1 << 40}, // the operator's GOMEMLIMIT wins
		{"", -5, 1 << 40},
	} {
		debug.SetMemoryLimit(1 << 40)
		t.Setenv("GOMEMLIMIT", tc.env)
		limitImportMemory(tc.mb)
		if got := debug.SetMemoryLimit(-1); got != tc.want {
			t.Fatalf("GOMEMLIMIT=%q, --memory-limit %d: limit %d, want %d", tc.env, tc.mb, got, tc.want)
		}
	}
}
