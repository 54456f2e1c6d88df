// Package storetest runs a test body once per storage engine: SQLite in a temporary
// directory and PostgreSQL from pgtest. Suites use it so that the same assertions hold on
// both engines.
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/pgtest"
	"github.com/commcredits/commcredits/internal/store"
)

// Engine names an engine and gives fresh databases of it.
type Engine struct {
	Name string
	// DSN returns a new, empty-but-migrated database's DSN, dropped after the test.
	DSN func(t testing.TB) string
}

// Engines lists every engine the store supports.
func Engines() []Engine {
	return []Engine{
		{Name: "sqlite", DSN: func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "cc.db") }},
		{Name: "postgres", DSN: pgtest.MigratedDSN},
	}
}

// Open opens and migrates dsn and closes it when the test ends (closing twice is harmless).
func Open(t testing.TB, dsn string) *store.SQL {
	t.Helper()
	d, err := db.Open(context.Background(), dsn, db.WithMigrate())
	if err != nil {
		t.Fatalf("open %s: %v", db.Redact(dsn), err)
	}
	s := store.New(d)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Each runs body as a subtest per engine with a fresh store.
func Each(t *testing.T, body func(t *testing.T, dsn string, s *store.SQL)) {
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) {
			dsn := e.DSN(t)
			body(t, dsn, Open(t, dsn))
		})
	}
}
