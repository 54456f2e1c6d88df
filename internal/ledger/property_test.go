package ledger

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"pgregory.net/rapid"
)

// step is one drawn command with the time it runs at.
type step struct {
	cmd Command
	at  time.Time
}

func drawSteps(t *rapid.T) []step {
	n := rapid.IntRange(1, 120).Draw(t, "n")
	ids := []string{"r1", "r2", "r3", "r4", "r5"}
	amount := rapid.Custom(func(t *rapid.T) money.Amount {
		return money.Amount(rapid.Int64Range(-50, 20_000).Draw(t, "amount"))
	})
	at := t0
	steps := make([]step, n)
	for i := range steps {
		// Jumps of up to ~3 months so that lots expire within a sequence.
		at = at.Add(time.Duration(rapid.Int64Range(0, 90*24*3600).Draw(t, "dt")) * time.Second)
		var cmd Command
		switch rapid.IntRange(0, 7).Draw(t, "kind") {
		case 0:
			cmd = Fund{Amount: amount.Draw(t, "fund"), Source: "purchase"}
		case 1:
			cmd = Reserve{ID: rapid.SampledFrom(ids).Draw(t, "id"), Amount: amount.Draw(t, "res"),
				TTL: time.Duration(rapid.Int64Range(1, 40*24*3600).Draw(t, "ttl")) * time.Second, Partial: rapid.Bool().Draw(t, "partial")}
		case 2:
			cmd = Extend{ID: rapid.SampledFrom(ids).Draw(t, "id"), Amount: amount.Draw(t, "ext"), TTL: time.Hour}
		case 3:
			cmd = Settle{ID: rapid.SampledFrom(ids).Draw(t, "id"), Amount: amount.Draw(t, "settle")}
		case 4:
			cmd = Release{ID: rapid.SampledFrom(ids).Draw(t, "id")}
		case 5:
			cmd = Charge{Amount: amount.Draw(t, "charge")}
		case 6:
			cmd = Adjust{Amount: amount.Draw(t, "adj") - 5_000, Reason: "test"}
		default:
			cmd = Tick{}
		}
		steps[i] = step{cmd, at}
	}
	return steps
}

// replay applies steps to a new account, checking the invariants after every step.
func replay(t *rapid.T, steps []step) (*Account, []Entry) {
	a := NewAccount("t", usd)
	var entries []Entry
	for i, s := range steps {
		before := clone(a)
		r, err := Apply(a, s.cmd, s.at, Config{})
		if cerr := Check(a); cerr != nil {
			t.Fatalf("step %d %#v: %v", i, s.cmd, cerr)
		}
		for _, e := range r.Entries {
			if e.After-e.Before != e.Amount {
				t.Fatalf("entry %+v does not add up", e)
			}
			if n := len(entries); n > 0 && (entries[n-1].After != e.Before || entries[n-1].Seq+1 != e.Seq) {
				t.Fatalf("entry chain broken at %+v after %+v", e, entries[n-1])
			}
			if e.Kind != EntryForfeiture && err != nil {
				t.Fatalf("refused command %#v booked %+v", s.cmd, e)
			}
			entries = append(entries, e)
		}
		if err != nil && len(r.Entries) == 0 && len(r.Expired) == 0 && !reflect.DeepEqual(stripTimes(before), stripTimes(a)) {
			t.Fatalf("refused command %#v changed the account: %v", s.cmd, err)
		}
	}
	return a, entries
}

// stripTimes drops the unexported sweep hint, which a refused command may refresh.
func stripTimes(a *Account) Account {
	c := *a
	c.nextResExpiry = time.Time{}
	return c
}

func TestLedgerProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		steps := drawSteps(t)
		a, entries := replay(t, steps)
		var sum money.Amount
		for _, e := range entries {
			sum += e.Amount
		}
		if sum != a.Balance {
			t.Fatalf("Σ entries %d ≠ balance %d", sum, a.Balance)
		}
		// Same commands at the same times give the same state and the same entries.
		b, entries2 := replay(t, steps)
		if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(entries, entries2) {
			t.Fatalf("replay diverged")
		}
	})
}

func ExampleApply() {
	usd := money.MustCurrency("USD")
	a := NewAccount("acme", usd)
	at := time.Date(2024, 2, 29, 9, 0, 0, 0, time.UTC)
	r, _ := Apply(a, Fund{Amount: 5000, Source: "purchase"}, at, Config{})
	fmt.Println("lot expires", a.Lots[0].ExpiresAt.Format(time.DateOnly))
	r, _ = Apply(a, Reserve{ID: "call-1", Amount: 300, TTL: time.Minute}, at, Config{})
	fmt.Println("granted", r.Granted.Format(usd), "available", a.Available().Format(usd))
	r, _ = Apply(a, Settle{ID: "call-1", Amount: 125}, at.Add(40*time.Second), Config{})
	e := r.Entries[0]
	fmt.Println(e.Kind, e.Amount.Format(usd), e.Before.Format(usd), "→", e.After.Format(usd))
	// Output:
	// lot expires 2025-02-28
	// granted 3.00 available 47.00
	// charge -1.25 50.00 → 48.75
}
