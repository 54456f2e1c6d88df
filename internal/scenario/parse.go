// Package scenario runs a scenario file (docs/scenarios.md) against a fresh engine with a
// simulated clock: a new SQLite database, the store, the writer and the tenant code that
// serve runs, driven only through writer.Submit. Parse reads and validates a whole scenario
// before anything runs; Run executes it and reads the final state back from the database.
package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/tenant"
)

// Limits on a scenario source.
const (
	MaxLineBytes = 16 << 20 // one line (an inline rate card can be large)
	MaxSteps     = 100_000
	MaxAdvance   = 100 * 366 * 24 * time.Hour // one advance step moves the clock at most this far
	MaxMonths    = 1200
	// MaxCallSeconds bounds the seconds of a call, settle, extend or CDR step.
	MaxCallSeconds = rating.MaxCallSeconds
)

// DefaultStart is the clock's start when the scenario has no clock step.
var DefaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Error is a problem with one line of a scenario, or a failed expectation or engine refusal
// while running it: "line 7: fund.amount: "12.345" has more than 2 decimal places".
type Error struct {
	Line  int
	Field string // step.field path, "" for the whole line
	Msg   string
	Err   error // the engine's error, when the engine refused the step
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrExpectation is wrapped by the error of an expect step that does not hold.
var ErrExpectation = errors.New("expectation failed")

// Step is one parsed line. Exactly one of the payload fields is set, as Kind says.
type Step struct {
	Line        int
	Kind        string
	Key         string // idempotency key: given, or "line-N"
	Tenant      string // the tenant the step acts on ("" for clock, config, advance, ratecard)
	ExpectError string // the step must be refused with an error containing this text

	At        time.Time        // clock
	Config    *Config          // config
	NewTenant *TenantSpec      // tenant
	Ratecard  *RatecardSpec    // ratecard
	Commands  []tenant.Command // user, licences, number, policy, spend_limit, toll_free_dial_in, fund, adjust, authorize, extend, settle, release
	Advance   *AdvanceSpec     // advance
	Call      *CallSpec        // call
	CDR       *CDRSpec         // cdr
	Expect    *ExpectSpec      // expect

	AutoRecharge *recharge.Settings // auto_recharge (its if_version is the current one when it runs)
	Outcomes     []string           // payment
}

// Config is the operator's settings a scenario may set before its first tenant.
type Config struct {
	CallTTL        time.Duration
	MaxCallSeconds int64
	ExpiryMonths   int
	DialOutBasis   plans.Basis
}

// TenantSpec creates a tenant.
type TenantSpec struct {
	ID, Name       string
	Currency       money.Currency
	BillingCountry string
}

// RatecardSpec imports a rate card version.
type RatecardSpec struct {
	Service  rating.Service
	Currency money.Currency
	CSV      []byte // inline
	File     string // relative to the scenario's directory, when CSV is nil
}

// AdvanceSpec moves the clock.
type AdvanceSpec struct {
	Duration time.Duration
	Months   int
	To       time.Time
}

// CallSpec is authorize, optional extensions, then settle after Seconds.
type CallSpec struct {
	Authorize   tenant.Authorize
	Seconds     int64
	ExtendEvery int64
}

// CDRSpec posts one CDR. When Start was not given, the call has just ended: it starts
// Duration seconds before the scenario's clock.
type CDRSpec struct {
	CDR          charging.CDR
	StartIsClock bool
}

// PoolRef names a pool in an expectation.
type PoolRef struct {
	Month plans.Month // "" means the clock's month
	Key   plans.PoolKey
}

// ExpectSpec is what an expect step checks; nil fields are not checked.
type ExpectSpec struct {
	Balance, Available, Reserved, Debt, Forfeited, Funded *money.Amount

	Pool                          *PoolRef
	PoolUsed, PoolHeld, PoolTotal *int64
	PoolLeft                      *int64

	Authorization *AuthExpect
	Settlement    *SettleExpect

	LiveLots  *int
	UsageRows *int
	Refusals  *int
	Blocked   map[string]bool // user → blocked now
	Spent     map[string]money.Amount

	// Funding: notifications written so far by type, card charges made (the fake
	// provider's), receipts, and the auto-recharge state.
	Notifications map[string]int
	Charges       *int
	Receipts      *int
	Suspended     *bool
	InFlight      *bool
}

// AuthExpect checks the tenant's last authorization (authorize or call step).
type AuthExpect struct {
	Allowed    *bool
	Reason     *string
	Outcome    *string
	Capability *string
	MaxSeconds *int64
	Granted    *int64
	Reserve    *money.Amount
}

// SettleExpect checks the tenant's last settlement (settle, call or cdr step).
type SettleExpect struct {
	Charge        *money.Amount
	PoolSeconds   *int64
	CreditSeconds *int64
	Fee           *bool
}

// The JSON shapes of the steps. Amounts, times and durations are strings, validated here so
// that an error names its field.
type common struct {
	Step        string `json:"step"`
	Key         string `json:"key"`
	Tenant      string `json:"tenant"`
	ExpectError string `json:"expect_error"`
}

type clockJSON struct {
	common
	At string `json:"at"`
}

type configJSON struct {
	common
	CallTTL        string `json:"call_ttl"`
	MaxCallSeconds int64  `json:"max_call_seconds"`
	ExpiryMonths   int    `json:"expiry_months"`
	DialOutBasis   string `json:"dial_out_basis"`
}

type tenantJSON struct {
	common
	ID             string `json:"id"`
	Name           string `json:"name"`
	Currency       string `json:"currency"`
	BillingCountry string `json:"billing_country"`
}

type ratecardJSON struct {
	common
	Service  string  `json:"service"`
	Currency string  `json:"currency"`
	CSV      *string `json:"csv"`
	File     string  `json:"file"`
}

type userJSON struct {
	common
	ID                     string   `json:"id"`
	DisplayName            string   `json:"display_name"`
	UPN                    string   `json:"upn"`
	Kind                   string   `json:"kind"`
	UsageLocation          string   `json:"usage_location"`
	Licences               []string `json:"licences"`
	Number                 string   `json:"number"`
	ConfDialOut            string   `json:"conf_dial_out"`
	PSTNPolicy             string   `json:"pstn_policy"`
	SpendLimit             string   `json:"spend_limit"`
	TollFreeDialInDisabled bool     `json:"toll_free_dial_in_disabled"`
}

type licencesJSON struct {
	common
	Users  []string `json:"users"`
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

type numberJSON struct {
	common
	E164     string `json:"e164"`
	Kind     string `json:"kind"`
	Service  string `json:"service"`
	AssignTo string `json:"assign_to"`
}

type policyJSON struct {
	common
	User        string  `json:"user"`
	ConfDialOut *string `json:"conf_dial_out"`
	PSTN        *string `json:"pstn"`
}

type spendLimitJSON struct {
	common
	User  string `json:"user"`
	Limit string `json:"limit"`
}

type tollFreeJSON struct {
	common
	Organizer string `json:"organizer"`
	Disabled  bool   `json:"disabled"`
}

type fundJSON struct {
	common
	Amount string `json:"amount"`
	Source string `json:"source"`
	Ref    string `json:"ref"`
}

type adjustJSON struct {
	common
	Amount string `json:"amount"`
	Reason string `json:"reason"`
}

type advanceJSON struct {
	common
	Duration string `json:"duration"`
	Months   int    `json:"months"`
	To       string `json:"to"`
}

type callFields struct {
	CallID         string `json:"call_id"`
	Leg            string `json:"leg"`
	CallType       string `json:"call_type"`
	Principal      string `json:"principal"`
	Caller         string `json:"caller"`
	Callee         string `json:"callee"`
	ServiceNumber  string `json:"service_number"`
	InitialSeconds int64  `json:"initial_seconds"`
}

type authorizeJSON struct {
	common
	callFields
	Start string `json:"start"`
}

type callJSON struct {
	common
	callFields
	Seconds     int64 `json:"seconds"`
	ExtendEvery int64 `json:"extend_every"`
}

type extendJSON struct {
	common
	CallID  string `json:"call_id"`
	Leg     string `json:"leg"`
	Seconds int64  `json:"seconds"`
}

type settleJSON struct {
	common
	CallID  string `json:"call_id"`
	Leg     string `json:"leg"`
	Seconds int64  `json:"seconds"`
	End     string `json:"end"`
}

type releaseJSON struct {
	common
	CallID string `json:"call_id"`
	Leg    string `json:"leg"`
}

type poolExpectJSON struct {
	Key   string `json:"key"`
	Month string `json:"month"`
	Used  *int64 `json:"used"`
	Held  *int64 `json:"held"`
	Total *int64 `json:"total"`
	Left  *int64 `json:"left"`
}

type authExpectJSON struct {
	Allowed    *bool   `json:"allowed"`
	Reason     *string `json:"reason"`
	Outcome    *string `json:"outcome"`
	Capability *string `json:"capability"`
	MaxSeconds *int64  `json:"max_seconds"`
	Granted    *int64  `json:"granted_seconds"`
	Reserve    *string `json:"reserve"`
}

type settleExpectJSON struct {
	Charge        *string `json:"charge"`
	PoolSeconds   *int64  `json:"pool_seconds"`
	CreditSeconds *int64  `json:"credit_seconds"`
	Fee           *bool   `json:"fee"`
}

type expectJSON struct {
	common
	Balance       *string           `json:"balance"`
	Available     *string           `json:"available"`
	Reserved      *string           `json:"reserved"`
	Debt          *string           `json:"debt"`
	Forfeited     *string           `json:"forfeited"`
	Funded        *string           `json:"funded"`
	Pool          *poolExpectJSON   `json:"pool"`
	Authorization *authExpectJSON   `json:"authorization"`
	Settlement    *settleExpectJSON `json:"settlement"`
	LiveLots      *int              `json:"live_lots"`
	UsageRows     *int              `json:"usage_rows"`
	Refusals      *int              `json:"refusals"`
	Blocked       map[string]bool   `json:"blocked"`
	Spent         map[string]string `json:"spent"`
	Notifications map[string]int    `json:"notifications"`
	Charges       *int              `json:"charges"`
	Receipts      *int              `json:"receipts"`
	Suspended     *bool             `json:"suspended"`
	InFlight      *bool             `json:"in_flight"`
}

// stepKinds lists every step and the shape it decodes into.
var stepKinds = map[string]func() any{
	"clock":             func() any { return &clockJSON{} },
	"config":            func() any { return &configJSON{} },
	"tenant":            func() any { return &tenantJSON{} },
	"ratecard":          func() any { return &ratecardJSON{} },
	"user":              func() any { return &userJSON{} },
	"licences":          func() any { return &licencesJSON{} },
	"number":            func() any { return &numberJSON{} },
	"policy":            func() any { return &policyJSON{} },
	"spend_limit":       func() any { return &spendLimitJSON{} },
	"toll_free_dial_in": func() any { return &tollFreeJSON{} },
	"fund":              func() any { return &fundJSON{} },
	"adjust":            func() any { return &adjustJSON{} },
	"advance":           func() any { return &advanceJSON{} },
	"authorize":         func() any { return &authorizeJSON{} },
	"extend":            func() any { return &extendJSON{} },
	"settle":            func() any { return &settleJSON{} },
	"release":           func() any { return &releaseJSON{} },
	"call":              func() any { return &callJSON{} },
	"cdr":               nil, // decoded by charging.DecodeJSON
	"expect":            func() any { return &expectJSON{} },
}

// StepKinds returns the names of every step, sorted.
func StepKinds() []string {
	out := make([]string, 0, len(stepKinds))
	for k := range stepKinds {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

// parser holds what later lines depend on: the tenants declared so far.
type parser struct {
	steps      []Step
	currencies map[string]money.Currency
	last       string // the latest tenant declared: the default tenant of later steps
	keys       map[string]int
	ran        bool // a step other than clock has been read
	tenants    bool // a tenant step has been read
}

// Parse reads a whole scenario. Its error is an *Error naming the line and the field.
func Parse(r io.Reader) ([]Step, error) {
	p := &parser{currencies: map[string]money.Currency{}, keys: map[string]int{}}
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		b, err := readLine(br)
		if err != nil && err != io.EOF {
			if errors.Is(err, errLineTooLong) {
				return nil, &Error{Line: line, Msg: fmt.Sprintf("longer than %d bytes", MaxLineBytes)}
			}
			return nil, fmt.Errorf("scenario: read: %w", err)
		}
		if len(b) > 0 || err == nil {
			if e := p.line(line, b); e != nil {
				return nil, e
			}
		}
		if err == io.EOF {
			break
		}
	}
	if len(p.steps) == 0 {
		return nil, &Error{Line: 1, Msg: "the scenario has no steps"}
	}
	return p.steps, nil
}

var errLineTooLong = errors.New("line too long")

// readLine returns one line without its end ("\n" or "\r\n"); io.EOF with the last line.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLineBytes+2 {
			// Drain the rest of the line so that the error is about this line only.
			return nil, errLineTooLong
		}
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		if len(buf) > MaxLineBytes {
			return nil, errLineTooLong
		}
		return buf, err
	}
}

func (p *parser) line(n int, b []byte) *Error {
	if n == 1 {
		b = bytes.TrimPrefix(b, []byte("\uFEFF"))
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] == '#' {
		return nil
	}
	if !utf8.Valid(t) {
		return &Error{Line: n, Msg: "not valid UTF-8"}
	}
	if len(p.steps) >= MaxSteps {
		return &Error{Line: n, Msg: fmt.Sprintf("more than %d steps", MaxSteps)}
	}
	if t[0] != '{' {
		return &Error{Line: n, Msg: "want a JSON object ({\"step\": ...}), a # comment or a blank line"}
	}
	var head struct {
		Step *string `json:"step"`
	}
	if err := json.Unmarshal(t, &head); err != nil {
		return jsonError(n, "", err)
	}
	if head.Step == nil {
		return &Error{Line: n, Field: "step", Msg: "missing"}
	}
	kind := *head.Step
	mk, ok := stepKinds[kind]
	if !ok {
		return &Error{Line: n, Field: "step", Msg: fmt.Sprintf("unknown step %q (want one of %s)", kind, strings.Join(StepKinds(), ", "))}
	}
	st := Step{Line: n, Kind: kind}
	var e *Error
	if kind == "cdr" {
		e = p.cdr(&st, t)
	} else {
		v := mk()
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return jsonError(n, kind, err)
		}
		if dec.More() {
			return &Error{Line: n, Msg: "more than one JSON value on the line"}
		}
		e = p.step(&st, v)
	}
	if e != nil {
		return e
	}
	if kind != "clock" {
		p.ran = true
	}
	p.steps = append(p.steps, st)
	return nil
}

// jsonError turns a decoding error into a line error naming the field when it can.
func jsonError(line int, kind string, err error) *Error {
	field := func(f string) string {
		if kind == "" {
			return f
		}
		if f == "" {
			return kind
		}
		return kind + "." + f
	}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return &Error{Line: line, Msg: "want a JSON object"}
		}
		return &Error{Line: line, Field: field(te.Field), Msg: fmt.Sprintf("want a %s, got a JSON %s", typeName(te.Type.String()), te.Value)}
	case errors.As(err, &se):
		return &Error{Line: line, Msg: fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &Error{Line: line, Field: field(strings.Trim(f, `"`)), Msg: "unknown field"}
	}
	if err == io.ErrUnexpectedEOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Line: line, Msg: "invalid JSON: unexpected end of line"}
	}
	return &Error{Line: line, Msg: "invalid JSON: " + strings.TrimPrefix(msg, "json: ")}
}

func typeName(t string) string {
	switch t {
	case "int64", "int":
		return "whole number"
	case "*string", "string":
		return "string"
	case "*bool", "bool":
		return "boolean"
	case "[]string":
		return "list of strings"
	}
	if strings.HasPrefix(t, "map[") {
		return "JSON object"
	}
	if strings.HasPrefix(t, "*scenario.") || strings.HasPrefix(t, "scenario.") {
		return "JSON object"
	}
	return strings.TrimPrefix(t, "*")
}

// tenantOf resolves a step's tenant: the one named, or the latest declared.
func (p *parser) tenantOf(st *Step, c *common) *Error {
	id := c.Tenant
	if id == "" {
		id = p.last
	}
	if id == "" {
		return &Error{Line: st.Line, Field: st.Kind + ".tenant", Msg: "no tenant declared yet (add a tenant step before it)"}
	}
	if _, ok := p.currencies[id]; !ok {
		return &Error{Line: st.Line, Field: st.Kind + ".tenant", Msg: fmt.Sprintf("unknown tenant %q", id)}
	}
	st.Tenant = id
	return nil
}

func (p *parser) cur(st *Step) money.Currency { return p.currencies[st.Tenant] }

// setCommon records the key and expected error and, unless noTenant, the tenant.
func (p *parser) setCommon(st *Step, c *common, noTenant bool) *Error {
	bad := func(f, format string, args ...any) *Error {
		return &Error{Line: st.Line, Field: st.Kind + "." + f, Msg: fmt.Sprintf(format, args...)}
	}
	if noTenant && c.Tenant != "" {
		return bad("tenant", "a %s step applies to every tenant; remove the field", st.Kind)
	}
	if !noTenant {
		if e := p.tenantOf(st, c); e != nil {
			return e
		}
	}
	st.Key = c.Key
	if st.Key == "" {
		st.Key = "line-" + strconv.Itoa(st.Line)
	} else if len(st.Key) > 200 {
		return bad("key", "longer than 200 bytes")
	}
	if prev, ok := p.keys[st.Tenant+"\x00"+st.Key]; ok && c.Key == "" {
		return bad("key", "%q is the key of line %d", st.Key, prev)
	}
	p.keys[st.Tenant+"\x00"+st.Key] = st.Line
	st.ExpectError = c.ExpectError
	return nil
}

func (p *parser) amount(st *Step, field, s string, cur money.Currency, allowNegative bool) (money.Amount, *Error) {
	f := st.Kind + "." + field
	if s == "" {
		return 0, &Error{Line: st.Line, Field: f, Msg: fmt.Sprintf("missing (a decimal string in %s, like \"12.50\")", cur.Code)}
	}
	a, err := money.ParseAmount(s, cur)
	switch {
	case errors.Is(err, money.ErrPrecision):
		return 0, &Error{Line: st.Line, Field: f, Msg: fmt.Sprintf("%q has more than %d decimal places", s, cur.Digits)}
	case errors.Is(err, money.ErrRange):
		return 0, &Error{Line: st.Line, Field: f, Msg: fmt.Sprintf("%q is out of range", s)}
	case err != nil:
		return 0, &Error{Line: st.Line, Field: f, Msg: fmt.Sprintf("%q is not a decimal amount", s)}
	case a < 0 && !allowNegative:
		return 0, &Error{Line: st.Line, Field: f, Msg: fmt.Sprintf("%q is negative", s)}
	}
	return a, nil
}

func (p *parser) optAmount(st *Step, field string, s *string, cur money.Currency) (*money.Amount, *Error) {
	if s == nil {
		return nil, nil
	}
	a, e := p.amount(st, field, *s, cur, true)
	if e != nil {
		return nil, e
	}
	return &a, nil
}

func parseInstant(st *Step, field, s string) (time.Time, *Error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &Error{Line: st.Line, Field: st.Kind + "." + field, Msg: fmt.Sprintf("%q is not an RFC 3339 time (2026-01-01T00:00:00Z)", s)}
	}
	if t.Year() < 2000 || t.Year() > 9000 {
		return time.Time{}, &Error{Line: st.Line, Field: st.Kind + "." + field, Msg: fmt.Sprintf("year %d out of range 2000–9000", t.Year())}
	}
	return t.UTC(), nil
}

func seconds(st *Step, field string, v int64, positive bool) *Error {
	if v < 0 || v > MaxCallSeconds || positive && v == 0 {
		lo := 0
		if positive {
			lo = 1
		}
		return &Error{Line: st.Line, Field: st.Kind + "." + field, Msg: fmt.Sprintf("%d is not a whole number of seconds from %d to %d", v, lo, MaxCallSeconds)}
	}
	return nil
}

func required(st *Step, field, v string) *Error {
	if v == "" {
		return &Error{Line: st.Line, Field: st.Kind + "." + field, Msg: "missing"}
	}
	return nil
}

func (p *parser) step(st *Step, v any) *Error {
	bad := func(f, format string, args ...any) *Error {
		return &Error{Line: st.Line, Field: st.Kind + "." + f, Msg: fmt.Sprintf(format, args...)}
	}
	if ok, e := p.fundingStep(st, v); ok {
		return e
	}
	switch j := v.(type) {
	case *clockJSON:
		if e := p.setCommon(st, &j.common, true); e != nil {
			return e
		}
		if p.ran || len(p.steps) > 0 {
			return &Error{Line: st.Line, Field: "clock", Msg: "the clock step must be the first step (use advance to move the clock)"}
		}
		if e := required(st, "at", j.At); e != nil {
			return e
		}
		t, e := parseInstant(st, "at", j.At)
		if e != nil {
			return e
		}
		st.At = t

	case *configJSON:
		if e := p.setCommon(st, &j.common, true); e != nil {
			return e
		}
		if p.tenants {
			return &Error{Line: st.Line, Field: "config", Msg: "config must come before the first tenant step"}
		}
		c := &Config{MaxCallSeconds: j.MaxCallSeconds, ExpiryMonths: j.ExpiryMonths}
		if j.CallTTL != "" {
			d, err := time.ParseDuration(j.CallTTL)
			if err != nil || d <= 0 || d > 24*time.Hour {
				return bad("call_ttl", "%q is not a duration from 1s to 24h (like \"2m\")", j.CallTTL)
			}
			c.CallTTL = d
		}
		if e := seconds(st, "max_call_seconds", j.MaxCallSeconds, false); e != nil {
			return e
		}
		if j.ExpiryMonths < 0 || j.ExpiryMonths > MaxMonths {
			return bad("expiry_months", "%d is not from 0 (default 12) to %d", j.ExpiryMonths, MaxMonths)
		}
		switch plans.Basis(j.DialOutBasis) {
		case "":
		case plans.Assigned, plans.Purchased:
			c.DialOutBasis = plans.Basis(j.DialOutBasis)
		default:
			return bad("dial_out_basis", "%q is not one of %s, %s", j.DialOutBasis, plans.Assigned, plans.Purchased)
		}
		st.Config = c

	case *tenantJSON:
		if j.Tenant != "" {
			return bad("tenant", "use id to name the tenant")
		}
		if e := required(st, "id", j.ID); e != nil {
			return e
		}
		if len(j.ID) > 128 || strings.ContainsFunc(j.ID, func(r rune) bool { return r < 0x21 || r == 0x7f }) || strings.HasPrefix(j.ID, "#") {
			return bad("id", "%q is not 1 to 128 printable characters without spaces (not starting with #)", j.ID)
		}
		if _, ok := p.currencies[j.ID]; ok {
			return bad("id", "tenant %q is declared already", j.ID)
		}
		cur, err := money.LookupCurrency(j.Currency)
		if err != nil {
			return bad("currency", "%q is not an ISO 4217 currency code", j.Currency)
		}
		if j.BillingCountry != "" && !isCountry(j.BillingCountry) {
			return bad("billing_country", "%q is not an ISO 3166 alpha-2 code", j.BillingCountry)
		}
		name := j.Name
		if name == "" {
			name = j.ID
		}
		p.currencies[j.ID], p.last, p.tenants = cur, j.ID, true
		j.Tenant = j.ID
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		st.NewTenant = &TenantSpec{ID: j.ID, Name: name, Currency: cur, BillingCountry: strings.ToUpper(j.BillingCountry)}

	case *ratecardJSON:
		if e := p.setCommon(st, &j.common, true); e != nil {
			return e
		}
		svc, ok := rating.ParseService(j.Service)
		if !ok {
			return bad("service", "%q is not one of outbound, dial_out, toll_free", j.Service)
		}
		rc := &RatecardSpec{Service: svc}
		switch {
		case j.Currency != "":
			cur, err := money.LookupCurrency(j.Currency)
			if err != nil {
				return bad("currency", "%q is not an ISO 4217 currency code", j.Currency)
			}
			rc.Currency = cur
		case p.last != "":
			rc.Currency = p.currencies[p.last]
		default:
			return bad("currency", "missing (no tenant declared yet to take it from)")
		}
		switch {
		case j.CSV != nil && j.File != "":
			return bad("file", "give csv or file, not both")
		case j.CSV != nil:
			if _, err := rating.ParseCSV([]byte(*j.CSV)); err != nil {
				return bad("csv", "%s", indentErr(err))
			}
			rc.CSV = []byte(*j.CSV)
		case j.File != "":
			if path.IsAbs(j.File) || strings.HasPrefix(j.File, "\\") || strings.Contains(j.File, ":") || strings.ContainsRune(j.File, 0) {
				return bad("file", "%q must be a path relative to the scenario", j.File)
			}
			rc.File = j.File
		default:
			return bad("csv", "missing (give the card inline as csv, or a file)")
		}
		st.Ratecard = rc

	case *userJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		if e := required(st, "id", j.ID); e != nil {
			return e
		}
		u := directory.User{ID: j.ID, DisplayName: j.DisplayName, UPN: j.UPN, Kind: j.Kind, UsageLocation: j.UsageLocation,
			Licences: j.Licences, Number: j.Number, ConfDialOut: j.ConfDialOut, PSTNPolicy: j.PSTNPolicy,
			TollFreeDialInDisabled: j.TollFreeDialInDisabled}
		if u.Kind == "" {
			u.Kind = directory.KindUser
		}
		if u.DisplayName == "" {
			u.DisplayName = u.ID
		}
		if j.SpendLimit != "" {
			a, e := p.amount(st, "spend_limit", j.SpendLimit, p.cur(st), false)
			if e != nil {
				return e
			}
			u.SpendLimit = a
		}
		st.Commands = []tenant.Command{directory.PutUser{User: u}}

	case *licencesJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		if len(j.Users) == 0 {
			return bad("users", "missing (a list of user ids)")
		}
		if len(j.Add)+len(j.Remove) == 0 {
			return bad("add", "give add, remove or both")
		}
		st.Commands = []tenant.Command{directory.AssignLicences{UserIDs: j.Users, Add: j.Add, Remove: j.Remove}}

	case *numberJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		if e := required(st, "e164", j.E164); e != nil {
			return e
		}
		kind := j.Kind
		if kind == "" {
			kind = directory.NumberUser
			if j.Service != "" {
				kind = directory.NumberService
			}
		}
		st.Commands = []tenant.Command{directory.AcquireNumber{E164: j.E164, Kind: kind, Service: j.Service}}
		if j.AssignTo != "" {
			st.Commands = append(st.Commands, directory.AssignNumber{E164: j.E164, To: j.AssignTo})
		}

	case *policyJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		if e := required(st, "user", j.User); e != nil {
			return e
		}
		if j.ConfDialOut == nil && j.PSTN == nil {
			return bad("conf_dial_out", "give conf_dial_out, pstn or both")
		}
		st.Commands = []tenant.Command{directory.SetPolicies{UserID: j.User, ConfDialOut: j.ConfDialOut, PSTN: j.PSTN}}

	case *spendLimitJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		if e := required(st, "user", j.User); e != nil {
			return e
		}
		a, e := p.amount(st, "limit", j.Limit, p.cur(st), false)
		if e != nil {
			return e
		}
		st.Commands = []tenant.Command{directory.SetSpendLimit{UserID: j.User, Limit: a}}

	case *tollFreeJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		if e := required(st, "organizer", j.Organizer); e != nil {
			return e
		}
		st.Commands = []tenant.Command{directory.SetTollFreeDialIn{OrganizerID: j.Organizer, Disabled: j.Disabled}}

	case *fundJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		a, e := p.amount(st, "amount", j.Amount, p.cur(st), false)
		if e != nil {
			return e
		}
		if a == 0 {
			return bad("amount", "must be positive")
		}
		src := j.Source
		if src == "" {
			src = "purchase"
		}
		st.Commands = []tenant.Command{ledger.Fund{Amount: a, Source: src, Ref: j.Ref}}

	case *adjustJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		a, e := p.amount(st, "amount", j.Amount, p.cur(st), true)
		if e != nil {
			return e
		}
		if a == 0 {
			return bad("amount", "must not be zero")
		}
		if e := required(st, "reason", j.Reason); e != nil {
			return e
		}
		st.Commands = []tenant.Command{ledger.Adjust{Amount: a, Reason: j.Reason}}

	case *advanceJSON:
		if e := p.setCommon(st, &j.common, true); e != nil {
			return e
		}
		n := 0
		adv := &AdvanceSpec{}
		if j.Duration != "" {
			n++
			d, err := parseDuration(j.Duration)
			if err != nil {
				return bad("duration", "%v", err)
			}
			adv.Duration = d
		}
		if j.Months != 0 {
			n++
			if j.Months < 0 || j.Months > MaxMonths {
				return bad("months", "%d is not from 1 to %d", j.Months, MaxMonths)
			}
			adv.Months = j.Months
		}
		if j.To != "" {
			n++
			t, e := parseInstant(st, "to", j.To)
			if e != nil {
				return e
			}
			adv.To = t
		}
		if n != 1 {
			return bad("duration", "give exactly one of duration, months, to")
		}
		st.Advance = adv

	case *authorizeJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		a, e := authorizeOf(st, &j.callFields)
		if e != nil {
			return e
		}
		if j.Start != "" {
			if a.Start, e = parseInstant(st, "start", j.Start); e != nil {
				return e
			}
		}
		st.Commands = []tenant.Command{a}

	case *callJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		a, e := authorizeOf(st, &j.callFields)
		if e != nil {
			return e
		}
		if e := seconds(st, "seconds", j.Seconds, false); e != nil {
			return e
		}
		if e := seconds(st, "extend_every", j.ExtendEvery, false); e != nil {
			return e
		}
		st.Call = &CallSpec{Authorize: a, Seconds: j.Seconds, ExtendEvery: j.ExtendEvery}

	case *extendJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		if e := required(st, "call_id", j.CallID); e != nil {
			return e
		}
		if e := seconds(st, "seconds", j.Seconds, false); e != nil {
			return e
		}
		st.Commands = []tenant.Command{tenant.Extend{CallID: j.CallID, Leg: j.Leg, Seconds: j.Seconds}}

	case *settleJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		if e := required(st, "call_id", j.CallID); e != nil {
			return e
		}
		if e := seconds(st, "seconds", j.Seconds, false); e != nil {
			return e
		}
		s := tenant.Settle{CallID: j.CallID, Leg: j.Leg, Seconds: j.Seconds}
		if j.End != "" {
			var e *Error
			if s.End, e = parseInstant(st, "end", j.End); e != nil {
				return e
			}
		}
		st.Commands = []tenant.Command{s}

	case *releaseJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		if e := required(st, "call_id", j.CallID); e != nil {
			return e
		}
		st.Commands = []tenant.Command{tenant.Release{CallID: j.CallID, Leg: j.Leg}}

	case *expectJSON:
		if e := p.setCommon(st, &j.common, false); e != nil {
			return e
		}
		return p.expect(st, j)
	}
	return nil
}

func authorizeOf(st *Step, f *callFields) (tenant.Authorize, *Error) {
	if e := required(st, "call_id", f.CallID); e != nil {
		return tenant.Authorize{}, e
	}
	if e := required(st, "call_type", f.CallType); e != nil {
		return tenant.Authorize{}, e
	}
	if !payer.CallType(f.CallType).Valid() {
		return tenant.Authorize{}, &Error{Line: st.Line, Field: st.Kind + ".call_type", Msg: fmt.Sprintf("%q is not a call type (user_in, user_out, user_out_transfer, user_out_forwarding, user_out_conf, conf_in, conf_out, ucap_in, ucap_out, unassigned_in)", f.CallType)}
	}
	if e := seconds(st, "initial_seconds", f.InitialSeconds, false); e != nil {
		return tenant.Authorize{}, e
	}
	return tenant.Authorize{CallID: f.CallID, Leg: f.Leg, Type: payer.CallType(f.CallType), Principal: f.Principal,
		Caller: f.Caller, Callee: f.Callee, Service: f.ServiceNumber, InitialSeconds: f.InitialSeconds}, nil
}

// cdr decodes a cdr step with charging's own CDR decoder, so that the fields and their
// checks are exactly those of docs/cdr.md.
func (p *parser) cdr(st *Step, line []byte) *Error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return jsonError(st.Line, "cdr", err)
	}
	var c common
	for _, f := range []struct {
		name string
		dst  *string
	}{{"key", &c.Key}, {"expect_error", &c.ExpectError}} {
		if raw, ok := obj[f.name]; ok {
			if err := json.Unmarshal(raw, f.dst); err != nil {
				return &Error{Line: st.Line, Field: "cdr." + f.name, Msg: "want a string"}
			}
			delete(obj, f.name)
		}
	}
	delete(obj, "step")
	if raw, ok := obj["tenant"]; ok {
		if err := json.Unmarshal(raw, &c.Tenant); err != nil {
			return &Error{Line: st.Line, Field: "cdr.tenant", Msg: "want a string"}
		}
	}
	if e := p.setCommon(st, &c, false); e != nil {
		return e
	}
	if raw, ok := obj["duration_seconds"]; ok {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return &Error{Line: st.Line, Field: "cdr.duration_seconds", Msg: fmt.Sprintf("want whole seconds, got %s", raw)}
		}
	}
	obj["tenant"], _ = json.Marshal(st.Tenant)
	_, hasStart := obj["start"]
	if !hasStart {
		if _, hasEnd := obj["end"]; hasEnd {
			return &Error{Line: st.Line, Field: "cdr.start", Msg: "required when end is given"}
		}
		obj["start"] = json.RawMessage(`"2000-01-01T00:00:00Z"`) // replaced by the clock when the step runs
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return &Error{Line: st.Line, Msg: "cdr: " + err.Error()}
	}
	cdrs, errs, err := charging.DecodeJSON(body)
	switch {
	case err != nil:
		return &Error{Line: st.Line, Field: "cdr", Msg: err.Error()}
	case errs.Len() > 0:
		ce := errs.List[0]
		f := "cdr"
		if ce.Field != "" {
			f += "." + ce.Field
		}
		return &Error{Line: st.Line, Field: f, Msg: ce.Msg}
	case len(cdrs) != 1:
		return &Error{Line: st.Line, Field: "cdr", Msg: "want exactly one CDR"}
	}
	st.CDR = &CDRSpec{CDR: cdrs[0], StartIsClock: !hasStart}
	return nil
}

func (p *parser) expect(st *Step, j *expectJSON) *Error {
	cur := p.cur(st)
	x := &ExpectSpec{LiveLots: j.LiveLots, UsageRows: j.UsageRows, Refusals: j.Refusals, Blocked: j.Blocked,
		Notifications: j.Notifications, Charges: j.Charges, Receipts: j.Receipts, Suspended: j.Suspended, InFlight: j.InFlight}
	for _, t := range sortedKeys(j.Notifications) {
		if !notify.Type(t).Valid() {
			return &Error{Line: st.Line, Field: "expect.notifications." + t, Msg: "unknown notification type"}
		}
	}
	var e *Error
	for _, f := range []struct {
		name string
		src  *string
		dst  **money.Amount
	}{{"balance", j.Balance, &x.Balance}, {"available", j.Available, &x.Available}, {"reserved", j.Reserved, &x.Reserved},
		{"debt", j.Debt, &x.Debt}, {"forfeited", j.Forfeited, &x.Forfeited}, {"funded", j.Funded, &x.Funded}} {
		if *f.dst, e = p.optAmount(st, f.name, f.src, cur); e != nil {
			return e
		}
	}
	if j.Pool != nil {
		k, err := ParsePoolKey(j.Pool.Key)
		if err != nil {
			return &Error{Line: st.Line, Field: "expect.pool.key", Msg: err.Error()}
		}
		ref := &PoolRef{Key: k, Month: plans.Month(j.Pool.Month)}
		if ref.Month != "" {
			if _, _, err := ref.Month.Bounds(); err != nil {
				return &Error{Line: st.Line, Field: "expect.pool.month", Msg: fmt.Sprintf("%q is not a month (2026-01)", j.Pool.Month)}
			}
		}
		if j.Pool.Used == nil && j.Pool.Held == nil && j.Pool.Total == nil && j.Pool.Left == nil {
			return &Error{Line: st.Line, Field: "expect.pool", Msg: "give used, held, total or left (seconds)"}
		}
		x.Pool, x.PoolUsed, x.PoolHeld, x.PoolTotal, x.PoolLeft = ref, j.Pool.Used, j.Pool.Held, j.Pool.Total, j.Pool.Left
	}
	if a := j.Authorization; a != nil {
		x.Authorization = &AuthExpect{Allowed: a.Allowed, Reason: a.Reason, Outcome: a.Outcome, Capability: a.Capability,
			MaxSeconds: a.MaxSeconds, Granted: a.Granted}
		if x.Authorization.Reserve, e = p.optAmount(st, "authorization.reserve", a.Reserve, cur); e != nil {
			return e
		}
	}
	if s := j.Settlement; s != nil {
		x.Settlement = &SettleExpect{PoolSeconds: s.PoolSeconds, CreditSeconds: s.CreditSeconds, Fee: s.Fee}
		if x.Settlement.Charge, e = p.optAmount(st, "settlement.charge", s.Charge, cur); e != nil {
			return e
		}
	}
	if len(j.Spent) > 0 {
		x.Spent = map[string]money.Amount{}
		for _, u := range sortedKeys(j.Spent) {
			a, e := p.amount(st, "spent."+u, j.Spent[u], cur, false)
			if e != nil {
				return e
			}
			x.Spent[u] = a
		}
	}
	st.Expect = x
	return nil
}

// ParsePoolKey reads a pool key as the output writes it: "domestic/MCOPSTN1/US",
// "international/MCOPSTN2/US", "dial_out", "user/MCOPSTN8/alice".
func ParsePoolKey(s string) (plans.PoolKey, error) {
	parts := strings.Split(s, "/")
	switch {
	case s == string(plans.PoolDialOut):
		return plans.DialOutPool(), nil
	case len(parts) == 3 && parts[1] != "" && parts[2] != "":
		switch plans.PoolKind(parts[0]) {
		case plans.PoolDomestic, plans.PoolInternational:
			return plans.PoolKey{Kind: plans.PoolKind(parts[0]), Plan: parts[1], Country: parts[2]}, nil
		case plans.PoolUser:
			return plans.UserPool(parts[1], parts[2]), nil
		}
	}
	return plans.PoolKey{}, fmt.Errorf("%q is not a pool key (domestic/PLAN/CC, international/PLAN/CC, dial_out, user/PLAN/USER)", s)
}

// parseDuration reads "90s", "2h", "1h30m" or "3d" (days of 24 hours).
func parseDuration(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int64
		days, err = strconv.ParseInt(n, 10, 64)
		if err == nil && (days <= 0 || days > int64(MaxAdvance/(24*time.Hour))) {
			err = errors.New("range")
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 || d > MaxAdvance {
		return 0, fmt.Errorf("%q is not a positive duration like \"90s\", \"2h\", \"1h30m\" or \"3d\"", s)
	}
	return d, nil
}

func isCountry(s string) bool {
	return len(s) == 2 && strings.IndexFunc(s, func(r rune) bool { return (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') }) < 0
}

func sortStrings(s []string) { slices.Sort(s) }

func indentErr(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}
