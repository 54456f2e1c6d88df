// Package cardgen writes synthetic rate cards shaped like a wholesale A–Z deck, for
// benchmarks and load runs. It imports nothing of the engine, so any package's tests can
// use it.
package cardgen

import (
	"bytes"
	"fmt"
	"math/rand/v2"
)

// Header is the rate-card CSV header (docs/ratecard.md).
const Header = "prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n"

// Card writes a card of n distinct prefixes drawn from a PCG seeded with (seed1, seed2): about
// 35% are North American NPA-NXX (1 + 6 digits) under 300 area codes; the rest are 2 to 5
// digits under the country calling codes ccs, concentrated in a few leading digits (mobile
// and geographic ranges). With ccs nil, 200 random two-to-three-digit codes stand in for
// them; otherwise every code in ccs is also a prefix of its own, so any number of those
// countries finds a rate. It returns the card and its prefixes.
func Card(n int, seed1, seed2 uint64, ccs []string) ([]byte, []string) {
	rng := rand.New(rand.NewPCG(seed1, seed2))
	var b bytes.Buffer
	b.WriteString(Header)
	seen := make(map[string]bool, n)
	var prefixes []string
	add := func(p string) {
		seen[p] = true
		fmt.Fprintf(&b, "%s,Destination %d,mobile,0.%04d,0.01,60,1,2026-01-01,false\n", p, len(seen), rng.IntN(10000))
		prefixes = append(prefixes, p)
	}
	if ccs == nil {
		for len(ccs) < 200 {
			ccs = append(ccs, fmt.Sprint(20+rng.IntN(980)))
		}
	} else {
		for _, cc := range ccs {
			if !seen[cc] && len(seen) < n {
				add(cc)
			}
		}
	}
	npas := make([]int, 300)
	for i := range npas {
		npas[i] = 200 + rng.IntN(800)
	}
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
		add(p)
	}
	return b.Bytes(), prefixes
}
