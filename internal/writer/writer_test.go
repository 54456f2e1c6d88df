package writer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/commcredits/commcredits/internal/bench"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/pgtest"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/writer"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	ctx = context.Background()
	usd = money.MustCurrency("USD")
	t0  = time.Date(2026, 3, 31, 9, 0, 0, 0, time.UTC)
)

// stepClock advances by step on every reading, so reservations reach their TTL.
type stepClock struct {
	ns   atomic.Int64
	step time.Duration
}

func newClock(step time.Duration) *stepClock {
	c := &stepClock{step: step}
	c.ns.Store(t0.UnixNano())
	return c
}

func (c *stepClock) Now() time.Time { return time.Unix(0, c.ns.Add(int64(c.step))).UTC() }

func tenants(t testing.TB, s store.Store, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("tenant-%03d", i)
		if err := s.CreateTenant(ctx, store.Tenant{ID: ids[i], Name: ids[i], Currency: usd, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func TestIdempotencyAndRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		tenants(t, s, 1)
		w := writer.New(s, newClock(0), writer.Config{})
		defer w.Close()
		r, err := w.Submit(ctx, "tenant-000", "fund-1", ledger.Fund{Amount: 5000, Source: "purchase"})
		if err != nil || r.Replayed || r.Balance != 5000 || r.Ledger.LotID != 1 {
			t.Fatalf("fund: %+v %v", r, err)
		}
		again, err := w.Submit(ctx, "tenant-000", "fund-1", ledger.Fund{Amount: 5000, Source: "purchase"})
		if err != nil || !again.Replayed || again.Balance != 5000 || again.Ledger.LotID != 1 {
			t.Fatalf("replay: %+v %v", again, err)
		}
		if _, err := w.Submit(ctx, "tenant-000", "fund-1", ledger.Fund{Amount: 6000, Source: "purchase"}); !errors.Is(err, writer.ErrIdempotencyMismatch) {
			t.Fatalf("reuse with another amount: %v", err)
		}
		if _, err := w.Submit(ctx, "tenant-000", "", ledger.Fund{Amount: 1}); !errors.Is(err, writer.ErrMissingKey) {
			t.Fatalf("no key: %v", err)
		}
		if _, err := w.Submit(ctx, "nobody", "k", ledger.Fund{Amount: 1}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown tenant: %v", err)
		}
		refusals := []struct {
			cmd ledger.Command
			err error
		}{
			{ledger.Fund{Amount: 0}, ledger.ErrInvalidAmount},
			{ledger.Fund{Amount: -100}, ledger.ErrInvalidAmount},
			{ledger.Settle{ID: "never", Amount: 10}, ledger.ErrUnknownReservation},
			{ledger.Reserve{ID: "big", Amount: 999_999, TTL: time.Minute}, ledger.ErrInsufficientFunds},
		}
		for i, c := range refusals {
			if _, err := w.Submit(ctx, "tenant-000", fmt.Sprintf("bad-%d", i), c.cmd); !errors.Is(err, c.err) {
				t.Fatalf("%#v: %v, want %v", c.cmd, err, c.err)
			}
		}
		if _, err := w.Submit(ctx, "tenant-000", "res", ledger.Reserve{ID: "c1", Amount: 100, TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Submit(ctx, "tenant-000", "settle", ledger.Settle{ID: "c1", Amount: 70}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Submit(ctx, "tenant-000", "settle-again", ledger.Settle{ID: "c1", Amount: 70}); !errors.Is(err, ledger.ErrUnknownReservation) {
			t.Fatalf("settle twice: %v", err)
		}
		entries, _ := s.Entries(ctx, "tenant-000", 0, 100)
		if len(entries) != 2 || entries[1].Amount != -70 {
			t.Fatalf("refused commands wrote entries: %+v", entries)
		}
		// A refused command keeps nothing under its key: once funds allow, the key works.
		r, err = w.Submit(ctx, "tenant-000", "bad-3", ledger.Reserve{ID: "big", Amount: 4000, TTL: time.Minute})
		if err != nil || r.Ledger.Granted != 4000 {
			t.Fatalf("retry of refused key: %+v %v", r, err)
		}
	})
}

// workload submits random commands from 64 goroutines and tallies what was acknowledged.
type tally struct {
	mu                  sync.Mutex
	funded, charged     map[string]money.Amount
	acked               map[string]writer.Result // by key
	commands            map[string]ledger.Command
	tenantOf            map[string]string
	submitted, refusals atomic.Int64
}

func newTally() *tally {
	return &tally{funded: map[string]money.Amount{}, charged: map[string]money.Amount{}, acked: map[string]writer.Result{},
		commands: map[string]ledger.Command{}, tenantOf: map[string]string{}}
}

func runWorkload(t *testing.T, w *writer.Writer, ids []string, workers, perWorker int, tl *tally, prefix string) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range perWorker {
				tenant := ids[rng.IntN(len(ids))]
				res := fmt.Sprintf("r%d", rng.IntN(20))
				var cmd ledger.Command
				switch rng.IntN(7) {
				case 0, 1:
					cmd = ledger.Fund{Amount: money.Amount(rng.IntN(5000) + 1), Source: "purchase"}
				case 2:
					cmd = ledger.Reserve{ID: res, Amount: money.Amount(rng.IntN(500) + 1), TTL: 30 * time.Second, Partial: true}
				case 3:
					cmd = ledger.Extend{ID: res, Amount: money.Amount(rng.IntN(200)), TTL: 30 * time.Second}
				case 4:
					cmd = ledger.Settle{ID: res, Amount: money.Amount(rng.IntN(700))}
				case 5:
					cmd = ledger.Release{ID: res}
				default:
					cmd = ledger.Charge{Amount: money.Amount(rng.IntN(300) + 1)}
				}
				key := fmt.Sprintf("%s-%d-%d", prefix, g, i)
				tl.submitted.Add(1)
				r, err := w.Submit(ctx, tenant, key, cmd)
				if err != nil {
					if errors.Is(err, writer.ErrClosed) {
						return
					}
					if !errors.Is(err, ledger.ErrUnknownReservation) && !errors.Is(err, ledger.ErrInsufficientFunds) &&
						!errors.Is(err, ledger.ErrDuplicateReservation) && !errors.Is(err, ledger.ErrInvalidAmount) {
						t.Errorf("%s %#v: %v", key, cmd, err)
						return
					}
					tl.refusals.Add(1)
					continue
				}
				tl.record(tenant, key, cmd, r)
			}
		}()
	}
	wg.Wait()
}

func (tl *tally) record(tenant, key string, cmd ledger.Command, r writer.Result) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if f, ok := cmd.(ledger.Fund); ok {
		tl.funded[tenant] += f.Amount
	}
	tl.charged[tenant] += r.Ledger.Charged
	tl.acked[key], tl.commands[key], tl.tenantOf[key] = r, cmd, tenant
}

// verify checks every tenant in the database against the acknowledged effects.
func verify(t *testing.T, s store.Store, ids []string, tl *tally) {
	t.Helper()
	for _, id := range ids {
		a, err := s.Account(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := ledger.Check(a); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if a.Totals.Funded != tl.funded[id] || a.Totals.Charged != tl.charged[id] {
			t.Fatalf("%s: funded %d charged %d, acknowledged %d and %d", id, a.Totals.Funded, a.Totals.Charged, tl.funded[id], tl.charged[id])
		}
		entries, err := s.Entries(ctx, id, 0, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		var sum money.Amount
		for i, e := range entries {
			if e.Seq != int64(i+1) || e.After-e.Before != e.Amount || (i > 0 && entries[i-1].After != e.Before) {
				t.Fatalf("%s: entry chain broken at %+v", id, e)
			}
			sum += e.Amount
		}
		if sum != a.Balance {
			t.Fatalf("%s: Σ entries %d ≠ balance %d", id, sum, a.Balance)
		}
	}
}

func TestConcurrentWorkload(t *testing.T) {
	for _, n := range []int{1, 100} {
		t.Run(fmt.Sprintf("tenants=%d", n), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
				ids := tenants(t, s, n)
				w := writer.New(s, newClock(100*time.Millisecond), writer.Config{Shards: 2})
				tl := newTally()
				runWorkload(t, w, ids, 64, 40, tl, "w")
				w.Close()
				verify(t, s, ids, tl)
				if len(tl.acked) == 0 || tl.refusals.Load() == 0 {
					t.Fatalf("workload too tame: %d acked, %d refused", len(tl.acked), tl.refusals.Load())
				}
			})
		})
	}
}

// TestRestart closes the writer and the store while commands are in flight, reopens them
// and replays every acknowledged key: each is found, none is applied twice.
func TestRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		ids := tenants(t, s, 10)
		clock := newClock(10 * time.Millisecond)
		w := writer.New(s, clock, writer.Config{})
		tl := newTally()
		done := make(chan struct{})
		go func() { runWorkload(t, w, ids, 32, 1000, tl, "a"); close(done) }()
		time.Sleep(150 * time.Millisecond)
		w.Close() // drains what is queued; later submits get ErrClosed
		<-done
		s.Close()

		s2 := storetest.Open(t, dsn)
		verify(t, s2, ids, tl)
		w2 := writer.New(s2, clock, writer.Config{})
		defer w2.Close()
		for key, first := range tl.acked {
			r, err := w2.Submit(ctx, tl.tenantOf[key], key, tl.commands[key])
			if err != nil || !r.Replayed || r.Balance != first.Balance || r.Ledger.Charged != first.Ledger.Charged || r.Ledger.Granted != first.Ledger.Granted {
				t.Fatalf("replay of %s after restart: %+v %v, first %+v", key, r, err, first)
			}
		}
		verify(t, s2, ids, tl)
		if len(tl.acked) == 0 {
			t.Fatal("nothing was acknowledged before the restart")
		}
	})
}

// TestTwoWritersOneDatabase stands for two serve processes on one database.
func TestTwoWritersOneDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		ids := tenants(t, s, 3)
		other := storetest.Open(t, dsn)
		w1 := writer.New(s, newClock(time.Millisecond), writer.Config{})
		w2 := writer.New(other, newClock(time.Millisecond), writer.Config{})
		tl := newTally()
		var wg sync.WaitGroup
		for i, w := range []*writer.Writer{w1, w2} {
			wg.Add(1)
			go func() { defer wg.Done(); runWorkload(t, w, ids, 16, 60, tl, fmt.Sprint("p", i)) }()
		}
		wg.Wait()
		// SQLite's busy wait lets one process starve the other, so also alternate: every
		// submit then finds its cached account stale and must take the version check path.
		for i := range 20 {
			w := []*writer.Writer{w1, w2}[i%2]
			key := fmt.Sprint("alt-", i)
			cmd := ledger.Fund{Amount: 1, Source: "purchase"}
			r, err := w.Submit(ctx, ids[0], key, cmd)
			if err != nil {
				t.Fatal(err)
			}
			tl.record(ids[0], key, cmd, r)
		}
		w1.Close()
		w2.Close()
		verify(t, s, ids, tl)
		if retriesOf(w1)+retriesOf(w2) < 18 {
			t.Fatal("the two writers never collided: the test did not exercise the version check")
		}
		t.Logf("batches retried after a conflict: %v + %v", retriesOf(w1), retriesOf(w2))
	})
}

func BenchmarkWriter(b *testing.B) {
	for _, e := range storetest.Engines() {
		for _, c := range []struct{ tenants, submitters int }{{1, 64}, {1000, 64}, {1, 512}, {1000, 512}} {
			b.Run(fmt.Sprintf("%s/tenants=%d/submitters=%d", e.Name, c.tenants, c.submitters), func(b *testing.B) {
				s := storetest.Open(b, e.DSN(b))
				ids := tenants(b, s, c.tenants)
				w := writer.New(s, writer.SystemClock{}, writer.Config{})
				defer w.Close()
				for _, id := range ids {
					if _, err := w.Submit(ctx, id, "seed", ledger.Fund{Amount: 1 << 40, Source: "purchase"}); err != nil {
						b.Fatal(err)
					}
				}
				var seq atomic.Int64
				b.SetParallelism(max(1, c.submitters/runtimeProcs()))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := seq.Add(1)
						if _, err := w.Submit(ctx, ids[int(i)%len(ids)], fmt.Sprint("c", i), ledger.Charge{Amount: 1}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
				b.ReportMetric(retriesOf(w), "retries")
			})
		}
	}
}

// BenchmarkRawSQLiteLimit is the machine's ceiling for what one writer batch must do at
// least: per command one ledger entry row and one command row, inserted in transactions of
// 64 commands on the same SQLite settings (WAL, synchronous=FULL), with nothing else.
func BenchmarkRawSQLiteLimit(b *testing.B) {
	s := storetest.Open(b, storetest.Engines()[0].DSN(b))
	w := s.DB().Write()
	b.ResetTimer()
	for i := 0; i < b.N; i += 64 {
		tx, err := w.Begin()
		if err != nil {
			b.Fatal(err)
		}
		for j := range 64 {
			n := int64(i + j)
			if _, err := tx.Exec(`INSERT INTO ledger_entries (tenant_id, seq, kind, amount, balance_before, balance_after, at, lot_id, ref, reason)
				VALUES ('t', ?, 'charge', -1, 0, 0, 0, 0, '', '')`, n); err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Exec(`INSERT INTO commands (tenant_id, key, kind, hash, result, at) VALUES ('t', ?, 'charge', x'00', '{}', 0)`, fmt.Sprint("c", n)); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}

// batchMean is the mean number of commands per committed batch so far.
func batchMean(w *writer.Writer) float64 {
	var m dto.Metric
	for _, c := range w.Collectors() {
		if h, ok := c.(prometheus.Histogram); ok {
			_ = h.Write(&m)
			if n := m.GetHistogram().GetSampleCount(); n > 0 && m.GetHistogram().GetBucket()[0].GetUpperBound() == 1 {
				return m.GetHistogram().GetSampleSum() / float64(n)
			}
		}
	}
	return 0
}

func retriesOf(w *writer.Writer) float64 {
	var m dto.Metric
	for _, c := range w.Collectors() {
		if ctr, ok := c.(prometheus.Counter); ok {
			_ = ctr.Write(&m)
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

// BenchmarkRawSQLiteLimitMultiRow is the same ceiling written the way the writer writes:
// one multi-row statement per table per transaction of 64 commands (bench.RawSQLiteInserts,
// the ceiling `commcredits bench` measures beside P1).
func BenchmarkRawSQLiteLimitMultiRow(b *testing.B) {
	s := storetest.Open(b, storetest.Engines()[0].DSN(b))
	b.ResetTimer()
	if _, err := bench.RawSQLiteInserts(ctx, s.DB(), 0, b.N+63-(b.N+63)%64, 64, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}
