package web

import (
	"context"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
)

// The pages below are backed by packages that live elsewhere (internal/report, the funding
// contacts, webhooks and receipts). Each is a small interface: the server shows what the
// store offers when one is not given, and `commcredits serve` passes the real ones in.

// ReportSource is what the report pages read. The default reads the store's rows.
type ReportSource interface {
	Usage(ctx context.Context, tenantID string) ([]store.UsageRecord, error)
	PoolUsage(ctx context.Context, tenantID string) ([]store.PoolUsageRow, error)
	BlockEvents(ctx context.Context, tenantID string) ([]charging.BlockEvent, error)
	Refusals(ctx context.Context, tenantID string) ([]tenant.Refusal, error)
}

type storeReports struct{ s *store.SQL }

func (r storeReports) Usage(ctx context.Context, id string) ([]store.UsageRecord, error) {
	return r.s.ReportUsage(ctx, id)
}
func (r storeReports) PoolUsage(ctx context.Context, id string) ([]store.PoolUsageRow, error) {
	return r.s.ReportPoolUsage(ctx, id)
}
func (r storeReports) BlockEvents(ctx context.Context, id string) ([]charging.BlockEvent, error) {
	return r.s.ReportBlockEvents(ctx, id)
}
func (r storeReports) Refusals(ctx context.Context, id string) ([]tenant.Refusal, error) {
	return r.s.ReportRefusals(ctx, id)
}

// Contact is a notification contact of a tenant.
type Contact struct {
	Email  string
	Name   string
	Events []string // notification kinds; empty: all
}

// ContactSource lists and changes a tenant's notification contacts.
type ContactSource interface {
	Contacts(ctx context.Context, tenantID string) ([]Contact, error)
	AddContact(ctx context.Context, tenantID string, c Contact) error
	RemoveContact(ctx context.Context, tenantID, email string) error
}

// Webhook is a tenant's webhook endpoint.
type Webhook struct {
	ID     string
	URL    string
	Events []string
	Active bool
}

// Delivery is one attempt to deliver an event to a webhook.
type Delivery struct {
	ID         string
	WebhookID  string
	Event      string
	At         time.Time
	StatusCode int
	Error      string
}

// WebhookSource lists a tenant's webhooks with their delivery log and resends a delivery.
type WebhookSource interface {
	Webhooks(ctx context.Context, tenantID string) ([]Webhook, error)
	Deliveries(ctx context.Context, tenantID string, limit int) ([]Delivery, error)
	Resend(ctx context.Context, tenantID, deliveryID string) error
}

// Receipt is the invoice or receipt of one funding transaction (domain §6).
type Receipt struct {
	ID     string
	At     time.Time
	Amount money.Amount
	Method string
	URL    string // where the document is served
}

// ReceiptSource lists a tenant's receipts.
type ReceiptSource interface {
	Receipts(ctx context.Context, tenantID string) ([]Receipt, error)
}
