package money

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestParseAmount(t *testing.T) {
	usd, jpy, bhd := MustCurrency("USD"), MustCurrency("jpy"), MustCurrency("BHD")
	cases := []struct {
		in   string
		cur  Currency
		want Amount
		err  error
	}{
		{"12.34", usd, 1234, nil},
		{"12.3", usd, 1230, nil},
		{"12", usd, 1200, nil},
		{"-0.01", usd, -1, nil},
		{"+7.50", usd, 750, nil},
		{"1.500", usd, 150, nil},
		{"0.001", usd, 0, ErrPrecision},
		{"100", jpy, 100, nil},
		{"100.5", jpy, 0, ErrPrecision},
		{"1.234", bhd, 1234, nil},
		{"1.2345", bhd, 0, ErrPrecision},
		{"", usd, 0, ErrSyntax},
		{"1.", usd, 0, ErrSyntax},
		{".5", usd, 0, ErrSyntax},
		{"1e3", usd, 0, ErrSyntax},
		{"1,5", usd, 0, ErrSyntax},
		{"--1", usd, 0, ErrSyntax},
		{"12345678901234567", usd, 0, ErrRange},
		{"10000000000000.01", usd, 0, ErrRange},
	}
	for _, c := range cases {
		got, err := ParseAmount(c.in, c.cur)
		if !errors.Is(err, c.err) || got != c.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d, %v", c.in, c.cur, got, err, c.want, c.err)
		}
	}
}

func TestLookupCurrency(t *testing.T) {
	for code, digits := range map[string]uint8{"USD": 2, "JPY": 0, "BHD": 3, "EUR": 2, "CLF": 4} {
		c, err := LookupCurrency(code)
		if err != nil || c.Digits != digits {
			t.Errorf("%s: %v %v", code, c, err)
		}
	}
	for _, bad := range []string{"", "US", "XXX", "ABC", "USDD"} {
		if _, err := LookupCurrency(bad); !errors.Is(err, ErrUnknownCurrency) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

func TestFormat(t *testing.T) {
	cases := []struct {
		a    Amount
		cur  string
		want string
	}{{1234, "USD", "12.34"}, {-5, "USD", "-0.05"}, {0, "USD", "0.00"}, {100, "JPY", "100"}, {1, "BHD", "0.001"}}
	for _, c := range cases {
		if got := c.a.Format(MustCurrency(c.cur)); got != c.want {
			t.Errorf("%d %s = %q want %q", c.a, c.cur, got, c.want)
		}
	}
}

func TestParseRate(t *testing.T) {
	cases := []struct {
		in   string
		want Rate
		err  error
	}{
		{"0.012345", 12345, nil}, {"1", 1_000_000, nil}, {"0.0000001", 0, ErrPrecision},
		{"-0.01", 0, ErrRange}, {"abc", 0, ErrSyntax}, {"1000001", 0, ErrRange},
	}
	for _, c := range cases {
		got, err := ParseRate(c.in)
		if !errors.Is(err, c.err) || got != c.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d, %v", c.in, got, err, c.want, c.err)
		}
	}
	if s := Rate(12345).String(); s != "0.012345" {
		t.Errorf("String = %q", s)
	}
	if s := Rate(1_500_000).String(); s != "1.50" {
		t.Errorf("String = %q", s)
	}
}

func TestCallCharge(t *testing.T) {
	usd, jpy, bhd := MustCurrency("USD"), MustCurrency("JPY"), MustCurrency("BHD")
	cases := []struct {
		rate, fee Rate
		billed    int64
		cur       Currency
		want      Amount
	}{
		{20_000, 0, 60, usd, 2},                           // 0.02/min × 1 min
		{20_000, 0, 90, usd, 3},                           // 0.03 exactly
		{25_000, 0, 60, usd, 3},                           // 0.025 → 0.03 half away from zero
		{24_999, 0, 60, usd, 2},                           // 0.024999 → 0.02
		{10_000, 150_000, 30, usd, 16},                    // 0.15 + 0.005 = 0.155 → 0.16
		{3_000_000, 0, 61, jpy, 3},                        // 3.05 JPY → 3
		{3_000_000, 0, 70, jpy, 4},                        // 3.5 JPY → 4
		{1_234, 0, 60, bhd, 1},                            // 0.001234 → 0.001
		{1_500, 0, 60, bhd, 2},                            // 0.0015 → 0.002
		{0, 0, 3600, usd, 0},                              // free
		{1_000_000_000_000, 0, 7200, usd, 12_000_000_000}, // max rate for 2 h, no overflow
	}
	for _, c := range cases {
		if got := CallCharge(c.rate, c.fee, c.billed, c.cur); got != c.want {
			t.Errorf("CallCharge(%d,%d,%d,%s) = %d want %d", c.rate, c.fee, c.billed, c.cur, got, c.want)
		}
	}
}

func TestMulDivRoundProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.Int64Range(-1<<40, 1<<40).Draw(t, "a")
		b := rapid.Int64Range(-1<<20, 1<<20).Draw(t, "b")
		d := rapid.Int64Range(1, 1<<30).Draw(t, "d")
		got := MulDivRound(a, b, d)
		// Reference in exact int64 arithmetic, which cannot overflow in this range.
		p := a * b
		q, r := p/d, p%d
		if 2*abs(r) >= d {
			if p < 0 {
				q--
			} else {
				q++
			}
		}
		if got != q {
			t.Fatalf("MulDivRound(%d,%d,%d) = %d want %d", a, b, d, got, q)
		}
		if MulDivRound(-a, b, d) != -got {
			t.Fatalf("not symmetric around zero")
		}
	})
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestParseFormatRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cur := rapid.SampledFrom([]Currency{MustCurrency("USD"), MustCurrency("JPY"), MustCurrency("BHD")}).Draw(t, "cur")
		a := Amount(rapid.Int64Range(-int64(MaxAmount), int64(MaxAmount)).Draw(t, "a"))
		back, err := ParseAmount(a.Format(cur), cur)
		if err != nil || back != a {
			t.Fatalf("%d → %q → %d, %v", a, a.Format(cur), back, err)
		}
	})
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"12.34", "-0.01", "1.", "", "9999999999999999", "0.000", "+1"} {
		f.Add(s)
	}
	usd := MustCurrency("USD")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount(s, usd)
		if err != nil {
			return
		}
		if a > MaxAmount || a < -MaxAmount {
			t.Fatalf("%q parsed out of range: %d", s, a)
		}
		if back, err := ParseAmount(a.Format(usd), usd); err != nil || back != a {
			t.Fatalf("%q → %d does not round-trip", s, a)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"0.012345", "1", "-1", "0.0000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r < 0 || r > MaxRate {
			t.Fatalf("%q parsed out of range: %d", s, r)
		}
		if back, err := ParseRate(r.String()); err != nil || back != r {
			t.Fatalf("%q → %d does not round-trip", s, r)
		}
	})
}

// formatFixed must write exactly what the fmt verbs it replaced wrote.
func TestFormatFixedMatchesFmt(t *testing.T) {
	old := func(v int64, digits int) string {
		var b strings.Builder
		u := abs64(v)
		if v < 0 {
			b.WriteByte('-')
		}
		scale := uint64(pow10[digits])
		fmt.Fprintf(&b, "%d", u/scale)
		if digits > 0 {
			fmt.Fprintf(&b, ".%0*d", digits, u%scale)
		}
		return b.String()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	vals := []int64{0, 1, -1, 5, -5, 9, 10, 99, 100, 101, 1000, 123456, -123456, 1_000_000, 999_999_999, math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	for range 2000 {
		vals = append(vals, rng.Int64()>>rng.IntN(63), -(rng.Int64() >> rng.IntN(63)))
	}
	for _, v := range vals {
		for d := range len(pow10) {
			if got, want := formatFixed(v, d), old(v, d); got != want {
				t.Fatalf("formatFixed(%d, %d) = %q, want %q", v, d, got, want)
			}
		}
	}
}
