package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/api"
	"github.com/commcredits/commcredits/internal/bench"
	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/demo"
	"github.com/commcredits/commcredits/internal/metrics"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/rest"
	"github.com/commcredits/commcredits/internal/scenario"
	"github.com/commcredits/commcredits/internal/service"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/web"
	"github.com/commcredits/commcredits/internal/writer"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Environment variables (a flag given on the command line wins).
const (
	envAddr     = "COMMCREDITS_ADDR"
	envDB       = "COMMCREDITS_DB"
	envLogLevel = "COMMCREDITS_LOG_LEVEL"
	envDemo     = "COMMCREDITS_DEMO"
	envOpKey    = "COMMCREDITS_OPERATOR_KEY"
	envRate     = "COMMCREDITS_RATE_LIMIT"
	envBurst    = "COMMCREDITS_RATE_BURST"
	envMaxBody  = "COMMCREDITS_MAX_BODY"
	envMaxUp    = "COMMCREDITS_MAX_UPLOAD"
	envBaseURL  = "COMMCREDITS_BASE_URL"
)

const defaultAddr = "127.0.0.1:8080"

// hooks lets tests observe and steer run without globals.
type hooks struct {
	getenv    func(string) string // default os.Getenv
	stdin     io.Reader           // default os.Stdin
	listening func(net.Addr)      // called once serve is accepting
	now       func() time.Time    // the reports' clock; default time.Now
}

// commands are the subcommands, by name; each gets the arguments after its name.
var commands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int{
	"serve":    cmdServe,
	"migrate":  cmdMigrate,
	"ratecard": cmdRateCard,
	"cdr":      cmdCDR,
	"report":   cmdReport,
	"simulate": func(ctx context.Context, args []string, stdout, stderr io.Writer, _ hooks) int {
		return cmdSimulate(ctx, args, stdout, stderr)
	},
	"tenant":  cmdTenant,
	"key":     cmdKey,
	"user":    cmdUser,
	"licence": cmdLicence,
	"credits": cmdCredits,
	"number":  cmdNumber,
	"call":    cmdCall,
	"account": cmdAccount,
	"bench":   cmdBench,
}

// run is the whole program; main only adds signals and os.Exit.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, stdout, stderr, hooks{})
}

func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	if h.getenv == nil {
		h.getenv = os.Getenv
	}
	if h.stdin == nil {
		h.stdin = os.Stdin
	}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	if c, ok := commands[cmd]; ok {
		return c(ctx, rest, stdout, stderr, h)
	}
	switch cmd {
	case benchChild:
		limitImportMemory(defaultImportMemoryMB) // P4 books as cdr import does, with its defaults
		return bench.ChildMain(ctx, rest, os.Stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "commcredits %s\n", versionString())
		return exitOK
	case "help", "-h", "--help", "-help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "commcredits: unknown command %q\n\n", cmd)
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `Usage: commcredits <command> [flags]

Commands:
  serve     open the database, apply migrations, serve HTTP until SIGINT/SIGTERM
  migrate   apply pending database migrations and exit
  simulate  run a scenario file against a fresh engine and print the final state (docs/scenarios.md)
  ratecard  ratecard import|list: store a rate card CSV as the next version, list versions (docs/ratecard.md);
            --db, or --url and --key
  cdr       cdr import FILE: book a CSV of call detail records, with progress and resume (docs/cdr.md);
            or post it to a server with --url, --key and --tenant
  report    report usage|pools|blocked|statement|runway: usage export, pools, blocked users, credits statement,
            funding help (docs/reports.md); with --url, or for spend|refusals: the API's report rows
  bench     bench [--quick] [--json]: measure the engine beside the machine's ceilings (BENCHMARKS.md)

Admin commands (docs/cli.md): against a server with --url and --key, or the database with --db;
tables by default, --json for the API's JSON:
  tenant    tenant create|list|show
  key       key create|list|revoke (the secret is shown once)
  user      user put|show|list|delete|policies|spend-limit
  licence   licence assign|import FILE.csv (all rows or none)|purchased
  number    number list|acquire|assign|unassign|release
  credits   credits balance|lots|entries|add|auto-recharge show|set|off|payment-method show|set
  call      call authorize|settle|release
  account   account create|link|list: web sign-in accounts (docs/web.md)

  version   print the version
  help      show this help

Run "commcredits <command> -h" for a command's flags.

Environment (a flag on the command line wins):
  %-22s listen address for serve (default %s)
  %-22s server URL of the admin commands (instead of --db)
  %-22s API key of the admin commands with a URL
  %-22s tenant of the admin commands
  %-22s database DSN: sqlite:PATH, sqlite::memory:, postgres://... (default %s)
  %-22s debug, info, warn or error (default info)
  %-22s 1: serve seeds the demo tenant (serve --demo)
  %-22s register this secret as an operator key at start
  %-22s requests/s per API key (default 2000; negative: none)
  %-22s burst of the per-key limit (default 4000)
  %-22s largest JSON body in bytes (default 1 MiB)
  %-22s largest CSV upload in bytes (default 32 MiB)
`, envAddr, defaultAddr, envURL, envKey, envTenant, envDB, db.DefaultDSN, envLogLevel, envDemo, envOpKey, envRate, envBurst, envMaxBody, envMaxUp)
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			v += " (" + rev + dirty + ")"
		}
	}
	return v
}

func envOr(h hooks, key, def string) string {
	if v := h.getenv(key); v != "" {
		return v
	}
	return def
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid log level %q (want debug, info, warn or error)", level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})).With("service", "commcredits"), nil
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("commcredits "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses; it returns (code, false) when run should return code.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments: %s\n", fs.Name(), strings.Join(fs.Args(), " "))
		return exitUsage, false
	}
	return 0, true
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	fs := newFlagSet("serve", stderr)
	addr := fs.String("addr", envOr(h, envAddr, defaultAddr), "listen address (env "+envAddr+")")
	dsn := fs.String("db", envOr(h, envDB, db.DefaultDSN), "database DSN (env "+envDB+")")
	logLevel := fs.String("log-level", envOr(h, envLogLevel, "info"), "log level (env "+envLogLevel+")")
	shutdownTimeout := fs.Duration("shutdown-timeout", 15*time.Second, "how long to drain requests and in-flight work on SIGINT/SIGTERM")
	baseURL := fs.String("base-url", envOr(h, envBaseURL, ""), "public address of the web UI, for sign-in links (env "+envBaseURL+"; default the request's host)")
	logLinks := fs.Bool("log-sign-in-links", false, "without an SMTP relay, write web sign-in links (which sign anyone in) to the log; for development only")
	insecureCookies := fs.Bool("insecure-cookies", false, "send session cookies over plain HTTP (only behind a TLS proxy that rewrites nothing, or on a trusted network)")
	fundingCfg := fundingFlags(fs, h)
	demoFlag := fs.Bool("demo", envOr(h, envDemo, "") == "1" || envOr(h, envDemo, "") == "true", "seed a demo tenant (idempotent) and print its URLs and keys (env "+envDemo+"=1)")
	opKey := fs.String("operator-key", envOr(h, envOpKey, ""), "register this secret (cc_live_…, at least 32 characters) as an operator key (env "+envOpKey+")")
	rateLimit := fs.Float64("rate-limit", envFloat(h, envRate, 2000), "requests per second per API key; negative: no limit (env "+envRate+")")
	burst := fs.Int("rate-burst", int(envFloat(h, envBurst, 4000)), "burst of the per-key rate limit (env "+envBurst+")")
	maxBody := fs.Int64("max-body", int64(envFloat(h, envMaxBody, 1<<20)), "largest JSON request body in bytes (env "+envMaxBody+")")
	maxUpload := fs.Int64("max-upload", int64(envFloat(h, envMaxUp, 32<<20)), "largest CSV upload in bytes (env "+envMaxUp+")")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "commcredits serve: %v\n", err)
		return exitUsage
	}
	fcfg, err := fundingCfg()
	if err != nil {
		fmt.Fprintf(stderr, "commcredits serve: %v\n", err)
		return exitUsage
	}
	if fcfg.SMTP.Host != "" && *baseURL == "" {
		// Otherwise a mailed link would take its host from the request's Host header, which
		// whoever asks for a link to someone else's address chooses.
		fmt.Fprintf(stderr, "commcredits serve: --base-url (env %s) is required with --smtp-host: mailed sign-in links need the UI's public address\n", envBaseURL)
		return exitUsage
	}

	openCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	d, err := db.Open(openCtx, *dsn, db.WithMigrate())
	cancel()
	if err != nil {
		log.Error("cannot start: database", "dsn", db.Redact(*dsn), "err", err)
		return exitError
	}
	cur, _, err := d.SchemaVersion(ctx)
	if err != nil {
		log.Error("cannot start: schema version", "err", err)
		d.Close()
		return exitError
	}
	log.Info("database ready", "kind", string(d.Kind()), "dsn", db.Redact(*dsn), "schema_version", cur)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("cannot start: listen", "addr", *addr, "err", err)
		d.Close()
		return exitError
	}

	srv := api.New(api.Deps{DB: d, DBKind: string(d.Kind()), Logger: log, Version: version})
	// Hooks run last-registered-first: the database closes after the writer has
	// committed every batch already queued.
	srv.OnShutdown("database", func(context.Context) error { return d.Close() })
	svc, n, err := newEngine(ctx, d)
	if err != nil {
		log.Error("cannot start: rate cards", "err", err)
		d.Close()
		return exitError
	}
	log.Info("rate cards loaded", "versions", n)
	st, cards, env, w := svc.Store, svc.Cards, svc.Env, svc.Writer
	srv.Registry().MustRegister(w.Collectors()...)
	srv.Registry().MustRegister(metrics.NewStoreCollector(st, log))
	srv.OnShutdown("writer", func(context.Context) error { return w.Close() })
	rest.Mount(srv.Mux(), svc, rest.Config{Version: version, RateLimit: *rateLimit, Burst: *burst, MaxBody: *maxBody, MaxUpload: *maxUpload, Logger: log})
	if *opKey != "" {
		if err := svc.RegisterOperatorSecret(ctx, *opKey, "bootstrap"); err != nil {
			log.Error("cannot start: operator key", "err", err)
			w.Close()
			d.Close()
			return exitError
		}
	}
	if *demoFlag {
		res, err := demo.Seed(ctx, svc, demo.Options{})
		if err != nil {
			log.Error("cannot start: demo", "err", err)
			w.Close()
			d.Close()
			return exitError
		}
		base := "http://" + ln.Addr().String()
		link, err := demoSignIn(ctx, d, res.Tenant, base)
		if err != nil {
			log.Error("cannot start: demo sign-in", "err", err)
			w.Close()
			d.Close()
			return exitError
		}
		printDemo(stdout, base, res, link)
	}
	// Calls, reservations and lots that fall due are applied within seconds even for
	// tenants that send nothing.
	go w.Sweep(ctx, st, 5*time.Second, log)
	// Card versions another process imports are picked up within seconds.
	go reloadRateCards(ctx, st, cards, 10*time.Second, log)
	// Payments and notifications: River workers and the outbox dispatcher. Registered
	// after the writer, so on shutdown they drain first and their reports still reach it.
	fl, err := startFunding(ctx, fcfg, d, st, w, log)
	if err != nil {
		log.Error("cannot start: jobs", "err", err)
		_ = w.Close()
		d.Close()
		return exitError
	}
	srv.OnShutdown("jobs", fl.Stop)
	// The web UI: sign-in links by email when an SMTP relay is configured, logged otherwise.
	stop := func() {
		_ = fl.Stop(ctx)
		_ = w.Close()
		d.Close()
	}
	// Without a relay a link is not sent: whoever reads the log could sign in with it.
	// Operators print one with `commcredits account link`.
	var links web.LinkSender = web.NoLinks{}
	if *logLinks {
		links = web.LogLinks{Log: log}
	}
	if fcfg.SMTP.Host != "" {
		mailer, err := notify.NewSMTPSender(fcfg.SMTP)
		if err != nil {
			log.Error("cannot start: smtp", "err", err)
			stop()
			return exitError
		}
		links = web.MailLinks{Mailer: mailer}
	}
	ui, err := web.New(web.Deps{DB: d, Store: st, Writer: w, Env: env, Logger: log, BaseURL: *baseURL,
		InsecureCookies: *insecureCookies, Links: links, Webhooks: web.JobsWebhooks{Store: st, Jobs: fl.Jobs}})
	if err != nil {
		log.Error("cannot start: web", "err", err)
		stop()
		return exitError
	}
	ui.Mount(srv)
	go sweepSessions(ctx, ui.Accounts(), time.Hour, log)
	// Set before Serve: no request is handled until then.
	svc.Jobs = fl.Jobs

	log.Info("listening", "addr", ln.Addr().String(), "version", version)
	if h.listening != nil {
		h.listening(ln.Addr())
	}
	if err := srv.Serve(ctx, ln, *shutdownTimeout); err != nil {
		log.Error("shutdown", "err", err)
		return exitError
	}
	return exitOK
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	fs := newFlagSet("migrate", stderr)
	dsn := fs.String("db", envOr(h, envDB, db.DefaultDSN), "database DSN (env "+envDB+")")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	d, err := db.Open(ctx, *dsn)
	if err != nil {
		fmt.Fprintf(stderr, "commcredits migrate: %v\n", err)
		return exitError
	}
	defer d.Close()
	n, err := d.Migrate(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "commcredits migrate: %v\n", err)
		return exitError
	}
	cur, _, err := d.SchemaVersion(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "commcredits migrate: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "%s: applied %d migration(s); schema version %d\n", d.Kind(), n, cur)
	return exitOK
}

// cmdSimulate runs a scenario: commcredits simulate FILE [--out FILE]. It prints the final
// state as JSON (to --out when given); a bad scenario or a failed expectation is exit 1.
func cmdSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("simulate", stderr)
	out := fs.String("out", "", "write the output JSON to this file instead of stdout")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: commcredits simulate FILE [--out FILE]\n\nRuns a scenario (docs/scenarios.md) against a fresh engine.\n\n")
		fs.PrintDefaults()
	}
	// The file may come before or after the flags.
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	rest := fs.Args()
	if file == "" && len(rest) > 0 {
		file, rest = rest[0], rest[1:]
	}
	if file == "" || len(rest) > 0 {
		fs.Usage()
		return exitUsage
	}
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintf(stderr, "commcredits simulate: %v\n", err)
		return exitError
	}
	defer f.Close()
	res, runErr := scenario.Run(ctx, f, scenario.Options{Dir: filepath.Dir(file)})
	if res != nil {
		b, err := res.JSON()
		if err != nil {
			fmt.Fprintf(stderr, "commcredits simulate: %v\n", err)
			return exitError
		}
		if *out != "" {
			err = os.WriteFile(*out, b, 0o644)
		} else if runErr == nil {
			_, err = stdout.Write(b)
		}
		if err != nil {
			fmt.Fprintf(stderr, "commcredits simulate: %v\n", err)
			return exitError
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "commcredits simulate: %s: %v\n", file, runErr)
		return exitError
	}
	return exitOK
}

func envFloat(h hooks, key string, def float64) float64 {
	if v := h.getenv(key); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
	}
	return def
}

func printDemo(w io.Writer, base string, r demo.Result, signIn string) {
	fmt.Fprintf(w, `Commcredits demo is running.

  Web UI         %[7]s
                 (one-time sign-in link of %[8]s, tenant_admin of %[2]s)
  API docs       %[1]s/docs
  OpenAPI        %[1]s/openapi.json
  Health         %[1]s/healthz   %[1]s/readyz   %[1]s/metrics

  Demo tenant    %[2]s (users: %[3]s)
  Operator key   %[4]s
  Admin key      %[5]s   (tenant_admin of %[2]s)
  Switch key     %[6]s   (switch of %[2]s)

These keys are shown once; each start with --demo issues new ones. Try:

  curl -s -H 'Authorization: Bearer %[5]s' %[1]s/v1/tenants/%[2]s/credits
  curl -s -H 'Authorization: Bearer %[6]s' -H 'Content-Type: application/json' \
    -d '{"call_id":"try-1","call_type":"user_out","principal":"alice","caller":"+12025550101","callee":"+14155550199"}' \
    %[1]s/v1/tenants/%[2]s/calls/authorize

`, base, r.Tenant, strings.Join(r.Users, ", "), r.OperatorKey, r.AdminKey, r.SwitchKey, signIn, demoAdminEmail)
}

// demoAdminEmail is the demo tenant's web sign-in account.
const demoAdminEmail = "admin@contoso.example"

// demoSignIn makes sure the demo tenant has a web admin account and returns a fresh
// one-time sign-in link for it.
func demoSignIn(ctx context.Context, d *db.DB, tenantID, base string) (string, error) {
	acc := web.NewAccounts(d, time.Now)
	if _, err := acc.Create(ctx, demoAdminEmail, "", web.RoleTenantAdmin, tenantID); err != nil && !errors.Is(err, web.ErrAccountExists) {
		return "", err
	}
	t, _, err := acc.NewLink(ctx, demoAdminEmail)
	if err != nil {
		return "", err
	}
	return web.LinkURL(base, t), nil
}

// newEngine is the engine over d as serve and the admin commands' --db mode run it: the
// store, the stored rate cards (n versions loaded), the writer and the service.
func newEngine(ctx context.Context, d *db.DB) (svc *service.Service, n int, err error) {
	st := store.New(d)
	cards := rating.NewRegistry()
	if n, err = st.LoadRateCards(ctx, cards); err != nil {
		return nil, 0, err
	}
	env := &tenant.Env{Cards: cards, Catalog: plans.Default()}
	w := writer.New(st, writer.SystemClock{}, writer.Config{Env: env})
	return &service.Service{Store: st, Writer: w, Cards: cards, Env: env}, n, nil
}

// reloadRateCards adds card versions stored by other processes every interval until ctx ends.
func reloadRateCards(ctx context.Context, st *store.SQL, cards *rating.Registry, interval time.Duration, log *slog.Logger) {
	every(ctx, interval, func() {
		if n, err := st.LoadRateCards(ctx, cards); err != nil && ctx.Err() == nil {
			log.Warn("rate cards", "err", err)
		} else if n > 0 {
			log.Info("rate cards loaded", "versions", n)
		}
	})
}

// every calls fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
