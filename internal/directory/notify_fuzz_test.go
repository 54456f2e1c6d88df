package directory

import (
	"strings"
	"testing"
)

// The email check never panics, accepts only what it can return normalized, and accepts its
// own output unchanged.
func FuzzEmail(f *testing.F) {
	for _, s := range []string{"a@example.com", "A.B+tag@Example.COM", "a@b", "Name <a@example.com>", "", "@example.com",
		"a@.com", "a@com.", "\"quoted local\"@example.com", "a@exa mple.com", "a\x00@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Email("email", s)
		if err != nil {
			if err.Field != "email" {
				t.Fatalf("error names %q", err.Field)
			}
			return
		}
		if strings.Count(got, "@") < 1 || got != strings.TrimSpace(got) {
			t.Fatalf("%q accepted as %q", s, got)
		}
		again, err := Email("email", got)
		if err != nil || again != got {
			t.Fatalf("%q → %q, then %q, %v", s, got, again, err)
		}
	})
}

// Webhook validation never panics and never accepts a URL that is not http(s) with a host.
func FuzzPutWebhook(f *testing.F) {
	for _, s := range []string{"https://example.com/x", "http://127.0.0.1:9/", "ftp://example.com", "https:///x", "javascript:alert(1)", "https://u:p@h/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		d := New("t")
		_, err := Apply(d, PutWebhook{Webhook{ID: "w", URL: raw, Secret: "whsec_0123456789abcdef"}}, Env{})
		if err != nil {
			if len(d.Webhooks) != 0 {
				t.Fatal("a refused webhook was stored")
			}
			return
		}
		if !strings.HasPrefix(strings.ToLower(raw), "http://") && !strings.HasPrefix(strings.ToLower(raw), "https://") {
			t.Fatalf("accepted %q", raw)
		}
	})
}
