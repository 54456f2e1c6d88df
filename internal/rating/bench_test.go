package rating

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/bench/cardgen"
)

// bigCard writes a card of n distinct prefixes (4 to 9 digits), a tenth of them with a second,
// later effective date, and returns it with its prefixes.
func bigCard(n int) ([]byte, []string) {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.WriteString(header)
	seen := make(map[string]bool, n)
	prefixes := make([]string, 0, n)
	for len(seen) < n {
		p := fmt.Sprint(rng.IntN(9)+1) + fmt.Sprint(rng.Uint64())[:3+rng.IntN(6)]
		if seen[p] {
			continue
		}
		seen[p] = true
		fmt.Fprintf(&b, "%s,Destination %d,mobile,0.%04d,0.01,60,1,2026-01-01,false\n", p, len(seen), rng.IntN(10000))
		if rng.IntN(10) == 0 {
			fmt.Fprintf(&b, "%s,Destination %d,mobile,0.%04d,0,30,6,2026-06-01T12:00:00Z,false\n", p, len(seen), rng.IntN(10000))
		}
		prefixes = append(prefixes, p)
	}
	return b.Bytes(), prefixes
}

// lookupInputs is how many numbers a lookup benchmark cycles through: a power of two, and more
// numbers than the caches can hold trie paths for.
const lookupInputs = 1 << 17

// lookupNumbers returns lookupInputs numbers of 8 to 15 digits, generated before the benchmark
// runs: nine in ten are a prefix of the card (drawn uniformly, or by pick when it is not nil)
// followed by random digits; the rest are random digits, which on a sparse card mostly match
// nothing. It fails tb unless c finds a row for every number of the first kind at at.
func lookupNumbers(tb testing.TB, rng *rand.Rand, c *Card, at time.Time, prefixes []string, pick func() int) []string {
	tb.Helper()
	nums := make([]string, lookupInputs)
	buf := make([]byte, 0, MaxPrefixLen)
	for i := range nums {
		n := 8 + rng.IntN(8)
		matched := rng.IntN(10) != 0
		buf = buf[:0]
		if matched {
			j := rng.IntN(len(prefixes))
			if pick != nil {
				j = pick()
			}
			buf = append(buf, prefixes[j]...)
		} else {
			buf = append(buf, byte('1'+rng.IntN(9)))
		}
		for len(buf) < n {
			buf = append(buf, byte('0'+rng.IntN(10)))
		}
		nums[i] = string(buf)
		if _, ok := c.Lookup(nums[i], at); matched && !ok {
			tb.Fatalf("%s: no row", nums[i])
		}
	}
	return nums
}

// benchLookup looks up nums in turn; nothing but the lookup runs per iteration.
func benchLookup(b *testing.B, c *Card, at time.Time, nums []string) {
	b.ReportAllocs()
	b.ResetTimer()
	found, i := 0, 0
	for b.Loop() {
		if _, ok := c.Lookup(nums[i&(lookupInputs-1)], at); ok {
			found++
		}
		i++
	}
	if found == 0 {
		b.Fatal("nothing found")
	}
}

func BenchmarkImport100k(b *testing.B) {
	data, _ := bigCard(100_000)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Import(Meta{Service: Outbound, Currency: usd, Version: 1}, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookup100k looks up numbers under prefixes drawn uniformly from a card of 100,000
// random prefixes: the worst case for caches.
func BenchmarkLookup100k(b *testing.B) {
	data, prefixes := bigCard(100_000)
	c, err := Import(Meta{Service: Outbound, Currency: usd, Version: 1}, data)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	nums := lookupNumbers(b, rand.New(rand.NewPCG(3, 4)), c, at, prefixes, nil)
	benchLookup(b, c, at, nums)
}

func BenchmarkCharge(b *testing.B) {
	r := &Row{Rate: 12_500, Fee: 100_000, Initial: 30, Subsequent: 6}
	b.ReportAllocs()
	var sink int64
	for b.Loop() {
		sink += int64(Charge(r, 95, true, usd))
	}
	_ = sink
}

func BenchmarkMaxSeconds(b *testing.B) {
	r := &Row{Rate: 12_500, Fee: 100_000, Initial: 30, Subsequent: 6}
	b.ReportAllocs()
	var sink int64
	for b.Loop() {
		sink += MaxSeconds(r, 1234, true, usd, 4*3600)
	}
	_ = sink
}

// realCard is cardgen's wholesale-shaped card with its own 200 stand-in country codes.
func realCard(n int) ([]byte, []string) { return cardgen.Card(n, 5, 6, nil) }

// BenchmarkLookupRealistic100k looks up numbers under prefixes drawn uniformly from realCard.
func BenchmarkLookupRealistic100k(b *testing.B) {
	data, prefixes := realCard(100_000)
	c, err := Import(Meta{Service: Outbound, Currency: usd, Version: 1}, data)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	nums := lookupNumbers(b, rand.New(rand.NewPCG(3, 4)), c, at, prefixes, nil)
	benchLookup(b, c, at, nums)
}

// BenchmarkLookupRealisticZipf100k looks up traffic skewed the way calls are (a Zipf law over
// the card's destinations, s = 1.2), so the popular paths stay in cache.
func BenchmarkLookupRealisticZipf100k(b *testing.B) {
	data, prefixes := realCard(100_000)
	c, err := Import(Meta{Service: Outbound, Currency: usd, Version: 1}, data)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	rng.Shuffle(len(prefixes), func(i, j int) { prefixes[i], prefixes[j] = prefixes[j], prefixes[i] })
	z := rand.NewZipf(rng, 1.2, 1, uint64(len(prefixes)-1))
	at := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	nums := lookupNumbers(b, rng, c, at, prefixes, func() int { return int(z.Uint64()) })
	benchLookup(b, c, at, nums)
}
