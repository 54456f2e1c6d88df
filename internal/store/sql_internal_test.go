package store

import (
	"testing"

	"github.com/commcredits/commcredits/internal/rating"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT x FROM t WHERE a = ? AND b = ?`, `SELECT x FROM t WHERE a = $1 AND b = $2`},
		{rowsText(`INSERT INTO t (a, b) VALUES `, 2, 6, ``), `INSERT INTO t (a, b) VALUES ($1,$2),($3,$4),($5,$6),($7,$8),($9,$10),($11,$12)`},
	} {
		for range 2 { // the second answer comes from the cache
			if got := rebind(tc.in); got != tc.want {
				t.Fatalf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		}
	}
	q := batchText(insertEntries, 256)
	if a := testing.AllocsPerRun(10, func() { rebind(q) }); a != 0 {
		t.Fatalf("a cached rebind allocates %v times", a)
	}
}

func TestCardRef(t *testing.T) {
	for _, tc := range []struct {
		ref  rating.Ref
		want string
	}{
		{rating.Ref{}, ""},
		{rating.Ref{Service: rating.Outbound, Currency: "USD", Version: 3, Row: 12}, "outbound/USD/v3#12"},
		{rating.Ref{Service: rating.TollFree, Currency: "EUR", Version: 1, Row: 0}, "toll_free/EUR/v1#0"},
	} {
		if got := cardRef(tc.ref); got != tc.want {
			t.Fatalf("cardRef(%+v) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}
