package writer_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/writer"
)

// sizes is a store whose next write transaction, once armed, waits for gate (so what is
// submitted meanwhile gathers behind it) and that records, from then on, how many commands
// each written batch carried.
type sizes struct {
	*store.SQL
	gate    chan struct{}
	started chan struct{}
	armed   atomic.Bool
	mu      sync.Mutex
	record  bool
	batches []int
}

func (s *sizes) arm() {
	s.mu.Lock()
	s.record = true
	s.mu.Unlock()
	s.armed.Store(true)
}

func (s *sizes) WriteTx(ctx context.Context, fn func(store.Tx) error) error {
	if s.armed.CompareAndSwap(true, false) {
		close(s.started)
		<-s.gate
	}
	return s.SQL.WriteTx(ctx, func(tx store.Tx) error { return fn(sizesTx{tx, s}) })
}

type sizesTx struct {
	store.Tx
	s *sizes
}

func (t sizesTx) Write(ctx context.Context, b *store.Batch) error {
	n := 0
	for _, m := range b.Mutations {
		n += len(m.Commands)
	}
	t.s.mu.Lock()
	if t.s.record {
		t.s.batches = append(t.s.batches, n)
	}
	t.s.mu.Unlock()
	return t.Tx.Write(ctx, b)
}

// TestBulkBatches: commands sent with SubmitBatch fill batches up to MaxBulkBatch; commands
// sent one by one stay within MaxBatch, and one that joins a bulk batch stops it growing.
func TestBulkBatches(t *testing.T) {
	fund := func(key string) ledger.Fund { return ledger.Fund{Amount: 1, Source: "purchase", Ref: key} }
	type send struct {
		bulk int // items of one SubmitBatch; 0: one Submit
	}
	for _, tc := range []struct {
		name  string
		sends []send
		want  []int // commands per batch after the gated first one
	}{
		{"bulk", []send{{40}, {40}}, []int{50, 30}},
		{"interactive", slices.Repeat([]send{{0}}, 25), []int{10, 10, 5}},
		{"an interactive command stops a bulk batch", []send{{30}, {0}, {30}}, []int{31, 30}},
		{"an interactive command first keeps the batch small", []send{{0}, {30}}, []int{10, 21}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := storetest.Open(t, storetest.Engines()[0].DSN(t))
			tenants(t, s, 3)
			st := &sizes{SQL: s, gate: make(chan struct{}), started: make(chan struct{})}
			clock := &countingClock{stepClock: newClock(0)}
			w := writer.New(st, clock, writer.Config{MaxBatch: 10, MaxBulkBatch: 50})
			defer w.Close()
			// The tenants are cached first: while the first batch is in flight, the shard
			// takes what is sent behind it into the next batch, in order, up to its limit.
			for i := range 3 {
				if _, err := w.Submit(ctx, fmt.Sprintf("tenant-%03d", i), "warm", fund("warm")); err != nil {
					t.Fatal(err)
				}
			}
			st.arm()
			read := clock.reads.Load()
			first := make(chan error, 1)
			go func() {
				_, err := w.Submit(ctx, "tenant-000", "first", fund("first"))
				first <- err
			}()
			<-st.started
			// While the first batch waits, the sends gather behind it in order: each is taken
			// (the clock read for it) or queued before the next is sent.
			var wg sync.WaitGroup
			errs := make(chan error, 1000)
			queued := 0
			for i, sd := range tc.sends {
				wg.Add(1)
				if sd.bulk == 0 {
					go func() {
						defer wg.Done()
						key := fmt.Sprint("s", i)
						_, err := w.Submit(ctx, fmt.Sprintf("tenant-%03d", i%3), key, fund(key))
						errs <- err
					}()
					queued++
				} else {
					items := make([]writer.Item, sd.bulk)
					for j := range items {
						key := fmt.Sprint("b", i, "-", j)
						items[j] = writer.Item{Tenant: fmt.Sprintf("tenant-%03d", j%3), Key: key, Cmd: fund(key)}
					}
					go func() {
						defer wg.Done()
						for _, o := range w.SubmitBatch(ctx, items) {
							errs <- o.Err
						}
					}()
					queued += sd.bulk
				}
				arrived := func() int { return int(clock.reads.Load()-read-1) + w.Queued() }
				for deadline := time.Now().Add(30 * time.Second); arrived() < queued; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("%d commands taken or queued, want %d", arrived(), queued)
					}
				}
			}
			close(st.gate)
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			if got := st.batches[1:]; !slices.Equal(got, tc.want) {
				t.Fatalf("batches of %v commands, want %v", got, tc.want)
			}
		})
	}
}
