package rating

import (
	"bufio"
	"flag"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/commcredits/commcredits/internal/money"
	"pgregory.net/rapid"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func TestBilled(t *testing.T) {
	cases := []struct{ d, initial, sub, want int64 }{
		{0, 60, 60, 0}, {-5, 60, 60, 0},
		{1, 60, 60, 60}, {60, 60, 60, 60}, {61, 60, 60, 120}, {120, 60, 60, 120}, {121, 60, 60, 180},
		{1, 60, 1, 60}, {61, 60, 1, 61}, {95, 60, 1, 95},
		{1, 1, 1, 1}, {95, 1, 1, 95},
		{1, 30, 6, 30}, {30, 30, 6, 30}, {31, 30, 6, 36}, {36, 30, 6, 36}, {37, 30, 6, 42},
		{7, 0, 0, 7}, // increments below 1 are taken as 1
	}
	for _, c := range cases {
		if got := Billed(c.d, c.initial, c.sub); got != c.want {
			t.Errorf("Billed(%d, %d, %d) = %d, want %d", c.d, c.initial, c.sub, got, c.want)
		}
	}
}

// goldenCurrencies are the currencies and a rate, fee pair each of the golden file uses; the
// second rate makes exact halves of the minor unit appear (rounded away from zero).
var goldenCurrencies = []struct{ code, rate, halfRate, fee string }{
	{"USD", "0.0125", "0.01", "0.10"},
	{"JPY", "2.5", "1", "10"},
	{"BHD", "0.0045", "0.001", "0.025"},
}

var goldenIncrements = [][2]int64{{60, 60}, {60, 1}, {1, 1}, {30, 6}}

var goldenDurations = []int64{0, 1, 29, 30, 31, 36, 37, 59, 60, 61, 65, 90, 119, 120, 121, 3600, 3601}

// TestChargeGolden compares every charge with testdata/charges.golden and, independently, with
// the formula of domain §3 evaluated in exact rationals.
func TestChargeGolden(t *testing.T) {
	var b strings.Builder
	b.WriteString("# currency rate fee initial/subsequent seconds -> billed charge\n")
	for _, gc := range goldenCurrencies {
		cur := money.MustCurrency(gc.code)
		for _, rate := range []string{gc.rate, gc.halfRate} {
			for _, fee := range []string{"0", gc.fee} {
				for _, inc := range goldenIncrements {
					r := &Row{Rate: mustRate(t, rate), Fee: mustRate(t, fee), Initial: inc[0], Subsequent: inc[1]}
					for _, d := range goldenDurations {
						got := Charge(r, d, true, cur)
						if want := oracle(r, d, cur); got != want {
							t.Errorf("%s %s fee %s %d/%d %ds: Charge = %d, exact rule gives %d", gc.code, rate, fee, inc[0], inc[1], d, got, want)
						}
						fmt.Fprintf(&b, "%s %s %s %d/%d %d -> %d %s\n", gc.code, rate, fee, inc[0], inc[1], d,
							Billed(d, inc[0], inc[1]), got.Format(cur))
					}
				}
			}
		}
	}
	const path = "testdata/charges.golden"
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gotLines, wantLines := strings.Split(b.String(), "\n"), strings.Split(string(want), "\n")
	if len(gotLines) != len(wantLines) {
		t.Fatalf("golden has %d lines, computed %d (run with -update after checking)", len(wantLines), len(gotLines))
	}
	for i := range gotLines {
		if gotLines[i] != wantLines[i] {
			t.Errorf("%s:%d: got %q, want %q", path, i+1, gotLines[i], wantLines[i])
		}
	}
}

// TestChargeGoldenHand checks a few golden lines worked out by hand.
func TestChargeGoldenHand(t *testing.T) {
	f, err := os.Open("testdata/charges.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := map[string]bool{}
	for s := bufio.NewScanner(f); s.Scan(); {
		lines[s.Text()] = true
	}
	for _, l := range []string{
		"USD 0.0125 0.10 60/60 61 -> 120 0.13",     // 0.10 + 0.0125·2 = 0.125 → 0.13 (half away from zero)
		"USD 0.0125 0 60/60 61 -> 120 0.03",        // 0.025 → 0.03
		"USD 0.01 0 1/1 30 -> 30 0.01",             // 0.005 → 0.01
		"USD 0.0125 0 30/6 37 -> 42 0.01",          // 0.0125·42/60 = 0.00875 → 0.01
		"JPY 1 0 1/1 30 -> 30 1",                   // 0.5 yen → 1
		"JPY 2.5 10 60/1 65 -> 65 13",              // 10 + 2.5·65/60 = 12.708… → 13
		"BHD 0.001 0 1/1 30 -> 30 0.001",           // 0.0005 → 0.001
		"BHD 0.0045 0.025 30/6 3601 -> 3606 0.295", // 0.025 + 0.0045·3606/60 = 0.29545 → 0.295
		"USD 0.0125 0.10 60/60 0 -> 0 0.00",        // unanswered: nothing, not even the fee
	} {
		if !lines[l] {
			t.Errorf("golden file lacks %q", l)
		}
	}
}

func mustRate(t testing.TB, s string) money.Rate {
	r, err := money.ParseRate(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// oracle evaluates domain §3 in exact rationals: fee + rate·billed/60, half away from zero.
func oracle(r *Row, d int64, cur money.Currency) money.Amount {
	if d <= 0 {
		return 0
	}
	billed := Billed(d, r.Initial, r.Subsequent)
	micro := new(big.Rat).SetInt64(int64(r.Fee))
	micro.Add(micro, new(big.Rat).SetFrac64(int64(r.Rate)*billed, 60))
	minor := micro.Mul(micro, new(big.Rat).SetFrac64(cur.Scale(), 1_000_000))
	// Half away from zero for a non-negative value: floor(x + 1/2).
	minor.Add(minor, big.NewRat(1, 2))
	q := new(big.Int).Quo(minor.Num(), minor.Denom())
	return money.Amount(q.Int64())
}

func TestChargeWithoutFee(t *testing.T) {
	usd := money.MustCurrency("USD")
	r := &Row{Rate: mustRate(t, "0.60"), Fee: mustRate(t, "0.25"), Initial: 60, Subsequent: 1}
	if got := Charge(r, 90, false, usd); got != 90 {
		t.Errorf("without fee: %d, want 90", got)
	}
	if got := Charge(r, 90, true, usd); got != 115 {
		t.Errorf("with fee: %d, want 115", got)
	}
}

func TestSplitCall(t *testing.T) {
	usd := money.MustCurrency("USD")
	r := &Row{Rate: mustRate(t, "0.60"), Fee: mustRate(t, "0.25"), Initial: 60, Subsequent: 60}
	cases := []struct {
		name    string
		pool, d int64
		want    Split
	}{
		{"unanswered", 100, 0, Split{}},
		{"pool covers", 300, 300, Split{PoolSeconds: 300}},
		{"pool runs out mid-call", 100, 130, Split{PoolSeconds: 100, CreditSeconds: 30, CreditCharge: 60}}, // 30 s billed 60, no fee
		{"one second left", 1, 61, Split{PoolSeconds: 1, CreditSeconds: 60, CreditCharge: 60}},
		{"empty pool: a credits call", 0, 61, Split{CreditSeconds: 61, CreditCharge: 25 + 120, Fee: true}},
		{"overdrawn pool", -5, 10, Split{CreditSeconds: 10, CreditCharge: 25 + 60, Fee: true}},
	}
	for _, c := range cases {
		if got := SplitCall(r, c.pool, c.d, usd); got != c.want {
			t.Errorf("%s: SplitCall(pool %d, %ds) = %+v, want %+v", c.name, c.pool, c.d, got, c.want)
		}
	}
	if got := SplitCall(nil, 60, 60, usd); got != (Split{PoolSeconds: 60}) {
		t.Errorf("pool-only call without a row: %+v", got)
	}
}

func genRow(t *rapid.T) *Row {
	incs := [][2]int64{{60, 60}, {60, 1}, {1, 1}, {30, 6}}
	inc := rapid.SampledFrom(incs).Draw(t, "inc")
	return &Row{
		Rate:       money.Rate(rapid.Int64Range(0, 5_000_000).Draw(t, "rate")), // up to 5 units/min
		Fee:        money.Rate(rapid.Int64Range(0, 1_000_000).Draw(t, "fee")),
		Initial:    inc[0],
		Subsequent: inc[1],
	}
}

var propCurrencies = []money.Currency{money.MustCurrency("USD"), money.MustCurrency("JPY"), money.MustCurrency("BHD")}

// TestMaxSecondsProperty: what an amount buys costs at most that amount, and one second more
// costs more (unless the limit stopped the search).
func TestMaxSecondsProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := genRow(t)
		cur := rapid.SampledFrom(propCurrencies).Draw(t, "cur")
		a := money.Amount(rapid.Int64Range(0, 100_000).Draw(t, "amount"))
		withFee := rapid.Bool().Draw(t, "withFee")
		limit := rapid.Int64Range(1, 4*3600).Draw(t, "limit")
		m := MaxSeconds(r, a, withFee, cur, limit)
		if m < 0 || m > limit {
			t.Fatalf("MaxSeconds = %d outside [0, %d]", m, limit)
		}
		if c := Charge(r, m, withFee, cur); c > a {
			t.Fatalf("Charge(%d s) = %d > amount %d", m, c, a)
		}
		if m < limit {
			if c := Charge(r, m+1, withFee, cur); c <= a {
				t.Fatalf("Charge(%d s) = %d ≤ amount %d: MaxSeconds %d is not the maximum", m+1, c, a, m)
			}
		}
	})
}

func TestMaxSecondsCases(t *testing.T) {
	usd := money.MustCurrency("USD")
	r := &Row{Rate: mustRate(t, "0.60"), Fee: mustRate(t, "0.25"), Initial: 60, Subsequent: 60}
	cases := []struct {
		a       money.Amount
		withFee bool
		limit   int64
		want    int64
	}{
		{85, true, 3600, 60},   // fee 25 + one minute 60
		{84, true, 3600, 0},    // not even the first increment
		{145, true, 3600, 120}, // fee + two minutes
		{60, false, 3600, 60},  // the rest of a split call pays no fee
		{-1, false, 3600, 0},   // a negative amount buys nothing
		{100000, true, 90, 90}, // capped by the limit
		{0, false, 0, 0},       // no limit, no seconds
	}
	for _, c := range cases {
		if got := MaxSeconds(r, c.a, c.withFee, usd, c.limit); got != c.want {
			t.Errorf("MaxSeconds(%d, fee %v, limit %d) = %d, want %d", c.a, c.withFee, c.limit, got, c.want)
		}
	}
	free := &Row{Initial: 60, Subsequent: 60}
	if got := MaxSeconds(free, 0, true, usd, 7200); got != 7200 {
		t.Errorf("a free row buys the whole limit; got %d", got)
	}
}

// TestSplitProperty: pool and credit seconds add up to the call; credits never pay more than
// the whole call would have cost on credits.
func TestSplitProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := genRow(t)
		cur := rapid.SampledFrom(propCurrencies).Draw(t, "cur")
		d := rapid.Int64Range(0, 4*3600).Draw(t, "d")
		pool := rapid.Int64Range(-10, 4*3600).Draw(t, "pool")
		s := SplitCall(r, pool, d, cur)
		if s.PoolSeconds+s.CreditSeconds != d || s.PoolSeconds < 0 || s.CreditSeconds < 0 || s.PoolSeconds > max(pool, 0) {
			t.Fatalf("SplitCall(pool %d, %d s) = %+v", pool, d, s)
		}
		if s.CreditCharge > Charge(r, d, true, cur) {
			t.Fatalf("credits part %d costs more than the whole call %d", s.CreditCharge, Charge(r, d, true, cur))
		}
	})
}

func TestChargeBounds(t *testing.T) {
	usd := money.MustCurrency("USD")
	r := &Row{Rate: money.MaxRate, Fee: money.MaxRate, Initial: 1, Subsequent: 1}
	huge := Charge(r, 1<<62, true, usd)
	if want := Charge(r, MaxCallSeconds, true, usd); huge != want || huge <= 0 {
		t.Errorf("a duration beyond MaxCallSeconds is priced as MaxCallSeconds: %d vs %d", huge, want)
	}
}
