package tenant

import (
	"testing"

	"github.com/commcredits/commcredits/internal/charging"
)

// The commands that end a call share its key, which CallOfKey reads back, and making it
// costs one allocation (it is made for every call ended).
func TestCallIdempotencyKey(t *testing.T) {
	for _, tc := range []struct {
		callID, leg string
		one         bool // the key names one call
	}{
		{"c-0000001", "a", true},
		{"c-0000001", "", true},
		{"a/b", "c", false},
	} {
		want := "call:" + CallKey(tc.callID, tc.leg)
		for _, cmd := range []interface{ IdempotencyKey() string }{
			Settle{CallID: tc.callID, Leg: tc.leg},
			Release{CallID: tc.callID, Leg: tc.leg},
			PostCDR{CDR: charging.CDR{CallID: tc.callID, Leg: tc.leg}},
		} {
			if got := cmd.IdempotencyKey(); got != want {
				t.Errorf("%T: key %q, want %q", cmd, got, want)
			}
		}
		id, leg, ok := CallOfKey(want)
		if ok != tc.one || (ok && (id != tc.callID || leg != tc.leg)) {
			t.Errorf("CallOfKey(%q) = %q, %q, %v", want, id, leg, ok)
		}
	}
	// A GUID call id (36 bytes): longer than the 32 bytes a short intermediate string may
	// be built in on the stack, so a second concatenation would show as an allocation.
	c := PostCDR{CDR: charging.CDR{CallID: "7f3c2a9e-1b4d-4e8f-9a6c-0d2e5b7f8a1c", Leg: "a"}}
	if n := testing.AllocsPerRun(100, func() { keySink = c.IdempotencyKey() }); n > 1 {
		t.Errorf("%v allocations per key, want 1", n)
	}
}

var keySink string
