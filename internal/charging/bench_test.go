package charging

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/commcredits/commcredits/internal/numbers"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
)

// bigRegistry holds an outbound USD card of 100,000 prefixes: NANP NPA-NXX and 2-to-5-digit
// ranges under other country codes, with mixed increments. It returns parsed-looking numbers
// under random prefixes (NANP ones are US, the others MX, so both pool and credit calls occur).
func bigRegistry(tb testing.TB) (*rating.Registry, []numbers.Number) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(4, 2))
	var b bytes.Buffer
	b.WriteString(header)
	seen := map[string]bool{}
	var nums []numbers.Number
	incs := []string{"60,60", "60,1", "1,1", "30,6"}
	for len(seen) < 100_000 {
		var p string
		if rng.IntN(3) == 0 {
			p = fmt.Sprintf("1%d%d", 200+rng.IntN(800), 200+rng.IntN(800))
		} else {
			p = fmt.Sprint(20+rng.IntN(980)) + fmt.Sprint(rng.Uint64())[:2+rng.IntN(4)]
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		fmt.Fprintf(&b, "%s,D,mobile,0.%03d,0.0%d,%s,2026-01-01,false\n", p, 1+rng.IntN(999), rng.IntN(10), incs[rng.IntN(len(incs))])
		n := numbers.Number{E164: (p + "55501234567")[:12], Country: "MX", Type: numbers.Mobile}
		if p[0] == '1' {
			n.Country, n.Type = "US", numbers.FixedOrMobile
		}
		nums = append(nums, n)
	}
	g := rating.NewRegistry()
	if _, err := g.Import(rating.Outbound, usd, b.Bytes(), start); err != nil {
		tb.Fatal(err)
	}
	return g, nums
}

func benchSetup(tb testing.TB) (*Context, *Call, *Numbers, []numbers.Number) {
	g, nums := bigRegistry(tb)
	ctx := tenant(g, 5_000, usUser) // $50
	ctx.Policy.SpendLimit, ctx.Policy.Spent = 4_000, 1_000
	c := call(payer.UserOut, usUser, usNum, "")
	n := &Numbers{Caller: numbers.Number{E164: "12025550123", Country: "US", Type: numbers.FixedOrMobile}}
	return ctx, c, n, nums
}

// BenchmarkAuthorize is the whole decision for calls whose numbers are parsed: card lookup on
// a 100k-prefix card, who pays, dial-out policy, pool, max seconds by balance and spend
// limit, and the reservation's amount.
func BenchmarkAuthorize(b *testing.B) {
	ctx, c, n, nums := benchSetup(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n.Callee = nums[i%len(nums)]
		a := AuthorizeParsed(ctx, c, n)
		if !a.Allowed {
			b.Fatal(a.Reason)
		}
		i++
	}
}

// BenchmarkAuthorizeRaw adds parsing the raw numbers with libphonenumber (Authorize).
func BenchmarkAuthorizeRaw(b *testing.B) {
	ctx, c, _, _ := benchSetup(b)
	raw := []string{"+525512345678", "+12025550187", "(202) 555-0199", "+971501234567", "+4930123456"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Callee = raw[i%len(raw)]
		Authorize(ctx, c)
		i++
	}
}

func BenchmarkSettle(b *testing.B) {
	ctx, c, n, nums := benchSetup(b)
	n.Callee = nums[1]
	a := AuthorizeParsed(ctx, c, n)
	b.ReportAllocs()
	for b.Loop() {
		Settle(&a, SettleInput{Seconds: 95, PoolAvailable: a.PoolHold, Reserved: a.Reserve})
	}
}

func TestAuthorizeAllocs(t *testing.T) {
	ctx, c, n, nums := benchSetup(t)
	var pool, credits int
	for i := range 1000 {
		n.Callee = nums[i*97%len(nums)]
		a := AuthorizeParsed(ctx, c, n)
		switch a.Outcome {
		case payer.Pool:
			pool++
		case payer.Credits:
			credits++
		}
	}
	if pool == 0 || credits == 0 {
		t.Fatalf("pool %d credits %d: the benchmark must exercise both", pool, credits)
	}
	i := 0
	if allocs := testing.AllocsPerRun(1000, func() {
		n.Callee = nums[i%len(nums)]
		AuthorizeParsed(ctx, c, n)
		i++
	}); allocs != 0 {
		t.Errorf("AuthorizeParsed allocates %v times", allocs)
	}
	_ = plans.MCOPSTNPP
}
