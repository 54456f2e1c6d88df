package store

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/numbers"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/tenant"
)

// An open call's row is written on every authorization and extension. Its JSON was ~1 KB
// and its encoding a sixth of the writer's CPU in BenchmarkAuthorize; this binary form,
// base64 in the same text column, is ~4× smaller and costs no reflection. Rows written as
// JSON before it are still read. callcodec_test.go fills every field of tenant.Call, so a
// field added there and not here fails the test.

// callMark opens a binary call body; a JSON body opens with '{'.
const callMark = '!'

type enc struct{ b []byte }

func (e *enc) int(v int64)  { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(s string) { e.b = binary.AppendUvarint(e.b, uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bool(v bool)  { e.b = append(e.b, boolByte(v)) }

// time writes 0 for the zero time, 1 and UnixNano, or — for a time outside the years
// UnixNano holds (a call's start is the sender's) — 2, Unix seconds and nanoseconds.
func (e *enc) time(t time.Time) {
	switch {
	case t.IsZero():
		e.b = append(e.b, 0)
	case time.Unix(0, t.UnixNano()).Equal(t):
		e.b = append(e.b, 1)
		e.int(t.UnixNano())
	default:
		e.b = append(e.b, 2)
		e.int(t.Unix())
		e.int(int64(t.Nanosecond()))
	}
}
func (e *enc) number(n numbers.Number) {
	e.str(n.E164)
	e.str(n.Country)
	e.str(string(n.Type))
	e.bool(n.Emergency)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

var errCallBody = errors.New("malformed call body")

type dec struct {
	b   []byte
	err error
}

func (d *dec) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCallBody
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string {
	l, n := binary.Uvarint(d.b)
	if n <= 0 || uint64(len(d.b)-n) < l {
		d.err = errCallBody
		d.b = nil
		return ""
	}
	s := string(d.b[n : n+int(l)])
	d.b = d.b[n+int(l):]
	return s
}

func (d *dec) bool() bool {
	if len(d.b) == 0 {
		d.err = errCallBody
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v == 1
}

func (d *dec) time() time.Time {
	if len(d.b) == 0 {
		d.err = errCallBody
		return time.Time{}
	}
	f := d.b[0]
	d.b = d.b[1:]
	switch f {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, d.int()).UTC()
	case 2:
		sec := d.int()
		return time.Unix(sec, d.int()).UTC()
	}
	d.err = errCallBody
	return time.Time{}
}

func (d *dec) number() numbers.Number {
	return numbers.Number{E164: d.str(), Country: d.str(), Type: numbers.Type(d.str()), Emergency: d.bool()}
}

// encodeCall writes c as the open_calls body.
func encodeCall(c *tenant.Call) string {
	e := enc{b: make([]byte, 1, 256)}
	e.b[0] = 1 // format version
	e.str(c.Key)
	e.int(c.Granted)
	e.int(c.PoolHeld)
	e.int(int64(c.Reserved))
	e.time(c.ExpiresAt)
	a := &c.Auth
	e.str(a.Tenant)
	e.str(a.CallID)
	e.str(a.Leg)
	e.str(string(a.Type))
	e.str(a.User)
	e.str(a.Location)
	e.time(a.Start)
	e.str(a.Currency.Code)
	e.int(int64(a.Currency.Digits))
	e.bool(a.Allowed)
	e.str(string(a.Reason))
	e.str(string(a.CreditsReason))
	e.time(a.RetryAfter)
	e.int(int64(a.Outcome))
	e.str(string(a.Pool.Kind))
	e.str(a.Pool.Plan)
	e.str(a.Pool.Country)
	e.str(a.Pool.User)
	e.bool(a.Credits)
	e.str(a.Capability)
	e.bool(a.Domestic)
	e.bool(a.Emergency)
	e.number(a.Caller)
	e.number(a.Callee)
	e.number(a.Remote)
	e.bool(a.Rated)
	r := &a.Row
	e.int(int64(r.Index))
	e.int(int64(r.Line))
	e.str(r.Prefix)
	e.str(r.Destination)
	e.str(string(r.NumberType))
	e.int(int64(r.Rate))
	e.int(int64(r.Fee))
	e.int(r.Initial)
	e.int(r.Subsequent)
	e.time(r.EffectiveFrom)
	e.bool(r.Blocked)
	e.str(string(a.Ref.Service))
	e.str(a.Ref.Currency)
	e.int(int64(a.Ref.Version))
	e.int(int64(a.Ref.Row))
	e.int(int64(a.Ref.Line))
	e.int(a.MaxSeconds)
	e.int(a.PoolLeft)
	e.bool(a.StartsOnCredits)
	e.int(a.GrantedSeconds)
	e.int(a.PoolHold)
	e.int(int64(a.Reserve))
	out := make([]byte, 1+base64.RawStdEncoding.EncodedLen(len(e.b)))
	out[0] = callMark
	base64.RawStdEncoding.Encode(out[1:], e.b)
	return string(out)
}

// decodeCall reads an open_calls body: the binary form or the JSON of older rows.
func decodeCall(body string) (*tenant.Call, error) {
	c := &tenant.Call{}
	if len(body) == 0 || body[0] != callMark {
		return c, json.Unmarshal([]byte(body), c)
	}
	raw, err := base64.RawStdEncoding.DecodeString(body[1:])
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 || raw[0] != 1 {
		return nil, errCallBody
	}
	d := dec{b: raw[1:]}
	c.Key = d.str()
	c.Granted = d.int()
	c.PoolHeld = d.int()
	c.Reserved = money.Amount(d.int())
	c.ExpiresAt = d.time()
	a := &c.Auth
	a.Tenant = d.str()
	a.CallID = d.str()
	a.Leg = d.str()
	a.Type = payer.CallType(d.str())
	a.User = d.str()
	a.Location = d.str()
	a.Start = d.time()
	a.Currency.Code = d.str()
	a.Currency.Digits = uint8(d.int())
	a.Allowed = d.bool()
	a.Reason = charging.Reason(d.str())
	a.CreditsReason = charging.Reason(d.str())
	a.RetryAfter = d.time()
	a.Outcome = payer.Outcome(d.int())
	a.Pool = plans.PoolKey{Kind: plans.PoolKind(d.str()), Plan: d.str(), Country: d.str(), User: d.str()}
	a.Credits = d.bool()
	a.Capability = d.str()
	a.Domestic = d.bool()
	a.Emergency = d.bool()
	a.Caller = d.number()
	a.Callee = d.number()
	a.Remote = d.number()
	a.Rated = d.bool()
	r := &a.Row
	r.Index = int(d.int())
	r.Line = int(d.int())
	r.Prefix = d.str()
	r.Destination = d.str()
	r.NumberType = numbers.Type(d.str())
	r.Rate = money.Rate(d.int())
	r.Fee = money.Rate(d.int())
	r.Initial = d.int()
	r.Subsequent = d.int()
	r.EffectiveFrom = d.time()
	r.Blocked = d.bool()
	a.Ref = rating.Ref{Service: rating.Service(d.str()), Currency: d.str(), Version: int(d.int()), Row: int(d.int()), Line: int(d.int())}
	a.MaxSeconds = d.int()
	a.PoolLeft = d.int()
	a.StartsOnCredits = d.bool()
	a.GrantedSeconds = d.int()
	a.PoolHold = d.int()
	a.Reserve = money.Amount(d.int())
	if d.err != nil || len(d.b) != 0 {
		return nil, errCallBody
	}
	return c, nil
}
