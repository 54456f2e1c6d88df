// Package rating holds rate cards and the exact charge rule of domain §3: a card is a
// compiled, immutable set of rows looked up by longest E.164 prefix and effective date; a
// charge is computed from billed seconds, rate and connection fee, rounded once per call.
// Nothing here does I/O or reads the clock.
package rating

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/numbers"
)

// Service names the kind of traffic a card prices. There is one card per service and currency.
type Service string

// Services.
const (
	Outbound Service = "outbound"  // user and resource-account PSTN calls, matched on the dialed number
	DialOut  Service = "dial_out"  // conference dial-out, matched on the dialed number
	TollFree Service = "toll_free" // toll-free inbound, matched on the caller's (originating) number
)

// ParseService reads a Service name.
func ParseService(s string) (Service, bool) {
	switch Service(s) {
	case Outbound, DialOut, TollFree:
		return Service(s), true
	}
	return "", false
}

// Row is one line of a rate card.
type Row struct {
	Index         int    // position in the card, 0-based; with the card version it identifies the row
	Line          int    // line of the CSV source (the header is line 1)
	Prefix        string // E.164 digits
	Destination   string
	NumberType    numbers.Type
	Rate          money.Rate // per minute
	Fee           money.Rate // connection fee, in the same micro-units, charged when a call starts on credits
	Initial       int64      // initial increment, seconds
	Subsequent    int64      // subsequent increment, seconds
	EffectiveFrom time.Time  // UTC
	Blocked       bool       // calls to this prefix are refused
}

// Meta is what identifies a card version besides its rows.
type Meta struct {
	Service    Service
	Currency   money.Currency
	Version    int       // 1, 2, … per (service, currency); a Registry assigns it
	ImportedAt time.Time // passed in, never read from the clock
}

// Ref identifies the card version and row that priced a charge; it is what a CDR records.
type Ref struct {
	Service  Service
	Currency string
	Version  int
	Row      int // Row.Index
	Line     int // Row.Line
}

// Card is a compiled, immutable rate card version. Its methods are safe for concurrent use.
type Card struct {
	meta    Meta
	source  []byte
	digest  string
	rows    []Row
	nodes   []node
	entries []entry
}

// node is a digit-trie node, 64 bytes: one cache line. Children index nodes; 0 means none (the
// root is never a child). Rows whose prefix ends here are entries[first : first+count], latest
// effective_from first; the latest is also kept in the node (from0, row0) so that the common
// lookup, a prefix with one row in effect, touches one cache line per digit.
type node struct {
	child [10]int32
	from0 int64
	row0  int32
	first int32
	count int32
	_     int32
}

type entry struct {
	from int64 // effective_from, Unix seconds
	row  int32
}

// Compile builds a card from validated rows (as ParseCSV returns them) and the CSV source they
// came from (kept so storage can persist the exact bytes). Rows are re-indexed in order.
func Compile(meta Meta, rows []Row, source []byte) (*Card, error) {
	if _, ok := ParseService(string(meta.Service)); !ok {
		return nil, fmt.Errorf("rating: unknown service %q", meta.Service)
	}
	if meta.Currency.Code == "" {
		return nil, fmt.Errorf("rating: card without currency")
	}
	c := &Card{meta: meta, source: append([]byte(nil), source...), rows: append([]Row(nil), rows...)}
	sum := sha256.Sum256(source)
	c.digest = hex.EncodeToString(sum[:])
	// Group row indexes by prefix, latest effective_from first.
	order := make([]int32, len(c.rows))
	for i := range c.rows {
		c.rows[i].Index = i
		order[i] = int32(i)
	}
	sort.SliceStable(order, func(a, b int) bool {
		ra, rb := &c.rows[order[a]], &c.rows[order[b]]
		if ra.Prefix != rb.Prefix {
			return ra.Prefix < rb.Prefix
		}
		return ra.EffectiveFrom.After(rb.EffectiveFrom)
	})
	c.nodes = make([]node, 1, len(rows)+len(rows)/2+16)
	c.entries = make([]entry, len(rows))
	for k, i := range order {
		r := &c.rows[i]
		if !validPrefix(r.Prefix) {
			return nil, fmt.Errorf("rating: line %d: invalid prefix %q", r.Line, r.Prefix)
		}
		if r.Subsequent < 1 || r.Initial < 1 {
			return nil, fmt.Errorf("rating: line %d: increments must be positive", r.Line)
		}
		if k > 0 {
			p := &c.rows[order[k-1]]
			if p.Prefix == r.Prefix && p.EffectiveFrom.Equal(r.EffectiveFrom) {
				return nil, fmt.Errorf("rating: line %d: prefix %s effective %s repeats line %d",
					r.Line, r.Prefix, r.EffectiveFrom.Format(time.RFC3339), p.Line)
			}
		}
		n := c.insert(r.Prefix)
		if c.nodes[n].count == 0 {
			c.nodes[n].first = int32(k)
			c.nodes[n].from0 = r.EffectiveFrom.Unix()
			c.nodes[n].row0 = i
		}
		c.nodes[n].count++
		c.entries[k] = entry{from: r.EffectiveFrom.Unix(), row: i}
	}
	return c, nil
}

func (c *Card) insert(prefix string) int32 {
	n := int32(0)
	for i := 0; i < len(prefix); i++ {
		d := prefix[i] - '0'
		next := c.nodes[n].child[d]
		if next == 0 {
			next = int32(len(c.nodes))
			c.nodes = append(c.nodes, node{})
			c.nodes[n].child[d] = next
		}
		n = next
	}
	return n
}

// MaxPrefixLen is the longest prefix a card accepts (E.164 numbers have at most 15 digits).
const MaxPrefixLen = 15

func validPrefix(p string) bool {
	if len(p) == 0 || len(p) > MaxPrefixLen || p[0] == '0' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// Lookup finds the row that prices a call to (or, on the toll-free card, from) the E.164
// digits e164 starting at at: the longest prefix with a row in effect at that instant, and
// among that prefix's rows the latest effective_from not after at. A prefix whose rows all
// start later is skipped in favour of a shorter one. The row may be Blocked; the caller
// refuses such calls. The returned row is shared: do not modify it. It does not allocate.
func (c *Card) Lookup(e164 string, at time.Time) (*Row, bool) {
	t := at.Unix()
	var hits [MaxPrefixLen + 1]int32
	depth := 0
	n := int32(0)
	for i := 0; i < len(e164); i++ {
		d := e164[i] - '0'
		if d > 9 {
			return nil, false
		}
		n = c.nodes[n].child[d]
		if n == 0 {
			break
		}
		if c.nodes[n].count > 0 {
			hits[depth] = n
			depth++
		}
	}
	for depth > 0 {
		depth--
		nd := &c.nodes[hits[depth]]
		if nd.from0 <= t {
			return &c.rows[nd.row0], true
		}
		for j := nd.first + 1; j < nd.first+nd.count; j++ {
			if c.entries[j].from <= t {
				return &c.rows[c.entries[j].row], true
			}
		}
	}
	return nil, false
}

// Meta returns the card's service, currency, version and import time.
func (c *Card) Meta() Meta { return c.meta }

// Service returns the card's service.
func (c *Card) Service() Service { return c.meta.Service }

// Currency returns the card's currency.
func (c *Card) Currency() money.Currency { return c.meta.Currency }

// Version returns the card's version number.
func (c *Card) Version() int { return c.meta.Version }

// ID names the version: "outbound/USD/v3".
func (c *Card) ID() string {
	return fmt.Sprintf("%s/%s/v%d", c.meta.Service, c.meta.Currency.Code, c.meta.Version)
}

// Digest is the SHA-256 of the CSV source, hex encoded.
func (c *Card) Digest() string { return c.digest }

// Source returns a copy of the CSV bytes the card was imported from.
func (c *Card) Source() []byte { return append([]byte(nil), c.source...) }

// Len returns the number of rows.
func (c *Card) Len() int { return len(c.rows) }

// Row returns row i (Row.Index); it panics when i is out of range. Do not modify it.
func (c *Card) Row(i int) *Row { return &c.rows[i] }

// Rows returns a copy of the rows in source order.
func (c *Card) Rows() []Row { return append([]Row(nil), c.rows...) }

// Ref returns what a charge priced by r records.
func (c *Card) Ref(r *Row) Ref {
	return Ref{Service: c.meta.Service, Currency: c.meta.Currency.Code, Version: c.meta.Version, Row: r.Index, Line: r.Line}
}
