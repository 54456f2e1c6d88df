package cardgen

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestCard(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int
		ccs  []string
	}{
		{"stand-in codes", 5_000, nil},
		{"given codes", 3_000, []string{"44", "1", "971", "44"}},
	} {
		a, pa := Card(c.n, 1, 2, c.ccs)
		b, pb := Card(c.n, 1, 2, c.ccs)
		if !bytes.Equal(a, b) || !slices.Equal(pa, pb) {
			t.Errorf("%s: two cards of the same seeds differ", c.name)
		}
		if other, _ := Card(c.n, 1, 3, c.ccs); bytes.Equal(a, other) {
			t.Errorf("%s: the seed does not change the card", c.name)
		}
		lines := strings.Split(strings.TrimSpace(string(a)), "\n")
		if lines[0]+"\n" != Header || len(lines) != c.n+1 || len(pa) != c.n {
			t.Errorf("%s: %d lines, %d prefixes", c.name, len(lines), len(pa))
		}
		seen := map[string]bool{}
		for i, p := range pa {
			if seen[p] || !strings.HasPrefix(lines[i+1], p+",") {
				t.Fatalf("%s: prefix %d %q repeated or not on its line %q", c.name, i, p, lines[i+1])
			}
			seen[p] = true
		}
		for _, cc := range c.ccs {
			if !seen[cc] {
				t.Errorf("%s: country code %s is not a prefix of its own", c.name, cc)
			}
		}
	}
}
