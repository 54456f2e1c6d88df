// Package money holds exact money: amounts as integers in a currency's minor unit and rates
// as integer micro-units of the currency per minute. Nothing here uses floating point.
package money

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/bojanz/currency"
)

// Currency is an ISO 4217 currency with its number of minor-unit digits (USD 2, JPY 0, BHD 3).
type Currency struct {
	Code   string
	Digits uint8
}

// Errors returned by parsing; callers test them with errors.Is.
var (
	ErrUnknownCurrency = errors.New("unknown currency")
	ErrSyntax          = errors.New("not a decimal number")
	ErrPrecision       = errors.New("too many decimal places")
	ErrRange           = errors.New("number out of range")
)

// MaxAmount bounds every amount the engine accepts so that sums of many amounts and
// products with rates stay far from int64 overflow (10^15 minor units).
const MaxAmount = Amount(1_000_000_000_000_000)

// LookupCurrency returns the currency for an ISO 4217 code ("usd" is accepted as "USD").
func LookupCurrency(code string) (Currency, error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	if len(c) != 3 {
		return Currency{}, fmt.Errorf("%w: %q", ErrUnknownCurrency, code)
	}
	d, ok := currency.GetDigits(c)
	if !ok {
		return Currency{}, fmt.Errorf("%w: %q", ErrUnknownCurrency, code)
	}
	return Currency{Code: c, Digits: d}, nil
}

// MustCurrency is LookupCurrency for constants in tests and examples; it panics on a bad code.
func MustCurrency(code string) Currency {
	c, err := LookupCurrency(code)
	if err != nil {
		panic(err)
	}
	return c
}

func (c Currency) String() string { return c.Code }

// Scale is 10^Digits: the number of minor units in one major unit.
func (c Currency) Scale() int64 { return pow10[c.Digits] }

// Amount is a count of a currency's minor units (cents for USD). It may be negative.
type Amount int64

// ParseAmount reads a decimal string such as "12.34", "-5" or "0.5" in currency c. More
// fractional digits than the currency has is an error, never a silent rounding.
func ParseAmount(s string, c Currency) (Amount, error) {
	v, err := parseFixed(s, int(c.Digits))
	if err != nil {
		return 0, err
	}
	if v > int64(MaxAmount) || v < -int64(MaxAmount) {
		return 0, fmt.Errorf("%w: %q", ErrRange, s)
	}
	return Amount(v), nil
}

// Units returns n whole units of c as an Amount (Units(50, USD) = 5000).
func Units(n int64, c Currency) Amount { return Amount(n * c.Scale()) }

// Format writes a in c's major unit with exactly c.Digits fractional digits ("12.30").
func (a Amount) Format(c Currency) string { return formatFixed(int64(a), int(c.Digits)) }

// Rate is an exact price per minute in micro-units of the currency (1 = 0.000001 USD).
// Connection fees use the same unit so that a call's charge is rounded once.
type Rate int64

// RateDigits is the number of fractional digits a Rate can carry.
const RateDigits = 6

// MaxRate bounds a rate or fee: one million currency units.
const MaxRate = Rate(1_000_000 * 1_000_000)

// ParseRate reads a non-negative decimal with up to 6 fractional digits ("0.0125").
func ParseRate(s string) (Rate, error) {
	v, err := parseFixed(s, RateDigits)
	if err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, fmt.Errorf("%w: %q is negative", ErrRange, s)
	}
	if v > int64(MaxRate) {
		return 0, fmt.Errorf("%w: %q", ErrRange, s)
	}
	return Rate(v), nil
}

// String writes r with the fewest fractional digits that keep it exact (at least two).
func (r Rate) String() string {
	s := formatFixed(int64(r), RateDigits)
	s = strings.TrimRight(s, "0")
	if i := strings.IndexByte(s, '.'); len(s)-i-1 < 2 {
		s += strings.Repeat("0", 2-(len(s)-i-1))
	}
	return s
}

// CallCharge is the exact charge of domain §3: fee + rate × billedSeconds / 60, converted to
// c's minor unit and rounded half away from zero once.
func CallCharge(rate, fee Rate, billedSeconds int64, c Currency) Amount {
	// (fee·60 + rate·billed) micro-units·s/min, scaled to minor units: × 10^d / (60·10^6).
	num := int64(fee)*60 + int64(rate)*billedSeconds
	return Amount(MulDivRound(num, c.Scale(), 60*pow10[RateDigits]))
}

// MulDivRound returns a×b/d rounded half away from zero, computed in 128 bits so that the
// product cannot overflow. d must be positive; a result outside int64 saturates.
func MulDivRound(a, b, d int64) int64 {
	if d <= 0 {
		panic("money: MulDivRound with non-positive divisor")
	}
	neg := (a < 0) != (b < 0)
	hi, lo := bits.Mul64(abs64(a), abs64(b))
	ud := uint64(d)
	if hi >= ud {
		if neg {
			return -1 << 63
		}
		return 1<<63 - 1
	}
	q, r := bits.Div64(hi, lo, ud)
	if r >= ud-r { // r ≥ d/2 without overflow: round the half away from zero
		q++
	}
	if q > 1<<63-1 {
		q = 1<<63 - 1
	}
	if neg {
		return -int64(q)
	}
	return int64(q)
}

func abs64(v int64) uint64 {
	if v < 0 {
		return uint64(-v)
	}
	return uint64(v)
}

var pow10 = [...]int64{1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000}

// parseFixed reads an optionally signed decimal into an integer scaled by 10^digits.
func parseFixed(s string, digits int) (int64, error) {
	orig := s
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrSyntax)
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || hasDot && frac == "" {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, orig)
	}
	if len(intPart) > 16 {
		return 0, fmt.Errorf("%w: %q", ErrRange, orig)
	}
	var v int64
	for i := 0; i < len(intPart); i++ {
		ch := intPart[i]
		if ch < '0' || ch > '9' {
			return 0, fmt.Errorf("%w: %q", ErrSyntax, orig)
		}
		v = v*10 + int64(ch-'0')
	}
	// Trailing zeros beyond the precision are exact, so "1.500" is a valid USD amount.
	trimmed := strings.TrimRight(frac, "0")
	for i := 0; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return 0, fmt.Errorf("%w: %q", ErrSyntax, orig)
		}
	}
	if len(trimmed) > digits {
		return 0, fmt.Errorf("%w: %q has more than %d", ErrPrecision, orig, digits)
	}
	v *= pow10[digits]
	for i := 0; i < len(trimmed); i++ {
		v += int64(trimmed[i]-'0') * pow10[digits-1-i]
	}
	if neg {
		v = -v
	}
	return v, nil
}

func formatFixed(v int64, digits int) string {
	// strconv into a stack buffer, not fmt: every call answer formats three amounts.
	var buf [48]byte
	b := buf[:0]
	u := abs64(v)
	if v < 0 {
		b = append(b, '-')
	}
	scale := uint64(pow10[digits])
	b = strconv.AppendUint(b, u/scale, 10)
	if digits > 0 {
		b = append(b, '.')
		var fb [20]byte
		f := strconv.AppendUint(fb[:0], u%scale, 10)
		for range digits - len(f) {
			b = append(b, '0')
		}
		b = append(b, f...)
	}
	return string(b)
}
