package plans_test

import (
	"fmt"

	"github.com/commcredits/commcredits/internal/plans"
)

func Example() {
	cat := plans.Default()
	users := []plans.Principal{
		{ID: "ana", Licences: []string{"MCOEV", "MCOPSTN2", "MCOMEETADD"}, UsageLocation: "US"},
		{ID: "luis", Licences: []string{"MCOEV", "MCOPSTN2"}, UsageLocation: "PR"},
	}
	pools := plans.Size(cat, "2026-11", users, plans.SizeOptions{})
	for _, e := range pools.All() {
		fmt.Printf("%s: %d minutes\n", e.Key, e.TotalSeconds/60)
	}
	// Ana's 95-second call to Mexico draws from the international pool; once that pool is
	// used up, the domestic pool of the same plan is capped as well.
	intl := plans.InternationalPool("MCOPSTN2", "US")
	pools.Draw(intl, 95)
	pools.Draw(intl, 1_000_000)
	fmt.Println(pools.Available(plans.DomesticPool("MCOPSTN2", "PR")))
	// Output:
	// dial_out: 60 minutes
	// domestic/MCOPSTN2/US: 6000 minutes
	// international/MCOPSTN2/US: 1200 minutes
	// 0
}
