// Package rating holds rate cards and the exact charge rule of domain §3: a card is a
// compiled, immutable set of rows looked up by longest E.164 prefix and effective date; a
// charge is computed from billed seconds, rate and connection fee, rounded once per call.
// Nothing here does I/O or reads the clock.
package rating

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
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
	digest  string
	rows    []Row
	top     []topEntry // by the first topDigits digits of a number
	nodes   []node     // path-compressed digit trie, root first
	entries []entry    // every row, by prefix and then latest effective_from first
	pos     []int32    // pos[i]: where row i is in entries
}

// topDigits is how many leading digits the top table resolves in one step: 10^topDigits
// entries of 8 bytes (80 KB, which stay in cache) in place of the first trie levels.
const topDigits = 4

// topEntry describes one topDigits-digit start of a number: node is the trie node reached after
// those digits (0: none, the walk ends above), term the deepest node with rows whose prefix is
// shorter than topDigits (0: none).
type topEntry struct {
	node, term uint32
}

// node is a digit-trie node in 24 bytes, without pointers, so that the trie of a 100,000-prefix
// card (about 120,000 nodes) stays in cache: a lookup is then a few cache hits rather than a
// few misses to memory. word packs, from the lowest bit:
//
//   - skip digits, 4 bits each (at most skipMax): a node at depth topDigits or more stands for
//     a chain of nodes without rows and with one child each, and a number reaches the node's
//     rows and children only through all of these digits;
//   - their count, 4 bits;
//   - the mask of the digits with a child, 10 bits. The children are contiguous from kids, in
//     digit order, so the child for digit d is kids + the number of mask bits below d.
//
// When rows have the node's prefix, row is the one with the latest effective_from, from its
// effective_from in Unix seconds, and the others follow it in entries; otherwise row is -1.
// So the common lookup, where the latest row of the longest matching prefix is in effect,
// reads the nodes on its path and nothing else.
type node struct {
	word uint64
	from int64
	row  int32
	kids uint32
}

const (
	skipMax   = MaxPrefixLen - topDigits // digits
	skipBits  = 4 * skipMax
	maskShift = skipBits + 4
)

type entry struct {
	from int64 // effective_from, Unix seconds
	row  int32
	last bool // the prefix's earliest row
}

// Compile builds a card from validated rows (as ParseCSV returns them) and the CSV source they
// came from. Rows are re-indexed in order. Only the source's digest is kept: storage keeps
// the bytes, and a copy in every process that prices calls would be memory (6.7 MB for a
// 100,000-prefix card) nothing reads.
func Compile(meta Meta, rows []Row, source []byte) (*Card, error) {
	if _, ok := ParseService(string(meta.Service)); !ok {
		return nil, fmt.Errorf("rating: unknown service %q", meta.Service)
	}
	if meta.Currency.Code == "" {
		return nil, fmt.Errorf("rating: card without currency")
	}
	c := &Card{meta: meta, rows: append([]Row(nil), rows...)}
	sum := sha256.Sum256(source)
	c.digest = hex.EncodeToString(sum[:])
	order := make([]int32, len(c.rows))
	for i := range c.rows {
		c.rows[i].Index = i
		order[i] = int32(i)
		r := &c.rows[i]
		if !validPrefix(r.Prefix) {
			return nil, fmt.Errorf("rating: line %d: invalid prefix %q", r.Line, r.Prefix)
		}
		if r.Subsequent < 1 || r.Initial < 1 {
			return nil, fmt.Errorf("rating: line %d: increments must be positive", r.Line)
		}
	}
	// Group row indexes by prefix, latest effective_from first.
	sort.Slice(order, func(a, b int) bool {
		ra, rb := &c.rows[order[a]], &c.rows[order[b]]
		if ra.Prefix != rb.Prefix {
			return ra.Prefix < rb.Prefix
		}
		if !ra.EffectiveFrom.Equal(rb.EffectiveFrom) {
			return ra.EffectiveFrom.After(rb.EffectiveFrom)
		}
		return order[a] < order[b]
	})
	// One key per prefix; keys[k]'s rows are entries[at[k]:at[k+1]].
	keys := make([]string, 0, len(order))
	at := make([]int32, 0, len(order)+1)
	c.entries = make([]entry, len(order))
	c.pos = make([]int32, len(order))
	for k, i := range order {
		r := &c.rows[i]
		c.entries[k] = entry{from: r.EffectiveFrom.Unix(), row: i, last: true}
		c.pos[i] = int32(k)
		if k > 0 {
			p := &c.rows[order[k-1]]
			if p.Prefix == r.Prefix && p.EffectiveFrom.Equal(r.EffectiveFrom) {
				return nil, fmt.Errorf("rating: line %d: prefix %s effective %s repeats line %d",
					r.Line, r.Prefix, r.EffectiveFrom.Format(time.RFC3339), p.Line)
			}
			if p.Prefix == r.Prefix {
				c.entries[k-1].last = false
				continue
			}
		}
		keys = append(keys, r.Prefix)
		at = append(at, int32(k))
	}
	at = append(at, int32(len(order)))
	b := builder{c: c, keys: keys, at: at}
	c.nodes = make([]node, 1, len(keys)+len(keys)/4+16)
	b.fill(0, 0, len(keys), 0)
	c.buildTop()
	return c, nil
}

type builder struct {
	c    *Card
	keys []string // distinct prefixes, sorted
	at   []int32  // keys[k]'s rows are c.entries[at[k]:at[k+1]]
}

// fill sets up node n for keys[lo:hi], which share their first d digits and have at least d,
// adding its children after the nodes there are.
func (b *builder) fill(n uint32, lo, hi, d int) {
	c := b.c
	var word uint64
	if d >= topDigits {
		// Collapse the chain: digits every key has next, while no key ends.
		s := 0
		for len(b.keys[lo]) > d && b.keys[lo][d] == b.keys[hi-1][d] {
			word |= uint64(b.keys[lo][d]-'0') << (4 * s)
			s++
			d++
		}
		word |= uint64(s) << skipBits
	}
	nd := node{row: -1, from: math.MaxInt64}
	if len(b.keys[lo]) == d {
		e := c.entries[b.at[lo]]
		nd.row, nd.from = e.row, e.from
		lo++
	}
	// Children: one per next digit, contiguous.
	var mask uint64
	for j := lo; j < hi; j++ {
		mask |= 1 << (b.keys[j][d] - '0')
	}
	nd.word = word | mask<<maskShift
	nd.kids = uint32(len(c.nodes))
	c.nodes[n] = nd
	for range bits.OnesCount64(mask) {
		c.nodes = append(c.nodes, node{})
	}
	for k := nd.kids; lo < hi; k++ {
		x := b.keys[lo][d]
		j := lo + 1
		for j < hi && b.keys[j][d] == x {
			j++
		}
		b.fill(k, lo, j, d+1)
		lo = j
	}
}

// child returns the child of nd for digit d (0 to 9), or 0.
func (nd *node) child(d uint) uint32 {
	m := uint(nd.word>>maskShift) & (1<<10 - 1)
	if m&(1<<d) == 0 {
		return 0
	}
	return nd.kids + uint32(bits.OnesCount(m&(1<<d-1)))
}

// buildTop fills the top table by walking the first topDigits levels, which have no skips.
func (c *Card) buildTop() {
	p := 1
	for range topDigits {
		p *= 10
	}
	c.top = make([]topEntry, p)
	for k := range c.top {
		var e topEntry
		n, p := uint32(0), p
		for j := 0; j < topDigits && (n != 0 || j == 0); j++ {
			p /= 10
			n = c.nodes[n].child(uint(k / p % 10))
			if n != 0 && j < topDigits-1 && c.nodes[n].row >= 0 {
				e.term = n
			}
		}
		e.node = n
		c.top[k] = e
	}
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
//
// Digits are read as far as a prefix of the card could still match; a non-digit among them
// makes the number invalid (no row).
func (c *Card) Lookup(e164 string, at time.Time) (*Row, bool) {
	t := at.Unix()
	if len(e164) >= topDigits {
		k := 0
		for i := range topDigits {
			d := uint(e164[i] - '0')
			if d > 9 {
				return c.lookup(e164, t)
			}
			k = k*10 + int(d)
		}
		e := c.top[k]
		if e.node != 0 {
			var hits [MaxPrefixLen + 1]uint32
			nh, ok := c.walk(e164, topDigits, e.node, &hits)
			if !ok {
				return nil, false
			}
			if r := c.resolve(hits[:nh], t); r != nil {
				return r, true
			}
		}
		if e.term == 0 {
			return nil, false
		}
		// The common case of a short prefix, such as a country code: its latest row.
		if nd := &c.nodes[e.term]; nd.from <= t {
			return &c.rows[nd.row], true
		}
		return c.lookup(e164[:topDigits], t)
	}
	return c.lookup(e164, t)
}

// lookup is Lookup from the root, without the top table.
func (c *Card) lookup(e164 string, t int64) (*Row, bool) {
	var hits [MaxPrefixLen + 1]uint32
	nh, ok := c.walk(e164, 0, 0, &hits)
	if !ok {
		return nil, false
	}
	r := c.resolve(hits[:nh], t)
	return r, r != nil
}

// walk follows s from node n, which position i of s reached, and records in hits the nodes
// with rows whose prefix starts s, shortest first. It reports false when it meets a non-digit.
func (c *Card) walk(s string, i int, n uint32, hits *[MaxPrefixLen + 1]uint32) (int, bool) {
	nh := 0
	for {
		nd := &c.nodes[n]
		w := nd.word
		if l := int(w >> skipBits & 15); l != 0 {
			for j := range l {
				if i+j >= len(s) {
					return nh, true
				}
				if x := s[i+j]; uint64(x-'0') != w>>(4*j)&15 {
					return nh, x-'0' <= 9
				}
			}
			i += l
		}
		if nd.row >= 0 && nh < len(hits) {
			hits[nh] = n
			nh++
		}
		if i >= len(s) {
			return nh, true
		}
		d := uint(s[i] - '0')
		if d > 9 {
			return nh, false
		}
		if n = nd.child(d); n == 0 {
			return nh, true
		}
		i++
	}
}

// resolve picks the row of the longest prefix in hits in effect at t: nil if there is none.
func (c *Card) resolve(hits []uint32, t int64) *Row {
	for k := len(hits) - 1; k >= 0; k-- {
		nd := &c.nodes[hits[k]]
		if nd.from <= t {
			return &c.rows[nd.row]
		}
		for j := c.pos[nd.row]; !c.entries[j].last; {
			j++
			if c.entries[j].from <= t {
				return &c.rows[c.entries[j].row]
			}
		}
	}
	return nil
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
