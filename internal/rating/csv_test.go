package rating

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const okRow = "44,United Kingdom,fixed,0.02,0,60,1,2026-01-01,false\n"

// TestParseCSVBad: every malformed source is rejected with the line and column at fault, and
// nothing is returned.
func TestParseCSVBad(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string // each must appear in the error, in order
	}{
		{"empty", "", []string{"line 1: empty source"}},
		{"header only", header, []string{"line 2: no rows"}},
		{"wrong header", strings.Replace(header, "rate_per_minute", "rate", 1) + okRow, []string{`line 1: header column 4 is "rate", want "rate_per_minute"`}},
		{"missing header", okRow, []string{"line 1: header column 1"}},
		{"too few columns", header + "44,UK,fixed,0.02,0,60,1,2026-01-01\n", []string{"line 2: has 8 fields, want 9"}},
		{"too many columns", header + okRow + "45,DK,fixed,0.02,0,60,1,2026-01-01,false,x\n", []string{"line 3: has 10 fields, want 9"}},
		{"bad decimal", header + "44,UK,fixed,0.0.2,0,60,1,2026-01-01,false\n", []string{"line 2: rate_per_minute: not a decimal number"}},
		{"comma decimal", header + "44,UK,fixed,\"0,02\",0,60,1,2026-01-01,false\n", []string{"line 2: rate_per_minute"}},
		{"too precise", header + "44,UK,fixed,0.0000001,0,60,1,2026-01-01,false\n", []string{"line 2: rate_per_minute: too many decimal places"}},
		{"negative rate", header + "44,UK,fixed,-0.02,0,60,1,2026-01-01,false\n", []string{"line 2: rate_per_minute: number out of range"}},
		{"negative fee", header + "44,UK,fixed,0.02,-1,60,1,2026-01-01,false\n", []string{"line 2: connection_fee"}},
		{"increment 0", header + "44,UK,fixed,0.02,0,60,0,2026-01-01,false\n", []string{"line 2: subsequent_increment: \"0\" is not a whole number"}},
		{"initial 0", header + "44,UK,fixed,0.02,0,0,1,2026-01-01,false\n", []string{"line 2: initial_increment"}},
		{"increment too big", header + "44,UK,fixed,0.02,0,60,3601,2026-01-01,false\n", []string{"line 2: subsequent_increment"}},
		{"bad prefix", header + "44x,UK,fixed,0.02,0,60,1,2026-01-01,false\n", []string{"line 2: prefix"}},
		{"leading zero prefix", header + "044,UK,fixed,0.02,0,60,1,2026-01-01,false\n", []string{"line 2: prefix"}},
		{"prefix too long", header + "1234567890123456,UK,fixed,0.02,0,60,1,2026-01-01,false\n", []string{"line 2: prefix"}},
		{"bad type", header + "44,UK,landline,0.02,0,60,1,2026-01-01,false\n", []string{"line 2: number_type"}},
		{"bad date", header + "44,UK,fixed,0.02,0,60,1,01/01/2026,false\n", []string{"line 2: effective_from"}},
		{"bad blocked", header + "44,UK,fixed,0.02,0,60,1,2026-01-01,maybe\n", []string{"line 2: blocked"}},
		{"empty destination", header + "44,,fixed,0.02,0,60,1,2026-01-01,false\n", []string{"line 2: destination: empty"}},
		{"duplicate prefix and date", header + okRow + "45,DK,fixed,0.02,0,60,1,2026-01-01,false\n" + okRow,
			[]string{"line 4: prefix 44 effective 2026-01-01T00:00:00Z repeats line 2"}},
		{"duplicate instant written differently", header + okRow + "44,UK,fixed,0.03,0,60,1,2026-01-01T01:00:00+01:00,false\n",
			[]string{"line 3: prefix 44 effective 2026-01-01T00:00:00Z repeats line 2"}},
		{"bare quote", header + "44,U\"K,fixed,0.02,0,60,1,2026-01-01,false\n" + okRow, []string{"line 2: bare \" in non-quoted-field"}},
		{"quoted newline", header + "44,\"United\nKingdom\",fixed,0.02,0,60,1,2026-01-01,false\n", []string{"line 2: a quoted field spans lines 2 to 3"}},
		{"BOM inside", header + "44,\uFEFFUK,fixed,0.02,0,60,1,2026-01-01,false\n", []string{"line 2: destination: contains a control character or byte-order mark"}},
		{"BOM on a later line", header + "\uFEFF" + okRow, []string{"line 2: prefix"}},
		{"10 MB line", header + okRow + "45," + strings.Repeat("x", 10<<20) + ",fixed,0.02,0,60,1,2026-01-01,false\n" + "46,DK,fixed,0.02,0,60,1,2026-01-01,false\n",
			[]string{"line 3: line is 10485798 bytes, longer than 4096"}},
		{"many errors on many lines", header + okRow +
			"45,DK,fixed,abc,0,60,0,2026-01-01,false\n" +
			okRow[:len(okRow)-1] + ",extra\n" +
			"46,NO,fixed,0.02,0,60,1,2026-13-01,false\n",
			[]string{"line 3: rate_per_minute", "line 3: subsequent_increment", "line 4: has 10 fields", "line 5: effective_from"}},
	}
	for _, c := range cases {
		rows, err := ParseCSV([]byte(c.src))
		var ie *ImportError
		if !errors.As(err, &ie) {
			t.Errorf("%s: err = %v, want *ImportError", c.name, err)
			continue
		}
		if rows != nil {
			t.Errorf("%s: rows returned with an error", c.name)
		}
		msg := err.Error()
		at := 0
		for _, w := range c.want {
			i := strings.Index(msg[at:], w)
			if i < 0 {
				t.Errorf("%s: error lacks %q (in order):\n%s", c.name, w, msg)
				break
			}
			at += i + len(w)
		}
		if len(ie.Errors) != len(c.want) {
			t.Errorf("%s: %d errors, want %d:\n%s", c.name, len(ie.Errors), len(c.want), msg)
		}
	}
}

// TestParseCSVAccepts: a byte-order mark at the start, CRLF line endings, comments, blank
// lines, spaces around values, "+" before a prefix and upper-case booleans all import.
func TestParseCSVAccepts(t *testing.T) {
	plain, err := ParseCSV([]byte(sampleCard))
	if err != nil {
		t.Fatal(err)
	}
	crlf := "\uFEFF# exported by a spreadsheet\r\n" + strings.ReplaceAll(sampleCard, "\n", "\r\n") + "\r\n"
	rows, err := ParseCSV([]byte(crlf))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(plain) {
		t.Fatalf("%d rows, want %d", len(rows), len(plain))
	}
	for i := range rows {
		a, b := rows[i], plain[i]
		a.Line, b.Line = 0, 0
		if a != b {
			t.Errorf("row %d: %+v, want %+v", i, a, b)
		}
	}
	loose := header + " +44 , United Kingdom , fixed , 0.02 , 0 , 60 , 1 , 2026-01-01 , TRUE \n"
	rows, err = ParseCSV([]byte(loose))
	if err != nil || rows[0].Prefix != "44" || !rows[0].Blocked || rows[0].Destination != "United Kingdom" {
		t.Errorf("loose row: %+v %v", rows, err)
	}
}

func TestParseCSVTooManyErrors(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(header)
	for i := 0; i < MaxErrors+10; i++ {
		b.WriteString("x,UK,fixed,0.02,0,60,1,2026-01-01,false\n")
	}
	_, err := ParseCSV(b.Bytes())
	var ie *ImportError
	if !errors.As(err, &ie) || len(ie.Errors) != MaxErrors || ie.Omitted != 10 {
		t.Fatalf("errors %d omitted %d", len(ie.Errors), ie.Omitted)
	}
	if !strings.Contains(err.Error(), "rate card rejected: 1010 errors") {
		t.Errorf("summary: %.80s", err.Error())
	}
}

// FuzzImport: no input panics; an accepted source compiles and every row can be found again.
func FuzzImport(f *testing.F) {
	f.Add([]byte(sampleCard))
	f.Add([]byte("\uFEFF" + strings.ReplaceAll(sampleCard, "\n", "\r\n")))
	f.Add([]byte(header + "44,\"a\"\"b\",fixed,0.02,0,60,1,2026-01-01,false\n"))
	f.Add([]byte(header + "44,U\"K,fixed,0.02,0,60,1,2026-01-01,false\n"))
	f.Add([]byte(header + "1,x,other,999999.999999,0.000001,3600,3600,9999-12-31T23:59:59Z,true\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Import(Meta{Service: Outbound, Currency: usd, Version: 1}, data)
		if err != nil {
			var ie *ImportError
			if !errors.As(err, &ie) || len(ie.Errors) == 0 {
				t.Fatalf("error %v is not a non-empty *ImportError", err)
			}
			return
		}
		for i := 0; i < c.Len(); i++ {
			r := c.Row(i)
			got, ok := c.Lookup(r.Prefix, r.EffectiveFrom)
			if !ok || got.Prefix != r.Prefix || got.EffectiveFrom.After(r.EffectiveFrom) {
				t.Fatalf("row %+v: lookup of its own prefix at its own start gave %+v, %v", r, got, ok)
			}
			_ = Charge(r, 3600, true, usd)
		}
	})
}
