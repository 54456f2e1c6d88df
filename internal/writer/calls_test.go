package writer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

const cardHeader = "prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n"

func callEnv(t testing.TB) *tenant.Env {
	t.Helper()
	g := rating.NewRegistry()
	csv := cardHeader + "1,United States,fixed_or_mobile,0.01,0,60,60,2026-01-01,false\n" +
		"971,United Arab Emirates,mobile,0.30,0.10,30,6,2026-01-01,false\n"
	if _, err := g.Import(rating.Outbound, usd, []byte(csv), t0.AddDate(0, -1, 0)); err != nil {
		t.Fatal(err)
	}
	return &tenant.Env{Catalog: plans.Default(), Cards: g, CallTTL: time.Hour}
}

// callTenant sets up tenant-000 with a PAYG user and a Domestic Calling Plan user.
func callTenant(t *testing.T, s store.Store, w *writer.Writer, funds money.Amount) {
	t.Helper()
	tenants(t, s, 1)
	callUsers(t, w, "tenant-000", funds)
}

// callUsers gives tenant id the users of callTenant and funds.
func callUsers(t *testing.T, w *writer.Writer, id string, funds money.Amount) {
	t.Helper()
	for i, u := range []directory.User{
		{ID: "alice", DisplayName: "Alice", Kind: directory.KindUser, UsageLocation: "GB", Licences: []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}},
		{ID: "bob", DisplayName: "Bob", Kind: directory.KindUser, UsageLocation: "US", Licences: []string{"MCOEV", "MCOPSTN1", "MCOPSTNPP"}},
	} {
		if _, err := w.Submit(ctx, id, fmt.Sprint("user-", i), directory.PutUser{User: u}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Submit(ctx, id, "fund", ledger.Fund{Amount: funds, Source: "purchase"}); err != nil {
		t.Fatal(err)
	}
}

func uae(id string) tenant.Authorize {
	return tenant.Authorize{CallID: id, Type: payer.UserOut, Principal: "alice", Caller: "+442071838750", Callee: "+971501234567"}
}

// Two hundred calls of one tenant at once against a small balance: what they are granted
// never exceeds what the balance buys, and settling every call at its full grant never takes
// the balance below zero.
func TestSimultaneousCallsNeverOverspend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		w := writer.New(s, newClock(0), writer.Config{Env: callEnv(t)})
		defer w.Close()
		callTenant(t, s, w, 500)
		var mu sync.Mutex
		granted := map[string]int64{}
		var held money.Amount
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := w.Submit(ctx, "tenant-000", "", uae(fmt.Sprint("c", i)))
				if err != nil {
					t.Error(err)
					return
				}
				if a := r.Authorization; a.Allowed {
					mu.Lock()
					granted[a.CallID], held = a.GrantedSeconds, held+a.Reserve
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if held > 500 || len(granted) == 0 || len(granted) == 200 {
			t.Fatalf("%d calls granted holding %d of 500", len(granted), held)
		}
		for id, secs := range granted {
			if _, err := w.Submit(ctx, "tenant-000", "", tenant.Settle{CallID: id, Seconds: secs}); err != nil {
				t.Fatal(err)
			}
		}
		a, err := s.Account(ctx, "tenant-000")
		if err != nil {
			t.Fatal(err)
		}
		if err := ledger.Check(a); err != nil || a.Balance < 0 || a.Reserved != 0 {
			t.Fatalf("after settling every grant: balance %d reserved %d, %v", a.Balance, a.Reserved, err)
		}
	})
}

// Calls in progress, pool use and spend survive a restart; a CDR is booked once.
func TestCallsThroughRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		env := callEnv(t)
		clock := newClock(0)
		w := writer.New(s, clock, writer.Config{Env: env})
		callTenant(t, s, w, 5000)
		r, err := w.Submit(ctx, "tenant-000", "", uae("open"))
		if err != nil || !r.Authorization.Allowed {
			t.Fatalf("authorize: %+v %v", r.Authorization, err)
		}
		r, err = w.Submit(ctx, "tenant-000", "", tenant.Authorize{CallID: "pool", Type: payer.UserOut, Principal: "bob",
			Caller: "+12025550100", Callee: "+12125550199"})
		if err != nil || r.Authorization.Outcome != payer.Pool {
			t.Fatalf("pool call: %+v %v", r.Authorization, err)
		}
		if _, err := w.Submit(ctx, "tenant-000", "", tenant.Settle{CallID: "pool", Seconds: 125}); err != nil {
			t.Fatal(err)
		}
		w.Close()

		s2 := storetest.Open(t, dsn)
		w2 := writer.New(s2, clock, writer.Config{Env: env})
		defer w2.Close()
		r, err = w2.Submit(ctx, "tenant-000", "", tenant.Settle{CallID: "open", Seconds: 95})
		if err != nil || r.Settlement.Charge != 58 {
			t.Fatalf("settle after restart: %+v %v", r.Settlement, err)
		}
		// Same CDR twice: one charge. A CDR of a call already settled: refused.
		cdr := charging.CDR{Tenant: "tenant-000", CallID: "x1", CallType: payer.UserOut, Principal: "alice",
			Caller: "+442071838750", Callee: "+971501234567", Start: t0, Duration: 60}
		first, err := w2.Submit(ctx, "tenant-000", "any", tenant.PostCDR{CDR: cdr})
		if err != nil || first.Priced == nil || first.Priced.Settlement.Charge != 40 {
			t.Fatalf("cdr: %+v %v", first, err)
		}
		again, err := w2.Submit(ctx, "tenant-000", "other-key", tenant.PostCDR{CDR: cdr})
		if err != nil || !again.Replayed || again.Balance != first.Balance {
			t.Fatalf("duplicate cdr: %+v %v", again, err)
		}
		cdr.CallID = "open"
		if _, err := w2.Submit(ctx, "tenant-000", "", tenant.PostCDR{CDR: cdr}); !errors.Is(err, writer.ErrIdempotencyMismatch) {
			t.Fatalf("cdr of a settled call: %v", err)
		}
		a, err := s2.Account(ctx, "tenant-000")
		if err != nil || a.Balance != 5000-58-40 || a.Reserved != 0 {
			t.Fatalf("account %+v %v", a, err)
		}
		st, _, err := loadState(s2)
		if err != nil {
			t.Fatal(err)
		}
		ref := tenant.PoolRef{Month: plans.MonthOf(clock.Now()), Key: plans.DomesticPool("MCOPSTN1", "US")}
		if u := st.Usage[ref]; u == nil || u.Used != 125 || u.Held != 0 || len(st.Calls) != 0 {
			t.Fatalf("pool use %+v calls %v", u, st.Calls)
		}
		if st.Spend[tenant.SpendRef{Month: plans.MonthOf(t0), User: "alice"}] != 98 {
			t.Fatalf("spend %v", st.Spend)
		}
	})
}

func loadState(s *store.SQL) (st *tenant.State, version int64, err error) {
	err = s.WriteTx(ctx, func(tx store.Tx) (err error) {
		st, version, err = tx.LoadState(ctx, "tenant-000", t0)
		return
	})
	return
}

// BenchmarkAuthorize measures authorize + reserve through the writer, durable, with many
// calls in flight (a switch fleet): b.N calls of 100 tenants' PAYG users to the UAE.
func BenchmarkAuthorize(b *testing.B) {
	for _, e := range storetest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			s := storetest.Open(b, e.DSN(b))
			ids := tenants(b, s, 100)
			w := writer.New(s, writer.SystemClock{}, writer.Config{Env: callEnv(b)})
			defer w.Close()
			for _, id := range ids {
				if _, err := w.Submit(ctx, id, "u", directory.PutUser{User: directory.User{ID: "alice", DisplayName: "A",
					Kind: directory.KindUser, UsageLocation: "GB", Licences: []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}}}); err != nil {
					b.Fatal(err)
				}
				if _, err := w.Submit(ctx, id, "f", ledger.Fund{Amount: 1 << 40, Source: "purchase"}); err != nil {
					b.Fatal(err)
				}
			}
			var seq sync.Mutex
			n := 0
			b.SetParallelism(512)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					seq.Lock()
					n++
					i := n
					seq.Unlock()
					r, err := w.Submit(ctx, ids[i%len(ids)], "", uae(fmt.Sprint("c", i)))
					if err != nil || !r.Authorization.Allowed {
						b.Errorf("%v %+v", err, r.Authorization)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
			b.ReportMetric(batchMean(w), "cmds/batch")
		})
	}
}

// BenchmarkRawOpenCallRows is BenchmarkAuthorize's storage ceiling: the open-call row each
// admitted call stores (the body a real admission wrote), and nothing else — no decision,
// no account, no writer — into the engine's schema, for 100 tenants, 330 rows per durable
// transaction (the batch BenchmarkAuthorize's writer makes) in statements of up to 256 rows.
func BenchmarkRawOpenCallRows(b *testing.B) {
	s := storetest.Open(b, storetest.Engines()[0].DSN(b))
	ids := tenants(b, s, 100)
	w := writer.New(s, writer.SystemClock{}, writer.Config{Env: callEnv(b)})
	for i, c := range []tenant.Command{
		directory.PutUser{User: directory.User{ID: "alice", DisplayName: "A", Kind: directory.KindUser, UsageLocation: "GB",
			Licences: []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}}},
		ledger.Fund{Amount: 1 << 40, Source: "purchase"}, uae("model"),
	} {
		if _, err := w.Submit(ctx, ids[0], []string{"u", "f", ""}[i], c); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	var body string
	var exp, amount, created, resExp int64
	if err := s.DB().Read().QueryRow(`SELECT body, expires_at, res_amount, res_created_at, res_expires_at FROM open_calls`).
		Scan(&body, &exp, &amount, &created, &resExp); err != nil {
		b.Fatal(err)
	}
	db := s.DB().Write()
	stmt := func(n int) string {
		return `INSERT INTO open_calls (tenant_id, call_key, body, expires_at, res_amount, res_created_at, res_expires_at) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?),", n), ",")
	}
	const perTx = 330
	args := make([]any, 0, 7*256)
	b.ResetTimer()
	for i := 0; i < b.N; i += perTx {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		for j := i; j < i+perTx; {
			n := min(256, i+perTx-j)
			args = args[:0]
			for k := j; k < j+n; k++ {
				args = append(args, ids[k%len(ids)], fmt.Sprint("c", k, "/"), body, exp, amount, created, resExp)
			}
			if _, err := tx.Exec(stmt(n), args...); err != nil {
				b.Fatal(err)
			}
			j += n
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(len(body)), "body-bytes")
}

// An open call keeps its ledger reservation in its own row: the account read back (after a
// restart) has it, an extension and a raw ledger reservation next to it are kept apart, the
// tenant is due when the hold's TTL passes, and settling removes it.
func TestCallHoldsItsReservation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		env := callEnv(t)
		w := writer.New(s, newClock(0), writer.Config{Env: env})
		callTenant(t, s, w, 5000)
		auth := uae("held")
		auth.InitialSeconds = 60
		r, err := w.Submit(ctx, "tenant-000", "", auth)
		if err != nil || !r.Authorization.Allowed || r.Authorization.Reserve <= 0 {
			t.Fatalf("authorize: %+v %v", r.Authorization, err)
		}
		reserve := r.Authorization.Reserve
		ext, err := w.Submit(ctx, "tenant-000", "ext-1", tenant.Extend{CallID: "held", Seconds: 60})
		if err != nil || !ext.Extension.Allowed || ext.Extension.AddReserve <= 0 {
			t.Fatalf("extend: %+v %v", ext.Extension, err)
		}
		reserve += ext.Extension.AddReserve
		if _, err := w.Submit(ctx, "tenant-000", "raw", ledger.Reserve{ID: "raw-hold", Amount: 7, TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
		w.Close()

		s2 := storetest.Open(t, dsn)
		a, err := s2.Account(ctx, "tenant-000")
		if err != nil {
			t.Fatal(err)
		}
		held, raw := a.Reservations["held/"], a.Reservations["raw-hold"]
		if len(a.Reservations) != 2 || held == nil || held.Amount != reserve || raw == nil || raw.Amount != 7 || a.Reserved != reserve+7 {
			t.Fatalf("reservations after restart: %+v reserved %d, want held/ %d and raw-hold 7", a.Reservations, a.Reserved, reserve)
		}
		if due, err := s2.DueTenants(ctx, held.ExpiresAt.Add(-time.Second)); err != nil || len(due) != 0 {
			t.Fatalf("due before the TTL: %v %v", due, err)
		}
		if due, err := s2.DueTenants(ctx, held.ExpiresAt); err != nil || len(due) != 1 {
			t.Fatalf("due at the TTL: %v %v", due, err)
		}
		w2 := writer.New(s2, newClock(0), writer.Config{Env: env})
		defer w2.Close()
		if _, err := w2.Submit(ctx, "tenant-000", "", tenant.Settle{CallID: "held", Seconds: 30}); err != nil {
			t.Fatal(err)
		}
		a, err = s2.Account(ctx, "tenant-000")
		if err != nil || len(a.Reservations) != 1 || a.Reservations["raw-hold"] == nil || a.Reserved != 7 {
			t.Fatalf("after settle: %+v %v", a, err)
		}
		if err := ledger.Check(a); err != nil {
			t.Fatal(err)
		}
	})
}

// SubmitBatch answers each item as Submit would: a CDR twice in one batch is booked once and
// replayed once, an unknown tenant and a missing key fail alone.
func TestSubmitBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		w := writer.New(s, newClock(0), writer.Config{Env: callEnv(t)})
		defer w.Close()
		callTenant(t, s, w, 5000)
		cdr := charging.CDR{Tenant: "tenant-000", CallID: "b1", CallType: payer.UserOut, Principal: "alice",
			Caller: "+442071838750", Callee: "+971501234567", Start: t0, Duration: 60}
		other := cdr
		other.CallID = "b2"
		out := w.SubmitBatch(ctx, []writer.Item{
			{Tenant: "tenant-000", Cmd: tenant.PostCDR{CDR: cdr}},
			{Tenant: "tenant-000", Cmd: tenant.PostCDR{CDR: cdr}},
			{Tenant: "nobody", Cmd: tenant.PostCDR{CDR: other}},
			{Tenant: "tenant-000", Cmd: ledger.Fund{Amount: 1, Source: "purchase"}},
			{Tenant: "tenant-000", Cmd: tenant.PostCDR{CDR: other}},
		})
		if len(out) != 5 {
			t.Fatalf("%d outcomes", len(out))
		}
		if o := out[0]; o.Err != nil || o.Result.Replayed || o.Result.Priced == nil || o.Result.Priced.Settlement.Charge != 40 {
			t.Fatalf("first: %+v %v", o.Result, o.Err)
		}
		if o := out[1]; o.Err != nil || !o.Result.Replayed || o.Result.Priced == nil || o.Result.Priced.Settlement.Charge != 40 {
			t.Fatalf("duplicate: %+v %v", o.Result, o.Err)
		}
		if !errors.Is(out[2].Err, store.ErrNotFound) {
			t.Fatalf("unknown tenant: %v", out[2].Err)
		}
		if !errors.Is(out[3].Err, writer.ErrMissingKey) {
			t.Fatalf("missing key: %v", out[3].Err)
		}
		if o := out[4]; o.Err != nil || o.Result.Replayed || o.Result.Balance != 5000-80 {
			t.Fatalf("second cdr: %+v %v", o.Result, o.Err)
		}
		a, err := s.Account(ctx, "tenant-000")
		if err != nil || a.Balance != 5000-80 {
			t.Fatalf("account %+v %v", a, err)
		}
		// A batch whose context has ended answers every item with that error or, when an
		// item got through, its replay; never an empty success. Either branch is taken at
		// random, so the batch is sent many times.
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		for range 40 {
			for _, o := range w.SubmitBatch(cancelled, []writer.Item{{Tenant: "tenant-000", Cmd: tenant.PostCDR{CDR: cdr}}}) {
				if !errors.Is(o.Err, context.Canceled) && (o.Err != nil || !o.Result.Replayed) {
					t.Fatalf("cancelled batch: %+v %v", o.Result, o.Err)
				}
			}
		}
	})
}
