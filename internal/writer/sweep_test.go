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

// An idle tenant is ticked when a notice falls due (funds expiring in 30, 7, 1 days): each
// is written to the outbox once, and the sweep finds nothing due in between.
func TestSweepSendsExpiryNoticesOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		clock := &settableClock{t: t0}
		w := writer.New(s, clock, writer.Config{Env: callEnv(t)})
		defer w.Close()
		callTenant(t, s, w, 5000)
		exp := ledger.AddMonths(t0, 12)
		for _, c := range []struct {
			at   time.Time
			due  int
			rows int
		}{
			{exp.AddDate(0, 0, -31), 0, 0},
			{exp.AddDate(0, 0, -30), 1, 1},
			{exp.AddDate(0, 0, -29), 0, 1},
			{exp.AddDate(0, 0, -7), 1, 2},
			{exp.AddDate(0, 0, -7).Add(time.Hour), 0, 2},
			{exp.AddDate(0, 0, -1), 1, 3},
			{exp, 1, 5}, // funds_expired, and balance_zero: the forfeiture took the balance to 0
			{exp.AddDate(0, 0, 1), 0, 5},
		} {
			clock.t = c.at
			if n, err := w.SweepOnce(ctx, s); err != nil || n != c.due {
				t.Fatalf("at %s: swept %d, %v; want %d", c.at, n, err, c.due)
			}
			rows, err := s.PendingOutboxRows(ctx, 100, "notify")
			if err != nil || len(rows) != c.rows {
				t.Fatalf("at %s: %d notify rows, %v; want %d", c.at, len(rows), err, c.rows)
			}
		}
	})
}
