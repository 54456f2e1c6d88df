package rating

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// bigCard writes a card of n distinct prefixes (4 to 9 digits), a tenth of them with a second,
// later effective date, and returns it with n numbers to look up.
func bigCard(n int) ([]byte, []string) {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.WriteString(header)
	seen := make(map[string]bool, n)
	numbers := make([]string, 0, n)
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
		numbers = append(numbers, (p + "1234567890123")[:12])
	}
	return b.Bytes(), numbers
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

func BenchmarkLookup100k(b *testing.B) {
	data, nums := bigCard(100_000)
	c, err := Import(Meta{Service: Outbound, Currency: usd, Version: 1}, data)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(nums), func(i, j int) { nums[i], nums[j] = nums[j], nums[i] })
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, ok := c.Lookup(nums[i], at); !ok {
			b.Fatal("not found")
		}
		i++
		if i == len(nums) {
			i = 0
		}
	}
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

// realCard writes a card shaped like a wholesale A–Z deck: about 35% of the prefixes are North
// American NPA-NXX (1 + 6 digits) under 300 area codes; the rest are 2 to 5 digits under 200
// country codes, concentrated in a few leading digits (mobile and geographic ranges). It
// returns n numbers drawn uniformly from the card's prefixes.
func realCard(n int) ([]byte, []string) {
	rng := rand.New(rand.NewPCG(5, 6))
	var ccs []string
	for len(ccs) < 200 {
		ccs = append(ccs, fmt.Sprint(20+rng.IntN(980)))
	}
	npas := make([]int, 300)
	for i := range npas {
		npas[i] = 200 + rng.IntN(800)
	}
	var b bytes.Buffer
	b.WriteString(header)
	seen := make(map[string]bool, n)
	var nums []string
	for len(seen) < n {
		var p string
		if rng.IntN(100) < 35 {
			p = fmt.Sprintf("1%d%d", npas[rng.IntN(len(npas))], 200+rng.IntN(800))
		} else {
			lead := []byte("23679")[rng.IntN(5)]
			p = ccs[rng.IntN(len(ccs))] + string(lead) + fmt.Sprint(rng.Uint64())[:1+rng.IntN(4)]
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		fmt.Fprintf(&b, "%s,Destination %d,mobile,0.%04d,0.01,60,1,2026-01-01,false\n", p, len(seen), rng.IntN(10000))
		nums = append(nums, (p + "1234567890123")[:12])
	}
	return b.Bytes(), nums
}

func BenchmarkLookupRealistic100k(b *testing.B) {
	data, nums := realCard(100_000)
	c, err := Import(Meta{Service: Outbound, Currency: usd, Version: 1}, data)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(nums), func(i, j int) { nums[i], nums[j] = nums[j], nums[i] })
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, ok := c.Lookup(nums[i], at); !ok {
			b.Fatal("not found")
		}
		i++
		if i == len(nums) {
			i = 0
		}
	}
}

// BenchmarkLookupRealisticZipf100k looks up traffic skewed the way calls are (a Zipf law over
// the card's destinations, s = 1.2), so the popular paths stay in cache.
func BenchmarkLookupRealisticZipf100k(b *testing.B) {
	data, nums := realCard(100_000)
	c, err := Import(Meta{Service: Outbound, Currency: usd, Version: 1}, data)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	rng.Shuffle(len(nums), func(i, j int) { nums[i], nums[j] = nums[j], nums[i] })
	z := rand.NewZipf(rng, 1.2, 1, uint64(len(nums)-1))
	traffic := make([]string, 1<<16)
	for i := range traffic {
		traffic[i] = nums[z.Uint64()]
	}
	at := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, ok := c.Lookup(traffic[i&(len(traffic)-1)], at); !ok {
			b.Fatal("not found")
		}
		i++
	}
}
