package outbox_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/outbox"
	"github.com/commcredits/commcredits/internal/payment"
	"github.com/commcredits/commcredits/internal/pgtest"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const tid = "tenant-1"

type loop struct {
	s    *store.SQL
	w    *writer.Writer
	j    *jobs.Jobs
	d    *outbox.Dispatcher
	fake *payment.Fake
}

// start sets up a tenant funded 10.50 with a card and auto-recharge (trigger 10.00, amount
// 50.00), the writer, the dispatcher and the jobs client charging fake.
func start(t *testing.T, s *store.SQL, fake *payment.Fake) *loop {
	t.Helper()
	ctx := context.Background()
	usd, err := money.LookupCurrency("USD")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, store.Tenant{ID: tid, Name: tid, Currency: usd, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	w := writer.New(s, writer.SystemClock{}, writer.Config{Env: &tenant.Env{Catalog: plans.Default()}})
	t.Cleanup(func() { _ = w.Close() })
	for i, cmd := range []tenant.Command{
		ledger.Fund{Amount: 1050, Source: "purchase"},
		tenant.SetPaymentMethod{Method: "pm_card_visa", ExpMonth: 12, ExpYear: 2099},
		tenant.SetAutoRecharge{Settings: recharge.Settings{Enabled: true, Trigger: 1000, Amount: 5000, PaymentMethod: "pm_card_visa"}, IfVersion: 1},
	} {
		if _, err := w.Submit(ctx, tid, "setup-"+string(rune('a'+i)), cmd); err != nil {
			t.Fatalf("%s: %v", cmd.Name(), err)
		}
	}
	j := startJobs(t, s, jobs.Config{
		Charger: jobs.ProviderCharger{Provider: fake,
			Customers: func(context.Context, string) (string, error) { return "cus_1", nil }},
		Reporter: outbox.Reporter{Writer: w},
		Backoff:  func(int) time.Duration { return 50 * time.Millisecond },
	})
	return &loop{s: s, w: w, j: j, d: &outbox.Dispatcher{Store: s, Jobs: j, Writer: w}, fake: fake}
}

// until dispatches every 50 ms until cond holds, for at most 20 s.
func (l *loop) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	dispatchUntil(t, l.d, 20*time.Second, what, cond)
}

// startJobs starts a test-only jobs client polling every 50 ms, stopped when the test ends.
func startJobs(t *testing.T, s *store.SQL, cfg jobs.Config) *jobs.Jobs {
	t.Helper()
	cfg.PollInterval, cfg.TestOnly = 50*time.Millisecond, true
	j, err := jobs.New(s.DB(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = j.Stop(c)
	})
	return j
}

func (l *loop) account(t *testing.T) *ledger.Account {
	t.Helper()
	a, err := l.s.Account(context.Background(), tid)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// notified dispatches what is left and returns the types of the Notify jobs enqueued.
func (l *loop) notified(t *testing.T) map[notify.Type]int {
	t.Helper()
	ctx := context.Background()
	if _, err := l.d.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := l.s.PendingOutboxRows(ctx, 100, "notify")
	if err != nil || len(rows) != 0 {
		t.Fatalf("notify rows still pending after Dispatch: %+v, %v", rows, err)
	}
	js, err := l.j.List(ctx, river.NewJobListParams().Kinds(jobs.KindNotify).First(100))
	if err != nil {
		t.Fatal(err)
	}
	out := map[notify.Type]int{}
	for _, jr := range js {
		var n jobs.Notify
		var ev notify.Event
		if err := json.Unmarshal(jr.EncodedArgs, &n); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(n.Event, &ev); err != nil {
			t.Fatal(err)
		}
		out[ev.Type]++
	}
	return out
}

// A charge crosses the trigger; the attempt is charged through River with a timeout first
// (same key retried), reported back through the writer, and the 50.00 is credited once.
func TestRechargeLoopTimeoutThenSuccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		ctx := context.Background()
		l := start(t, s, payment.NewFake(payment.Timeout, payment.Succeed))
		if _, err := l.w.Submit(ctx, tid, "charge-1", ledger.Charge{Amount: 100}); err != nil {
			t.Fatal(err)
		}
		l.until(t, "recharge credited", func() bool { return l.account(t).Totals.Funded >= 1050+5000 })

		a := l.account(t)
		if a.Totals.Funded != 1050+5000 || a.Balance != 1050-100+5000 {
			t.Fatalf("funded %d, balance %d; want 6050, 5950", a.Totals.Funded, a.Balance)
		}
		const key = "recharge:" + tid + ":1:1"
		charges := l.fake.Charges()
		if len(charges) != 1 || charges[0].Request.IdempotencyKey != key || charges[0].Request.Amount != 5000 {
			t.Fatalf("charges: %+v; want one of 50.00 under %s", charges, key)
		}
		if n := l.fake.Attempts(); n < 2 {
			t.Fatalf("provider calls: %d; want the timeout and its retry", n)
		}
		if got := l.notified(t); got[notify.RechargeSucceeded] != 1 {
			t.Fatalf("notifications enqueued: %v; want one recharge_succeeded", got)
		}
		// Nothing more: no second attempt, and dispatching again changes nothing.
		if n, err := l.d.Dispatch(ctx); err != nil || n != 0 {
			t.Fatalf("second dispatch: %d, %v", n, err)
		}
		if a := l.account(t); a.Totals.Funded != 6050 {
			t.Fatalf("funded %d after all", a.Totals.Funded)
		}
	})
}

// A hard decline suspends auto-recharge and tells the tenant; nothing is credited.
func TestRechargeLoopHardDecline(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		ctx := context.Background()
		l := start(t, s, payment.NewFake(payment.Decline("expired_card")))
		if _, err := l.w.Submit(ctx, tid, "charge-1", ledger.Charge{Amount: 100}); err != nil {
			t.Fatal(err)
		}
		suspended := func() bool {
			var st *tenant.State
			err := s.WriteTx(ctx, func(tx store.Tx) (err error) {
				st, _, err = tx.LoadState(ctx, tid, time.Now())
				return
			})
			if err != nil {
				t.Fatal(err)
			}
			return st.Recharge.Suspended
		}
		l.until(t, "auto-recharge suspended", suspended)
		if a := l.account(t); a.Totals.Funded != 1050 || a.Balance != 950 {
			t.Fatalf("funded %d, balance %d; want 1050, 950", a.Totals.Funded, a.Balance)
		}
		if c := l.fake.Charges(); len(c) != 0 {
			t.Fatalf("charges: %+v", c)
		}
		got := l.notified(t)
		if got[notify.RechargeFailed] != 1 || got[notify.AutoRechargeSuspended] != 1 {
			t.Fatalf("notifications enqueued: %v; want recharge_failed and auto_recharge_suspended", got)
		}
	})
}

// crashingStore fails the first MarkOutboxDone, as a crash between the enqueue and the mark.
type crashingStore struct {
	*store.SQL
	crashed bool
}

func (c *crashingStore) MarkOutboxDone(ctx context.Context, tenant, key string, at time.Time) error {
	if !c.crashed {
		c.crashed = true
		return context.Canceled
	}
	return c.SQL.MarkOutboxDone(ctx, tenant, key, at)
}

// A crash after the enqueue and before the row is marked done: the next Dispatch enqueues
// the same attempt again, and River's uniqueness per attempt key keeps one job.
func TestDispatchAgainAfterCrashEnqueuesOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		ctx := context.Background()
		l := start(t, s, payment.NewFake())
		insertOnly, err := jobs.New(s.DB(), jobs.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = insertOnly.Stop(context.Background()) })
		if _, err := l.w.Submit(ctx, tid, "charge-1", ledger.Charge{Amount: 100}); err != nil {
			t.Fatal(err)
		}
		d := &outbox.Dispatcher{Store: &crashingStore{SQL: s}, Jobs: insertOnly, Writer: l.w}
		if n, err := d.Dispatch(ctx); err == nil || n != 0 {
			t.Fatalf("first dispatch: %d, %v; want the mark to fail", n, err)
		}
		if n, err := d.Dispatch(ctx); err != nil || n != 1 {
			t.Fatalf("second dispatch: %d, %v", n, err)
		}
		js, err := insertOnly.List(ctx, river.NewJobListParams().Kinds(jobs.KindPaymentAttempt).
			States(rivertype.JobStateAvailable, rivertype.JobStateRunning, rivertype.JobStateCompleted, rivertype.JobStateRetryable).First(100))
		if err != nil || len(js) != 1 {
			t.Fatalf("payment jobs: %d, %v; want 1", len(js), err)
		}
	})
}

// A soft decline waits in the outbox as a retry; once due, the dispatcher sends RetryDue,
// the policy asks for the next key, and that charge is credited.
func TestRechargeLoopSoftDeclineThenRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		ctx := context.Background()
		l := start(t, s, payment.NewFake(payment.Decline("insufficient_funds"), payment.Succeed))
		if _, err := l.w.Submit(ctx, tid, "charge-1", ledger.Charge{Amount: 100}); err != nil {
			t.Fatal(err)
		}
		l.until(t, "retry scheduled", func() bool {
			rows, err := s.PendingOutboxRows(ctx, 100, "schedule_retry")
			if err != nil {
				t.Fatal(err)
			}
			return len(rows) == 1
		})
		if a := l.account(t); a.Totals.Funded != 1050 {
			t.Fatalf("funded %d before the retry", a.Totals.Funded)
		}
		l.d.Now = func() time.Time { return time.Now().Add(time.Hour) } // the 30 min back-off has passed
		l.until(t, "recharge credited", func() bool { return l.account(t).Totals.Funded >= 1050+5000 })
		if a := l.account(t); a.Totals.Funded != 6050 || a.Balance != 5950 {
			t.Fatalf("funded %d, balance %d", a.Totals.Funded, a.Balance)
		}
		charges := l.fake.Charges()
		if len(charges) != 1 || charges[0].Request.IdempotencyKey != "recharge:"+tid+":1:2" {
			t.Fatalf("charges: %+v; want one under the attempt's second key", charges)
		}
		if got := l.notified(t); got[notify.RechargeFailed] != 1 || got[notify.RechargeSucceeded] != 1 {
			t.Fatalf("notifications enqueued: %v", got)
		}
	})
}

// A charge whose outcome stays unknown past all the job's tries is reported unknown; the
// policy retries the same key later, and when that ends unknown again it is reported again
// (not answered from the first report, which left the attempt in flight for good). When the
// provider answers at last, the tenant is credited once, under the one key.
func TestUnknownOutcomeTwiceThenSettles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, s *store.SQL) {
		ctx := context.Background()
		steps := make([]payment.Step, 2*jobs.PaymentMaxAttempts)
		for i := range steps {
			steps[i] = payment.Unreachable
		}
		l := start(t, s, payment.NewFake(steps...))
		l.d.Now = func() time.Time { return time.Now().Add(24 * time.Hour) } // every retry is due
		inFlight := func() *recharge.Attempt {
			var st *tenant.State
			if err := s.WriteTx(ctx, func(tx store.Tx) (err error) {
				st, _, err = tx.LoadState(ctx, tid, time.Now())
				return
			}); err != nil {
				t.Fatal(err)
			}
			return st.Recharge.InFlight
		}
		if _, err := l.w.Submit(ctx, tid, "charge-1", ledger.Charge{Amount: 100}); err != nil {
			t.Fatal(err)
		}
		l.until(t, "two unknown outcomes reported", func() bool {
			a := inFlight()
			return a != nil && a.Unknowns >= 2 || l.account(t).Totals.Funded > 1050
		})
		l.until(t, "recharge credited", func() bool { return l.account(t).Totals.Funded >= 1050+5000 })
		if a := l.account(t); a.Totals.Funded != 6050 || a.Balance != 5950 {
			t.Fatalf("funded %d, balance %d", a.Totals.Funded, a.Balance)
		}
		const key = "recharge:" + tid + ":1:1"
		if c := l.fake.Charges(); len(c) != 1 || c[0].Request.IdempotencyKey != key {
			t.Fatalf("charges %+v; want one under %s", c, key)
		}
		if n := l.fake.Attempts(); n != 2*jobs.PaymentMaxAttempts+1 {
			t.Fatalf("provider calls %d; want %d", n, 2*jobs.PaymentMaxAttempts+1)
		}
		if a := inFlight(); a != nil {
			t.Fatalf("still in flight: %+v", a)
		}
		rows, err := s.PendingOutboxRows(ctx, 100, "alert")
		if err != nil || len(rows) != 0 {
			t.Fatalf("alerts left pending: %v %v", rows, err)
		}
	})
}
