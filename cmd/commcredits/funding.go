package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/outbox"
	"github.com/commcredits/commcredits/internal/payment"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/writer"
)

// Environment of the funding loop (payments, notifications).
const (
	envStripeKey     = "COMMCREDITS_STRIPE_SECRET_KEY"
	envStripeAPIBase = "COMMCREDITS_STRIPE_API_BASE"
	envSMTPHost      = "COMMCREDITS_SMTP_HOST"
	envSMTPPort      = "COMMCREDITS_SMTP_PORT"
	envSMTPUser      = "COMMCREDITS_SMTP_USER"
	envSMTPPass      = "COMMCREDITS_SMTP_PASSWORD"
	envSMTPFrom      = "COMMCREDITS_SMTP_FROM"
	envSMTPTLS       = "COMMCREDITS_SMTP_TLS"
)

// fundingConfig is what serve needs to run payments and notifications.
type fundingConfig struct {
	StripeKey     string
	StripeAPIBase string
	SMTP          notify.SMTPConfig // Host "": no email (mail stays queued, retried)
	DispatchEvery time.Duration     // how often the outbox is read
	PollInterval  time.Duration     // how often River looks for jobs
	Backoff       func(int) time.Duration
}

// fundingFlags registers the funding flags on fs, defaulting from the environment.
func fundingFlags(fs *flag.FlagSet, h hooks) func() (fundingConfig, error) {
	key := fs.String("stripe-secret-key", envOr(h, envStripeKey, ""), "Stripe secret key; empty: card charges fail as provider_not_configured (env "+envStripeKey+"; prefer the env var)")
	base := fs.String("stripe-api-base", envOr(h, envStripeAPIBase, ""), "Stripe API base URL, e.g. a stripe-mock address (env "+envStripeAPIBase+"; default https://api.stripe.com)")
	host := fs.String("smtp-host", envOr(h, envSMTPHost, ""), "SMTP relay host; empty: no email is sent, notifications stay queued (env "+envSMTPHost+")")
	port := fs.String("smtp-port", envOr(h, envSMTPPort, ""), "SMTP port (env "+envSMTPPort+"; default 587, 465 with implicit TLS)")
	user := fs.String("smtp-user", envOr(h, envSMTPUser, ""), "SMTP username (env "+envSMTPUser+")")
	pass := fs.String("smtp-password", envOr(h, envSMTPPass, ""), "SMTP password (env "+envSMTPPass+"; prefer the env var)")
	from := fs.String("smtp-from", envOr(h, envSMTPFrom, ""), `sender, e.g. "Communications Credits" <billing@example.net> (env `+envSMTPFrom+")")
	tls := fs.String("smtp-tls", envOr(h, envSMTPTLS, string(notify.TLSMandatory)), "mandatory (STARTTLS), opportunistic, none or implicit (env "+envSMTPTLS+")")
	every := fs.Duration("outbox-every", time.Second, "how often the outbox is read for payments and notifications to hand on")
	return func() (fundingConfig, error) {
		c := fundingConfig{StripeKey: *key, StripeAPIBase: *base, DispatchEvery: *every,
			SMTP: notify.SMTPConfig{Host: *host, Username: *user, Password: *pass, From: *from, TLS: notify.TLSPolicy(*tls)}}
		if *port != "" {
			p, err := strconv.Atoi(*port)
			if err != nil || p < 1 || p > 65535 {
				return c, fmt.Errorf("smtp-port %q: not a port number", *port)
			}
			c.SMTP.Port = p
		}
		switch c.SMTP.TLS {
		case notify.TLSMandatory, notify.TLSOpportunistic, notify.TLSNone, notify.TLSImplicit:
		default:
			return c, fmt.Errorf("smtp-tls %q: want mandatory, opportunistic, none or implicit", *tls)
		}
		if c.StripeKey == "" && c.StripeAPIBase != "" {
			return c, errors.New("stripe-api-base is set but stripe-secret-key is empty")
		}
		if c.DispatchEvery <= 0 {
			return c, errors.New("outbox-every must be positive")
		}
		return c, nil
	}
}

// fundingLoop is the running payment and notification machinery of serve.
type fundingLoop struct {
	Jobs       *jobs.Jobs
	Dispatcher *outbox.Dispatcher
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// startFunding starts the River client (payment, notify workers) and the outbox
// dispatcher on d. Stop drains them; call it before the writer closes, since payment
// outcomes come back through it.
func startFunding(ctx context.Context, cfg fundingConfig, d *db.DB, st *store.SQL, w *writer.Writer, log *slog.Logger) (*fundingLoop, error) {
	var provider payment.Provider = payment.NotConfigured{}
	if cfg.StripeKey != "" {
		s, err := payment.NewStripe(payment.StripeConfig{SecretKey: cfg.StripeKey, BaseURL: cfg.StripeAPIBase})
		if err != nil {
			return nil, err
		}
		provider = s
		log.Info("payments: Stripe", "api_base", orStr(cfg.StripeAPIBase, "https://api.stripe.com"))
	} else {
		log.Warn("payments: no provider configured; card charges fail as " + payment.CodeNotConfigured)
	}
	var mailer jobs.Mailer
	if cfg.SMTP.Host != "" {
		m, err := notify.NewSMTPSender(cfg.SMTP)
		if err != nil {
			return nil, err
		}
		mailer = m
		log.Info("email: SMTP", "host", cfg.SMTP.Host, "port", cfg.SMTP.Port, "tls", string(cfg.SMTP.TLS))
	} else {
		log.Warn("email: no SMTP relay configured; emails stay queued and are retried")
	}
	j, err := jobs.New(d, jobs.Config{
		Charger:      jobs.ProviderCharger{Provider: provider},
		Reporter:     outbox.Reporter{Writer: w},
		Contacts:     st,
		Webhooks:     st,
		Mailer:       mailer,
		Names:        st.TenantName,
		Logger:       log,
		PollInterval: cfg.PollInterval,
		Backoff:      cfg.Backoff,
	})
	if err != nil {
		return nil, err
	}
	// River's client outlives ctx: Stop drains it on shutdown instead of a cancellation
	// interrupting charges in flight.
	if err := j.Start(context.WithoutCancel(ctx)); err != nil {
		_ = j.Stop(context.Background())
		return nil, err
	}
	l := &fundingLoop{Jobs: j, Dispatcher: &outbox.Dispatcher{Store: st, Jobs: j, Writer: w, Log: log}}
	dctx, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.Dispatcher.Run(dctx, cfg.DispatchEvery)
	}()
	return l, nil
}

// Stop stops reading the outbox, then lets running jobs finish (payment reports reach the
// writer) until ctx ends, when they are cancelled and retried by the next process.
func (l *fundingLoop) Stop(ctx context.Context) error {
	l.cancel()
	l.wg.Wait()
	return l.Jobs.Stop(ctx)
}

func orStr(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
