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

// NotifyWorker works Notify jobs.
type NotifyWorker struct {
	river.WorkerDefaults[Notify]
	Contacts Contacts
	Mailer   Mailer
	Webhooks Webhooks
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
	var errs []error
	invalid := true
	try := func(target string, send func() (int, error)) {
		done, err := w.log.delivered(ctx, job.Args.DedupKey, target)
		if err != nil {
			errs = append(errs, err)
			invalid = false
			return
		}
		if done {
			return
		}
		status, err := send()
		if lerr := w.log.record(ctx, delivery{key: job.Args.DedupKey, tenant: job.Args.Tenant, target: target,
			jobID: job.ID, attempt: job.Attempt, ok: err == nil, status: status, err: err}); lerr != nil {
			// The send may have happened; a retry may send again (at least once).
			errs = append(errs, lerr)
			invalid = false
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", target, err))
			invalid = invalid && errors.Is(err, notify.ErrInvalid)
		}
	}
	if w.Mailer != nil && w.Contacts != nil {
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

// Delivery is one row of the delivery log.
type Delivery struct {
	DedupKey   string
	Tenant     string
	Target     string
	JobID      int64
	Attempt    int
	OK         bool
	HTTPStatus int
	Error      string
	At         time.Time
}

// Deliveries returns the delivery log of one dedup key, oldest first.
func (j *Jobs) Deliveries(ctx context.Context, dedupKey string) ([]Delivery, error) {
	return j.store.list(ctx, dedupKey)
}

type delivery struct {
	key, tenant, target string
	jobID               int64
	attempt             int
	ok                  bool
	status              int
	err                 error
}

type logStore interface {
	delivered(ctx context.Context, key, target string) (bool, error)
	record(ctx context.Context, d delivery) error
	list(ctx context.Context, key string) ([]Delivery, error)
}

const (
	qDelivered = `SELECT 1 FROM jobs_delivery_log WHERE dedup_key = ? AND target = ? AND ok = ? LIMIT 1`
	qRecord    = `INSERT INTO jobs_delivery_log (dedup_key, tenant_id, target, job_id, attempt, ok, http_status, error, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qList = `SELECT dedup_key, tenant_id, target, job_id, attempt, ok, http_status, error, at
		FROM jobs_delivery_log WHERE dedup_key = ? ORDER BY id`
)

func recordArgs(d delivery) []any {
	msg := ""
	if d.err != nil {
		msg = d.err.Error()
		if len(msg) > 2000 {
			msg = msg[:2000]
		}
	}
	return []any{d.key, d.tenant, d.target, d.jobID, d.attempt, d.ok, d.status, msg, time.Now().UnixNano()}
}

// sqlLog is the delivery log on River's SQLite connection (not the engine's
// write connection: these are short autocommit writes that take their turn
// at the write lock).
type sqlLog struct{ d *sql.DB }

func (s sqlLog) delivered(ctx context.Context, key, target string) (bool, error) {
	var one int
	err := s.d.QueryRowContext(ctx, qDelivered, key, target, true).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (s sqlLog) record(ctx context.Context, d delivery) error {
	_, err := s.d.ExecContext(context.WithoutCancel(ctx), qRecord, recordArgs(d)...)
	return err
}

func (s sqlLog) list(ctx context.Context, key string) ([]Delivery, error) {
	r, err := s.d.QueryContext(ctx, qList, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Delivery
	for r.Next() {
		var d Delivery
		var at int64
		if err := r.Scan(&d.DedupKey, &d.Tenant, &d.Target, &d.JobID, &d.Attempt, &d.OK, &d.HTTPStatus, &d.Error, &at); err != nil {
			return nil, err
		}
		d.At = time.Unix(0, at).UTC()
		out = append(out, d)
	}
	return out, r.Err()
}

type pgLog struct{ p *pgxpool.Pool }

func (p pgLog) delivered(ctx context.Context, key, target string) (bool, error) {
	r, err := p.p.Query(ctx, rebind(qDelivered), key, target, true)
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

func (p pgLog) list(ctx context.Context, key string) ([]Delivery, error) {
	r, err := p.p.Query(ctx, rebind(qList), key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Delivery
	for r.Next() {
		var d Delivery
		var at int64
		var attempt, status int32
		if err := r.Scan(&d.DedupKey, &d.Tenant, &d.Target, &d.JobID, &attempt, &d.OK, &status, &d.Error, &at); err != nil {
			return nil, err
		}
		d.Attempt, d.HTTPStatus = int(attempt), int(status)
		d.At = time.Unix(0, at).UTC()
		out = append(out, d)
	}
	return out, r.Err()
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
