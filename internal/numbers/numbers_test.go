package numbers

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		raw, country string
		want         Number
		err          error
	}{
		// Emergency numbers come first, per the caller's country.
		{"112", "DE", Number{"112", "DE", Emergency, true}, nil},
		{"911", "US", Number{"911", "US", Emergency, true}, nil},
		{"112", "US", Number{"112", "US", Emergency, true}, nil},
		{"999", "GB", Number{"999", "GB", Emergency, true}, nil},
		{"000", "AU", Number{"000", "AU", Emergency, true}, nil},
		{"110", "JP", Number{"110", "JP", Emergency, true}, nil},
		{"119", "JP", Number{"119", "JP", Emergency, true}, nil},
		{"110", "CN", Number{"110", "CN", Emergency, true}, nil},
		{" 1 1 2 ", "fr", Number{"112", "FR", Emergency, true}, nil},
		{"911", "GB", Number{}, ErrInvalid},   // not an emergency number there
		{"+1911", "US", Number{}, ErrInvalid}, // a country code before 911 is not an emergency call
		// Ordinary numbers: E.164 digits, country, type.
		{"+1 212 555 0100", "US", Number{"12125550100", "US", FixedOrMobile, false}, nil},
		{"(202) 555-0123", "US", Number{"12025550123", "US", FixedOrMobile, false}, nil},
		{"+1 787 555 0123", "US", Number{"17875550123", "PR", FixedOrMobile, false}, nil},
		{"+44 20 7183 8750", "", Number{"442071838750", "GB", Fixed, false}, nil},
		{"0044 20 7183 8750", "DE", Number{"442071838750", "GB", Fixed, false}, nil},
		{"011 44 20 7183 8750", "US", Number{"442071838750", "GB", Fixed, false}, nil},
		{"+33 6 12 34 56 78", "FR", Number{"33612345678", "FR", Mobile, false}, nil},
		{"+1 800 555 0199", "US", Number{"18005550199", "US", TollFree, false}, nil},
		{"+44 909 879 0000", "GB", Number{"449098790000", "GB", Premium, false}, nil},
		{"+800 1234 5678", "", Number{"80012345678", "", TollFree, false}, nil},
		// Errors.
		{"", "US", Number{}, ErrEmpty},
		{"   ", "US", Number{}, ErrEmpty},
		{"abc", "US", Number{}, ErrInvalid},
		{"+1", "US", Number{}, ErrInvalid},
		{"12", "US", Number{}, ErrInvalid},
		{"2125550123", "", Number{}, ErrInvalid}, // national number without a country
		{"2125550123", "XX", Number{}, ErrUnknownCountry},
		{strings.Repeat("1", 65), "US", Number{}, ErrInvalid},
	}
	for _, c := range cases {
		got, err := Parse(c.raw, c.country)
		if !errors.Is(err, c.err) || got != c.want {
			t.Errorf("Parse(%q, %q) = %+v, %v; want %+v, %v", c.raw, c.country, got, err, c.want, c.err)
		}
	}
}

func TestIsEmergency(t *testing.T) {
	for _, c := range []struct {
		dialed, country string
		want            bool
	}{{"911", "US", true}, {"911", "DE", false}, {"112", "de", true}, {"999", "GB", true}, {"18005550199", "US", false}} {
		if got := IsEmergency(c.dialed, c.country); got != c.want {
			t.Errorf("IsEmergency(%q, %q) = %v", c.dialed, c.country, got)
		}
	}
}

func TestParseType(t *testing.T) {
	for _, ty := range Types {
		if got, ok := ParseType(string(ty)); !ok || got != ty {
			t.Errorf("ParseType(%q) = %q, %v", ty, got, ok)
		}
	}
	if _, ok := ParseType("landline"); ok {
		t.Error("ParseType accepted an unknown type")
	}
}

// FuzzParse: no input panics, and a parsed number is E.164 digits that parse back to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"112", "+1 212 555 0100", "0044 20 7183 8750", "+800 1234 5678", "abc", "+", "00", "\uFEFF+44", "+1(((("} {
		f.Add(s, "US")
		f.Add(s, "GB")
	}
	f.Fuzz(func(t *testing.T, raw, country string) {
		n, err := Parse(raw, country)
		if err != nil {
			return
		}
		if n.E164 == "" || len(n.E164) > 15 || strings.Trim(n.E164, "0123456789") != "" {
			t.Fatalf("Parse(%q, %q) gave E164 %q", raw, country, n.E164)
		}
		if n.Emergency {
			if n.Type != Emergency {
				t.Fatalf("emergency number of type %q", n.Type)
			}
			return
		}
		again, err := Parse("+"+n.E164, "")
		if err != nil || again.E164 != n.E164 {
			t.Fatalf("Parse(%q) = %+v; reparsing +%s gave %+v, %v", raw, n, n.E164, again, err)
		}
	})
}
