package rest

import (
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
