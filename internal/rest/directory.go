package rest

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/tenant"
)

// CommandResult is the answer of a directory, funding or settings command: the tenant's
// balance after it, in its currency.
type CommandResult struct {
	Balance   string `json:"balance"`
	Available string `json:"available"`
	Replayed  bool   `json:"replayed,omitempty" doc:"the Idempotency-Key had been used with this request: nothing was applied again"`
}

type resultOut struct {
	Replayed string `header:"Idempotent-Replayed"`
	Body     CommandResult
}

// submit sends cmd through the writer under the caller's Idempotency-Key.
func (a *API) submit(ctx context.Context, tenantID, idem string, cmd tenant.Command) (*resultOut, error) {
	cur, err := a.currency(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	r, err := a.svc.Submit(ctx, tenantID, idem, cmd)
	if err != nil {
		return nil, problem(err)
	}
	out := &resultOut{Body: CommandResult{Balance: r.Balance.Format(cur), Available: r.Available.Format(cur), Replayed: r.Replayed}}
	if r.Replayed {
		out.Replayed = "true"
	}
	return out, nil
}

// UserIn is a user or resource account as a client sends it.
type UserIn struct {
	DisplayName            string   `json:"display_name" maxLength:"256"`
	UPN                    string   `json:"upn,omitempty" maxLength:"256"`
	Kind                   string   `json:"kind,omitempty" enum:"user,resource_account" doc:"default user"`
	UsageLocation          string   `json:"usage_location" pattern:"^[A-Za-z]{2}$" doc:"ISO 3166 alpha-2"`
	Licences               []string `json:"licences,omitempty" maxItems:"64"`
	Number                 string   `json:"number,omitempty" pattern:"^\\+[1-9][0-9]{1,14}$" doc:"E.164 number the tenant holds"`
	ConfDialOut            string   `json:"conf_dial_out,omitempty" enum:"any,same_country,zone_a,none"`
	PSTNPolicy             string   `json:"pstn_policy,omitempty" enum:"international,domestic,none"`
	SpendLimit             string   `json:"spend_limit,omitempty" maxLength:"32" doc:"monthly credit spend limit as a decimal in the tenant's currency; empty or 0: none"`
	TollFreeDialInDisabled bool     `json:"toll_free_dial_in_disabled,omitempty"`
}

// UserOut is a user or resource account.
type UserOut struct {
	directory.User
	SpendLimit string `json:"spend_limit" doc:"decimal in the tenant's currency; 0 means none"`
}

func userOut(u *directory.User, cur money.Currency) UserOut {
	return UserOut{User: *u, SpendLimit: u.SpendLimit.Format(cur)}
}

func (a *API) currency(ctx context.Context, tenantID string) (money.Currency, error) {
	c, err := a.svc.Currency(ctx, tenantID)
	if err != nil {
		return money.Currency{}, problem(err)
	}
	return c, nil
}

func (u UserIn) user(id, loc string, cur money.Currency) (directory.User, error) {
	kind := u.Kind
	if kind == "" {
		kind = directory.KindUser
	}
	var limit money.Amount
	if u.SpendLimit != "" {
		var err error
		if limit, err = amount(loc+".spend_limit", u.SpendLimit, cur); err != nil {
			return directory.User{}, err
		}
	}
	return directory.User{ID: id, DisplayName: u.DisplayName, UPN: u.UPN, Kind: kind, UsageLocation: u.UsageLocation,
		Licences: u.Licences, Number: strings.TrimPrefix(u.Number, "+"), ConfDialOut: u.ConfDialOut, PSTNPolicy: u.PSTNPolicy,
		SpendLimit: limit, TollFreeDialInDisabled: u.TollFreeDialInDisabled}, nil
}

type UserPath struct {
	TenantPath
	UserID string `path:"user_id" maxLength:"128"`
}

func (a *API) user(ctx context.Context, tenantID, id string) (*directory.User, money.Currency, error) {
	cur, err := a.currency(ctx, tenantID)
	if err != nil {
		return nil, cur, err
	}
	d, err := a.svc.Directory(ctx, tenantID)
	if err != nil {
		return nil, cur, problem(err)
	}
	u, ok := d.User(id)
	if !ok {
		return nil, cur, huma.Error404NotFound("user "+id+" not found", &huma.ErrorDetail{Location: "path.user_id", Value: id})
	}
	return u, cur, nil
}

func (a *API) directoryRoutes() {
	type listUsersIn struct {
		TenantPath
		PageQuery
	}
	type usersOut struct {
		Body struct {
			Items      []UserOut `json:"items"`
			NextCursor string    `json:"next_cursor,omitempty"`
		}
	}
	huma.Register(a, a.op("list-users", http.MethodGet, "/v1/tenants/{tenant}/users", "List users and resource accounts", accRead, "users"),
		func(ctx context.Context, in *listUsersIn) (*usersOut, error) {
			cur, err := a.currency(ctx, in.Tenant)
			if err != nil {
				return nil, err
			}
			d, err := a.svc.Directory(ctx, in.Tenant)
			if err != nil {
				return nil, problem(err)
			}
			ids := slices.Sorted(func(yield func(string) bool) {
				for id := range d.Users {
					if !yield(id) {
						return
					}
				}
			})
			ids, next := page(ids, func(s string) string { return s }, in.PageQuery)
			out := &usersOut{}
			out.Body.Items = make([]UserOut, 0, len(ids))
			for _, id := range ids {
				out.Body.Items = append(out.Body.Items, userOut(d.Users[id], cur))
			}
			out.Body.NextCursor = next
			return out, nil
		})

	type userResp struct {
		ETag string `header:"ETag"`
		Body UserOut
	}
	huma.Register(a, a.op("get-user", http.MethodGet, "/v1/tenants/{tenant}/users/{user_id}", "Get a user", accRead, "users"),
		func(ctx context.Context, in *UserPath) (*userResp, error) {
			u, cur, err := a.user(ctx, in.Tenant, in.UserID)
			if err != nil {
				return nil, err
			}
			return &userResp{ETag: etagOf(u), Body: userOut(u, cur)}, nil
		})

	type putUserIn struct {
		UserPath
		IdemHeader
		IfMatch string `header:"If-Match" maxLength:"200" doc:"ETag of the user as read; 412 when it changed since"`
		Body    UserIn
	}
	huma.Register(a, a.op("put-user", http.MethodPut, "/v1/tenants/{tenant}/users/{user_id}", "Create or replace a user or resource account", accDirectory, "users"),
		func(ctx context.Context, in *putUserIn) (*resultOut, error) {
			defer a.lockTenant(in.Tenant)()
			cur, err := a.currency(ctx, in.Tenant)
			if err != nil {
				return nil, err
			}
			if in.IfMatch != "" {
				u, _, err := a.user(ctx, in.Tenant, in.UserID)
				if err != nil {
					return nil, err
				}
				if err := checkIfMatch(in.IfMatch, etagOf(u)); err != nil {
					return nil, err
				}
			}
			u, err := in.Body.user(in.UserID, "body", cur)
			if err != nil {
				return nil, problem(err)
			}
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.PutUser{User: u})
		})

	type bulkUsersIn struct {
		TenantPath
		IdemHeader
		Body struct {
			Users []struct {
				ID string `json:"id" minLength:"1" maxLength:"128"`
				UserIn
			} `json:"users" minItems:"1" maxItems:"1000"`
		}
	}
	type bulkItem struct {
		ID     string           `json:"id"`
		Status int              `json:"status"`
		Error  *huma.ErrorModel `json:"error,omitempty"`
	}
	type bulkOut struct {
		Body struct {
			Items []bulkItem `json:"items"`
		}
	}
	huma.Register(a, a.op("put-users-bulk", http.MethodPost, "/v1/tenants/{tenant}/users/bulk",
		"Create or replace many users; each is applied on its own and reported", accDirectory, "users"),
		func(ctx context.Context, in *bulkUsersIn) (*bulkOut, error) {
			defer a.lockTenant(in.Tenant)()
			cur, err := a.currency(ctx, in.Tenant)
			if err != nil {
				return nil, err
			}
			// Every user is checked before any is applied: bad input changes nothing.
			users := make([]directory.User, len(in.Body.Users))
			for i, b := range in.Body.Users {
				if users[i], err = b.user(b.ID, "body.users["+itoa(i)+"]", cur); err != nil {
					return nil, problem(err)
				}
			}
			out := &bulkOut{}
			for i, u := range users {
				idem := ""
				if in.IdempotencyKey != "" {
					idem = in.IdempotencyKey + "#" + itoa(i)
				}
				it := bulkItem{ID: u.ID, Status: http.StatusOK}
				if _, err := a.svc.Submit(ctx, in.Tenant, idem, directory.PutUser{User: u}); err != nil {
					perr := problem(err)
					if se, ok := perr.(*huma.ErrorModel); ok {
						it.Status, it.Error = se.Status, se
					} else {
						return nil, perr
					}
				}
				out.Body.Items = append(out.Body.Items, it)
			}
			return out, nil
		})

	do := a.op("delete-user", http.MethodDelete, "/v1/tenants/{tenant}/users/{user_id}", "Delete a user; its number becomes unassigned", accDirectory, "users")
	huma.Register(a, do, func(ctx context.Context, in *UserPath) (*resultOut, error) {
		defer a.lockTenant(in.Tenant)()
		return a.submit(ctx, in.Tenant, "", directory.DeleteUser{UserID: in.UserID})
	})

	type licencesIn struct {
		TenantPath
		IdemHeader
		Body struct {
			UserIDs []string `json:"user_ids" minItems:"1" maxItems:"100000"`
			Add     []string `json:"add,omitempty" maxItems:"64"`
			Remove  []string `json:"remove,omitempty" maxItems:"64"`
		}
	}
	huma.Register(a, a.op("assign-licences", http.MethodPost, "/v1/tenants/{tenant}/licences/assign",
		"Add and remove licences for one or many users, all or nothing", accDirectory, "licences"),
		func(ctx context.Context, in *licencesIn) (*resultOut, error) {
			defer a.lockTenant(in.Tenant)()
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.AssignLicences{UserIDs: in.Body.UserIDs, Add: in.Body.Add, Remove: in.Body.Remove})
		})

	type licenceCSVIn struct {
		TenantPath
		IdemHeader
		RawBody []byte `contentType:"text/csv"`
	}
	lo := a.op("import-licences", http.MethodPost, "/v1/tenants/{tenant}/licences/import",
		"Apply a licence CSV (user_id,add,remove), all or nothing", accDirectory, "licences")
	lo.MaxBodyBytes = a.cfg.MaxUpload
	huma.Register(a, lo, func(ctx context.Context, in *licenceCSVIn) (*resultOut, error) {
		defer a.lockTenant(in.Tenant)()
		rows, err := directory.ParseLicenceCSV(in.RawBody)
		if err != nil {
			return nil, csvProblem(err)
		}
		return a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.AssignLicenceRows{Rows: rows})
	})

	type locationIn struct {
		UserPath
		IdemHeader
		Body struct {
			Country string `json:"country" pattern:"^[A-Za-z]{2}$" doc:"ISO 3166 alpha-2"`
		}
	}
	huma.Register(a, a.op("set-usage-location", http.MethodPut, "/v1/tenants/{tenant}/users/{user_id}/usage-location", "Set a user's usage location", accDirectory, "users"),
		func(ctx context.Context, in *locationIn) (*resultOut, error) {
			defer a.lockTenant(in.Tenant)()
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.SetUsageLocation{UserID: in.UserID, Country: in.Body.Country})
		})

	// Policies and spend limits: settings with ETags.
	type policies struct {
		ConfDialOut string `json:"conf_dial_out" enum:"any,same_country,zone_a,none"`
		PSTN        string `json:"pstn" enum:"international,domestic,none"`
	}
	type policiesOut struct {
		ETag string `header:"ETag"`
		Body policies
	}
	policiesOf := func(u *directory.User) policies { return policies{ConfDialOut: u.ConfDialOut, PSTN: u.PSTNPolicy} }
	huma.Register(a, a.op("get-policies", http.MethodGet, "/v1/tenants/{tenant}/users/{user_id}/policies", "Get a user's dial-out and PSTN policies", accRead, "policies"),
		func(ctx context.Context, in *UserPath) (*policiesOut, error) {
			u, _, err := a.user(ctx, in.Tenant, in.UserID)
			if err != nil {
				return nil, err
			}
			p := policiesOf(u)
			return &policiesOut{ETag: etagOf(p), Body: p}, nil
		})
	type setPoliciesIn struct {
		UserPath
		IdemHeader
		IfMatch string `header:"If-Match" maxLength:"200"`
		Body    struct {
			ConfDialOut string `json:"conf_dial_out,omitempty" enum:"any,same_country,zone_a,none"`
			PSTN        string `json:"pstn,omitempty" enum:"international,domestic,none"`
		}
	}
	huma.Register(a, a.op("set-policies", http.MethodPut, "/v1/tenants/{tenant}/users/{user_id}/policies",
		"Set a user's conference dial-out and PSTN policies (omitted: unchanged)", accDirectory, "policies"),
		func(ctx context.Context, in *setPoliciesIn) (*resultOut, error) {
			defer a.lockTenant(in.Tenant)()
			u, _, err := a.user(ctx, in.Tenant, in.UserID)
			if err != nil {
				return nil, err
			}
			if err := checkIfMatch(in.IfMatch, etagOf(policiesOf(u))); err != nil {
				return nil, err
			}
			c := directory.SetPolicies{UserID: in.UserID}
			if in.Body.ConfDialOut != "" {
				c.ConfDialOut = &in.Body.ConfDialOut
			}
			if in.Body.PSTN != "" {
				c.PSTN = &in.Body.PSTN
			}
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, c)
		})

	type limit struct {
		Limit string `json:"limit" doc:"monthly credit spend limit as a decimal in the tenant's currency; 0: none"`
	}
	type limitOut struct {
		ETag string `header:"ETag"`
		Body limit
	}
	huma.Register(a, a.op("get-spend-limit", http.MethodGet, "/v1/tenants/{tenant}/users/{user_id}/spend-limit", "Get a user's monthly spend limit", accRead, "policies"),
		func(ctx context.Context, in *UserPath) (*limitOut, error) {
			u, cur, err := a.user(ctx, in.Tenant, in.UserID)
			if err != nil {
				return nil, err
			}
			l := limit{u.SpendLimit.Format(cur)}
			return &limitOut{ETag: etagOf(l), Body: l}, nil
		})
	type setLimitIn struct {
		UserPath
		IdemHeader
		IfMatch string `header:"If-Match" maxLength:"200"`
		Body    struct {
			Limit string `json:"limit" minLength:"1" maxLength:"32"`
		}
	}
	huma.Register(a, a.op("set-spend-limit", http.MethodPut, "/v1/tenants/{tenant}/users/{user_id}/spend-limit", "Set a user's monthly spend limit", accBilling, "policies"),
		func(ctx context.Context, in *setLimitIn) (*resultOut, error) {
			defer a.lockTenant(in.Tenant)()
			u, cur, err := a.user(ctx, in.Tenant, in.UserID)
			if err != nil {
				return nil, err
			}
			if err := checkIfMatch(in.IfMatch, etagOf(limit{u.SpendLimit.Format(cur)})); err != nil {
				return nil, err
			}
			amt, err := amount("body.limit", in.Body.Limit, cur)
			if err != nil {
				return nil, problem(err)
			}
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.SetSpendLimit{UserID: in.UserID, Limit: amt})
		})

	type tollFreeIn struct {
		UserPath
		IdemHeader
		Body struct {
			Disabled bool `json:"disabled" doc:"true turns toll-free dial-in off for this organizer's meetings"`
		}
	}
	huma.Register(a, a.op("set-organizer-toll-free", http.MethodPut, "/v1/tenants/{tenant}/users/{user_id}/toll-free-dial-in",
		"Turn toll-free dial-in on or off for a meeting organizer", accDirectory, "bridge"),
		func(ctx context.Context, in *tollFreeIn) (*resultOut, error) {
			defer a.lockTenant(in.Tenant)()
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.SetTollFreeDialIn{OrganizerID: in.UserID, Disabled: in.Body.Disabled})
		})

	// Numbers.
	type numbersOut struct {
		Body struct {
			Items      []directory.Number `json:"items"`
			NextCursor string             `json:"next_cursor,omitempty"`
		}
	}
	type listNumbersIn struct {
		TenantPath
		PageQuery
	}
	listNumbers := func(bridge bool) func(ctx context.Context, in *listNumbersIn) (*numbersOut, error) {
		return func(ctx context.Context, in *listNumbersIn) (*numbersOut, error) {
			d, err := a.svc.Directory(ctx, in.Tenant)
			if err != nil {
				return nil, problem(err)
			}
			var all []directory.Number
			for _, n := range d.Numbers {
				if !bridge || n.AssignedTo == directory.Bridge {
					all = append(all, *n)
				}
			}
			slices.SortFunc(all, func(x, y directory.Number) int { return strings.Compare(x.E164, y.E164) })
			items, next := page(all, func(n directory.Number) string { return n.E164 }, in.PageQuery)
			out := &numbersOut{}
			out.Body.Items = append([]directory.Number{}, items...)
			out.Body.NextCursor = next
			return out, nil
		}
	}
	huma.Register(a, a.op("list-numbers", http.MethodGet, "/v1/tenants/{tenant}/numbers", "List the tenant's phone numbers", accRead, "numbers"), listNumbers(false))
	huma.Register(a, a.op("list-bridge-numbers", http.MethodGet, "/v1/tenants/{tenant}/bridge/numbers", "List the conferencing bridge's numbers", accRead, "bridge"), listNumbers(true))

	type acquireIn struct {
		TenantPath
		IdemHeader
		Body struct {
			E164    string `json:"e164" pattern:"^\\+[1-9][0-9]{1,14}$" doc:"E.164 with +"`
			Kind    string `json:"kind" enum:"user,service"`
			Service string `json:"service,omitempty" enum:"toll,toll_free" doc:"for service numbers; toll_free needs credits set up"`
		}
	}
	ao := a.op("acquire-number", http.MethodPost, "/v1/tenants/{tenant}/numbers", "Acquire a phone number (toll-free only once credits are set up)", accDirectory, "numbers")
	huma.Register(a, ao, func(ctx context.Context, in *acquireIn) (*resultOut, error) {
		return a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.AcquireNumber{E164: in.Body.E164, Kind: in.Body.Kind, Service: in.Body.Service})
	})
	type NumberPath struct {
		TenantPath
		IdemHeader
		E164 string `path:"e164" pattern:"^\\+?[1-9][0-9]{1,14}$" doc:"E.164, + optional"`
	}
	type assignIn struct {
		NumberPath
		Body struct {
			To string `json:"to" minLength:"1" maxLength:"128" doc:"user or resource account id, or \"bridge\""`
		}
	}
	huma.Register(a, a.op("assign-number", http.MethodPost, "/v1/tenants/{tenant}/numbers/{e164}/assign",
		"Assign a number to a user, a resource account or the bridge", accDirectory, "numbers"),
		func(ctx context.Context, in *assignIn) (*resultOut, error) {
			defer a.lockTenant(in.Tenant)()
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.AssignNumber{E164: in.E164, To: in.Body.To})
		})
	huma.Register(a, a.op("unassign-number", http.MethodPost, "/v1/tenants/{tenant}/numbers/{e164}/unassign", "Unassign a number", accDirectory, "numbers"),
		func(ctx context.Context, in *NumberPath) (*resultOut, error) {
			defer a.lockTenant(in.Tenant)()
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.UnassignNumber{E164: in.E164})
		})
	huma.Register(a, a.op("release-number", http.MethodDelete, "/v1/tenants/{tenant}/numbers/{e164}", "Give a free number back", accDirectory, "numbers"),
		func(ctx context.Context, in *NumberPath) (*resultOut, error) {
			return a.submit(ctx, in.Tenant, in.IdempotencyKey, directory.ReleaseNumber{E164: in.E164})
		})
}

// csvProblem turns a licence CSV's errors into one problem listing every bad line.
func csvProblem(err error) error {
	var ce *directory.CSVErrors
	if !errorsAs(err, &ce) {
		return problem(err)
	}
	details := make([]error, 0, len(ce.List))
	for _, e := range ce.List {
		details = append(details, &huma.ErrorDetail{Location: "body.line[" + itoa(e.Line) + "]." + e.Field, Message: e.Msg})
	}
	return huma.Error422UnprocessableEntity("licence CSV rejected: nothing applied", details...)
}
