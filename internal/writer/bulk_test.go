package writer_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/writer"
)

// sizes is a store whose first write transaction waits for gate (so what is submitted
// meanwhile queues up) and that records how many commands each saved batch carried.
type sizes struct {
	*store.SQL
	gate    chan struct{}
	started chan struct{}
	once    sync.Once
	mu      sync.Mutex
	batches []int
}

func (s *sizes) WriteTx(ctx context.Context, fn func(store.Tx) error) error {
	s.once.Do(func() { close(s.started); <-s.gate })
	return s.SQL.WriteTx(ctx, func(tx store.Tx) error { return fn(sizesTx{tx, s}) })
}

type sizesTx struct {
	store.Tx
	s *sizes
}

func (t sizesTx) Save(ctx context.Context, ms []*store.Mutation) error {
	n := 0
	for _, m := range ms {
		n += len(m.Commands)
	}
	t.s.mu.Lock()
	t.s.batches = append(t.s.batches, n)
	t.s.mu.Unlock()
	return t.Tx.Save(ctx, ms)
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
			w := writer.New(st, newClock(0), writer.Config{MaxBatch: 10, MaxBulkBatch: 50})
			defer w.Close()
			first := make(chan error, 1)
			go func() {
				_, err := w.Submit(ctx, "tenant-000", "first", fund("first"))
				first <- err
			}()
			<-st.started
			// While the first batch waits, the sends queue up behind it in order.
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
				for deadline := time.Now().Add(30 * time.Second); w.Queued() < queued; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("%d commands queued, want %d", w.Queued(), queued)
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
