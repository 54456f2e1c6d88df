package web_test

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/web"
)

// smtpBox is an in-process SMTP server on loopback that keeps the messages it receives.
type smtpBox struct {
	mu   sync.Mutex
	to   []string
	data [][]byte
}

func (b *smtpBox) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{b: b}, nil }

type smtpSession struct {
	b  *smtpBox
	to []string
}

func (s *smtpSession) Reset()                                    { s.to = nil }
func (s *smtpSession) Logout() error                             { return nil }
func (s *smtpSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }
func (s *smtpSession) Data(r io.Reader) error {
	d, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.to, s.b.data = append(s.b.to, s.to...), append(s.b.data, d)
	s.b.mu.Unlock()
	return err
}

// A sign-in link leaves as an email through the notify package's SMTP mailer.
func TestLinkByEmail(t *testing.T) {
	box := &smtpBox{}
	srv := smtp.NewServer(box)
	srv.Domain, srv.ReadTimeout, srv.WriteTimeout = "localhost", 5*time.Second, 5*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	mailer, err := notify.NewSMTPSender(notify.SMTPConfig{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port,
		TLS: notify.TLSNone, From: "Commcredits <noreply@cc.test>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := (web.MailLinks{Mailer: mailer}).SendLink(ctx, "admin@acme.test", "http://x/ui/signin/link?token=abc"); err != nil {
		t.Fatal(err)
	}
	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.data) != 1 || len(box.to) != 1 || box.to[0] != "admin@acme.test" {
		t.Fatalf("received %d messages to %v", len(box.data), box.to)
	}
	msg := string(bytes.ReplaceAll(box.data[0], []byte("=\r\n"), nil))
	for _, want := range []string{"Subject: Your sign-in link for Commcredits", "http://x/ui/signin/link?token=3Dabc", "works once"} {
		if !strings.Contains(msg, want) {
			t.Errorf("email lacks %q:\n%s", want, msg)
		}
	}
}
