package ingest_test

import (
	"bytes"
	"context"
	"math"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/ingest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// gated holds every Submit until its gate opens, counting how many wait at once.
type gated struct {
	gate          chan struct{}
	mu            sync.Mutex
	waiting, most int
}

func (g *gated) Submit(ctx context.Context, _, _ string, _ tenant.Command) (writer.Result, error) {
	g.mu.Lock()
	g.waiting++
	g.most = max(g.most, g.waiting)
	g.mu.Unlock()
	<-g.gate
	g.mu.Lock()
	g.waiting--
	g.mu.Unlock()
	return writer.Result{}, nil
}

func (g *gated) peak() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.most
}

// Without InFlight, an import keeps DefaultInFlight CDRs waiting on the writer, and
// LimitedInFlight when the process runs under a soft memory limit (cdr import's
// --memory-limit, GOMEMLIMIT).
func TestInFlightDefaultFollowsTheMemoryLimit(t *testing.T) {
	cdrs, _ := genCDRs(2*ingest.DefaultInFlight+100, []string{"t00"}, 7)
	data := csvOf(t, cdrs)
	for _, tc := range []struct {
		limit int64
		want  int
	}{
		{math.MaxInt64, ingest.DefaultInFlight},
		{1 << 40, ingest.LimitedInFlight},
	} {
		old := debug.SetMemoryLimit(tc.limit)
		g := &gated{gate: make(chan struct{})}
		done := make(chan error, 1)
		go func() {
			_, err := ingest.Import(bg, g, bytes.NewReader(data), ingest.Options{})
			done <- err
		}()
		// Wait until the count stops growing: the import has as many waiting as it allows.
		last, still := -1, 0
		for deadline := time.Now().Add(20 * time.Second); still < 5 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if n := g.peak(); n == last {
				still++
			} else {
				last, still = n, 0
			}
		}
		close(g.gate)
		err := <-done
		debug.SetMemoryLimit(old)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.peak(); got != tc.want {
			t.Errorf("memory limit %d: %d CDRs waited at once, want %d", tc.limit, got, tc.want)
		}
		if got := ingest.DefaultInFlightFor(tc.limit); got != tc.want {
			t.Errorf("DefaultInFlightFor(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}
