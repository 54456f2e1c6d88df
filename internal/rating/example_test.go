package rating_test

import (
	"fmt"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/rating"
)

func Example() {
	usd := money.MustCurrency("USD")
	cards := rating.NewRegistry()
	csv := "prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n" +
		"44,United Kingdom,fixed,0.02,0.10,60,1,2026-01-01,false\n" +
		"447,United Kingdom - Mobile,mobile,0.15,0.10,30,6,2026-01-01,false\n"
	card, err := cards.Import(rating.Outbound, usd, []byte(csv), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	row, _ := card.Lookup("447911123456", start)
	fmt.Println(card.ID(), row.Destination, "line", row.Line)

	// A 95-second call on 30/6 increments bills 96 seconds: 0.10 + 0.15·96/60 = 0.34.
	fmt.Println(rating.Charge(row, 95, true, usd).Format(usd))

	// 80 seconds left in a pool: the other 15 are a credits call without the fee (30 s billed).
	s := rating.SplitCall(row, 80, 95, usd)
	fmt.Println(s.PoolSeconds, s.CreditSeconds, s.CreditCharge.Format(usd))

	// What 1.00 buys on credits, fee included: 0.10 + 0.15·360/60 = 1.00.
	fmt.Println(rating.MaxSeconds(row, money.Units(1, usd), true, usd, 4*3600))
	// Output:
	// outbound/USD/v1 United Kingdom - Mobile line 3
	// 0.34
	// 80 15 0.08
	// 360
}
