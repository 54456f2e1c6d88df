package rating

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/numbers"
)

const header = "prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n"

const sampleCard = header +
	"44,United Kingdom,fixed,0.02,0,60,1,2026-01-01,false\n" +
	"447,United Kingdom - Mobile,mobile,0.15,0,60,1,2026-01-01,false\n" +
	"447,United Kingdom - Mobile,mobile,0.12,0,60,1,2026-07-01,false\n" +
	"4479,United Kingdom - Mobile (new range),mobile,0.10,0,60,1,2026-09-01,false\n" +
	"449,United Kingdom - Premium,premium,1.50,0,60,60,2026-01-01,true\n" +
	"1,\"United States, Canada\",fixed_or_mobile,0.01,0.05,6,6,2026-01-01T00:00:00Z,false\n" +
	"1787,Puerto Rico,fixed_or_mobile,0.01,0,60,60,2026-01-01T00:00:00-04:00,false\n"

var usd = money.MustCurrency("USD")

func mustImport(t testing.TB, data string) *Card {
	t.Helper()
	c, err := Import(Meta{Service: Outbound, Currency: usd, Version: 1}, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestLookup(t *testing.T) {
	c := mustImport(t, sampleCard)
	cases := []struct {
		number, at string
		line       int // 0: no row
	}{
		{"442071838750", "2026-03-01T00:00:00Z", 2},
		{"447911123456", "2026-03-01T00:00:00Z", 3}, // longest prefix
		{"447911123456", "2026-07-01T00:00:00Z", 4}, // latest effective_from not after the start
		{"447911123456", "2026-06-30T23:59:59Z", 3}, // one second before
		{"447911123456", "2026-09-01T00:00:00Z", 5}, // the longer prefix is now in effect
		{"447811123456", "2026-09-01T00:00:00Z", 4}, // sibling branch unaffected
		{"449098790000", "2026-03-01T00:00:00Z", 6}, // blocked rows are found; callers refuse
		{"12125550100", "2026-01-01T00:00:00Z", 7},  // effective at exactly the start
		{"12125550100", "2025-12-31T23:59:59Z", 0},  // before any row
		{"17875550123", "2026-01-01T00:00:00Z", 7},  // 1787 starts 04:00 UTC: falls back to 1
		{"17875550123", "2026-01-01T04:00:00Z", 8},
		{"33123456789", "2026-03-01T00:00:00Z", 0}, // no prefix
		{"", "2026-03-01T00:00:00Z", 0},
		{"44a", "2026-03-01T00:00:00Z", 0},                 // not digits
		{"+442071838750", "2026-03-01T00:00:00Z", 0},       // digits only, no "+"
		{"4420718387501234567", "2026-03-01T00:00:00Z", 2}, // longer than E.164 still matches the prefix
	}
	for _, tc := range cases {
		r, ok := c.Lookup(tc.number, date(tc.at))
		switch {
		case tc.line == 0 && ok:
			t.Errorf("Lookup(%q, %s) found line %d, want none", tc.number, tc.at, r.Line)
		case tc.line != 0 && (!ok || r.Line != tc.line):
			t.Errorf("Lookup(%q, %s) = %+v, %v; want line %d", tc.number, tc.at, r, ok, tc.line)
		}
	}
	r, _ := c.Lookup("449098790000", date("2026-03-01T00:00:00Z"))
	if !r.Blocked || r.NumberType != numbers.Premium {
		t.Errorf("premium row: %+v", r)
	}
	r, _ = c.Lookup("12125550100", date("2026-03-01T00:00:00Z"))
	if r.Destination != "United States, Canada" || r.Fee != 50_000 || r.Initial != 6 {
		t.Errorf("quoted destination row: %+v", r)
	}
	if ref := c.Ref(r); ref != (Ref{Service: Outbound, Currency: "USD", Version: 1, Row: 5, Line: 7}) {
		t.Errorf("Ref = %+v", ref)
	}
}

func TestLookupAllocs(t *testing.T) {
	c := mustImport(t, sampleCard)
	at := date("2026-08-01T00:00:00Z")
	if n := testing.AllocsPerRun(100, func() { c.Lookup("447911123456", at) }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

func TestCardAccessors(t *testing.T) {
	c := mustImport(t, sampleCard)
	if c.Len() != 7 || c.Row(0).Prefix != "44" || c.Row(6).Line != 8 {
		t.Errorf("accessors: len %d row0 %+v", c.Len(), c.Row(0))
	}
	if sum := sha256.Sum256([]byte(sampleCard)); c.ID() != "outbound/USD/v1" || c.Digest() != hex.EncodeToString(sum[:]) {
		t.Errorf("ID %q digest %q", c.ID(), c.Digest())
	}
	rows := c.Rows()
	rows[0].Prefix = "99"
	if c.Row(0).Prefix != "44" {
		t.Error("Rows exposes the card's own rows")
	}
	// Rows and source are enough to rebuild the same card (what storage will do).
	again, err := Compile(c.Meta(), c.Rows(), []byte(sampleCard))
	if err != nil || again.Digest() != c.Digest() {
		t.Fatalf("recompile: %v", err)
	}
	r1, _ := c.Lookup("447911123456", date("2026-08-01T00:00:00Z"))
	r2, _ := again.Lookup("447911123456", date("2026-08-01T00:00:00Z"))
	if *r1 != *r2 {
		t.Errorf("recompiled card differs: %+v vs %+v", r1, r2)
	}
}

func TestCompileRejects(t *testing.T) {
	good := Row{Prefix: "44", Destination: "x", NumberType: numbers.Fixed, Initial: 1, Subsequent: 1}
	dup := good
	dup.Line = 3
	for name, c := range map[string]struct {
		meta Meta
		rows []Row
	}{
		"service":   {Meta{Service: "fax", Currency: usd}, []Row{good}},
		"currency":  {Meta{Service: Outbound}, []Row{good}},
		"prefix":    {Meta{Service: Outbound, Currency: usd}, []Row{{Prefix: "4a", Initial: 1, Subsequent: 1}}},
		"increment": {Meta{Service: Outbound, Currency: usd}, []Row{{Prefix: "44", Initial: 1}}},
		"duplicate": {Meta{Service: Outbound, Currency: usd}, []Row{good, dup}},
	} {
		if _, err := Compile(c.meta, c.rows, nil); err == nil {
			t.Errorf("%s: Compile accepted it", name)
		}
	}
}

func TestRegistry(t *testing.T) {
	g := NewRegistry()
	t0 := date("2026-01-01T00:00:00Z")
	if _, ok := g.Current(Outbound, "USD"); ok {
		t.Fatal("empty registry has a card")
	}
	c1, err := g.Import(Outbound, usd, []byte(sampleCard), t0)
	if err != nil {
		t.Fatal(err)
	}
	v2 := strings.Replace(sampleCard, "0.02,0,60,1,2026-01-01", "0.03,0,60,1,2026-01-01", 1)
	c2, err := g.Import(Outbound, usd, []byte(v2), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Import(Outbound, usd, []byte(header+"44,x,fixed,-1,0,60,60,2026-01-01,false\n"), t0); err == nil {
		t.Fatal("a bad card was imported")
	}
	if cur, _ := g.Current(Outbound, "USD"); cur != c2 || c1.Version() != 1 || c2.Version() != 2 {
		t.Errorf("current %v, versions %d %d", cur.ID(), c1.Version(), c2.Version())
	}
	if old, ok := g.Version(Outbound, "USD", 1); !ok || old != c1 {
		t.Error("version 1 not kept")
	}
	if _, ok := g.Version(Outbound, "USD", 3); ok {
		t.Error("version 3 exists")
	}
	if _, ok := g.Current(DialOut, "USD"); ok {
		t.Error("cards are per service")
	}
	if _, ok := g.Current(Outbound, "EUR"); ok {
		t.Error("cards are per currency")
	}
	if n := len(g.Versions(Outbound, "USD")); n != 2 {
		t.Errorf("%d versions", n)
	}
	// Restoring from storage: versions in order only.
	h := NewRegistry()
	if err := h.Add(c2); err == nil {
		t.Error("Add accepted version 2 before version 1")
	}
	if err := h.Add(c1); err != nil {
		t.Error(err)
	}
	var ie *ImportError
	_, err = g.Import(TollFree, usd, nil, t0)
	if !errors.As(err, &ie) {
		t.Errorf("empty source: %v", err)
	}
}

// A card's rows do not keep the CSV records they came from alive: their strings are copies,
// and equal destinations share one.
func TestCardRowsOwnTheirStrings(t *testing.T) {
	c := mustImport(t, sampleCard)
	byName := map[string]*byte{}
	n := 0
	for _, r := range c.Rows() {
		p := unsafe.StringData(r.Destination)
		if q, ok := byName[r.Destination]; ok {
			n++
			if q != p {
				t.Errorf("row %d: destination %q is a second copy", r.Index, r.Destination)
			}
		}
		byName[r.Destination] = p
	}
	if n != 1 { // the two mobile rows of the sample
		t.Fatalf("%d repeated destinations, want 1", n)
	}
}
