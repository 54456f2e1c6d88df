package db_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/commcredits/commcredits/internal/db"
)

// barrier lets n goroutines wait for each other once.
type barrier struct {
	mu      sync.Mutex
	n       int
	release chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, release: make(chan struct{})} }

func (b *barrier) wait(ctx context.Context) error {
	b.mu.Lock()
	b.n--
	if b.n == 0 {
		close(b.release)
	}
	b.mu.Unlock()
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryRecorder collects the SQLSTATEs that made RetryPolicy retry.
type retryRecorder struct {
	mu    sync.Mutex
	codes []string
}

func (r *retryRecorder) onRetry(_ int, err error) {
	var pgErr *pgconn.PgError
	code := "?"
	if errors.As(err, &pgErr) {
		code = pgErr.Code
	}
	r.mu.Lock()
	r.codes = append(r.codes, code)
	r.mu.Unlock()
}

func (r *retryRecorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.codes...)
}

// Two serializable transactions both read the counter and then both write
// it. The second writer must fail with a real 40001; the helper reruns it
// and it succeeds on fresh data, so no increment is lost.
func TestRetrySerializableRealSerializationFailure(t *testing.T) {
	ctx := ctxT(t)
	d := openT(t, pgtestMigrated(t))
	if _, err := d.Pool().Exec(ctx, "INSERT INTO service_meta(key, value) VALUES ('counter', '0')"); err != nil {
		t.Fatal(err)
	}
	var rec retryRecorder
	pol := db.RetryPolicy{MaxAttempts: 5, OnRetry: rec.onRetry}
	var calls atomic.Int32
	bothRead := newBarrier(2)

	increment := func() error {
		first := true
		return pol.Run(ctx, d.Pool(), func(tx pgx.Tx) error {
			calls.Add(1)
			var v string
			if err := tx.QueryRow(ctx, "SELECT value FROM service_meta WHERE key = 'counter'").Scan(&v); err != nil {
				return err
			}
			if first {
				first = false
				if err := bothRead.wait(ctx); err != nil {
					return err
				}
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, "UPDATE service_meta SET value = $1 WHERE key = 'counter'", strconv.Itoa(n+1))
			return err
		})
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- increment() }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("increment: %v", err)
		}
	}
	var v string
	if err := d.Pool().QueryRow(ctx, "SELECT value FROM service_meta WHERE key = 'counter'").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "2" {
		t.Errorf("counter = %s, want 2 (an increment was lost)", v)
	}
	codes := rec.get()
	if len(codes) != 1 || codes[0] != db.SQLStateSerializationFailure {
		t.Errorf("retries caused by %v, want exactly one 40001", codes)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("function ran %d times, want 3 (two first attempts, one retry)", got)
	}
}

// Two transactions lock two rows in opposite orders: PostgreSQL breaks the
// deadlock by failing one with 40P01, which the helper retries.
func TestRetrySerializableRealDeadlock(t *testing.T) {
	ctx := ctxT(t)
	d := openT(t, pgtestMigrated(t))
	if _, err := d.Pool().Exec(ctx, "INSERT INTO service_meta(key, value) VALUES ('a', '0'), ('b', '0')"); err != nil {
		t.Fatal(err)
	}
	var rec retryRecorder
	pol := db.RetryPolicy{MaxAttempts: 10, OnRetry: rec.onRetry}
	bothLocked := newBarrier(2)
	run := func(firstKey, secondKey string) error {
		first := true
		return pol.Run(ctx, d.Pool(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "UPDATE service_meta SET value = value || '+' WHERE key = $1", firstKey); err != nil {
				return err
			}
			if first {
				first = false
				if err := bothLocked.wait(ctx); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, "UPDATE service_meta SET value = value || '+' WHERE key = $1", secondKey)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- run("a", "b") }()
	go func() { errs <- run("b", "a") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("transaction: %v", err)
		}
	}
	codes := rec.get()
	sawDeadlock := false
	for _, c := range codes {
		sawDeadlock = sawDeadlock || c == db.SQLStateDeadlockDetected
	}
	if !sawDeadlock {
		t.Errorf("retries caused by %v, want a 40P01 among them", codes)
	}
	for _, k := range []string{"a", "b"} {
		var v string
		if err := d.Pool().QueryRow(ctx, "SELECT value FROM service_meta WHERE key = $1", k).Scan(&v); err != nil || v != "0++" {
			t.Errorf("row %s = %q, %v; want 0++ (each transaction applied exactly once)", k, v, err)
		}
	}
}

func TestRetrySerializableGivesUp(t *testing.T) {
	ctx := ctxT(t)
	d := openT(t, pgtestMigrated(t))
	var calls, retries atomic.Int32
	pol := db.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond,
		OnRetry: func(int, error) { retries.Add(1) }}
	err := pol.Run(ctx, d.Pool(), func(tx pgx.Tx) error {
		calls.Add(1)
		return &pgconn.PgError{Code: db.SQLStateSerializationFailure, Message: "synthetic"}
	})
	if !errors.Is(err, db.ErrRetriesExhausted) || !db.IsRetryable(err) {
		t.Fatalf("err = %v; want ErrRetriesExhausted wrapping the 40001", err)
	}
	if calls.Load() != 3 || retries.Load() != 2 {
		t.Fatalf("calls %d retries %d, want 3 and 2", calls.Load(), retries.Load())
	}
}

func TestRetrySerializableOtherErrorRollsBackOnce(t *testing.T) {
	ctx := ctxT(t)
	d := openT(t, pgtestMigrated(t))
	sentinel := errors.New("business rule")
	var calls atomic.Int32
	err := d.SerializableTx(ctx, func(tx pgx.Tx) error {
		calls.Add(1)
		if _, err := tx.Exec(ctx, "INSERT INTO service_meta(key, value) VALUES ('x', 'y')"); err != nil {
			return err
		}
		return sentinel
	})
	if !errors.Is(err, sentinel) || calls.Load() != 1 {
		t.Fatalf("err %v calls %d; want the sentinel after one call", err, calls.Load())
	}
	var n int
	if err := d.Pool().QueryRow(ctx, "SELECT count(*) FROM service_meta").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows after rollback = %d, %v", n, err)
	}
	// And a successful one commits.
	if err := d.SerializableTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO service_meta(key, value) VALUES ('x', 'y')")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.Pool().QueryRow(ctx, "SELECT count(*) FROM service_meta").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows after commit = %d, %v", n, err)
	}
}
