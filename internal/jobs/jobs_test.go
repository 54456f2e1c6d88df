package jobs_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/pgtest"
	"github.com/commcredits/commcredits/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// each runs body once per engine on a fresh migrated database.
func each(t *testing.T, body func(t *testing.T, d *db.DB)) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			d, err := db.Open(context.Background(), e.DSN(t), db.WithMigrate())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			body(t, d)
		})
	}
}

// start opens and starts a Jobs with fast polling and a 100 ms back-off; it is
// stopped when the test ends (stopping twice is harmless).
func start(t *testing.T, d *db.DB, cfg jobs.Config) *jobs.Jobs {
	t.Helper()
	j := open(t, d, cfg)
	if err := j.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return j
}

func open(t *testing.T, d *db.DB, cfg jobs.Config) *jobs.Jobs {
	t.Helper()
	cfg.TestOnly = true
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.Backoff == nil {
		cfg.Backoff = func(int) time.Duration { return 100 * time.Millisecond }
	}
	j, err := jobs.New(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = j.Stop(ctx)
	})
	return j
}

// writeTx runs fn in the engine's write transaction, as the store does: a
// SERIALIZABLE pgx.Tx on PostgreSQL, a BEGIN IMMEDIATE *sql.Tx on the SQLite
// write connection. fn gets the tx as any (what EnqueueTx takes) and may also
// write a row of its own.
func writeTx(ctx context.Context, d *db.DB, fn func(tx any, exec func(q string, args ...any) error) error) error {
	if d.Kind() == db.Postgres {
		return db.RetrySerializable(ctx, d.Pool(), func(tx pgx.Tx) error {
			return fn(tx, func(q string, args ...any) error { _, err := tx.Exec(ctx, rebind(q), args...); return err })
		})
	}
	return d.WriteTx(ctx, func(tx *sql.Tx) error {
		return fn(tx, func(q string, args ...any) error { _, err := tx.ExecContext(ctx, q, args...); return err })
	})
}

func rebind(q string) string {
	out, n := "", 0
	for _, c := range q {
		if c == '?' {
			n++
			out += fmt.Sprintf("$%d", n)
			continue
		}
		out += string(c)
	}
	return out
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func jobsOf(t *testing.T, j *jobs.Jobs, kind string) []*rivertype.JobRow {
	t.Helper()
	rows, err := j.List(context.Background(), river.NewJobListParams().Kinds(kind).First(1000).States(
		rivertype.JobStateAvailable, rivertype.JobStateCancelled, rivertype.JobStateCompleted, rivertype.JobStateDiscarded,
		rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// ticker counts ticks per tenant.
type ticker struct {
	mu     sync.Mutex
	ticks  map[string]int
	sweeps int
}

func newTicker() *ticker { return &ticker{ticks: map[string]int{}} }

func (k *ticker) Tick(_ context.Context, tenant string, _ time.Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ticks[tenant]++
	return nil
}

func (k *ticker) Sweep(context.Context, time.Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sweeps++
	return nil
}

func (k *ticker) count(tenant string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ticks[tenant]
}

func (k *ticker) total() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, c := range k.ticks {
		n += c
	}
	return n
}

const insertTenant = `INSERT INTO tenants (id, name, currency, created_at) VALUES (?, ?, 'USD', 0)`

func TestEnqueueJoinsTheCallersTransaction(t *testing.T) {
	each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		k := newTicker()
		j := start(t, d, jobs.Config{Ticker: k})

		errBoom := errors.New("boom")
		err := writeTx(ctx, d, func(tx any, exec func(string, ...any) error) error {
			if err := exec(insertTenant, "t-rolled-back", "R"); err != nil {
				return err
			}
			if _, err := j.EnqueueTx(ctx, tx, jobs.Tick{Tenant: "t-rolled-back"}); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("rolled back tx: %v", err)
		}
		if err := writeTx(ctx, d, func(tx any, exec func(string, ...any) error) error {
			if err := exec(insertTenant, "t-committed", "C"); err != nil {
				return err
			}
			_, err := j.EnqueueTx(ctx, tx, jobs.Tick{Tenant: "t-committed"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the committed tick", func() bool { return k.count("t-committed") > 0 })
		time.Sleep(500 * time.Millisecond) // ten poll intervals: a stray job would have run
		if n := k.count("t-committed"); n != 1 {
			t.Errorf("committed tick ran %d times, want 1", n)
		}
		if n := k.count("t-rolled-back"); n != 0 {
			t.Errorf("rolled-back tick ran %d times, want 0", n)
		}
		rows := jobsOf(t, j, jobs.KindTick)
		if len(rows) != 1 || rows[0].State != rivertype.JobStateCompleted {
			t.Fatalf("tick jobs %v, want one completed", states(rows))
		}

		// The writer keeps committing batches while River works: SQLite's one write
		// lock is shared by turns, nothing deadlocks and every job runs once.
		const n = 100
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- writeTx(ctx, d, func(tx any, exec func(string, ...any) error) error {
					id := fmt.Sprintf("t-%03d", i)
					if err := exec(insertTenant, id, id); err != nil {
						return err
					}
					_, err := j.EnqueueTx(ctx, tx, jobs.Tick{Tenant: id})
					return err
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 30*time.Second, "100 ticks", func() bool { return k.total() == n+1 })
		for i := range n {
			if c := k.count(fmt.Sprintf("t-%03d", i)); c != 1 {
				t.Errorf("t-%03d ticked %d times", i, c)
			}
		}
	})
}

func TestEnqueueWrongTxType(t *testing.T) {
	each(t, func(t *testing.T, d *db.DB) {
		j := open(t, d, jobs.Config{})
		if _, err := j.EnqueueTx(context.Background(), "not a tx", jobs.Tick{Tenant: "x"}); err == nil {
			t.Error("EnqueueTx accepted a string")
		}
		var err error
		if d.Kind() == db.Postgres {
			_, err = j.EnqueueSQL(context.Background(), nil, jobs.Tick{Tenant: "x"})
		} else {
			_, err = j.EnqueuePgx(context.Background(), nil, jobs.Tick{Tenant: "x"})
		}
		if !errors.Is(err, db.ErrWrongKind) {
			t.Errorf("other engine's enqueue: %v, want ErrWrongKind", err)
		}
	})
}

func TestSweepIsPeriodic(t *testing.T) {
	each(t, func(t *testing.T, d *db.DB) {
		k := newTicker()
		start(t, d, jobs.Config{Ticker: k, SweepEvery: 200 * time.Millisecond})
		eventually(t, 20*time.Second, "two sweeps", func() bool {
			k.mu.Lock()
			defer k.mu.Unlock()
			return k.sweeps >= 2
		})
	})
}

func states(rows []*rivertype.JobRow) []string {
	var s []string
	for _, r := range rows {
		s = append(s, fmt.Sprintf("%d:%s(attempt %d)", r.ID, r.State, r.Attempt))
	}
	return s
}
