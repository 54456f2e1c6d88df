package money_test

import (
	"fmt"

	"github.com/commcredits/commcredits/internal/money"
)

func ExampleCallCharge() {
	usd := money.MustCurrency("USD")
	rate, _ := money.ParseRate("0.0125") // per minute
	fee, _ := money.ParseRate("0.10")    // connection fee
	// A 95-second call on 60/6 increments bills 60 + 6·⌈35/6⌉ = 96 seconds.
	fmt.Println(money.CallCharge(rate, fee, 96, usd).Format(usd))
	// Output: 0.12
}

func ExampleParseAmount() {
	jpy := money.MustCurrency("JPY")
	_, err := money.ParseAmount("100.5", jpy)
	fmt.Println(err)
	// Output: too many decimal places: "100.5" has more than 0
}
