package notify

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify/smtptest"
)

// parsed is a received email split into headers and its text and HTML parts.
type parsed struct {
	Header     mail.Header
	Subject    string
	Text, HTML string
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{Header: m.Header, Subject: subj}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q, want multipart/alternative", m.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.Text = string(b)
		case "text/html":
			p.HTML = string(b)
		}
	}
	if p.Text == "" || p.HTML == "" {
		t.Fatalf("missing a part: text %d bytes, html %d bytes", len(p.Text), len(p.HTML))
	}
	return p
}

func TestSMTPSendsRequiredEmails(t *testing.T) {
	in := smtptest.Start(t)
	s, err := NewSMTPSender(SMTPConfig{
		Host: "127.0.0.1", Port: in.Port, TLS: TLSNone,
		From: `"Communications Credits" <billing@commcredits.test>`, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	usd := money.MustCurrency("USD")
	at := time.Date(2025, 3, 2, 10, 4, 5, 0, time.UTC)
	card := &Card{Brand: "visa", Last4: "4242", ExpMonth: 1, ExpYear: 2025}
	to := []string{"ap@acme.test", "cfo@acme.test"}
	events := []struct {
		e       Event
		subject string
		body    []string // in both parts
	}{
		{Event{ID: Key(RechargeSucceeded, "t-1", "att-1"), Type: RechargeSucceeded, TenantID: "t-1", TenantName: "Acme",
			At: at, Currency: usd, Amount: 5000, Balance: 5312, Card: card, PaymentID: "pi_1"},
			"Communications Credits: 50.00 USD added to your balance",
			[]string{"50.00 USD", "53.12 USD", "Visa ending in 4242", "pi_1"}},
		{Event{ID: Key(RechargeFailed, "t-1", "att-2"), Type: RechargeFailed, TenantID: "t-1", TenantName: "Acme",
			At: at, Currency: usd, Amount: 5000, Balance: 312, Card: card, Reason: "card expired"},
			"Communications Credits: automatic recharge of 50.00 USD failed (card expired)",
			[]string{"card expired", "50.00 USD", "3.12 USD"}},
		{Event{ID: Key(BalanceZero, "t-1", "1042"), Type: BalanceZero, TenantID: "t-1", TenantName: "Acme",
			At: at, Currency: usd, Balance: -7},
			"Communications Credits: your balance has reached zero",
			[]string{"-0.07 USD", "emergency calls"}},
	}
	for _, tc := range events {
		msg, err := Render(tc.e)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), to, msg); err != nil {
			t.Fatalf("%s: %v", tc.e.Type, err)
		}
	}

	got := in.Messages()
	if len(got) != len(events) {
		t.Fatalf("received %d emails, want %d", len(got), len(events))
	}
	for i, tc := range events {
		r := got[i]
		if r.From != "billing@commcredits.test" || strings.Join(r.To, ",") != "ap@acme.test,cfo@acme.test" {
			t.Errorf("%s: envelope from %q to %v", tc.e.Type, r.From, r.To)
		}
		p := parse(t, r.Data)
		if p.Subject != tc.subject {
			t.Errorf("%s: subject %q, want %q", tc.e.Type, p.Subject, tc.subject)
		}
		if h := p.Header.Get("To"); !strings.Contains(h, "ap@acme.test") || !strings.Contains(h, "cfo@acme.test") {
			t.Errorf("%s: To header %q", tc.e.Type, h)
		}
		if h := p.Header.Get("X-Commcredits-Event"); h != tc.e.ID {
			t.Errorf("%s: event header %q", tc.e.Type, h)
		}
		if h := p.Header.Get("Message-Id"); !strings.HasSuffix(h, "@commcredits.test>") {
			t.Errorf("%s: Message-ID %q", tc.e.Type, h)
		}
		for _, want := range tc.body {
			if !strings.Contains(p.Text, want) {
				t.Errorf("%s: text part lacks %q:\n%s", tc.e.Type, want, p.Text)
			}
			if !strings.Contains(p.HTML, want) {
				t.Errorf("%s: HTML part lacks %q", tc.e.Type, want)
			}
		}
	}
}

func TestSMTPServerDownIsAnError(t *testing.T) {
	down := smtptest.Reserve(t)
	s, err := NewSMTPSender(SMTPConfig{Host: "127.0.0.1", Port: down.Port, TLS: TLSNone, From: "billing@commcredits.test", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), []string{"ap@acme.test"}, Message{Subject: "s", Text: "t", HTML: "<p>t</p>", EventID: "x/y/z"})
	if err == nil {
		t.Fatal("send to a closed port succeeded")
	}
	if errors.Is(err, ErrInvalid) {
		t.Errorf("a down server must be retryable, got %v", err)
	}
}

func TestSMTPMandatoryTLSRefusesPlainServer(t *testing.T) {
	in := smtptest.Start(t)
	s, err := NewSMTPSender(SMTPConfig{Host: "127.0.0.1", Port: in.Port, From: "billing@commcredits.test", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), []string{"ap@acme.test"}, Message{Subject: "s", Text: "t"}); err == nil {
		t.Fatal("mandatory TLS sent over a server without STARTTLS")
	}
	if n := len(in.Messages()); n != 0 {
		t.Fatalf("server received %d emails", n)
	}
}

func TestSMTPConfigAndRecipients(t *testing.T) {
	if _, err := NewSMTPSender(SMTPConfig{Host: "h", From: "not an address"}); err == nil {
		t.Error("bad from accepted")
	}
	if _, err := NewSMTPSender(SMTPConfig{Host: "h", From: "a@b.test", TLS: "sometimes"}); err == nil {
		t.Error("bad TLS policy accepted")
	}
	s, err := NewSMTPSender(SMTPConfig{Host: "127.0.0.1", Port: 1, TLS: TLSNone, From: "a@b.test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range [][]string{nil, {"not an address"}} {
		if err := s.Send(context.Background(), to, Message{Subject: "s", Text: "t"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("to %v: %v, want ErrInvalid", to, err)
		}
	}
}

func TestMessageID(t *testing.T) {
	for in, want := range map[string]string{
		"balance_zero/t-1/42":   "balance_zero/t-1/42@x.test",
		"balance_zero/t 1/42":   "balance_zero/t=201/42@x.test",
		"balance_zero/t=201/42": "balance_zero/t=3D201/42@x.test",
		"card_expiring/é/1":     "card_expiring/=C3=A9/1@x.test",
	} {
		if got := messageID(in, "x.test"); got != want {
			t.Errorf("messageID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSMTPAuthenticates(t *testing.T) {
	ib := smtptest.Start(t, smtptest.Auth("mailer", "s3cret"))
	port := ib.Port

	send := func(pass string) error {
		s, err := NewSMTPSender(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone, From: "a@b.test",
			Username: "mailer", Password: pass, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return s.Send(context.Background(), []string{"c@d.test"}, Message{Subject: "s", Text: "t", HTML: "<p>t</p>"})
	}
	if err := send("wrong"); err == nil {
		t.Error("wrong password accepted")
	}
	if err := send("s3cret"); err != nil {
		t.Fatal(err)
	}
	if n := len(ib.Messages()); n != 1 {
		t.Fatalf("received %d, want 1", n)
	}
}
