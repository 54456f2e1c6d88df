package directory

import (
	"crypto/rand"
	"encoding/hex"
	"net/mail"
	"slices"
	"strings"

	"github.com/commcredits/commcredits/internal/notify"
)

// Limits on notification settings.
const (
	MaxContacts  = 20
	MaxWebhooks  = 10
	MinSecretLen = 16
	MaxSecretLen = 256
	MaxURLLen    = 2048
)

// Contact is a billing contact: an address that gets the billing emails (domain §7, §9).
type Contact struct {
	Email string `json:"email"` // bare address, domain lower-cased
	Name  string `json:"name,omitempty"`
}

// Webhook is one of the tenant's webhook endpoints. Events filters by notify.Type; empty
// means every event. Secret signs the deliveries (docs/webhooks.md).
type Webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Secret string   `json:"secret"`
	Events []string `json:"events,omitempty"`
}

// Wants reports whether the endpoint takes events of type t.
func (w *Webhook) Wants(t notify.Type) bool {
	return len(w.Events) == 0 || slices.Contains(w.Events, string(t))
}

// PutBillingContact adds a billing contact or renames one (the email is the key).
type PutBillingContact struct {
	Contact
}

// RemoveBillingContact removes a billing contact; an unknown address is ErrNotFound.
type RemoveBillingContact struct {
	Email string `json:"email"`
}

// PutWebhook creates or replaces a webhook endpoint. A new endpoint needs a Secret (make
// one with NewWebhookSecret and show it to the admin once); replacing an endpoint with an
// empty Secret keeps its secret.
type PutWebhook struct {
	Webhook
}

// DeleteWebhook removes a webhook endpoint; an unknown id is ErrNotFound.
type DeleteWebhook struct {
	ID string `json:"id"`
}

func (PutBillingContact) Name() string    { return "put_billing_contact" }
func (RemoveBillingContact) Name() string { return "remove_billing_contact" }
func (PutWebhook) Name() string           { return "put_webhook" }
func (DeleteWebhook) Name() string        { return "delete_webhook" }

func init() {
	commandTypes["put_billing_contact"] = func() Command { return &PutBillingContact{} }
	commandTypes["remove_billing_contact"] = func() Command { return &RemoveBillingContact{} }
	commandTypes["put_webhook"] = func() Command { return &PutWebhook{} }
	commandTypes["delete_webhook"] = func() Command { return &DeleteWebhook{} }
}

// NewWebhookSecret returns a fresh random signing secret ("whsec_" and 64 hex digits).
// Secrets are made outside Apply, which stays deterministic: the caller puts the secret in
// the PutWebhook command and shows it to the admin once.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return "whsec_" + hex.EncodeToString(b)
}

// Email checks a billing contact address and returns it normalized (the domain
// lower-cased). Only a bare address is accepted: "a@example.com", not "A <a@example.com>".
func Email(field, raw string) (string, *Error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", invalid(field, "missing")
	}
	if len(s) > 254 {
		return "", invalid(field, "longer than 254 bytes")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", invalid(field, "%q is not an email address (name@domain)", raw)
	}
	local, domain, _ := strings.Cut(s, "@")
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", invalid(field, "%q is not an email address (name@domain)", raw)
	}
	return local + "@" + strings.ToLower(domain), nil
}

func (a *applier) putBillingContact(c PutBillingContact) *Error {
	e, err := Email("email", c.Email)
	if err != nil {
		return err
	}
	if err := text("name", c.Contact.Name, MaxNameLen); err != nil {
		return err
	}
	i := slices.IndexFunc(a.d.Contacts, func(x Contact) bool { return strings.EqualFold(x.Email, e) })
	switch {
	case i >= 0 && a.d.Contacts[i].Email == e && a.d.Contacts[i].Name == c.Contact.Name:
		return nil
	case i >= 0:
		a.d.Contacts[i] = Contact{Email: e, Name: c.Contact.Name}
	case len(a.d.Contacts) >= MaxContacts:
		return errf(ErrConflict, "email", "a tenant has at most %d billing contacts", MaxContacts)
	default:
		a.d.Contacts = append(a.d.Contacts, Contact{Email: e, Name: c.Contact.Name})
	}
	a.ch.Notify = true
	return nil
}

func (a *applier) removeBillingContact(c RemoveBillingContact) *Error {
	e, err := Email("email", c.Email)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(a.d.Contacts, func(x Contact) bool { return strings.EqualFold(x.Email, e) })
	if i < 0 {
		return errf(ErrNotFound, "email", "no billing contact %q", e)
	}
	a.d.Contacts = slices.Delete(a.d.Contacts, i, i+1)
	a.ch.Notify = true
	return nil
}

func (a *applier) putWebhook(c PutWebhook) *Error {
	w := c.Webhook
	w.Events = slices.Clone(w.Events)
	if err := principalID("id", w.ID); err != nil {
		return err
	}
	if len(w.URL) > MaxURLLen {
		return invalid("url", "longer than %d bytes", MaxURLLen)
	}
	if err := notify.ValidateURL(w.URL); err != nil {
		return invalid("url", "%s", strings.TrimPrefix(err.Error(), notify.ErrInvalid.Error()+": "))
	}
	for i, t := range w.Events {
		if !notify.Type(t).Valid() {
			return invalid("events", "events[%d]: unknown event type %q", i, t)
		}
	}
	slices.Sort(w.Events)
	if w.Events = slices.Compact(w.Events); len(w.Events) == 0 {
		w.Events = nil
	}
	old := a.d.Webhooks[w.ID]
	if w.Secret == "" && old != nil {
		w.Secret = old.Secret
	}
	switch {
	case w.Secret == "":
		return invalid("secret", "missing: a new webhook needs a signing secret (directory.NewWebhookSecret)")
	case len(w.Secret) < MinSecretLen || len(w.Secret) > MaxSecretLen:
		return invalid("secret", "must be %d to %d bytes", MinSecretLen, MaxSecretLen)
	case strings.ContainsFunc(w.Secret, func(r rune) bool { return r <= ' ' || r > '~' }):
		return invalid("secret", "printable ASCII without spaces only")
	}
	if old == nil && len(a.d.Webhooks) >= MaxWebhooks {
		return errf(ErrConflict, "id", "a tenant has at most %d webhooks", MaxWebhooks)
	}
	if old != nil && old.URL == w.URL && old.Secret == w.Secret && slices.Equal(old.Events, w.Events) {
		return nil
	}
	a.d.Webhooks[w.ID] = &w
	a.ch.Notify = true
	return nil
}

func (a *applier) deleteWebhook(c DeleteWebhook) *Error {
	if _, ok := a.d.Webhooks[c.ID]; !ok {
		return errf(ErrNotFound, "id", "no webhook %q", c.ID)
	}
	delete(a.d.Webhooks, c.ID)
	a.ch.Notify = true
	return nil
}
