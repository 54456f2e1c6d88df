package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payment"
)

// PaymentAttempt charges a tenant's card once. AttemptKey is the provider
// idempotency key: every retry of the job sends the same key and the same
// fields, so the provider charges at most once whatever happens to the
// process or the network. A new attempt (after a decline) is a new job with a
// new key. Unique by (Tenant, AttemptKey): enqueueing the same attempt twice
// inserts one job.
type PaymentAttempt struct {
	Tenant        string `json:"tenant" river:"unique"`
	AttemptKey    string `json:"attempt_key" river:"unique"`
	Amount        int64  `json:"amount"`   // minor units of Currency
	Currency      string `json:"currency"` // ISO 4217 code
	PaymentMethod string `json:"payment_method"`
	// Customer is the provider customer id when the attempt was decided; if
	// empty, ProviderCharger asks its Customers lookup.
	Customer string `json:"customer,omitempty"`
	// Purpose: "auto_recharge", "purchase"; shown on the provider's dashboard.
	Purpose string `json:"purpose"`
	// Round tells apart the jobs of one key retried after an unknown outcome (the
	// earlier job may not even be finished when the retry is enqueued). It is not sent to
	// the provider: every round charges with the same key.
	Round int `json:"round,omitempty" river:"unique"`
}

// KindPaymentAttempt is PaymentAttempt's River kind.
const KindPaymentAttempt = "payment_attempt"

// PaymentMaxAttempts is how many times a payment attempt with unknown outcome
// is tried (with the same key) before the job is given up and reported as
// OutcomeUnknown.
const PaymentMaxAttempts = 12

func (PaymentAttempt) Kind() string { return KindPaymentAttempt }

// InsertOpts puts payment attempts on their queue, unique per attempt key.
func (PaymentAttempt) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePayments, MaxAttempts: PaymentMaxAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Charger charges a card for one attempt. It must send a.AttemptKey as the
// provider's idempotency key. Errors are classified with payment.KindOf.
type Charger interface {
	Charge(ctx context.Context, a PaymentAttempt) (payment.ChargeResult, error)
}

// ProviderCharger is the Charger over a payment.Provider.
type ProviderCharger struct {
	Provider payment.Provider
	// Customers finds the provider customer of a tenant when the attempt does
	// not carry one.
	Customers func(ctx context.Context, tenant string) (string, error)
}

// Charge implements Charger. The request is built only from the job's
// arguments, so a retry sends byte-for-byte the same request.
func (c ProviderCharger) Charge(ctx context.Context, a PaymentAttempt) (payment.ChargeResult, error) {
	cur, err := money.LookupCurrency(a.Currency)
	if err != nil {
		return payment.ChargeResult{}, &payment.Error{Kind: payment.KindRejected, Code: "invalid_request", Err: err}
	}
	cust := a.Customer
	if cust == "" && c.Customers != nil {
		if cust, err = c.Customers(ctx, a.Tenant); err != nil {
			return payment.ChargeResult{}, fmt.Errorf("jobs: customer of %s: %w", a.Tenant, err)
		}
	}
	desc := "Communications Credits"
	if a.Purpose != "" {
		desc += " " + a.Purpose
	}
	return c.Provider.Charge(ctx, payment.ChargeRequest{
		TenantID:        a.Tenant,
		CustomerID:      cust,
		PaymentMethodID: a.PaymentMethod,
		Amount:          money.Amount(a.Amount),
		Currency:        cur,
		IdempotencyKey:  a.AttemptKey,
		Description:     desc,
	})
}

// Looker is a Charger that can look a charge up by its provider payment id, to settle a
// charge the provider answered "processing"; ProviderCharger is one.
type Looker interface {
	Lookup(ctx context.Context, paymentID string) (payment.ChargeResult, error)
}

// Lookup implements Looker with Provider.Payment.
func (c ProviderCharger) Lookup(ctx context.Context, paymentID string) (payment.ChargeResult, error) {
	return c.Provider.Payment(ctx, paymentID)
}

// Outcome is what became of a payment attempt.
type Outcome string

// The outcomes reported to the Reporter.
const (
	OutcomeSucceeded   Outcome = "succeeded"    // money moved: credit the tenant
	OutcomeProcessing  Outcome = "processing"   // accepted, not final: wait for the provider
	OutcomeHardDecline Outcome = "hard_decline" // suspend auto-recharge; not retried
	OutcomeSoftDecline Outcome = "soft_decline" // the policy may try again later with a new key
	OutcomeRejected    Outcome = "rejected"     // the provider refused the request: alert the operator
	// OutcomeUnknown: every try ended without an answer and the job gave up.
	// The charge may have happened: reconcile (provider dashboard, Payment)
	// before any new attempt.
	OutcomeUnknown Outcome = "unknown"
)

// PaymentReport is one report to the Reporter.
type PaymentReport struct {
	Attempt PaymentAttempt
	Outcome Outcome
	Result  payment.ChargeResult // for succeeded and processing
	Code    string               // provider code of a decline
	Reason  string               // tenant-facing reason of a decline
	Err     error                // the provider error, for logs
	Tries   int                  // the job's attempt number that produced this report
}

// Reporter takes a payment attempt's final outcome to the engine (the lead
// makes it submit a command to the writer). It may be called more than once
// for the same attempt key (a crash after reporting but before River recorded
// the job as done): it must be idempotent by Attempt.AttemptKey. An error
// makes the job retry; the retry charges with the same key, which the
// provider answers from its record without charging again.
type Reporter interface {
	ReportPayment(ctx context.Context, r PaymentReport) error
}

// PaymentWorker works PaymentAttempt jobs.
type PaymentWorker struct {
	river.WorkerDefaults[PaymentAttempt]
	Charger  Charger
	Reporter Reporter
}

// Work charges, then reports. Unknown outcomes return an error so River
// retries with back-off, with the same key; declines and rejections are
// reported and cancel the job (no retry).
func (w *PaymentWorker) Work(ctx context.Context, job *river.Job[PaymentAttempt]) error {
	res, err := w.Charger.Charge(ctx, job.Args)
	if l, ok := w.Charger.(Looker); ok && err == nil && res.Status == payment.StatusProcessing && res.PaymentID != "" {
		// Accepted, not final (the bank confirms later). The retry of this job replays the
		// same "processing" answer for the key, so ask for the charge itself: final, it is
		// reported; still processing, the job tries again later (and, at its last try,
		// reports the outcome unknown: the policy retries the same key later).
		cur, lerr := l.Lookup(ctx, res.PaymentID)
		switch {
		case lerr != nil && payment.KindOf(lerr) == payment.KindRejected:
			// The provider does not know its own payment: nothing to settle yet.
			err = &payment.Error{Kind: payment.KindUnknownOutcome, Code: "processing", PaymentID: res.PaymentID, Err: lerr}
		case lerr != nil:
			err = lerr
		case cur.Status == payment.StatusSucceeded:
			res = cur
		default:
			err = &payment.Error{Kind: payment.KindUnknownOutcome, Code: "processing", PaymentID: res.PaymentID,
				Err: fmt.Errorf("charge %s still processing", res.PaymentID)}
		}
	}
	rep := PaymentReport{Attempt: job.Args, Result: res, Err: err, Tries: job.Attempt}
	var pe *payment.Error
	if errors.As(err, &pe) {
		rep.Code, rep.Reason = pe.Code, pe.Reason
	}
	final := false
	switch payment.KindOf(err) {
	case 0:
		rep.Outcome = OutcomeSucceeded
		if res.Status == payment.StatusProcessing {
			rep.Outcome = OutcomeProcessing
		}
	case payment.KindHardDecline:
		rep.Outcome, final = OutcomeHardDecline, true
	case payment.KindSoftDecline:
		rep.Outcome, final = OutcomeSoftDecline, true
	case payment.KindRejected:
		rep.Outcome, final = OutcomeRejected, true
	default: // unknown outcome: retry with the same key
		if ctx.Err() != nil || job.Attempt < job.MaxAttempts {
			return err
		}
		rep.Outcome = OutcomeUnknown
		if rerr := w.Reporter.ReportPayment(ctx, rep); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err // the last attempt: River discards the job, the report is made
	}
	if rerr := w.Reporter.ReportPayment(ctx, rep); rerr != nil {
		return fmt.Errorf("jobs: report payment %s: %w", job.Args.AttemptKey, rerr)
	}
	if final {
		return river.JobCancel(err)
	}
	return nil
}
