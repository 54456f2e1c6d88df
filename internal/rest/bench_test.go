package rest_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commcredits/commcredits/internal/rest"
	"github.com/commcredits/commcredits/internal/store/storetest"
)

// loadConns is the number of client connections, each with one request in flight.
const loadConns = 64

// loadTenants spreads the load over several tenants, as a shared server sees it.
const loadTenants = 8

// benchServer is a harness on SQLite (the default store) with loadTenants funded tenants
// whose user "alice" is on pay-as-you-go (every call reserves credits).
func benchServer(b *testing.B) (*harness, []string, []string) {
	return benchServerOn(b, "sqlite:"+filepath.Join(b.TempDir(), "cc.db"))
}

func benchServerOn(b *testing.B, dsn string) (*harness, []string, []string) {
	st := storetest.Open(b, dsn)
	h := newHarness(b, st, rest.Config{RateLimit: -1})
	var tenants, keys []string
	for i := range loadTenants {
		id := fmt.Sprintf("load%02d", i)
		h.do("POST", "/v1/tenants", h.op, map[string]any{"id": id, "name": id, "currency": "USD"}).want(201)
		k := h.do("POST", "/v1/tenants/"+id+"/keys", h.op, map[string]any{"role": "tenant_admin"}).want(201).json()["secret"].(string)
		h.do("PUT", "/v1/tenants/"+id+"/users/alice", k, map[string]any{"display_name": "A", "usage_location": "GB",
			"licences": []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}}).want(200)
		h.do("POST", "/v1/tenants/"+id+"/credits/funds", k, map[string]any{"amount": "1000000000.00", "method": "ea:LOAD"}).want(200)
		tenants, keys = append(tenants, id), append(keys, k)
	}
	return h, tenants, keys
}

type loadClient struct {
	c    *http.Client
	base string
}

func newLoadClient(base string) *loadClient {
	tr := &http.Transport{MaxIdleConns: loadConns, MaxIdleConnsPerHost: loadConns, MaxConnsPerHost: loadConns, IdleConnTimeout: time.Minute}
	return &loadClient{c: &http.Client{Transport: tr, Timeout: 30 * time.Second}, base: base}
}

func (l *loadClient) post(path, key string, body []byte) (int, error) {
	req, _ := http.NewRequest("POST", l.base+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := l.c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// run calls fn(i) for i in [0, n) on loadConns workers and returns each call's latency.
func run(b *testing.B, n int, fn func(worker, i int) error) []time.Duration {
	var next atomic.Int64
	lat := make([][]time.Duration, loadConns)
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range loadConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := fn(w, i); err != nil {
					failed.Store(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	return all
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRequests reports the CPU per request, requests per second since t0 and the p50
// and p99 of lat (one latency per request).
func reportRequests(b *testing.B, t0 time.Time, c0 time.Duration, lat []time.Duration) {
	el := time.Since(t0)
	reportCPU(b, c0, b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	b.ReportMetric(pct(lat, 0.50), "p50-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ms")
}

// reportCPU reports the process's CPU time per operation since c0 (client, server and
// writer together, as they share the machine): a figure that other load on the machine
// changes far less than it changes throughput.
func reportCPU(b *testing.B, c0 time.Duration, n int) {
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/float64(n), "cpu-us/op")
}

func pct(l []time.Duration, p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	return float64(l[min(len(l)-1, int(float64(len(l))*p))].Microseconds()) / 1000
}

// BenchmarkAuthorizeHTTP: authorize + reserve over loopback HTTP with loadConns
// connections; reports req/s, p50 and p99 in ms. Run with a fixed count, e.g.
// go test ./internal/rest -run - -bench AuthorizeHTTP -benchtime 40000x
func BenchmarkAuthorizeHTTP(b *testing.B) {
	for _, e := range storetest.Engines() {
		// PostgreSQL from pgtest runs with fsync off unless COMMCREDITS_TEST_POSTGRES names a
		// durable server: then it shows what a cheap commit leaves of the HTTP layer's cost.
		b.Run(e.Name, func(b *testing.B) { benchAuthorize(b, e.DSN(b)) })
	}
}

func benchAuthorize(b *testing.B, dsn string) {
	h, tenants, keys := benchServerOn(b, dsn)
	loadAuthorize(b, h, tenants, keys, "user_out", 200)
	reportWriter(b, h)
}

// loadAuthorize sends b.N authorize requests of callType over loadConns connections, each
// expecting status want, and reports req/s, p50, p99 and CPU per request.
func loadAuthorize(b *testing.B, h *harness, tenants, keys []string, callType string, want int) {
	lc := newLoadClient(h.url)
	b.ResetTimer()
	t0, c0 := time.Now(), cpuTime()
	lat := run(b, b.N, func(w, i int) error {
		tn := i % len(tenants)
		body := fmt.Appendf(nil, `{"call_id":"b%d","call_type":"%s","principal":"alice","caller":"+442071838750","callee":"+14155550100"}`, i, callType)
		code, err := lc.post("/v1/tenants/"+tenants[tn]+"/calls/authorize", keys[tn], body)
		if err == nil && code != want {
			err = fmt.Errorf("authorize: status %d, want %d", code, want)
		}
		return err
	})
	reportRequests(b, t0, c0, lat)
}

// BenchmarkFullCallHTTP: authorize → extend → settle per call over loopback HTTP with
// loadConns connections; reports calls/s and the p99 of one request.
func BenchmarkFullCallHTTP(b *testing.B) {
	h, tenants, keys := benchServer(b)
	lc := newLoadClient(h.url)
	var reqLat [loadConns][]time.Duration
	b.ResetTimer()
	t0, c0 := time.Now(), cpuTime()
	run(b, b.N, func(w, i int) error {
		tn := i % len(tenants)
		base := "/v1/tenants/" + tenants[tn] + "/calls/"
		id := fmt.Sprintf("f%d", i)
		for _, step := range []struct {
			path string
			body []byte
		}{
			{base + "authorize", fmt.Appendf(nil, `{"call_id":"%s","call_type":"user_out","principal":"alice","caller":"+442071838750","callee":"+14155550100"}`, id)},
			{base + id + "/extend", []byte(`{"seconds":60}`)},
			{base + id + "/settle", []byte(`{"seconds":75}`)},
		} {
			r0 := time.Now()
			code, err := lc.post(step.path, keys[tn], step.body)
			if err == nil && code != 200 {
				err = fmt.Errorf("%s: status %d", step.path, code)
			}
			if err != nil {
				return err
			}
			reqLat[w] = append(reqLat[w], time.Since(r0))
		}
		return nil
	})
	el := time.Since(t0)
	reportCPU(b, c0, b.N)
	b.StopTimer()
	var all []time.Duration
	for _, l := range reqLat {
		all = append(all, l...)
	}
	slices.Sort(all)
	reportWriter(b, h)
	b.ReportMetric(float64(b.N)/el.Seconds(), "calls/s")
	b.ReportMetric(pct(all, 0.50), "req-p50-ms")
	b.ReportMetric(pct(all, 0.99), "req-p99-ms")
}

// reportWriter reports the writer's mean batch size and commit time: what bounds a
// durable, group-committed request.
func reportWriter(b *testing.B, h *harness) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.svc.Writer.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		hist := mf.GetMetric()[0].GetHistogram()
		if hist == nil || hist.GetSampleCount() == 0 {
			continue
		}
		mean := hist.GetSampleSum() / float64(hist.GetSampleCount())
		switch mf.GetName() {
		case "commcredits_writer_batch_size":
			b.ReportMetric(mean, "batch")
		case "commcredits_writer_commit_seconds":
			b.ReportMetric(mean*1000, "commit-ms")
		}
	}
}

// BenchmarkHTTPLayer is the ceiling of the HTTP layer alone on this machine: the same
// authorize request with a call type the schema refuses, so that authentication, body
// decoding, validation and the problem response run but the writer does not.
func BenchmarkHTTPLayer(b *testing.B) {
	h, tenants, keys := benchServer(b)
	loadAuthorize(b, h, tenants, keys, "fax", 422)
}

// BenchmarkTrivialHTTP is the machine's ceiling for the same client and connection count: a
// net/http handler that reads the body and answers a fixed JSON, to compare with the
// benchmarks above in one run.
func BenchmarkTrivialHTTP(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	lc := newLoadClient(srv.URL)
	b.ResetTimer()
	t0, c0 := time.Now(), cpuTime()
	lat := run(b, b.N, func(w, i int) error {
		_, err := lc.post("/x", "k", []byte(`{"call_id":"b1","call_type":"user_out"}`))
		return err
	})
	reportRequests(b, t0, c0, lat)
}

// BenchmarkCallHandler is the server's own cost of call requests, with no client and no
// network: requests go straight to the server's handler from 64 goroutines, so that the
// writer groups their commits as under load. cpu-us/op is the process's CPU per operation;
// allocs/op and B/op do not depend on the machine or its other load. /authorize is one
// authorize + reserve, /refused the HTTP layer alone (a call type the schema refuses, as
// BenchmarkHTTPLayer), /fullcall authorize → extend → settle (three requests per op).
func BenchmarkCallHandler(b *testing.B) {
	const authorize = `{"call_id":"%s","call_type":"%s","principal":"alice","caller":"+442071838750","callee":"+14155550100"}`
	for _, c := range []struct {
		name, callType string
		code           int
		full           bool
	}{{"authorize", "user_out", 200, false}, {"refused", "fax", 422, false}, {"fullcall", "user_out", 200, true}} {
		b.Run(c.name, func(b *testing.B) {
			h, tenants, keys := benchServer(b)
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(loadConns / runtimeProcs())
			b.ResetTimer()
			c0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1))
					tn := i % len(tenants)
					id := fmt.Sprintf("h%d", i)
					base := "/v1/tenants/" + tenants[tn] + "/calls/"
					steps := [][2]string{{base + "authorize", fmt.Sprintf(authorize, id, c.callType)}}
					if c.full {
						steps = append(steps, [2]string{base + id + "/extend", `{"seconds":60}`}, [2]string{base + id + "/settle", `{"seconds":75}`})
					}
					for _, st := range steps {
						req := httptest.NewRequest("POST", st[0], strings.NewReader(st[1]))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("Authorization", "Bearer "+keys[tn])
						w := httptest.NewRecorder()
						h.srv.ServeHTTP(w, req)
						if w.Code != c.code {
							b.Errorf("%s: status %d, want %d: %s", st[0], w.Code, c.code, w.Body)
							return
						}
					}
				}
			})
			reportCPU(b, c0, b.N)
		})
	}
}

func runtimeProcs() int { return max(1, runtime.GOMAXPROCS(0)) }
