package numbers_test

import (
	"fmt"

	"github.com/commcredits/commcredits/internal/numbers"
)

func ExampleParse() {
	for _, dialed := range []string{"999", "020 7183 8750", "+1 800 555 0199", "12"} {
		n, err := numbers.Parse(dialed, "GB")
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(n.E164, n.Country, n.Type, n.Emergency)
	}
	// Output:
	// 999 GB emergency true
	// 442071838750 GB fixed false
	// 18005550199 US toll_free false
	// invalid phone number: "12" is not a valid number for its country
}
