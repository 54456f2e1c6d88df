// Package demo seeds a database with a working example through the same service and writer
// path the API uses: an operator key, a tenant with users in several countries and their
// licences, numbers (toll and toll-free), rate cards, funds, auto-recharge and some call
// history. Seeding is idempotent: running it again changes no data (only new keys are
// issued, because stored keys cannot be shown again).
package demo

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/service"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
)

//go:embed cards/*.csv
var cards embed.FS

// Options choose what to seed.
type Options struct {
	Tenant   string // default "contoso"
	Currency string // default "USD" (the embedded cards are in USD)
	// Calls is how many demo calls to place the first time (default 12); NoCalls places none.
	Calls   int
	NoCalls bool
	// NoKeys seeds data only (a benchmark creates its own keys).
	NoKeys bool
}

// Result is what was seeded and the keys issued (secrets shown once).
type Result struct {
	Tenant      string
	OperatorKey string
	AdminKey    string
	SwitchKey   string
	Users       []string
}

// Users of the demo tenant: several countries, calling plans, pay-as-you-go, conferencing,
// a resource account.
var users = []directory.User{
	{ID: "alice", DisplayName: "Alice Adams", UPN: "alice@contoso.example", UsageLocation: "US", Licences: []string{"MCOEV", "MCOPSTN1", "MCOPSTNPP"}, Number: "12025550101"},
	{ID: "bob", DisplayName: "Bob Brown", UPN: "bob@contoso.example", UsageLocation: "GB", Licences: []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}, Number: "442071838750"},
	{ID: "carla", DisplayName: "Carla Schmidt", UPN: "carla@contoso.example", UsageLocation: "DE", Licences: []string{"MCOEV", "MCOPSTN2", "MCOPSTNPP"}, Number: "4930901820"},
	{ID: "dmitri", DisplayName: "Dmitri Dubois", UPN: "dmitri@contoso.example", UsageLocation: "FR", Licences: []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}, SpendLimit: 2500},
	{ID: "olga", DisplayName: "Olga Organizer", UPN: "olga@contoso.example", UsageLocation: "US", Licences: []string{"MCOEV", "MCOMEETADD", "MCOPSTNPP"}},
	{ID: "aa", DisplayName: "Main line auto attendant", Kind: directory.KindResourceAccount, UsageLocation: "US", Licences: []string{"MCOEV_VIRTUALUSER", "MCOPSTNPP"}},
}

// Seed seeds svc's database. It is safe to run on every start. A load generator may seed
// several targets by calling it with other Tenant names (the rate cards are shared).
func Seed(ctx context.Context, svc *service.Service, o Options) (Result, error) {
	if o.Tenant == "" {
		o.Tenant = "contoso"
	}
	if o.Currency == "" {
		o.Currency = "USD"
	}
	if o.Calls == 0 {
		o.Calls = 12
	}
	res := Result{Tenant: o.Tenant}
	if err := seedCards(ctx, svc, o.Currency); err != nil {
		return res, err
	}
	if _, err := svc.CreateTenant(ctx, o.Tenant, "Contoso Ltd (demo)", o.Currency); err != nil && !errors.Is(err, store.ErrExists) {
		return res, fmt.Errorf("demo tenant: %w", err)
	}
	cur, err := money.LookupCurrency(o.Currency)
	if err != nil {
		return res, err
	}
	submit := func(key string, cmd tenant.Command) (tenant.Result, error) {
		r, err := svc.Submit(ctx, o.Tenant, "demo:"+key, cmd)
		if err != nil {
			return r, fmt.Errorf("demo %s: %w", key, err)
		}
		return r, nil
	}
	if _, err := submit("billing-country", directory.SetBillingCountry{Country: "US"}); err != nil {
		return res, err
	}
	// User numbers first, so that the users can name them.
	for _, n := range []string{"+12025550101", "+442071838750", "+4930901820"} {
		if _, err := submit("number:"+n, directory.AcquireNumber{E164: n, Kind: directory.NumberUser}); err != nil {
			return res, err
		}
	}
	for _, u := range users {
		if u.Kind == "" {
			u.Kind = directory.KindUser
		}
		if _, err := submit("user:"+u.ID, directory.PutUser{User: u}); err != nil {
			return res, err
		}
		res.Users = append(res.Users, u.ID)
	}
	// Funds first: toll-free numbers need credits set up.
	if _, err := submit("payment-method", tenant.SetPaymentMethod{Method: "ea:DEMO-AGREEMENT-1"}); err != nil {
		return res, err
	}
	if _, err := submit("funds", tenant.AddFunds{Amount: money.Units(500, cur)}); err != nil {
		return res, err
	}
	st, err := svc.State(ctx, o.Tenant)
	if err != nil {
		return res, err
	}
	if !st.Recharge.Settings.Enabled {
		s := recharge.Settings{Enabled: true, Trigger: money.Units(100, cur), Amount: money.Units(250, cur),
			MonthlyCap: money.Units(2000, cur), PaymentMethod: "ea:DEMO-AGREEMENT-1"}
		if _, err := svc.Submit(ctx, o.Tenant, "", tenant.SetAutoRecharge{Settings: s, IfVersion: st.Recharge.Settings.Version}); err != nil {
			return res, fmt.Errorf("demo auto-recharge: %w", err)
		}
	}
	for _, n := range []struct{ e164, service, to string }{
		{"+12025550199", directory.ServiceToll, directory.Bridge},
		{"+18005550100", directory.ServiceTollFree, directory.Bridge},
		{"+18885550100", directory.ServiceTollFree, "aa"},
	} {
		if _, err := submit("number:"+n.e164, directory.AcquireNumber{E164: n.e164, Kind: directory.NumberService, Service: n.service}); err != nil {
			return res, err
		}
		if _, err := submit("assign:"+n.e164, directory.AssignNumber{E164: n.e164, To: n.to}); err != nil {
			return res, err
		}
	}
	if !o.NoCalls {
		if err := seedCalls(ctx, svc, o); err != nil {
			return res, err
		}
	}
	if o.NoKeys {
		return res, nil
	}
	if _, res.OperatorKey, err = svc.CreateKey(ctx, "", service.RoleOperator, "demo operator"); err != nil {
		return res, err
	}
	if _, res.AdminKey, err = svc.CreateKey(ctx, o.Tenant, service.RoleTenantAdmin, "demo admin"); err != nil {
		return res, err
	}
	if _, res.SwitchKey, err = svc.CreateKey(ctx, o.Tenant, service.RoleSwitch, "demo switch"); err != nil {
		return res, err
	}
	return res, nil
}

func seedCards(ctx context.Context, svc *service.Service, currency string) error {
	have, err := svc.Store.RateCardVersions(ctx)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		svc  rating.Service
		file string
	}{{rating.Outbound, "outbound_usd.csv"}, {rating.DialOut, "dial_out_usd.csv"}, {rating.TollFree, "toll_free_usd.csv"}} {
		found := false
		for _, h := range have {
			found = found || (h.Service == c.svc && h.Currency == currency)
		}
		if found {
			continue
		}
		data, err := cards.ReadFile("cards/" + c.file)
		if err != nil {
			return err
		}
		if _, err := svc.ImportRateCard(ctx, c.svc, currency, data); err != nil {
			return fmt.Errorf("demo rate card %s: %w", c.file, err)
		}
	}
	return nil
}

// seedCalls places the call history once: authorize, extend, settle through the writer as a
// switch would, a refused call, and a CDR of a call that never asked for authorization.
func seedCalls(ctx context.Context, svc *service.Service, o Options) error {
	usage, err := svc.Store.ReportUsage(ctx, o.Tenant)
	if err != nil {
		return err
	}
	if len(usage) > 0 {
		return nil // history seeded already: authorizing again would open new calls
	}
	calls := []struct {
		typ           payer.CallType
		who, from, to string
		seconds       int64
	}{
		{payer.UserOut, "alice", "+12025550101", "+14155550123", 340},
		{payer.UserOut, "bob", "+442071838750", "+12125550100", 95},
		{payer.UserOut, "carla", "+4930901820", "+442079460000", 610},
		{payer.UserOut, "bob", "+442071838750", "+2348031234567", 45},
		{payer.ConfIn, "olga", "+12125550100", "+18005550100", 1200},
		{payer.UserOut, "dmitri", "+33142685300", "+4930123456", 120},
		{payer.UserOut, "alice", "+12025550101", "+5372345678", 30}, // Cuba: blocked, refused
	}
	for i := range o.Calls {
		c := calls[i%len(calls)]
		id := fmt.Sprintf("demo-call-%03d", i+1)
		r, err := svc.Submit(ctx, o.Tenant, "", tenant.Authorize{CallID: id, Type: c.typ, Principal: c.who, Caller: c.from, Callee: c.to})
		if err != nil {
			return fmt.Errorf("demo call %s: %w", id, err)
		}
		if r.Authorization == nil || !r.Authorization.Allowed {
			continue // refused: recorded as a refusal
		}
		if _, err := svc.Submit(ctx, o.Tenant, "demo:extend:"+id, tenant.Extend{CallID: id, Seconds: 300}); err != nil {
			return fmt.Errorf("demo call %s: %w", id, err)
		}
		if _, err := svc.Submit(ctx, o.Tenant, "", tenant.Settle{CallID: id, Seconds: c.seconds}); err != nil {
			return fmt.Errorf("demo call %s: %w", id, err)
		}
	}
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	cdr := charging.CDR{Tenant: o.Tenant, CallID: "demo-cdr-001", CallType: payer.UserOut, Principal: "bob",
		Caller: "+442071838750", Callee: "+442079460001", Start: start, End: start.Add(200 * time.Second), Duration: 200}
	if _, err := svc.Submit(ctx, o.Tenant, "", tenant.PostCDR{CDR: cdr}); err != nil {
		return fmt.Errorf("demo cdr: %w", err)
	}
	return nil
}
