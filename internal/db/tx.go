package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATEs on which a PostgreSQL transaction is retried as a whole.
const (
	SQLStateSerializationFailure = "40001"
	SQLStateDeadlockDetected     = "40P01"
)

// ErrRetriesExhausted is wrapped (together with the last serialization
// error) by RetrySerializable when every attempt failed.
var ErrRetriesExhausted = errors.New("db: serializable transaction retries exhausted")

// ErrWrongKind is returned when a helper of one engine is used on the other.
var ErrWrongKind = errors.New("db: operation not supported by this database kind")

// TxBeginner is what RetrySerializable needs: *pgxpool.Pool, *pgx.Conn and
// pgx.Tx all satisfy it.
type TxBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// RetryPolicy bounds RetrySerializable. The delay before retry n (n = 1, 2,
// ...) is uniformly random in [0, min(MaxDelay, BaseDelay·2^(n-1))] ("full
// jitter"), so that transactions that collided once do not collide again in
// lock step.
type RetryPolicy struct {
	MaxAttempts int           // total attempts, including the first (default 10)
	BaseDelay   time.Duration // default 2ms
	MaxDelay    time.Duration // default 200ms
	// OnRetry, if set, is called before sleeping ahead of attempt+1 with the
	// error that caused the retry (for metrics and tests).
	OnRetry func(attempt int, err error)
}

// DefaultRetryPolicy is used by RetrySerializable.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 10, BaseDelay: 2 * time.Millisecond, MaxDelay: 200 * time.Millisecond}

// IsRetryable reports whether err (anywhere in its chain) is a PostgreSQL
// serialization failure (40001) or deadlock (40P01), after which the whole
// transaction may be run again.
func IsRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == SQLStateSerializationFailure || pgErr.Code == SQLStateDeadlockDetected
	}
	return false
}

// RetrySerializable runs fn in a SERIALIZABLE read-write transaction and
// commits it, with DefaultRetryPolicy. See RetryPolicy.Run.
func RetrySerializable(ctx context.Context, db TxBeginner, fn func(pgx.Tx) error) error {
	return DefaultRetryPolicy.Run(ctx, db, fn)
}

// Run runs fn in a SERIALIZABLE read-write transaction and commits it. When
// a statement in fn or the COMMIT fails with SQLSTATE 40001 or 40P01, the
// transaction is rolled back and fn runs again from the start, after a
// jittered back-off, at most MaxAttempts times in all. fn must therefore be
// safe to repeat: everything it does outside the transaction (channels,
// in-memory state) must be reset or idempotent.
//
// Any other error from fn is returned as is after rollback (errors.Is works
// on it). An error from COMMIT other than a serialization failure is
// returned wrapped and not retried: the outcome of such a commit is unknown.
// When all attempts fail, the error wraps both ErrRetriesExhausted and the
// last serialization error.
func (p RetryPolicy) Run(ctx context.Context, db TxBeginner, fn func(pgx.Tx) error) error {
	return p.Do(ctx, func() error { return runSerializableOnce(ctx, db, fn) })
}

// Do runs attempt, a whole transaction, until it returns nil or an error IsRetryable does
// not accept, at most MaxAttempts times, with Run's back-off between tries and its errors.
func (p RetryPolicy) Do(ctx context.Context, attempt func() error) error {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultRetryPolicy.MaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultRetryPolicy.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultRetryPolicy.MaxDelay
	}
	var lastErr error
	for n := 1; n <= p.MaxAttempts; n++ {
		err := attempt()
		if err == nil || !IsRetryable(err) {
			return err
		}
		lastErr = err
		if n == p.MaxAttempts {
			break
		}
		if p.OnRetry != nil {
			p.OnRetry(n, err)
		}
		ceiling := p.BaseDelay << min(n-1, 30)
		if ceiling <= 0 || ceiling > p.MaxDelay {
			ceiling = p.MaxDelay
		}
		delay := time.Duration(rand.Int64N(int64(ceiling) + 1))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("db: serializable transaction abandoned after %d attempts: %w (last error: %w)", n, ctx.Err(), lastErr)
		case <-t.C:
		}
	}
	return fmt.Errorf("%w after %d attempts: %w", ErrRetriesExhausted, p.MaxAttempts, lastErr)
}

func runSerializableOnce(ctx context.Context, db TxBeginner, fn func(pgx.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable, AccessMode: pgx.ReadWrite})
	if err != nil {
		return fmt.Errorf("db: begin serializable transaction: %w", err)
	}
	defer func() {
		if err != nil {
			// Rollback after a failed statement or commit; its own error
			// (e.g. tx already closed) adds nothing.
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(r)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// SerializableTx is RetrySerializable on this database's pool. It returns
// ErrWrongKind on SQLite (use WriteTx there).
func (d *DB) SerializableTx(ctx context.Context, fn func(pgx.Tx) error) error {
	if d.kind != Postgres {
		return fmt.Errorf("%w: SerializableTx needs PostgreSQL, this is %s", ErrWrongKind, d.kind)
	}
	return RetrySerializable(ctx, d.pool, fn)
}

// WriteTx runs fn in a write transaction on the SQLite write connection and
// commits it. The transaction starts with BEGIN IMMEDIATE, so it holds the
// database's write lock from the first statement on and can never fail
// later with SQLITE_BUSY on lock upgrade. If fn returns an error or panics
// the transaction is rolled back. fn must use tx only: the write connection
// is the only connection of Write(), so using Write() inside fn deadlocks.
// It returns ErrWrongKind on PostgreSQL (use SerializableTx there).
func (d *DB) WriteTx(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	if d.kind != SQLite {
		return fmt.Errorf("%w: WriteTx needs SQLite, this is %s", ErrWrongKind, d.kind)
	}
	tx, err := d.write.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock=immediate)
	if err != nil {
		return fmt.Errorf("db: begin immediate: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	committed = true
	return nil
}
