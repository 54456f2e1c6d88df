package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/service"
	"github.com/commcredits/commcredits/internal/store"
)

// IdemHeader is the Idempotency-Key of every POST.
type IdemHeader struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"200" doc:"a replay returns the stored result; the same key with another body is 422 (docs/api.md)"`
}

// TenantPath is every tenant-scoped path.
type TenantPath struct {
	Tenant string `path:"tenant" maxLength:"128" doc:"tenant id"`
}

// TenantOut is a tenant.
type TenantOut struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Currency       string    `json:"currency"`
	CurrencyDigits int       `json:"currency_digits"`
	BillingCountry string    `json:"billing_country,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

func tenantOut(t store.Tenant) TenantOut {
	return TenantOut{ID: t.ID, Name: t.Name, Currency: t.Currency.Code, CurrencyDigits: int(t.Currency.Digits), CreatedAt: t.CreatedAt}
}

// KeyOut is an API key; Secret is set only in the response that created it.
type KeyOut struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant,omitempty"`
	Role      string     `json:"role"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Secret    string     `json:"secret,omitempty" doc:"the key itself: shown once, only in the response that created it"`
}

func keyOut(k store.APIKey) KeyOut {
	return KeyOut{ID: k.ID, Tenant: k.Tenant, Role: k.Role, Name: k.Name, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt}
}

type replayOut[T any] struct {
	Replayed string `header:"Idempotent-Replayed"`
	Body     T
}

// remember runs fn under the caller's Idempotency-Key (service.Remember) and decodes a
// replayed body back into T. scrub removes from the stored copy what must not be kept.
func remember[T any](ctx context.Context, a *API, idem string, hash []byte, fn func() (T, error), scrub func(T) T) (*replayOut[T], error) {
	p := principal(ctx)
	scope := p.Tenant
	if p.Operator() {
		scope = "operator"
	}
	_, body, replayed, err := a.svc.Remember(ctx, scope, idem, hash, func() (int, []byte, []byte, error) {
		v, err := fn()
		if err != nil {
			return 0, nil, nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return 0, nil, nil, err
		}
		stored := b
		if scrub != nil {
			if stored, err = json.Marshal(scrub(v)); err != nil {
				return 0, nil, nil, err
			}
		}
		return http.StatusCreated, b, stored, nil
	})
	if err != nil {
		return nil, problem(err)
	}
	out := &replayOut[T]{}
	if err := json.Unmarshal(body, &out.Body); err != nil {
		return nil, problem(err)
	}
	if replayed {
		out.Replayed = "true"
	}
	return out, nil
}

func (a *API) routes() {
	a.tenantRoutes()
	a.directoryRoutes()
	a.creditRoutes()
	a.callRoutes()
	a.reportRoutes()
	a.notifyRoutes()
}

func (a *API) tenantRoutes() {
	type createTenantIn struct {
		IdemHeader
		Body struct {
			ID             string `json:"id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9_.-]*$" doc:"tenant id"`
			Name           string `json:"name" minLength:"1" maxLength:"256"`
			Currency       string `json:"currency" pattern:"^[A-Za-z]{3}$" doc:"ISO 4217 code of the tenant's balance"`
			BillingCountry string `json:"billing_country,omitempty" pattern:"^[A-Za-z]{2}$" doc:"ISO 3166 alpha-2"`
		}
	}
	o := a.op("create-tenant", http.MethodPost, "/v1/tenants", "Create a tenant", accOperator, "tenants")
	o.DefaultStatus = http.StatusCreated
	huma.Register(a, o, func(ctx context.Context, in *createTenantIn) (*replayOut[TenantOut], error) {
		return remember(ctx, a, in.IdempotencyKey, requestHash("create-tenant", in.Body), func() (TenantOut, error) {
			t, err := a.svc.CreateTenant(ctx, in.Body.ID, in.Body.Name, in.Body.Currency)
			if err != nil {
				return TenantOut{}, err
			}
			out := tenantOut(t)
			if in.Body.BillingCountry != "" {
				if _, err := a.svc.Submit(ctx, t.ID, "create-tenant:"+in.IdempotencyKey+in.Body.ID,
					directory.SetBillingCountry{Country: in.Body.BillingCountry}); err != nil {
					return out, err
				}
				out.BillingCountry = in.Body.BillingCountry
			}
			return out, nil
		}, nil)
	})

	type listTenantsIn struct{ PageQuery }
	type tenantsOut struct {
		Body struct {
			Items      []TenantOut `json:"items"`
			NextCursor string      `json:"next_cursor,omitempty"`
		}
	}
	huma.Register(a, a.op("list-tenants", http.MethodGet, "/v1/tenants", "List tenants", accOperator, "tenants"),
		func(ctx context.Context, in *listTenantsIn) (*tenantsOut, error) {
			ts, err := a.svc.Store.Tenants(ctx)
			if err != nil {
				return nil, problem(err)
			}
			items, next := page(ts, func(t store.Tenant) string { return t.ID }, in.PageQuery)
			out := &tenantsOut{}
			out.Body.Items = make([]TenantOut, 0, len(items))
			for _, t := range items {
				out.Body.Items = append(out.Body.Items, tenantOut(t))
			}
			out.Body.NextCursor = next
			return out, nil
		})

	type tenantIn struct{ TenantPath }
	type tenantResp struct{ Body TenantOut }
	huma.Register(a, a.op("get-tenant", http.MethodGet, "/v1/tenants/{tenant}", "Get a tenant", accRead, "tenants"),
		func(ctx context.Context, in *tenantIn) (*tenantResp, error) {
			t, err := a.svc.Store.Tenant(ctx, in.Tenant)
			if err != nil {
				return nil, problem(err)
			}
			d, err := a.svc.Directory(ctx, in.Tenant)
			if err != nil {
				return nil, problem(err)
			}
			out := tenantOut(t)
			out.BillingCountry = d.BillingCountry
			return &tenantResp{out}, nil
		})

	type countryIn struct {
		TenantPath
		IdemHeader
		Body struct {
			Country string `json:"country" pattern:"^[A-Za-z]{2}$" doc:"ISO 3166 alpha-2"`
		}
	}
	huma.Register(a, a.op("set-billing-country", http.MethodPut, "/v1/tenants/{tenant}/billing-country", "Set the billing country", accDirectory, "tenants"),
		func(ctx context.Context, in *countryIn) (*resultOut, error) {
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.SetBillingCountry{Country: in.Body.Country})
		})

	type purchasedIn struct {
		TenantPath
		IdemHeader
		Code string `path:"code" maxLength:"64"`
		Body struct {
			Count int `json:"count" minimum:"0" maximum:"10000000"`
		}
	}
	huma.Register(a, a.op("set-purchased-licences", http.MethodPut, "/v1/tenants/{tenant}/purchased-licences/{code}",
		"Record how many licences of a code the tenant bought", accDirectory, "licences"),
		func(ctx context.Context, in *purchasedIn) (*resultOut, error) {
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.SetPurchasedLicences{Code: in.Code, Count: in.Body.Count})
		})

	// Keys.
	type createKeyIn struct {
		TenantPath
		IdemHeader
		Body struct {
			Role string `json:"role" enum:"tenant_admin,billing_admin,reports_reader,switch"`
			Name string `json:"name,omitempty" maxLength:"256"`
		}
	}
	ko := a.op("create-key", http.MethodPost, "/v1/tenants/{tenant}/keys", "Create an API key of the tenant (the secret is shown once)", accKeys, "keys")
	ko.DefaultStatus = http.StatusCreated
	huma.Register(a, ko, func(ctx context.Context, in *createKeyIn) (*replayOut[KeyOut], error) {
		return remember(ctx, a, in.IdempotencyKey, requestHash("create-key", in.Tenant, in.Body), func() (KeyOut, error) {
			k, secret, err := a.svc.CreateKey(ctx, in.Tenant, in.Body.Role, in.Body.Name)
			out := keyOut(k)
			out.Secret = secret
			return out, err
		}, func(k KeyOut) KeyOut { k.Secret = ""; return k })
	})

	type listKeysIn struct {
		TenantPath
		PageQuery
	}
	type keysOut struct {
		Body struct {
			Items      []KeyOut `json:"items"`
			NextCursor string   `json:"next_cursor,omitempty"`
		}
	}
	huma.Register(a, a.op("list-keys", http.MethodGet, "/v1/tenants/{tenant}/keys", "List the tenant's API keys", accKeys, "keys"),
		func(ctx context.Context, in *listKeysIn) (*keysOut, error) {
			if _, err := a.svc.Store.Tenant(ctx, in.Tenant); err != nil {
				return nil, problem(err)
			}
			ks, err := a.svc.Store.APIKeys(ctx, in.Tenant, decodeCursor(in.Cursor), in.limit()+1)
			if err != nil {
				return nil, problem(err)
			}
			out := &keysOut{}
			out.Body.Items, out.Body.NextCursor = fetched(ks, in.limit(), func(k store.APIKey) string { return k.ID }, keyOut)
			return out, nil
		})

	type revokeIn struct {
		TenantPath
		KeyID string `path:"key_id" maxLength:"64"`
	}
	do := a.op("revoke-key", http.MethodDelete, "/v1/tenants/{tenant}/keys/{key_id}", "Revoke an API key", accKeys, "keys")
	do.DefaultStatus = http.StatusNoContent
	huma.Register(a, do, func(ctx context.Context, in *revokeIn) (*struct{}, error) {
		return nil, problem(a.svc.RevokeKey(ctx, in.Tenant, in.KeyID))
	})

	type createOpKeyIn struct {
		IdemHeader
		Body struct {
			Name string `json:"name,omitempty" maxLength:"256"`
		}
	}
	oko := a.op("create-operator-key", http.MethodPost, "/v1/operator/keys", "Create an operator key (the secret is shown once)", accOperator, "keys")
	oko.DefaultStatus = http.StatusCreated
	huma.Register(a, oko, func(ctx context.Context, in *createOpKeyIn) (*replayOut[KeyOut], error) {
		return remember(ctx, a, in.IdempotencyKey, requestHash("create-operator-key", in.Body), func() (KeyOut, error) {
			k, secret, err := a.svc.CreateKey(ctx, "", service.RoleOperator, in.Body.Name)
			out := keyOut(k)
			out.Secret = secret
			return out, err
		}, func(k KeyOut) KeyOut { k.Secret = ""; return k })
	})

	type listOpKeysIn struct{ PageQuery }
	huma.Register(a, a.op("list-operator-keys", http.MethodGet, "/v1/operator/keys", "List operator keys", accOperator, "keys"),
		func(ctx context.Context, in *listOpKeysIn) (*keysOut, error) {
			ks, err := a.svc.Store.APIKeys(ctx, "", decodeCursor(in.Cursor), in.limit()+1)
			if err != nil {
				return nil, problem(err)
			}
			out := &keysOut{}
			out.Body.Items, out.Body.NextCursor = fetched(ks, in.limit(), func(k store.APIKey) string { return k.ID }, keyOut)
			return out, nil
		})
	type revokeOpIn struct {
		KeyID string `path:"key_id" maxLength:"64"`
	}
	rdo := a.op("revoke-operator-key", http.MethodDelete, "/v1/operator/keys/{key_id}", "Revoke an operator key", accOperator, "keys")
	rdo.DefaultStatus = http.StatusNoContent
	huma.Register(a, rdo, func(ctx context.Context, in *revokeOpIn) (*struct{}, error) {
		return nil, problem(a.svc.RevokeKey(ctx, "", in.KeyID))
	})

	// Catalogs.
	type plansOut struct{ Body []plans.Plan }
	huma.Register(a, a.op("list-plans", http.MethodGet, "/v1/plans", "The plan and licence catalog", accRead, "catalog"),
		func(ctx context.Context, _ *struct{}) (*plansOut, error) {
			return &plansOut{a.svc.Env.Catalog.Plans()}, nil
		})

	type cardsOut struct{ Body []store.RateCardInfo }
	huma.Register(a, a.op("list-rate-cards", http.MethodGet, "/v1/rate-cards", "List rate card versions", accRead, "catalog"),
		func(ctx context.Context, _ *struct{}) (*cardsOut, error) {
			v, err := a.svc.Store.RateCardVersions(ctx)
			if err != nil {
				return nil, problem(err)
			}
			if v == nil {
				v = []store.RateCardInfo{}
			}
			return &cardsOut{v}, nil
		})

	type uploadCardIn struct {
		IdemHeader
		Service  string `path:"service" enum:"outbound,dial_out,toll_free"`
		Currency string `path:"currency" pattern:"^[A-Za-z]{3}$"`
		RawBody  []byte `contentType:"text/csv"`
	}
	type cardOut struct {
		Service    rating.Service `json:"service"`
		Currency   string         `json:"currency"`
		Version    int            `json:"version"`
		Rows       int            `json:"rows"`
		Digest     string         `json:"digest"`
		ImportedAt time.Time      `json:"imported_at"`
	}
	uo := a.op("upload-rate-card", http.MethodPost, "/v1/rate-cards/{service}/{currency}", "Upload a rate card CSV as the next version", accOperator, "catalog")
	uo.DefaultStatus = http.StatusCreated
	uo.MaxBodyBytes = a.cfg.MaxUpload
	huma.Register(a, uo, func(ctx context.Context, in *uploadCardIn) (*replayOut[cardOut], error) {
		return remember(ctx, a, in.IdempotencyKey, requestHash("upload-rate-card", in.Service, in.Currency, in.RawBody), func() (cardOut, error) {
			c, err := a.svc.ImportRateCard(ctx, rating.Service(in.Service), in.Currency, in.RawBody)
			if err != nil {
				return cardOut{}, err
			}
			m := c.Meta()
			return cardOut{Service: m.Service, Currency: m.Currency.Code, Version: m.Version, Rows: c.Len(), Digest: c.Digest(), ImportedAt: m.ImportedAt}, nil
		}, nil)
	})
}
