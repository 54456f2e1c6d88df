package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/commcredits/commcredits/internal/notify"
)

// Notify delivers one notification event (a notify.Event as JSON) by email to
// the tenant's billing contacts and to each of its webhook endpoints. Unique
// by DedupKey (the event's notify.Key): the same state change enqueued twice
// inserts one job while River keeps the first (24 h after completion); beyond
// that, the delivery log keeps a delivered target from being sent again.
type Notify struct {
	Tenant   string          `json:"tenant"`
	DedupKey string          `json:"dedup_key" river:"unique"`
	Event    json.RawMessage `json:"event"`
	// Resend names a manual resend (see Jobs.Resend): its targets are sent again even if
	// the original delivery reached them, once per Resend. Only, if set, limits it to one
	// target ("email" or "webhook:<id>").
	Resend string `json:"resend,omitempty" river:"unique"`
	Only   string `json:"only,omitempty"`
}

// KindNotify is Notify's River kind.
const KindNotify = "notify"

// NotifyMaxAttempts spreads retries over about three days with River's
// default schedule (attempt^4 seconds).
const NotifyMaxAttempts = 25

func (Notify) Kind() string { return KindNotify }

// InsertOpts puts notifications on their queue, unique per dedup key.
func (Notify) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueNotify, MaxAttempts: NotifyMaxAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// NewNotify builds the job for e (validated, so a bad event fails at enqueue
// time inside the state change's transaction, not later in a worker).
func NewNotify(e notify.Event) (Notify, error) {
	if err := e.Validate(); err != nil {
		return Notify{}, err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return Notify{}, fmt.Errorf("jobs: encode event: %w", err)
	}
	return Notify{Tenant: e.TenantID, DedupKey: e.ID, Event: b}, nil
}

// Contacts gives a tenant's billing email addresses.
type Contacts interface {
	BillingEmails(ctx context.Context, tenant string) ([]string, error)
}

// Mailer sends a rendered email; *notify.SMTPSender implements it.
type Mailer interface {
	Send(ctx context.Context, to []string, msg notify.Message) error
}

// Endpoint is one webhook endpoint of a tenant.
type Endpoint struct {
	ID     string // stable id, used in the delivery log target "webhook:<ID>"
	URL    string
	Secret string
}

// Webhooks gives a tenant's webhook endpoints that want the event type.
type Webhooks interface {
	Endpoints(ctx context.Context, tenant string, t notify.Type) ([]Endpoint, error)
}

// TenantNames gives a tenant's display name for the email greeting and the webhook
// payload; *store.SQL's TenantName is one.
type TenantNames func(ctx context.Context, tenant string) (string, error)

// ErrNoMailer fails the email target when no SMTP relay is configured: the job retries
// with back-off, so the mail goes out once the process runs with one.
var ErrNoMailer = errors.New("jobs: no SMTP relay configured")

// NotifyWorker works Notify jobs.
type NotifyWorker struct {
	river.WorkerDefaults[Notify]
	Contacts Contacts
	Mailer   Mailer // nil: email targets fail with ErrNoMailer and are retried
	Webhooks Webhooks
	Names    TenantNames
	HTTP     *http.Client
	log      logStore
}

// TargetEmail is the delivery log target of the email.
const TargetEmail = "email"

// Work sends to every target not yet delivered for this dedup key and logs
// each try. Any failed target fails the job, so River retries it with
// back-off; targets that succeeded are skipped on the retry. An invalid event
// or address (notify.ErrInvalid) is logged and cancels the job: retrying
// cannot fix it.
func (w *NotifyWorker) Work(ctx context.Context, job *river.Job[Notify]) error {
	var e notify.Event
	if err := json.Unmarshal(job.Args.Event, &e); err != nil {
		return river.JobCancel(fmt.Errorf("jobs: decode event %s: %w", job.Args.DedupKey, err))
	}
	if e.ID == "" {
		e.ID = job.Args.DedupKey
	}
	if e.TenantName == "" && w.Names != nil {
		if name, err := w.Names(ctx, job.Args.Tenant); err == nil {
			e.TenantName = name
		}
	}
	var errs []error
	invalid := true
	try := func(target string, send func() (int, error)) {
		if job.Args.Only != "" && job.Args.Only != target {
			return
		}
		done, err := w.log.delivered(ctx, job.Args.DedupKey, target, job.Args.Resend)
		if err != nil {
			errs = append(errs, err)
			invalid = false
			return
		}
		if done {
			return
		}
		began := time.Now()
		status, err := send()
		if lerr := w.log.record(ctx, delivery{key: job.Args.DedupKey, tenant: job.Args.Tenant, target: target,
			jobID: job.ID, attempt: job.Attempt, ok: err == nil, status: status, err: err,
			took: time.Since(began), resend: job.Args.Resend}); lerr != nil {
			// The send may have happened; a retry may send again (at least once).
			errs = append(errs, lerr)
			invalid = false
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", target, err))
			invalid = invalid && errors.Is(err, notify.ErrInvalid)
		}
	}
	if w.Contacts != nil {
		to, err := w.Contacts.BillingEmails(ctx, job.Args.Tenant)
		switch {
		case err != nil:
			errs, invalid = append(errs, fmt.Errorf("jobs: contacts of %s: %w", job.Args.Tenant, err)), false
		case len(to) > 0:
			try(TargetEmail, func() (int, error) {
				msg, err := notify.Render(e)
				if err != nil {
					return 0, err
				}
				if w.Mailer == nil {
					return 0, ErrNoMailer
				}
				return 0, w.Mailer.Send(ctx, to, msg)
			})
		}
	}
	if w.Webhooks != nil {
		eps, err := w.Webhooks.Endpoints(ctx, job.Args.Tenant, e.Type)
		if err != nil {
			errs, invalid = append(errs, fmt.Errorf("jobs: webhooks of %s: %w", job.Args.Tenant, err)), false
		}
		for _, ep := range eps {
			try("webhook:"+ep.ID, func() (int, error) {
				return notify.Deliver(ctx, w.HTTP, ep.URL, ep.Secret, e)
			})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	err := errors.Join(errs...)
	if invalid {
		return river.JobCancel(err)
	}
	return err
}

// Delivery is one row of the delivery log: one try of one target.
type Delivery struct {
	DedupKey   string        `json:"event_id"`
	Tenant     string        `json:"tenant"`
	Target     string        `json:"target"` // "email" or "webhook:<id>"
	JobID      int64         `json:"job_id"`
	Attempt    int           `json:"attempt"`
	OK         bool          `json:"ok"`
	HTTPStatus int           `json:"http_status,omitempty"`
	Error      string        `json:"error,omitempty"`
	Duration   time.Duration `json:"duration_ns"`
	Resend     string        `json:"resend,omitempty"` // the manual resend it belongs to
	At         time.Time     `json:"at"`
}

// Deliveries returns the delivery log of one dedup key, oldest first.
func (j *Jobs) Deliveries(ctx context.Context, dedupKey string) ([]Delivery, error) {
	return j.store.list(ctx, qList, dedupKey)
}

// TenantDeliveries returns a tenant's last limit delivery tries (default 100), newest first.
func (j *Jobs) TenantDeliveries(ctx context.Context, tenant string, limit int) ([]Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	return j.store.list(ctx, qListTenant, tenant, limit)
}

// Resend enqueues a fresh delivery of a logged event e (the event as the outbox holds it):
// every target, or only target ("email", "webhook:<id>") when not empty, is sent again even
// if it was delivered before. The new tries are logged under the same dedup key with the
// resend's name, which it returns.
func (j *Jobs) Resend(ctx context.Context, e notify.Event, target string, now time.Time) (string, error) {
	n, err := NewNotify(e)
	if err != nil {
		return "", err
	}
	if target != "" && target != TargetEmail && !strings.HasPrefix(target, "webhook:") {
		return "", fmt.Errorf("%w: target %q is not email or webhook:<id>", notify.ErrInvalid, target)
	}
	n.Resend, n.Only = fmt.Sprintf("resend-%d", now.UnixNano()), target
	if _, err := j.Enqueue(ctx, n); err != nil {
		return "", err
	}
	return n.Resend, nil
}

type delivery struct {
	key, tenant, target string
	jobID               int64
	attempt             int
	ok                  bool
	status              int
	err                 error
	took                time.Duration
	resend              string
}

type logStore interface {
	delivered(ctx context.Context, key, target, resend string) (bool, error)
	record(ctx context.Context, d delivery) error
	list(ctx context.Context, q string, args ...any) ([]Delivery, error)
}

const (
	qDelivered = `SELECT 1 FROM jobs_delivery_log WHERE dedup_key = ? AND target = ? AND ok = ? AND resend = ? LIMIT 1`
	qRecord    = `INSERT INTO jobs_delivery_log (dedup_key, tenant_id, target, job_id, attempt, ok, http_status, error, at, duration_ns, resend)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	logCols     = `dedup_key, tenant_id, target, job_id, attempt, ok, http_status, error, at, duration_ns, resend`
	qList       = `SELECT ` + logCols + ` FROM jobs_delivery_log WHERE dedup_key = ? ORDER BY id`
	qListTenant = `SELECT ` + logCols + ` FROM jobs_delivery_log WHERE tenant_id = ? ORDER BY at DESC, id DESC LIMIT ?`
)

func recordArgs(d delivery) []any {
	msg := ""
	if d.err != nil {
		msg = d.err.Error()
		if len(msg) > 2000 {
			msg = msg[:2000]
		}
	}
	return []any{d.key, d.tenant, d.target, d.jobID, d.attempt, d.ok, d.status, msg, time.Now().UnixNano(), int64(d.took), d.resend}
}

// sqlLog is the delivery log on River's SQLite connection (not the engine's
// write connection: these are short autocommit writes that take their turn
// at the write lock).
type sqlLog struct{ d *sql.DB }

func (s sqlLog) delivered(ctx context.Context, key, target, resend string) (bool, error) {
	var one int
	err := s.d.QueryRowContext(ctx, qDelivered, key, target, true, resend).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (s sqlLog) record(ctx context.Context, d delivery) error {
	_, err := s.d.ExecContext(context.WithoutCancel(ctx), qRecord, recordArgs(d)...)
	return err
}

type scanner interface{ Scan(dest ...any) error }

func scanDelivery(r scanner) (Delivery, error) {
	var d Delivery
	var at, took, jobID, attempt, status int64
	if err := r.Scan(&d.DedupKey, &d.Tenant, &d.Target, &jobID, &attempt, &d.OK, &status, &d.Error, &at, &took, &d.Resend); err != nil {
		return d, err
	}
	d.JobID, d.Attempt, d.HTTPStatus, d.Duration = jobID, int(attempt), int(status), time.Duration(took)
	d.At = time.Unix(0, at).UTC()
	return d, nil
}

// rows is what database/sql's and pgx's result sets share.
type rows interface {
	scanner
	Next() bool
	Err() error
}

func scanDeliveries(r rows) ([]Delivery, error) {
	var out []Delivery
	for r.Next() {
		d, err := scanDelivery(r)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, r.Err()
}

func (s sqlLog) list(ctx context.Context, q string, args ...any) ([]Delivery, error) {
	r, err := s.d.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return scanDeliveries(r)
}

type pgLog struct{ p *pgxpool.Pool }

func (p pgLog) delivered(ctx context.Context, key, target, resend string) (bool, error) {
	r, err := p.p.Query(ctx, rebind(qDelivered), key, target, true, resend)
	if err != nil {
		return false, err
	}
	defer r.Close()
	found := r.Next()
	r.Close()
	return found, r.Err()
}

func (p pgLog) record(ctx context.Context, d delivery) error {
	_, err := p.p.Exec(context.WithoutCancel(ctx), rebind(qRecord), recordArgs(d)...)
	return err
}

func (p pgLog) list(ctx context.Context, q string, args ...any) ([]Delivery, error) {
	r, err := p.p.Query(ctx, rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return scanDeliveries(r)
}

// rebind turns ? placeholders into $1, $2, ... (no literal here holds ?).
func rebind(q string) string {
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
