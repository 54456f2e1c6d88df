package report

import (
	"strings"
	"testing"

	"github.com/commcredits/commcredits/internal/directory"
)

// For every billing country of the list (and two without masking), the tenant's own numbers
// stay whole and external ones lose exactly the listed number of trailing digits.
func TestMaskerEveryCountry(t *testing.T) {
	countries := []string{"BE", "CH", "DE", "DK", "ES", "FI", "FR", "IT", "NL", "NO", "SE", "US", "GB"}
	want := map[string]int{"BE": 3, "CH": 4, "DE": 3, "DK": 3, "ES": 3, "FI": 3, "FR": 4, "IT": 3, "NL": 3, "NO": 3, "SE": 3}
	for _, cc := range countries {
		t.Run(cc, func(t *testing.T) {
			d := directory.New("t")
			d.BillingCountry = cc
			d.Numbers["41445551234"] = &directory.Number{E164: "41445551234", Country: "CH", Kind: directory.NumberUser}
			m := newMasker(d)
			if got := m.number("41445551234"); got != "+41445551234" {
				t.Fatalf("own number %q", got)
			}
			if got := m.number("+41445551234"); got != "+41445551234" {
				t.Fatalf("own number with + %q", got)
			}
			n := want[cc]
			ext := "33198765432"
			if got, w := m.number(ext), "+"+ext[:len(ext)-n]+strings.Repeat("*", n); got != w {
				t.Fatalf("external %q, want %q", got, w)
			}
			if got := m.number(""); got != "" {
				t.Fatalf("empty %q", got)
			}
		})
	}
}

// Masking never panics, keeps the length and the "+", and hides at most n digits.
func FuzzMask(f *testing.F) {
	f.Add("4930123456", 3)
	f.Add("", 4)
	f.Add("1", 9)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 16
		got := Mask(s, n)
		if len(got) != len(s) {
			t.Fatalf("Mask(%q, %d) = %q changed the length", s, n, got)
		}
		if n > 0 && strings.Count(got[max(len(got)-n, 0):], "*") != min(n, len(s)) {
			t.Fatalf("Mask(%q, %d) = %q", s, n, got)
		}
		m := masker{n: max(n, 0), own: map[string]*directory.Number{}}
		if out := m.number(s); s != "" && s != "+" && !strings.HasPrefix(out, "+") {
			t.Fatalf("number(%q) = %q", s, out)
		}
	})
}
