package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/notify"
)

const (
	notifyDeleteContacts = `DELETE FROM billing_contacts WHERE tenant_id = ?`
	notifyInsertContact  = `INSERT INTO billing_contacts (tenant_id, email, name, position) VALUES (?, ?, ?, ?)`
	notifyDeleteWebhooks = `DELETE FROM webhooks WHERE tenant_id = ?`
	notifyInsertWebhook  = `INSERT INTO webhooks (tenant_id, id, url, secret, events) VALUES (?, ?, ?, ?, ?)`
)

func init() {
	prepared = append(prepared, notifyDeleteContacts, notifyInsertContact, notifyDeleteWebhooks, notifyInsertWebhook)
}

// notifyStmts rewrites the tenant's billing contacts and webhooks as d has them (a few rows
// at most, changed rarely: replacing them all is simpler than diffing).
func notifyStmts(stmts []stmt, tenant string, d *directory.Directory) []stmt {
	stmts = append(stmts, stmt{notifyDeleteContacts, []any{tenant}}, stmt{notifyDeleteWebhooks, []any{tenant}})
	for i, c := range d.Contacts {
		stmts = append(stmts, stmt{notifyInsertContact, []any{tenant, c.Email, c.Name, int64(i)}})
	}
	for _, id := range sortedKeys(d.Webhooks) {
		w := d.Webhooks[id]
		stmts = append(stmts, stmt{notifyInsertWebhook, []any{tenant, w.ID, w.URL, w.Secret, strings.Join(w.Events, ",")}})
	}
	return stmts
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func loadContacts(ctx context.Context, q querier, tenant string) ([]directory.Contact, error) {
	var out []directory.Contact
	err := each(ctx, q, `SELECT email, name FROM billing_contacts WHERE tenant_id = ? ORDER BY position, email`, []any{tenant},
		func(r rows) error {
			var c directory.Contact
			if err := r.Scan(&c.Email, &c.Name); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	return out, err
}

func loadWebhooks(ctx context.Context, q querier, tenant string) ([]directory.Webhook, error) {
	var out []directory.Webhook
	err := each(ctx, q, `SELECT id, url, secret, events FROM webhooks WHERE tenant_id = ? ORDER BY id`, []any{tenant},
		func(r rows) error {
			var w directory.Webhook
			var events string
			if err := r.Scan(&w.ID, &w.URL, &w.Secret, &events); err != nil {
				return err
			}
			if events != "" {
				w.Events = strings.Split(events, ",")
			}
			out = append(out, w)
			return nil
		})
	return out, err
}

// loadNotify fills d's contacts and webhooks.
func loadNotify(ctx context.Context, q querier, d *directory.Directory) error {
	cs, err := loadContacts(ctx, q, d.Tenant)
	if err != nil {
		return fmt.Errorf("billing contacts of %q: %w", d.Tenant, err)
	}
	ws, err := loadWebhooks(ctx, q, d.Tenant)
	if err != nil {
		return fmt.Errorf("webhooks of %q: %w", d.Tenant, err)
	}
	d.Contacts = cs
	for i := range ws {
		d.Webhooks[ws[i].ID] = &ws[i]
	}
	return nil
}

// BillingContacts lists the tenant's billing contacts in the order they were added.
func (s *SQL) BillingContacts(ctx context.Context, tenant string) ([]directory.Contact, error) {
	return loadContacts(ctx, s.read, tenant)
}

// BillingEmails implements jobs.Contacts.
func (s *SQL) BillingEmails(ctx context.Context, tenant string) ([]string, error) {
	cs, err := loadContacts(ctx, s.read, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Email
	}
	return out, nil
}

// WebhookView is a webhook endpoint as the admin sees it: the secret is never shown again
// after it was set, only its last four characters.
type WebhookView struct {
	ID         string   `json:"id"`
	URL        string   `json:"url"`
	Events     []string `json:"events,omitempty"`
	SecretHint string   `json:"secret_hint"` // "…a1b2"
}

// Webhooks lists the tenant's webhook endpoints without their secrets, by id.
func (s *SQL) Webhooks(ctx context.Context, tenant string) ([]WebhookView, error) {
	ws, err := loadWebhooks(ctx, s.read, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]WebhookView, len(ws))
	for i, w := range ws {
		hint := w.Secret
		if len(hint) > 4 {
			hint = hint[len(hint)-4:]
		}
		out[i] = WebhookView{ID: w.ID, URL: w.URL, Events: w.Events, SecretHint: "…" + hint}
	}
	return out, nil
}

// Endpoints implements jobs.Webhooks: the tenant's endpoints that take events of type t.
func (s *SQL) Endpoints(ctx context.Context, tenant string, t notify.Type) ([]jobs.Endpoint, error) {
	ws, err := loadWebhooks(ctx, s.read, tenant)
	if err != nil {
		return nil, err
	}
	var out []jobs.Endpoint
	for i := range ws {
		if ws[i].Wants(t) {
			out = append(out, jobs.Endpoint{ID: ws[i].ID, URL: ws[i].URL, Secret: ws[i].Secret})
		}
	}
	return out, nil
}

var (
	_ jobs.Contacts = (*SQL)(nil)
	_ jobs.Webhooks = (*SQL)(nil)
)

// TenantName returns the tenant's display name (jobs.TenantNames).
func (s *SQL) TenantName(ctx context.Context, id string) (string, error) {
	t, err := s.Tenant(ctx, id)
	return t.Name, err
}

// NotifyEvent returns the notification event id of tenant as its outbox row holds it (for a
// manual resend: jobs.(*Jobs).Resend). ErrNotFound when the tenant has no such event.
func (s *SQL) NotifyEvent(ctx context.Context, tenant, id string) (notify.Event, error) {
	var ev *notify.Event
	err := each(ctx, s.read, `SELECT body FROM outbox WHERE tenant_id = ? AND key = ? AND kind = 'notify'`,
		[]any{tenant, "notify:" + id}, func(r rows) error {
			var body string
			if err := r.Scan(&body); err != nil {
				return err
			}
			var it struct{ Event *notify.Event }
			if err := json.Unmarshal([]byte(body), &it); err != nil {
				return err
			}
			ev = it.Event
			return nil
		})
	if err != nil {
		return notify.Event{}, err
	}
	if ev == nil {
		return notify.Event{}, fmt.Errorf("notification %q of %q: %w", id, tenant, ErrNotFound)
	}
	return *ev, nil
}
