package writer_test

import (
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/writer"
)

// settableClock is a clock the test moves.
type settableClock struct{ t time.Time }

func (c *settableClock) Now() time.Time { return c.t }

// An idle tenant's expired call and lot are applied by the sweep, not by its next command.
func TestSweepAppliesWhatIsDue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		clock := &settableClock{t: t0}
		env := callEnv(t)
		env.CallTTL = time.Minute
		w := writer.New(s, clock, writer.Config{Env: env})
		defer w.Close()
		callTenant(t, s, w, 5000)
		if r, err := w.Submit(ctx, "tenant-000", "", uae("c1")); err != nil || !r.Authorization.Allowed {
			t.Fatalf("authorize: %v", err)
		}
		if n, err := w.SweepOnce(ctx, s); err != nil || n != 0 {
			t.Fatalf("nothing due yet: %d %v", n, err)
		}
		clock.t = t0.Add(time.Minute)
		if n, err := w.SweepOnce(ctx, s); err != nil || n != 1 {
			t.Fatalf("expired call: %d %v", n, err)
		}
		a, _ := s.Account(ctx, "tenant-000")
		if a.Reserved != 0 || len(a.Reservations) != 0 {
			t.Fatalf("hold not released: %+v", a.Reservations)
		}
		clock.t = ledger.AddMonths(t0, 12)
		if n, err := w.SweepOnce(ctx, s); err != nil || n != 1 {
			t.Fatalf("expired lot: %d %v", n, err)
		}
		a, _ = s.Account(ctx, "tenant-000")
		entries, _ := s.Entries(ctx, "tenant-000", 0, 100)
		last := entries[len(entries)-1]
		if a.Balance != 0 || last.Kind != ledger.EntryForfeiture || !last.At.Equal(ledger.AddMonths(t0, 12)) || last.Amount != -5000 {
			t.Fatalf("balance %d, last entry %+v", a.Balance, last)
		}
		if n, _ := w.SweepOnce(ctx, s); n != 0 {
			t.Fatalf("swept again: %d", n)
		}
	})
}
