package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func noEnv(string) string { return "" }

type served struct {
	base   string
	stop   context.CancelFunc
	code   chan int
	stderr *syncBuffer
}

// startServe runs `commcredits serve` in-process on 127.0.0.1:0.
func startServe(t *testing.T, env func(string) string, args ...string) *served {
	t.Helper()
	return startServeOut(t, env, io.Discard, args...)
}

func startServeOut(t *testing.T, env func(string) string, stdout io.Writer, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	s := &served{stop: cancel, code: make(chan int, 1), stderr: &syncBuffer{}}
	go func() {
		s.code <- runWith(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), stdout, s.stderr,
			hooks{getenv: env, listening: func(a net.Addr) { addrs <- a }})
	}()
	select {
	case a := <-addrs:
		s.base = "http://" + a.String()
	case code := <-s.code:
		cancel()
		t.Fatalf("serve exited with %d before listening; log:\n%s", code, s.stderr)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("serve did not start; log:\n%s", s.stderr)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.code:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return s
}

// shutdown stops the server as SIGTERM would and returns the exit code.
func (s *served) shutdown(t *testing.T) int {
	t.Helper()
	s.stop()
	select {
	case code := <-s.code:
		s.code <- code // for Cleanup
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down")
		return -1
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func checkServing(t *testing.T, s *served, kind string) {
	t.Helper()
	code, body := httpGet(t, s.base+"/healthz")
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil || code != 200 || m["status"] != "ok" || m["database"] != kind {
		t.Fatalf("/healthz = %d %q (%v)", code, body, err)
	}
	if code, _ := httpGet(t, s.base+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
	// The web UI is mounted: the sign-in page and its embedded assets.
	if code, body := httpGet(t, s.base+"/ui/signin"); code != 200 || !strings.Contains(body, `action="/ui/signin"`) {
		t.Errorf("/ui/signin = %d", code)
	}
	if code, body := httpGet(t, s.base+"/ui/static/app.css"); code != 200 || !strings.Contains(body, "--accent") {
		t.Errorf("/ui/static/app.css = %d", code)
	}
	code, body = httpGet(t, s.base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		"# TYPE commcredits_http_request_duration_seconds histogram",
		`commcredits_http_request_duration_seconds_count{code="200",method="GET",route="GET /healthz"} 1`,
		"# TYPE go_goroutines gauge",
		"process_resident_memory_bytes",
		`commcredits_build_info{database="` + kind + `"`,
		"# TYPE commcredits_writer_batch_size histogram",
		"# TYPE commcredits_writer_commit_seconds histogram",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func checkLogsAreJSON(t *testing.T, log string) {
	t.Helper()
	sawListening := false
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if rec["msg"] == "listening" {
			sawListening = true
		}
	}
	if !sawListening {
		t.Errorf("no \"listening\" log record in:\n%s", log)
	}
}

func TestServeSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cc.db")
	s := startServe(t, noEnv, "--db", "sqlite:"+path)
	checkServing(t, s, "sqlite")
	if code := s.shutdown(t); code != 0 {
		t.Fatalf("exit code %d; log:\n%s", code, s.stderr)
	}
	checkLogsAreJSON(t, s.stderr.String())
	if !strings.Contains(s.stderr.String(), `"shutdown complete"`) {
		t.Errorf("no clean shutdown logged:\n%s", s.stderr)
	}
	// serve migrated the file.
	d, err := db.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if cur, latest, err := d.SchemaVersion(context.Background()); err != nil || cur != latest || cur == 0 {
		t.Fatalf("after serve: schema %d of %d, %v", cur, latest, err)
	}
}

func TestServePostgres(t *testing.T) {
	dsn := pgtest.DSN(t) // empty: serve must migrate it
	s := startServe(t, noEnv, "--db", dsn)
	checkServing(t, s, "postgres")
	if code := s.shutdown(t); code != 0 {
		t.Fatalf("exit code %d; log:\n%s", code, s.stderr)
	}
	d, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if cur, latest, err := d.SchemaVersion(context.Background()); err != nil || cur != latest || cur == 0 {
		t.Fatalf("after serve: schema %d of %d, %v", cur, latest, err)
	}
}

// The database disappears under a running server: /healthz says 503, the
// process keeps running and still shuts down cleanly.
func TestServeHealthz503WhenPostgresGoesAway(t *testing.T) {
	dsn := pgtest.MigratedDSN(t)
	s := startServe(t, noEnv, "--db", dsn)
	if code, _ := httpGet(t, s.base+"/healthz"); code != 200 {
		t.Fatalf("/healthz before = %d", code)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.AdminDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	code, body := httpGet(t, s.base+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "unavailable") {
		t.Fatalf("/healthz after the database went away = %d %s", code, body)
	}
	if code, _ := httpGet(t, s.base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after the database went away = %d", code)
	}
	if code := s.shutdown(t); code != 0 {
		t.Errorf("exit code %d; log:\n%s", code, s.stderr)
	}
}

func TestServeUnreachablePostgresIsACleanStartupError(t *testing.T) {
	var stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := runWith(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", "postgres://postgres:hunter2@127.0.0.1:1/none?connect_timeout=2"},
		io.Discard, &stderr, hooks{getenv: noEnv, listening: func(net.Addr) { t.Error("serve listened without a database") }})
	if code != exitError {
		t.Fatalf("exit code %d, want %d", code, exitError)
	}
	log := stderr.String()
	if !strings.Contains(log, "cannot reach PostgreSQL") || !strings.Contains(log, `"level":"ERROR"`) {
		t.Errorf("log does not explain the failure:\n%s", log)
	}
	if strings.Contains(log, "hunter2") || strings.Contains(log, "panic") {
		t.Errorf("log leaks the password or panicked:\n%s", log)
	}
}

func TestFlagsWinOverEnv(t *testing.T) {
	dir := t.TempDir()
	envPath := filepath.Join(dir, "from-env.db")
	env := func(k string) string {
		switch k {
		case envDB:
			return "sqlite:" + envPath
		case envAddr:
			return "127.0.0.1:1" // would fail to bind if used: the flag must win
		}
		return ""
	}
	// Env only for the database, flag for the address.
	s := startServe(t, env)
	if code, _ := httpGet(t, s.base+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	s.shutdown(t)
	if !strings.Contains(s.stderr.String(), "from-env.db") {
		t.Errorf("COMMCREDITS_DB was not used:\n%s", s.stderr)
	}
	// Flag over env for the database.
	flagPath := filepath.Join(dir, "from-flag.db")
	s2 := startServe(t, env, "--db", "sqlite:"+flagPath)
	s2.shutdown(t)
	if !strings.Contains(s2.stderr.String(), "from-flag.db") || strings.Contains(s2.stderr.String(), "from-env.db") {
		t.Errorf("--db did not win over COMMCREDITS_DB:\n%s", s2.stderr)
	}
}

func TestMigrateCommand(t *testing.T) {
	ctx := context.Background()
	for _, dsn := range []string{"sqlite:" + filepath.Join(t.TempDir(), "m.db"), pgtest.DSN(t)} {
		var out, errb bytes.Buffer
		if code := runWith(ctx, []string{"migrate", "--db", dsn}, &out, &errb, hooks{getenv: noEnv}); code != 0 {
			t.Fatalf("migrate %s: exit %d: %s", db.Redact(dsn), code, errb.String())
		}
		if strings.Contains(out.String(), "applied 0 ") {
			t.Errorf("first migrate applied nothing: %s", out.String())
		}
		out.Reset()
		if code := runWith(ctx, []string{"migrate", "--db", dsn}, &out, &errb, hooks{getenv: noEnv}); code != 0 {
			t.Fatalf("second migrate: exit %d: %s", code, errb.String())
		}
		if !strings.Contains(out.String(), "applied 0 migration(s)") {
			t.Errorf("second migrate was not a no-op: %s", out.String())
		}
	}
	var out, errb bytes.Buffer
	if code := runWith(ctx, []string{"migrate", "--db", "oracle://x"}, &out, &errb, hooks{getenv: noEnv}); code != exitError ||
		!strings.Contains(errb.String(), "unsupported DSN scheme") {
		t.Errorf("migrate with a bad DSN: exit %d, %q", code, errb.String())
	}
}

func TestCommandLine(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{[]string{"version"}, 0, "commcredits dev", ""},
		{[]string{"help"}, 0, "serve", ""},
		{nil, exitUsage, "", "Usage: commcredits"},
		{[]string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{[]string{"serve", "--no-such-flag"}, exitUsage, "", "flag provided but not defined"},
		{[]string{"serve", "extra"}, exitUsage, "", "unexpected arguments"},
		{[]string{"serve", "-h"}, 0, "", "-addr"},
		{[]string{"serve", "--log-level", "loud"}, exitUsage, "", "invalid log level"},
		// Mailed sign-in links must not take their host from the request's Host header: anyone
		// could ask for a link to an admin's address that points at their own server.
		{[]string{"serve", "--smtp-host", "127.0.0.1"}, exitUsage, "", "--base-url"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := runWith(ctx, c.args, &out, &errb, hooks{getenv: noEnv})
		if code != c.code || !strings.Contains(out.String(), c.out) || !strings.Contains(errb.String(), c.errOut) {
			t.Errorf("%v: exit %d stdout %q stderr %q; want %d, %q, %q", c.args, code, out.String(), errb.String(), c.code, c.out, c.errOut)
		}
	}
}
