package db_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openT(t *testing.T, dsn string, opts ...db.Option) *db.DB {
	t.Helper()
	d, err := db.Open(ctxT(t), dsn, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", db.Redact(dsn), err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestSQLiteOpenMigrateTwice(t *testing.T) {
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "cc.db")
	d := openT(t, "sqlite:"+path)
	if d.Kind() != db.SQLite || d.Pool() != nil || d.Write() == nil || d.Read() == nil {
		t.Fatalf("kind %q pool %v write %v read %v", d.Kind(), d.Pool(), d.Write(), d.Read())
	}
	if err := d.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	cur, latest, err := d.SchemaVersion(ctx)
	if err != nil || cur != 0 || latest < 1 {
		t.Fatalf("fresh file SchemaVersion = %d, %d, %v; want 0 and >= 1", cur, latest, err)
	}
	n, err := d.Migrate(ctx)
	if want := migrationCount(t, db.SQLite); err != nil || n != want {
		t.Fatalf("first Migrate = %d, %v; want %d applied", n, err, want)
	}
	n, err = d.Migrate(ctx)
	if err != nil || n != 0 {
		t.Fatalf("second Migrate = %d, %v; want 0 (no-op)", n, err)
	}
	cur, latest, err = d.SchemaVersion(ctx)
	if err != nil || cur != latest {
		t.Fatalf("SchemaVersion after Migrate = %d, %d, %v", cur, latest, err)
	}
	err = d.WriteTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO service_meta(key, value) VALUES ('k', 'v')")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := d.Read().QueryRowContext(ctx, "SELECT value FROM service_meta WHERE key = 'k'").Scan(&v); err != nil || v != "v" {
		t.Fatalf("read back %q, %v", v, err)
	}
	d.Close()

	// Reopening with migrations on open is a no-op too, and the data is there.
	d2 := openT(t, "sqlite:"+path, db.WithMigrate())
	if n, err := d2.Migrate(ctx); err != nil || n != 0 {
		t.Fatalf("Migrate after reopen = %d, %v", n, err)
	}
	if err := d2.Read().QueryRowContext(ctx, "SELECT value FROM service_meta WHERE key = 'k'").Scan(&v); err != nil || v != "v" {
		t.Fatalf("after reopen: %q, %v", v, err)
	}
}

func TestSQLiteSettings(t *testing.T) {
	ctx := ctxT(t)
	d := openT(t, "sqlite:"+filepath.Join(t.TempDir(), "cc.db"), db.WithMigrate())
	check := func(conn *sql.DB, pragma, want string) {
		t.Helper()
		var got string
		if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if !strings.EqualFold(got, want) {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
	for _, conn := range []*sql.DB{d.Write(), d.Read()} {
		check(conn, "journal_mode", "wal")
		check(conn, "synchronous", "2") // FULL
		check(conn, "foreign_keys", "1")
		check(conn, "busy_timeout", "5000")
	}
	check(d.Read(), "query_only", "1")
	if got := d.Write().Stats().MaxOpenConnections; got != 1 {
		t.Errorf("write MaxOpenConnections = %d, want 1", got)
	}
	if _, err := d.Read().ExecContext(ctx, "INSERT INTO service_meta(key, value) VALUES ('x', 'y')"); err == nil {
		t.Error("insert through the read pool succeeded; want a query_only error")
	}
}

// WriteTx must take the write lock at BEGIN (BEGIN IMMEDIATE): while it is
// open, another connection cannot start a write transaction, even though
// the first one has not written anything yet.
func TestSQLiteWriteTxIsImmediate(t *testing.T) {
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "cc.db")
	d := openT(t, "sqlite:"+path, db.WithMigrate())
	other, err := sql.Open("sqlite", path+"?_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)

	sentinel := errors.New("roll me back")
	err = d.WriteTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM service_meta").Scan(&n); err != nil {
			return err
		}
		_, oerr := other.ExecContext(ctx, "BEGIN IMMEDIATE")
		if oerr == nil {
			_, _ = other.ExecContext(ctx, "ROLLBACK")
			t.Error("a second BEGIN IMMEDIATE succeeded while WriteTx was open; WriteTx did not take the write lock")
		} else if !strings.Contains(oerr.Error(), "locked") && !strings.Contains(oerr.Error(), "busy") {
			t.Errorf("second BEGIN IMMEDIATE: unexpected error %v", oerr)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO service_meta(key, value) VALUES ('gone', '1')"); err != nil {
			return err
		}
		return sentinel
	})
	if !errors.Is(err, sentinel) {
		t.Fatalf("WriteTx error = %v, want the function's own error", err)
	}
	var n int
	if err := d.Read().QueryRowContext(ctx, "SELECT count(*) FROM service_meta WHERE key = 'gone'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rolled-back row visible: n=%d err=%v", n, err)
	}
	// After the rollback the lock is free again.
	if _, err := other.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("BEGIN IMMEDIATE after WriteTx: %v", err)
	}
	_, _ = other.ExecContext(ctx, "ROLLBACK")
}

func TestSQLiteMemoryIsPrivateTempFile(t *testing.T) {
	ctx := ctxT(t)
	d, err := db.Open(ctx, "sqlite::memory:", db.WithMigrate())
	if err != nil {
		t.Fatal(err)
	}
	path := d.Path()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("temp file %q: %v", path, err)
	}
	if err := d.WriteTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO service_meta(key, value) VALUES ('a', 'b')")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.Read().QueryRowContext(ctx, "SELECT count(*) FROM service_meta").Scan(&n); err != nil || n != 1 {
		t.Fatalf("reader sees %d rows, %v; want the writer's row", n, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("temp dir of sqlite::memory: not removed on Close: %v", err)
	}
	if err := d.Ping(ctx); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestPostgresOpenMigrateTwice(t *testing.T) {
	ctx := ctxT(t)
	d := openT(t, pgtest.DSN(t))
	if d.Kind() != db.Postgres || d.Pool() == nil || d.Write() != nil || d.Read() != nil {
		t.Fatalf("kind %q", d.Kind())
	}
	if err := d.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	cur, latest, err := d.SchemaVersion(ctx)
	if err != nil || cur != 0 || latest < 1 {
		t.Fatalf("fresh database SchemaVersion = %d, %d, %v; want 0 and >= 1", cur, latest, err)
	}
	// Branches number their migrations ahead of merging, so versions may have gaps: count
	// at least one and at most latest, and end at latest.
	n, err := d.Migrate(ctx)
	if want := migrationCount(t, db.Postgres); err != nil || n != want {
		t.Fatalf("first Migrate = %d, %v; want %d", n, err, want)
	}
	if cur, _, err := d.SchemaVersion(ctx); err != nil || cur != latest {
		t.Fatalf("after Migrate: version %d, %v; want %d", cur, err, latest)
	}
	n, err = d.Migrate(ctx)
	if err != nil || n != 0 {
		t.Fatalf("second Migrate = %d, %v; want 0 (no-op)", n, err)
	}
	if _, err := d.Pool().Exec(ctx, "INSERT INTO service_meta(key, value) VALUES ('k', 'v')"); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := d.Pool().QueryRow(ctx, "SELECT value FROM service_meta WHERE key = 'k'").Scan(&v); err != nil || v != "v" {
		t.Fatalf("%q, %v", v, err)
	}
}

func TestPostgresMigratedTemplate(t *testing.T) {
	ctx := ctxT(t)
	d := openT(t, pgtest.MigratedDSN(t))
	cur, latest, err := d.SchemaVersion(ctx)
	if err != nil || cur != latest || cur < 1 {
		t.Fatalf("SchemaVersion = %d, %d, %v; want current = latest", cur, latest, err)
	}
	if n, err := d.Migrate(ctx); err != nil || n != 0 {
		t.Fatalf("Migrate on migrated clone = %d, %v", n, err)
	}
	// Each clone is its own database.
	if _, err := d.Pool().Exec(ctx, "INSERT INTO service_meta(key, value) VALUES ('only', 'here')"); err != nil {
		t.Fatal(err)
	}
	d2 := openT(t, pgtest.MigratedDSN(t))
	var n int
	if err := d2.Pool().QueryRow(ctx, "SELECT count(*) FROM service_meta").Scan(&n); err != nil || n != 0 {
		t.Fatalf("second clone has %d rows, %v; want 0", n, err)
	}
}

// Every text column a key or an index of ours holds compares bytewise on PostgreSQL, as on
// SQLite (migration 00013): a table added later without COLLATE "C" fails here. River's
// tables are River's and not checked.
func TestPostgresKeysCompareBytewise(t *testing.T) {
	ctx := ctxT(t)
	d := openT(t, pgtest.MigratedDSN(t))
	rows, err := d.Pool().Query(ctx, `SELECT c.relname || '.' || a.attname, coalesce(l.collname, '')
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_collation l ON l.oid = a.attcollation
		WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname NOT LIKE 'river%' AND c.relname <> $1
			AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'text'::regtype
			AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND a.attnum = ANY(i.indkey))`, db.VersionTable)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	checked := 0
	for rows.Next() {
		var col, coll string
		if err := rows.Scan(&col, &coll); err != nil {
			t.Fatal(err)
		}
		checked++
		if coll != "C" {
			t.Errorf("%s is indexed text of collation %q, want \"C\"", col, coll)
		}
	}
	if err := rows.Err(); err != nil || checked < 40 {
		t.Fatalf("%d indexed text columns checked (%v)", checked, err)
	}
}

func TestBadDSN(t *testing.T) {
	ctx := ctxT(t)
	cases := []struct {
		dsn, want string
	}{
		{"mysql://root@localhost/x", `unsupported DSN scheme "mysql"`},
		{"commcredits.db", "unsupported DSN scheme"},
		{"sqlite:", "empty SQLite path"},
		{"sqlite:x.db?mode=ro", "must not contain"},
		{"sqlite:" + filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), "open SQLite"},
		{"postgres://u:s3cr3t@127.0.0.1:1/x?connect_timeout=2", "cannot reach PostgreSQL"},
		{"postgres://u@127.0.0.1:notaport/x", "invalid PostgreSQL DSN"},
	}
	for _, c := range cases {
		d, err := db.Open(ctx, c.dsn)
		if err == nil {
			d.Close()
			t.Errorf("Open(%q) succeeded", c.dsn)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) error %q, want it to contain %q", c.dsn, err, c.want)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Open(%q) error leaks the password: %q", c.dsn, err)
		}
	}
}

func TestWrongKindHelpers(t *testing.T) {
	ctx := ctxT(t)
	s := openT(t, "sqlite::memory:")
	if err := s.SerializableTx(ctx, func(pgx.Tx) error { return nil }); !errors.Is(err, db.ErrWrongKind) {
		t.Errorf("SerializableTx on SQLite: %v", err)
	}
	p := openT(t, pgtest.DSN(t))
	if err := p.WriteTx(ctx, func(*sql.Tx) error { return nil }); !errors.Is(err, db.ErrWrongKind) {
		t.Errorf("WriteTx on PostgreSQL: %v", err)
	}
}

func TestIsRetryable(t *testing.T) {
	for code, want := range map[string]bool{"40001": true, "40P01": true, "23505": false, "57014": false} {
		err := errors.Join(errors.New("wrapped"), &pgconn.PgError{Code: code})
		if got := db.IsRetryable(err); got != want {
			t.Errorf("IsRetryable(%s) = %v, want %v", code, got, want)
		}
	}
	if db.IsRetryable(errors.New("plain")) || db.IsRetryable(nil) {
		t.Error("non-PostgreSQL error reported retryable")
	}
}

func pgtestMigrated(t *testing.T) string { return pgtest.MigratedDSN(t) }

// migrationCount is how many migration files kind has: versions may leave gaps (each
// branch of work takes its own number), so it is not the latest version.
func migrationCount(t *testing.T, kind db.Kind) int {
	t.Helper()
	fsys, err := db.MigrationsFS(kind)
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}
