// Package db opens the engine's database, SQLite (embedded, single writer)
// or PostgreSQL (server, pgxpool), and applies the embedded schema
// migrations.
//
// DSNs:
//
//	sqlite:PATH                 a SQLite file (created if missing)
//	sqlite::memory:             a private temporary file, deleted on Close
//	postgres://... / postgresql://...
//	                            a PostgreSQL server (pgx connection string)
//
// SQLite runs in WAL mode with synchronous=FULL (an acknowledged commit
// survives power loss), foreign keys on and a busy timeout. It is exposed as
// one write connection (Write, MaxOpenConns 1, every transaction BEGIN
// IMMEDIATE) for the single writer and a separate read-only pool (Read).
//
// PostgreSQL is exposed as a *pgxpool.Pool (Pool). The SQL used here stays
// portable to YugabyteDB: no advisory locks, no LISTEN/NOTIFY.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DefaultDSN is the DSN used when none is configured.
const DefaultDSN = "sqlite:commcredits.db"

// Kind names a database engine.
type Kind string

// The supported engines.
const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
)

// DB is an open database of either kind. Use Kind to tell which; the
// accessors of the other kind return nil.
type DB struct {
	kind Kind

	// SQLite
	write   *sql.DB
	read    *sql.DB
	path    string
	tempDir string // set for sqlite::memory:, removed on Close

	// PostgreSQL
	pool *pgxpool.Pool

	closeOnce sync.Once
	closeErr  error

	// SQLite checkpoints, on a connection of their own.
	checkpointer *sql.DB
	stop         chan struct{}
	loopDone     chan struct{}
}

// checkpointEvery is how often the WAL is copied back into the database file.
const checkpointEvery = 250 * time.Millisecond

// walRestartFrames is the WAL length (in pages) past which the checkpointer waits for a gap
// between commits, so that the next commit starts the WAL from its beginning again.
const walRestartFrames = 20_000

// checkpointLoop copies committed WAL frames into the database file in the background.
// PASSIVE never waits for the writer, so commits do not pay for it. Under a steady stream of
// commits the WAL may never be caught up at the moment a commit starts, so once it is long
// a RESTART checkpoint waits for a gap between commits and resets it.
func (d *DB) checkpointLoop(every time.Duration) {
	defer close(d.loopDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			_, _ = d.checkpointer.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
			return
		case <-t.C:
			var busy, frames, done int64
			if err := d.checkpointer.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done); err == nil && frames > walRestartFrames {
				_, _ = d.checkpointer.Exec("PRAGMA wal_checkpoint(RESTART)")
			}
		}
	}
}

// Option changes how Open behaves.
type Option func(*options)

type options struct {
	migrate      bool
	readConns    int
	busyTimeout  time.Duration
	pgMaxConns   int32
	pingOnOpen   bool
	pgConfigHook func(*pgxpool.Config)
}

// WithMigrate makes Open apply all pending migrations before returning.
func WithMigrate() Option { return func(o *options) { o.migrate = true } }

// WithReadConns sets the size of the SQLite read pool (default
// max(4, GOMAXPROCS)).
func WithReadConns(n int) Option { return func(o *options) { o.readConns = n } }

// WithBusyTimeout sets the SQLite busy timeout (default 5s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// DefaultPostgresConns is the PostgreSQL pool's size when neither the DSN (pool_max_conns)
// nor WithPostgresMaxConns gives one.
const DefaultPostgresConns = 16

// WithPostgresMaxConns sets pgxpool's MaxConns (default: pool_max_conns from the DSN, else
// DefaultPostgresConns).
func WithPostgresMaxConns(n int32) Option { return func(o *options) { o.pgMaxConns = n } }

// WithPostgresConfig lets the caller adjust the pgxpool configuration
// (after the DSN has been parsed, before the pool is created).
func WithPostgresConfig(fn func(*pgxpool.Config)) Option {
	return func(o *options) { o.pgConfigHook = fn }
}

// WithoutPing makes Open skip its initial round trip to the database. By
// default Open pings so that a wrong DSN or an unreachable server is
// reported at once.
func WithoutPing() Option { return func(o *options) { o.pingOnOpen = false } }

// Open opens the database named by dsn (see the package documentation). An
// empty dsn means DefaultDSN. Unless WithoutPing is given, Open checks that
// the database answers.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	o := options{
		readConns:   max(4, runtime.GOMAXPROCS(0)),
		busyTimeout: 5 * time.Second,
		pingOnOpen:  true,
	}
	for _, fn := range opts {
		fn(&o)
	}
	if dsn == "" {
		dsn = DefaultDSN
	}
	kind, rest, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	var d *DB
	switch kind {
	case SQLite:
		d, err = openSQLite(ctx, rest, o)
	case Postgres:
		d, err = openPostgres(ctx, dsn, o)
	}
	if err != nil {
		return nil, err
	}
	if o.migrate {
		if _, err := d.Migrate(ctx); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// ParseDSN reports the engine named by dsn and, for SQLite, the path part
// (":memory:" for an in-memory database). It does not touch the database.
func ParseDSN(dsn string) (Kind, string, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		path = strings.TrimPrefix(path, "//") // accept sqlite://PATH too
		if path == "" {
			return "", "", errors.New("db: empty SQLite path in DSN (want sqlite:PATH, e.g. sqlite:commcredits.db)")
		}
		if strings.ContainsAny(path, "?#") {
			return "", "", fmt.Errorf("db: SQLite path %q must not contain '?' or '#'; connection settings are fixed by the engine", path)
		}
		return SQLite, path, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return Postgres, "", nil
	}
	scheme := dsn
	if i := strings.Index(dsn, ":"); i >= 0 {
		scheme = dsn[:i]
	} else {
		scheme = "(none)"
	}
	return "", "", fmt.Errorf("db: unsupported DSN scheme %q: want sqlite:PATH or postgres://USER@HOST/DB", scheme)
}

// Redact returns dsn with any password replaced by "xxxxx", for logs and
// error messages.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "sqlite" {
		if err != nil && strings.Contains(dsn, "@") {
			return "(unparsable DSN)"
		}
		return dsn
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func openSQLite(ctx context.Context, path string, o options) (*DB, error) {
	d := &DB{kind: SQLite}
	if path == ":memory:" {
		// Two *sql.DB (writer and readers) cannot share a true in-memory
		// database without shared-cache mode, whose table locks would
		// defeat the single-writer/many-readers design. Use a private
		// temporary file instead; Close deletes it.
		dir, err := os.MkdirTemp("", "commcredits-sqlite-*")
		if err != nil {
			return nil, fmt.Errorf("db: temp dir for sqlite::memory: %w", err)
		}
		d.tempDir = dir
		path = filepath.Join(dir, "mem.db")
	}
	d.path = path

	busy := o.busyTimeout.Milliseconds()
	common := url.Values{}
	common.Set("_busy_timeout", fmt.Sprint(busy))
	common.Set("_foreign_keys", "1")
	common.Set("_time_format", "sqlite")

	wq := url.Values{}
	for k, v := range common {
		wq[k] = v
	}
	wq.Set("_journal_mode", "WAL")
	wq.Set("_synchronous", "FULL")
	wq.Set("_txlock", "immediate")
	// A 16 MiB page cache: ledger rows are keyed by tenant, so a batch touches pages all over
	// the tables, and the 2 MiB default missed on most of them. Not more: modernc's allocator
	// gives each cached 4 KiB page an 8 KiB slot, so the cache costs twice its size in RSS.
	// 64 MiB (128 MiB resident) read one page fewer per four CDRs of an import than 32 MiB;
	// 32 MiB read ~1.5 KB less per CDR than 16 MiB (from the OS's cache: no measurable CPU in
	// BenchmarkImportCSV or P4) for 35 MB more RSS, an eighth of P4's 256 MB budget.
	// Checkpoints run beside the writer (checkpointLoop), not inside its commits.
	wq.Add("_pragma", "cache_size(-16384)")
	wq.Add("_pragma", "wal_autocheckpoint(0)")
	// Multi-row statements keep a statement journal in case one row fails; SQLite spills it
	// to a temporary file past 64 KiB, and those writes were 6 % of a CDR import.
	wq.Add("_pragma", "temp_store(MEMORY)")
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("db: open SQLite %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	d.write = w

	// The write connection converts the file to WAL first, so that the
	// readers below find it in WAL mode (the mode is persistent).
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		d.Close()
		return nil, fmt.Errorf("db: open SQLite %q: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		d.Close()
		return nil, fmt.Errorf("db: open SQLite %q: journal_mode is %q, want wal (is the file on a filesystem without shared memory?)", path, mode)
	}

	rq := url.Values{}
	for k, v := range common {
		rq[k] = v
	}
	rq.Set("_synchronous", "FULL")
	rq.Set("_query_only", "1")
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("db: open SQLite %q: %w", path, err)
	}
	r.SetMaxOpenConns(o.readConns)
	r.SetMaxIdleConns(o.readConns)
	d.read = r

	cq := url.Values{}
	for k, v := range common {
		cq[k] = v
	}
	c, err := sql.Open("sqlite", path+"?"+cq.Encode())
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("db: open SQLite %q: %w", path, err)
	}
	c.SetMaxOpenConns(1)
	d.checkpointer = c
	d.stop = make(chan struct{})
	d.loopDone = make(chan struct{})
	go d.checkpointLoop(checkpointEvery)

	if o.pingOnOpen {
		if err := d.Ping(ctx); err != nil {
			d.Close()
			return nil, fmt.Errorf("db: open SQLite %q: %w", path, err)
		}
	}
	return d, nil
}

func openPostgres(ctx context.Context, dsn string, o options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN; do not leak a password.
		return nil, fmt.Errorf("db: invalid PostgreSQL DSN %s: %v", Redact(dsn), redactErr(err, dsn))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Without connect_timeout in the DSN, a black-holed host would make
		// every pool dial wait for the caller's context only.
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	switch {
	case o.pgMaxConns > 0:
		cfg.MaxConns = o.pgMaxConns
	case !strings.Contains(dsn, "pool_max_conns"):
		// pgxpool's default (4 on a small machine) would leave the writer's shards waiting
		// for connections the readers and jobs hold.
		cfg.MaxConns = max(cfg.MaxConns, DefaultPostgresConns)
	}
	if o.pgConfigHook != nil {
		o.pgConfigHook(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: open PostgreSQL %s: %w", Redact(dsn), err)
	}
	d := &DB{kind: Postgres, pool: pool}
	if o.pingOnOpen {
		if err := d.Ping(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("db: cannot reach PostgreSQL %s: %w", Redact(dsn), err)
		}
	}
	return d, nil
}

func redactErr(err error, dsn string) string {
	s := err.Error()
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			s = strings.ReplaceAll(s, p, "xxxxx")
		}
	}
	return s
}

// Kind reports the engine.
func (d *DB) Kind() Kind { return d.kind }

// Write returns the SQLite write connection: a *sql.DB limited to one open
// connection, on which every transaction begins with BEGIN IMMEDIATE. Only
// the single writer uses it. Nil for PostgreSQL.
func (d *DB) Write() *sql.DB { return d.write }

// Read returns the SQLite read-only pool (query_only). Nil for PostgreSQL.
func (d *DB) Read() *sql.DB { return d.read }

// Path returns the SQLite file path ("" for PostgreSQL).
func (d *DB) Path() string { return d.path }

// Pool returns the PostgreSQL pool. Nil for SQLite.
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Ping checks that the database answers (for SQLite: both the write
// connection and the read pool).
func (d *DB) Ping(ctx context.Context) error {
	switch d.kind {
	case SQLite:
		if err := d.write.PingContext(ctx); err != nil {
			return err
		}
		return d.read.PingContext(ctx)
	case Postgres:
		// pgxpool's Ping acquires a connection and runs an empty statement.
		return d.pool.Ping(ctx)
	}
	return errors.New("db: not open")
}

// Close closes all connections. For sqlite::memory: it also deletes the
// temporary file. Safe to call more than once; later calls return nil. After
// Close, Ping and queries fail with an error (they do not panic).
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		var errs []error
		if d.stop != nil {
			close(d.stop)
			<-d.loopDone
			errs = append(errs, d.checkpointer.Close())
		}
		if d.read != nil {
			errs = append(errs, d.read.Close())
		}
		if d.write != nil {
			errs = append(errs, d.write.Close())
		}
		if d.pool != nil {
			d.pool.Close()
		}
		if d.tempDir != "" {
			errs = append(errs, os.RemoveAll(d.tempDir))
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}
