// Package outbox carries the side effects the tenant state writes to the outbox table out
// of the engine: card payment attempts and notifications become River jobs (internal/jobs),
// due retries go back to the writer as tenant.RetryDue, and Reporter takes the payment jobs'
// outcomes back to the writer as tenant.PaymentReport. See docs/funding.md.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/payment"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// Kinds of outbox rows the Dispatcher handles: every kind the tenant state writes.
var Kinds = []string{"start_attempt", "schedule_retry", "notify", "failed", "alert"}

// Submitter is the writer as the dispatcher and the reporter use it.
type Submitter interface {
	Submit(ctx context.Context, tenantID, key string, cmd tenant.Command) (writer.Result, error)
}

// Store is what the dispatcher reads and marks; *store.SQL implements it.
type Store interface {
	PendingOutboxRows(ctx context.Context, limit int, kinds ...string) ([]store.OutboxRow, error)
	MarkOutboxDone(ctx context.Context, tenant, key string, at time.Time) error
}

// Dispatcher turns pending outbox rows into jobs.
type Dispatcher struct {
	Store  Store
	Jobs   *jobs.Jobs
	Writer Submitter
	Limit  int              // rows per Dispatch; default 100
	Now    func() time.Time // default time.Now
	// Alert takes an operator alert (a charge the provider rejected, an outcome that stays
	// unknown); default: logged at error level on Log. An error leaves the row pending.
	Alert func(ctx context.Context, tenant string, a recharge.Alert) error
	// Log records failed attempts and, without Alert, alerts; default slog.Default().
	Log *slog.Logger
}

// Dispatch reads up to Limit pending rows, oldest first, and hands each on: start_attempt →
// a jobs.PaymentAttempt, notify → a jobs.Notify, schedule_retry whose time has come → a
// tenant.RetryDue through the writer (which writes the retry's start_attempt). Each row is
// marked done only after that succeeded; a retry not yet due stays pending. It returns how
// many rows it marked done.
//
// A crash between the enqueue and the mark leaves the row pending, and the next Dispatch
// hands it on again, which is harmless: PaymentAttempt is unique per (tenant, attempt key)
// and Notify per dedup key, so River skips the second insert while the first job exists
// (pending, scheduled, available, running, retryable or completed), and a second RetryDue
// for a key already retried is a no-op in the recharge policy.
func (d *Dispatcher) Dispatch(ctx context.Context) (int, error) {
	rows, err := d.Store.PendingOutboxRows(ctx, d.Limit, Kinds...)
	if err != nil {
		return 0, fmt.Errorf("outbox: read: %w", err)
	}
	done := 0
	var errs []error
	for _, r := range rows {
		ok, err := d.one(ctx, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("outbox %s %q: %w", r.Tenant, r.Key, err))
			continue
		}
		if !ok {
			continue
		}
		if err := d.Store.MarkOutboxDone(ctx, r.Tenant, r.Key, d.now()); err != nil {
			errs = append(errs, fmt.Errorf("outbox %s %q: mark done: %w", r.Tenant, r.Key, err))
			continue
		}
		done++
	}
	return done, errors.Join(errs...)
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// one hands one row on; false: not yet (a retry not due).
func (d *Dispatcher) one(ctx context.Context, r store.OutboxRow) (bool, error) {
	switch r.Kind {
	case "start_attempt":
		var it struct{ Action recharge.StartAttempt }
		if err := json.Unmarshal(r.Body, &it); err != nil {
			return false, err
		}
		a := it.Action
		_, err := d.Jobs.Enqueue(ctx, jobs.PaymentAttempt{Tenant: r.Tenant, AttemptKey: a.Key, Amount: int64(a.Amount),
			Currency: r.Currency.Code, PaymentMethod: a.PaymentMethod, Customer: a.Customer, Purpose: string(a.Purpose), Round: a.Round})
		return err == nil, err
	case "schedule_retry":
		var it struct{ Action recharge.ScheduleRetry }
		if err := json.Unmarshal(r.Body, &it); err != nil {
			return false, err
		}
		if it.Action.At.After(d.now()) {
			return false, nil
		}
		_, err := d.Writer.Submit(ctx, r.Tenant, "", tenant.RetryDue{Key: it.Action.Key})
		return err == nil, err
	case "notify":
		var it struct{ Event *notify.Event }
		if err := json.Unmarshal(r.Body, &it); err != nil {
			return false, err
		}
		if it.Event == nil {
			return false, errors.New("notify row without event")
		}
		n, err := jobs.NewNotify(*it.Event)
		if err != nil {
			return false, err
		}
		_, err = d.Jobs.Enqueue(ctx, n)
		return err == nil, err
	case "failed":
		// The attempt's end without money moving: the tenant heard of it through its own
		// notification (recharge_failed, auto_recharge_suspended) or, for a purchase, from
		// the command's answer; the row is its record. Logged for the operator.
		var it struct{ Action recharge.Failed }
		if err := json.Unmarshal(r.Body, &it); err != nil {
			return false, err
		}
		a := it.Action
		d.log().Info("payment attempt failed", "tenant", r.Tenant, "attempt", a.AttemptID, "purpose", string(a.Purpose),
			"kind", a.Kind.String(), "code", a.Code, "reason", a.Reason)
		return true, nil
	case "alert":
		var it struct{ Action recharge.Alert }
		if err := json.Unmarshal(r.Body, &it); err != nil {
			return false, err
		}
		if d.Alert != nil {
			err := d.Alert(ctx, r.Tenant, it.Action)
			return err == nil, err
		}
		a := it.Action
		d.log().Error("operator alert: payment", "tenant", r.Tenant, "attempt", a.AttemptID, "key", a.Key, "code", a.Code, "message", a.Message)
		return true, nil
	}
	return false, fmt.Errorf("unknown kind %q", r.Kind)
}

func (d *Dispatcher) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// Run dispatches every interval until ctx ends, logging errors; it returns after the
// Dispatch in progress, so a shutdown that cancels ctx and waits for Run leaves no
// enqueue half done.
func (d *Dispatcher) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := d.Dispatch(ctx); err != nil && ctx.Err() == nil {
			d.log().Warn("outbox dispatch", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Reporter is the jobs.Reporter that submits each payment outcome to the writer as a
// tenant.PaymentReport (idempotent by attempt key, so a job that reports twice is answered
// from the first report).
type Reporter struct {
	Writer Submitter
}

var _ jobs.Reporter = Reporter{}

// ReportPayment implements jobs.Reporter. A "processing" charge is not an outcome yet and
// is not reported (the payment job looks it up until it is final: docs/jobs.md). A report the tenant refuses
// as not its attempt is dropped: no retry of the job could change that.
func (p Reporter) ReportPayment(ctx context.Context, r jobs.PaymentReport) error {
	cmd := tenant.PaymentReport{Key: r.Attempt.AttemptKey, Code: r.Code, Reason: r.Reason}
	switch r.Outcome {
	case jobs.OutcomeSucceeded:
		cmd.Succeeded, cmd.PaymentID = true, r.Result.PaymentID
	case jobs.OutcomeProcessing:
		return nil
	case jobs.OutcomeHardDecline:
		cmd.Kind = payment.KindHardDecline
	case jobs.OutcomeSoftDecline:
		cmd.Kind = payment.KindSoftDecline
	case jobs.OutcomeRejected:
		cmd.Kind = payment.KindRejected
	default:
		cmd.Kind = payment.KindUnknownOutcome
	}
	_, err := p.Writer.Submit(ctx, r.Attempt.Tenant, cmd.IdempotencyKey(), cmd)
	if errors.Is(err, recharge.ErrUnknownAttempt) {
		return nil
	}
	return err
}
