package writer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// gated is a store whose next write transaction, once armed, waits for gate before it
// begins: the batch it writes stays in flight while the next one is taken and applied.
type gated struct {
	*store.SQL
	poison  bool // refuse the key "poison", as poisoned does
	armed   atomic.Bool
	started chan struct{}
	gate    chan struct{}
}

func newGated(s *store.SQL) *gated {
	return &gated{SQL: s, started: make(chan struct{}), gate: make(chan struct{})}
}

func (g *gated) WriteTx(ctx context.Context, fn func(store.Tx) error) error {
	if g.armed.CompareAndSwap(true, false) {
		close(g.started)
		<-g.gate
	}
	if g.poison {
		return g.SQL.WriteTx(ctx, func(tx store.Tx) error { return fn(poisonTx{tx}) })
	}
	return g.SQL.WriteTx(ctx, fn)
}

// countingClock counts its readings: the writer reads the clock for each command it takes
// while a batch is in flight (the time it is applied at), so the count tells the test that
// the commands it sent have been applied ahead.
type countingClock struct {
	*stepClock
	reads atomic.Int64
}

func (c *countingClock) Now() time.Time {
	c.reads.Add(1)
	return c.stepClock.Now()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

type outcome struct {
	r   writer.Result
	err error
}

func submitAsync(w *writer.Writer, tenantID, key string, cmd tenant.Command) chan outcome {
	c := make(chan outcome, 1)
	go func() {
		r, err := w.Submit(ctx, tenantID, key, cmd)
		c <- outcome{r, err}
	}()
	return c
}

func submitBatchAsync(w *writer.Writer, items []writer.Item) chan []writer.Outcome {
	c := make(chan []writer.Outcome, 1)
	go func() { c <- w.SubmitBatch(ctx, items) }()
	return c
}

// checkLedger verifies a tenant's committed account and that its entries are numbered
// 1..n without gaps; it returns the account.
func checkLedger(t *testing.T, s *store.SQL, id string, entries int) *ledger.Account {
	t.Helper()
	a, err := s.Account(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := ledger.Check(a); err != nil {
		t.Fatalf("committed account of %s: %v", id, err)
	}
	es, err := s.Entries(ctx, id, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != entries {
		t.Fatalf("%s has %d entries, want %d: %+v", id, len(es), entries, es)
	}
	for i, e := range es {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d of %s has seq %d", i, id, e.Seq)
		}
	}
	return a
}

// While batch N waits to commit, batch N+1 is applied on top of it; then another process
// moves the tenant on, so N fails its version check. N+1, computed on N's uncommitted
// effects, must not be written: both run again from the reloaded tenant, and every answer
// is the one the order N, N+1 gives after the other process's change. A key of N used again
// in N+1 is a replay of N's result.
func TestPipelineConflictUnderNextBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		g := newGated(s)
		clock := &countingClock{stepClock: newClock(0)}
		w := writer.New(g, clock, writer.Config{Env: callEnv(t)})
		defer w.Close()
		other := writer.New(storetest.Open(t, dsn), newClock(0), writer.Config{Env: callEnv(t)})
		defer other.Close()
		callTenant(t, s, w, 10_000)

		g.armed.Store(true)
		read := clock.reads.Load()
		first := submitAsync(w, "tenant-000", "k1", ledger.Charge{Amount: 100})
		<-g.started
		next := submitBatchAsync(w, []writer.Item{
			{Tenant: "tenant-000", Cmd: uae("c2")},
			{Tenant: "tenant-000", Key: "k1", Cmd: ledger.Charge{Amount: 100}},
			{Tenant: "tenant-000", Key: "k3", Cmd: ledger.Charge{Amount: 50}},
			{Tenant: "tenant-000", Key: "k1", Cmd: ledger.Charge{Amount: 7}},
		})
		waitFor(t, "the next batch is applied", func() bool { return clock.reads.Load() == read+1+4 })
		if _, err := other.Submit(ctx, "tenant-000", "o1", ledger.Fund{Amount: 1000, Source: "purchase"}); err != nil {
			t.Fatal(err)
		}
		retries := retriesOf(w)
		close(g.gate)

		r1 := <-first
		outs := <-next
		if r1.err != nil || r1.r.Balance != 10_000+1000-100 {
			t.Fatalf("k1, run again after the other process's fund: %+v %v", r1.r, r1.err)
		}
		if retriesOf(w) <= retries {
			t.Fatal("batch N never failed its version check: the test did not exercise the conflict")
		}
		auth := outs[0]
		if auth.Err != nil || !auth.Result.Authorization.Allowed || auth.Result.Authorization.Reserve <= 0 {
			t.Fatalf("c2: %+v %v", auth.Result.Authorization, auth.Err)
		}
		if o := outs[1]; o.Err != nil || !o.Result.Replayed || o.Result.Balance != r1.r.Balance {
			t.Fatalf("k1 again in the next batch: %+v %v, want the replay of %+v", o.Result, o.Err, r1.r)
		}
		if o := outs[2]; o.Err != nil || o.Result.Balance != r1.r.Balance-50 ||
			o.Result.Available != r1.r.Balance-50-auth.Result.Authorization.Reserve {
			t.Fatalf("k3: %+v %v", o.Result, o.Err)
		}
		if o := outs[3]; !errors.Is(o.Err, writer.ErrIdempotencyMismatch) {
			t.Fatalf("k1 with another amount: %+v %v", o.Result, o.Err)
		}
		a := checkLedger(t, s, "tenant-000", 4) // fund, o1, k1, k3
		if a.Balance != 10_000+1000-150 || a.Reserved != auth.Result.Authorization.Reserve {
			t.Fatalf("committed balance %d reserved %d", a.Balance, a.Reserved)
		}
		// The versions cached after it all are the database's: the next batch commits at once.
		retries = retriesOf(w)
		if r, err := w.Submit(ctx, "tenant-000", "k5", ledger.Charge{Amount: 1}); err != nil || r.Balance != a.Balance-1 {
			t.Fatalf("k5: %+v %v", r, err)
		}
		if retriesOf(w) != retries {
			t.Fatal("the batch after the conflict found its cached version stale")
		}
	})
}

// Batch N holds a command the database refuses, and batch N+1 was applied on top of its
// effect: N's other commands commit without it, and N+1 is computed again without it too.
func TestPipelineRefusedUnderNextBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		g := newGated(s)
		g.poison = true
		clock := &countingClock{stepClock: newClock(0)}
		w := writer.New(g, clock, writer.Config{Shards: 1})
		defer w.Close()
		tenants(t, s, 2)
		for _, id := range []string{"tenant-000", "tenant-001"} {
			if _, err := w.Submit(ctx, id, "f", ledger.Fund{Amount: 1000, Source: "purchase"}); err != nil {
				t.Fatal(err)
			}
		}
		g.armed.Store(true)
		read := clock.reads.Load()
		first := submitBatchAsync(w, []writer.Item{
			{Tenant: "tenant-000", Key: "poison", Cmd: ledger.Fund{Amount: 500, Source: "purchase"}},
			{Tenant: "tenant-001", Key: "g1", Cmd: ledger.Charge{Amount: 7}},
		})
		<-g.started
		waitFor(t, "batch N is in flight", func() bool { return w.Queued() == 0 })
		// Only the poisoned tenant: no other tenant's version check can catch the batch
		// computed on the refused command's effect.
		next := submitBatchAsync(w, []writer.Item{
			{Tenant: "tenant-000", Key: "k2", Cmd: ledger.Charge{Amount: 1}},
			{Tenant: "tenant-000", Key: "k3", Cmd: ledger.Charge{Amount: 2}},
		})
		waitFor(t, "the next batch is applied", func() bool { return clock.reads.Load() == read+4 })
		close(g.gate)
		outs, outs2 := <-first, <-next
		if !errors.Is(outs[0].Err, errPoison) {
			t.Fatalf("poison: %+v %v", outs[0].Result, outs[0].Err)
		}
		if o := outs[1]; o.Err != nil || o.Result.Balance != 993 {
			t.Fatalf("g1: %+v %v", o.Result, o.Err)
		}
		if o := outs2[0]; o.Err != nil || o.Result.Balance != 999 {
			t.Fatalf("k2, applied after the refused fund: %+v %v, want balance 999", o.Result, o.Err)
		}
		if o := outs2[1]; o.Err != nil || o.Result.Balance != 997 {
			t.Fatalf("k3: %+v %v", o.Result, o.Err)
		}
		if a := checkLedger(t, s, "tenant-000", 3); a.Balance != 997 {
			t.Fatalf("tenant-000 committed balance %d, want 997", a.Balance)
		}
		if a := checkLedger(t, s, "tenant-001", 2); a.Balance != 993 {
			t.Fatalf("tenant-001 committed balance %d, want 993", a.Balance)
		}
	})
}

// bombCards is a rate-card source with a bug: any lookup in EUR panics.
type bombCards struct{ charging.Cards }

func (b bombCards) Current(s rating.Service, currency string) (*rating.Card, bool) {
	if currency == "EUR" {
		panic("rate card lookup bug")
	}
	return b.Cards.Current(s, currency)
}

// A command that panics while it is applied ahead, as batch N commits: N still commits,
// the commands applied with the bad one are run again from reloaded states and commit, and
// only the bad one fails.
func TestPipelinePanicWhileApplyingAhead(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		g := newGated(s)
		clock := &countingClock{stepClock: newClock(0)}
		env := callEnv(t)
		env.Cards = bombCards{env.Cards}
		w := writer.New(g, clock, writer.Config{Shards: 1, Env: env}) // both tenants on one shard
		defer w.Close()
		callTenant(t, s, w, 1_000_000)
		if err := s.CreateTenant(ctx, store.Tenant{ID: "tenant-eur", Name: "EUR", Currency: money.MustCurrency("EUR"), CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Submit(ctx, "tenant-eur", "u", directory.PutUser{User: directory.User{ID: "alice", DisplayName: "A",
			Kind: directory.KindUser, UsageLocation: "GB", Licences: []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Submit(ctx, "tenant-eur", "f", ledger.Fund{Amount: 5000, Source: "purchase"}); err != nil {
			t.Fatal(err)
		}

		g.armed.Store(true)
		read := clock.reads.Load()
		first := submitAsync(w, "tenant-000", "", uae("c1"))
		<-g.started
		next := submitBatchAsync(w, []writer.Item{
			{Tenant: "tenant-000", Cmd: uae("c2")},
			{Tenant: "tenant-eur", Cmd: uae("x1")},
			{Tenant: "tenant-000", Cmd: uae("c3")},
		})
		// c2 and x1 are taken (x1 panics); c3 waits in the queue until the bad batch is sorted out.
		waitFor(t, "c2 and x1 are applied and c3 waits", func() bool { return clock.reads.Load() == read+1+2 && w.Queued() == 1 })
		close(g.gate)

		r1 := <-first
		outs := <-next
		reserved := money.Amount(0)
		for i, o := range []writer.Outcome{{Result: r1.r, Err: r1.err}, outs[0], outs[2]} {
			if o.Err != nil || !o.Result.Authorization.Allowed {
				t.Fatalf("good call %d: %+v %v", i, o.Result.Authorization, o.Err)
			}
			reserved += o.Result.Authorization.Reserve
		}
		if !errors.Is(outs[1].Err, writer.ErrInternal) {
			t.Fatalf("the call that panics: %+v %v", outs[1].Result, outs[1].Err)
		}
		if a := checkLedger(t, s, "tenant-000", 1); a.Reserved != reserved || a.Balance != 1_000_000 {
			t.Fatalf("tenant-000 committed: balance %d reserved %d, want 1000000 and %d", a.Balance, a.Reserved, reserved)
		}
		if a := checkLedger(t, s, "tenant-eur", 1); a.Reserved != 0 || a.Balance != 5000 {
			t.Fatalf("tenant-eur committed: balance %d reserved %d", a.Balance, a.Reserved)
		}
		// The shard still serves, at the right versions.
		retries := retriesOf(w)
		if r, err := w.Submit(ctx, "tenant-000", "k", ledger.Charge{Amount: 1}); err != nil || r.Balance != 999_999 || r.Available != 999_999-reserved {
			t.Fatalf("after the panic: %+v %v", r, err)
		}
		if retriesOf(w) != retries {
			t.Fatal("the batch after the panic found its cached version stale")
		}
	})
}

// Close while one batch is in flight and the next is applied: both are committed before
// Close returns, and a key of the first used again in the second is its replay.
func TestPipelineCloseDrainsBoth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		g := newGated(s)
		clock := &countingClock{stepClock: newClock(0)}
		w := writer.New(g, clock, writer.Config{Shards: 1})
		tenants(t, s, 2)
		for _, id := range []string{"tenant-000", "tenant-001"} {
			if _, err := w.Submit(ctx, id, "f", ledger.Fund{Amount: 1000, Source: "purchase"}); err != nil {
				t.Fatal(err)
			}
		}
		g.armed.Store(true)
		read := clock.reads.Load()
		first := submitAsync(w, "tenant-000", "k1", ledger.Charge{Amount: 10})
		<-g.started
		next := submitBatchAsync(w, []writer.Item{
			{Tenant: "tenant-001", Key: "k1", Cmd: ledger.Charge{Amount: 20}}, // another tenant's k1
			{Tenant: "tenant-000", Key: "k1", Cmd: ledger.Charge{Amount: 10}},
			{Tenant: "tenant-000", Key: "k2", Cmd: ledger.Charge{Amount: 5}},
		})
		waitFor(t, "the next batch is applied", func() bool { return clock.reads.Load() == read+1+3 })
		closed := make(chan error, 1)
		go func() { closed <- w.Close() }()
		select {
		case <-closed:
			t.Fatal("Close returned with a batch in flight")
		case <-time.After(50 * time.Millisecond):
		}
		close(g.gate)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		r1 := <-first
		outs := <-next
		if r1.err != nil || r1.r.Balance != 990 {
			t.Fatalf("k1: %+v %v", r1.r, r1.err)
		}
		if o := outs[0]; o.Err != nil || o.Result.Replayed || o.Result.Balance != 980 {
			t.Fatalf("tenant-001's k1: %+v %v", o.Result, o.Err)
		}
		if o := outs[1]; o.Err != nil || !o.Result.Replayed || o.Result.Balance != 990 {
			t.Fatalf("k1 again: %+v %v", o.Result, o.Err)
		}
		if o := outs[2]; o.Err != nil || o.Result.Balance != 985 {
			t.Fatalf("k2: %+v %v", o.Result, o.Err)
		}
		if a := checkLedger(t, s, "tenant-000", 3); a.Balance != 985 {
			t.Fatalf("tenant-000 committed balance %d", a.Balance)
		}
		if a := checkLedger(t, s, "tenant-001", 2); a.Balance != 980 {
			t.Fatalf("tenant-001 committed balance %d", a.Balance)
		}
		if _, err := w.Submit(ctx, "tenant-000", "k3", ledger.Charge{Amount: 1}); !errors.Is(err, writer.ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	})
}

// flaky is a store that fails write transactions after writing them (rolled back): every
// conflictEvery-th with a retryable conflict, every panicEvery-th with a panic, the two ways
// a flight fails.
type flaky struct {
	*store.SQL
	on                        atomic.Bool
	n, conflicts, panics      atomic.Int64
	conflictEvery, panicEvery int64
}

func (f *flaky) roll() (conflict, panics bool) {
	if !f.on.Load() {
		return false, false
	}
	n := f.n.Add(1)
	conflict, panics = n%f.conflictEvery == 0, n%f.conflictEvery != 0 && n%f.panicEvery == 0
	if conflict {
		f.conflicts.Add(1)
	}
	if panics {
		f.panics.Add(1)
	}
	return conflict, panics
}

func (f *flaky) WriteTx(ctx context.Context, fn func(store.Tx) error) error {
	return f.SQL.WriteTx(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		switch conflict, panics := f.roll(); {
		case conflict:
			return fmt.Errorf("injected: %w", store.ErrConflict)
		case panics:
			panic("injected")
		}
		return nil
	})
}

// Many callers send keyed funds and charges to a few tenants, each key twice (so that a
// key meets itself in one batch, in the batch in flight and in one committed before),
// while transactions fail after writing. Whatever the failures, a key that was
// answered with success took effect exactly once, every success for a key gives the same
// figures, and nothing else took effect.
func TestPipelineUnderRandomFailures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		seed := time.Now().UnixNano()
		t.Logf("seed %d", seed)
		f := &flaky{SQL: s, conflictEvery: 5, panicEvery: 13}
		w := writer.New(f, newClock(0), writer.Config{MaxBatch: 16})
		defer w.Close()
		ids := tenants(t, s, 4)
		for _, id := range ids {
			if _, err := w.Submit(ctx, id, "f0", ledger.Fund{Amount: 1_000_000, Source: "purchase"}); err != nil {
				t.Fatal(err)
			}
		}
		type send struct {
			tenant, key string
			cmd         tenant.Command
			amount      int64 // signed
		}
		var sends []send
		for i := range 300 {
			id := ids[i%len(ids)]
			key := fmt.Sprint("k", i)
			if i%5 == 0 {
				sends = append(sends, send{id, key, ledger.Fund{Amount: money.Amount(100 + i), Source: "purchase"}, int64(100 + i)})
			} else {
				sends = append(sends, send{id, key, ledger.Charge{Amount: money.Amount(1 + i%7)}, -int64(1 + i%7)})
			}
		}
		sends = append(sends, sends...) // each key twice
		rnd := rand.New(rand.NewPCG(uint64(seed), 2))
		rnd.Shuffle(len(sends), func(i, j int) { sends[i], sends[j] = sends[j], sends[i] })

		f.on.Store(true)
		results := make([]outcome, len(sends))
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < len(sends); i += 32 {
					r, err := w.Submit(ctx, sends[i].tenant, sends[i].key, sends[i].cmd)
					results[i] = outcome{r, err}
				}
			}()
		}
		wg.Wait()
		f.on.Store(false)
		t.Logf("%d conflicts, %d panics injected; %.0f retries; %.1f commands a batch", f.conflicts.Load(), f.panics.Load(), retriesOf(w), batchMean(w))
		if f.conflicts.Load() == 0 || f.panics.Load() == 0 {
			t.Fatal("no failure was injected")
		}

		type keyed struct{ tenant, key string }
		first := map[keyed]writer.Result{}
		want := map[string]int64{}
		entries := map[string]int{}
		for i, o := range results {
			sd := sends[i]
			if o.err != nil {
				if !errors.Is(o.err, writer.ErrInternal) {
					t.Fatalf("%s %s: %v", sd.tenant, sd.key, o.err)
				}
				continue
			}
			k := keyed{sd.tenant, sd.key}
			if prev, ok := first[k]; ok {
				if prev.Balance != o.r.Balance || prev.Available != o.r.Available {
					t.Fatalf("%s %s answered %d then %d", sd.tenant, sd.key, prev.Balance, o.r.Balance)
				}
				continue
			}
			first[k] = o.r
			want[sd.tenant] += sd.amount
			entries[sd.tenant]++
		}
		for _, id := range ids {
			a := checkLedger(t, s, id, 1+entries[id])
			if int64(a.Balance) != 1_000_000+want[id] {
				t.Errorf("%s: balance %d, want %d", id, a.Balance, 1_000_000+want[id])
			}
		}
		// The versions the writer holds are the database's: a command to each tenant commits
		// at once.
		retries := retriesOf(w)
		for _, id := range ids {
			if _, err := w.Submit(ctx, id, "last", ledger.Charge{Amount: 1}); err != nil {
				t.Fatal(err)
			}
		}
		if retriesOf(w) != retries {
			t.Fatal("a cached version was stale after the failures")
		}
	})
}
