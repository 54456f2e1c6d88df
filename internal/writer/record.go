package writer

import (
	"bytes"
	"encoding/json"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/money"
)

// A command record's result is written once per command and read only on a replay. The
// results of calls ended by a settle or a CDR — nearly every record — are kept in a compact
// form: the full JSON of a priced CDR was ~810 bytes, most of it zero values, and the
// commands table was the largest share of the pages a CDR import writes. Every other result
// is kept as the JSON of Result.Record(); records written before the compact form existed
// are read as that JSON.

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
	if r.Ledger == nil && r.Authorization == nil && r.Extension == nil && !r.Replayed &&
		(r.Settlement == nil) != (r.Priced == nil) {
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
