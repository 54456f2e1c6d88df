package web

import "testing"

// Domain §8: the last digits of external numbers are masked per the tenant's country.
func TestMask(t *testing.T) {
	for _, tc := range []struct{ number, country, want string }{
		{"4930123456", "DE", "4930123XXX"},
		{"33142685300", "FR", "3314268XXXX"},
		{"41446681800", "CH", "4144668XXXX"},
		{"12025550100", "US", "12025550100"},
		{"12025550100", "", "12025550100"},
		{"123", "DE", "123"},
		{"", "FR", ""},
	} {
		if got := mask(tc.number, tc.country); got != tc.want {
			t.Errorf("mask(%q, %q) = %q, want %q", tc.number, tc.country, got, tc.want)
		}
	}
}
