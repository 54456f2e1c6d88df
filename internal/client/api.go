package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/commcredits/commcredits/internal/ingest"
	"github.com/commcredits/commcredits/internal/rest"
	"github.com/commcredits/commcredits/internal/store"
)

// Bodies the rest package declares inline; the field names and tags are the API's
// (docs/api.md). Everything else is the rest package's own type.

// CreateTenantIn is the body of POST /v1/tenants.
type CreateTenantIn struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Currency       string `json:"currency"`
	BillingCountry string `json:"billing_country,omitempty"`
}

// CreateKeyIn is the body of POST /v1/tenants/{tenant}/keys and /v1/operator/keys.
type CreateKeyIn struct {
	Role string `json:"role,omitempty"`
	Name string `json:"name,omitempty"`
}

// FundsIn is the body of POST …/credits/funds.
type FundsIn struct {
	Amount string `json:"amount"`
	Method string `json:"method,omitempty"`
}

// AutoRechargeIn is the body of PUT …/credits/auto-recharge.
type AutoRechargeIn struct {
	rest.AutoRecharge
	PaymentMethod string `json:"payment_method,omitempty"`
}

// AutoRechargeOut is GET …/credits/auto-recharge.
type AutoRechargeOut struct {
	rest.AutoRecharge
	PaymentMethod string `json:"payment_method,omitempty"`
	Suspended     bool   `json:"suspended"`
	Reason        string `json:"suspended_reason,omitempty"`
	Version       int64  `json:"version"`
}

// PaymentMethodIn is the body of PUT …/credits/payment-method.
type PaymentMethodIn struct {
	Method   string `json:"method"`
	ExpMonth int    `json:"exp_month,omitempty"`
	ExpYear  int    `json:"exp_year,omitempty"`
	Brand    string `json:"brand,omitempty"`
	Last4    string `json:"last4,omitempty"`
}

// LicencesIn is the body of POST …/licences/assign.
type LicencesIn struct {
	UserIDs []string `json:"user_ids"`
	Add     []string `json:"add,omitempty"`
	Remove  []string `json:"remove,omitempty"`
}

// NumberIn is the body of POST …/numbers.
type NumberIn struct {
	E164    string `json:"e164"`
	Kind    string `json:"kind"`
	Service string `json:"service,omitempty"`
}

// AuthorizeIn is the body of POST …/calls/authorize.
type AuthorizeIn struct {
	CallID         string    `json:"call_id"`
	Leg            string    `json:"leg,omitempty"`
	CallType       string    `json:"call_type"`
	Principal      string    `json:"principal"`
	Caller         string    `json:"caller,omitempty"`
	Callee         string    `json:"callee,omitempty"`
	ServiceNumber  string    `json:"service_number,omitempty"`
	Start          time.Time `json:"start,omitzero"`
	InitialSeconds int64     `json:"initial_seconds,omitempty"`
}

// SettleIn is the body of POST …/calls/{call_id}/settle.
type SettleIn struct {
	Leg     string    `json:"leg,omitempty"`
	Seconds int64     `json:"seconds"`
	End     time.Time `json:"end,omitzero"`
}

// CardOut is a stored rate card version as the upload answers it.
type CardOut struct {
	Service    string    `json:"service"`
	Currency   string    `json:"currency"`
	Version    int       `json:"version"`
	Rows       int       `json:"rows"`
	Digest     string    `json:"digest"`
	ImportedAt time.Time `json:"imported_at"`
}

func get[T any](ctx context.Context, c *Client, path string) (T, *Response, error) {
	var out T
	res, err := c.Get(ctx, path, nil, &out)
	return out, res, err
}

// post sends r (a POST unless r.Method says otherwise) and decodes the answer.
func post[T any](ctx context.Context, c *Client, r Request) (T, *Response, error) {
	var out T
	if r.Method == "" {
		r.Method = http.MethodPost
	}
	res, err := c.call(ctx, r, &out)
	return out, res, err
}

// CreateTenant creates a tenant.
func (c *Client) CreateTenant(ctx context.Context, in CreateTenantIn) (rest.TenantOut, *Response, error) {
	return post[rest.TenantOut](ctx, c, Request{Path: "/v1/tenants", JSON: in})
}

// Tenant reads a tenant.
func (c *Client) Tenant(ctx context.Context, id string) (rest.TenantOut, *Response, error) {
	return get[rest.TenantOut](ctx, c, T(id))
}

// CreateKey creates a key of tenant, or an operator key when tenant is "".
func (c *Client) CreateKey(ctx context.Context, tenant string, in CreateKeyIn) (rest.KeyOut, *Response, error) {
	p := T(tenant, "keys")
	if tenant == "" {
		p, in.Role = "/v1/operator/keys", ""
	}
	return post[rest.KeyOut](ctx, c, Request{Path: p, JSON: in})
}

// RevokeKey revokes a key of tenant, or an operator key when tenant is "".
func (c *Client) RevokeKey(ctx context.Context, tenant, id string) error {
	p := T(tenant, "keys", id)
	if tenant == "" {
		p = "/v1/operator/keys/" + url.PathEscape(id)
	}
	_, err := c.Do(ctx, Request{Method: http.MethodDelete, Path: p})
	return err
}

// PutUser creates or replaces a user.
func (c *Client) PutUser(ctx context.Context, tenant, id string, u rest.UserIn) (rest.CommandResult, *Response, error) {
	return post[rest.CommandResult](ctx, c, Request{Method: http.MethodPut, Path: T(tenant, "users", id), JSON: u})
}

// AssignLicences adds and removes licences of users, all or nothing.
func (c *Client) AssignLicences(ctx context.Context, tenant string, in LicencesIn) (rest.CommandResult, *Response, error) {
	return post[rest.CommandResult](ctx, c, Request{Path: T(tenant, "licences", "assign"), JSON: in})
}

// ImportLicences applies a licence CSV (user_id,add,remove), all or nothing.
func (c *Client) ImportLicences(ctx context.Context, tenant string, csv []byte) (rest.CommandResult, *Response, error) {
	return post[rest.CommandResult](ctx, c, Request{Path: T(tenant, "licences", "import"), Raw: csv, ContentType: "text/csv"})
}

// Balance reads a tenant's balance.
func (c *Client) Balance(ctx context.Context, tenant string) (rest.BalanceOut, *Response, error) {
	return get[rest.BalanceOut](ctx, c, T(tenant, "credits"))
}

// AddFunds adds funds.
func (c *Client) AddFunds(ctx context.Context, tenant string, in FundsIn) (rest.CommandResult, *Response, error) {
	return post[rest.CommandResult](ctx, c, Request{Path: T(tenant, "credits", "funds"), JSON: in})
}

// AutoRecharge reads the auto-recharge settings and their ETag.
func (c *Client) AutoRecharge(ctx context.Context, tenant string) (AutoRechargeOut, *Response, error) {
	return get[AutoRechargeOut](ctx, c, T(tenant, "credits", "auto-recharge"))
}

// SetAutoRecharge replaces the auto-recharge settings read at etag.
func (c *Client) SetAutoRecharge(ctx context.Context, tenant, etag string, in AutoRechargeIn) (rest.CommandResult, *Response, error) {
	return post[rest.CommandResult](ctx, c, Request{Method: http.MethodPut, Path: T(tenant, "credits", "auto-recharge"), JSON: in, IfMatch: etag})
}

// SetPaymentMethod puts a payment method on file; it reads the current ETag first.
func (c *Client) SetPaymentMethod(ctx context.Context, tenant string, in PaymentMethodIn) (rest.CommandResult, *Response, error) {
	res, err := c.Get(ctx, T(tenant, "credits", "payment-method"), nil, nil)
	if err != nil {
		return rest.CommandResult{}, nil, err
	}
	return post[rest.CommandResult](ctx, c, Request{Method: http.MethodPut, Path: T(tenant, "credits", "payment-method"), JSON: in,
		IfMatch: res.Header.Get("ETag")})
}

// RateCards lists the stored rate card versions.
func (c *Client) RateCards(ctx context.Context) ([]store.RateCardInfo, *Response, error) {
	return get[[]store.RateCardInfo](ctx, c, "/v1/rate-cards")
}

// UploadRateCard stores a rate card CSV as the next version of (service, currency).
func (c *Client) UploadRateCard(ctx context.Context, service, currency string, csv []byte) (CardOut, *Response, error) {
	return post[CardOut](ctx, c, Request{Path: "/v1/rate-cards/" + url.PathEscape(service) + "/" + url.PathEscape(currency),
		Raw: csv, ContentType: "text/csv"})
}

// ImportCDRs books a CDR CSV for tenant.
func (c *Client) ImportCDRs(ctx context.Context, tenant string, csv []byte) (ingest.Report, *Response, error) {
	return post[ingest.Report](ctx, c, Request{Path: T(tenant, "cdrs", "import"), Raw: csv, ContentType: "text/csv"})
}

// Authorize admits or refuses a call.
func (c *Client) Authorize(ctx context.Context, tenant string, in AuthorizeIn) (rest.CallResult, *Response, error) {
	return post[rest.CallResult](ctx, c, Request{Path: T(tenant, "calls", "authorize"), JSON: in})
}

// Settle ends a call with its connected seconds.
func (c *Client) Settle(ctx context.Context, tenant, callID string, in SettleIn) (rest.CallResult, *Response, error) {
	return post[rest.CallResult](ctx, c, Request{Path: T(tenant, "calls", callID, "settle"), JSON: in})
}
