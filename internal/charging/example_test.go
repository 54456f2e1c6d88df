package charging_test

import (
	"fmt"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
)

func Example() {
	usd := money.MustCurrency("USD")
	cards := rating.NewRegistry()
	_, err := cards.Import(rating.Outbound, usd, []byte(
		"prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n"+
			"1,United States,fixed_or_mobile,0.01,0,60,60,2026-01-01,false\n"+
			"52,Mexico,mobile,0.02,0.05,60,1,2026-01-01,false\n"), time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	cat := plans.Default()
	ana := plans.Principal{ID: "ana", Licences: []string{"MCOEV", "MCOPSTN1", "MCOPSTNPP"}, UsageLocation: "US"}
	start := time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	ctx := &charging.Context{
		Catalog: cat, CreditsSetUp: true, Available: 100, // $1.00
		Pools: plans.Size(cat, plans.MonthOf(start), []plans.Principal{ana}, plans.SizeOptions{}),
		Cards: cards,
	}
	for _, to := range []string{"+525512345678", "(202) 555-0187", "911", "+44 909 879 0000"} {
		call := &charging.Call{Tenant: "t1", Currency: usd, ID: "c-" + to, Type: payer.UserOut,
			Principal: ana, Caller: "+12025550123", Callee: to, Start: start}
		a := charging.Authorize(ctx, call)
		if !a.Allowed {
			fmt.Printf("%s refused: %s\n", to, a.Reason)
			continue
		}
		s := charging.Settle(&a, charging.SettleInput{Seconds: 95, PoolAvailable: a.PoolHold, Reserved: a.Reserve})
		fmt.Printf("%s %s max=%ds reserve=%s; 95 s: pool=%ds charge=%s %s\n", to, a.Outcome, a.MaxSeconds,
			a.Reserve.Format(usd), s.PoolSeconds, s.Charge.Format(usd), a.Capability)
	}
	// Output:
	// +525512345678 credits max=2864s reserve=1.00; 95 s: pool=0s charge=0.08 MCOPSTNPP
	// (202) 555-0187 pool max=14400s reserve=0.00; 95 s: pool=95s charge=0.00 MCOPSTN1
	// 911 free max=14400s reserve=0.00; 95 s: pool=0s charge=0.00 MCOPSTN1
	// +44 909 879 0000 refused: premium_destination
}
