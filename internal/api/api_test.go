package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/api"
)

type fakeDB struct{ err atomic.Pointer[error] }

func (f *fakeDB) Ping(context.Context) error {
	if p := f.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (f *fakeDB) fail(err error) { f.err.Store(&err) }

func quietLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestHealthzFollowsDatabase(t *testing.T) {
	f := &fakeDB{}
	s := api.New(api.Deps{DB: f, DBKind: "sqlite", Version: "test", Logger: quietLogger()})
	code, body := get(t, s, "/healthz")
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("healthz body %q: %v", body, err)
	}
	if code != 200 || m["status"] != "ok" || m["database"] != "sqlite" {
		t.Fatalf("healthz = %d %v", code, m)
	}
	f.fail(errors.New("dial tcp 10.1.2.3:5432: connection refused"))
	code, body = get(t, s, "/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
		t.Fatalf("healthz with failing DB = %d %s", code, body)
	}
	if strings.Contains(body, "10.1.2.3") {
		t.Errorf("healthz leaks the database error to the client: %s", body)
	}
	if code, _ := get(t, s, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz with failing DB = %d", code)
	}
}

func TestMetricsPerRoute(t *testing.T) {
	s := api.New(api.Deps{DB: &fakeDB{}, DBKind: "postgres", Version: "v9", Logger: quietLogger()})
	s.Handle("GET /v1/things/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	get(t, s, "/healthz")
	get(t, s, "/v1/things/1")
	get(t, s, "/v1/things/2")
	get(t, s, "/no/such/path")
	code, body := get(t, s, "/metrics")
	if code != 200 {
		t.Fatalf("metrics = %d", code)
	}
	for _, want := range []string{
		`commcredits_http_request_duration_seconds_count{code="200",method="GET",route="GET /healthz"} 1`,
		`commcredits_http_request_duration_seconds_count{code="418",method="GET",route="GET /v1/things/{id}"} 2`,
		`commcredits_http_request_duration_seconds_count{code="404",method="GET",route="unmatched"} 1`,
		`commcredits_build_info{database="postgres",version="v9"} 1`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestPanicBecomes500(t *testing.T) {
	s := api.New(api.Deps{DB: &fakeDB{}, Logger: quietLogger()})
	s.Handle("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	if code, _ := get(t, s, "/boom"); code != 500 {
		t.Fatalf("panicking handler = %d, want 500", code)
	}
	_, body := get(t, s, "/metrics")
	if !strings.Contains(body, `code="500",method="GET",route="GET /boom"`) {
		t.Error("panic not counted as a 500")
	}
}

// Shutdown: readyz turns 503, the in-flight request completes, the listener
// stops accepting, and only then the hooks run, last registered first.
func TestGracefulShutdownDrainsThenRunsHooks(t *testing.T) {
	s := api.New(api.Deps{DB: &fakeDB{}, Logger: quietLogger()})
	entered := make(chan struct{})
	release := make(chan struct{})
	var requestDone atomic.Bool
	s.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
		requestDone.Store(true)
	}))
	var mu sync.Mutex
	var order []string
	hook := func(name string) api.ShutdownFunc {
		return func(context.Context) error {
			if !requestDone.Load() {
				t.Errorf("hook %s ran before the in-flight request finished", name)
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return nil
		}
	}
	s.OnShutdown("database", hook("database"))
	s.OnShutdown("writer", hook("writer"))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, 10*time.Second) }()

	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	<-entered
	cancel()
	// Wait until shutdown has begun.
	deadline := time.Now().Add(5 * time.Second)
	for !s.Draining() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if code, body := get(t, s, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Errorf("readyz while draining = %d %s", code, body)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if got := <-slow; got != "done" {
		t.Fatalf("in-flight request got %q", got)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if strings.Join(order, ",") != "writer,database" {
		t.Errorf("hooks ran in order %v, want writer then database", order)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("listener still accepts after shutdown")
	}
}

func TestShutdownHookErrorIsReported(t *testing.T) {
	s := api.New(api.Deps{DB: &fakeDB{}, Logger: quietLogger()})
	ran := false
	s.OnShutdown("first", func(context.Context) error { ran = true; return nil })
	s.OnShutdown("broken", func(context.Context) error { return errors.New("flush failed") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Serve(ctx, ln, time.Second)
	if err == nil || !strings.Contains(err.Error(), "flush failed") {
		t.Fatalf("Serve = %v, want the hook's error", err)
	}
	if !ran {
		t.Error("a failing hook stopped the remaining hooks")
	}
}
