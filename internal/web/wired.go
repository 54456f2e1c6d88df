package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/store"
)

// The default sources of the pages whose data is the tenant state and the store: billing
// contacts are directory commands through the writer, receipts are stored by the funding
// path. Deps may replace either.

// dirContacts keeps billing contacts in the directory, changed through the writer.
type dirContacts struct {
	st  *store.SQL
	w   Submitter
	now func() time.Time
}

func (c dirContacts) Contacts(ctx context.Context, tenantID string) ([]Contact, error) {
	st, err := c.st.State(ctx, tenantID, c.now())
	if err != nil {
		return nil, err
	}
	out := make([]Contact, 0, len(st.Dir.Contacts))
	for _, x := range st.Dir.Contacts {
		out = append(out, Contact{Email: x.Email, Name: x.Name})
	}
	return out, nil
}

func (c dirContacts) AddContact(ctx context.Context, tenantID string, x Contact) error {
	_, err := c.w.Submit(ctx, tenantID, "web:contact:"+token(12), directory.PutBillingContact{Contact: directory.Contact{Email: x.Email, Name: x.Name}})
	return err
}

func (c dirContacts) RemoveContact(ctx context.Context, tenantID, email string) error {
	_, err := c.w.Submit(ctx, tenantID, "web:contact:"+token(12), directory.RemoveBillingContact{Email: email})
	return err
}

// storeReceipts lists the stored receipts; each links to its document on this UI.
type storeReceipts struct{ st *store.SQL }

func (r storeReceipts) Receipts(ctx context.Context, tenantID string) ([]Receipt, error) {
	rs, err := r.st.Receipts(ctx, tenantID, "", 0)
	if err != nil {
		return nil, err
	}
	out := make([]Receipt, 0, len(rs))
	for i := len(rs) - 1; i >= 0; i-- { // newest first
		x := rs[i]
		out = append(out, Receipt{ID: x.Number, At: x.IssuedAt, Amount: x.Amount, Method: x.MethodSummary,
			URL: "/ui/receipts/" + url.PathEscape(x.Number)})
	}
	return out, nil
}

// receiptDocument downloads a receipt or invoice of the session's tenant.
func (s *Server) receiptDocument(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	doc, err := s.d.Store.ReceiptDocument(r.Context(), c.tenant.ID, r.PathValue("number"))
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	w.Header().Set("Content-Type", doc.ContentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+doc.Filename+`"`)
	_, _ = w.Write(doc.Body)
}

// JobsWebhooks shows a tenant's webhook endpoints from the store and their delivery log from
// the jobs' log, and resends a logged delivery as a new job (`serve` wires it).
type JobsWebhooks struct {
	Store *store.SQL
	Jobs  *jobs.Jobs
	Now   func() time.Time
}

func (j JobsWebhooks) Webhooks(ctx context.Context, tenantID string) ([]Webhook, error) {
	ws, err := j.Store.Webhooks(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	out := make([]Webhook, 0, len(ws))
	for _, w := range ws {
		out = append(out, Webhook{ID: w.ID, URL: w.URL, Events: w.Events, Active: true})
	}
	return out, nil
}

// Deliveries lists the tenant's latest delivery tries, email and webhooks; a delivery's
// id names its event and target ("<event id>|<target>"), which Resend takes.
func (j JobsWebhooks) Deliveries(ctx context.Context, tenantID string, limit int) ([]Delivery, error) {
	ds, err := j.Jobs.TenantDeliveries(ctx, tenantID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, 0, len(ds))
	for _, d := range ds {
		x := Delivery{ID: d.DedupKey + "|" + d.Target, WebhookID: strings.TrimPrefix(d.Target, "webhook:"),
			Event: d.DedupKey + " → " + d.Target, At: d.At, StatusCode: d.HTTPStatus, Error: d.Error}
		if x.Error == "" && !d.OK {
			x.Error = "failed"
		}
		if d.OK && x.StatusCode == 0 {
			x.Error = "" // an email accepted by the relay
		}
		out = append(out, x)
	}
	return out, nil
}

func (j JobsWebhooks) Resend(ctx context.Context, tenantID, deliveryID string) error {
	// The page only sends ids from the log: anything else names no delivery (404, not 500).
	id, target, ok := strings.Cut(deliveryID, "|")
	if !ok || target != jobs.TargetEmail && !strings.HasPrefix(target, "webhook:") {
		return fmt.Errorf("delivery %q (want <event id>|email or <event id>|webhook:<id>): %w", deliveryID, store.ErrNotFound)
	}
	ev, err := j.Store.NotifyEvent(ctx, tenantID, id)
	if err != nil {
		return err
	}
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	_, err = j.Jobs.Resend(ctx, ev, target, now())
	return err
}
