package charging

import (
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
)

var (
	usd   = money.MustCurrency("USD")
	cat   = plans.Default()
	start = time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
)

const header = "prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n"

// registry holds small outbound, dial-out and toll-free USD cards.
func registry(tb testing.TB) *rating.Registry {
	tb.Helper()
	g := rating.NewRegistry()
	cards := []struct {
		s   rating.Service
		csv string
	}{
		{rating.Outbound, header +
			"1,United States,fixed_or_mobile,0.01,0,60,60,2026-01-01,false\n" +
			"52,Mexico,fixed_or_mobile,0.02,0.05,60,1,2026-01-01,false\n" +
			"971,United Arab Emirates,mobile,0.30,0.10,30,6,2026-01-01,false\n" +
			"49,Germany,fixed,0.02,0,1,1,2026-01-01,false\n" +
			"44,United Kingdom,fixed,0.02,0,60,1,2026-01-01,false\n" +
			"449,United Kingdom premium,premium,1.00,0,60,60,2026-01-01,true\n" +
			"33,France,fixed,0.02,0,60,60,2026-01-01,true\n"},
		{rating.DialOut, header +
			"1,United States,fixed_or_mobile,0.012,0,60,60,2026-01-01,false\n" +
			"52,Mexico,fixed_or_mobile,0.03,0.05,60,1,2026-01-01,false\n" +
			"971,United Arab Emirates,mobile,0.35,0.10,30,6,2026-01-01,false\n" +
			"49,Germany,fixed,0.02,0,60,1,2026-01-01,false\n"},
		{rating.TollFree, header +
			"1,United States,fixed_or_mobile,0.018,0,60,6,2026-01-01,false\n"},
	}
	for _, c := range cards {
		if _, err := g.Import(c.s, usd, []byte(c.csv), start.AddDate(0, -1, 0)); err != nil {
			tb.Fatal(err)
		}
	}
	return g
}

func principal(id, loc string, lic ...string) plans.Principal {
	return plans.Principal{ID: id, Licences: lic, UsageLocation: loc}
}

// tenant builds a context whose pools are sized from ps.
func tenant(g *rating.Registry, avail money.Amount, ps ...plans.Principal) *Context {
	return &Context{
		Catalog: cat, CreditsSetUp: true, Available: avail, Cards: g,
		Pools: plans.Size(cat, plans.MonthOf(start), ps, plans.SizeOptions{}),
	}
}

func call(t payer.CallType, p plans.Principal, caller, callee string) *Call {
	return &Call{Tenant: "t1", Currency: usd, ID: "c1", Leg: "a", Type: t, Principal: p, Caller: caller, Callee: callee, Start: start}
}
