package ingest_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/ingest"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/writer"
)

// BenchmarkImportCSV imports 200,000 CDRs of 1,000 tenants (one with ~30% of them) from a
// CSV through the writer, durable (SQLite WAL with synchronous=FULL; PostgreSQL as
// COMMCREDITS_TEST_POSTGRES runs it): parsed, rated, pools applied, ledger debited, usage
// row stored. The workload is ingest.WorkloadCDRs.
func BenchmarkImportCSV(b *testing.B) {
	for _, e := range storetest.Engines() {
		b.Run(e.Name, func(b *testing.B) { benchImport(b, e) })
	}
}

func benchImport(b *testing.B, e storetest.Engine) {
	const nCDRs, nTenants = 200_000, 1000
	s := storetest.Open(b, e.DSN(b))
	w := writer.New(s, fixedClock{}, writer.Config{Env: env(b)})
	defer w.Close()
	ids := populateParallel(b, s, w, nTenants)
	var total, written, rows int64
	var cpu float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// The CSV streams from a file, as a real import does: the benchmark's own records
		// are not in the process's memory.
		b.StopTimer()
		f, err := os.Create(filepath.Join(b.TempDir(), "cdrs.csv"))
		if err == nil {
			err = ingest.WriteWorkloadCSV(f, nCDRs, ids, fmt.Sprint("i", i), uint64(i))
		}
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			b.Fatal(err)
		}
		cpu0, wr0, rows0 := cpuSeconds(b), procIO(b, "wchar"), tableRows(b, s)
		b.StartTimer()
		rep, err := ingest.Import(bg, w, f, ingest.Options{})
		f.Close()
		b.StopTimer()
		if r := tableRows(b, s); r >= 0 {
			rows += r - rows0
		}
		cpu += cpuSeconds(b) - cpu0
		written += procIO(b, "wchar") - wr0
		b.StartTimer()
		if err != nil || rep.Booked+rep.FreeCalls != nCDRs {
			b.Fatalf("%+v %v", rep, err)
		}
		total += rep.Lines
		if b.N > 1 { // the growth curve: resident memory after each 200,000 CDRs
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Fprintf(os.Stderr, "%d CDRs: RSS %d MB (peak %d MB), Go heap in use %d MB, Go runtime total %d MB\n",
				total, procStatusKB(b, "VmRSS")/1024, procStatusKB(b, "VmHWM")/1024, ms.HeapInuse>>20, ms.Sys>>20)
		}
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "CDRs/s")
	// What a shared, noisy machine does not change much: the process's CPU time and the bytes
	// it wrote (WAL, checkpoints) per CDR.
	b.ReportMetric(cpu*1e6/float64(total), "cpu-µs/CDR")
	b.ReportMetric(float64(written)/float64(total), "written-B/CDR")
	if rows > 0 {
		b.ReportMetric(float64(rows)/float64(total), "rows/CDR")
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	// What the Go runtime took from the system; the rest of the RSS is SQLite's (C) memory.
	b.ReportMetric(float64(ms.Sys)/(1<<20), "go-sys-MB")
	// Peak resident memory of the whole process (CDR files in memory included): with
	// -benchtime=Nx it shows whether memory grows with the CDRs stored.
	b.ReportMetric(float64(procStatusKB(b, "VmHWM"))/1024, "peak-RSS-MB")
}

// procStatusKB reads a kB figure of /proc/self/status.
func procStatusKB(b *testing.B, field string) int64 { return procFigure(b, "/proc/self/status", field) }

// procIO reads a figure of /proc/self/io.
func procIO(b *testing.B, field string) int64 { return procFigure(b, "/proc/self/io", field) }

// procFigure reads the number of a "field: N" or "field: N kB" line of the file at path.
func procFigure(b *testing.B, path, field string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	b.Fatalf("no %s in %s", field, path)
	return 0
}

// cpuSeconds is the CPU time (user and system) the process has used.
func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
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
			if err := ingest.PopulateWorkload(bg, s, w, ids[i:min(i+10, n)], 1<<40); err != nil {
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

// tableRows counts the rows of the tables a CDR writes to (-1 on PostgreSQL): usage rows,
// ledger entries and command records.
func tableRows(b *testing.B, s *store.SQL) int64 {
	if s.DB().Read() == nil {
		return -1
	}
	var total int64
	for _, t := range []string{"commands", "usage", "ledger_entries"} {
		var n int64
		if err := s.DB().Read().QueryRow("SELECT count(*) FROM " + t).Scan(&n); err != nil {
			b.Fatal(err)
		}
		total += n
	}
	return total
}
