package rating

import (
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/numbers"
	"pgregory.net/rapid"
)

// naiveLookup is Lookup by definition, scanning every row: among the rows whose prefix starts
// e164 and whose effective_from (to the second) is not after at, the longest prefix and then
// the latest effective_from. Lookup reads digits only as far as some prefix of the card could
// still match: a non-digit there makes the number invalid (no row); one beyond is never read.
func naiveLookup(rows []Row, e164 string, at time.Time) (int, bool) {
	if i := strings.IndexFunc(e164, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		for _, r := range rows {
			if strings.HasPrefix(r.Prefix, e164[:i]) {
				return 0, false
			}
		}
	}
	t, best := at.Unix(), -1
	for i, r := range rows {
		if !strings.HasPrefix(e164, r.Prefix) || r.EffectiveFrom.Unix() > t {
			continue
		}
		if best < 0 || len(r.Prefix) > len(rows[best].Prefix) ||
			len(r.Prefix) == len(rows[best].Prefix) && r.EffectiveFrom.Unix() > rows[best].EffectiveFrom.Unix() {
			best = i
		}
	}
	return best, best >= 0
}

// digits draws n to m digits from a small alphabet, so that prefixes share paths; the first is
// never 0.
func digits(t *rapid.T, label string, n, m int) string {
	return rapid.StringOfN(rapid.RuneFrom([]rune("0129")), n, m, -1).
		Filter(func(s string) bool { return !strings.HasPrefix(s, "0") }).Draw(t, label)
}

var propBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestLookupMatchesNaive: on random small cards (long and short prefixes sharing paths, several
// effective dates per prefix, some only in the future) Lookup finds the row naiveLookup finds,
// for numbers under the card's prefixes, random numbers and numbers with a stray non-digit.
func TestLookupMatchesNaive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 40).Draw(t, "rows")
		var rows []Row
		seen := map[key]bool{}
		for len(rows) < n {
			var p string
			if len(rows) > 0 && rapid.IntRange(0, 2).Draw(t, "extend") == 0 {
				// Extend or cut an existing prefix: nested prefixes and chains.
				q := rows[rapid.IntRange(0, len(rows)-1).Draw(t, "base")].Prefix
				p = q + digits(t, "more", 0, 6)
				p = p[:rapid.IntRange(1, min(MaxPrefixLen, len(p))).Draw(t, "cut")]
			} else {
				p = digits(t, "prefix", 1, MaxPrefixLen)
			}
			// Effective dates a few seconds apart around the lookup times, some fractional.
			from := propBase.Add(time.Duration(rapid.IntRange(-3, 6).Draw(t, "from")) * time.Second)
			if rapid.IntRange(0, 5).Draw(t, "frac") == 0 {
				from = from.Add(500 * time.Millisecond)
			}
			if k := (key{p, from.Unix()}); !seen[k] {
				seen[k] = true
				rows = append(rows, Row{Line: len(rows) + 2, Prefix: p, Destination: "d", NumberType: numbers.Fixed,
					Rate: 1, Initial: 1, Subsequent: 1, EffectiveFrom: from})
			}
		}
		c, err := Compile(Meta{Service: Outbound, Currency: usd, Version: 1}, rows, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 30 {
			var num string
			switch rapid.IntRange(0, 4).Draw(t, "kind") {
			case 0, 1: // under a prefix of the card
				num = rows[rapid.IntRange(0, len(rows)-1).Draw(t, "row")].Prefix + digits(t, "suffix", 0, 10)
			case 2:
				num = digits(t, "number", 0, 18)
			case 3: // a prefix cut short: shorter than the card's top-level table
				num = rows[rapid.IntRange(0, len(rows)-1).Draw(t, "row")].Prefix
				num = num[:rapid.IntRange(0, len(num)).Draw(t, "len")]
			case 4: // a non-digit somewhere
				num = rows[rapid.IntRange(0, len(rows)-1).Draw(t, "row")].Prefix + digits(t, "suffix", 0, 4)
				i := rapid.IntRange(0, len(num)).Draw(t, "at")
				num = num[:i] + rapid.SampledFrom([]string{"+", "a", "/", ":", " ", "\xff"}).Draw(t, "bad") + num[i:]
			}
			at := propBase.Add(time.Duration(rapid.IntRange(-4, 8).Draw(t, "at")) * 500 * time.Millisecond)
			want, wok := naiveLookup(c.rows, num, at)
			got, ok := c.Lookup(num, at)
			switch {
			case ok != wok:
				t.Fatalf("Lookup(%q, %s) found %v, naive %v", num, at.Format(time.RFC3339Nano), ok, wok)
			case ok && got != &c.rows[want]:
				t.Fatalf("Lookup(%q, %s) = line %d (%s from %s), naive line %d (%s from %s)", num, at.Format(time.RFC3339Nano),
					got.Line, got.Prefix, got.EffectiveFrom, c.rows[want].Line, c.rows[want].Prefix, c.rows[want].EffectiveFrom)
			}
		}
	})
}
