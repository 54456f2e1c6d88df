package report

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	for _, c := range []struct {
		in       string
		endOfDay bool
		want     time.Time
		bad      bool
	}{
		{in: "", want: time.Time{}},
		{in: "2026-09-01", want: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2026-09-01", endOfDay: true, want: time.Date(2026, 9, 2, 0, 0, 0, 0, time.UTC)},
		{in: "2026-09-01T10:00:00+02:00", endOfDay: true, want: time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)},
		{in: "2026-13-01", bad: true},
		{in: "yesterday", bad: true},
	} {
		got, err := ParseTime(c.in, c.endOfDay)
		if c.bad {
			if err == nil {
				t.Errorf("%q: no error, got %v", c.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) {
			t.Errorf("%q (end of day %v): %v, %v; want %v", c.in, c.endOfDay, got, err, c.want)
		}
	}
}
