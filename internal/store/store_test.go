package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/pgtest"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	ctx = context.Background()
	usd = money.MustCurrency("USD")
	t0  = time.Date(2026, 1, 31, 12, 0, 0, 123456789, time.UTC)
)

func TestTenants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, s *store.SQL) {
		if err := s.CreateTenant(ctx, store.Tenant{ID: "acme", Name: "Acme", Currency: usd, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		err := s.CreateTenant(ctx, store.Tenant{ID: "acme", Name: "Other", Currency: usd, CreatedAt: t0})
		if !errors.Is(err, store.ErrExists) {
			t.Fatalf("duplicate tenant: %v", err)
		}
		got, err := s.Tenant(ctx, "acme")
		if err != nil || got.Name != "Acme" || got.Currency != usd || !got.CreatedAt.Equal(t0) {
			t.Fatalf("tenant %+v %v", got, err)
		}
		if _, err := s.Tenant(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown tenant: %v", err)
		}
		if _, err := s.Account(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown account: %v", err)
		}
		a, err := s.Account(ctx, "acme")
		if err != nil || a.Balance != 0 || a.NextSeq != 1 || len(a.Lots) != 0 || a.Currency != usd {
			t.Fatalf("new account %+v %v", a, err)
		}
	})
}

// applyAll runs commands on the account loaded in tx and returns the mutation to save.
func applyAll(t *testing.T, a *ledger.Account, version int64, at time.Time, cmds ...ledger.Command) *store.Mutation {
	t.Helper()
	m := &store.Mutation{Account: a, Version: version, At: at}
	lots := map[int64]int{}
	res := map[string]bool{}
	for i, c := range cmds {
		r, err := ledger.Apply(a, c, at, ledger.Config{})
		if err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		m.Entries = append(m.Entries, r.Entries...)
		for _, l := range r.Lots {
			if j, ok := lots[l.ID]; ok {
				m.Lots[j] = l
			} else {
				lots[l.ID] = len(m.Lots)
				m.Lots = append(m.Lots, l)
			}
		}
		if r.Reservation != nil {
			res[r.Reservation.ID] = true
		}
		for _, id := range r.Closed {
			res[id] = true
		}
		m.Commands = append(m.Commands, store.CommandRecord{Key: fmt.Sprintf("k%d-%d", version, i), Kind: c.Name(),
			Hash: []byte{byte(i)}, Result: []byte(`{}`), At: at})
	}
	for id := range res {
		if r, ok := a.Reservations[id]; ok {
			m.Reservations = append(m.Reservations, *r)
		} else {
			m.Closed = append(m.Closed, id)
		}
	}
	return m
}

func save(s *store.SQL, ms ...*store.Mutation) error {
	return s.WriteTx(ctx, func(tx store.Tx) error { return tx.Save(ctx, ms) })
}

func load(t *testing.T, s *store.SQL, tenant string) (*ledger.Account, int64) {
	t.Helper()
	var a *ledger.Account
	var v int64
	err := s.WriteTx(ctx, func(tx store.Tx) (err error) { a, v, err = tx.LoadAccount(ctx, tenant); return })
	if err != nil {
		t.Fatal(err)
	}
	return a, v
}

func TestSaveAndLoad(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, s *store.SQL) {
		mustTenant(t, s, "acme")
		a, v := load(t, s, "acme")
		m := applyAll(t, a, v, t0,
			ledger.Fund{Amount: 5000, Source: "purchase", Ref: "pi_1"},
			ledger.Fund{Amount: 2500, Source: "recharge"},
			ledger.Reserve{ID: "call-1", Amount: 300, TTL: time.Minute},
			ledger.Reserve{ID: "call-2", Amount: 200, TTL: time.Minute},
			ledger.Settle{ID: "call-2", Amount: 5100},
		)
		if err := save(s, m); err != nil {
			t.Fatal(err)
		}
		got, v2 := load(t, s, "acme")
		if v2 != v+1 {
			t.Fatalf("version %d after one save from %d", v2, v)
		}
		if err := ledger.Check(got); err != nil {
			t.Fatal(err)
		}
		want := *a
		if !reflect.DeepEqual(got.Lots, want.Lots) || !reflect.DeepEqual(got.Reservations, want.Reservations) ||
			got.Balance != want.Balance || got.Totals != want.Totals || got.NextSeq != want.NextSeq || got.NextLotID != want.NextLotID {
			t.Fatalf("loaded %+v\nwant %+v", got, want)
		}
		entries, err := s.Entries(ctx, "acme", 0, 100)
		if err != nil || !reflect.DeepEqual(entries, m.Entries) {
			t.Fatalf("entries %+v %v\nwant %+v", entries, err, m.Entries)
		}
		lots, err := s.Lots(ctx, "acme")
		if err != nil || len(lots) != 2 || lots[0].Remaining != 0 || lots[1].Remaining != 2400 {
			t.Fatalf("lots %+v %v", lots, err)
		}
		recs := lookup(t, s, store.Key{"acme", "k0-0"}, store.Key{"acme", "k0-4"}, store.Key{"acme", "missing"}, store.Key{"other", "k0-0"})
		if len(recs) != 2 || recs[store.Key{"acme", "k0-4"}].Kind != "settle" || !recs[store.Key{"acme", "k0-4"}].At.Equal(t0) {
			t.Fatalf("commands %+v", recs)
		}
		// Closing the last reservation deletes its row.
		m = applyAll(t, got, v2, t0.Add(time.Second), ledger.Release{ID: "call-1"})
		if err := save(s, m); err != nil {
			t.Fatal(err)
		}
		if got, _ = load(t, s, "acme"); len(got.Reservations) != 0 || got.Reserved != 0 {
			t.Fatalf("reservations %+v", got.Reservations)
		}
	})
}

func TestStaleVersionConflicts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, s *store.SQL) {
		mustTenant(t, s, "acme")
		mustTenant(t, s, "other")
		a, v := load(t, s, "acme")
		b, bv := load(t, s, "other")
		if err := save(s, applyAll(t, a, v, t0, ledger.Fund{Amount: 100})); err != nil {
			t.Fatal(err)
		}
		// A second writer that loaded the same version is refused, atomically across tenants.
		stale := applyAll(t, ledger.NewAccount("acme", usd), v, t0, ledger.Fund{Amount: 999})
		fresh := applyAll(t, b, bv, t0, ledger.Fund{Amount: 7})
		err := save(s, fresh, stale)
		if !errors.Is(err, store.ErrConflict) || !s.Retryable(err) {
			t.Fatalf("stale save: %v", err)
		}
		if got, _ := load(t, s, "other"); got.Balance != 0 {
			t.Fatalf("the batch was half applied: other balance %d", got.Balance)
		}
		if got, _ := load(t, s, "acme"); got.Balance != 100 {
			t.Fatalf("acme balance %d", got.Balance)
		}
	})
}

func TestDuplicateCommandKeyIsRetryable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, s *store.SQL) {
		mustTenant(t, s, "acme")
		a, v := load(t, s, "acme")
		if err := save(s, applyAll(t, a, v, t0, ledger.Fund{Amount: 100})); err != nil {
			t.Fatal(err)
		}
		a, v = load(t, s, "acme")
		m := applyAll(t, a, v, t0, ledger.Fund{Amount: 100})
		m.Commands[0].Key = "k0-0" // the key of the first batch
		err := save(s, m)
		if !errors.Is(err, store.ErrKeyExists) || !s.Retryable(err) {
			t.Fatalf("duplicate idempotency key: %v", err)
		}
		if got, _ := load(t, s, "acme"); got.Balance != 100 {
			t.Fatalf("balance %d after refused save", got.Balance)
		}
	})
}

// A usage row whose call is already booked makes the batch ErrKeyExists and writes
// nothing of it, on both engines (PostgreSQL writes usage rows with COPY, which fails on the
// key; SQLite's insert skips the row and the count tells): the writer then looks keys up.
func TestDuplicateUsageKeyIsKeyExists(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, s *store.SQL) {
		mustTenant(t, s, "acme")
		book := func(callIDs ...string) error {
			var st *tenant.State
			var v int64
			if err := s.WriteTx(ctx, func(tx store.Tx) (err error) { st, v, err = tx.LoadState(ctx, "acme", t0); return }); err != nil {
				t.Fatal(err)
			}
			m := applyAll(t, st.Account, v, t0, ledger.Charge{Amount: money.Amount(10 * len(callIDs)), Ref: callIDs[0]})
			m.State = st
			for _, id := range callIDs {
				m.Usage = append(m.Usage, charging.UsageRow{Tenant: "acme", CallID: id, UserID: "u1", CallType: "user_out",
					Start: t0, End: t0.Add(time.Minute), DurationSeconds: 60, Charge: 10, Currency: "USD"})
			}
			return save(s, m)
		}
		if err := book("a", "b"); err != nil {
			t.Fatal(err)
		}
		err := book("c", "b", "d")
		if !errors.Is(err, store.ErrKeyExists) || !s.Retryable(err) {
			t.Fatalf("a second usage row of call b: %v", err)
		}
		rows, err := s.ReportUsage(ctx, "acme")
		if err != nil || len(rows) != 2 {
			t.Fatalf("%d usage rows after the refused batch (%v), want a and b", len(rows), err)
		}
		if a, _ := load(t, s, "acme"); a.Balance != -20 || a.NextSeq != 2 {
			t.Fatalf("balance %d, next entry %d after the refused batch", a.Balance, a.NextSeq)
		}
	})
}

func TestLargeBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, s *store.SQL) {
		var ms []*store.Mutation
		for i := range 450 { // more than two chunks of every statement
			id := fmt.Sprintf("t%03d", i)
			mustTenant(t, s, id)
			a, v := load(t, s, id)
			ms = append(ms, applyAll(t, a, v, t0, ledger.Fund{Amount: money.Amount(i + 1)},
				ledger.Reserve{ID: "r", Amount: 1, TTL: time.Hour}))
		}
		if err := save(s, ms...); err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 201, 449} {
			a, v := load(t, s, fmt.Sprintf("t%03d", i))
			if a.Balance != money.Amount(i+1) || v != 1 || len(a.Reservations) != 1 {
				t.Fatalf("tenant %d: balance %d version %d", i, a.Balance, v)
			}
		}
	})
}

func lookup(t *testing.T, s *store.SQL, keys ...store.Key) map[store.Key]store.CommandRecord {
	t.Helper()
	var recs map[store.Key]store.CommandRecord
	err := s.WriteTx(ctx, func(tx store.Tx) (err error) { recs, err = tx.LookupCommands(ctx, keys); return })
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func mustTenant(t *testing.T, s *store.SQL, id string) {
	t.Helper()
	if err := s.CreateTenant(ctx, store.Tenant{ID: id, Name: id, Currency: usd, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
}
