package tenant

import (
	"fmt"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"pgregory.net/rapid"
)

// TestCallsConserveMoney drives random call traffic through Apply and checks after every
// step: the ledger invariants, pool holds and reservations equal what open calls hold, no
// call is settled twice, and every unit charged is on exactly one usage row.
func TestCallsConserveMoney(t *testing.T) {
	e := env(t)
	e.CallTTL = 90 * time.Second
	rapid.Check(t, func(rt *rapid.T) {
		s := New("acme", usd)
		for _, u := range []directory.User{
			{ID: "alice", DisplayName: "A", Kind: directory.KindUser, UsageLocation: "GB", Licences: []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"},
				SpendLimit: money.Amount(rapid.SampledFrom([]int64{0, 0, 300}).Draw(rt, "limit"))},
			{ID: "bob", DisplayName: "B", Kind: directory.KindUser, UsageLocation: "US", Licences: []string{"MCOEV", "MCOPSTN5", "MCOPSTNPP"}},
		} {
			if _, _, err := Apply(s, directory.PutUser{User: u}, t0, e); err != nil {
				rt.Fatal(err)
			}
		}
		callees := map[string]string{"alice": "+971501234567", "bob": "+12125550199"}
		callers := map[string]string{"alice": "+442071838750", "bob": "+12025550100"}
		settled := map[string]bool{}
		var usageCharged money.Amount
		at := t0
		for i := range rapid.IntRange(1, 80).Draw(rt, "steps") {
			at = at.Add(time.Duration(rapid.IntRange(0, 120).Draw(rt, "dt")) * time.Second)
			id := fmt.Sprint("c", rapid.IntRange(0, 9).Draw(rt, "call"))
			who := rapid.SampledFrom([]string{"alice", "bob"}).Draw(rt, "who")
			var cmd Command
			switch rapid.IntRange(0, 6).Draw(rt, "kind") {
			case 0, 1:
				cmd = Authorize{CallID: id, Type: payer.UserOut, Principal: who, Caller: callers[who], Callee: callees[who],
					InitialSeconds: int64(rapid.IntRange(0, 300).Draw(rt, "initial"))}
			case 2:
				cmd = Extend{CallID: id, Seconds: int64(rapid.IntRange(0, 600).Draw(rt, "more"))}
			case 3:
				cmd = Settle{CallID: id, Seconds: int64(rapid.IntRange(0, 4000).Draw(rt, "secs"))}
			case 4:
				cmd = Release{CallID: id}
			case 5:
				cmd = PostCDR{CDR: charging.CDR{Tenant: "acme", CallID: "cdr-" + id, CallType: payer.UserOut, Principal: who,
					Caller: callers[who], Callee: callees[who], Start: at, Duration: int64(rapid.IntRange(0, 4000).Draw(rt, "dur"))}}
			default:
				cmd = ledger.Fund{Amount: money.Amount(rapid.IntRange(1, 2000).Draw(rt, "fund")), Source: "purchase"}
			}
			// The writer gives each call end one key; here the test keeps that promise itself.
			if k, ok := cmd.(interface{ IdempotencyKey() string }); ok {
				if settled[k.IdempotencyKey()] {
					continue
				}
			}
			res, eff, err := Apply(s, cmd, at, e)
			if err := ledger.Check(s.Account); err != nil {
				rt.Fatalf("step %d %#v: %v", i, cmd, err)
			}
			checkHolds(rt, s)
			if err == nil {
				if k, ok := cmd.(interface{ IdempotencyKey() string }); ok && (res.Settlement != nil || res.Priced != nil || cmd.Name() == "release_call") {
					settled[k.IdempotencyKey()] = true
				}
			}
			for _, u := range eff.Usage {
				usageCharged += u.Charge
			}
		}
		if usageCharged != s.Account.Totals.Charged {
			rt.Fatalf("usage rows charge %d, ledger charged %d", usageCharged, s.Account.Totals.Charged)
		}
	})
}

// checkHolds is check for rapid: pool holds and reservations equal what the calls hold.
func checkHolds(rt *rapid.T, s *State) {
	held := map[PoolRef]int64{}
	var reserved money.Amount
	for _, c := range s.Calls {
		if c.PoolHeld > 0 {
			held[PoolRef{Month: monthOf(c), Key: c.Auth.Pool}] += c.PoolHeld
		}
		reserved += c.Reserved
		if r := s.Account.Reservations[c.Key]; (r == nil) != (c.Reserved == 0) || r != nil && r.Amount != c.Reserved {
			rt.Fatalf("call %s holds %d, ledger %+v", c.Key, c.Reserved, r)
		}
	}
	if reserved != s.Account.Reserved {
		rt.Fatalf("calls hold %d, ledger reserves %d", reserved, s.Account.Reserved)
	}
	for ref, u := range s.Usage {
		if u.Held != held[ref] || u.Held < 0 || u.Used < 0 {
			rt.Fatalf("pool %v: %+v, calls hold %d", ref, u, held[ref])
		}
		// The directory does not change here, so no pool may pay or hold more than its size.
		if p, ok := s.poolsFor(ref.Month, &Env{Catalog: plans.Default()}).Get(ref.Key); ok && u.Used+u.Held > p.TotalSeconds {
			rt.Fatalf("pool %v: used %d + held %d > %d", ref, u.Used, u.Held, p.TotalSeconds)
		}
	}
}
