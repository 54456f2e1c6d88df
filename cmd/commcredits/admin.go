package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/commcredits/commcredits/internal/client"
	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/rest"
	"github.com/commcredits/commcredits/internal/service"
)

// Environment of the admin commands.
const (
	envURL    = "COMMCREDITS_URL"
	envKey    = "COMMCREDITS_KEY"
	envTenant = "COMMCREDITS_TENANT"
)

// The admin commands (tenant, key, user, licence, credits, call, report) talk to the API:
// a server (--url and --key) or the same API run in this process over a database (--db),
// so both modes check, refuse and answer alike and every change goes through the writer.

// usageError is bad command-line input: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// conn is the connection flags every admin command takes.
type conn struct {
	url, key, dsn, tenant, idem string
	json                        bool
	timeout                     time.Duration
}

func (c *conn) register(fs *flag.FlagSet, h hooks, withTenant bool) {
	fs.StringVar(&c.url, "url", envOr(h, envURL, ""), "server URL, e.g. http://127.0.0.1:8080 (env "+envURL+"); without it, --db")
	fs.StringVar(&c.key, "key", envOr(h, envKey, ""), "API key for --url (env "+envKey+")")
	fs.StringVar(&c.dsn, "db", envOr(h, envDB, db.DefaultDSN), "database DSN when no --url is given (env "+envDB+")")
	fs.BoolVar(&c.json, "json", false, "print the API's JSON instead of a table")
	fs.StringVar(&c.idem, "idempotency-key", "", "Idempotency-Key of the write (default: a new one per run, kept across retries)")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "give up after this long")
	if withTenant {
		fs.StringVar(&c.tenant, "tenant", envOr(h, envTenant, ""), "tenant id (env "+envTenant+")")
	}
}

// open returns a client of the server, or of the API run over the database, and what
// closes it.
func (c *conn) open(ctx context.Context, fs *flag.FlagSet, stderr io.Writer) (*client.Client, func(), error) {
	remote, err := useURL(fs, c.url)
	if err != nil {
		return nil, nil, err
	}
	if remote {
		if c.key == "" {
			return nil, nil, usagef("--url needs --key (or %s)", envKey)
		}
		return &client.Client{BaseURL: c.url, Key: c.key, IdempotencyKey: c.idem, HTTP: &http.Client{Timeout: c.timeout}}, func() {}, nil
	}
	return openLocal(ctx, c.dsn, c.idem, stderr)
}

// openLocal runs the API over the database in this process, under an operator key that
// exists only in this process. The database is opened at the first request, so a command
// refused for its input before it asks anything leaves no database behind.
func openLocal(ctx context.Context, dsn, idem string, stderr io.Writer) (*client.Client, func(), error) {
	secret, _ := service.NewSecret()
	l := &lazyLocal{open: func() (http.RoundTripper, func(), error) {
		mux, svc, closeAll, err := localAPI(ctx, dsn, stderr)
		if err != nil {
			return nil, nil, err
		}
		svc.TrustSecret(secret, service.Principal{KeyID: "cli-local", Role: service.RoleOperator})
		return client.Handler(mux).Transport, closeAll, nil
	}}
	c := &client.Client{BaseURL: "http://" + localHost, Key: secret, IdempotencyKey: idem, HTTP: &http.Client{Transport: l}, Retries: -1}
	return c, l.close, nil
}

// localHost names the in-process API in URLs (and in errors, which report unwraps).
const localHost = "local.invalid"

type lazyLocal struct {
	once    sync.Once
	open    func() (http.RoundTripper, func(), error)
	rt      http.RoundTripper
	closeFn func()
	err     error
}

func (l *lazyLocal) RoundTrip(r *http.Request) (*http.Response, error) {
	l.once.Do(func() { l.rt, l.closeFn, l.err = l.open() })
	if l.err != nil {
		return nil, l.err
	}
	return l.rt.RoundTrip(r)
}

func (l *lazyLocal) close() {
	l.once.Do(func() {}) // nothing opened: nothing to open now
	if l.closeFn != nil {
		l.closeFn()
	}
}

// localAPI opens the database and mounts the API on it as serve does: store, stored rate
// cards, writer, service, rest. close waits for the writer, then closes the database.
func localAPI(ctx context.Context, dsn string, stderr io.Writer) (*http.ServeMux, *service.Service, func(), error) {
	openCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	d, err := db.Open(openCtx, dsn, db.WithMigrate())
	cancel()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("database %s: %w", db.Redact(dsn), err)
	}
	svc, _, err := newEngine(ctx, d)
	if err != nil {
		d.Close()
		return nil, nil, nil, fmt.Errorf("rate cards: %w", err)
	}
	mux := http.NewServeMux()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rest.Mount(mux, svc, rest.Config{Version: version, RateLimit: -1, Logger: log})
	return mux, svc, func() {
		svc.Writer.Close()
		d.Close()
	}, nil
}

// admin is what a subcommand runs with.
type admin struct {
	c      *client.Client
	conn   *conn
	stdout io.Writer
	stderr io.Writer
}

// sub is one subcommand: its positional arguments, its flags, and what it does.
type sub struct {
	args   string // usage of the positional arguments
	nargs  int    // how many positional arguments (-1: the subcommand checks)
	tenant bool   // takes --tenant, required (dispatch checks it) unless anyTen
	anyTen bool   // --tenant may be left out (keys: then the operator's)
	help   string
	flags  func(fs *flag.FlagSet) func(ctx context.Context, a *admin, args []string) error
}

// dispatch runs `commcredits GROUP SUB [args] [flags]`.
func dispatch(ctx context.Context, group string, subs map[string]sub, args []string, stdout, stderr io.Writer, h hooks) int {
	usage := func(w io.Writer) {
		names := make([]string, 0, len(subs))
		for n := range subs {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(w, "Usage:\n")
		for _, n := range names {
			s := subs[n]
			fmt.Fprintf(w, "  commcredits %s %s %s[flags]\n      %s\n", group, n, argsUsage(s.args), s.help)
		}
		fmt.Fprintf(w, "\nRun \"commcredits %s SUB -h\" for its flags; docs/cli.md has examples.\n", group)
	}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return exitOK
	}
	s, ok := subs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "commcredits %s: unknown subcommand %q\n\n", group, args[0])
		usage(stderr)
		return exitUsage
	}
	name := group + " " + args[0]
	fs := newFlagSet(name, stderr)
	var cn conn
	cn.register(fs, h, s.tenant)
	do := s.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: commcredits %s %s[flags]\n\n%s\n\n", name, argsUsage(s.args), s.help)
		fs.PrintDefaults()
	}
	pos, code, ok := parseInterleaved(fs, args[1:])
	if !ok {
		return code
	}
	if s.nargs >= 0 && len(pos) != s.nargs {
		fmt.Fprintf(stderr, "commcredits %s: want %s, got %d argument(s)\n", name, orNone(s.args), len(pos))
		return exitUsage
	}
	if s.tenant && !s.anyTen && cn.tenant == "" {
		// Checked before the backend opens: a usage error touches no database.
		return exitWith(stderr, name, usagef("--tenant is required (or %s)", envTenant))
	}
	ctx, cancel := context.WithTimeout(ctx, cn.timeout)
	defer cancel()
	c, closeFn, err := cn.open(ctx, fs, stderr)
	if err != nil {
		return exitWith(stderr, name, err)
	}
	defer closeFn()
	return exitWith(stderr, name, do(ctx, &admin{c: c, conn: &cn, stdout: stdout, stderr: stderr}, pos))
}

func orNone(s string) string {
	if s == "" {
		return "no arguments"
	}
	return s
}

// exitWith prints err as the command's error and returns the exit code.
func exitWith(stderr io.Writer, name string, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "commcredits %s: %s\n", name, ue.msg)
		return exitUsage
	}
	var p *client.Problem
	if errors.As(err, &p) {
		fmt.Fprintf(stderr, "commcredits %s: %s\n", name, problemText(p))
		return exitError
	}
	var ue2 *url.Error
	if errors.As(err, &ue2) && strings.Contains(ue2.URL, "//"+localHost+"/") {
		err = ue2.Err // the request was in-process: its URL says nothing
	}
	fmt.Fprintf(stderr, "commcredits %s: %v\n", name, err)
	return exitError
}

// parseInterleaved parses flags that may come before, between or after the positional
// arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		if fs.NArg() == 0 {
			return pos, 0, true
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// list splits a comma-separated flag value, dropping empty items.
func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func readFile(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

func argsUsage(a string) string {
	if a == "" {
		return ""
	}
	return a + " "
}

// problemText is a problem on one line naming the field ("422 Unprocessable Entity:
// body.amount: …"), or, with several located errors (a CSV's lines), one line each after it.
func problemText(p *client.Problem) string {
	head := fmt.Sprintf("%d %s", p.Status, p.Title)
	msg := ""
	if p.Detail != "" && p.Detail != p.Title {
		msg = p.Detail
	}
	switch len(p.Errors) {
	case 0:
	case 1:
		d := p.Errors[0]
		if d.Message != "" && strings.Contains(msg, d.Message) {
			// The detail repeats the message: add only where, and what was sent.
			if d.Location != "" && !strings.Contains(msg, d.Location) {
				msg = d.Location + ": " + msg
			}
			if v := (client.Detail{Value: d.Value}).String(); v != "" {
				msg += " " + v
			}
		} else if msg != "" {
			msg += " (" + d.String() + ")"
		} else {
			msg = d.String()
		}
	default:
		for _, d := range p.Errors {
			msg += "\n  " + d.String()
		}
		if strings.HasPrefix(msg, "\n") {
			return head + ":" + msg
		}
	}
	if msg == "" {
		return head
	}
	return head + ": " + msg
}

// useURL reports whether a command talks to a server: --url on the command line, or
// COMMCREDITS_URL unless --db is on the command line. Both flags together are a usage error.
func useURL(fs *flag.FlagSet, url string) (bool, error) {
	set := given(fs)
	switch {
	case set["url"] && set["db"]:
		return false, usagef("give --url or --db, not both")
	case set["db"]:
		return false, nil
	}
	return url != "", nil
}

// given is the set of flags given on the command line.
func given(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}
