package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/commcredits/commcredits/internal/client"
	"github.com/commcredits/commcredits/internal/rest"
)

type action = func(ctx context.Context, a *admin, args []string) error

func cmdTenant(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	return dispatch(ctx, "tenant", map[string]sub{
		"create": {args: "ID", nargs: 1, help: "create a tenant (operator key)", flags: func(fs *flag.FlagSet) action {
			name := fs.String("name", "", "display name (required)")
			cur := fs.String("currency", "", "ISO 4217 currency of its balance (required)")
			country := fs.String("billing-country", "", "ISO 3166 alpha-2 billing country")
			return func(ctx context.Context, a *admin, args []string) error {
				if *name == "" || *cur == "" {
					return usagef("--name and --currency are required")
				}
				_, res, err := a.c.CreateTenant(ctx, client.CreateTenantIn{ID: args[0], Name: *name, Currency: strings.ToUpper(*cur), BillingCountry: strings.ToUpper(*country)})
				return a.shown(res, err)
			}
		}},
		"list": {help: "list tenants (operator key)", flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, a *admin, _ []string) error {
				return a.showAll(ctx, "/v1/tenants", "id", "name", "currency", "created_at")
			}
		}},
		"show": {args: "ID", nargs: 1, help: "show a tenant", flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, a *admin, args []string) error {
				_, res, err := a.c.Tenant(ctx, args[0])
				return a.shown(res, err)
			}
		}},
	}, args, stdout, stderr, h)
}

func cmdKey(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	return dispatch(ctx, "key", map[string]sub{
		"create": {tenant: true, anyTen: true, help: "create an API key; the secret is printed once (--role operator without --tenant: an operator key)", flags: func(fs *flag.FlagSet) action {
			role := fs.String("role", "", "tenant_admin, billing_admin, reports_reader, switch, or operator (required)")
			name := fs.String("name", "", "a name to recognise the key by")
			return func(ctx context.Context, a *admin, _ []string) error {
				switch {
				case *role == "":
					return usagef("--role is required")
				case *role == "operator" && a.conn.tenant != "":
					return usagef("an operator key belongs to no tenant: leave out --tenant")
				case *role != "operator" && a.conn.tenant == "":
					return usagef("--tenant is required for a %s key", *role)
				}
				k, res, err := a.c.CreateKey(ctx, a.conn.tenant, client.CreateKeyIn{Role: *role, Name: *name})
				if err != nil {
					return err
				}
				if err := a.show(res); err != nil {
					return err
				}
				if k.Secret == "" {
					fmt.Fprintln(a.stderr, "note: this key was created by an earlier request with the same Idempotency-Key; its secret is not shown again")
				} else if !a.conn.json {
					fmt.Fprintln(a.stderr, "note: the secret is shown only now; store it safely")
				}
				return nil
			}
		}},
		"list": {tenant: true, anyTen: true, help: "list a tenant's keys (without --tenant: the operator keys)", flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, a *admin, _ []string) error {
				p := "/v1/operator/keys"
				if a.conn.tenant != "" {
					p = client.T(a.conn.tenant, "keys")
				}
				return a.showAll(ctx, p, "id", "role", "name", "created_at", "revoked_at")
			}
		}},
		"revoke": {args: "KEY_ID", nargs: 1, tenant: true, anyTen: true, help: "revoke a key at once (without --tenant: an operator key)", flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, a *admin, args []string) error {
				if err := a.c.RevokeKey(ctx, a.conn.tenant, args[0]); err != nil {
					return err
				}
				if a.conn.json {
					printJSON(a.stdout, []byte(`{"revoked":`+quote(args[0])+`}`))
				} else {
					fmt.Fprintf(a.stdout, "revoked %s\n", args[0])
				}
				return nil
			}
		}},
	}, args, stdout, stderr, h)
}

// get prints GET /v1/tenants/{tenant}/parts….
func (a *admin) get(ctx context.Context, parts ...string) error {
	t := a.conn.tenant
	res, err := a.c.Get(ctx, client.T(t, parts...), nil, nil)
	if err != nil {
		return err
	}
	return a.show(res)
}

// readThenPut reads a setting for its ETag and replaces it under If-Match, so a change
// made by someone else in between is refused (412) rather than overwritten.
func (a *admin) readThenPut(ctx context.Context, body any, parts ...string) error {
	t := a.conn.tenant
	p := client.T(t, parts...)
	cur, err := a.c.Get(ctx, p, nil, nil)
	if err != nil {
		return err
	}
	return a.shown(a.c.Do(ctx, client.Request{Method: http.MethodPut, Path: p, JSON: body, IfMatch: cur.Header.Get("ETag")}))
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func cmdUser(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	return dispatch(ctx, "user", map[string]sub{
		"put": {args: "USER_ID", nargs: 1, tenant: true, help: "create or replace a user or resource account", flags: func(fs *flag.FlagSet) action {
			var u rest.UserIn
			fs.StringVar(&u.DisplayName, "display-name", "", "display name")
			fs.StringVar(&u.UPN, "upn", "", "user principal name")
			fs.StringVar(&u.Kind, "kind", "", "user or resource_account (default user)")
			fs.StringVar(&u.UsageLocation, "usage-location", "", "ISO 3166 alpha-2 usage location (required)")
			lic := fs.String("licences", "", "comma-separated licence codes, e.g. MCOEV,MCOPSTN_PAYG")
			fs.StringVar(&u.Number, "number", "", "E.164 number the tenant holds, e.g. +12025550101")
			fs.StringVar(&u.ConfDialOut, "conf-dial-out", "", "any, same_country, zone_a or none")
			fs.StringVar(&u.PSTNPolicy, "pstn-policy", "", "international, domestic or none")
			fs.StringVar(&u.SpendLimit, "spend-limit", "", "monthly credit spend limit, decimal in the tenant's currency")
			fs.BoolVar(&u.TollFreeDialInDisabled, "toll-free-dial-in-disabled", false, "organizer may not use toll-free dial-in")
			return func(ctx context.Context, a *admin, args []string) error {
				t := a.conn.tenant
				u.Licences = list(*lic)
				u.UsageLocation = strings.ToUpper(u.UsageLocation)
				_, res, err := a.c.PutUser(ctx, t, args[0], u)
				return a.shown(res, err)
			}
		}},
		"show": {args: "USER_ID", nargs: 1, tenant: true, help: "show a user", flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, a *admin, args []string) error {
				return a.get(ctx, "users", args[0])
			}
		}},
		"delete": {args: "USER_ID", nargs: 1, tenant: true, help: "delete a user; its number becomes unassigned", flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, a *admin, args []string) error {
				t := a.conn.tenant
				return a.shown(a.c.Do(ctx, client.Request{Method: http.MethodDelete, Path: client.T(t, "users", args[0])}))
			}
		}},
		"spend-limit": {args: "USER_ID [LIMIT]", nargs: -1, tenant: true, help: "show a user's monthly credit spend limit, or set it (a decimal; 0: none)", flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, a *admin, args []string) error {
				switch len(args) {
				case 1:
					return a.get(ctx, "users", args[0], "spend-limit")
				case 2:
					return a.readThenPut(ctx, map[string]string{"limit": args[1]}, "users", args[0], "spend-limit")
				}
				return usagef("want USER_ID [LIMIT], got %d argument(s)", len(args))
			}
		}},
		"policies": {args: "USER_ID", nargs: 1, tenant: true, help: "show a user's dial-out and PSTN policies, or change them with --conf-dial-out and --pstn", flags: func(fs *flag.FlagSet) action {
			conf := fs.String("conf-dial-out", "", "any, same_country, zone_a or none")
			pstn := fs.String("pstn", "", "international, domestic or none")
			return func(ctx context.Context, a *admin, args []string) error {
				if *conf == "" && *pstn == "" {
					return a.get(ctx, "users", args[0], "policies")
				}
				body := map[string]string{}
				if *conf != "" {
					body["conf_dial_out"] = *conf
				}
				if *pstn != "" {
					body["pstn"] = *pstn
				}
				return a.readThenPut(ctx, body, "users", args[0], "policies")
			}
		}},
		"list": {tenant: true, help: "list users and resource accounts", flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, a *admin, _ []string) error {
				t := a.conn.tenant
				return a.showAll(ctx, client.T(t, "users"), "id", "display_name", "kind", "usage_location", "licences", "number", "spend_limit")
			}
		}},
	}, args, stdout, stderr, h)
}

func cmdLicence(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	return dispatch(ctx, "licence", map[string]sub{
		"assign": {tenant: true, help: "add and remove licences of one or more users, all or nothing", flags: func(fs *flag.FlagSet) action {
			users := fs.String("users", "", "comma-separated user ids (required)")
			add := fs.String("add", "", "comma-separated licence codes to add")
			remove := fs.String("remove", "", "comma-separated licence codes to remove")
			return func(ctx context.Context, a *admin, _ []string) error {
				t := a.conn.tenant
				if len(list(*users)) == 0 || (*add == "" && *remove == "") {
					return usagef("--users and at least one of --add, --remove are required")
				}
				_, res, err := a.c.AssignLicences(ctx, t, client.LicencesIn{UserIDs: list(*users), Add: list(*add), Remove: list(*remove)})
				return a.shown(res, err)
			}
		}},
		"purchased": {args: "CODE COUNT", nargs: 2, tenant: true, help: "record how many licences of a code the tenant bought", flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, a *admin, args []string) error {
				t := a.conn.tenant
				n, err := strconv.Atoi(args[1])
				if err != nil {
					return usagef("COUNT %q: want a whole number", args[1])
				}
				return a.shown(a.c.Do(ctx, client.Request{Method: http.MethodPut, Path: client.T(t, "purchased-licences", args[0]), JSON: map[string]int{"count": n}}))
			}
		}},
		"import": {args: "FILE.csv", nargs: 1, tenant: true, help: "apply a licence CSV (user_id,add,remove; codes separated by ;): every row or none", flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, a *admin, args []string) error {
				t := a.conn.tenant
				data, err := readFile(args[0])
				if err != nil {
					return err
				}
				_, res, err := a.c.ImportLicences(ctx, t, data)
				return a.shown(res, err)
			}
		}},
	}, args, stdout, stderr, h)
}

func cmdCredits(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	listOf := func(path string, cols ...string) sub {
		return sub{tenant: true, help: "list " + path, flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, a *admin, _ []string) error {
				t := a.conn.tenant
				return a.showAll(ctx, client.T(t, "credits", path), cols...)
			}
		}}
	}
	return dispatch(ctx, "credits", map[string]sub{
		"balance": {tenant: true, help: "balance, available, reserved and debt", flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, a *admin, _ []string) error {
				t := a.conn.tenant
				_, res, err := a.c.Balance(ctx, t)
				return a.shown(res, err)
			}
		}},
		"lots":    listOf("lots", "id", "source", "ref", "amount", "remaining", "forfeited", "purchased_at", "expires_at"),
		"entries": listOf("entries", "seq", "kind", "amount", "balance_before", "balance_after", "at", "lot_id", "ref", "reason"),
		"add": {args: "AMOUNT", nargs: 1, tenant: true, help: "add funds (decimal in the tenant's currency): an agreement is credited at once, a card when the charge succeeds", flags: func(fs *flag.FlagSet) action {
			method := fs.String("method", "", "pm_… card or ea:<agreement>[:<po>]; default the method on file")
			return func(ctx context.Context, a *admin, args []string) error {
				t := a.conn.tenant
				_, res, err := a.c.AddFunds(ctx, t, client.FundsIn{Amount: args[0], Method: *method})
				return a.shown(res, err)
			}
		}},
		"auto-recharge": {args: "show|set|off", nargs: 1, tenant: true, help: "show, replace or turn off the auto-recharge settings", flags: func(fs *flag.FlagSet) action {
			trigger := fs.String("trigger", "", "set: recharge when available falls below this")
			amt := fs.String("amount", "", "set: amount of each recharge")
			capf := fs.String("monthly-cap", "", "set: most recharged per month (0: none)")
			low := fs.String("low-balance", "", "balance_low alert level while auto-recharge is off")
			pm := fs.String("payment-method", "", "set: pm_… or ea:… to charge (default the method on file)")
			return func(ctx context.Context, a *admin, args []string) error {
				t := a.conn.tenant
				switch {
				case args[0] != "show" && args[0] != "set" && args[0] != "off":
					return usagef("want show, set or off, got %q", args[0])
				case args[0] == "set" && (*trigger == "" || *amt == ""):
					return usagef("set needs --trigger and --amount")
				}
				cur, res, err := a.c.AutoRecharge(ctx, t)
				if err != nil {
					return err
				}
				in := client.AutoRechargeIn{AutoRecharge: cur.AutoRecharge}
				switch args[0] {
				case "show":
					return a.show(res)
				case "set":
					in.Enabled, in.Trigger, in.Amount, in.PaymentMethod = true, *trigger, *amt, *pm
					if *capf != "" {
						in.MonthlyCap = *capf
					}
				case "off":
					in.Enabled = false
				}
				if *low != "" {
					in.LowBalance = *low
				}
				_, res, err = a.c.SetAutoRecharge(ctx, t, res.Header.Get("ETag"), in)
				if err != nil {
					return err
				}
				return a.show(res)
			}
		}},
		"payment-method": {args: "show | set METHOD", nargs: -1, tenant: true, help: "show the payment method on file, or put one there (pm_… card or ea:<agreement>[:<po>])", flags: func(fs *flag.FlagSet) action {
			var in client.PaymentMethodIn
			fs.StringVar(&in.Brand, "brand", "", "card brand")
			fs.StringVar(&in.Last4, "last4", "", "last four digits of the card")
			fs.IntVar(&in.ExpMonth, "exp-month", 0, "card expiry month")
			fs.IntVar(&in.ExpYear, "exp-year", 0, "card expiry year")
			return func(ctx context.Context, a *admin, args []string) error {
				t := a.conn.tenant
				switch {
				case len(args) == 1 && args[0] == "show":
					return a.get(ctx, "credits", "payment-method")
				case len(args) != 2 || args[0] != "set":
					return usagef("want show or set METHOD, got %q", strings.Join(args, " "))
				}
				in.Method = args[1]
				_, res, err := a.c.SetPaymentMethod(ctx, t, in)
				return a.shown(res, err)
			}
		}},
	}, args, stdout, stderr, h)
}

func cmdNumber(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	// write is a POST or DELETE on a number whose answer is the tenant's balance.
	write := func(method, help string, body func(fs *flag.FlagSet) func() (any, error), suffix ...string) sub {
		return sub{args: "E164", nargs: 1, tenant: true, help: help, flags: func(fs *flag.FlagSet) action {
			mk := func() (any, error) { return nil, nil }
			if body != nil {
				mk = body(fs)
			}
			return func(ctx context.Context, a *admin, args []string) error {
				t := a.conn.tenant
				b, err := mk()
				if err != nil {
					return err
				}
				return a.shown(a.c.Do(ctx, client.Request{Method: method, Path: client.T(t, append([]string{"numbers", args[0]}, suffix...)...), JSON: b}))
			}
		}}
	}
	return dispatch(ctx, "number", map[string]sub{
		"list": {tenant: true, help: "list the tenant's phone numbers", flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, a *admin, _ []string) error {
				t := a.conn.tenant
				return a.showAll(ctx, client.T(t, "numbers"))
			}
		}},
		"acquire": {args: "E164", nargs: 1, tenant: true, help: "acquire a number (toll-free only once credits are set up)", flags: func(fs *flag.FlagSet) action {
			kind := fs.String("kind", "user", "user or service")
			svc := fs.String("service", "", "service numbers: toll or toll_free")
			return func(ctx context.Context, a *admin, args []string) error {
				t := a.conn.tenant
				return a.shown(a.c.Do(ctx, client.Request{Method: http.MethodPost, Path: client.T(t, "numbers"),
					JSON: client.NumberIn{E164: args[0], Kind: *kind, Service: *svc}}))
			}
		}},
		"assign": write(http.MethodPost, "assign a number to a user, a resource account or the bridge", func(fs *flag.FlagSet) func() (any, error) {
			to := fs.String("to", "", "user or resource account id, or bridge (required)")
			return func() (any, error) {
				if *to == "" {
					return nil, usagef("--to is required")
				}
				return map[string]string{"to": *to}, nil
			}
		}, "assign"),
		"unassign": write(http.MethodPost, "unassign a number", nil, "unassign"),
		"release":  write(http.MethodDelete, "give a free number back", nil),
	}, args, stdout, stderr, h)
}

func cmdCall(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	return dispatch(ctx, "call", map[string]sub{
		"authorize": {args: "CALL_ID", nargs: 1, tenant: true, help: "admit or refuse a call (a refusal prints allowed false and exits 0)", flags: func(fs *flag.FlagSet) action {
			var in client.AuthorizeIn
			fs.StringVar(&in.CallType, "type", "user_out", "call type: user_in, user_out, conf_out, …")
			fs.StringVar(&in.Principal, "principal", "", "user, resource account or organizer id")
			fs.StringVar(&in.Caller, "caller", "", "calling number")
			fs.StringVar(&in.Callee, "callee", "", "called number")
			fs.StringVar(&in.ServiceNumber, "service-number", "", "bridge or service number")
			fs.StringVar(&in.Leg, "leg", "", "leg of the call")
			fs.Int64Var(&in.InitialSeconds, "initial-seconds", 0, "seconds to hold at first (default the engine's)")
			return func(ctx context.Context, a *admin, args []string) error {
				t := a.conn.tenant
				in.CallID = args[0]
				_, res, err := a.c.Authorize(ctx, t, in)
				return a.shown(res, err)
			}
		}},
		"release": {args: "CALL_ID", nargs: 1, tenant: true, help: "end a call that did not connect, charging nothing", flags: func(fs *flag.FlagSet) action {
			leg := fs.String("leg", "", "leg of the call")
			return func(ctx context.Context, a *admin, args []string) error {
				t := a.conn.tenant
				return a.shown(a.c.Do(ctx, client.Request{Method: http.MethodPost, Path: client.T(t, "calls", args[0], "release"),
					JSON: map[string]string{"leg": *leg}}))
			}
		}},
		"settle": {args: "CALL_ID", nargs: 1, tenant: true, help: "end a call with its connected seconds", flags: func(fs *flag.FlagSet) action {
			var in client.SettleIn
			fs.Int64Var(&in.Seconds, "seconds", -1, "connected seconds (required)")
			fs.StringVar(&in.Leg, "leg", "", "leg of the call")
			return func(ctx context.Context, a *admin, args []string) error {
				t := a.conn.tenant
				if in.Seconds < 0 {
					return usagef("--seconds is required")
				}
				_, res, err := a.c.Settle(ctx, t, args[0], in)
				return a.shown(res, err)
			}
		}},
	}, args, stdout, stderr, h)
}

// reports maps the CLI's report names to the API's report routes (docs/api.md); the first
// five are the report engine's (docs/reports.md), spend and refusals summary rows of the store.
var reports = []struct {
	name, path, help string
	filters          []string // query parameters taken as flags of the same name
}{
	{"usage", "usage", "PSTN usage, one line per call (--export FILE.zip|.csv|.xlsx: the export file)", []string{"from", "to", "user", "call_type", "capability"}},
	{"pools", "pools", "minute pools of a month", []string{"month"}},
	{"blocked", "blocked-users", "users blocked and unblocked", []string{"from", "to", "user"}},
	{"statement", "statement", "credits statement: entries, lots, expiring funds, forfeitures", []string{"from", "to"}},
	{"runway", "funding", "burn rate, runway and a suggested auto-recharge", nil},
	{"spend", "spend", "credit spend per user and month", nil},
	{"refusals", "refusals", "calls refused, with the reason", nil},
}

// cmdAPIReport reads the API's reports (through a server or --db).
func cmdAPIReport(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	subs := map[string]sub{}
	for _, r := range reports {
		subs[r.name] = sub{tenant: true, help: r.help, flags: func(fs *flag.FlagSet) action {
			asCSV := fs.Bool("csv", false, "print CSV (a header of the API's field names, then one line per row; spend, refusals, usage)")
			export := ""
			if r.name == "usage" {
				fs.StringVar(&export, "export", "", "write the export file (zip, csv or xlsx, by the name's extension)")
			}
			q := map[string]*string{}
			for _, f := range r.filters {
				q[f] = fs.String(strings.ReplaceAll(f, "_", "-"), "", "filter: "+f)
			}
			return func(ctx context.Context, a *admin, _ []string) error {
				if *asCSV && a.conn.json {
					return usagef("give --csv or --json, not both")
				}
				t := a.conn.tenant
				vals := url.Values{}
				for k, v := range q {
					if *v != "" {
						vals.Set(k, *v)
					}
				}
				path := client.T(t, "reports", r.path)
				switch {
				case export != "":
					return exportUsage(ctx, a, path, vals, export)
				case r.name == "usage":
					lines, err := a.c.UsageLines(ctx, path, vals)
					if err != nil {
						return err
					}
					if *asCSV {
						return writeCSV(a.stdout, lines)
					}
					return a.showList(lines)
				case r.filters == nil && r.name != "runway":
					items, err := a.c.All(ctx, path)
					if err != nil {
						return err
					}
					if *asCSV {
						return writeCSV(a.stdout, items)
					}
					return a.showList(items)
				}
				if *asCSV {
					return usagef("--csv is for usage, spend and refusals")
				}
				res, err := a.c.Get(ctx, path, vals, nil)
				if err != nil {
					return err
				}
				return a.show(res)
			}
		}}
	}
	return dispatch(ctx, "report", subs, args, stdout, stderr, h)
}

// exportUsage writes the usage export in the format of file's extension.
func exportUsage(ctx context.Context, a *admin, path string, q url.Values, file string) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(file)), ".")
	if format != "zip" && format != "csv" && format != "xlsx" {
		return usagef("--export %s: want a .zip, .csv or .xlsx file", file)
	}
	q.Set("format", format)
	res, err := a.c.Get(ctx, path+"/export", q, nil)
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, res.Body, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "wrote %s (%d bytes)\n", file, len(res.Body))
	return nil
}
