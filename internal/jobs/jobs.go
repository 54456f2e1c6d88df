// Package jobs runs the engine's durable background jobs on River
// (github.com/riverqueue/river) over either database engine: riverpgxv5 on the
// PostgreSQL pool, riversqlite on the SQLite file.
//
// A job is inserted inside the transaction of the state change that asks for it
// (EnqueuePgx, EnqueueSQL, EnqueueTx), so it exists if and only if that change
// committed. Workers run outside every money transaction: they call the
// payment provider, send email and webhooks, or ask the engine to tick, and
// report back through small interfaces (Charger, Reporter, Contacts, Webhooks,
// Mailer, Ticker) that the engine implements. See docs/jobs.md.
package jobs

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/commcredits/commcredits/internal/db"
)

// Queue names.
const (
	QueuePayments = "payments"
	QueueNotify   = "notify"
	QueueTicks    = "ticks"
)

// VersionTable is the goose table of this package's own migrations (the
// delivery log), apart from the store's goose_db_version.
const VersionTable = "jobs_goose_db_version"

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// Config configures New. Every dependency is optional: a worker whose
// dependency is nil is not registered, and a Jobs with no workers at all is
// insert-only (Start is then a no-op). Jobs of any kind can always be enqueued.
type Config struct {
	// Payment attempts: Charger and Reporter both set registers the worker.
	Charger  Charger
	Reporter Reporter

	// Notifications: the worker is registered when Contacts and Webhooks are both
	// set (New refuses a Mailer without them: mail with nobody to send it to would be
	// dropped). Without a Mailer, email targets fail with ErrNoMailer and are retried.
	Contacts   Contacts
	Mailer     Mailer
	Webhooks   Webhooks
	Names      TenantNames  // optional: tenant display names for the messages
	HTTPClient *http.Client // for webhooks; default: 10 s timeout, no redirects

	// Ticks and sweeps.
	Ticker Ticker
	// SweepEvery enqueues a Sweep job at this interval (River periodic job,
	// enqueued by the elected leader only). 0 disables it.
	SweepEvery time.Duration

	// Workers per queue (default 4 each; SQLite serialises their writes anyway).
	PaymentWorkers, NotifyWorkers, TickWorkers int

	// Backoff, if set, replaces River's retry schedule (attempt^4 seconds:
	// 1 s, 16 s, 81 s, 4m16s, ...) with a delay per failed attempt (1, 2, ...).
	Backoff func(attempt int) time.Duration
	// PollInterval is how often each queue looks for available jobs (River's
	// FetchPollInterval; default 1 s). The clients run poll-only: no
	// LISTEN/NOTIFY on PostgreSQL.
	PollInterval time.Duration
	// RescueAfter is how long a job may stay "running" before the leader
	// assumes its process died and retries it (River's RescueStuckJobsAfter,
	// default 1 h). JobTimeout bounds one run (default 1 min).
	RescueAfter, JobTimeout time.Duration
	// ClientID names this process in river_job.attempted_by (default random).
	ClientID string

	Logger *slog.Logger
	// TestOnly turns off River's start-up jitter of maintenance services.
	TestOnly bool
}

// MigrateTimeout bounds the migrations New applies.
var MigrateTimeout = 2 * time.Minute

// Jobs is a River client on the engine's database.
type Jobs struct {
	kind   db.Kind
	pg     *river.Client[pgx.Tx]
	lite   *river.Client[*sql.Tx]
	liteDB *sql.DB // River's own connection to the SQLite file
	store  logStore
	works  bool
}

// New opens a River client on d, applies River's migrations and this
// package's own (the delivery log), and registers the configured workers.
//
// On SQLite River gets its own *sql.DB to the same file (see OpenSQLite): it
// never uses the engine's write connection except through the transactions
// the engine hands to EnqueueSQL.
func New(d *db.DB, cfg Config) (*Jobs, error) {
	ctx, cancel := context.WithTimeout(context.Background(), MigrateTimeout)
	defer cancel()
	j := &Jobs{kind: d.Kind()}
	workers := river.NewWorkers()
	queues := map[string]river.QueueConfig{}
	var logDB logStore
	switch d.Kind() {
	case db.Postgres:
		logDB = pgLog{d.Pool()}
	case db.SQLite:
		lite, err := OpenSQLite(d.Path())
		if err != nil {
			return nil, err
		}
		j.liteDB = lite
		logDB = sqlLog{lite}
	default:
		return nil, fmt.Errorf("jobs: unsupported database kind %q", d.Kind())
	}
	j.store = logDB
	fail := func(err error) (*Jobs, error) {
		if j.liteDB != nil {
			j.liteDB.Close()
		}
		return nil, err
	}
	if err := j.migrate(ctx, d); err != nil {
		return fail(err)
	}

	if cfg.Charger != nil && cfg.Reporter != nil {
		river.AddWorker(workers, &PaymentWorker{Charger: cfg.Charger, Reporter: cfg.Reporter})
		queues[QueuePayments] = river.QueueConfig{MaxWorkers: orDefault(cfg.PaymentWorkers, 4)}
	}
	if (cfg.Mailer != nil || cfg.Contacts != nil || cfg.Webhooks != nil) && (cfg.Contacts == nil || cfg.Webhooks == nil) {
		return fail(errors.New("jobs: notifications need both Contacts and Webhooks (the tenant's billing contacts and endpoints)"))
	}
	if cfg.Contacts != nil && cfg.Webhooks != nil {
		hc := cfg.HTTPClient
		if hc == nil {
			hc = &http.Client{Timeout: 10 * time.Second, CheckRedirect: noRedirects}
		}
		river.AddWorker(workers, &NotifyWorker{Contacts: cfg.Contacts, Mailer: cfg.Mailer, Webhooks: cfg.Webhooks,
			Names: cfg.Names, HTTP: hc, log: logDB})
		queues[QueueNotify] = river.QueueConfig{MaxWorkers: orDefault(cfg.NotifyWorkers, 4)}
	}
	var periodic []*river.PeriodicJob
	if cfg.Ticker != nil {
		river.AddWorker(workers, &TickWorker{Ticker: cfg.Ticker})
		river.AddWorker(workers, &SweepWorker{Ticker: cfg.Ticker})
		queues[QueueTicks] = river.QueueConfig{MaxWorkers: orDefault(cfg.TickWorkers, 4)}
		if cfg.SweepEvery > 0 {
			periodic = append(periodic, river.NewPeriodicJob(
				river.PeriodicInterval(cfg.SweepEvery),
				func() (river.JobArgs, *river.InsertOpts) { return Sweep{}, nil },
				&river.PeriodicJobOpts{ID: "sweep"},
			))
		}
	}
	rc := &river.Config{
		ID:                   cfg.ClientID,
		Logger:               cfg.Logger,
		PollOnly:             true,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(100*time.Millisecond, orDur(cfg.PollInterval, time.Second)),
		RescueStuckJobsAfter: cfg.RescueAfter,
		JobTimeout:           cfg.JobTimeout,
		SkipUnknownJobCheck:  true, // an insert-only process enqueues kinds another process works
		TestOnly:             cfg.TestOnly,
	}
	if cfg.Backoff != nil {
		rc.RetryPolicy = backoffPolicy(cfg.Backoff)
	}
	if len(queues) > 0 {
		j.works = true
		rc.Queues = queues
		rc.Workers = workers
		rc.PeriodicJobs = periodic
	}
	var err error
	switch d.Kind() {
	case db.Postgres:
		j.pg, err = river.NewClient(riverpgxv5.New(d.Pool()), rc)
	case db.SQLite:
		j.lite, err = river.NewClient(riversqlite.New(j.liteDB), rc)
	}
	if err != nil {
		return fail(fmt.Errorf("jobs: river client: %w", err))
	}
	return j, nil
}

// OpenSQLite opens River's own connection to the SQLite file at path: one
// connection (River's advice: it runs many small operations concurrently),
// WAL, synchronous=FULL, every transaction BEGIN IMMEDIATE, and the same busy
// timeout as the engine, so that River and the engine's single writer take
// turns at SQLite's one write lock instead of failing with SQLITE_BUSY.
func OpenSQLite(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	lite, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("jobs: open SQLite %q: %w", path, err)
	}
	lite.SetMaxOpenConns(1)
	lite.SetMaxIdleConns(1)
	lite.SetConnMaxLifetime(0)
	lite.SetConnMaxIdleTime(0)
	return lite, nil
}

func (j *Jobs) migrate(ctx context.Context, d *db.DB) error {
	var (
		sqlDB   *sql.DB
		dialect goose.Dialect
		dir     string
	)
	switch j.kind {
	case db.Postgres:
		m, err := rivermigrate.New(riverpgxv5.New(d.Pool()), nil)
		if err != nil {
			return fmt.Errorf("jobs: river migrations: %w", err)
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("jobs: river migrations: %w", err)
		}
		sqlDB, dialect, dir = stdlib.OpenDBFromPool(d.Pool()), goose.DialectPostgres, "migrations/postgres"
		defer sqlDB.Close()
	case db.SQLite:
		m, err := rivermigrate.New(riversqlite.New(j.liteDB), nil)
		if err != nil {
			return fmt.Errorf("jobs: river migrations: %w", err)
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("jobs: river migrations: %w", err)
		}
		sqlDB, dialect, dir = j.liteDB, goose.DialectSQLite3, "migrations/sqlite"
	}
	fsys, err := fs.Sub(migrationFiles, dir)
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(dialect, sqlDB, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithTableName(VersionTable))
	if err != nil {
		return fmt.Errorf("jobs: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("jobs: migrations: %w", err)
	}
	return nil
}

// Start starts working jobs (and, on the elected leader, River's maintenance:
// scheduling retries, rescuing stuck jobs, periodic jobs, cleaning old rows).
// An insert-only Jobs does nothing.
func (j *Jobs) Start(ctx context.Context) error {
	if !j.works {
		return nil
	}
	if j.pg != nil {
		return j.pg.Start(ctx)
	}
	return j.lite.Start(ctx)
}

// Stop stops fetching jobs and waits for running ones to finish. If ctx ends
// first, running jobs are cancelled (their contexts are done; an interrupted
// job is retried later, which is why every worker is idempotent by key) and
// Stop waits for them to return. It also closes River's SQLite connection; a
// Jobs cannot be started again after Stop.
func (j *Jobs) Stop(ctx context.Context) error {
	var err error
	if j.works {
		err = j.client().Stop(ctx)
		if err != nil && ctx.Err() != nil {
			hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			err = errors.Join(err, j.client().StopAndCancel(hard))
			cancel()
		}
	}
	if j.liteDB != nil {
		err = errors.Join(err, j.liteDB.Close())
	}
	return err
}

// Kill stops at once, cancelling running jobs, as a crash would from the
// jobs' point of view (tests and emergency shutdown).
func (j *Jobs) Kill(ctx context.Context) error {
	if !j.works {
		return nil
	}
	err := j.client().StopAndCancel(ctx)
	if j.liteDB != nil {
		err = errors.Join(err, j.liteDB.Close())
	}
	return err
}

type riverClient interface {
	Stop(context.Context) error
	StopAndCancel(context.Context) error
	JobList(context.Context, *river.JobListParams) (*river.JobListResult, error)
	JobGet(context.Context, int64) (*rivertype.JobRow, error)
	JobRetry(context.Context, int64) (*rivertype.JobRow, error)
	Insert(context.Context, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertMany(context.Context, []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

func (j *Jobs) client() riverClient {
	if j.pg != nil {
		return j.pg
	}
	return j.lite
}

// PgxClient returns the River client on PostgreSQL (nil on SQLite), for
// what this package does not wrap (subscriptions, queue control).
func (j *Jobs) PgxClient() *river.Client[pgx.Tx] { return j.pg }

// SQLClient returns the River client on SQLite (nil on PostgreSQL).
func (j *Jobs) SQLClient() *river.Client[*sql.Tx] { return j.lite }

// EnqueuePgx inserts jobs inside tx, a transaction on the engine's
// PostgreSQL pool that the caller commits or rolls back: the jobs become
// visible to workers only if it commits. Duplicates of a unique job (same
// attempt key or dedup key) are skipped, not errors.
func (j *Jobs) EnqueuePgx(ctx context.Context, tx pgx.Tx, args ...river.JobArgs) ([]*rivertype.JobInsertResult, error) {
	if j.pg == nil {
		return nil, fmt.Errorf("%w: EnqueuePgx on %s", db.ErrWrongKind, j.kind)
	}
	if len(args) == 0 {
		return nil, nil
	}
	return j.pg.InsertManyTx(ctx, tx, params(args))
}

// EnqueueSQL inserts jobs inside tx, the engine's SQLite write transaction
// (a *sql.Tx begun on db.DB.Write(), BEGIN IMMEDIATE). It runs every
// statement on tx and never touches another connection, so it cannot wait for
// the write lock that tx already holds.
func (j *Jobs) EnqueueSQL(ctx context.Context, tx *sql.Tx, args ...river.JobArgs) ([]*rivertype.JobInsertResult, error) {
	if j.lite == nil {
		return nil, fmt.Errorf("%w: EnqueueSQL on %s", db.ErrWrongKind, j.kind)
	}
	if len(args) == 0 {
		return nil, nil
	}
	return j.lite.InsertManyTx(ctx, tx, params(args))
}

// EnqueueTx is EnqueuePgx or EnqueueSQL by the type of tx (pgx.Tx or *sql.Tx).
func (j *Jobs) EnqueueTx(ctx context.Context, tx any, args ...river.JobArgs) ([]*rivertype.JobInsertResult, error) {
	return j.EnqueueManyTx(ctx, tx, params(args)...)
}

// EnqueueManyTx is EnqueueTx with per-job insert options (e.g. ScheduledAt
// for a Tick at a lot's exact expiry, or a back-off before a new payment
// attempt).
func (j *Jobs) EnqueueManyTx(ctx context.Context, tx any, ps ...river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	switch tx := tx.(type) {
	case pgx.Tx:
		if j.pg == nil {
			return nil, fmt.Errorf("%w: pgx.Tx on %s", db.ErrWrongKind, j.kind)
		}
		return j.pg.InsertManyTx(ctx, tx, ps)
	case *sql.Tx:
		if j.lite == nil {
			return nil, fmt.Errorf("%w: *sql.Tx on %s", db.ErrWrongKind, j.kind)
		}
		return j.lite.InsertManyTx(ctx, tx, ps)
	}
	return nil, fmt.Errorf("jobs: EnqueueTx: unsupported transaction type %T (want pgx.Tx or *sql.Tx)", tx)
}

// Enqueue inserts jobs in a transaction of their own, for callers outside the
// engine's writer (operator commands, resend). Never call it inside a SQLite
// write transaction: it waits for the write lock that transaction holds.
func (j *Jobs) Enqueue(ctx context.Context, args ...river.JobArgs) ([]*rivertype.JobInsertResult, error) {
	if len(args) == 0 {
		return nil, nil
	}
	return j.client().InsertMany(ctx, params(args))
}

// Job returns one job row by id (state, attempts, errors).
func (j *Jobs) Job(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	return j.client().JobGet(ctx, id)
}

// List lists jobs (see river.NewJobListParams: filter by kind, state, queue).
func (j *Jobs) List(ctx context.Context, p *river.JobListParams) ([]*rivertype.JobRow, error) {
	res, err := j.client().JobList(ctx, p)
	if err != nil {
		return nil, err
	}
	return res.Jobs, nil
}

// Retry makes a discarded, cancelled or retryable job available again now
// (manual resend of a failed notification or payment attempt).
func (j *Jobs) Retry(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	return j.client().JobRetry(ctx, id)
}

func params(args []river.JobArgs) []river.InsertManyParams {
	ps := make([]river.InsertManyParams, len(args))
	for i, a := range args {
		ps[i] = river.InsertManyParams{Args: a}
	}
	return ps
}

type backoffPolicy func(attempt int) time.Duration

func (b backoffPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().UTC().Add(b(len(job.Errors) + 1))
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func orDefault(n, d int) int {
	if n > 0 {
		return n
	}
	return d
}

func orDur(v, d time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return d
}
