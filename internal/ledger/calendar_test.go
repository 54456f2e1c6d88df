package ledger

import (
	"testing"
	"time"
)

func TestAddMonths(t *testing.T) {
	cases := []struct{ in, want string }{
		{"2024-02-29T10:00:00Z", "2025-02-28T10:00:00Z"}, // leap day to a common year
		{"2023-02-28T00:00:00Z", "2024-02-28T00:00:00Z"}, // not moved to the 29th
		{"2024-01-31T23:59:59Z", "2025-01-31T23:59:59Z"},
		{"2024-03-31T12:00:00Z", "2025-03-31T12:00:00Z"},
		{"2025-12-31T23:59:59Z", "2026-12-31T23:59:59Z"}, // year end
		{"2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"2027-02-28T08:30:00Z", "2028-02-28T08:30:00Z"},      // into a leap year stays on the 28th
		{"2024-02-29T10:00:00+05:00", "2025-02-28T05:00:00Z"}, // computed in UTC
	}
	for _, c := range cases {
		in, _ := time.Parse(time.RFC3339, c.in)
		if got := AddMonths(in, 12).Format(time.RFC3339); got != c.want {
			t.Errorf("AddMonths(%s, 12) = %s, want %s", c.in, got, c.want)
		}
	}
	// Month arithmetic other than 12, for an operator who configures another period.
	jan31, _ := time.Parse(time.RFC3339, "2024-01-31T00:00:00Z")
	if got := AddMonths(jan31, 1).Format(time.DateOnly); got != "2024-02-29" {
		t.Errorf("Jan 31 + 1 = %s", got)
	}
	if got := AddMonths(jan31, 13).Format(time.DateOnly); got != "2025-02-28" {
		t.Errorf("Jan 31 + 13 = %s", got)
	}
}
