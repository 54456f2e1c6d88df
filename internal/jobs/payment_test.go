package jobs_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/payment"
)

// reporter records every report.
type reporter struct {
	mu      sync.Mutex
	reports []jobs.PaymentReport
}

func (r *reporter) ReportPayment(_ context.Context, rep jobs.PaymentReport) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, rep)
	return nil
}

func (r *reporter) all() []jobs.PaymentReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]jobs.PaymentReport(nil), r.reports...)
}

func attempt(key string) jobs.PaymentAttempt {
	return jobs.PaymentAttempt{Tenant: "t-1", AttemptKey: key, Amount: 5000, Currency: "USD",
		PaymentMethod: "pm_card", Customer: "cus_1", Purpose: "auto_recharge"}
}

func enqueue(t *testing.T, d *db.DB, j *jobs.Jobs, args ...river.JobArgs) {
	t.Helper()
	if err := writeTx(context.Background(), d, func(tx any, _ func(string, ...any) error) error {
		_, err := j.EnqueueTx(context.Background(), tx, args...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestPaymentTimeoutsThenSuccessChargeOnce(t *testing.T) {
	each(t, func(t *testing.T, d *db.DB) {
		// The request is lost on the way, then the charge happens but its answer is
		// lost, then the retry gets the provider's stored answer.
		fake := payment.NewFake(payment.Unreachable, payment.Timeout)
		rep := &reporter{}
		j := start(t, d, jobs.Config{Charger: jobs.ProviderCharger{Provider: fake}, Reporter: rep})
		// Enqueued twice (a replayed command): unique by attempt key, one job.
		enqueue(t, d, j, attempt("att-1"))
		enqueue(t, d, j, attempt("att-1"))

		eventually(t, 15*time.Second, "a report", func() bool { return len(rep.all()) > 0 })
		time.Sleep(300 * time.Millisecond)
		reps := rep.all()
		if len(reps) != 1 || reps[0].Outcome != jobs.OutcomeSucceeded || reps[0].Tries != 3 {
			t.Fatalf("reports %+v, want one success on try 3", reps)
		}
		if reps[0].Result.Amount != 5000 || reps[0].Result.PaymentID == "" {
			t.Errorf("result %+v", reps[0].Result)
		}
		charges := fake.Charges()
		if len(charges) != 1 || charges[0].Request.IdempotencyKey != "att-1" {
			t.Fatalf("charges %+v, want one under att-1", charges)
		}
		if n := fake.Attempts(); n != 3 {
			t.Errorf("provider saw %d requests, want 3", n)
		}
		if rows := jobsOf(t, j, jobs.KindPaymentAttempt); len(rows) != 1 || rows[0].State != rivertype.JobStateCompleted {
			t.Errorf("jobs %v, want one completed", states(rows))
		}
	})
}

func TestPaymentHardDeclineIsNotRetried(t *testing.T) {
	each(t, func(t *testing.T, d *db.DB) {
		fake := payment.NewFake(payment.Decline("expired_card"))
		rep := &reporter{}
		j := start(t, d, jobs.Config{Charger: jobs.ProviderCharger{Provider: fake}, Reporter: rep})
		enqueue(t, d, j, attempt("att-hard"))

		eventually(t, 15*time.Second, "a report", func() bool { return len(rep.all()) > 0 })
		time.Sleep(500 * time.Millisecond) // five back-offs: a retry would have happened
		reps := rep.all()
		if len(reps) != 1 || reps[0].Outcome != jobs.OutcomeHardDecline || reps[0].Code != "expired_card" || reps[0].Reason != "card expired" {
			t.Fatalf("reports %+v, want one hard decline (expired_card)", reps)
		}
		if n := fake.Attempts(); n != 1 {
			t.Errorf("provider saw %d requests, want 1", n)
		}
		if n := len(fake.Charges()); n != 0 {
			t.Errorf("%d charges moved money", n)
		}
		if rows := jobsOf(t, j, jobs.KindPaymentAttempt); len(rows) != 1 || rows[0].State != rivertype.JobStateCancelled {
			t.Errorf("jobs %v, want one cancelled", states(rows))
		}
	})
}

// crashCharger charges through the provider and then, the first time, hangs
// until its context ends: the provider has charged, the process dies before
// hearing about it.
type crashCharger struct {
	jobs.Charger
	once    sync.Once
	hanging chan struct{}
}

func (c *crashCharger) Charge(ctx context.Context, a jobs.PaymentAttempt) (payment.ChargeResult, error) {
	res, err := c.Charger.Charge(ctx, a)
	first := false
	c.once.Do(func() { first = true })
	if first {
		close(c.hanging)
		<-ctx.Done()
		return payment.ChargeResult{}, ctx.Err()
	}
	return res, err
}

func TestCrashWhileChargingCompletesOnceOnNewClient(t *testing.T) {
	for _, how := range []string{"stopped", "killed"} {
		t.Run(how, func(t *testing.T) {
			each(t, func(t *testing.T, d *db.DB) {
				ctx := context.Background()
				fake := payment.NewFake()
				rep := &reporter{}
				cc := &crashCharger{Charger: jobs.ProviderCharger{Provider: fake}, hanging: make(chan struct{})}
				a := start(t, d, jobs.Config{Charger: cc, Reporter: rep, ClientID: "client-a"})
				enqueue(t, d, a, attempt("att-crash"))
				select {
				case <-cc.hanging:
				case <-time.After(15 * time.Second):
					t.Fatal("job never started")
				}
				kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if err := a.Kill(kctx); err != nil {
					t.Fatal(err)
				}
				cancel()
				if n := len(rep.all()); n != 0 {
					t.Fatalf("%d reports before the new client", n)
				}
				rescueAfter := time.Duration(0)
				if how == "killed" {
					// What kill -9 leaves behind: the row still running, attempted long ago
					// by a client that is gone. Only the leader's rescuer can free it.
					markRunning(t, d)
					rescueAfter = time.Second
				}
				b := start(t, d, jobs.Config{Charger: cc, Reporter: rep, ClientID: "client-b", RescueAfter: rescueAfter, JobTimeout: 500 * time.Millisecond})
				eventually(t, 60*time.Second, "a report from the new client", func() bool { return len(rep.all()) > 0 })
				time.Sleep(300 * time.Millisecond)
				reps := rep.all()
				if len(reps) != 1 || reps[0].Outcome != jobs.OutcomeSucceeded {
					t.Fatalf("reports %+v, want one success", reps)
				}
				if n := len(fake.Charges()); n != 1 {
					t.Errorf("%d charges, want 1", n)
				}
				// River marks the job completed after the work returns, in its own batch.
				var rows []*rivertype.JobRow
				eventually(t, 30*time.Second, "one completed payment job", func() bool {
					rows = jobsOf(t, b, jobs.KindPaymentAttempt)
					return len(rows) == 1 && rows[0].State == rivertype.JobStateCompleted
				})
				if by := rows[0].AttemptedBy; len(by) == 0 || by[len(by)-1] != "client-b" {
					t.Errorf("attempted by %v, want client-b last", by)
				}
			})
		})
	}
}

func markRunning(t *testing.T, d *db.DB) {
	t.Helper()
	ctx := context.Background()
	var err error
	if d.Kind() == db.Postgres {
		_, err = d.Pool().Exec(ctx, `UPDATE river_job SET state = 'running', attempt = attempt + 1,
			attempted_at = now() - interval '1 hour' WHERE kind = 'payment_attempt'`)
	} else {
		err = d.WriteTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = attempt + 1,
				attempted_at = strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 hour') WHERE kind = 'payment_attempt'`)
			return err
		})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// A charge the provider accepts as "processing" is not credited yet: the job looks it up
// until the bank confirms it, then reports it succeeded, charged once.
func TestPaymentProcessingSettlesByLookup(t *testing.T) {
	each(t, func(t *testing.T, d *db.DB) {
		fake := payment.NewFake(payment.Step{Processing: true})
		rep := &reporter{}
		j := start(t, d, jobs.Config{Charger: jobs.ProviderCharger{Provider: fake}, Reporter: rep})
		enqueue(t, d, j, attempt("att-proc"))
		eventually(t, 15*time.Second, "the processing charge", func() bool { return len(fake.Charges()) == 1 })
		time.Sleep(300 * time.Millisecond)
		if r := rep.all(); len(r) != 0 {
			t.Fatalf("reported before the bank confirmed: %+v", r)
		}
		if !fake.Settle(fake.Charges()[0].Result.PaymentID) {
			t.Fatal("nothing to settle")
		}
		eventually(t, 15*time.Second, "a report", func() bool { return len(rep.all()) > 0 })
		if r := rep.all(); len(r) != 1 || r[0].Outcome != jobs.OutcomeSucceeded || r[0].Tries < 2 {
			t.Fatalf("reports %+v; want one success after a retry", r)
		}
		if c := fake.Charges(); len(c) != 1 {
			t.Fatalf("charges %+v", c)
		}
	})
}
