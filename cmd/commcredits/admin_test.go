package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/commcredits/commcredits/internal/client"
	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/pgtest"
	"github.com/commcredits/commcredits/internal/rest"
	"github.com/commcredits/commcredits/internal/service"
	"github.com/commcredits/commcredits/internal/store"
)

const cardCSV = "prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n" +
	"1,\"United States, Canada\",fixed_or_mobile,0.012,0.05,60,60,2024-01-01,false\n" +
	"44,United Kingdom,fixed,0.03,0.05,30,6,2024-01-01,false\n"

// cliEnv runs admin commands in one mode: against a server (remote) or a database (local).
type cliEnv struct {
	t      *testing.T
	mode   string
	dsn    string   // the database (the server's in remote mode)
	conn   []string // flags that pick the backend
	url    string   // remote only
	opKey  string   // remote only
	svc    *service.Service
	closer func()
}

func newCLIEnv(t *testing.T, mode string) *cliEnv {
	t.Helper()
	dir := t.TempDir()
	e := &cliEnv{t: t, mode: mode, dsn: "sqlite:" + filepath.Join(dir, "cc.db")}
	if mode == "postgres" {
		e.dsn, mode, e.mode = pgtest.DSN(t), "local", "local"
	}
	if mode == "local" {
		e.conn = []string{"--db", e.dsn}
		return e
	}
	mux, svc, closeAll, err := localAPI(context.Background(), e.dsn, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); closeAll() })
	_, op, err := svc.CreateKey(context.Background(), "", service.RoleOperator, "test")
	if err != nil {
		t.Fatal(err)
	}
	e.url, e.opKey, e.svc = srv.URL, op, svc
	e.conn = []string{"--url", srv.URL, "--key", op}
	return e
}

// run runs a command with the backend's flags appended; it returns the exit code, stdout
// and stderr.
func (e *cliEnv) run(args ...string) (int, string, string) {
	e.t.Helper()
	return e.runWith(e.conn, args...)
}

func (e *cliEnv) runWith(conn []string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runWith(context.Background(), append(slices.Clone(args), conn...), &out, &errb, hooks{getenv: noEnv})
	return code, out.String(), errb.String()
}

// ok runs a command that must succeed and returns its stdout.
func (e *cliEnv) ok(args ...string) string {
	e.t.Helper()
	code, out, errs := e.run(args...)
	if code != exitOK {
		e.t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// fails runs a command that must exit with code and returns its stderr.
func (e *cliEnv) fails(code int, args ...string) string {
	e.t.Helper()
	got, out, errs := e.run(args...)
	if got != code {
		e.t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, errs)
	}
	return errs
}

// store reads the committed state: in remote mode the server's store, in local mode the
// database file opened anew (every command has closed it).
func (e *cliEnv) store() *store.SQL {
	e.t.Helper()
	if e.svc != nil {
		return e.svc.Store
	}
	d, err := db.Open(context.Background(), e.dsn)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { d.Close() })
	return store.New(d)
}

func (e *cliEnv) balance(tenantID string) money.Amount {
	e.t.Helper()
	acc, err := e.store().Account(context.Background(), tenantID)
	if err != nil {
		e.t.Fatal(err)
	}
	return acc.Balance
}

func (e *cliEnv) licences(tenantID, user string) []string {
	e.t.Helper()
	d, err := e.store().Directory(context.Background(), tenantID)
	if err != nil {
		e.t.Fatal(err)
	}
	u, ok := d.User(user)
	if !ok {
		e.t.Fatalf("no user %s", user)
	}
	l := slices.Clone(u.Licences)
	slices.Sort(l)
	return l
}

func wantField(t *testing.T, table, name, want string) {
	t.Helper()
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+` + regexp.QuoteMeta(want) + `\s*$`).MatchString(table) {
		t.Fatalf("want %s = %s in:\n%s", name, want, table)
	}
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v in %q", err, s)
	}
	return v
}

type items struct {
	Items []map[string]any `json:"items"`
}

// TestAdminCommands runs the admin tour against a real server and against a database
// path (SQLite, and PostgreSQL through --db postgres://…), asserting the output and the
// committed state.
func TestAdminCommands(t *testing.T) {
	for _, mode := range []string{"remote", "local", "postgres"} {
		t.Run(mode, func(t *testing.T) {
			e := newCLIEnv(t, mode)
			dir := t.TempDir()
			write := func(name, data string) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}

			// Tenants.
			out := e.ok("tenant", "create", "acme", "--name", "Acme", "--currency", "usd", "--billing-country", "us")
			wantField(t, out, "id", "acme")
			wantField(t, out, "currency", "USD")
			wantField(t, out, "billing_country", "US")
			if errs := e.fails(exitError, "tenant", "create", "acme", "--name", "Again", "--currency", "USD"); !strings.Contains(errs, "409") {
				t.Fatalf("duplicate tenant: %s", errs)
			}
			if errs := e.fails(exitError, "tenant", "create", "bad id", "--name", "X", "--currency", "USD"); !strings.Contains(errs, "body.id") {
				t.Fatalf("bad id must name body.id: %s", errs)
			}
			if errs := e.fails(exitError, "tenant", "create", "x1", "--name", "X", "--currency", "XYZ"); !strings.Contains(errs, "currency") {
				t.Fatalf("bad currency must name the currency: %s", errs)
			}
			e.ok("tenant", "create", "other", "--name", "Other", "--currency", "EUR")
			ts := decode[items](t, e.ok("tenant", "list", "--json"))
			if len(ts.Items) != 2 || ts.Items[0]["id"] != "acme" || ts.Items[1]["currency"] != "EUR" {
				t.Fatalf("tenant list: %+v", ts)
			}
			if out := e.ok("tenant", "list"); !regexp.MustCompile(`(?m)^ID\s+NAME\s+CURRENCY`).MatchString(out) || !strings.Contains(out, "Other") {
				t.Fatalf("tenant table: %s", out)
			}
			if errs := e.fails(exitError, "tenant", "show", "nope"); !strings.Contains(errs, "404") {
				t.Fatalf("unknown tenant: %s", errs)
			}

			// Keys: the secret once, list, revoke.
			k := decode[map[string]any](t, e.ok("key", "create", "--tenant", "acme", "--role", "tenant_admin", "--name", "ops", "--json"))
			secret, _ := k["secret"].(string)
			if !strings.HasPrefix(secret, service.KeyPrefix) || k["role"] != "tenant_admin" {
				t.Fatalf("key create: %v", k)
			}
			ks := decode[items](t, e.ok("key", "list", "--tenant", "acme", "--json"))
			if len(ks.Items) != 1 || ks.Items[0]["id"] != k["id"] || ks.Items[0]["secret"] != nil {
				t.Fatalf("key list shows the key once, without its secret: %+v", ks)
			}
			if errs := e.fails(exitError, "key", "create", "--tenant", "acme", "--role", "janitor"); !strings.Contains(errs, "body.role") {
				t.Fatalf("bad role: %s", errs)
			}

			// Users and licences.
			e.ok("user", "put", "alice", "--tenant", "acme", "--display-name", "Alice", "--usage-location", "gb",
				"--licences", "MCOEV,MCOPSTN_PAYG,MCOPSTNPP")
			e.ok("user", "put", "bob", "--tenant", "acme", "--display-name", "Bob", "--usage-location", "US", "--licences", "MCOEV")
			if out := e.ok("user", "list", "--tenant", "acme"); !regexp.MustCompile(`(?m)^alice\s+Alice\s+user\s+GB\s+MCOEV,`).MatchString(out) {
				t.Fatalf("user table: %s", out)
			}
			if errs := e.fails(exitError, "user", "put", "carol", "--tenant", "acme", "--display-name", "C", "--usage-location", "GB", "--number", "12345"); !strings.Contains(errs, "body.number") {
				t.Fatalf("bad number: %s", errs)
			}
			e.ok("licence", "assign", "--tenant", "acme", "--users", "alice,bob", "--add", "MCOMEETADD")
			if got := e.licences("acme", "bob"); !slices.Equal(got, []string{"MCOEV", "MCOMEETADD"}) {
				t.Fatalf("bob after assign: %v", got)
			}
			before := e.licences("acme", "alice")
			bad := write("bad.csv", "user_id,add,remove\nalice,,MCOMEETADD\nnobody,MCOEV,\nbob,NOSUCHCODE,\n")
			errs := e.fails(exitError, "licence", "import", bad, "--tenant", "acme")
			if !strings.Contains(errs, "line") || !strings.Contains(errs, "3") || !strings.Contains(errs, "nobody") {
				t.Fatalf("bad licence CSV must name its line: %s", errs)
			}
			if got := e.licences("acme", "alice"); !slices.Equal(got, before) {
				t.Fatalf("a bad CSV changed alice: %v → %v", before, got)
			}
			malformed := write("malformed.csv", "user_id,add\nalice,\"unterminated\n")
			if errs := e.fails(exitError, "licence", "import", malformed, "--tenant", "acme"); !strings.Contains(errs, "line[") {
				t.Fatalf("malformed CSV: %s", errs)
			}
			good := write("good.csv", "user_id,add,remove\nalice,,MCOMEETADD\nbob,MCOPSTN1;MCOPSTNPP,\n")
			e.ok("licence", "import", good, "--tenant", "acme")
			if got := e.licences("acme", "alice"); slices.Contains(got, "MCOMEETADD") {
				t.Fatalf("import did not remove: %v", got)
			}
			if got := e.licences("acme", "bob"); !slices.Contains(got, "MCOPSTN1") {
				t.Fatalf("import did not add: %v", got)
			}

			// Credits.
			out = e.ok("credits", "add", "100.00", "--tenant", "acme", "--method", "ea:T-1")
			wantField(t, out, "balance", "100.00")
			if errs := e.fails(exitError, "credits", "add", "1.234", "--tenant", "acme", "--method", "ea:T-1"); !strings.Contains(errs, "body.amount") {
				t.Fatalf("bad amount: %s", errs)
			}
			if got := e.balance("acme"); got != 10000 {
				t.Fatalf("balance %d, want 10000 minor units", got)
			}
			// The same Idempotency-Key twice: applied once.
			for range 2 {
				e.ok("credits", "add", "50.00", "--tenant", "acme", "--method", "ea:T-1", "--idempotency-key", "fund-once")
			}
			if got := e.balance("acme"); got != 15000 {
				t.Fatalf("balance %d after a replayed add, want 15000", got)
			}
			bal := decode[map[string]any](t, e.ok("credits", "balance", "--tenant", "acme", "--json"))
			if bal["balance"] != "150.00" || bal["credits_set_up"] != true {
				t.Fatalf("balance JSON: %v", bal)
			}
			if out := e.ok("credits", "lots", "--tenant", "acme"); len(regexp.MustCompile(`(?m)^\d+\s+purchase\s`).FindAllString(out, -1)) != 2 || !strings.Contains(out, "REMAINING") {
				t.Fatalf("lots: %s", out)
			}
			es := decode[items](t, e.ok("credits", "entries", "--tenant", "acme", "--json"))
			if len(es.Items) != 2 || es.Items[1]["balance_after"] != "150.00" {
				t.Fatalf("entries: %+v", es)
			}
			if errs := e.fails(exitError, "credits", "auto-recharge", "set", "--tenant", "acme", "--trigger", "10", "--amount", "50"); !strings.Contains(errs, "payment_method") {
				t.Fatalf("auto-recharge without a method must name payment_method: %s", errs)
			}
			e.ok("credits", "payment-method", "set", "pm_card_visa", "--tenant", "acme", "--brand", "visa", "--last4", "4242", "--exp-month", "12", "--exp-year", "2031")
			out = e.ok("credits", "payment-method", "show", "--tenant", "acme")
			wantField(t, out, "last4", "4242")
			e.fails(exitUsage, "credits", "payment-method", "set", "--tenant", "acme")
			e.ok("credits", "auto-recharge", "set", "--tenant", "acme", "--trigger", "10", "--amount", "50", "--monthly-cap", "500")
			ar := decode[map[string]any](t, e.ok("credits", "auto-recharge", "show", "--tenant", "acme", "--json"))
			if ar["enabled"] != true || ar["trigger"] != "10.00" || ar["monthly_cap"] != "500.00" || ar["payment_method"] != "pm_card_visa" {
				t.Fatalf("auto-recharge after set: %v", ar)
			}
			e.ok("credits", "auto-recharge", "off", "--tenant", "acme")
			out = e.ok("credits", "auto-recharge", "show", "--tenant", "acme")
			wantField(t, out, "enabled", "false")
			wantField(t, out, "amount", "50.00") // off keeps the amounts for the next set

			// Rate card, a call, reports.
			card := write("card.csv", cardCSV)
			if out := e.ok("ratecard", "import", "--service", "outbound", "--currency", "USD", card); !strings.Contains(out, "stored outbound/USD/v1: 2 rows") {
				t.Fatalf("ratecard import: %s", out)
			}
			if out := e.ok("ratecard", "list"); !regexp.MustCompile(`(?m)^outbound\s+USD\s+1\s+2\s`).MatchString(out) {
				t.Fatalf("ratecard list: %s", out)
			}
			badCard := write("badcard.csv", strings.Replace(cardCSV, "0.03", "abc", 1))
			if errs := e.fails(exitError, "ratecard", "import", "--service", "outbound", "--currency", "USD", badCard); !strings.Contains(errs, "3") || !strings.Contains(errs, "rate_per_minute") {
				t.Fatalf("bad card must name line 3 and its column: %s", errs)
			}
			if e.mode == "local" {
				// The card was stored by another command: this one loads it from the database.
				out = e.ok("call", "authorize", "c1", "--tenant", "acme", "--principal", "alice", "--caller", "+442071234567", "--callee", "+14155550199")
			} else {
				// A server loads new cards every few seconds; import through its own registry.
				if _, err := e.svc.ImportRateCard(context.Background(), "outbound", "USD", []byte(cardCSV)); err != nil {
					t.Fatal(err)
				}
				out = e.ok("call", "authorize", "c1", "--tenant", "acme", "--principal", "alice", "--caller", "+442071234567", "--callee", "+14155550199")
			}
			wantField(t, out, "allowed", "true")
			res := decode[map[string]any](t, e.ok("call", "settle", "c1", "--tenant", "acme", "--seconds", "61", "--json"))
			if res["charge"] == nil || res["charge"] == "0.00" {
				t.Fatalf("settle charged nothing: %v", res)
			}
			out = e.ok("call", "authorize", "c2", "--tenant", "acme", "--principal", "alice", "--callee", "+14155550199")
			wantField(t, out, "allowed", "true")
			out = e.ok("call", "release", "c2", "--tenant", "acme")
			wantField(t, out, "allowed", "true")
			if errs := e.fails(exitError, "call", "settle", "c9", "--tenant", "acme", "--seconds", "5"); !strings.Contains(errs, "404") || !strings.Contains(errs, "call_id") {
				t.Fatalf("settle of an unknown call: %s", errs)
			}
			// Through a server the usage rows are the API's; with --db, the report engine.
			if e.mode == "remote" {
				us := decode[items](t, e.ok("report", "usage", "--tenant", "acme", "--json"))
				if len(us.Items) != 1 || us.Items[0]["call_id"] != "c1" {
					t.Fatalf("usage report: %+v", us)
				}
				if out := e.ok("report", "usage", "--tenant", "acme"); !strings.Contains(out, "CALL_ID") || !strings.Contains(out, "c1") {
					t.Fatalf("usage table: %s", out)
				}
				// The usage lines are the report engine's: the charge as the call result has it.
				rows, err := csv.NewReader(strings.NewReader(e.ok("report", "usage", "--tenant", "acme", "--csv"))).ReadAll()
				if err != nil || len(rows) != 2 || !slices.Contains(rows[0], "call_id") || rows[1][slices.Index(rows[0], "call_id")] != "c1" ||
					rows[1][slices.Index(rows[0], "charge")] != res["charge"] {
					t.Fatalf("usage CSV: %v %v (settle charged %v)", rows, err, res["charge"])
				}
				zipFile := filepath.Join(t.TempDir(), "usage.zip")
				e.ok("report", "usage", "--tenant", "acme", "--export", zipFile)
				if zr, err := zip.OpenReader(zipFile); err != nil || len(zr.File) != 2 {
					t.Fatalf("usage export: %v", err)
				} else {
					zr.Close()
				}
			} else if ids := engineUsageIDs(t, e); !slices.Equal(ids, []string{"c1"}) {
				t.Fatalf("usage report: %v", ids)
			}
			if out := e.ok("report", "refusals", "--tenant", "acme"); strings.TrimSpace(out) != "(none)" {
				t.Fatalf("refusals: %s", out)
			}

			// CDRs: a CSV posted for the tenant.
			cdrs := write("cdrs.csv", "tenant,call_id,leg,call_type,principal,caller,callee,service_number,start,end,duration_seconds\n"+
				"acme,d1,,user_out,alice,+442071234567,+14155550199,,2026-11-01T10:00:00Z,,120\n")
			if e.mode == "remote" {
				e.ok("cdr", "import", cdrs, "--tenant", "acme")
			} else {
				e.ok("cdr", "import", cdrs)
			}
			if e.mode == "remote" {
				if us := decode[items](t, e.ok("report", "usage", "--tenant", "acme", "--json")); len(us.Items) != 2 {
					t.Fatalf("usage after the CDR: %d rows", len(us.Items))
				}
			} else if ids := engineUsageIDs(t, e); len(ids) != 2 {
				t.Fatalf("usage after the CDR: %v", ids)
			}

			// Numbers: a user number assigned and given back; toll-free now that credits are set up.
			e.ok("number", "acquire", "+12025550101", "--tenant", "acme")
			e.ok("number", "acquire", "+18005550100", "--tenant", "acme", "--kind", "service", "--service", "toll_free")
			e.ok("number", "assign", "+12025550101", "--tenant", "acme", "--to", "alice")
			e.ok("number", "assign", "+18005550100", "--tenant", "acme", "--to", "bridge")
			ns := decode[items](t, e.ok("number", "list", "--tenant", "acme", "--json"))
			if len(ns.Items) != 2 {
				t.Fatalf("numbers: %+v", ns)
			}
			if errs := e.fails(exitError, "number", "release", "+12025550101", "--tenant", "acme"); !strings.Contains(errs, "409") && !strings.Contains(errs, "422") {
				t.Fatalf("releasing an assigned number: %s", errs)
			}
			e.ok("number", "unassign", "+12025550101", "--tenant", "acme")
			e.ok("number", "release", "+12025550101", "--tenant", "acme")
			if out := e.ok("number", "list", "--tenant", "acme"); strings.Contains(out, "12025550101") || !strings.Contains(out, "18005550100") {
				t.Fatalf("numbers after release: %s", out)
			}
			e.fails(exitUsage, "number", "assign", "+18005550100", "--tenant", "acme")

			// Policies, spend limit, purchased licences.
			e.ok("user", "policies", "bob", "--tenant", "acme", "--pstn", "domestic")
			out = e.ok("user", "policies", "bob", "--tenant", "acme")
			wantField(t, out, "pstn", "domestic")
			e.ok("user", "spend-limit", "bob", "25.50", "--tenant", "acme")
			wantField(t, e.ok("user", "spend-limit", "bob", "--tenant", "acme"), "limit", "25.50")
			if d, err := e.store().Directory(context.Background(), "acme"); err != nil {
				t.Fatal(err)
			} else if u, _ := d.User("bob"); u.SpendLimit != 2550 || u.PSTNPolicy != "domestic" {
				t.Fatalf("bob stored with limit %d, policy %q", u.SpendLimit, u.PSTNPolicy)
			}
			if errs := e.fails(exitError, "user", "spend-limit", "bob", "1.001", "--tenant", "acme"); !strings.Contains(errs, "limit") {
				t.Fatalf("bad limit: %s", errs)
			}
			e.ok("licence", "purchased", "MCOEV", "25", "--tenant", "acme")
			e.fails(exitUsage, "licence", "purchased", "MCOEV", "many", "--tenant", "acme")

			e.ok("user", "put", "carol", "--tenant", "acme", "--display-name", "Carol", "--usage-location", "FR")
			wantField(t, e.ok("user", "show", "carol", "--tenant", "acme"), "usage_location", "FR")
			e.ok("user", "delete", "carol", "--tenant", "acme")
			if errs := e.fails(exitError, "user", "show", "carol", "--tenant", "acme"); !strings.Contains(errs, "path.user_id") {
				t.Fatalf("deleted user: %s", errs)
			}

			// Revoking the key stops it (remote: the server refuses it).
			e.ok("key", "revoke", k["id"].(string), "--tenant", "acme")
			ks = decode[items](t, e.ok("key", "list", "--tenant", "acme", "--json"))
			if ks.Items[0]["revoked_at"] == nil {
				t.Fatalf("revoked key: %+v", ks)
			}
			if e.mode == "remote" {
				if _, _, errs := e.runWith([]string{"--url", e.url, "--key", secret}, "credits", "balance", "--tenant", "acme"); !strings.Contains(errs, "401") {
					t.Fatalf("revoked key still works: %s", errs)
				}
			}
		})
	}
}

// TestAdminForeignTenant: a tenant key reaches only its own tenant.
func TestAdminForeignTenant(t *testing.T) {
	e := newCLIEnv(t, "remote")
	e.ok("tenant", "create", "ta", "--name", "A", "--currency", "USD")
	e.ok("tenant", "create", "tb", "--name", "B", "--currency", "USD")
	k := decode[map[string]any](t, e.ok("key", "create", "--tenant", "ta", "--role", "tenant_admin", "--json"))
	as := []string{"--url", e.url, "--key", k["secret"].(string)}
	for _, args := range [][]string{
		{"credits", "add", "60.00", "--tenant", "tb", "--method", "ea:X"},
		{"user", "put", "eve", "--tenant", "tb", "--display-name", "Eve", "--usage-location", "US"},
		{"key", "create", "--tenant", "tb", "--role", "tenant_admin"},
		{"credits", "balance", "--tenant", "tb"},
	} {
		code, _, errs := e.runWith(as, args...)
		if code != exitError || !strings.Contains(errs, "404") || !strings.Contains(errs, "path.tenant") {
			t.Fatalf("%v with ta's key: exit %d %s", args, code, errs)
		}
	}
	// Operator keys: one made through the CLI, listed and revoked; a tenant key cannot list them.
	ok := decode[map[string]any](t, e.ok("key", "create", "--role", "operator", "--name", "second", "--json"))
	if ok["role"] != "operator" || !strings.HasPrefix(ok["secret"].(string), service.KeyPrefix) {
		t.Fatalf("operator key: %v", ok)
	}
	if out := e.ok("key", "list"); !strings.Contains(out, ok["id"].(string)) || !strings.Contains(out, "second") {
		t.Fatalf("operator keys: %s", out)
	}
	e.ok("key", "revoke", ok["id"].(string))
	if code, _, errs := e.runWith([]string{"--url", e.url, "--key", ok["secret"].(string)}, "tenant", "list"); code != exitError || !strings.Contains(errs, "401") {
		t.Fatalf("revoked operator key: %d %s", code, errs)
	}
	if code, _, errs := e.runWith(as, "key", "list"); code != exitError || !strings.Contains(errs, "403") {
		t.Fatalf("operator keys with a tenant key: %d %s", code, errs)
	}
	var code int
	var errs string
	code, _, errs = e.runWith(as, "tenant", "create", "tc", "--name", "C", "--currency", "USD")
	if code != exitError || !strings.Contains(errs, "403") {
		t.Fatalf("tenant create with a tenant key: %d %s", code, errs)
	}
	if acc, err := e.svc.Store.Account(context.Background(), "tb"); err == nil && acc.Balance != 0 {
		t.Fatalf("tb funded by ta's key: %d", acc.Balance)
	}
	if code, _, errs := e.runWith(as, "credits", "add", "60.00", "--tenant", "ta", "--method", "ea:X"); code != exitOK {
		t.Fatalf("own tenant: %d %s", code, errs)
	}
	// A CDR file posted for ta with a record of tb: that line is rejected, not booked on tb.
	f := filepath.Join(t.TempDir(), "cdrs.csv")
	if err := os.WriteFile(f, []byte("tenant,call_id,call_type,principal,callee,start,duration_seconds\n"+
		"tb,x1,user_out,eve,+14155550199,2026-11-01T10:00:00Z,60\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := e.runWith(as, "cdr", "import", f, "--tenant", "ta")
	if code != exitError || !regexp.MustCompile(`(?m)^rejected\s+1$`).MatchString(out) || !strings.Contains(errs, "1 line(s) rejected") {
		t.Fatalf("foreign CDR: %d\n%s\n%s", code, out, errs)
	}
	if rows, err := e.svc.Store.ReportUsage(context.Background(), "tb"); err != nil || len(rows) != 0 {
		t.Fatalf("tb usage %v %v", rows, err)
	}
}

// TestAdminUsage: bad command lines are exit 2 and reach no backend.
func TestAdminUsage(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "cc.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tenant"}, "Usage"},
		{[]string{"tenant", "frobnicate"}, "unknown subcommand"},
		{[]string{"tenant", "create", "--db", db, "--name", "A", "--currency", "USD"}, "want ID"},
		{[]string{"tenant", "create", "a", "--db", db}, "--name and --currency"},
		{[]string{"tenant", "show", "a", "--bogus"}, "flag provided but not defined"},
		{[]string{"credits", "balance", "--db", db}, "--tenant is required"},
		{[]string{"credits", "balance", "--tenant", "a", "--url", "http://127.0.0.1:1"}, "--url needs --key"},
		{[]string{"credits", "balance", "--tenant", "a", "--url", "http://127.0.0.1:1", "--key", "k", "--db", db}, "not both"},
		{[]string{"credits", "auto-recharge", "maybe", "--tenant", "a", "--db", db}, "want show, set or off"},
		{[]string{"credits", "auto-recharge", "set", "--tenant", "a", "--db", db}, "--trigger and --amount"},
		{[]string{"key", "create", "--db", db}, "--role is required"},
		{[]string{"key", "create", "--role", "operator", "--tenant", "a", "--db", db}, "no tenant"},
		{[]string{"licence", "assign", "--tenant", "a", "--users", "u", "--db", db}, "--add, --remove"},
		{[]string{"call", "settle", "c1", "--tenant", "a", "--db", db}, "--seconds is required"},
		{[]string{"cdr", "import", "f.csv", "--url", "http://127.0.0.1:1", "--key", "k"}, "--url needs --tenant"},
		{[]string{"ratecard", "list", "--url", "http://127.0.0.1:1", "--db", db}, "not both"},
		{[]string{"ratecard", "list", "--url", "http://127.0.0.1:1"}, "--url needs --key"},
		{[]string{"cdr", "import", "f.csv", "--url", "http://127.0.0.1:1", "--key", "k", "--tenant", "a", "--checkpoint", "cp.json"}, "--db only"},
	} {
		var out, errb bytes.Buffer
		code := runWith(context.Background(), tc.args, &out, &errb, hooks{getenv: noEnv})
		if code != exitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with %q", tc.args, code, errb.String(), tc.want)
		}
		if _, err := os.Stat(strings.TrimPrefix(db, "sqlite:")); err == nil {
			t.Fatalf("%v: a usage error created the database", tc.args)
		}
	}
}

// TestAdminEnv: COMMCREDITS_URL, _KEY and _TENANT stand for the flags; --db on the command
// line wins over COMMCREDITS_URL.
func TestAdminEnv(t *testing.T) {
	e := newCLIEnv(t, "remote")
	e.ok("tenant", "create", "acme", "--name", "A", "--currency", "USD")
	env := map[string]string{envURL: e.url, envKey: e.opKey, envTenant: "acme"}
	var out, errb bytes.Buffer
	code := runWith(context.Background(), []string{"credits", "balance", "--json"}, &out, &errb, hooks{getenv: func(k string) string { return env[k] }})
	if code != exitOK || decode[map[string]any](t, out.String())["currency"] != "USD" {
		t.Fatalf("from the environment: %d %s %s", code, out.String(), errb.String())
	}
	local := "sqlite:" + filepath.Join(t.TempDir(), "other.db")
	out.Reset()
	errb.Reset()
	code = runWith(context.Background(), []string{"tenant", "show", "acme", "--db", local}, &out, &errb, hooks{getenv: func(k string) string { return env[k] }})
	if code != exitError || !strings.Contains(errb.String(), "404") {
		t.Fatalf("--db must win over %s: %d %s %s", envURL, code, out.String(), errb.String())
	}
}

// TestAdminRetry: a write whose answer is lost on the way is sent again with the same
// Idempotency-Key, and the server applies it once.
func TestAdminRetry(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "cc.db")
	mux, svc, closeAll, err := localAPI(context.Background(), dsn, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	ctx := context.Background()
	_, op, err := svc.CreateKey(ctx, "", service.RoleOperator, "test")
	if err != nil {
		t.Fatal(err)
	}
	var dropped atomic.Int32
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/funds") && dropped.Add(1) == 1 {
			// Apply the request, then lose the answer: the connection drops.
			mux.ServeHTTP(httptest.NewRecorder(), r)
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		mux.ServeHTTP(w, r)
	}))
	defer srv.Close()
	conn := []string{"--url", srv.URL, "--key", op}
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := runWith(ctx, append(args, conn...), &out, &errb, hooks{getenv: noEnv})
		return code, out.String() + errb.String()
	}
	if code, out := run("tenant", "create", "acme", "--name", "A", "--currency", "USD"); code != exitOK {
		t.Fatal(out)
	}
	code, out := run("credits", "add", "70.00", "--tenant", "acme", "--method", "ea:T")
	if code != exitOK || !strings.Contains(out, "70.00") {
		t.Fatalf("add after a lost answer: %d %s", code, out)
	}
	if dropped.Load() != 2 {
		t.Fatalf("%d attempts, want 2", dropped.Load())
	}
	if len(keys) != 3 || keys[1] == "" || keys[1] != keys[2] || keys[0] == keys[1] {
		t.Fatalf("Idempotency-Keys %q: want one per command, the same on the retry", keys)
	}
	acc, err := svc.Store.Account(ctx, "acme")
	if err != nil || acc.Balance != 7000 {
		t.Fatalf("balance %v %v, want 7000 (applied once)", acc, err)
	}
}

// TestAdminAgainstServe: the CLI against `commcredits serve` itself, bootstrapped with an
// operator key from the environment; a rate card imported through the API is priced at once.
func TestAdminAgainstServe(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "serve.db")
	op := service.KeyPrefix + strings.Repeat("a", 32)
	s := startServe(t, noEnv, "--db", dsn, "--operator-key", op)
	env := map[string]string{envURL: s.base, envKey: op, envTenant: "acme"}
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := runWith(context.Background(), args, &out, &errb, hooks{getenv: func(k string) string { return env[k] }}); code != exitOK {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
		return out.String()
	}
	card := filepath.Join(t.TempDir(), "card.csv")
	if err := os.WriteFile(card, []byte(cardCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	run("tenant", "create", "acme", "--name", "Acme", "--currency", "USD")
	run("ratecard", "import", "--service", "outbound", "--currency", "USD", card)
	run("user", "put", "alice", "--display-name", "Alice", "--usage-location", "GB", "--licences", "MCOEV,MCOPSTN_PAYG,MCOPSTNPP")
	run("credits", "add", "50.00", "--method", "ea:T-1")
	wantField(t, run("call", "authorize", "c1", "--principal", "alice", "--callee", "+14155550199"), "allowed", "true")
	res := decode[map[string]any](t, run("call", "settle", "c1", "--seconds", "30", "--json"))
	if res["charge"] == nil || res["balance"] == "50.00" {
		t.Fatalf("settle: %v", res)
	}
	bal := decode[map[string]any](t, run("credits", "balance", "--json"))
	if bal["balance"] != res["balance"] || bal["charged"] != res["charge"] {
		t.Fatalf("balance %v after settle %v", bal, res)
	}
}

// TestClientBodiesMatchOpenAPI: the request bodies internal/client declares itself (the
// rest package declares them inline) have exactly the fields the API's OpenAPI document
// gives, and every required one, so the two cannot drift apart unnoticed.
func TestClientBodiesMatchOpenAPI(t *testing.T) {
	mux, _, closeAll, err := localAPI(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "o.db"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
				Required   []string       `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, method string
		body         any
	}{
		{"/v1/tenants", "post", client.CreateTenantIn{}},
		{"/v1/tenants/{tenant}/keys", "post", client.CreateKeyIn{}},
		{"/v1/tenants/{tenant}/credits/funds", "post", client.FundsIn{}},
		{"/v1/tenants/{tenant}/credits/auto-recharge", "put", client.AutoRechargeIn{}},
		{"/v1/tenants/{tenant}/credits/payment-method", "put", client.PaymentMethodIn{}},
		{"/v1/tenants/{tenant}/licences/assign", "post", client.LicencesIn{}},
		{"/v1/tenants/{tenant}/numbers", "post", client.NumberIn{}},
		{"/v1/tenants/{tenant}/calls/authorize", "post", client.AuthorizeIn{}},
		{"/v1/tenants/{tenant}/calls/{call_id}/settle", "post", client.SettleIn{}},
		{"/v1/tenants/{tenant}/users/{user_id}", "put", rest.UserIn{}},
	} {
		ref := doc.Paths[tc.path][tc.method].RequestBody.Content["application/json"].Schema.Ref
		schema, ok := doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
		if !ok {
			t.Errorf("%s %s: no request schema (%q)", tc.method, tc.path, ref)
			continue
		}
		got := jsonFields(reflect.TypeOf(tc.body))
		for _, f := range got {
			if _, ok := schema.Properties[f]; !ok {
				t.Errorf("%s %s: the client sends %q, which the API does not take", tc.method, tc.path, f)
			}
		}
		for _, r := range schema.Required {
			if !slices.Contains(got, r) {
				t.Errorf("%s %s: the API requires %q, which the client cannot send", tc.method, tc.path, r)
			}
		}
		for p := range schema.Properties {
			if !slices.Contains(got, p) && p != "$schema" {
				t.Errorf("%s %s: the API takes %q, which the client cannot send", tc.method, tc.path, p)
			}
		}
	}
}

// jsonFields lists the JSON names of a struct's fields, embedded structs flattened.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// engineUsageIDs reads the report engine's usage JSON (report usage --format json --db) and
// returns its call ids.
func engineUsageIDs(t *testing.T, e *cliEnv) []string {
	t.Helper()
	var got struct {
		Lines []struct {
			CallID string `json:"call_id"`
		} `json:"lines"`
	}
	if err := json.Unmarshal([]byte(e.ok("report", "usage", "--tenant", "acme", "--format", "json", "--from", "2026-01-01")), &got); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range got.Lines {
		ids = append(ids, r.CallID)
	}
	return ids
}
