package writer_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/writer"
)

var errPoison = errors.New("the database refuses this value")

// poisoned is a store that refuses any save holding the command key "poison" (standing for
// a value the database rejects), and whose first write transaction waits for gate, so the
// commands submitted meanwhile queue up into one batch.
type poisoned struct {
	*store.SQL
	gate    chan struct{}
	started chan struct{}
	once    sync.Once
}

func (p *poisoned) WriteTx(ctx context.Context, fn func(store.Tx) error) error {
	p.once.Do(func() { close(p.started); <-p.gate })
	return p.SQL.WriteTx(ctx, func(tx store.Tx) error { return fn(poisonTx{tx}) })
}

type poisonTx struct{ store.Tx }

func (t poisonTx) Write(ctx context.Context, b *store.Batch) error {
	for _, m := range b.Mutations {
		for _, c := range m.Commands {
			if c.Key == "poison" {
				return errPoison
			}
		}
	}
	return t.Tx.Write(ctx, b)
}

func TestRefusedCommandFailsOnlyItself(t *testing.T) {
	s := storetest.Open(t, storetest.Engines()[0].DSN(t))
	tenants(t, s, 3)
	p := &poisoned{SQL: s, gate: make(chan struct{}), started: make(chan struct{})}
	w := writer.New(p, newClock(0), writer.Config{})
	defer w.Close()

	first := make(chan error, 1)
	go func() {
		_, err := w.Submit(ctx, "tenant-000", "f0", ledger.Fund{Amount: 1, Source: "purchase"})
		first <- err
	}()
	<-p.started
	// While the first batch waits, the good commands of three tenants and the poisoned one
	// queue up behind it.
	var wg sync.WaitGroup
	errs := make(chan error, 31)
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := w.Submit(ctx, fmt.Sprintf("tenant-%03d", i%3), fmt.Sprintf("g%d", i), ledger.Fund{Amount: 10, Source: "purchase"})
			errs <- err
		}()
	}
	var bad error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, bad = w.Submit(ctx, "tenant-001", "poison", ledger.Fund{Amount: 5, Source: "purchase"})
	}()
	for deadline := time.Now().Add(30 * time.Second); w.Queued() < 31; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d commands queued, want 31", w.Queued())
		}
	}
	close(p.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a good command failed with the poisoned one: %v", err)
		}
	}
	if !errors.Is(bad, errPoison) {
		t.Fatalf("poisoned command: %v", bad)
	}
	var total int64
	for i := range 3 {
		a, err := s.Account(ctx, fmt.Sprintf("tenant-%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		total += int64(a.Balance)
	}
	if total != 1+30*10 {
		t.Fatalf("balances sum to %d, want %d", total, 1+30*10)
	}
}
