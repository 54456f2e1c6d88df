package writer_test

import (
	"testing"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// Auto-recharge settings, the attempt in flight and the outbox survive a restart, and an
// outbox item is written once however often it is decided.
func TestFundingStateThroughRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		clock := newClock(0)
		w := writer.New(s, clock, writer.Config{Env: callEnv(t)})
		callTenant(t, s, w, 1050)
		for i, cmd := range []tenant.Command{
			tenant.SetPaymentMethod{Method: "pm_card_visa", ExpMonth: 12, ExpYear: 2030},
			tenant.SetAutoRecharge{Settings: recharge.Settings{Enabled: true, Trigger: 1000, Amount: 5000, PaymentMethod: "pm_card_visa"}, IfVersion: 1},
			ledger.Charge{Amount: 100},
		} {
			if _, err := w.Submit(ctx, "tenant-000", "k"+string(rune('a'+i)), cmd); err != nil {
				t.Fatalf("%s: %v", cmd.Name(), err)
			}
		}
		w.Close()
		s2 := storetest.Open(t, dsn)
		st, _, err := loadState(s2)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Recharge.Settings.Enabled || st.Recharge.InFlight == nil || st.Recharge.Balance != 950 {
			t.Fatalf("recharge state after restart: %+v", st.Recharge)
		}
		// Still in flight after the restart: more debits ask for no second attempt.
		w2 := writer.New(s2, clock, writer.Config{Env: callEnv(t)})
		defer w2.Close()
		if _, err := w2.Submit(ctx, "tenant-000", "kd", ledger.Charge{Amount: 100}); err != nil {
			t.Fatal(err)
		}
		pending, err := s2.PendingOutbox(ctx, "tenant-000")
		attempts := 0
		for _, o := range pending {
			if o.Kind == "start_attempt" {
				attempts++
			}
		}
		if err != nil || attempts != 1 {
			t.Fatalf("payment attempts in the outbox: %d of %+v, %v", attempts, pending, err)
		}
	})
}
