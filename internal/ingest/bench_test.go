package ingest_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/ingest"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/writer"
)

// benchCDRs makes n CDRs over tenants, one of them getting ~30% of the traffic: start times
// spread over March, 15% unanswered, the rest exponential around 3 minutes up to 2 hours;
// a mix of PAYG calls to the UAE and the UK, Calling Plan calls in the US, and a few with
// no rate (FREECALL).
func benchCDRs(n int, tenants []string, prefix string, seed uint64) []charging.CDR {
	rng := rand.New(rand.NewPCG(seed, 2))
	out := make([]charging.CDR, n)
	for i := range out {
		id := tenants[0]
		if rng.Float64() >= 0.3 {
			id = tenants[1+rng.IntN(len(tenants)-1)]
		}
		c := charging.CDR{Tenant: id, CallID: fmt.Sprintf("%s-%07d", prefix, i), CallType: payer.UserOut,
			Start: march1.Add(time.Duration(rng.Int64N(int64(29 * 24 * time.Hour)))).Truncate(time.Second)}
		switch r := rng.IntN(100); {
		case r < 2:
			c.Principal, c.Caller, c.Callee = "alice", "+442071838750", "+81312345678"
		case r < 30:
			c.Principal, c.Caller, c.Callee = "alice", "+442071838750", "+971501234567"
		case r < 55:
			c.Principal, c.Caller, c.Callee = "alice", "+442071838750", "+442079460000"
		default:
			c.Principal, c.Caller, c.Callee = "bob", "+12025550100", "+12125550199"
		}
		if rng.IntN(100) >= 15 {
			c.Duration = min(7200, 1+int64(-180*math.Log(1-rng.Float64())))
		}
		c.End = c.Start.Add(time.Duration(c.Duration) * time.Second)
		out[i] = c
	}
	return out
}

// BenchmarkImportCSV imports 200,000 CDRs of 1,000 tenants (one with ~30% of them) from a
// CSV through the writer into SQLite, durable (WAL, synchronous=FULL): parsed, rated, pools
// applied, ledger debited, usage row stored.
func BenchmarkImportCSV(b *testing.B) {
	const nCDRs, nTenants = 200_000, 1000
	var sqlite storetest.Engine
	for _, e := range storetest.Engines() {
		if e.Name == "sqlite" {
			sqlite = e
		}
	}
	s := storetest.Open(b, sqlite.DSN(b))
	w := writer.New(s, fixedClock{}, writer.Config{Env: env(b), MaxBatch: 4096})
	defer w.Close()
	ids := populateParallel(b, s, w, nTenants)
	var total int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		data := csvOf(b, benchCDRs(nCDRs, ids, fmt.Sprint("i", i), uint64(i)))
		b.StartTimer()
		rep, err := ingest.Import(bg, w, bytes.NewReader(data), ingest.Options{InFlight: 8192})
		if err != nil || rep.Booked+rep.FreeCalls != nCDRs {
			b.Fatalf("%+v %v", rep, err)
		}
		total += rep.Lines
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "CDRs/s")
	// Peak resident memory of the whole process (CDR files in memory included): with
	// -benchtime=Nx it shows whether memory grows with the CDRs stored.
	b.ReportMetric(float64(procStatusKB(b, "VmHWM"))/1024, "peak-RSS-MB")
}

// procStatusKB reads a kB figure of /proc/self/status.
func procStatusKB(b *testing.B, field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// populateParallel creates tenants like populate, many at a time.
func populateParallel(b testing.TB, s *store.SQL, w *writer.Writer, n int) []string {
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%04d", i)
	}
	for i := 0; i < n; i += 10 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := populateIDs(s, w, ids[i:min(i+10, n)], 1<<40); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return ids
}
