package main

import (
	"bytes"
	"context"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/web"
)

func TestUserCommand(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "cc.db")
	cmd := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runWith(ctx, append([]string{"account"}, args...), &out, &errb, hooks{stdin: strings.NewReader(stdin)})
		return code, out.String(), errb.String()
	}
	linkRE := regexp.MustCompile(`(https?://\S+/ui/signin/link\?token=\S+)`)

	// The first operator: no password, a one-time link printed.
	code, out, errs := cmd("", "create", "--db", dsn, "--email", "Ops@Example.com", "--role", "operator", "--base-url", "https://cc.example.com")
	m := linkRE.FindStringSubmatch(out)
	if code != exitOK || m == nil || !strings.HasPrefix(m[1], "https://cc.example.com/ui/signin/link?token=") {
		t.Fatalf("create operator: %d %q %q", code, out, errs)
	}
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	acc := web.NewAccounts(d, time.Now)
	u, _ := url.Parse(m[1])
	if a, err := acc.UseLink(ctx, u.Query().Get("token")); err != nil || a.Role != web.RoleOperator || a.Email != "ops@example.com" {
		t.Fatalf("printed link: %+v %v", a, err)
	}
	if err := store.New(d).CreateTenant(ctx, store.Tenant{ID: "acme", Name: "Acme", Currency: money.MustCurrency("EUR")}); err != nil {
		t.Fatal(err)
	}
	// A tenant admin with a password from stdin: no link printed.
	code, out, errs = cmd("a long password here\n", "create", "--db", dsn, "--email", "admin@acme.test", "--role", "tenant_admin",
		"--tenant", "acme", "--password-stdin")
	if code != exitOK || linkRE.MatchString(out) {
		t.Fatalf("create admin: %d %q %q", code, out, errs)
	}
	if _, err := acc.Authenticate(ctx, "admin@acme.test", "a long password here"); err != nil {
		t.Fatalf("password from stdin: %v", err)
	}
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"no email", "", []string{"create", "--db", dsn, "--role", "operator"}, exitUsage, "--email"},
		{"no role", "", []string{"create", "--db", dsn, "--email", "x@example.com"}, exitUsage, "--role"},
		{"switch role", "", []string{"create", "--db", dsn, "--email", "x@example.com", "--role", "switch", "--tenant", "acme"}, exitError, "API keys"},
		{"unknown tenant", "", []string{"create", "--db", dsn, "--email", "x@example.com", "--role", "tenant_admin", "--tenant", "nope"}, exitError, "--tenant"},
		{"duplicate", "", []string{"create", "--db", dsn, "--email", "ADMIN@acme.test", "--role", "tenant_admin", "--tenant", "acme"}, exitError, "exists already"},
		{"empty password", "\n", []string{"create", "--db", dsn, "--email", "y@example.com", "--role", "operator", "--password-stdin"}, exitUsage, "no password"},
		{"link for nobody", "", []string{"link", "--db", dsn, "--email", "nobody@example.com"}, exitError, "no account"},
		{"unknown subcommand", "", []string{"delete"}, exitUsage, "usage"},
	} {
		if code, _, errs := cmd(tc.stdin, tc.args...); code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: %d %q, want %d and %q", tc.name, code, errs, tc.code, tc.want)
		}
	}
	if code, out, _ := cmd("", "link", "--db", dsn, "--email", "admin@acme.test"); code != exitOK || !linkRE.MatchString(out) {
		t.Fatalf("link: %d %q", code, out)
	}
	if code, out, _ := cmd("", "list", "--db", dsn); code != exitOK || !strings.Contains(out, "admin@acme.test\ttenant_admin\tacme") ||
		!strings.Contains(out, "ops@example.com\toperator") {
		t.Fatalf("list: %d %q", code, out)
	}
}
