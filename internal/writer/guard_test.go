package writer_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/writer"
)

// panicky is a store whose next write transaction panics, standing for a bug anywhere in a
// batch.
type panicky struct {
	*store.SQL
	armed atomic.Bool
}

func (p *panicky) WriteTx(ctx context.Context, fn func(store.Tx) error) error {
	return p.SQL.WriteTx(ctx, func(tx store.Tx) error {
		err := fn(tx)
		if p.armed.CompareAndSwap(true, false) {
			panic("boom")
		}
		return err
	})
}

func TestPanicFailsTheBatchNotTheWriter(t *testing.T) {
	s := storetest.Open(t, storetest.Engines()[0].DSN(t))
	tenants(t, s, 1)
	p := &panicky{SQL: s}
	w := writer.New(p, newClock(0), writer.Config{})
	defer w.Close()
	if _, err := w.Submit(ctx, "tenant-000", "f1", ledger.Fund{Amount: 100, Source: "purchase"}); err != nil {
		t.Fatal(err)
	}
	p.armed.Store(true)
	if _, err := w.Submit(ctx, "tenant-000", "f2", ledger.Fund{Amount: 50, Source: "purchase"}); !errors.Is(err, writer.ErrInternal) {
		t.Fatalf("batch that panicked: %v", err)
	}
	// Nothing of the failed batch was committed or kept in memory; the shard still serves.
	r, err := w.Submit(ctx, "tenant-000", "f3", ledger.Fund{Amount: 7, Source: "purchase"})
	if err != nil || r.Balance != 107 {
		t.Fatalf("after the panic: %+v %v", r, err)
	}
}
