package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/ingest"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// checkTotals compares the report's totals with the database: per tenant, what the report
// says was charged equals the usage rows' charges and the ledger's charge entries.
func checkTotals(t *testing.T, rep ingest.Report, st map[string]state) {
	t.Helper()
	byTenant := map[string]money.Amount{}
	for _, tot := range rep.Charged {
		if tot.Currency != "USD" {
			t.Fatalf("total in %q: %+v", tot.Currency, tot)
		}
		byTenant[tot.Tenant] += tot.Amount
	}
	for id, s := range st {
		if byTenant[id] != s.UsageSum || s.UsageSum != s.ChargeSum || s.ChargeSum != s.Charged {
			t.Errorf("%s: report %d, usage rows %d, ledger entries %d, account total %d", id, byTenant[id], s.UsageSum, s.ChargeSum, s.Charged)
		}
	}
}

// A few thousand CDRs over several tenants, out of order: every one booked once, totals equal
// the usage rows and the ledger; importing the file again books nothing new.
func TestImportCSV(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		w, ids := setup(t, s, 5, 1_000_000)
		cdrs, free := genCDRs(3000, ids, 1)
		data := csvOf(t, cdrs)
		var progress []ingest.Progress
		var pmu sync.Mutex
		rep, err := ingest.Import(bg, w, bytes.NewReader(data), ingest.Options{InFlight: 256, Size: int64(len(data)),
			ProgressEvery: time.Millisecond, Progress: func(p ingest.Progress) {
				pmu.Lock()
				progress = append(progress, p)
				pmu.Unlock()
			}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Lines != 3000 || rep.Booked != int64(3000-free) || rep.FreeCalls != int64(free) || rep.Duplicates != 0 ||
			rep.Rejected != 0 || !rep.Complete || rep.End != int64(len(data)) {
			t.Fatalf("report: %+v", rep)
		}
		if len(rep.Review) != free || rep.Review[0].Line != 2 || rep.Review[0].Reason != "no_rate" || !rep.Review[0].FreeCall {
			t.Fatalf("review: %d listed, first %+v", len(rep.Review), rep.Review[0])
		}
		st := dbState(t, s, ids)
		checkTotals(t, rep, st)
		rows := 0
		for _, c := range cdrs {
			if c.Duration > 0 {
				rows++
			}
		}
		got, freeRows := 0, 0
		for _, s := range st {
			got += s.UsageRows
			freeRows += s.FreeRows
			if s.PoolSeconds == 0 || s.ChargeSum <= 0 {
				t.Errorf("a tenant without pool use or charges: %+v", s)
			}
		}
		if got != rows || freeRows == 0 || freeRows > free {
			t.Fatalf("%d usage rows (%d FREECALL), want %d", got, freeRows, rows)
		}
		last := progress[len(progress)-1]
		if !last.Final || last.Lines != 3000 || last.Bytes != int64(len(data)) || last.Durable != int64(len(data)) || last.Total != int64(len(data)) {
			t.Fatalf("last progress %+v", last)
		}

		again, err := ingest.Import(bg, w, bytes.NewReader(data), ingest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if again.Lines != 3000 || again.Duplicates != 3000 || again.Booked+again.FreeCalls+again.Rejected != 0 || len(again.Charged) != 0 {
			t.Fatalf("second import: %+v", again)
		}
		if st2 := dbState(t, s, ids); fmt.Sprint(st2) != fmt.Sprint(st) {
			t.Fatalf("second import changed the state:\n%v\n%v", st, st2)
		}
	})
}

// Bad lines are reported with their line number and field; the good ones are booked.
func TestImportBadLines(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		w, ids := setup(t, s, 1, 10_000)
		csv := "tenant,call_id,call_type,principal,caller,callee,start,duration_seconds\n" +
			"t00,c1,user_out,alice,+442071838750,+971501234567,2026-03-05T10:00:00Z,60\n" + // 2
			"t00,c2,user_sideways,alice,+442071838750,+971501234567,2026-03-05T10:00:00Z,60\n" + // 3
			"# a comment\n" + // 4
			"t00,c3,user_out,alice,+442071838750,+971501234567,yesterday,60\n" + // 5
			"\n" + // 6
			"t00,c4,user_out,alice\n" + // 7
			"nobody,c5,user_out,alice,+442071838750,+971501234567,2026-03-05T10:00:00Z,60\n" + // 8
			"t00,\"c\n6\",user_out,alice,+442071838750,+971501234567,2026-03-05T10:00:00Z,60\n" + // 9-10
			"t00,c7,user_out,alice,+442071838750,+971501234567,2026-03-05T10:00:00Z,-1\n" + // 11
			"t00,c8,user_out,alice,+442071838750,+971501234567,2026-03-05T10:00:00Z,60\n" // 12
		rep, err := ingest.Import(bg, w, strings.NewReader(csv), ingest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range rep.Errors {
			got = append(got, fmt.Sprintf("%d %s", e.Line, e.Field))
		}
		want := "3 call_type; 5 start; 7 ; 8 ; 9 call_id; 11 duration_seconds"
		if strings.Join(got, "; ") != want || rep.Rejected != 6 || rep.Booked != 2 || rep.Lines != 8 || rep.OK() {
			t.Fatalf("errors %q, want %q; report %+v", strings.Join(got, "; "), want, rep)
		}
		if e := rep.Errors[3]; e.Tenant != "nobody" || e.Msg != "unknown tenant" {
			t.Fatalf("unknown tenant: %+v", e)
		}
		if len(rep.Charged) != 1 || rep.Charged[0].Amount != 80 || rep.Charged[0].CDRs != 2 {
			t.Fatalf("charged %+v", rep.Charged)
		}
		checkTotals(t, rep, dbState(t, s, ids))
	})
}

// CDRs with later start times first, across months, all book at their own start's prices.
func TestOutOfOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		w, ids := setup(t, s, 1, 10_000)
		csv := "tenant,call_id,call_type,principal,caller,callee,start,duration_seconds\n" +
			"t00,late,user_out,alice,+442071838750,+971501234567,2026-03-28T10:00:00Z,60\n" +
			"t00,mid,user_out,bob,+12025550100,+12125550199,2026-03-15T10:00:00Z,125\n" +
			"t00,early,user_out,alice,+442071838750,+971501234567,2026-02-02T10:00:00Z,60\n" +
			"t00,earlier,user_out,bob,+12025550100,+12125550199,2026-02-01T10:00:00Z,30\n"
		rep, err := ingest.Import(bg, w, strings.NewReader(csv), ingest.Options{InFlight: 1})
		if err != nil || rep.Booked != 4 || len(rep.Charged) != 1 || rep.Charged[0].Amount != 80 {
			t.Fatalf("%+v %v", rep, err)
		}
		st := dbState(t, s, ids)["t00"]
		if st.UsageRows != 4 || st.PoolSeconds != 155 || st.Balance != 10_000-80 {
			t.Fatalf("state %+v", st)
		}
	})
}

// A CDR that cannot be priced is booked as FREECALL, charged nothing, and listed.
func TestFreeCall(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		w, ids := setup(t, s, 1, 10_000)
		csv := "tenant,call_id,call_type,principal,caller,callee,start,duration_seconds\n" +
			"t00,jp,user_out,alice,+442071838750,+81312345678,2026-03-05T10:00:00Z,60\n" +
			"t00,ghost,user_out,carol,+442071838750,+971501234567,2026-03-05T10:00:00Z,60\n"
		rep, err := ingest.Import(bg, w, strings.NewReader(csv), ingest.Options{})
		if err != nil || rep.FreeCalls != 2 || rep.Booked != 0 || !rep.OK() || len(rep.Charged) != 0 {
			t.Fatalf("%+v %v", rep, err)
		}
		want := []ingest.Review{{Line: 2, Tenant: "t00", CallID: "jp", FreeCall: true, Reason: "no_rate"},
			{Line: 3, Tenant: "t00", CallID: "ghost", FreeCall: true, Reason: "unknown_principal"}}
		if fmt.Sprint(rep.Review) != fmt.Sprint(want) {
			t.Fatalf("review %+v", rep.Review)
		}
		st := dbState(t, s, ids)["t00"]
		if st.UsageRows != 2 || st.FreeRows != 2 || st.UsageSum != 0 || st.Balance != 10_000 {
			t.Fatalf("state %+v", st)
		}
	})
}

// cancelAfter cancels the import's context once n CDRs were submitted.
type cancelAfter struct {
	w      *writer.Writer
	n      atomic.Int64
	after  int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Submit(ctx context.Context, id, key string, cmd tenant.Command) (writer.Result, error) {
	if c.n.Add(1) == c.after {
		c.cancel()
	}
	return c.w.Submit(ctx, id, key, cmd)
}

// An import cancelled half way and resumed from its checkpoint ends in the same state as a
// clean import of the file in one go: nothing charged twice, nothing missing; bad lines after
// the checkpoint keep their file line numbers.
func TestResume(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			// Ten tenants, so that no Calling Plan pool runs out: which calls a pool pays when it
			// runs out depends on the order they arrive in, and concurrent submission does not
			// keep the file's order (docs/cdr.md).
			names := make([]string, 10)
			for i := range names {
				names[i] = fmt.Sprintf("t%02d", i)
			}
			cdrs, _ := genCDRs(4000, names, 2)
			// Bad lines spread through the file, one of them over two lines.
			var b bytes.Buffer
			b.Write(csvOf(t, cdrs[:1000]))
			b.WriteString("t00,bad-1,,user_out,alice,,,,yesterday,,60\n")
			body := csvOf(t, cdrs[1000:3500])
			b.Write(body[bytes.IndexByte(body, '\n')+1:])
			b.WriteString("t01,\"bad\n2\",,user_out,alice,,,,2026-03-02T00:00:00Z,,60\n")
			body = csvOf(t, cdrs[3500:])
			b.Write(body[bytes.IndexByte(body, '\n')+1:])
			data := b.Bytes()
			badLines := []int{1002, 3503}
			dir := t.TempDir()
			path := filepath.Join(dir, "cdrs.csv")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			cp := filepath.Join(dir, "cdrs.checkpoint")

			// The clean import.
			sClean := storetest.Open(t, e.DSN(t))
			wClean, ids := setup(t, sClean, 10, 1_000_000)
			clean, err := ingest.Import(bg, wClean, bytes.NewReader(data), ingest.Options{})
			if err != nil || clean.Rejected != 2 || clean.Lines != 4002 {
				t.Fatalf("clean: %+v %v", clean, err)
			}

			s := storetest.Open(t, e.DSN(t))
			w, _ := setup(t, s, 10, 1_000_000)
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			first, err := ingest.Import(ctx, &cancelAfter{w: w, after: 2500, cancel: cancel}, f, ingest.Options{InFlight: 64, Checkpoint: cp})
			f.Close()
			if !errors.Is(err, context.Canceled) || first.Complete {
				t.Fatalf("cancelled import: %v %+v", err, first)
			}
			c, err := ingest.ReadCheckpoint(cp)
			if err != nil || c.Complete || c.Offset != first.End || c.Offset <= c.HeaderBytes || c.Offset >= int64(len(data)) ||
				c.Size != int64(len(data)) || (c.Offset > 0 && data[c.Offset-1] != '\n') {
				t.Fatalf("checkpoint %+v %v (file of %d bytes)", c, err, len(data))
			}
			if first.Lines < 1000 || first.Lines > 2600 {
				t.Fatalf("first run finished %d lines", first.Lines)
			}

			f, err = os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			second, err := ingest.Import(bg, w, f, ingest.Options{InFlight: 64, Checkpoint: cp, Resume: true})
			if err != nil || !second.Complete || !second.Resumed || second.Start != c.Offset || second.End != int64(len(data)) {
				t.Fatalf("resumed: %+v %v", second, err)
			}
			// Every line is accounted for between the runs. Two kinds are sent again and found
			// duplicate: those in flight at the cancel (committed, not acknowledged), and those
			// the first run acknowledged past its checkpoint (the writer's shards commit out of
			// order on PostgreSQL): the latter are counted in both reports.
			over := first.Lines + second.Lines - 4002
			if over < 0 || over > second.Duplicates {
				t.Fatalf("lines %d + %d with %d duplicates, want 4002", first.Lines, second.Lines, second.Duplicates)
			}
			if first.Booked+first.FreeCalls+second.Booked+second.FreeCalls+second.Duplicates-over != 4000 {
				t.Fatalf("booked %d+%d, free %d+%d, duplicates %d, %d lines past the checkpoint", first.Booked, second.Booked,
					first.FreeCalls, second.FreeCalls, second.Duplicates, over)
			}
			var rejected []int
			for _, e := range append(first.Errors, second.Errors...) {
				rejected = append(rejected, e.Line)
			}
			if fmt.Sprint(rejected) != fmt.Sprint(badLines) {
				t.Fatalf("rejected lines %v, want %v", rejected, badLines)
			}
			if c, err := ingest.ReadCheckpoint(cp); err != nil || !c.Complete || c.Offset != int64(len(data)) {
				t.Fatalf("final checkpoint %+v %v", c, err)
			}
			want := dbState(t, sClean, ids)
			for id, st := range want {
				if st.PoolSeconds == 0 || st.PoolSeconds >= 180000 {
					t.Fatalf("%s: pool seconds %d: want some use, the pool not exhausted", id, st.PoolSeconds)
				}
			}
			if got := dbState(t, s, ids); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("resumed state differs from a clean import:\n got %v\nwant %v", got, want)
			}

			// Resuming a complete import sends nothing.
			if _, err := f.Seek(0, 0); err != nil {
				t.Fatal(err)
			}
			third, err := ingest.Import(bg, w, f, ingest.Options{Checkpoint: cp, Resume: true})
			if err != nil || third.Lines != 0 || !third.Complete {
				t.Fatalf("resume of a complete import: %+v %v", third, err)
			}
		})
	}
}

// fakeWriter acknowledges records after a random short delay, so they finish out of order,
// and remembers which call ids it acknowledged.
type fakeWriter struct {
	mu    sync.Mutex
	acked map[string]bool
	n     atomic.Int64
}

func (f *fakeWriter) Submit(ctx context.Context, id, key string, cmd tenant.Command) (writer.Result, error) {
	c := cmd.(tenant.PostCDR).CDR
	time.Sleep(time.Duration(f.n.Add(7919)%5000) * time.Microsecond)
	f.mu.Lock()
	f.acked[c.CallID] = true
	f.mu.Unlock()
	return writer.Result{Priced: &charging.Priced{CDR: c,
		Settlement: charging.Settlement{Charge: 1, Usage: charging.UsageRow{Currency: "USD"}}}}, nil
}

// The durable offset only passes a record once it and every record before it are
// acknowledged, however out of order they finish.
func TestLowWaterMark(t *testing.T) {
	cdrs, _ := genCDRs(5000, []string{"t00"}, 3)
	data := csvOf(t, cdrs)
	// ends[i] is the offset after record i.
	var ends []int64
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, int64(i+1))
		}
	}
	ends = ends[1:]
	fw := &fakeWriter{acked: map[string]bool{}}
	var checks, moves atomic.Int64
	var last atomic.Int64
	var bad atomic.Value
	rep, err := ingest.Import(bg, fw, bytes.NewReader(data), ingest.Options{InFlight: 100, ProgressEvery: time.Millisecond,
		Progress: func(p ingest.Progress) {
			fw.mu.Lock()
			defer fw.mu.Unlock()
			for i, end := range ends {
				if end > p.Durable {
					break
				}
				if !fw.acked[cdrs[i].CallID] {
					bad.Store(fmt.Sprintf("durable %d passes record %d (ends %d), not acknowledged", p.Durable, i, end))
				}
			}
			if p.Durable != last.Swap(p.Durable) {
				moves.Add(1)
			}
			checks.Add(1)
		}})
	if err != nil || rep.Booked != 5000 || rep.Charged[0].Amount != 5000 {
		t.Fatalf("%+v %v", rep, err)
	}
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	if checks.Load() < 5 || moves.Load() < 3 {
		t.Fatalf("progress checked %d times, durable moved %d times", checks.Load(), moves.Load())
	}
}

// A JSON batch: good records booked, bad ones listed by position and field.
func TestImportJSON(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		w, ids := setup(t, s, 2, 10_000)
		js := `{"tenant":"t00","call_id":"a","call_type":"user_out","principal":"alice","caller":"+442071838750","callee":"+971501234567","start":"2026-03-05T10:00:00Z","duration_seconds":60}
{"tenant":"t01","call_id":"b","call_type":"user_out","principal":"alice","caller":"+442071838750","callee":"+971501234567","start":"2026-03-05T10:00:00Z","duration_seconds":-5}
{"tenant":"t01","call_id":"c","call_type":"user_out","principal":"alice","caller":"+442071838750","callee":"+81312345678","start":"2026-03-05T10:00:00Z","duration_seconds":60}
{"tenant":"t00","call_id":"a","call_type":"user_out","principal":"alice","caller":"+442071838750","callee":"+971501234567","start":"2026-03-05T10:00:00Z","duration_seconds":60}
{"tenant":"t01","call_id":"d","call_type":"user_out","principal":"alice","callee":"+971501234567","start":"2026-03-05T10:00:00Z","duration_seconds":60,"colour":"red"}
`
		rep, err := ingest.ImportJSON(bg, w, []byte(js), ingest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range rep.Errors {
			got = append(got, e.String())
		}
		if rep.Lines != 5 || rep.Booked != 1 || rep.FreeCalls != 1 || rep.Duplicates != 1 || rep.Rejected != 2 ||
			len(got) != 2 || !strings.HasPrefix(got[0], "line 2: duration_seconds: ") || got[1] != "line 5: colour: unknown field" {
			t.Fatalf("%+v\n%q", rep, got)
		}
		if len(rep.Review) != 1 || rep.Review[0].Line != 3 {
			t.Fatalf("review %+v", rep.Review)
		}
		checkTotals(t, rep, dbState(t, s, ids))

		// As an array, broken at the end: the records before the break are booked.
		arr := "[" + strings.ReplaceAll(strings.TrimSpace(js), "\n", ",") + ", {"
		rep, err = ingest.ImportJSON(bg, w, []byte(arr), ingest.Options{})
		if !errors.Is(err, charging.ErrCDRSource) || rep.Lines != 5 || rep.Duplicates != 3 || rep.Rejected != 2 {
			t.Fatalf("broken array: %+v %v", rep, err)
		}
	})
}

// WriteWorkloadCSV writes, chunk by chunk, exactly the records of WorkloadCDRs.
func TestWriteWorkloadCSV(t *testing.T) {
	for _, n := range []int{1, 4096, 4097, 10000} {
		var got bytes.Buffer
		if err := ingest.WriteWorkloadCSV(&got, n, []string{"a", "b", "c"}, "p", 7); err != nil {
			t.Fatal(err)
		}
		want := csvOf(t, ingest.WorkloadCDRs(n, []string{"a", "b", "c"}, "p", 7))
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("n=%d: %d bytes, want %d", n, got.Len(), len(want))
		}
	}
}
