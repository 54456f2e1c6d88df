package rest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// Request headers and query values reach these parsers unfiltered: they must never panic,
// and what they accept must round-trip.
func FuzzHeaderParsers(f *testing.F) {
	for _, s := range []string{`"v3"`, `W/"v3"`, `"v"`, `*`, `"abc", "v2"`, "", `"v-1"`, `"v99999999999999999999"`, "bWFw", "!!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, ok := parseSettingsETag(s); ok && settingsETag(v) != s && v >= 0 {
			// "v+3" or "v03" parse to 3 but print as "v3": they must still compare unequal
			// as ETags, which checkIfMatch does on the strings.
			if checkIfMatch(s, settingsETag(v)) == nil {
				t.Fatalf("%q matched %q", s, settingsETag(v))
			}
		}
		_ = checkIfMatch(s, `"v1"`)
		if c := encodeCursor(s); decodeCursor(c) != s {
			t.Fatalf("cursor %q does not round-trip", s)
		}
		_ = decodeCursor(s)
		_ = snake(s)
	})
}

// Report query values: dates, positional cursors and the export format (query or Accept)
// are refused with a problem or accepted, never a panic; an accepted format is one we write.
func FuzzReportQueryParsers(f *testing.F) {
	for _, s := range []string{"2026-11-24", "2026-11-24T10:00:00Z", "2026-02-30", "yesterday", "", "MTA", "-1",
		"text/csv;q=0.9, application/zip", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", "*/*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, end := range []bool{false, true} {
			if tm, err := when("query.from", s, end); err == nil && s != "" && tm.IsZero() {
				t.Fatalf("%q accepted as the zero time", s)
			}
		}
		if n, err := position(s); err == nil && n < 0 {
			t.Fatalf("cursor %q is position %d", s, n)
		}
		for _, fmtArgs := range [][2]string{{s, ""}, {"", s}} {
			if got, err := exportFormat(fmtArgs[0], fmtArgs[1]); err == nil {
				if _, ok := exportTypes[got]; !ok {
					t.Fatalf("format %q from %q", got, fmtArgs)
				}
			}
		}
	})
}

// parseAny must decode exactly as encoding/json does into an any, or leave the document to it.
func FuzzParseAny(f *testing.F) {
	for _, s := range []string{`{"call_id":"b1","call_type":"user_out","principal":"alice","caller":"+442071838750","callee":"+14155550100"}`,
		`{}`, `[]`, `[1,2.5,-0,1e3,1E-3,true,false,null,"x"]`, `{"a":{"b":[{"c":"d"}]},"a":1}`, `"\u00e9\ud83d\ude00"`, `"a\"b\\c\/d\b\f\n\r\t"`,
		` {"x" : 1 } `, `{"x":1,}`, `[1,]`, `01`, `1.`, `-`, `1e`, `1e400`, `"\xff"`, "\"\x01\"", `{"a":1}x`, `nul`, `"é"`, `{"a" 1}`, ``, `[[[[[[[[[[]]]]]]]]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseAny(b)
		var want any
		err := json.Unmarshal(b, &want)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("parseAny took %q, which encoding/json refuses: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parseAny(%q) = %#v, encoding/json %#v", b, got, want)
		}
		// Through the format, with what encoding/json would do otherwise.
		var viaFormat any
		if err := jsonFormat.Unmarshal(b, &viaFormat); err != nil || !reflect.DeepEqual(viaFormat, want) {
			t.Fatalf("jsonFormat.Unmarshal(%q) = %#v, %v", b, viaFormat, err)
		}
	})
}

// The format hands what parseAny leaves to encoding/json: its errors, and decoding into
// what a non-nil *any holds.
func TestJSONFormatFallsBack(t *testing.T) {
	for _, s := range []string{`{"a":1,}`, `1e400`, `{"a":"\u0041"}`, "[1,2", `"\xff"`} {
		var got, want any
		gerr, werr := jsonFormat.Unmarshal([]byte(s), &got), json.Unmarshal([]byte(s), &want)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %#v, %v; encoding/json %#v, %v", s, got, gerr, want, werr)
		}
	}
	var m map[string]any
	var v any = &m
	if err := jsonFormat.Unmarshal([]byte(`{"a":"b"}`), &v); err != nil || m["a"] != "b" {
		t.Fatalf("into a *any holding a *map: %v, %v", err, m)
	}
}
