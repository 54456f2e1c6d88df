package writer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/tenant"
)

// A command record's result is written once per command and read only on a replay. The
// results of calls ended by a settle or a CDR — nearly every record — are kept in a compact
// form: the full JSON of a priced CDR was ~810 bytes, most of it zero values, and the
// commands table was the largest share of the pages a CDR import writes. Every other result
// is kept as the JSON of Result.Record(); records written before the compact form existed
// are read as that JSON. Since migration 00011 the records of keys that name one call are
// kept in usage rows, in a binary form (below); the compact JSON remains for the call keys
// that name two calls and for the records that migration moved.

// compactMark opens every compact record; the JSON of a Result never starts with it.
var compactMark = []byte(`{"v":1`)

type compactRecord struct {
	V int `json:"v"`
	// Settle: a settlement; Priced: a priced CDR (with its CDR's tenant, call id and leg).
	Settle *compactSettlement `json:"s,omitempty"`
	Priced *compactSettlement `json:"p,omitempty"`
	Tenant string             `json:"t,omitempty"`
	CallID string             `json:"c,omitempty"`
	Leg    string             `json:"l,omitempty"`
	Free   bool               `json:"f,omitempty"`
	Review charging.Reason    `json:"r,omitempty"`

	Balance   money.Amount `json:"b"`
	Available money.Amount `json:"a"`
}

// compactSettlement is a charging.Settlement without its usage row (stored in the usage
// table), the part Result.Record keeps.
type compactSettlement struct {
	PoolSeconds   int64        `json:"ps,omitempty"`
	CreditSeconds int64        `json:"cs,omitempty"`
	Uncovered     int64        `json:"u,omitempty"`
	Fee           bool         `json:"f,omitempty"`
	Charge        money.Amount `json:"ch,omitempty"`
	Release       money.Amount `json:"rl,omitempty"`
}

func compactOf(s *charging.Settlement) *compactSettlement {
	return &compactSettlement{PoolSeconds: s.PoolSeconds, CreditSeconds: s.CreditSeconds, Uncovered: s.Uncovered,
		Fee: s.Fee, Charge: s.Charge, Release: s.Release}
}

func (c *compactSettlement) settlement() charging.Settlement {
	return charging.Settlement{PoolSeconds: c.PoolSeconds, CreditSeconds: c.CreditSeconds, Uncovered: c.Uncovered,
		Fee: c.Fee, Charge: c.Charge, Release: c.Release}
}

// encodeRecord returns what a command record keeps of res: what decodeRecord turns back
// into res.Record().
func encodeRecord(res Result) ([]byte, error) {
	r := res.Record()
	if usageRecordable(&r) && (r.Settlement != nil || r.Priced != nil) {
		c := compactRecord{V: 1, Balance: r.Balance, Available: r.Available}
		if r.Settlement != nil {
			c.Settle = compactOf(r.Settlement)
		} else {
			p := r.Priced
			c.Priced = compactOf(&p.Settlement)
			c.Tenant, c.CallID, c.Leg, c.Free, c.Review = p.CDR.Tenant, p.CDR.CallID, p.CDR.Leg, p.FreeCall, p.Review
		}
		return json.Marshal(c)
	}
	return json.Marshal(r)
}

// decodeRecord reads what encodeRecord wrote, or a record of the full JSON form.
func decodeRecord(b []byte) (Result, error) {
	var r Result
	if !bytes.HasPrefix(b, compactMark) {
		err := json.Unmarshal(b, &r)
		return r, err
	}
	var c compactRecord
	if err := json.Unmarshal(b, &c); err != nil {
		return r, err
	}
	r.Balance, r.Available = c.Balance, c.Available
	switch {
	case c.Settle != nil:
		st := c.Settle.settlement()
		r.Settlement = &st
	case c.Priced != nil:
		r.Priced = &charging.Priced{Settlement: c.Priced.settlement(), FreeCall: c.Free, Review: c.Review,
			CDR: charging.CDR{Tenant: c.Tenant, CallID: c.CallID, Leg: c.Leg}}
	}
	return r, nil
}

// The record of a key that names a call (tenant.CallOfKey) is kept in the call's usage row
// (store.CommandRecord.Usage), which already has the record's identity: tenant, call id and
// leg. Such a record is written with every booked CDR, so its result has a binary form:
// what the compact JSON keeps, without JSON. A result the binary form does not cover (a
// command that is not a call's end but was sent under such a key) is kept as encodeRecord's
// JSON, which opens with '{'.

const usageRecordV1 = 1

const (
	usageSettle = 1 << iota // the result is a settlement
	usagePriced             // the result is a priced CDR
	usageFee
	usageFree
	usageTenant // the CDR's tenant differs from the row's and follows
)

// usageRecordable reports whether res is kept whole by the binary form.
func usageRecordable(res *Result) bool {
	return res.Ledger == nil && res.Authorization == nil && res.Extension == nil && !res.Replayed &&
		(res.Settlement == nil || res.Priced == nil)
}

// usageRecord returns what a usage row keeps of res, a result for tenantID.
func usageRecord(tenantID string, res *Result) ([]byte, error) {
	if !usageRecordable(res) {
		return encodeRecord(*res)
	}
	return encodeUsageRecord(nil, tenantID, res), nil
}

// encodeUsageRecord appends the binary record of res, a result for tenantID, to dst;
// usageRecordable(res) must hold.
func encodeUsageRecord(dst []byte, tenantID string, res *Result) []byte {
	var flags byte
	st := res.Settlement
	if st != nil {
		flags |= usageSettle
	}
	if p := res.Priced; p != nil {
		st = &p.Settlement
		flags |= usagePriced
		if p.FreeCall {
			flags |= usageFree
		}
		if p.CDR.Tenant != tenantID {
			flags |= usageTenant
		}
	}
	if st == nil {
		st = &charging.Settlement{}
	}
	if st.Fee {
		flags |= usageFee
	}
	dst = append(dst, usageRecordV1, flags)
	for _, v := range [...]int64{int64(res.Balance), int64(res.Available), st.PoolSeconds, st.CreditSeconds, st.Uncovered,
		int64(st.Charge), int64(st.Release)} {
		dst = binary.AppendVarint(dst, v)
	}
	if p := res.Priced; p != nil {
		dst = appendString(dst, string(p.Review))
		if flags&usageTenant != 0 {
			dst = appendString(dst, p.CDR.Tenant)
		}
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

var errUsageRecord = errors.New("malformed usage record")

// decodeUsageRecord reads what usageRecord wrote for key ("call:<call id>/<leg>") of
// tenantID: the result as decodeRecord(encodeRecord(res)) has it.
func decodeUsageRecord(b []byte, tenantID, key string) (Result, error) {
	var r Result
	if len(b) > 0 && b[0] == '{' {
		return decodeRecord(b)
	}
	if len(b) < 2 || b[0] != usageRecordV1 || b[1]&(usageSettle|usagePriced) == usageSettle|usagePriced {
		return r, errUsageRecord
	}
	flags, b := b[1], b[2:]
	var v [7]int64
	for i := range v {
		var n int
		if v[i], n = binary.Varint(b); n <= 0 {
			return r, errUsageRecord
		}
		b = b[n:]
	}
	r.Balance, r.Available = money.Amount(v[0]), money.Amount(v[1])
	st := charging.Settlement{PoolSeconds: v[2], CreditSeconds: v[3], Uncovered: v[4], Fee: flags&usageFee != 0,
		Charge: money.Amount(v[5]), Release: money.Amount(v[6])}
	switch {
	case flags&usageSettle != 0:
		r.Settlement = &st
	case flags&usagePriced != 0:
		review, b, ok := readString(b)
		cdrTenant := tenantID
		if ok && flags&usageTenant != 0 {
			cdrTenant, _, ok = readString(b)
		}
		callID, leg, split := tenant.CallOfKey(key)
		if !ok || !split {
			return r, errUsageRecord
		}
		r.Priced = &charging.Priced{Settlement: st, FreeCall: flags&usageFree != 0, Review: charging.Reason(review),
			CDR: charging.CDR{Tenant: cdrTenant, CallID: callID, Leg: leg}}
	}
	return r, nil
}

func readString(b []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}
