package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/commcredits/commcredits/internal/money"
)

// ProductName opens every subject line.
const ProductName = "Communications Credits"

//go:embed templates
var templateFS embed.FS

// Message is a rendered email.
type Message struct {
	Subject string
	Text    string
	HTML    string
	// EventID is the event's dedup key; the sender derives the Message-ID from it so
	// that a resent email is recognisable as the same one.
	EventID string
}

type templates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// parsed at init so that a broken template fails every test, not one send in production.
var byType = mustParse()

func mustParse() map[Type]templates {
	m := make(map[Type]templates, len(Types))
	for _, t := range Types {
		txt := texttemplate.Must(texttemplate.New(string(t)).Option("missingkey=error").
			ParseFS(templateFS, "templates/footer.txt", "templates/"+string(t)+".txt"))
		html := htmltemplate.Must(htmltemplate.New(string(t)).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/"+string(t)+".html"))
		m[t] = templates{text: txt, html: html}
	}
	return m
}

// view is what the templates see: the event plus formatting helpers.
type view struct {
	Event
	Product string
	Subject string
}

// M formats an amount exactly, with the currency code: "50.00 USD".
func (v view) M(a money.Amount) string { return a.Format(v.Currency) + " " + v.Currency.Code }

// Date formats a day unambiguously for any reader: "2 March 2025". Dates are in UTC,
// the engine's calendar.
func (v view) Date(t time.Time) string { return t.UTC().Format("2 January 2006") }

// Days is "1 day" or "7 days".
func (v view) Days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// CardName is "Visa ending in 4242".
func (v view) CardName() string {
	if v.Card == nil {
		return "card"
	}
	brand := brandNames[strings.ToLower(v.Card.Brand)]
	if brand == "" {
		brand = "Card"
	}
	return brand + " ending in " + v.Card.Last4
}

// CardExpiry is "December 2027".
func (v view) CardExpiry() string {
	if v.Card == nil || v.Card.ExpMonth < 1 || v.Card.ExpMonth > 12 {
		return "its expiry month"
	}
	return fmt.Sprintf("%s %d", time.Month(v.Card.ExpMonth), v.Card.ExpYear)
}

var brandNames = map[string]string{
	"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express",
	"discover": "Discover", "diners": "Diners Club", "jcb": "JCB", "unionpay": "UnionPay",
	"cartes_bancaires": "Cartes Bancaires", "eftpos_au": "eftpos", "interac": "Interac",
}

// Render produces the email for e.
func Render(e Event) (Message, error) {
	if err := e.Validate(); err != nil {
		return Message{}, err
	}
	t := byType[e.Type]
	v := view{Event: e, Product: ProductName}

	var b bytes.Buffer
	if err := t.text.ExecuteTemplate(&b, "subject", v); err != nil {
		return Message{}, fmt.Errorf("notify: render %s subject: %w", e.Type, err)
	}
	// One line whatever the template's whitespace: a newline in a header would break it.
	v.Subject = strings.Join(strings.Fields(b.String()), " ")

	b.Reset()
	if err := t.text.ExecuteTemplate(&b, "text", v); err != nil {
		return Message{}, fmt.Errorf("notify: render %s text: %w", e.Type, err)
	}
	text := b.String()

	b.Reset()
	if err := t.html.ExecuteTemplate(&b, "layout", v); err != nil {
		return Message{}, fmt.Errorf("notify: render %s html: %w", e.Type, err)
	}
	return Message{Subject: v.Subject, Text: text, HTML: b.String(), EventID: e.ID}, nil
}
