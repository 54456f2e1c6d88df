package notify_test

import (
	"fmt"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
)

func Example() {
	usd := money.MustCurrency("USD")
	e := notify.Event{
		ID:       notify.Key(notify.RechargeFailed, "t-1", "recharge-t-1-42"),
		Type:     notify.RechargeFailed,
		TenantID: "t-1", TenantName: "Acme",
		At:       time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC),
		Currency: usd, Amount: money.Units(50, usd), Balance: 312,
		Reason: "card expired",
	}
	msg, err := notify.Render(e)
	if err != nil {
		panic(err)
	}
	fmt.Println(msg.Subject)
	fmt.Println(msg.EventID)

	body := []byte(`{"id":"` + e.ID + `"}`)
	sent := time.Unix(1_700_000_000, 0)
	header := notify.SignatureValue("whsec_example", sent, body)
	fmt.Println(notify.Verify("whsec_example", header, body, sent.Add(time.Minute), 0))
	// Output:
	// Communications Credits: automatic recharge of 50.00 USD failed (card expired)
	// recharge_failed/t-1/recharge-t-1-42
	// <nil>
}
