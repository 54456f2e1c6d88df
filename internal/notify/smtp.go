package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSPolicy says whether the SMTP connection must be encrypted.
type TLSPolicy string

const (
	// TLSMandatory refuses a server without STARTTLS. The default.
	TLSMandatory TLSPolicy = "mandatory"
	// TLSOpportunistic uses STARTTLS when offered, plain text otherwise.
	TLSOpportunistic TLSPolicy = "opportunistic"
	// TLSNone never encrypts: for a relay on localhost or a test server.
	TLSNone TLSPolicy = "none"
	// TLSImplicit connects with TLS from the first byte (SMTPS, usually port 465).
	TLSImplicit TLSPolicy = "implicit"
)

// SMTPConfig configures an SMTPSender.
type SMTPConfig struct {
	Host string
	Port int // default 587, or 465 with TLSImplicit
	// Username and Password are optional; with a username the sender authenticates with
	// the strongest mechanism the server offers (PLAIN in clear when TLS is TLSNone).
	Username string
	Password string
	TLS      TLSPolicy
	// From is the sender, e.g. `"Communications Credits" <billing@example.net>`.
	From string
	// Timeout bounds connecting and each SMTP command; default 30 s.
	Timeout time.Duration
	// MessageIDDomain is the right-hand side of Message-IDs; default: the From domain.
	MessageIDDomain string
}

// SMTPSender sends Messages through one SMTP relay. It dials per Send: the outbox sends
// in small batches and a long-lived connection would only go stale between them.
type SMTPSender struct {
	cfg  SMTPConfig
	from *mail.Address
	opts []gomail.Option
}

// NewSMTPSender checks cfg and returns a sender.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	if cfg.Host == "" {
		return nil, errors.New("notify: SMTP host is empty")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: SMTP from address %q: %w", cfg.From, err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSMandatory
	}
	if cfg.MessageIDDomain == "" {
		cfg.MessageIDDomain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == TLSImplicit {
			cfg.Port = 465
		}
	}
	// An explicit port also turns off go-mail's silent fallback to plain port 25.
	opts := []gomail.Option{gomail.WithTimeout(cfg.Timeout), gomail.WithPort(cfg.Port)}
	switch cfg.TLS {
	case TLSMandatory:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("notify: unknown SMTP TLS policy %q", cfg.TLS)
	}
	if cfg.Username != "" {
		auth := gomail.SMTPAuthAutoDiscover // the strongest mechanism offered
		if cfg.TLS == TLSNone {
			// Auto-discovery never sends a password in clear; with TLS off the operator has
			// chosen exactly that (a relay on the same host).
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts,
			gomail.WithSMTPAuth(auth),
			gomail.WithUsername(cfg.Username),
			gomail.WithPassword(cfg.Password))
	}
	return &SMTPSender{cfg: cfg, from: from, opts: opts}, nil
}

// Send delivers msg to every address in to as one multipart/alternative email (plain text
// and HTML). An error means the message may not have been accepted: keep it queued. Errors
// wrapping ErrInvalid (bad recipient address) will not go away by retrying.
func (s *SMTPSender) Send(ctx context.Context, to []string, msg Message) error {
	if len(to) == 0 {
		return fmt.Errorf("%w: email without recipients", ErrInvalid)
	}
	m := gomail.NewMsg()
	if err := m.FromFormat(s.from.Name, s.from.Address); err != nil {
		return fmt.Errorf("%w: from: %v", ErrInvalid, err)
	}
	if err := m.To(to...); err != nil {
		return fmt.Errorf("%w: recipients: %v", ErrInvalid, err)
	}
	m.Subject(msg.Subject)
	m.SetDate()
	if msg.EventID != "" {
		// Stable across retries, so a mail client shows a resend as the same message.
		m.SetMessageIDWithValue(messageID(msg.EventID, s.cfg.MessageIDDomain))
		m.SetGenHeader("X-Commcredits-Event", msg.EventID)
	} else {
		m.SetMessageID()
	}
	m.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}

	c, err := gomail.NewClient(s.cfg.Host, s.opts...)
	if err != nil {
		return fmt.Errorf("notify: smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("notify: smtp send to %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
	}
	return nil
}

// messageID maps a dedup key to a Message-ID local part: keys contain "/", which is
// allowed in a dot-atom, but other bytes of tenant ids may not be.
func messageID(eventID, domain string) string {
	var b strings.Builder
	for i := 0; i < len(eventID); i++ {
		c := eventID[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			strings.IndexByte("!#$%&'*+-/?^_`{|}~.", c) >= 0:
			b.WriteByte(c)
		default: // "=" included, so the escaping cannot collide
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String() + "@" + domain
}
