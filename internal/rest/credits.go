package rest

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/tenant"
)

// BalanceOut is a tenant's balance; amounts are decimals in its currency.
type BalanceOut struct {
	Currency  string `json:"currency"`
	Balance   string `json:"balance" doc:"lots remaining minus debt"`
	Available string `json:"available" doc:"what new calls can reserve: balance minus reserved"`
	Reserved  string `json:"reserved" doc:"held by calls in progress"`
	Debt      string `json:"debt"`
	Funded    string `json:"funded" doc:"total ever funded"`
	Charged   string `json:"charged"`
	Forfeited string `json:"forfeited" doc:"expired with their lots"`
	// CreditsSetUp: the tenant has funded at least once (toll-free numbers need it).
	CreditsSetUp bool `json:"credits_set_up"`
}

// LotOut is a lot of credits.
type LotOut ledger.LotView

// EntryOut is a ledger entry.
type EntryOut struct {
	Seq    int64     `json:"seq"`
	Kind   string    `json:"kind"`
	Amount string    `json:"amount"`
	Before string    `json:"balance_before"`
	After  string    `json:"balance_after"`
	At     time.Time `json:"at"`
	LotID  int64     `json:"lot_id,omitempty"`
	Ref    string    `json:"ref,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// AutoRecharge is the auto-recharge setting as clients see it.
type AutoRecharge struct {
	Enabled    bool   `json:"enabled"`
	Trigger    string `json:"trigger" doc:"a recharge fires when available falls below this"`
	Amount     string `json:"amount" doc:"added by each recharge"`
	MonthlyCap string `json:"monthly_cap,omitempty" doc:"0 or empty: no cap"`
	LowBalance string `json:"low_balance,omitempty" doc:"balance_low alert level while auto-recharge is off"`
}

type autoRechargeOut struct {
	ETag string `header:"ETag"`
	Body struct {
		AutoRecharge
		PaymentMethod string `json:"payment_method,omitempty"`
		Suspended     bool   `json:"suspended"`
		Reason        string `json:"suspended_reason,omitempty"`
		Version       int64  `json:"version"`
	}
}

// settingsETag is the ETag of the recharge settings and the payment method: their version,
// which every change bumps.
func settingsETag(v int64) string { return `"v` + strconv.FormatInt(v, 10) + `"` }

func parseSettingsETag(s string) (int64, bool) {
	if len(s) < 4 || s[:2] != `"v` || s[len(s)-1] != '"' {
		return 0, false
	}
	v, err := strconv.ParseInt(s[2:len(s)-1], 10, 64)
	return v, err == nil
}

func fmtAmt(a money.Amount, cur money.Currency) string { return a.Format(cur) }

func (a *API) creditRoutes() {
	type balanceOut struct{ Body BalanceOut }
	huma.Register(a, a.op("get-balance", http.MethodGet, "/v1/tenants/{tenant}/credits", "Balance with available, reserved and debt", accRead, "credits"),
		func(ctx context.Context, in *TenantPath) (*balanceOut, error) {
			acc, err := a.svc.Store.Account(ctx, in.Tenant)
			if err != nil {
				return nil, problem(err)
			}
			c := acc.Currency
			return &balanceOut{BalanceOut{Currency: c.Code, Balance: fmtAmt(acc.Balance, c), Available: fmtAmt(acc.Available(), c),
				Reserved: fmtAmt(acc.Reserved, c), Debt: fmtAmt(acc.Debt, c), Funded: fmtAmt(acc.Totals.Funded, c),
				Charged: fmtAmt(acc.Totals.Charged, c), Forfeited: fmtAmt(acc.Totals.Forfeited, c), CreditsSetUp: acc.Totals.Funded > 0}}, nil
		})

	type lotsIn struct {
		TenantPath
		PageQuery
	}
	type lotsOut struct {
		Body struct {
			Items      []LotOut `json:"items"`
			NextCursor string   `json:"next_cursor,omitempty"`
		}
	}
	huma.Register(a, a.op("list-lots", http.MethodGet, "/v1/tenants/{tenant}/credits/lots", "Lots, oldest first, drained and expired ones included", accRead, "credits"),
		func(ctx context.Context, in *lotsIn) (*lotsOut, error) {
			cur, err := a.currency(ctx, in.Tenant)
			if err != nil {
				return nil, err
			}
			lots, err := a.svc.Store.Lots(ctx, in.Tenant)
			if err != nil {
				return nil, problem(err)
			}
			// Lot ids grow; the cursor is the id zero-padded so that it sorts as a string.
			items, next := page(lots, func(l ledger.Lot) string { return pad(l.ID) }, in.PageQuery)
			out := &lotsOut{}
			out.Body.Items = make([]LotOut, 0, len(items))
			for _, l := range items {
				out.Body.Items = append(out.Body.Items, LotOut(l.View(cur)))
			}
			out.Body.NextCursor = next
			return out, nil
		})

	type entriesOut struct {
		Body struct {
			Items      []EntryOut `json:"items"`
			NextCursor string     `json:"next_cursor,omitempty"`
		}
	}
	huma.Register(a, a.op("list-entries", http.MethodGet, "/v1/tenants/{tenant}/credits/entries", "Ledger entries, oldest first", accRead, "credits"),
		func(ctx context.Context, in *lotsIn) (*entriesOut, error) {
			cur, err := a.currency(ctx, in.Tenant)
			if err != nil {
				return nil, err
			}
			var after int64
			if in.Cursor != "" {
				if after, err = strconv.ParseInt(decodeCursor(in.Cursor), 10, 64); err != nil {
					return nil, huma.Error400BadRequest("bad cursor", &huma.ErrorDetail{Location: "query.cursor", Value: in.Cursor})
				}
			}
			es, err := a.svc.Store.Entries(ctx, in.Tenant, after, in.limit()+1)
			if err != nil {
				return nil, problem(err)
			}
			out := &entriesOut{}
			out.Body.Items, out.Body.NextCursor = fetched(es, in.limit(), func(e ledger.Entry) string { return strconv.FormatInt(e.Seq, 10) },
				func(e ledger.Entry) EntryOut {
					return EntryOut{Seq: e.Seq, Kind: string(e.Kind), Amount: fmtAmt(e.Amount, cur), Before: fmtAmt(e.Before, cur),
						After: fmtAmt(e.After, cur), At: e.At, LotID: e.LotID, Ref: e.Ref, Reason: e.Reason}
				})
			return out, nil
		})

	type fundsIn struct {
		TenantPath
		IdemHeader
		Body struct {
			Amount string `json:"amount" minLength:"1" maxLength:"32" doc:"decimal in the tenant's currency"`
			Method string `json:"method,omitempty" maxLength:"200" doc:"pm_… card or ea:<agreement>[:<po>]; default the method on file"`
		}
	}
	huma.Register(a, a.op("add-funds", http.MethodPost, "/v1/tenants/{tenant}/credits/funds",
		"Add funds: an agreement is credited at once, a card when the charge succeeds", accBilling, "credits"),
		func(ctx context.Context, in *fundsIn) (*resultOut, error) {
			cur, err := a.currency(ctx, in.Tenant)
			if err != nil {
				return nil, err
			}
			amt, err := amount("body.amount", in.Body.Amount, cur)
			if err != nil {
				return nil, problem(err)
			}
			if amt <= 0 {
				return nil, problem(badField("body.amount", in.Body.Amount, "must be positive"))
			}
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, tenant.AddFunds{Amount: amt, Method: in.Body.Method})
		})

	recharged := func(ctx context.Context, tenantID string) (*autoRechargeOut, money.Currency, *recharge.State, error) {
		cur, err := a.currency(ctx, tenantID)
		if err != nil {
			return nil, cur, nil, err
		}
		st, err := a.svc.State(ctx, tenantID)
		if err != nil {
			return nil, cur, nil, problem(err)
		}
		r := st.Recharge
		s := r.Settings
		out := &autoRechargeOut{ETag: settingsETag(s.Version)}
		out.Body.AutoRecharge = AutoRecharge{Enabled: s.Enabled, Trigger: fmtAmt(s.Trigger, cur), Amount: fmtAmt(s.Amount, cur),
			MonthlyCap: fmtAmt(s.MonthlyCap, cur), LowBalance: fmtAmt(s.LowBalance, cur)}
		out.Body.PaymentMethod, out.Body.Suspended, out.Body.Reason, out.Body.Version = s.PaymentMethod, r.Suspended, r.SuspendedReason, s.Version
		return out, cur, r, nil
	}
	huma.Register(a, a.op("get-auto-recharge", http.MethodGet, "/v1/tenants/{tenant}/credits/auto-recharge", "Auto-recharge settings", accRead, "credits"),
		func(ctx context.Context, in *TenantPath) (*autoRechargeOut, error) {
			out, _, _, err := recharged(ctx, in.Tenant)
			return out, err
		})

	type setAutoIn struct {
		TenantPath
		IdemHeader
		IfMatch string `header:"If-Match" maxLength:"200" doc:"ETag from GET; required"`
		Body    struct {
			Enabled    bool   `json:"enabled"`
			Trigger    string `json:"trigger" maxLength:"32"`
			Amount     string `json:"amount" maxLength:"32"`
			MonthlyCap string `json:"monthly_cap,omitempty" maxLength:"32"`
			LowBalance string `json:"low_balance,omitempty" maxLength:"32"`
			// PaymentMethod: the method recharges charge; default the one on file.
			PaymentMethod string `json:"payment_method,omitempty" maxLength:"200" doc:"pm_… card or ea:<agreement>[:<po>]; default the method on file"`
		}
	}
	huma.Register(a, a.op("set-auto-recharge", http.MethodPut, "/v1/tenants/{tenant}/credits/auto-recharge",
		"Replace the auto-recharge settings (If-Match required)", accBilling, "credits"),
		func(ctx context.Context, in *setAutoIn) (*resultOut, error) {
			defer a.lockTenant(in.Tenant)()
			_, cur, r, err := recharged(ctx, in.Tenant)
			if err != nil {
				return nil, err
			}
			if in.IfMatch == "" {
				return nil, huma.NewError(http.StatusPreconditionRequired, "If-Match is required: send the ETag of GET …/credits/auto-recharge",
					&huma.ErrorDetail{Location: "header.If-Match"})
			}
			ver, ok := parseSettingsETag(in.IfMatch)
			if !ok {
				// W/"v3", "*" or a list: compared as ETags, then the version read is the one
				// the command requires.
				if err := checkIfMatch(in.IfMatch, settingsETag(r.Settings.Version)); err != nil {
					return nil, err
				}
				ver = r.Settings.Version
			}
			s := recharge.Settings{Enabled: in.Body.Enabled, PaymentMethod: r.Settings.PaymentMethod}
			if in.Body.PaymentMethod != "" {
				s.PaymentMethod = in.Body.PaymentMethod
			}
			for _, f := range []struct {
				loc, v string
				dst    *money.Amount
			}{{"body.trigger", in.Body.Trigger, &s.Trigger}, {"body.amount", in.Body.Amount, &s.Amount},
				{"body.monthly_cap", in.Body.MonthlyCap, &s.MonthlyCap}, {"body.low_balance", in.Body.LowBalance, &s.LowBalance}} {
				if f.v == "" {
					continue
				}
				if *f.dst, err = amount(f.loc, f.v, cur); err != nil {
					return nil, problem(err)
				}
			}
			// The version travels in the command: the check and the change are one step.
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, tenant.SetAutoRecharge{Settings: s, IfVersion: ver})
		})

	type pmOut struct {
		ETag string `header:"ETag"`
		Body struct {
			Method   string `json:"method,omitempty"`
			Brand    string `json:"brand,omitempty"`
			Last4    string `json:"last4,omitempty"`
			ExpMonth int    `json:"exp_month,omitempty"`
			ExpYear  int    `json:"exp_year,omitempty"`
		}
	}
	huma.Register(a, a.op("get-payment-method", http.MethodGet, "/v1/tenants/{tenant}/credits/payment-method", "The payment method on file", accRead, "credits"),
		func(ctx context.Context, in *TenantPath) (*pmOut, error) {
			_, _, r, err := recharged(ctx, in.Tenant)
			if err != nil {
				return nil, err
			}
			out := &pmOut{ETag: settingsETag(r.Settings.Version)}
			out.Body.Method, out.Body.Brand, out.Body.Last4 = r.Settings.PaymentMethod, r.CardBrand, r.CardLast4
			out.Body.ExpMonth, out.Body.ExpYear = r.CardExpiry.Month, r.CardExpiry.Year
			return out, nil
		})
	type setPMIn struct {
		TenantPath
		IdemHeader
		IfMatch string `header:"If-Match" maxLength:"200" doc:"ETag from GET; required"`
		Body    struct {
			Method   string `json:"method" minLength:"1" maxLength:"200" doc:"pm_… card or ea:<agreement>[:<po>]"`
			ExpMonth int    `json:"exp_month,omitempty" minimum:"1" maximum:"12"`
			ExpYear  int    `json:"exp_year,omitempty" minimum:"2000" maximum:"2200"`
			Brand    string `json:"brand,omitempty" maxLength:"32"`
			Last4    string `json:"last4,omitempty" pattern:"^[0-9]{4}$"`
		}
	}
	huma.Register(a, a.op("set-payment-method", http.MethodPut, "/v1/tenants/{tenant}/credits/payment-method",
		"Put a payment method on file (If-Match required)", accBilling, "credits"),
		func(ctx context.Context, in *setPMIn) (*resultOut, error) {
			defer a.lockTenant(in.Tenant)()
			_, _, r, err := recharged(ctx, in.Tenant)
			if err != nil {
				return nil, err
			}
			if in.IfMatch == "" {
				return nil, huma.NewError(http.StatusPreconditionRequired, "If-Match is required: send the ETag of GET …/credits/payment-method",
					&huma.ErrorDetail{Location: "header.If-Match"})
			}
			if err := checkIfMatch(in.IfMatch, settingsETag(r.Settings.Version)); err != nil {
				return nil, err
			}
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, tenant.SetPaymentMethod{Method: in.Body.Method, ExpMonth: in.Body.ExpMonth,
				ExpYear: in.Body.ExpYear, Brand: in.Body.Brand, Last4: in.Body.Last4})
		})
}

func pad(n int64) string {
	s := strconv.FormatInt(n, 10)
	for len(s) < 19 {
		s = "0" + s
	}
	return s
}
