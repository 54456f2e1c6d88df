package payer

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/numbers"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
)

// priceCall is the whole pricing path of one finished call: card lookup, who pays, pool
// arithmetic and the charge of what credits pay.
func priceCall(cat *plans.Catalog, card *rating.Card, pools *plans.Pools, in *Input, start time.Time, d int64) (Decision, rating.Split) {
	in.Row, _ = card.Lookup(in.Remote.E164, start)
	dec := Decide(cat, in)
	var s rating.Split
	switch dec.Outcome {
	case Pool:
		s = rating.SplitCall(in.Row, pools.Available(dec.Pool), d, card.Currency())
		pools.Draw(dec.Pool, s.PoolSeconds)
	case Credits:
		s = rating.SplitCall(in.Row, 0, d, card.Currency())
	}
	return dec, s
}

// card100k is an outbound card of 100,000 prefixes: NANP NPA-NXX and 2-to-5-digit ranges
// under other country codes; calls go to a random one of them.
func card100k(tb testing.TB) (*rating.Card, []string) {
	rng := rand.New(rand.NewPCG(9, 10))
	var b bytes.Buffer
	b.WriteString("prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n")
	seen := map[string]bool{}
	var nums []string
	for len(seen) < 100_000 {
		var p string
		if rng.IntN(3) == 0 {
			p = fmt.Sprintf("1%d%d", 200+rng.IntN(800), 200+rng.IntN(800))
		} else {
			p = fmt.Sprint(20+rng.IntN(980)) + fmt.Sprint(rng.Uint64())[:2+rng.IntN(4)]
		}
		if !seen[p] {
			seen[p] = true
			fmt.Fprintf(&b, "%s,D,mobile,0.0%03d,0.05,60,6,2026-01-01,false\n", p, rng.IntN(1000))
			nums = append(nums, (p + "55501234567")[:12])
		}
	}
	card, err := rating.Import(rating.Meta{Service: rating.Outbound, Currency: money.MustCurrency("USD"), Version: 1}, b.Bytes())
	if err != nil {
		tb.Fatal(err)
	}
	return card, nums
}

func BenchmarkPriceAndDecide(b *testing.B) {
	card, nums := card100k(b)
	principal := plans.Principal{ID: "u1", Licences: []string{"MCOEV", "MCOPSTN2", "MCOMEETADD", "MCOPSTNPP"}, UsageLocation: "US"}
	pools := plans.Size(cat, "2026-11", []plans.Principal{principal}, plans.SizeOptions{})
	start := time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	in := &Input{Call: UserOut, Principal: principal}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		n := nums[i%len(nums)]
		country := "MX"
		if n[0] == '1' {
			country = "US"
		}
		in.Remote = numbers.Number{E164: n, Country: country, Type: numbers.Mobile}
		priceCall(cat, card, pools, in, start, 95)
		i++
	}
}

func TestPriceCallAllocs(t *testing.T) {
	card, nums := card100k(t)
	principal := plans.Principal{ID: "u1", Licences: []string{"MCOEV", "MCOPSTN2", "MCOPSTNPP"}, UsageLocation: "US"}
	pools := plans.Size(cat, "2026-11", []plans.Principal{principal}, plans.SizeOptions{})
	in := &Input{Call: UserOut, Principal: principal, Remote: numbers.Number{E164: nums[0], Country: "MX", Type: numbers.Mobile}}
	start := time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	if n := testing.AllocsPerRun(100, func() { priceCall(cat, card, pools, in, start, 95) }); n != 0 {
		t.Errorf("pricing one call allocates %v times", n)
	}
	// The international pool of the D&I plan paid: 100 calls × 95 s.
	if p, _ := pools.Get(plans.InternationalPool("MCOPSTN2", "US")); p.UsedSeconds != 101*95 {
		t.Errorf("pool used %d", p.UsedSeconds)
	}
}
