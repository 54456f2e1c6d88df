package writer_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

func rechargeLots(t *testing.T, s *store.SQL) int {
	t.Helper()
	lots, err := s.Lots(ctx, "tenant-000")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range lots {
		if l.Source == "recharge" {
			n++
		}
	}
	return n
}

// 1,000 debits of one cent submitted at once cross the trigger together: whatever batches
// the writer forms, exactly one recharge happens (an agreement credits at once) or one
// payment attempt is asked for (a card).
func TestThousandConcurrentDebitsOneRecharge(t *testing.T) {
	for _, method := range []string{"ea:AG-1", "pm_card_visa"} {
		t.Run(method, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
				w := writer.New(s, newClock(0), writer.Config{Env: callEnv(t)})
				defer w.Close()
				callTenant(t, s, w, 1050)
				for i, cmd := range []tenant.Command{
					tenant.SetPaymentMethod{Method: method, ExpMonth: 12, ExpYear: 2099},
					tenant.SetAutoRecharge{Settings: recharge.Settings{Enabled: true, Trigger: 1000, Amount: 5000, PaymentMethod: method}, IfVersion: 1},
				} {
					if _, err := w.Submit(ctx, "tenant-000", fmt.Sprint("setup-", i), cmd); err != nil {
						t.Fatal(err)
					}
				}
				var wg sync.WaitGroup
				errs := make(chan error, 1000)
				for i := range 1000 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := w.Submit(ctx, "tenant-000", fmt.Sprint("debit-", i), ledger.Charge{Amount: 1, Ref: fmt.Sprint("d", i)}); err != nil {
							errs <- err
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				a, err := s.Account(ctx, "tenant-000")
				if err != nil {
					t.Fatal(err)
				}
				pending, err := s.PendingOutbox(ctx, "tenant-000")
				if err != nil {
					t.Fatal(err)
				}
				attempts := 0
				for _, o := range pending {
					if o.Kind == "start_attempt" {
						attempts++
					}
				}
				if method == "ea:AG-1" {
					if n := rechargeLots(t, s); n != 1 || a.Totals.Funded != 1050+5000 || a.Balance != 1050+5000-1000 {
						t.Fatalf("%d recharges, funded %d, balance %d", n, a.Totals.Funded, a.Balance)
					}
				} else if attempts != 1 || a.Totals.Funded != 1050 || a.Balance != 50 {
					t.Fatalf("%d payment attempts, funded %d, balance %d", attempts, a.Totals.Funded, a.Balance)
				}
			})
		})
	}
}

// One long call crossing the trigger again and again as it is extended: each time what is
// available falls below the trigger one recharge follows, so the number of recharges is the
// least that keeps the call's peak hold covered above the trigger, no more.
func TestLongCallRechargesAsExpected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		w := writer.New(s, newClock(0), writer.Config{Env: callEnv(t)})
		defer w.Close()
		const initial, trigger, amount = money.Amount(2000), money.Amount(1000), money.Amount(5000)
		callTenant(t, s, w, initial)
		for i, cmd := range []tenant.Command{
			tenant.SetPaymentMethod{Method: "ea:AG-1:PO-9"},
			tenant.SetAutoRecharge{Settings: recharge.Settings{Enabled: true, Trigger: trigger, Amount: amount, PaymentMethod: "ea:AG-1:PO-9"}, IfVersion: 1},
		} {
			if _, err := w.Submit(ctx, "tenant-000", fmt.Sprint("setup-", i), cmd); err != nil {
				t.Fatal(err)
			}
		}
		r, err := w.Submit(ctx, "tenant-000", "", uae("long"))
		if err != nil || !r.Authorization.Allowed {
			t.Fatalf("authorize: %+v %v", r.Authorization, err)
		}
		var peak money.Amount
		for i := range 300 { // five hours at 0.30 a minute
			if _, err := w.Submit(ctx, "tenant-000", fmt.Sprint("ext-", i), tenant.Extend{CallID: "long", Seconds: 60}); err != nil {
				t.Fatalf("extend %d: %v", i, err)
			}
			a, err := s.Account(ctx, "tenant-000")
			if err != nil {
				t.Fatal(err)
			}
			peak = max(peak, a.Reserved)
			if a.Available() < trigger {
				t.Fatalf("after extension %d: available %d below the trigger with an agreement that credits at once", i, a.Available())
			}
		}
		if _, err := w.Submit(ctx, "tenant-000", "end", tenant.Settle{CallID: "long", Seconds: 300 * 60}); err != nil {
			t.Fatal(err)
		}
		want := int((peak + trigger - initial + amount - 1) / amount) // ceil
		if got := rechargeLots(t, s); got != want || want < 2 {
			t.Fatalf("%d recharges for a peak hold of %d; want %d (at least 2)", got, peak, want)
		}
	})
}
