package tenant

import (
	"fmt"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/ledger"
)

// BenchmarkApplyCharge is a debit through Apply on a tenant with three live lots, the notice
// check included (its gate: nothing is due until 30 days before the first expiry).
// BenchmarkNoticesGate is the check alone, what every command pays for it.
func BenchmarkApplyCharge(b *testing.B) {
	e := env(b)
	s := New("acme", usd)
	for i := range 3 {
		if _, _, err := Apply(s, ledger.Fund{Amount: 1_000_000_000, Source: "purchase"}, t0.Add(time.Duration(i)*time.Hour), e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := Apply(s, ledger.Charge{Amount: 1, Ref: "c"}, t0.Add(4*time.Hour+time.Duration(i)), e); err != nil {
			b.Fatal(fmt.Sprint(err))
		}
	}
}

func BenchmarkNoticesGate(b *testing.B) {
	e := env(b)
	s := New("acme", usd)
	if _, _, err := Apply(s, ledger.Fund{Amount: 100_000, Source: "purchase"}, t0, e); err != nil {
		b.Fatal(err)
	}
	var eff Effects
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.notices(t0.Add(time.Hour), e, &eff)
	}
}
