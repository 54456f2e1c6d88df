// Package api is the engine's HTTP server: health and readiness probes,
// Prometheus metrics, and the lifecycle (graceful shutdown with hooks) that
// the rest of the HTTP API is mounted into.
//
// Routes:
//
//	GET /healthz  200 {"status":"ok",...} when the database answers, else 503
//	GET /readyz   200 when serving and the database answers; 503 while
//	              shutting down or when the database does not answer
//	GET /metrics  Prometheus text format from the server's own registry
//	              (Go and process collectors, request durations per route)
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Pinger is the database as the probes see it (*db.DB satisfies it).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are the server's dependencies.
type Deps struct {
	DB      Pinger       // required
	DBKind  string       // reported by /healthz, e.g. "sqlite" or "postgres"
	Logger  *slog.Logger // default slog.Default()
	Version string       // reported by /healthz and commcredits_build_info
	// Registry receives the server's metrics and is served on /metrics. If
	// nil, New creates one with the Go and process collectors. Other
	// components register their metrics on Server.Registry().
	Registry *prometheus.Registry
	// PingTimeout bounds a probe's database round trip (default 2s).
	PingTimeout time.Duration
}

// ShutdownFunc is run during graceful shutdown, after the HTTP server has
// stopped accepting and drained in-flight requests. The context carries the
// remaining shutdown deadline.
type ShutdownFunc func(ctx context.Context) error

// Server is the HTTP server. It is an http.Handler; Serve runs it on a
// listener until its context ends and then shuts down gracefully.
type Server struct {
	deps     Deps
	log      *slog.Logger
	mux      *http.ServeMux
	handler  http.Handler
	reg      *prometheus.Registry
	duration *prometheus.HistogramVec
	// observers caches duration's series by observerKey.
	observers sync.Map
	draining  atomic.Bool

	mu    sync.Mutex
	hooks []namedHook
}

type namedHook struct {
	name string
	fn   ShutdownFunc
}

// New builds the server and registers its routes and metrics.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.PingTimeout <= 0 {
		d.PingTimeout = 2 * time.Second
	}
	reg := d.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
	}
	s := &Server{deps: d, log: d.Logger, mux: http.NewServeMux(), reg: reg}
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "commcredits",
		Subsystem: "http",
		Name:      "request_duration_seconds",
		Help:      "Time to serve an HTTP request, by route pattern, method and status code.",
		Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method", "code"})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "commcredits",
		Name:      "build_info",
		Help:      "Always 1; labelled with the running version and database kind.",
	}, []string{"version", "database"})
	reg.MustRegister(s.duration, buildInfo)
	buildInfo.WithLabelValues(d.Version, d.DBKind).Set(1)

	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:          reg,
		EnableOpenMetrics: false,
		ErrorLog:          slogPromLogger{s.log},
	}))
	s.handler = s.instrument(s.mux)
	return s
}

// Registry returns the registry served on /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Handle mounts h on the server's mux under a Go 1.22 pattern such as
// "POST /v1/tenants/{id}/usage". Requests to it are measured like the
// built-in routes, labelled by the pattern.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Mux returns the server's mux, for routers that register one pattern per route (so that
// each route is measured under its own pattern).
func (s *Server) Mux() *http.ServeMux { return s.mux }

// OnShutdown registers fn to run during graceful shutdown. Hooks run in
// reverse order of registration (register the database's Close first, the
// writer that drains into it later), each after the HTTP server has drained.
func (s *Server) OnShutdown(name string, fn ShutdownFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, namedHook{name, fn})
}

// Draining reports whether shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Serve serves HTTP on ln until ctx is done (e.g. SIGINT/SIGTERM), then
// shuts down gracefully within shutdownTimeout: /readyz turns 503, the
// listener closes, in-flight requests finish, then the OnShutdown hooks run
// (last registered first). It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener, shutdownTimeout time.Duration) error {
	if shutdownTimeout <= 0 {
		shutdownTimeout = 15 * time.Second
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()

	var errs []error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", "reason", context.Cause(ctx).Error(), "timeout", shutdownTimeout.String())
	case err := <-serveErr:
		// The listener failed; still drain and run the hooks.
		s.log.Error("http server stopped", "err", err)
		errs = append(errs, fmt.Errorf("api: serve: %w", err))
	}
	s.draining.Store(true)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("api: drain HTTP: %w", err))
		_ = hs.Close()
	}
	s.mu.Lock()
	hooks := append([]namedHook(nil), s.hooks...)
	s.mu.Unlock()
	for i := len(hooks) - 1; i >= 0; i-- {
		h := hooks[i]
		start := time.Now()
		if err := h.fn(sctx); err != nil {
			s.log.Error("shutdown hook failed", "hook", h.name, "err", err)
			errs = append(errs, fmt.Errorf("api: shutdown %s: %w", h.name, err))
			continue
		}
		s.log.Info("shutdown hook done", "hook", h.name, "took", time.Since(start).String())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.log.Info("shutdown complete")
	return nil
}

func (s *Server) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.deps.PingTimeout)
	defer cancel()
	return s.deps.DB.Ping(ctx)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	body := map[string]string{"status": "ok", "database": s.deps.DBKind, "version": s.deps.Version}
	code := http.StatusOK
	if err := s.ping(r.Context()); err != nil {
		// The detail can name hosts; it goes to the log, not to the client.
		s.log.Warn("healthz: database ping failed", "err", err)
		body["status"] = "unavailable"
		body["error"] = "database unreachable"
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	if err := s.ping(r.Context()); err != nil {
		s.log.Warn("readyz: database ping failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "database unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// instrument records the request duration under the matched route pattern
// (r.Pattern, set by the ServeMux; "unmatched" for 404s) so that label
// cardinality stays bounded, and turns handler panics into 500s.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panic", "route", r.Pattern, "panic", fmt.Sprint(p))
				if !sw.wrote {
					http.Error(sw, "internal error", http.StatusInternalServerError)
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			took := time.Since(start)
			s.observer(route, methodLabel(r.Method), code).Observe(took.Seconds())
			if s.log.Enabled(r.Context(), slog.LevelDebug) {
				s.log.Debug("http request", "method", r.Method, "route", route, "code", code, "took", took.String())
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// observerKey names one series of the duration histogram.
type observerKey struct {
	route, method string
	code          int
}

// observer returns the histogram series of a route, method and code, looked up once: the
// label hashing of WithLabelValues on every request is work the answer does not need.
// Routes are mux patterns and methods and codes few, so the cache stays small.
func (s *Server) observer(route, method string, code int) prometheus.Observer {
	k := observerKey{route, method, code}
	if o, ok := s.observers.Load(k); ok {
		return o.(prometheus.Observer)
	}
	o := s.duration.WithLabelValues(route, method, strconv.Itoa(code))
	s.observers.Store(k, o)
	return o
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.code, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush,
// deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type slogPromLogger struct{ l *slog.Logger }

func (p slogPromLogger) Println(v ...any) { p.l.Error("metrics: " + fmt.Sprint(v...)) }
