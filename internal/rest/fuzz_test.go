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
