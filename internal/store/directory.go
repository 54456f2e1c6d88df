package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/money"
)

// The directory's statements, each in a variant per chunk size (see chunks).
type dirKind int

const (
	dirDeleteLicences  dirKind = iota // (tenant_id, user_id)
	dirDeleteUsers                    // (tenant_id, id)
	dirUpsertUsers                    // userCols
	dirInsertLicences                 // (tenant_id, user_id, code)
	dirDeleteNumbers                  // (tenant_id, e164)
	dirUpsertNumbers                  // numberCols
	dirInsertPurchased                // (tenant_id, code, count)
	dirKinds
)

const (
	userCols   = `tenant_id, id, display_name, upn, kind, usage_location, number, conf_dial_out, pstn_policy, spend_limit, toll_free_dial_in_disabled`
	nUserCols  = 11
	numberCols = `tenant_id, e164, country, kind, service, assigned_to`
	nNumCols   = 6

	dirUpsertSettings = `INSERT INTO tenant_settings (tenant_id, billing_country) VALUES (?, ?)
		ON CONFLICT (tenant_id) DO UPDATE SET billing_country = excluded.billing_country`
	dirDeletePurchased = `DELETE FROM purchased_licences WHERE tenant_id = ?`
)

// dirTexts[kind][i] is the statement for chunks[i] rows, with ? placeholders.
var dirTexts = func() (t [dirKinds][len(chunks)]string) {
	for i, n := range chunks {
		t[dirDeleteLicences][i] = rowsText(`DELETE FROM user_licences WHERE (tenant_id, user_id) IN (VALUES `, 2, n, `)`)
		t[dirDeleteUsers][i] = rowsText(`DELETE FROM users WHERE (tenant_id, id) IN (VALUES `, 2, n, `)`)
		t[dirUpsertUsers][i] = rowsText(`INSERT INTO users (`+userCols+`) VALUES `, nUserCols, n,
			` ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = excluded.display_name, upn = excluded.upn,
			kind = excluded.kind, usage_location = excluded.usage_location, number = excluded.number,
			conf_dial_out = excluded.conf_dial_out, pstn_policy = excluded.pstn_policy,
			spend_limit = excluded.spend_limit, toll_free_dial_in_disabled = excluded.toll_free_dial_in_disabled`)
		t[dirInsertLicences][i] = rowsText(`INSERT INTO user_licences (tenant_id, user_id, code) VALUES `, 3, n, ``)
		t[dirDeleteNumbers][i] = rowsText(`DELETE FROM numbers WHERE (tenant_id, e164) IN (VALUES `, 2, n, `)`)
		t[dirUpsertNumbers][i] = rowsText(`INSERT INTO numbers (`+numberCols+`) VALUES `, nNumCols, n,
			` ON CONFLICT (tenant_id, e164) DO UPDATE SET country = excluded.country, kind = excluded.kind,
			service = excluded.service, assigned_to = excluded.assigned_to`)
		t[dirInsertPurchased][i] = rowsText(`INSERT INTO purchased_licences (tenant_id, code, count) VALUES `, 3, n, ``)
	}
	return t
}()

func init() {
	for k := range dirTexts {
		prepared = append(prepared, dirTexts[k][:]...)
	}
	prepared = append(prepared, dirUpsertSettings, dirDeletePurchased)
}

// dirChunked appends the statements of kind that cover args (cols values a row).
func dirChunked(stmts []stmt, k dirKind, cols int, args []any) []stmt {
	for rows := len(args) / cols; rows > 0; {
		n := nextChunk(rows)
		i := 0
		for chunks[i] != n {
			i++
		}
		stmts = append(stmts, stmt{dirTexts[k][i], args[:n*cols]})
		args, rows = args[n*cols:], rows-n
	}
	return stmts
}

// directoryStmts appends the statements that persist c, the changes of tenant's directory
// d (d gives the settings when c.Settings). Pass the Merge of a batch's changes: a user or
// number listed twice is written once, as its last snapshot; one both put and deleted ends
// up present. A user's licence rows are replaced whenever the user is written.
func directoryStmts(stmts []stmt, tenant string, c *directory.Changes, d *directory.Directory) []stmt {
	users := lastBy(c.Users, func(u *directory.User) string { return u.ID })
	nums := lastBy(c.Numbers, func(n *directory.Number) string { return n.E164 })
	var gone, userRows, licRows, goneNums, numRows []any
	for _, id := range unique(c.DeletedUsers) {
		gone = append(gone, tenant, id)
	}
	written := make([]any, 0, 2*len(users))
	for _, u := range users {
		written = append(written, tenant, u.ID)
		off := int64(0)
		if u.TollFreeDialInDisabled {
			off = 1
		}
		userRows = append(userRows, tenant, u.ID, u.DisplayName, u.UPN, u.Kind, u.UsageLocation, u.Number,
			u.ConfDialOut, u.PSTNPolicy, int64(u.SpendLimit), off)
		for _, code := range unique(u.Licences) {
			licRows = append(licRows, tenant, u.ID, code)
		}
	}
	for _, e := range unique(c.DeletedNumbers) {
		goneNums = append(goneNums, tenant, e)
	}
	for _, n := range nums {
		numRows = append(numRows, tenant, n.E164, n.Country, n.Kind, n.Service, n.AssignedTo)
	}
	stmts = dirChunked(stmts, dirDeleteLicences, 2, append(gone[:len(gone):len(gone)], written...))
	stmts = dirChunked(stmts, dirDeleteUsers, 2, gone)
	stmts = dirChunked(stmts, dirUpsertUsers, nUserCols, userRows)
	stmts = dirChunked(stmts, dirInsertLicences, 3, licRows)
	stmts = dirChunked(stmts, dirDeleteNumbers, 2, goneNums)
	stmts = dirChunked(stmts, dirUpsertNumbers, nNumCols, numRows)
	if c.Settings && d != nil {
		stmts = append(stmts, stmt{dirUpsertSettings, []any{tenant, d.BillingCountry}}, stmt{dirDeletePurchased, []any{tenant}})
		var rows []any
		for code, n := range d.PurchasedLicences {
			if n > 0 {
				rows = append(rows, tenant, code, int64(n))
			}
		}
		stmts = dirChunked(stmts, dirInsertPurchased, 3, rows)
	}
	if c.Notify && d != nil {
		stmts = notifyStmts(stmts, tenant, d)
	}
	return stmts
}

// lastBy returns pointers to the last element of each key, in first-seen order.
func lastBy[T any](xs []T, key func(*T) string) []*T {
	at := make(map[string]int, len(xs))
	out := make([]*T, 0, len(xs))
	for i := range xs {
		k := key(&xs[i])
		if j, ok := at[k]; ok {
			out[j] = &xs[i]
			continue
		}
		at[k] = len(out)
		out = append(out, &xs[i])
	}
	return out
}

func unique(xs []string) []string {
	seen := make(map[string]bool, len(xs))
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// loadDirectory reads tenant's directory; a tenant without rows has an empty one.
func loadDirectory(ctx context.Context, q querier, tenant string) (*directory.Directory, error) {
	d := directory.New(tenant)
	each := func(query string, scan func(r rows) error) error {
		r, err := q.query(ctx, query, tenant)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			if err := scan(r); err != nil {
				return err
			}
		}
		return r.Err()
	}
	err := each(`SELECT billing_country FROM tenant_settings WHERE tenant_id = ?`, func(r rows) error {
		return r.Scan(&d.BillingCountry)
	})
	if err == nil {
		err = each(`SELECT id, display_name, upn, kind, usage_location, number, conf_dial_out, pstn_policy,
			spend_limit, toll_free_dial_in_disabled FROM users WHERE tenant_id = ?`, func(r rows) error {
			u := &directory.User{}
			var limit, off int64
			if err := r.Scan(&u.ID, &u.DisplayName, &u.UPN, &u.Kind, &u.UsageLocation, &u.Number, &u.ConfDialOut,
				&u.PSTNPolicy, &limit, &off); err != nil {
				return err
			}
			u.SpendLimit, u.TollFreeDialInDisabled = money.Amount(limit), off != 0
			d.Users[u.ID] = u
			return nil
		})
	}
	if err == nil {
		err = each(`SELECT user_id, code FROM user_licences WHERE tenant_id = ?`, func(r rows) error {
			var id, code string
			if err := r.Scan(&id, &code); err != nil {
				return err
			}
			if u := d.Users[id]; u != nil {
				u.Licences = append(u.Licences, code)
			}
			return nil
		})
	}
	if err == nil {
		err = each(`SELECT e164, country, kind, service, assigned_to FROM numbers WHERE tenant_id = ?`, func(r rows) error {
			n := &directory.Number{}
			if err := r.Scan(&n.E164, &n.Country, &n.Kind, &n.Service, &n.AssignedTo); err != nil {
				return err
			}
			d.Numbers[n.E164] = n
			return nil
		})
	}
	if err == nil {
		err = each(`SELECT code, count FROM purchased_licences WHERE tenant_id = ?`, func(r rows) error {
			var code string
			var n int64
			if err := r.Scan(&code, &n); err != nil {
				return err
			}
			d.PurchasedLicences[code] = int(n)
			return nil
		})
	}
	if err == nil {
		err = loadNotify(ctx, q, d)
	}
	if err != nil {
		return nil, fmt.Errorf("directory of %q: %w", tenant, err)
	}
	for _, u := range d.Users {
		slices.Sort(u.Licences) // in Go's order: a PostgreSQL collation may differ
	}
	return d, nil
}
