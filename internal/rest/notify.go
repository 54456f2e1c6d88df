package rest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
)

// ContactOut is a billing contact.
type ContactOut struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

// WebhookOut is a webhook endpoint; Secret is set only in the response that created it or
// set a new secret, SecretHint (its last four characters) always.
type WebhookOut struct {
	store.WebhookView
	Secret string `json:"secret,omitempty" doc:"the signing secret: shown once"`
}

// ReceiptOut is a receipt or invoice.
type ReceiptOut struct {
	Number        string `json:"number"`
	Kind          string `json:"kind"`
	Purpose       string `json:"purpose,omitempty"`
	Amount        string `json:"amount"`
	Currency      string `json:"currency"`
	Method        string `json:"method,omitempty"`
	MethodSummary string `json:"method_summary,omitempty"`
	Agreement     string `json:"agreement,omitempty"`
	PurchaseOrder string `json:"purchase_order,omitempty"`
	PaymentID     string `json:"payment_id,omitempty"`
	LotID         int64  `json:"lot_id,omitempty"`
	IssuedAt      string `json:"issued_at"`
}

func receiptOut(r tenant.Receipt) ReceiptOut {
	return ReceiptOut{Number: r.Number, Kind: string(r.Kind), Purpose: string(r.Purpose), Amount: r.Amount.Format(r.Currency),
		Currency: r.Currency.Code, Method: r.Method, MethodSummary: r.MethodSummary, Agreement: r.Agreement,
		PurchaseOrder: r.PurchaseOrder, PaymentID: r.PaymentID, LotID: r.LotID, IssuedAt: r.IssuedAt.Format(time.RFC3339)}
}

// relocate renames problem locations (body.email → path.email) where the engine's field
// came from the path; with from "", it names to in a problem that names nothing.
func relocate(err error, from, to string) error {
	if m, ok := err.(*huma.ErrorModel); ok {
		if from == "" && len(m.Errors) == 0 && m.Status < 500 {
			m.Errors = append(m.Errors, &huma.ErrorDetail{Location: to})
			return m
		}
		for _, d := range m.Errors {
			if d.Location == from {
				d.Location = to
			}
		}
	}
	return err
}

func (a *API) webhook(ctx context.Context, tenantID, id string) (store.WebhookView, error) {
	ws, err := a.svc.Store.Webhooks(ctx, tenantID)
	if err != nil {
		return store.WebhookView{}, problem(err)
	}
	for _, w := range ws {
		if w.ID == id {
			return w, nil
		}
	}
	return store.WebhookView{}, huma.Error404NotFound("webhook not found", &huma.ErrorDetail{Location: "path.webhook_id", Value: id})
}

func (a *API) notifyRoutes() {
	// Billing contacts.
	type contactsOut struct {
		Body struct {
			Items []ContactOut `json:"items"`
		}
	}
	huma.Register(a, a.op("list-notification-contacts", http.MethodGet, "/v1/tenants/{tenant}/notification-contacts",
		"Billing contacts: the addresses that get the billing emails (at most 20)", accBilling, "notifications"),
		func(ctx context.Context, in *TenantPath) (*contactsOut, error) {
			if _, err := a.svc.Store.Tenant(ctx, in.Tenant); err != nil {
				return nil, problem(err)
			}
			cs, err := a.svc.Store.BillingContacts(ctx, in.Tenant)
			if err != nil {
				return nil, problem(err)
			}
			out := &contactsOut{}
			out.Body.Items = []ContactOut{}
			for _, c := range cs {
				out.Body.Items = append(out.Body.Items, ContactOut(c))
			}
			return out, nil
		})
	type contactIn struct {
		TenantPath
		IdemHeader
		Email string `path:"email" maxLength:"254" doc:"the contact's address (the key)"`
		Body  struct {
			Name string `json:"name,omitempty" maxLength:"256"`
		}
	}
	huma.Register(a, a.op("put-notification-contact", http.MethodPut, "/v1/tenants/{tenant}/notification-contacts/{email}",
		"Add a billing contact or rename one", accBilling, "notifications"),
		func(ctx context.Context, in *contactIn) (*resultOut, error) {
			out, err := a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.PutBillingContact{Contact: directory.Contact{Email: in.Email, Name: in.Body.Name}})
			return out, relocate(err, "body.email", "path.email")
		})
	type contactDelIn struct {
		TenantPath
		Email string `path:"email" maxLength:"254"`
	}
	huma.Register(a, a.op("remove-notification-contact", http.MethodDelete, "/v1/tenants/{tenant}/notification-contacts/{email}",
		"Remove a billing contact", accBilling, "notifications"),
		func(ctx context.Context, in *contactDelIn) (*resultOut, error) {
			out, err := a.submit(ctx, in.Tenant, "", directory.RemoveBillingContact{Email: in.Email})
			return out, relocate(err, "body.email", "path.email")
		})

	// Webhooks.
	type webhooksOut struct {
		Body struct {
			Items []WebhookOut `json:"items"`
		}
	}
	huma.Register(a, a.op("list-webhooks", http.MethodGet, "/v1/tenants/{tenant}/webhooks",
		"Webhook endpoints (at most 10); secrets show their last four characters only", accBilling, "notifications"),
		func(ctx context.Context, in *TenantPath) (*webhooksOut, error) {
			if _, err := a.svc.Store.Tenant(ctx, in.Tenant); err != nil {
				return nil, problem(err)
			}
			ws, err := a.svc.Store.Webhooks(ctx, in.Tenant)
			if err != nil {
				return nil, problem(err)
			}
			out := &webhooksOut{}
			out.Body.Items = []WebhookOut{}
			for _, w := range ws {
				out.Body.Items = append(out.Body.Items, WebhookOut{WebhookView: w})
			}
			return out, nil
		})
	type WebhookPath struct {
		TenantPath
		WebhookID string `path:"webhook_id" maxLength:"128"`
	}
	type webhookOut struct {
		ETag     string `header:"ETag"`
		Replayed string `header:"Idempotent-Replayed"`
		Body     WebhookOut
	}
	huma.Register(a, a.op("get-webhook", http.MethodGet, "/v1/tenants/{tenant}/webhooks/{webhook_id}", "One webhook endpoint, with its ETag", accBilling, "notifications"),
		func(ctx context.Context, in *WebhookPath) (*webhookOut, error) {
			if _, err := a.svc.Store.Tenant(ctx, in.Tenant); err != nil {
				return nil, problem(err)
			}
			w, err := a.webhook(ctx, in.Tenant, in.WebhookID)
			if err != nil {
				return nil, err
			}
			return &webhookOut{ETag: etagOf(w), Body: WebhookOut{WebhookView: w}}, nil
		})

	type WebhookIn struct {
		URL    string   `json:"url" minLength:"1" maxLength:"2048" doc:"https URL on a public host"`
		Events []string `json:"events,omitempty" maxItems:"20" doc:"event types to send; empty: every event"`
		Secret string   `json:"secret,omitempty" maxLength:"256" doc:"signing secret (16–256 printable characters); default a new one is generated and shown once"`
	}
	type createWebhookIn struct {
		TenantPath
		IdemHeader
		Body struct {
			ID string `json:"id,omitempty" maxLength:"128" doc:"default wh_ and random hex"`
			WebhookIn
		}
	}
	co := a.op("create-webhook", http.MethodPost, "/v1/tenants/{tenant}/webhooks",
		"Create a webhook endpoint; the response shows its secret once", accBilling, "notifications")
	co.DefaultStatus = http.StatusCreated
	huma.Register(a, co,
		func(ctx context.Context, in *createWebhookIn) (*webhookOut, error) {
			// The id check and the command are one step against concurrent creates and replaces.
			defer a.lockTenant(in.Tenant)()
			if _, err := a.svc.Store.Tenant(ctx, in.Tenant); err != nil {
				return nil, problem(err)
			}
			// A replay must not show (nor set) another secret: the response is stored,
			// without the secret, under the key (as for API keys).
			hash := requestHash("create-webhook", in.Tenant, in.Body)
			_, body, replayed, err := a.svc.Remember(ctx, "tenant:"+in.Tenant+":webhooks", in.IdempotencyKey, hash,
				func() (int, []byte, []byte, error) {
					w := directory.Webhook{ID: in.Body.ID, URL: in.Body.URL, Events: in.Body.Events, Secret: in.Body.Secret}
					if w.ID == "" {
						w.ID = newWebhookID()
					} else if _, err := a.webhook(ctx, in.Tenant, w.ID); err == nil {
						return 0, nil, nil, huma.Error409Conflict("webhook "+w.ID+" exists: replace it with PUT", &huma.ErrorDetail{Location: "body.id", Value: w.ID})
					}
					if w.Secret == "" {
						w.Secret = directory.NewWebhookSecret()
					}
					if _, err := a.submit(ctx, in.Tenant, "", directory.PutWebhook{Webhook: w}); err != nil {
						return 0, nil, nil, err
					}
					view, err := a.webhook(ctx, in.Tenant, w.ID)
					if err != nil {
						return 0, nil, nil, err
					}
					stored, _ := json.Marshal(WebhookOut{WebhookView: view})
					full, _ := json.Marshal(WebhookOut{WebhookView: view, Secret: w.Secret})
					return http.StatusCreated, full, stored, nil
				})
			if err != nil {
				return nil, problem(err)
			}
			out := &webhookOut{}
			if err := json.Unmarshal(body, &out.Body); err != nil {
				return nil, problem(err)
			}
			out.ETag = etagOf(out.Body.WebhookView)
			if replayed {
				out.Replayed = "true"
			}
			return out, nil
		})

	type replaceWebhookIn struct {
		WebhookPath
		IdemHeader
		IfMatch string `header:"If-Match" maxLength:"200" doc:"ETag from GET; optional"`
		Body    WebhookIn
	}
	huma.Register(a, a.op("replace-webhook", http.MethodPut, "/v1/tenants/{tenant}/webhooks/{webhook_id}",
		"Replace a webhook endpoint (an empty secret keeps the current one)", accBilling, "notifications"),
		func(ctx context.Context, in *replaceWebhookIn) (*webhookOut, error) {
			defer a.lockTenant(in.Tenant)()
			if _, err := a.svc.Store.Tenant(ctx, in.Tenant); err != nil {
				return nil, problem(err)
			}
			cur, err := a.webhook(ctx, in.Tenant, in.WebhookID)
			if err != nil {
				return nil, err
			}
			if err := checkIfMatch(in.IfMatch, etagOf(cur)); err != nil {
				return nil, err
			}
			r, err := a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.PutWebhook{Webhook: directory.Webhook{ID: in.WebhookID,
				URL: in.Body.URL, Events: in.Body.Events, Secret: in.Body.Secret}})
			if err != nil {
				return nil, err
			}
			w, err := a.webhook(ctx, in.Tenant, in.WebhookID)
			if err != nil {
				return nil, err
			}
			return &webhookOut{ETag: etagOf(w), Replayed: r.Replayed, Body: WebhookOut{WebhookView: w}}, nil
		})
	huma.Register(a, a.op("delete-webhook", http.MethodDelete, "/v1/tenants/{tenant}/webhooks/{webhook_id}", "Delete a webhook endpoint", accBilling, "notifications"),
		func(ctx context.Context, in *WebhookPath) (*resultOut, error) {
			out, err := a.submit(ctx, in.Tenant, "", directory.DeleteWebhook{ID: in.WebhookID})
			return out, relocate(err, "body.id", "path.webhook_id")
		})

	// Delivery log and resends.
	type deliveriesOut struct {
		Body struct {
			Items      []jobs.Delivery `json:"items"`
			NextCursor string          `json:"next_cursor,omitempty"`
		}
	}
	huma.Register(a, a.op("list-deliveries", http.MethodGet, "/v1/tenants/{tenant}/notifications/deliveries",
		"Delivery log of emails and webhooks, newest first (the last 10,000 tries)", accBilling, "notifications"),
		func(ctx context.Context, in *reportIn) (*deliveriesOut, error) {
			start, err := position(in.Cursor)
			if err != nil {
				return nil, err
			}
			const most = 10_000
			n := min(start+in.limit()+1, most)
			ds, err := a.svc.Deliveries(ctx, in.Tenant, n)
			if err != nil {
				return nil, problem(err)
			}
			out := &deliveriesOut{}
			out.Body.Items, out.Body.NextCursor = positioned(ds, start, in.limit())
			return out, nil
		})
	type resendIn struct {
		TenantPath
		IdemHeader
		Body struct {
			// Event ids hold slashes (purchase_succeeded/acme/…): they travel in the body.
			EventID string `json:"event_id" minLength:"1" maxLength:"300" doc:"event_id of the delivery log"`
			Target  string `json:"target,omitempty" maxLength:"140" doc:"email or webhook:<id>; default every target"`
		}
	}
	type resendOut struct {
		Replayed string `header:"Idempotent-Replayed"`
		Body     struct {
			EventID string `json:"event_id"`
			Resend  string `json:"resend" doc:"the delivery log's resend name of the new tries"`
		}
	}
	huma.Register(a, a.op("resend-notification", http.MethodPost, "/v1/tenants/{tenant}/notifications/resend",
		"Send a logged notification again (503 when the job queue does not run in this server)", accBilling, "notifications"),
		func(ctx context.Context, in *resendIn) (*resendOut, error) {
			if t := in.Body.Target; t != "" && t != jobs.TargetEmail && !strings.HasPrefix(t, "webhook:") {
				return nil, problem(badField("body.target", t, "want email or webhook:<id>"))
			}
			if _, err := a.svc.Store.Tenant(ctx, in.Tenant); err != nil {
				return nil, problem(err)
			}
			_, body, replayed, err := a.svc.Remember(ctx, "tenant:"+in.Tenant+":resend", in.IdempotencyKey,
				requestHash("resend-notification", in.Tenant, in.Body), func() (int, []byte, []byte, error) {
					name, err := a.svc.Resend(ctx, in.Tenant, in.Body.EventID, in.Body.Target)
					if err != nil {
						return 0, nil, nil, err
					}
					b, _ := json.Marshal(map[string]string{"event_id": in.Body.EventID, "resend": name})
					return http.StatusOK, b, b, nil
				})
			if err != nil {
				return nil, relocate(problem(err), "", "body.event_id")
			}
			out := &resendOut{}
			if err := json.Unmarshal(body, &out.Body); err != nil {
				return nil, problem(err)
			}
			if replayed {
				out.Replayed = "true"
			}
			return out, nil
		})

	// Receipts.
	type receiptsOut struct {
		Body struct {
			Items      []ReceiptOut `json:"items"`
			NextCursor string       `json:"next_cursor,omitempty"`
		}
	}
	huma.Register(a, a.op("list-receipts", http.MethodGet, "/v1/tenants/{tenant}/receipts", "Receipts and invoices, by number", accRead, "credits"),
		func(ctx context.Context, in *reportIn) (*receiptsOut, error) {
			if _, err := a.svc.Store.Tenant(ctx, in.Tenant); err != nil {
				return nil, problem(err)
			}
			after := ""
			if in.Cursor != "" {
				after = decodeCursor(in.Cursor)
			}
			rs, err := a.svc.Store.Receipts(ctx, in.Tenant, after, in.limit()+1)
			if err != nil {
				return nil, problem(err)
			}
			out := &receiptsOut{}
			out.Body.Items, out.Body.NextCursor = fetched(rs, in.limit(), func(r tenant.Receipt) string { return r.Number }, receiptOut)
			return out, nil
		})
	type receiptIn struct {
		TenantPath
		Number string `path:"number" maxLength:"200"`
	}
	huma.Register(a, a.op("get-receipt", http.MethodGet, "/v1/tenants/{tenant}/receipts/{number}", "One receipt or invoice", accRead, "credits"),
		func(ctx context.Context, in *receiptIn) (*struct{ Body ReceiptOut }, error) {
			r, err := a.svc.Store.Receipt(ctx, in.Tenant, in.Number)
			if err != nil {
				return nil, relocate(problem(err), "", "path.number")
			}
			return &struct{ Body ReceiptOut }{receiptOut(r)}, nil
		})
	type documentOut struct {
		ContentType        string `header:"Content-Type"`
		ContentDisposition string `header:"Content-Disposition"`
		Body               []byte
	}
	o := a.op("get-receipt-document", http.MethodGet, "/v1/tenants/{tenant}/receipts/{number}/document",
		"Download a receipt or invoice document", accRead, "credits")
	o.Responses = map[string]*huma.Response{"200": {Description: "the document", Content: map[string]*huma.MediaType{"text/plain": {}}}}
	huma.Register(a, o, func(ctx context.Context, in *receiptIn) (*documentOut, error) {
		d, err := a.svc.Store.ReceiptDocument(ctx, in.Tenant, in.Number)
		if err != nil {
			return nil, relocate(problem(err), "", "path.number")
		}
		return &documentOut{ContentType: d.ContentType, ContentDisposition: `attachment; filename="` + d.Filename + `"`, Body: d.Body}, nil
	})
}

func newWebhookID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "wh_" + hex.EncodeToString(b[:])
}
