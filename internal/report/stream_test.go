package report_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/report"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
)

var day0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// seed stores n usage rows, one a minute from day0, for tenant "bulk".
func seed(t testing.TB, st *store.SQL, n int) {
	t.Helper()
	if err := st.CreateTenant(ctx, store.Tenant{ID: "bulk", Name: "Bulk", Currency: money.MustCurrency("EUR"), CreatedAt: day0}); err != nil {
		t.Fatal(err)
	}
	var s *tenant.State
	var v int64
	if err := st.WriteTx(ctx, func(tx store.Tx) (err error) { s, v, err = tx.LoadState(ctx, "bulk", day0); return }); err != nil {
		t.Fatal(err)
	}
	ch, err := directory.Apply(s.Dir, directory.SetBillingCountry{Country: "FR"}, directory.Env{})
	if err != nil {
		t.Fatal(err)
	}
	m := &store.Mutation{Account: s.Account, Version: v, At: day0, State: s, Dir: ch}
	for i := range n {
		at := day0.Add(time.Duration(i) * time.Minute)
		m.Usage = append(m.Usage, charging.UsageRow{Tenant: "bulk", CallID: fmt.Sprintf("call-%07d", i), UserID: "u1",
			DisplayName: "Zoë, \"ops\"", UserLocation: "FR", CallerID: "33612345678", DestinationNumber: "33198765432",
			CallType: "user_out", NumberType: "mobile", DestinationDialed: "France", Start: at, End: at.Add(42 * time.Second),
			DurationSeconds: 42, Charge: money.Amount(i % 97), Currency: "EUR", Capability: "MCOPSTNPP"})
	}
	if err := st.WriteTx(ctx, func(tx store.Tx) error { return tx.Save(ctx, []*store.Mutation{m}) }); err != nil {
		t.Fatal(err)
	}
}

// counting wraps the store and counts the rows EachUsage has produced.
type counting struct {
	*store.SQL
	rows int
}

func (c *counting) EachUsage(ctx context.Context, id string, f store.UsageFilter, fn func(*store.UsageRecord) error) error {
	return c.SQL.EachUsage(ctx, id, f, func(u *store.UsageRecord) error { c.rows++; return fn(u) })
}

// firstWrite records how many rows the store had produced when the first bytes arrived.
type firstWrite struct {
	c     *counting
	at    int
	bytes int
}

func (w *firstWrite) Write(p []byte) (int, error) {
	if w.bytes == 0 {
		w.at = w.c.rows
	}
	w.bytes += len(p)
	return len(p), nil
}

// The exports write lines while the store cursor is still producing rows: bytes arrive after
// a fixed buffer's worth of rows, long before the last row is read.
func TestExportsStream(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, st *store.SQL) { exportsStream(t, st) })
}

func exportsStream(t *testing.T, st *store.SQL) {
	const n = 10000
	seed(t, st, n)
	c := &counting{SQL: st}
	e := &report.Engine{Store: c, Now: func() time.Time { return day0.AddDate(0, 1, 0) }}
	req := report.UsageRequest{Tenant: "bulk", From: day0}
	for name, write := range map[string]func(io.Writer) (report.UsageParameters, error){
		"csv": func(w io.Writer) (report.UsageParameters, error) { return e.WriteUsageCSV(ctx, w, req) },
		"zip": func(w io.Writer) (report.UsageParameters, error) { return e.WriteUsageZip(ctx, w, req) },
	} {
		t.Run(name, func(t *testing.T) {
			c.rows = 0
			w := &firstWrite{c: c}
			p, err := write(w)
			if err != nil {
				t.Fatal(err)
			}
			if *p.Rows != n || c.rows != n {
				t.Fatalf("rows %d, store produced %d, want %d", *p.Rows, c.rows, n)
			}
			t.Logf("first bytes after %d rows", w.at)
			// csv holds ~4 KiB (about 20 rows); deflate a block of about 1,850 of these rows.
			if limit := map[string]int{"csv": 100, "zip": 2500}[name]; w.at == 0 || w.at > limit {
				t.Fatalf("first bytes written after %d of %d rows: not streamed", w.at, n)
			}
			if name == "zip" && w.bytes > 2_000_000 {
				t.Fatalf("zip of %d rows is %d bytes", n, w.bytes)
			}
		})
	}
	// FR masks the last 4 digits of external numbers (the tenant holds none).
	var buf bytes.Buffer
	if _, err := e.WriteUsageCSV(ctx, &buf, report.UsageRequest{Tenant: "bulk", From: day0, To: day0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if want := "+3361234****"; !bytes.Contains(buf.Bytes(), []byte(want)) {
		t.Fatalf("no %q in\n%s", want, buf.Bytes())
	}
}

// BenchmarkUsageCSV measures the CSV export's rows per second and the heap in use at its
// end relative to before (a streamed export stays flat as rows grow).
func BenchmarkUsageCSV(b *testing.B) {
	for _, n := range []int{10000, 40000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			st := storetest.Open(b, "sqlite:"+filepath.Join(b.TempDir(), "cc.db"))
			seed(b, st, n)
			e := &report.Engine{Store: st, Now: func() time.Time { return day0.AddDate(0, 1, 0) }}
			var peak uint64
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for range b.N {
				w := &sampler{}
				if _, err := e.WriteUsageCSV(ctx, w, report.UsageRequest{Tenant: "bulk", From: day0}); err != nil {
					b.Fatal(err)
				}
				peak = max(peak, w.peak)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak-min(peak, before.HeapInuse))/1e6, "peak-heap-growth-MB")
		})
	}
}

// sampler discards what it is given and samples the heap now and then.
type sampler struct {
	n    int
	peak uint64
}

func (s *sampler) Write(p []byte) (int, error) {
	if s.n++; s.n%64 == 0 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		s.peak = max(s.peak, m.HeapInuse)
	}
	return len(p), nil
}
