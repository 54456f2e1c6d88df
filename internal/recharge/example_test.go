package recharge_test

import (
	"fmt"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payment"
	"github.com/commcredits/commcredits/internal/recharge"
)

// The writer reports balances, the job runner reports charge outcomes, and the machine
// answers with actions and notifications.
func Example() {
	usd := money.MustCurrency("USD")
	cfg := &recharge.Config{Currency: usd}
	s := recharge.New("t-1")
	at := time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)
	show := func(out recharge.Output, err error) {
		if err != nil {
			fmt.Println("error:", err)
		}
		for _, a := range out.Actions {
			fmt.Printf("  action %T %+v\n", a, a)
		}
		for _, e := range out.Events {
			fmt.Println("  notify", e.ID)
		}
	}

	fmt.Println("opening balance 12.00")
	show(s.Apply(recharge.BalanceChanged{Balance: 1200, Available: 1200, Seq: 1, At: at}, cfg))
	fmt.Println("enable: below 10.00 recharge 50.00")
	show(s.Apply(recharge.SettingsUpdated{IfVersion: 0, At: at, Settings: recharge.Settings{
		Enabled: true, Trigger: money.Units(10, usd), Amount: money.Units(50, usd), PaymentMethod: "pm_visa"}}, cfg))
	fmt.Println("a call settles: available 9.99")
	show(s.Apply(recharge.BalanceChanged{Balance: 999, Available: 999, Seq: 2, At: at}, cfg))
	fmt.Println("another debit while the charge runs")
	show(s.Apply(recharge.BalanceChanged{Balance: 990, Available: 990, Seq: 3, At: at}, cfg))
	fmt.Println("the provider timed out")
	show(s.Apply(recharge.AttemptFailed{Key: "recharge:t-1:1:1", Kind: payment.KindUnknownOutcome, Code: "network_error", At: at}, cfg))
	fmt.Println("the retry is due")
	show(s.Apply(recharge.RetryDue{Key: "recharge:t-1:1:1", At: at.Add(30 * time.Second)}, cfg))
	fmt.Println("the provider replays the success")
	show(s.Apply(recharge.AttemptSucceeded{Key: "recharge:t-1:1:1", PaymentID: "pi_1", At: at.Add(31 * time.Second)}, cfg))
	// Output:
	// opening balance 12.00
	// enable: below 10.00 recharge 50.00
	// a call settles: available 9.99
	//   action recharge.StartAttempt {AttemptID:recharge:t-1:1 Key:recharge:t-1:1:1 Purpose:recharge Amount:5000 PaymentMethod:pm_visa Customer: Round:0}
	// another debit while the charge runs
	// the provider timed out
	//   action recharge.ScheduleRetry {AttemptID:recharge:t-1:1 Key:recharge:t-1:1:1 At:2025-03-02 10:00:30 +0000 UTC Unknown:true}
	// the retry is due
	//   action recharge.StartAttempt {AttemptID:recharge:t-1:1 Key:recharge:t-1:1:1 Purpose:recharge Amount:5000 PaymentMethod:pm_visa Customer: Round:1}
	// the provider replays the success
	//   action recharge.Credit {AttemptID:recharge:t-1:1 Source:recharge Amount:5000 Ref:pi_1 PaymentMethod:pm_visa Invoiced:false Agreement: PurchaseOrder:}
	//   notify recharge_succeeded/t-1/recharge:t-1:1
}
