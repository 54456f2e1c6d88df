package db

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// The migrations are goose SQL files, one directory per dialect because the
// dialects differ. Add a schema change as the next numbered file in BOTH
// directories (e.g. 00002_ledger.sql); never edit a file that has shipped.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// VersionTable is the table in which goose records applied migrations.
const VersionTable = "goose_db_version"

// MigrationsFS returns the embedded migration files for kind (the *.sql
// files at the root of the returned FS).
func MigrationsFS(kind Kind) (fs.FS, error) {
	switch kind {
	case SQLite:
		return fs.Sub(migrationFiles, "migrations/sqlite")
	case Postgres:
		return fs.Sub(migrationFiles, "migrations/postgres")
	}
	return nil, fmt.Errorf("db: no migrations for kind %q", kind)
}

// Migrate applies all pending migrations and returns how many it applied
// (0 when the schema is already current). On SQLite it runs on the write
// connection, each migration in its own BEGIN IMMEDIATE transaction; on
// PostgreSQL each migration runs in its own transaction. No advisory lock is
// taken (the SQL stays portable to YugabyteDB): run migrations from one
// process at a time, e.g. `commcredits migrate` before starting replicas.
func (d *DB) Migrate(ctx context.Context) (int, error) {
	p, closeFn, err := d.provider()
	if err != nil {
		return 0, err
	}
	defer closeFn()
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("db: migrate %s: %w", d.kind, err)
	}
	return len(res), nil
}

// SchemaVersion returns the highest applied migration version (0 when none
// has been applied) and the highest version this binary knows.
func (d *DB) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, closeFn, err := d.provider()
	if err != nil {
		return 0, 0, err
	}
	defer closeFn()
	current, latest, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("db: schema version: %w", err)
	}
	return current, latest, nil
}

func (d *DB) provider() (*goose.Provider, func(), error) {
	fsys, err := MigrationsFS(d.kind)
	if err != nil {
		return nil, nil, err
	}
	var (
		sqlDB   *sql.DB
		dialect goose.Dialect
		closeFn = func() {}
	)
	switch d.kind {
	case SQLite:
		sqlDB, dialect = d.write, goose.DialectSQLite3
	case Postgres:
		// A database/sql view of the pool; closing it leaves the pool open.
		sqlDB, dialect = stdlib.OpenDBFromPool(d.pool), goose.DialectPostgres
		closeFn = func() { sqlDB.Close() }
	}
	p, err := goose.NewProvider(dialect, sqlDB, fsys,
		goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(VersionTable),
	)
	if err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("db: migrations: %w", err)
	}
	return p, closeFn, nil
}
