package writer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// Two writers on one database fund the same tenant in turn: every batch after the first
// finds its cached state stale, fails the version check and runs again. The receipts are
// still numbered 1..n once each, one per lot.
func TestReceiptNumbersThroughConflicts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		if err := s.CreateTenant(ctx, store.Tenant{ID: "t1", Name: "Acme", Currency: money.MustCurrency("USD"), CreatedAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		other := storetest.Open(t, dsn)
		env := &tenant.Env{Catalog: plans.Default()}
		w1 := writer.New(s, newClock(time.Millisecond), writer.Config{Env: env})
		w2 := writer.New(other, newClock(time.Millisecond), writer.Config{Env: env})
		defer w1.Close()
		defer w2.Close()
		const n = 12
		for i := range n {
			w := []*writer.Writer{w1, w2}[i%2]
			if _, err := w.Submit(ctx, "t1", fmt.Sprint("ea-", i), tenant.AddFunds{Amount: money.Amount(10_000 + i), Method: "ea:AG-1"}); err != nil {
				t.Fatal(err)
			}
		}
		if retriesOf(w1)+retriesOf(w2) < n-2 {
			t.Fatal("the two writers never collided: the test did not exercise the version check")
		}
		rs, err := s.Receipts(ctx, "t1", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		lots, err := s.Lots(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != n || len(lots) != n {
			t.Fatalf("%d receipts, %d lots; want %d: %+v", len(rs), len(lots), n, rs)
		}
		for i, r := range rs {
			if r.Number != tenant.ReceiptNumber("t1", int64(i+1)) || r.Amount != money.Amount(10_000+i) || r.LotID != lots[i].ID {
				t.Errorf("receipt %d: %+v", i, r)
			}
		}
	})
}
