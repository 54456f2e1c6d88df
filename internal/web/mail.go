package web

import (
	"context"
	"fmt"
	"html"

	"github.com/commcredits/commcredits/internal/notify"
)

// Mailer sends one email (*notify.SMTPSender satisfies it).
type Mailer interface {
	Send(ctx context.Context, to []string, msg notify.Message) error
}

// MailLinks sends sign-in links by email through the notify package's mailer.
type MailLinks struct {
	Mailer  Mailer
	Product string // the name in the subject; default "Commcredits"
}

// SendLink implements LinkSender.
func (m MailLinks) SendLink(ctx context.Context, email, link string) error {
	name := m.Product
	if name == "" {
		name = "Commcredits"
	}
	text := fmt.Sprintf("Sign in to %s with this link. It works once, within %s:\n\n%s\n\n"+
		"If you did not ask for it, ignore this email: nobody can sign in without the link.\n", name, LinkTTL, link)
	body := fmt.Sprintf(`<p>Sign in to %s with this link. It works once, within %s:</p><p><a href="%s">Sign in</a></p>`+
		`<p>If you did not ask for it, ignore this email: nobody can sign in without the link.</p>`,
		html.EscapeString(name), LinkTTL, html.EscapeString(link))
	return m.Mailer.Send(ctx, []string{email}, notify.Message{Subject: "Your sign-in link for " + name, Text: text, HTML: body})
}
