// Package pgtest gives each test its own fresh PostgreSQL database.
//
// The server comes from the environment variable COMMCREDITS_TEST_POSTGRES
// when it is set: a postgres:// DSN of an administrative database on a
// server where the user may CREATE and DROP databases, for example
// postgres://postgres@/postgres?host=/tmp/pgsock (this is what .ci/run
// sets). Otherwise pgtest starts a throwaway cluster for the test process
// (initdb from PATH or /usr/lib/postgresql/*/bin, in a temporary directory,
// unix socket only, as the "postgres" user when running as root) and stops
// and deletes it when the tests finish. That needs the package's TestMain
// to call Main:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// If neither is available the test fails (it is never skipped) with a
// message saying how to run the PostgreSQL lane.
//
// DSN returns an empty database; MigratedDSN returns a database with all of
// internal/db's migrations applied, cloned from a template database that is
// built once per migration set (CREATE DATABASE ... TEMPLATE ...). Both are
// dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/commcredits/commcredits/internal/db"
)

// EnvVar names the environment variable holding the admin DSN of an
// existing server.
const EnvVar = "COMMCREDITS_TEST_POSTGRES"

// howTo is appended to every "no server" failure.
const howTo = "To run the PostgreSQL lane: `bash .ci/run` (installs PostgreSQL 15 if needed, starts a throwaway cluster, runs go test ./...), " +
	"or set " + EnvVar + " to an admin DSN such as postgres://postgres@/postgres?host=/tmp/pgsock, " +
	"or install PostgreSQL (apt-get install -y postgresql-15) and call pgtest.Main(m) from the package's TestMain."

var (
	mainActive atomic.Bool

	srvMu   sync.Mutex
	srv     *server // nil until first use
	srvErr  error
	tplMu   sync.Mutex
	tplName string
	tplErr  error
)

type server struct {
	adminDSN string
	admin    *pgxpool.Pool
	cluster  *cluster // nil when the server came from EnvVar
}

// Main runs the tests of a package that uses pgtest and then stops the
// throwaway cluster, if one was started, and exits. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	mainActive.Store(true)
	code := m.Run()
	if err := shutdown(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: shutdown: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func shutdown() error {
	srvMu.Lock()
	defer srvMu.Unlock()
	if srv == nil {
		return nil
	}
	srv.admin.Close()
	var err error
	if srv.cluster != nil {
		err = srv.cluster.stop()
	}
	srv = nil
	srvErr = errors.New("pgtest: server already shut down")
	return err
}

// getServer returns the server, starting the throwaway cluster on first use.
func getServer(t testing.TB) *server {
	t.Helper()
	srvMu.Lock()
	defer srvMu.Unlock()
	if srv == nil && srvErr == nil {
		srv, srvErr = startServer()
	}
	if srvErr != nil {
		t.Fatal(srvErr)
	}
	return srv
}

func startServer() (*server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := &server{}
	if dsn := os.Getenv(EnvVar); dsn != "" {
		if !isURLDSN(dsn) {
			return nil, fmt.Errorf("pgtest: %s must be a postgres:// URL, got %s", EnvVar, db.Redact(dsn))
		}
		s.adminDSN = dsn
	} else {
		if !mainActive.Load() {
			return nil, fmt.Errorf("pgtest: %s is not set, and this test package's TestMain does not call pgtest.Main(m), "+
				"so pgtest cannot start (and afterwards stop) a throwaway PostgreSQL cluster. "+
				"Add `func TestMain(m *testing.M) { pgtest.Main(m) }` to the package. %s", EnvVar, howTo)
		}
		bin, err := findBinDir()
		if err != nil {
			return nil, fmt.Errorf("pgtest: %s is not set and no PostgreSQL installation was found (%v). %s", EnvVar, err, howTo)
		}
		c, err := startCluster(ctx, bin)
		if err != nil {
			return nil, fmt.Errorf("pgtest: start throwaway cluster: %w", err)
		}
		s.cluster = c
		s.adminDSN = c.dsn
	}
	cfg, err := pgxpool.ParseConfig(s.adminDSN)
	if err != nil {
		s.stopCluster()
		return nil, fmt.Errorf("pgtest: admin DSN %s: %w", db.Redact(s.adminDSN), err)
	}
	cfg.MaxConns = 4
	s.admin, err = pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = s.admin.Ping(ctx)
	}
	if err != nil {
		if s.admin != nil {
			s.admin.Close()
		}
		s.stopCluster()
		return nil, fmt.Errorf("pgtest: cannot reach the PostgreSQL server %s: %w. %s", db.Redact(s.adminDSN), err, howTo)
	}
	return s, nil
}

func (s *server) stopCluster() {
	if s.cluster != nil {
		_ = s.cluster.stop()
	}
}

// AdminDSN returns the DSN of the server's administrative database, for
// tests that must act on the server itself (e.g. terminate connections).
// Do not create tables there.
func AdminDSN(t testing.TB) string {
	t.Helper()
	return getServer(t).adminDSN
}

// DSN creates a fresh, empty database for this test and returns its
// postgres:// DSN. The database is dropped (WITH (FORCE)) when the test and
// its subtests have finished.
func DSN(t testing.TB) string {
	t.Helper()
	return create(t, getServer(t), "")
}

// MigratedDSN is DSN for a database that already has all of internal/db's
// migrations applied (cloned from a template, so it is fast).
func MigratedDSN(t testing.TB) string {
	t.Helper()
	s := getServer(t)
	tpl, err := template(s)
	if err != nil {
		t.Fatalf("pgtest: migrated template: %v", err)
	}
	return create(t, s, tpl)
}

func create(t testing.TB, s *server, template string) string {
	t.Helper()
	name := "cc_test_" + sanitize(t.Name()) + "_" + randHex(4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sqlText := "CREATE DATABASE " + ident(name)
	if template != "" {
		sqlText += " TEMPLATE " + ident(template)
	}
	if err := execRetry(ctx, s.admin, sqlText); err != nil {
		t.Fatalf("pgtest: %s: %v", sqlText, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(s.adminDSN, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// template returns the name of the migrated template database, building it
// on first use. Its name carries a hash of the migration files, so every
// test process on the server (go test runs packages in parallel) shares one
// template per migration set, and a changed migration set gets a new one.
// The template is built under a temporary name and renamed into place only
// when complete, so a process that finds it can use it at once.
func template(s *server) (string, error) {
	tplMu.Lock()
	defer tplMu.Unlock()
	if tplName != "" || tplErr != nil {
		return tplName, tplErr
	}
	tplName, tplErr = buildTemplate(s)
	return tplName, tplErr
}

func buildTemplate(s *server) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	h, err := migrationsHash()
	if err != nil {
		return "", err
	}
	name := "cc_tpl_" + h
	exists := func() (bool, error) {
		var n int
		err := s.admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n)
		return n > 0, err
	}
	if ok, err := exists(); err != nil || ok {
		return name, err
	}
	tmp := "cc_tplbuild_" + h[:8] + "_" + randHex(4)
	if err := execRetry(ctx, s.admin, "CREATE DATABASE "+ident(tmp)); err != nil {
		return "", err
	}
	dropTmp := func() {
		_, _ = s.admin.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+ident(tmp)+" WITH (FORCE)")
	}
	dsn, err := withDatabase(s.adminDSN, tmp)
	if err != nil {
		dropTmp()
		return "", err
	}
	d, err := db.Open(ctx, dsn, db.WithMigrate())
	if err != nil {
		dropTmp()
		return "", err
	}
	d.Close()
	// Backends of the pool just closed may still be exiting; RENAME needs
	// the database to be unused, so retry "being accessed by other users".
	for {
		_, err = s.admin.Exec(ctx, "ALTER DATABASE "+ident(tmp)+" RENAME TO "+ident(name))
		var pgErr *pgconn.PgError
		if err != nil && errors.As(err, &pgErr) && pgErr.Code == "55006" && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		break
	}
	if err != nil {
		dropTmp()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: another process won
			return name, nil
		}
		return "", fmt.Errorf("pgtest: rename template: %w", err)
	}
	return name, nil
}

// execRetry runs a CREATE DATABASE, retrying while the source template is
// momentarily in use (55006) or PostgreSQL reports a concurrent catalog
// update.
func execRetry(ctx context.Context, p *pgxpool.Pool, sqlText string) error {
	for {
		_, err := p.Exec(ctx, sqlText)
		var pgErr *pgconn.PgError
		if err != nil && errors.As(err, &pgErr) && (pgErr.Code == "55006" || pgErr.Code == "40001") && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		return err
	}
}

func migrationsHash() (string, error) {
	fsys, err := db.MigrationsFS(db.Postgres)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte("pgtest-template-v1\n"))
	err = fs.WalkDir(fsys, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func isURLDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// withDatabase returns the URL DSN dsn with its database replaced by name.
func withDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("pgtest: parse DSN %s: %w", db.Redact(dsn), err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	q := u.Query()
	if q.Has("dbname") {
		q.Set("dbname", name)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() >= 30 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
