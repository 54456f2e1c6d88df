package payer_test

import (
	"fmt"

	"github.com/commcredits/commcredits/internal/numbers"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
)

func ExampleDecide() {
	cat := plans.Default()
	ana := plans.Principal{ID: "ana", Licences: []string{"MCOEV", "MCOPSTN1", "MCOPSTNPP"}, UsageLocation: "US"}
	row := &rating.Row{Prefix: "52", Destination: "Mexico", Rate: 20_000, Initial: 60, Subsequent: 1}
	mx, _ := numbers.Parse("+52 55 1234 5678", "US")
	us, _ := numbers.Parse("(202) 555-0123", "US")
	sos, _ := numbers.Parse("911", "US")
	for _, to := range []numbers.Number{us, mx, sos} {
		d := payer.Decide(cat, &payer.Input{Call: payer.UserOut, Principal: ana, Remote: to, Row: row})
		fmt.Printf("%s %s pool=%q credits=%v %s\n", to.E164, d.Outcome, d.Pool, d.Credits, d.Capability)
	}
	// Output:
	// 12025550123 pool pool="domestic/MCOPSTN1/US" credits=true MCOPSTN1
	// 525512345678 credits pool="" credits=true MCOPSTNPP
	// 911 free pool="" credits=false MCOPSTN1
}
