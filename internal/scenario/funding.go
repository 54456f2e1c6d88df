package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/outbox"
	"github.com/commcredits/commcredits/internal/payment"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/tenant"
)

// The funding steps (issue 5): payment method, auto-recharge settings, purchases, billing
// contacts and webhooks, and the outcomes of the card charges the engine asks for, played
// by the scriptable fake provider (payment.Fake) the way the payment job plays them.

type paymentMethodJSON struct {
	common
	Method   string `json:"method"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
	Brand    string `json:"brand"`
	Last4    string `json:"last4"`
}

type autoRechargeJSON struct {
	common
	Enabled    bool    `json:"enabled"`
	Trigger    string  `json:"trigger"`
	Amount     string  `json:"amount"`
	MonthlyCap *string `json:"monthly_cap"`
	LowBalance *string `json:"low_balance"`
	Method     string  `json:"method"`
}

type addFundsJSON struct {
	common
	Amount string `json:"amount"`
	Method string `json:"method"`
}

type contactJSON struct {
	common
	Email string `json:"email"`
	Name  string `json:"name"`
}

type webhookJSON struct {
	common
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Secret string   `json:"secret"`
	Events []string `json:"events"`
}

type paymentJSON struct {
	common
	Outcomes []string `json:"outcomes"`
}

func init() {
	stepKinds["payment_method"] = func() any { return &paymentMethodJSON{} }
	stepKinds["auto_recharge"] = func() any { return &autoRechargeJSON{} }
	stepKinds["add_funds"] = func() any { return &addFundsJSON{} }
	stepKinds["contact"] = func() any { return &contactJSON{} }
	stepKinds["webhook"] = func() any { return &webhookJSON{} }
	stepKinds["payment"] = func() any { return &paymentJSON{} }
}

// Outcomes a payment step may script: a decline code is any other word.
const (
	OutcomeSucceeded   = "succeeded"
	OutcomeTimeout     = "timeout"     // charged, response lost: the retry replays it
	OutcomeUnreachable = "unreachable" // never reached the provider
)

// fundingStep parses the funding steps; ok is false for any other step.
func (p *parser) fundingStep(st *Step, v any) (bool, *Error) {
	bad := func(f, format string, args ...any) *Error {
		return &Error{Line: st.Line, Field: st.Kind + "." + f, Msg: fmt.Sprintf(format, args...)}
	}
	switch j := v.(type) {
	case *paymentMethodJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return true, e
		}
		st.Commands = []tenant.Command{tenant.SetPaymentMethod{Method: j.Method, ExpMonth: j.ExpMonth, ExpYear: j.ExpYear,
			Brand: j.Brand, Last4: j.Last4, Customer: "cus_scenario"}}
	case *autoRechargeJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return true, e
		}
		cur := p.cur(st)
		s := recharge.Settings{Enabled: j.Enabled, PaymentMethod: j.Method}
		var e *Error
		for _, f := range []struct {
			name string
			src  string
			dst  *money.Amount
		}{{"trigger", j.Trigger, &s.Trigger}, {"amount", j.Amount, &s.Amount}} {
			if f.src == "" {
				return true, bad(f.name, "missing")
			}
			// Negative values are the engine's to refuse, so that expect_error can test it.
			if *f.dst, e = p.amount(st, f.name, f.src, cur, true); e != nil {
				return true, e
			}
		}
		for _, f := range []struct {
			name string
			src  *string
			dst  *money.Amount
		}{{"monthly_cap", j.MonthlyCap, &s.MonthlyCap}, {"low_balance", j.LowBalance, &s.LowBalance}} {
			if f.src != nil {
				if *f.dst, e = p.amount(st, f.name, *f.src, cur, true); e != nil {
					return true, e
				}
			}
		}
		st.AutoRecharge = &s
	case *addFundsJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return true, e
		}
		a, e := p.amount(st, "amount", j.Amount, p.cur(st), true)
		if e != nil {
			return true, e
		}
		st.Commands = []tenant.Command{tenant.AddFunds{Amount: a, Method: j.Method}}
	case *contactJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return true, e
		}
		st.Commands = []tenant.Command{directory.PutBillingContact{Contact: directory.Contact{Email: j.Email, Name: j.Name}}}
	case *webhookJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return true, e
		}
		secret := j.Secret
		if secret == "" {
			secret = "whsec_scenario_" + j.ID // deterministic: the output must not change between runs
		}
		st.Commands = []tenant.Command{directory.PutWebhook{Webhook: directory.Webhook{ID: j.ID, URL: j.URL, Secret: secret, Events: j.Events}}}
	case *paymentJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return true, e
		}
		for i, o := range j.Outcomes {
			if o == "" || strings.ContainsAny(o, " /") {
				return true, bad(fmt.Sprintf("outcomes[%d]", i), "%q is not succeeded, timeout, unreachable or a decline code", o)
			}
		}
		st.Outcomes = slices.Clone(j.Outcomes)
	default:
		return false, nil
	}
	return true, nil
}

// fake is the tenant's scripted provider.
func (r *runner) fake(id string) *payment.Fake {
	if r.fakes == nil {
		r.fakes = map[string]*payment.Fake{}
	}
	f := r.fakes[id]
	if f == nil {
		f = payment.NewFake()
		r.fakes[id] = f
	}
	return f
}

// doFunding runs the funding steps that are not plain commands.
func (r *runner) doFunding(ctx context.Context, st *Step, res *StepResult) (bool, error) {
	switch {
	case st.AutoRecharge != nil:
		s, err := r.state(ctx, st.Tenant)
		if err != nil {
			return true, err
		}
		_, err = r.submit(ctx, st, st.Key, tenant.SetAutoRecharge{Settings: *st.AutoRecharge, IfVersion: s.Recharge.Settings.Version}, res)
		return true, err
	case st.Kind == "payment":
		f := r.fake(st.Tenant)
		for _, o := range st.Outcomes {
			switch o {
			case OutcomeSucceeded:
				f.Script(payment.Succeed)
			case OutcomeTimeout:
				f.Script(payment.Timeout)
			case OutcomeUnreachable:
				f.Script(payment.Unreachable)
			default:
				f.Script(payment.Decline(o))
			}
		}
		return true, r.settlePayments(ctx, st.Tenant)
	}
	return false, nil
}

// settlePayments plays every card charge the tenant's outbox asks for against its fake
// provider, as the payment job would (an unknown outcome is retried with the same key up to
// jobs.PaymentMaxAttempts times), reports each outcome through the writer, and goes on
// while the engine asks for more (a recharge that leaves the balance below the trigger).
// Retries due by the clock are started first.
func (r *runner) settlePayments(ctx context.Context, id string) error {
	charger := jobs.ProviderCharger{Provider: r.fake(id)}
	rep := outbox.Reporter{Writer: r.w}
	for range 100 {
		if err := r.dueRetries(ctx); err != nil {
			return err
		}
		rows, err := r.st.PendingOutboxRows(ctx, 1000, "start_attempt")
		if err != nil {
			return err
		}
		done := 0
		for _, row := range rows {
			if row.Tenant != id {
				continue
			}
			var it struct{ Action recharge.StartAttempt }
			if err := json.Unmarshal(row.Body, &it); err != nil {
				return err
			}
			a := it.Action
			pa := jobs.PaymentAttempt{Tenant: id, AttemptKey: a.Key, Amount: int64(a.Amount), Currency: row.Currency.Code,
				PaymentMethod: a.PaymentMethod, Customer: a.Customer, Purpose: string(a.Purpose), Round: a.Round}
			var pr jobs.PaymentReport
			for try := 1; ; try++ {
				res, err := charger.Charge(ctx, pa)
				pr = jobs.PaymentReport{Attempt: pa, Result: res, Err: err, Tries: try}
				var pe *payment.Error
				if errAs(err, &pe) {
					pr.Code, pr.Reason = pe.Code, pe.Reason
				}
				k := payment.KindOf(err)
				if k == payment.KindUnknownOutcome && try < jobs.PaymentMaxAttempts {
					continue
				}
				switch k {
				case 0:
					pr.Outcome = jobs.OutcomeSucceeded
				case payment.KindHardDecline:
					pr.Outcome = jobs.OutcomeHardDecline
				case payment.KindSoftDecline:
					pr.Outcome = jobs.OutcomeSoftDecline
				case payment.KindRejected:
					pr.Outcome = jobs.OutcomeRejected
				default:
					pr.Outcome = jobs.OutcomeUnknown
				}
				break
			}
			if err := rep.ReportPayment(ctx, pr); err != nil {
				return err
			}
			if err := r.st.MarkOutboxDone(ctx, id, row.Key, r.clock.Now()); err != nil {
				return err
			}
			done++
		}
		if done == 0 {
			return nil
		}
	}
	return fmt.Errorf("scenario: more than 100 rounds of payments for %q", id)
}

// dueRetries starts the retries whose time has come (tenant.RetryDue), as the outbox
// dispatcher does.
func (r *runner) dueRetries(ctx context.Context) error {
	rows, err := r.st.PendingOutboxRows(ctx, 1000, "schedule_retry")
	if err != nil {
		return err
	}
	for _, row := range rows {
		var it struct{ Action recharge.ScheduleRetry }
		if err := json.Unmarshal(row.Body, &it); err != nil {
			return err
		}
		if it.Action.At.After(r.clock.Now()) {
			continue
		}
		if _, err := r.w.Submit(ctx, row.Tenant, "", tenant.RetryDue{Key: it.Action.Key}); err != nil {
			return err
		}
		if err := r.st.MarkOutboxDone(ctx, row.Tenant, row.Key, r.clock.Now()); err != nil {
			return err
		}
	}
	return nil
}

// notifications returns the tenant's notification ids in the order the outbox has them.
func (r *runner) notifications(ctx context.Context, id string) ([]string, error) {
	items, err := r.st.PendingOutbox(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		if it.Kind == "notify" {
			out = append(out, strings.TrimPrefix(it.Key, "notify:"))
		}
	}
	return out, nil
}

func countTypes(ids []string) map[notify.Type]int {
	n := map[notify.Type]int{}
	for _, id := range ids {
		t, _, _ := strings.Cut(id, "/")
		n[notify.Type(t)]++
	}
	return n
}

func errAs(err error, target any) bool { return err != nil && errors.As(err, target) }

// expectFunding checks the funding fields of an expect step.
func (r *runner) expectFunding(ctx context.Context, st *Step, fail func(field, format string, args ...any)) error {
	x, id := st.Expect, st.Tenant
	if len(x.Notifications) > 0 {
		ids, err := r.notifications(ctx, id)
		if err != nil {
			return err
		}
		got := countTypes(ids)
		for _, t := range sortedKeys(x.Notifications) {
			if n := got[notify.Type(t)]; n != x.Notifications[t] {
				fail("notifications."+t, "want %d, got %d", x.Notifications[t], n)
			}
		}
	}
	if x.Charges != nil {
		if n := len(r.fake(id).Charges()); n != *x.Charges {
			fail("charges", "want %d, got %d", *x.Charges, n)
		}
	}
	if x.Receipts != nil {
		rs, err := r.st.Receipts(ctx, id, "", 0)
		if err != nil {
			return err
		}
		if len(rs) != *x.Receipts {
			fail("receipts", "want %d, got %d", *x.Receipts, len(rs))
		}
	}
	if x.Suspended != nil || x.InFlight != nil {
		s, err := r.state(ctx, id)
		if err != nil {
			return err
		}
		if x.Suspended != nil && s.Recharge.Suspended != *x.Suspended {
			fail("suspended", "want %v, got %v (%s)", *x.Suspended, s.Recharge.Suspended, s.Recharge.SuspendedReason)
		}
		if x.InFlight != nil && (s.Recharge.InFlight != nil) != *x.InFlight {
			fail("in_flight", "want %v, got %+v", *x.InFlight, s.Recharge.InFlight)
		}
	}
	return nil
}
