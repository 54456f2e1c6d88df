package payment_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payment"
)

// A recharge attempt whose response was lost is retried with the same idempotency key;
// the provider replays the first result instead of charging again.
func Example() {
	usd := money.MustCurrency("USD")
	p := payment.NewFake(payment.Timeout)
	req := payment.ChargeRequest{
		TenantID: "t-1", CustomerID: "cus_1", PaymentMethodID: "pm_1",
		Amount: money.Units(50, usd), Currency: usd, IdempotencyKey: "recharge/t-1/42",
	}
	for {
		res, err := p.Charge(context.Background(), req)
		switch payment.KindOf(err) {
		case payment.KindUnknownOutcome:
			fmt.Println("unknown outcome, retrying with the same key")
			continue
		case payment.KindHardDecline, payment.KindSoftDecline, payment.KindRejected:
			fmt.Println("failed:", err)
		default:
			fmt.Println(res.Status, res.Amount.Format(res.Currency), res.Currency)
		}
		break
	}
	fmt.Println("charges:", len(p.Charges()))

	_, err := payment.NewFake(payment.Decline("expired_card")).Charge(context.Background(), req)
	var pe *payment.Error
	errors.As(err, &pe)
	fmt.Println(pe.Kind, pe.Reason)
	// Output:
	// unknown outcome, retrying with the same key
	// succeeded 50.00 USD
	// charges: 1
	// hard_decline card expired
}
