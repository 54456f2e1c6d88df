package report

import (
	"strings"

	"github.com/commcredits/commcredits/internal/directory"
)

// MaskDigits is how many trailing digits of an external number are masked in the usage
// report, per the tenant's billing country (domain §8, exact). Other countries: none.
var MaskDigits = map[string]int{
	"BE": 3, "CH": 4, "DE": 3, "DK": 3, "ES": 3, "FI": 3, "FR": 4, "IT": 3, "NL": 3, "NO": 3, "SE": 3,
}

// MaskChar replaces each masked digit.
const MaskChar = '*'

// masker masks the external numbers of one tenant's report.
type masker struct {
	n   int
	own map[string]*directory.Number
}

func newMasker(d *directory.Directory) masker {
	return masker{n: MaskDigits[d.BillingCountry], own: d.Numbers}
}

// number returns e164 (digits, with or without "+") with "+" and, when it is external
// (not one of the tenant's own numbers), its last n digits masked. "" stays "".
func (m masker) number(e164 string) string {
	digits := strings.TrimPrefix(e164, "+")
	if digits == "" {
		return ""
	}
	if _, own := m.own[digits]; own || m.n == 0 {
		return "+" + digits
	}
	return "+" + Mask(digits, m.n)
}

// Mask replaces the last n characters of digits with MaskChar (all of them when shorter).
func Mask(digits string, n int) string {
	if n <= 0 {
		return digits
	}
	k := max(len(digits)-n, 0)
	return digits[:k] + strings.Repeat(string(MaskChar), len(digits)-k)
}
