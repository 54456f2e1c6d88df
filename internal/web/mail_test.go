package web_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/notify/smtptest"
	"github.com/commcredits/commcredits/internal/web"
)

// A sign-in link leaves as an email through the notify package's SMTP mailer.
func TestLinkByEmail(t *testing.T) {
	box := smtptest.Start(t)
	mailer, err := notify.NewSMTPSender(notify.SMTPConfig{Host: box.Host, Port: box.Port,
		TLS: notify.TLSNone, From: "Commcredits <noreply@cc.test>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := (web.MailLinks{Mailer: mailer}).SendLink(ctx, "admin@acme.test", "http://x/ui/signin/link?token=abc"); err != nil {
		t.Fatal(err)
	}
	got := box.Messages()
	var to []string
	for _, m := range got {
		to = append(to, m.To...)
	}
	if len(got) != 1 || len(to) != 1 || to[0] != "admin@acme.test" {
		t.Fatalf("received %d messages to %v", len(got), to)
	}
	msg := string(bytes.ReplaceAll(got[0].Data, []byte("=\r\n"), nil))
	for _, want := range []string{"Subject: Your sign-in link for Commcredits", "http://x/ui/signin/link?token=3Dabc", "works once"} {
		if !strings.Contains(msg, want) {
			t.Errorf("email lacks %q:\n%s", want, msg)
		}
	}
}
