package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/web"
)

const accountUsage = `usage: commcredits account create --email E --role R [--tenant T] [--password-stdin] [--base-url URL] [--db DSN]
       commcredits account link --email E [--base-url URL] [--db DSN]
       commcredits account list [--db DSN]

create adds a web account (role operator, tenant_admin, billing_admin or reports_reader; an
operator has no tenant, every other role one). With --password-stdin the first line of stdin
is its password; without, the account signs in by link and a one-time sign-in link valid for
15 minutes is printed. link prints a new one-time link for an account.`

// cmdAccount manages web sign-in accounts: the first operator account comes from here.
func cmdAccount(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	if len(args) == 0 || (args[0] != "create" && args[0] != "link" && args[0] != "list") {
		fmt.Fprintln(stderr, accountUsage)
		return exitUsage
	}
	sub := args[0]
	fs := newFlagSet("account "+sub, stderr)
	dsn := fs.String("db", envOr(h, envDB, db.DefaultDSN), "database DSN (env "+envDB+")")
	email := fs.String("email", "", "the account's email address")
	role := fs.String("role", "", "operator, tenant_admin, billing_admin or reports_reader (create)")
	tenantID := fs.String("tenant", "", "the tenant of a non-operator account (create)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin (create)")
	baseURL := fs.String("base-url", envOr(h, envBaseURL, "http://127.0.0.1:8080"), "address of the web UI in printed links (env "+envBaseURL+")")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "commcredits account %s: "+format+"\n", append([]any{sub}, a...)...)
		return code
	}
	if sub != "list" && *email == "" {
		return fail(exitUsage, "--email is required")
	}
	if sub == "create" && *role == "" {
		return fail(exitUsage, "--role is required")
	}
	password := ""
	if *pwStdin {
		line, err := bufio.NewReader(h.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fail(exitError, "read password: %v", err)
		}
		if password = strings.TrimRight(line, "\r\n"); password == "" {
			return fail(exitUsage, "--password-stdin: stdin has no password")
		}
	}
	d, err := db.Open(ctx, *dsn, db.WithMigrate())
	if err != nil {
		return fail(exitError, "database %s: %v", db.Redact(*dsn), err)
	}
	defer d.Close()
	acc := web.NewAccounts(d, time.Now)
	switch sub {
	case "list":
		list, err := acc.List(ctx)
		if err != nil {
			return fail(exitError, "%v", err)
		}
		for _, a := range list {
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", a.Email, a.Role, a.Tenant, a.CreatedAt.Format(time.RFC3339))
		}
		return exitOK
	case "create":
		if *tenantID != "" {
			if _, err := store.New(d).Tenant(ctx, *tenantID); err != nil {
				return fail(exitError, "--tenant: %v", err)
			}
		}
		a, err := acc.Create(ctx, *email, password, *role, *tenantID)
		if err != nil {
			return fail(exitError, "%v", err)
		}
		fmt.Fprintf(stdout, "created %s account %s\n", a.Role, a.Email)
		if password != "" {
			return exitOK
		}
	}
	t, _, err := acc.NewLink(ctx, *email)
	if err != nil {
		return fail(exitError, "%v", err)
	}
	fmt.Fprintf(stdout, "one-time sign-in link (valid %s): %s\n", web.LinkTTL, web.LinkURL(*baseURL, t))
	return exitOK
}

// sweepSessions deletes expired sessions and sign-in links every interval until ctx ends.
func sweepSessions(ctx context.Context, acc *web.Accounts, interval time.Duration, log *slog.Logger) {
	every(ctx, interval, func() {
		if err := acc.Sweep(ctx); err != nil && ctx.Err() == nil {
			log.Warn("web sessions sweep", "err", err)
		}
	})
}
