package recharge

import (
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
)

// BenchmarkBalanceChanged is the settle path's common case: auto-recharge on, the balance
// above the trigger or a recharge already in flight, nothing to do.
func BenchmarkBalanceChanged(b *testing.B) {
	cfg := &Config{Currency: usd}
	for _, bc := range []struct {
		name     string
		inFlight bool
	}{{"above_trigger", false}, {"in_flight", true}} {
		b.Run(bc.name, func(b *testing.B) {
			s := New("t-1")
			s.Settings = cardSettings(10, 50)
			s.Settings.LowBalance = money.Units(5, usd)
			s.Balance, s.Available = money.Units(100, usd), money.Units(100, usd)
			if bc.inFlight {
				s.Balance, s.Available = 500, 500
				s.InFlight = &Attempt{ID: "recharge:t-1:1", Key: "recharge:t-1:1:1", Phase: PhaseCharging}
			}
			at := t0
			bal := s.Balance
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				out := s.OnBalance(BalanceChanged{Balance: bal, Available: bal, Seq: int64(i), At: at.Add(time.Duration(i))}, cfg)
				if len(out.Actions)+len(out.Events) != 0 {
					b.Fatal("something to do")
				}
			}
		})
	}
	b.Run("via_Apply", func(b *testing.B) {
		s := New("t-1")
		s.Settings = cardSettings(10, 50)
		s.Balance, s.Available = money.Units(100, usd), money.Units(100, usd)
		b.ReportAllocs()
		for i := range b.N {
			if _, err := s.Apply(BalanceChanged{Balance: s.Balance, Available: s.Available, Seq: int64(i), At: t0}, cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestBalanceChangedAllocatesNothing pins the hot path: no allocation when there is
// nothing to do, through OnBalance or Apply.
func TestBalanceChangedAllocatesNothing(t *testing.T) {
	cfg := &Config{Currency: usd}
	s := New("t-1")
	s.Settings = cardSettings(10, 50)
	s.Balance, s.Available = money.Units(100, usd), money.Units(100, usd)
	ev := BalanceChanged{Balance: s.Balance, Available: s.Available, Seq: 7, At: t0}
	if n := testing.AllocsPerRun(100, func() { s.OnBalance(ev, cfg) }); n != 0 {
		t.Fatalf("OnBalance allocates %v", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = s.Apply(ev, cfg) }); n != 0 {
		t.Fatalf("Apply allocates %v", n)
	}
}
