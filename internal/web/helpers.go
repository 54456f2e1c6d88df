package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

var funcs = template.FuncMap{
	"money":  withCode,
	"amount": optionalAmount,
	"date":   func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"time":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"nonce":  func() string { return token(12) },
	"dict": func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
	"minutes": func(sec int64) string { return fmt.Sprintf("%d", sec/60) },
	"join":    strings.Join,
	"has":     func(list []string, x string) bool { return slices.Contains(list, x) },
	// e164 writes stored digits as a number ("+" in front); masked numbers too.
	"e164": func(digits string) string {
		if digits == "" || strings.HasPrefix(digits, "+") {
			return digits
		}
		return "+" + digits
	},
}

// withCode writes a in c followed by the currency code ("12.50 USD"), as pages and
// messages show money.
func withCode(a money.Amount, c money.Currency) string { return a.Format(c) + " " + c.Code }

// optionalAmount writes a in c, and a zero amount (a setting left unset) as "".
func optionalAmount(a money.Amount, c money.Currency) string {
	if a == 0 {
		return ""
	}
	return a.Format(c)
}

// formError is what a refused change says: per form field, and in general.
type formError struct {
	Fields  map[string]string
	General []string
}

func (e *formError) add(field, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if field == "" {
		e.General = append(e.General, msg)
		return
	}
	if e.Fields[field] != "" {
		msg = e.Fields[field] + " " + msg
	}
	e.Fields[field] = msg
}

func (e *formError) empty() bool { return len(e.Fields) == 0 && len(e.General) == 0 }

// explain turns a refusal of the engine into messages next to the fields it names. fields
// maps the engine's field names (recharge "Amount", directory "spend_limit") to form inputs.
// known is false for errors that are not refusals (storage failures): those are logged, and
// the page says only that nothing was changed.
func explain(err error, fields map[string]string) (fe formError, known bool) {
	var leaves []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		leaves = append(leaves, e)
	}
	walk(err)
	known = true
	for _, e := range leaves {
		var rf *recharge.FieldError
		var df *directory.Error
		switch {
		case errors.As(e, &rf):
			fe.add(fields[rf.Field], rf.Problem+".")
		case errors.As(e, &df):
			f := df.Field
			if i := strings.IndexAny(f, ".["); i >= 0 {
				f = f[:i]
			}
			if name, ok := fields[f]; ok {
				fe.add(name, df.Msg+".")
			} else {
				fe.add("", df.Error()+".")
			}
			if errors.Is(e, directory.ErrCreditsNotSetUp) && !strings.Contains(df.Msg, "credits") {
				fe.add("", "Credits are not set up: add funds first.")
			}
		case errors.Is(e, writer.ErrIdempotencyMismatch):
			fe.add("", "This form was already sent with other values. Reload the page and try again.")
		case errors.Is(e, recharge.ErrConflict):
			fe.add("", "The auto-recharge settings were changed meanwhile. Reload the page and try again.")
		case errors.Is(e, recharge.ErrBusy), errors.Is(e, recharge.ErrInvalid), errors.Is(e, recharge.ErrUnknownAttempt),
			errors.Is(e, directory.ErrInvalid), errors.Is(e, directory.ErrNotFound), errors.Is(e, directory.ErrConflict),
			errors.Is(e, directory.ErrCreditsNotSetUp), errors.Is(e, ledger.ErrInvalidAmount), errors.Is(e, ledger.ErrInsufficientFunds),
			errors.Is(e, ledger.ErrInvalidCommand), errors.Is(e, tenant.ErrInvalidCall):
			fe.add("", upperFirst(e.Error())+".")
		default:
			known = false
			fe.add("", "The change could not be saved; nothing was changed. Try again.")
		}
	}
	return fe, known
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// parseAmount reads a form amount in c; blank is allowed only when optional.
func parseAmount(fe *formError, field, raw string, c money.Currency, optional, positive bool) money.Amount {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		if !optional {
			fe.add(field, "Enter an amount.")
		}
		return 0
	}
	a, err := money.ParseAmount(raw, c)
	switch {
	case errors.Is(err, money.ErrPrecision):
		fe.add(field, fmt.Sprintf("%q has too many decimals: %s has %d.", raw, c.Code, c.Digits))
	case errors.Is(err, money.ErrRange):
		fe.add(field, fmt.Sprintf("%q is too large.", raw))
	case err != nil:
		fe.add(field, fmt.Sprintf("%q is not an amount: write it like 50 or 50.00, without the currency.", raw))
	case a < 0 || (positive && a == 0):
		fe.add(field, "The amount must be more than zero.")
	default:
		return a
	}
	return 0
}

// submit sends cmd through the writer under the form's key.
func (s *Server) submit(r *http.Request, c *reqCtx, cmd tenant.Command) (tenant.Result, error) {
	return s.d.Writer.Submit(r.Context(), c.tenant.ID, formKey(r), cmd)
}

// refused re-renders a page after a refused change, with the messages next to the fields.
func (s *Server) refused(w http.ResponseWriter, r *http.Request, c *reqCtx, err error, fields map[string]string, again func(fe formError)) {
	fe, known := explain(err, fields)
	if !known {
		s.log.Error("web: change failed", "path", r.URL.Path, "tenant", c.tenant.ID, "err", err)
	}
	again(fe)
}

// pageFlash is the flash of a page: its general messages, or after a refused change
// (code not 200) what nothingChanged says.
func pageFlash(code int, fe formError) string {
	if code != http.StatusOK {
		return nothingChanged(fe)
	}
	return strings.Join(fe.General, " ")
}

// nothingChanged is the flash of a refused form.
func nothingChanged(fe formError) string {
	msg := "Nothing was changed."
	if len(fe.General) > 0 {
		return msg + " " + strings.Join(fe.General, " ")
	}
	if len(fe.Fields) > 0 {
		msg += " Fix the fields marked below."
	}
	return msg
}
