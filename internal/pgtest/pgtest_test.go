package pgtest_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/commcredits/commcredits/internal/pgtest"
)

const helperEnv = "COMMCREDITS_PGTEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "no-main" {
		// Child process of TestFailsClearlyWithoutServer: no pgtest.Main.
		os.Exit(m.Run())
	}
	pgtest.Main(m)
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func databaseExists(t *testing.T, admin *pgx.Conn, name string) bool {
	t.Helper()
	var n int
	if err := admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestDSNIsFreshEmptyAndDropped(t *testing.T) {
	admin := connect(t, pgtest.AdminDSN(t))
	var name1, name2 string
	t.Run("inner", func(t *testing.T) {
		dsn1, dsn2 := pgtest.DSN(t), pgtest.DSN(t)
		name1, name2 = dbName(t, dsn1), dbName(t, dsn2)
		if name1 == name2 {
			t.Fatalf("two DSN calls gave the same database %s", name1)
		}
		c := connect(t, dsn1)
		var tables int
		if err := c.QueryRow(context.Background(),
			"SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("fresh database has %d tables", tables)
		}
		if !databaseExists(t, admin, name1) {
			t.Fatalf("database %s does not exist during the test", name1)
		}
	})
	for _, n := range []string{name1, name2} {
		if databaseExists(t, admin, n) {
			t.Errorf("database %s still exists after its test ended", n)
		}
	}
}

func TestMigratedDSNHasSchema(t *testing.T) {
	c := connect(t, pgtest.MigratedDSN(t))
	var n int
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM service_meta").Scan(&n); err != nil {
		t.Fatalf("service_meta missing in a migrated database: %v", err)
	}
	var version int64
	if err := c.QueryRow(context.Background(), "SELECT max(version_id) FROM goose_db_version").Scan(&version); err != nil || version < 1 {
		t.Fatalf("goose version %d, %v", version, err)
	}
}

// Without COMMCREDITS_TEST_POSTGRES and without pgtest.Main, DSN must fail
// the test (not skip it) and say how to run the PostgreSQL lane.
func TestFailsClearlyWithoutServer(t *testing.T) {
	if os.Getenv(helperEnv) == "no-main" {
		pgtest.DSN(t)
		t.Log("UNREACHABLE: DSN returned")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFailsClearlyWithoutServer$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=no-main", pgtest.EnvVar+"=")
	out, err := cmd.CombinedOutput()
	s := string(out)
	if err == nil {
		t.Fatalf("child passed; want a failure:\n%s", s)
	}
	for _, want := range []string{"--- FAIL: TestFailsClearlyWithoutServer", "pgtest.Main(m)", "bash .ci/run", pgtest.EnvVar} {
		if !strings.Contains(s, want) {
			t.Errorf("child output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "UNREACHABLE") || strings.Contains(s, "SKIP") {
		t.Errorf("child went on or skipped:\n%s", s)
	}
}
