package web

import (
	"testing"

	"github.com/commcredits/commcredits/internal/money"
)

// An amount typed in a form is either refused with a message at its field, or read as an
// amount that prints back as the same value: never a panic, never a silent rounding.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"50", "50.00", "0.5", "12,50", "-5", "1e3", "", " 7 ", "60.123", "99999999999999999999", "0", ".5"} {
		f.Add(s)
	}
	cur := money.MustCurrency("USD")
	f.Fuzz(func(t *testing.T, raw string) {
		var fe formError
		a := parseAmount(&fe, "amount", raw, cur, true, true)
		if !fe.empty() {
			if a != 0 || fe.Fields["amount"] == "" {
				t.Fatalf("%q refused with amount %d and message %q", raw, a, fe.Fields["amount"])
			}
			return
		}
		if a < 0 {
			t.Fatalf("%q read as negative %d", raw, a)
		}
		if a == 0 {
			return // blank, allowed as optional
		}
		var fe2 formError
		if b := parseAmount(&fe2, "amount", a.Format(cur), cur, false, true); b != a || !fe2.empty() {
			t.Fatalf("%q read as %d, which prints as %q and reads back as %d", raw, a, a.Format(cur), b)
		}
	})
}
