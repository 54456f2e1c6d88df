package charging

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestSettle(t *testing.T) {
	g := registry(t)
	dom := plans.DomesticPool("MCOPSTN1", "US")
	cases := []struct {
		name      string
		c         *Call
		pool      int64 // pool seconds left at authorization
		d         int64
		poolNow   int64 // -1: the hold
		wantPool  int64
		wantCred  int64
		wantFee   bool
		wantChg   money.Amount
		wantUncov int64
	}{
		// Pool covers the call: exact seconds, nothing charged.
		{"pool covers", call(payer.UserOut, usUser, usNum, usNum2), 1000, 95, -1, 95, 0, false, 0, 0},
		// The pool ends at second 100: 100 from the pool, 50 from credits on 60/60 at 1 cent
		// per minute with no fee: 60 billed, 1 cent.
		{"pool split at the second it ends", call(payer.UserOut, usUser, usNum, usNum2), 100, 150, -1, 100, 50, false, 1, 0},
		// Starts on credits (pool empty): Mexico 5 cent fee + 95 s at 2 cents/min → 8.17 → 8.
		{"credits with fee", call(payer.UserOut, usUser, usNum, mxNum), 0, 95, -1, 0, 95, true, 8, 0},
		// Pool shrank since authorization (another call drew it): the split follows the pool now.
		{"pool shrank", call(payer.UserOut, usUser, usNum, usNum2), 1000, 150, 30, 30, 120, false, 2, 0},
		// Without MCOPSTNPP the seconds past the pool are not charged but flagged.
		{"pool only, overrun", call(payer.UserOut, usNoPP, usNum, usNum2), 60, 90, -1, 60, 0, false, 0, 30},
		{"zero seconds", call(payer.UserOut, usUser, usNum, mxNum), 0, 0, -1, 0, 0, false, 0, 0},
		{"free inbound", call(payer.UserIn, usUser, mxNum, usNum), 0, 300, -1, 0, 0, false, 0, 0},
		{"emergency", call(payer.UserOut, usUser, usNum, "911"), 0, 300, -1, 0, 0, false, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tenant(g, 1000, usUser, usNoPP)
			drainTo(ctx, dom, tc.pool)
			a := Authorize(ctx, tc.c)
			if !a.Allowed {
				t.Fatalf("refused: %s", a.Reason)
			}
			poolNow := tc.poolNow
			if poolNow < 0 {
				poolNow = a.PoolHold
			}
			s := Settle(&a, SettleInput{Seconds: tc.d, PoolAvailable: poolNow, Reserved: a.Reserve})
			if s.PoolSeconds != tc.wantPool || s.CreditSeconds != tc.wantCred || s.Fee != tc.wantFee || s.Charge != tc.wantChg || s.Uncovered != tc.wantUncov {
				t.Fatalf("got %+v", s)
			}
			if s.Release != a.Reserve-s.Charge {
				t.Errorf("release %d of reserve %d, charge %d", s.Release, a.Reserve, s.Charge)
			}
			if (s.Usage.DurationSeconds == 0) != (tc.d == 0) || tc.d == 0 && s.Usage != (UsageRow{}) {
				t.Fatalf("usage %+v", s.Usage)
			}
			if u := s.Usage; tc.d > 0 {
				if u.Charge != s.Charge || u.DurationSeconds != tc.d || !u.End.Equal(start.Add(time.Duration(tc.d)*time.Second)) || u.CallID != "c1" || u.UserID != tc.c.Principal.ID {
					t.Errorf("usage %+v", u)
				}
				if len(u.Record()) != len(UsageColumns) {
					t.Errorf("record of %d fields", len(u.Record()))
				}
				if tc.wantUncov > 0 && u.Review != "uncovered_seconds" {
					t.Errorf("review %q", u.Review)
				}
			}
		})
	}
}

func TestUsageRecord(t *testing.T) {
	g := registry(t)
	ctx := tenant(g, 1000, usUser)
	a := Authorize(ctx, call(payer.UserOut, usUser, usNum, mxNum))
	s := Settle(&a, SettleInput{Seconds: 95, Reserved: a.Reserve})
	want := []string{"t1/c1/a", "c1", "", "US", "ana", "", "", "+12025550123", "user_out", "fixed_or_mobile", "International",
		"Mexico", "+525512345678", "2026-11-05T10:00:00Z", "2026-11-05T10:01:35Z", "95", "0.05", "0.08", "USD", "MCOPSTNPP", "outbound/USD/v1#1"}
	if got := s.Usage.Record(); !reflect.DeepEqual(got, want) {
		t.Errorf("record\n%q\nwant\n%q", got, want)
	}
}

func TestExtend(t *testing.T) {
	g := registry(t)
	dom := plans.DomesticPool("MCOPSTN1", "US")
	// Mexico on credits: 2 cents/min + 5 cent fee, 60/1. First grant 60 s: 7 cents.
	ctx := tenant(g, 20, usUser)
	c := call(payer.UserOut, usUser, usNum, mxNum)
	c.InitialSeconds = 60
	a := Authorize(ctx, c)
	if !a.Allowed || a.GrantedSeconds != 60 || a.Reserve != 7 {
		t.Fatalf("%+v", a)
	}
	ctx.Available -= a.Reserve // 13 left
	st := ExtendState{GrantedSeconds: 60, Reserved: 7}
	// 5 more minutes: 360 s cost 5 + 12 = 17, 10 more.
	e := Extend(ctx, &a, st, 300)
	if !e.Allowed || e.GrantedSeconds != 360 || e.AddReserve != 10 || e.AddPool != 0 {
		t.Fatalf("%+v", e)
	}
	ctx.Available -= e.AddReserve // 3 left
	st = ExtendState{GrantedSeconds: 360, Reserved: 17}
	// An hour more: 17 + 3 = 20 cents buy 5 + 15 min = 464 s (5 + 15.47 → 20).
	e = Extend(ctx, &a, st, 3600)
	if !e.Allowed || e.GrantedSeconds != 464 || e.AddReserve != 3 {
		t.Fatalf("%+v", e)
	}
	ctx.Available = 0
	st = ExtendState{GrantedSeconds: 464, Reserved: 20}
	if e = Extend(ctx, &a, st, 60); e.Allowed || e.Reason != ReasonInsufficientBalance || e.GrantedSeconds != 464 {
		t.Fatalf("%+v", e)
	}

	// On a pool: more pool seconds first, then credits without the fee.
	ctx = tenant(g, 1000, usUser)
	drainTo(ctx, dom, 200)
	c = call(payer.UserOut, usUser, usNum, usNum2)
	c.InitialSeconds = 60
	a = Authorize(ctx, c)
	if a.PoolHold != 60 || a.Reserve != 0 {
		t.Fatalf("%+v", a)
	}
	ctx.Pools.Draw(dom, a.PoolHold) // 140 left
	e = Extend(ctx, &a, ExtendState{GrantedSeconds: 60, PoolHeld: 60}, 240)
	// 300 s: 200 pool, 100 credits on 60/60 at 1 cent → 120 billed, 2 cents.
	if !e.Allowed || e.GrantedSeconds != 300 || e.AddPool != 140 || e.AddReserve != 2 {
		t.Fatalf("%+v", e)
	}

	// Pool only (no MCOPSTNPP): extension stops at the pool's end.
	ctx = tenant(g, 1000, usNoPP)
	drainTo(ctx, dom, 100)
	c = call(payer.UserOut, usNoPP, usNum, usNum2)
	c.InitialSeconds = 60
	a = Authorize(ctx, c)
	ctx.Pools.Draw(dom, a.PoolHold)
	e = Extend(ctx, &a, ExtendState{GrantedSeconds: 60, PoolHeld: 60}, 600)
	if !e.Allowed || e.GrantedSeconds != 100 || e.AddPool != 40 {
		t.Fatalf("%+v", e)
	}
	ctx.Pools.Draw(dom, 40)
	if e = Extend(ctx, &a, ExtendState{GrantedSeconds: 100, PoolHeld: 100}, 60); e.Allowed || e.Reason != ReasonPoolExhausted {
		t.Fatalf("%+v", e)
	}

	// Free calls extend to the maximum call length, and no further.
	a = Authorize(ctx, call(payer.UserIn, usNoPP, mxNum, usNum))
	if e = Extend(ctx, &a, ExtendState{GrantedSeconds: DefaultMaxCallSeconds - 10}, 60); !e.Allowed || e.GrantedSeconds != DefaultMaxCallSeconds {
		t.Fatalf("%+v", e)
	}
	if e = Extend(ctx, &a, ExtendState{GrantedSeconds: DefaultMaxCallSeconds}, 60); e.Allowed || e.Reason != ReasonMaxCallLength || e.GrantedSeconds != DefaultMaxCallSeconds {
		t.Fatalf("%+v", e)
	}
}

func TestBlockState(t *testing.T) {
	g := registry(t)
	ctx := tenant(g, 0, usUser)
	at := start
	var s BlockState
	var events []BlockEvent
	observe := func(c *Call) {
		a := Authorize(ctx, c)
		var ev BlockEvent
		var ok bool
		s, ev, ok = s.Observe(&a, at)
		if ok {
			events = append(events, ev)
		}
		at = at.Add(time.Minute)
	}
	observe(call(payer.UserOut, usUser, usNum, frNum)) // blocked destination: per call
	observe(call(payer.UserOut, usUser, usNum, mxNum)) // no balance: blocks
	observe(call(payer.UserOut, usUser, usNum, mxNum)) // still blocked: no new event
	observe(call(payer.UserIn, usUser, mxNum, usNum))  // free: no change
	observe(call(payer.UserOut, usUser, usNum, "911")) // emergency: no change
	ctx.Available = 500
	observe(call(payer.UserOut, usUser, usNum, mxNum)) // funded: unblocks
	want := []BlockEvent{
		{Tenant: "t1", User: "ana", Phone: "+12025550123", Reason: ReasonInsufficientBalance, Action: Blocked, At: start.Add(time.Minute)},
		{Tenant: "t1", User: "ana", Phone: "+12025550123", Reason: ReasonInsufficientBalance, Action: Unblocked, At: start.Add(5 * time.Minute)},
	}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events\n%+v\nwant\n%+v", events, want)
	}
	for r, blocks := range map[Reason]bool{
		ReasonInsufficientBalance: true, ReasonPoolExhausted: true, ReasonSpendLimitReached: true,
		ReasonDialOutPolicy: false, ReasonInvalidNumber: false, payer.ReasonBlocked: false, payer.ReasonPremium: false,
		ReasonCreditsNotSetUp: false, payer.ReasonNoCreditsLicence: false,
	} {
		if BlocksUser(r) != blocks {
			t.Errorf("BlocksUser(%q) = %v", r, !blocks)
		}
	}
}

// TestGolden runs complete authorize → settle cases and compares them with testdata/*.json
// (go test -run TestGolden -update rewrites them).
func TestGolden(t *testing.T) {
	g := registry(t)
	dom := plans.DomesticPool("MCOPSTN1", "US")
	cases := []struct {
		name    string
		c       *Call
		avail   money.Amount
		pool    int64
		seconds int64
	}{
		{"domestic_pool_split", call(payer.UserOut, usUser, usNum, usNum2), 1000, 100, 150},
		{"international_credits", call(payer.UserOut, usUser, usNum, aeNum), 1000, 0, 95},
		{"toll_free_conf_in", confIn(org, usNum2, usTF), 1000, 0, 600},
		{"emergency", call(payer.UserOut, usNoPP, usNum, "911"), 0, 0, 120},
		{"pool_exhausted", call(payer.UserOut, usNoPP, usNum, usNum2), 0, 0, 60},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tenant(g, tc.avail, usUser, usNoPP, org)
			drainTo(ctx, dom, tc.pool)
			a := Authorize(ctx, tc.c)
			var s Settlement
			if a.Allowed {
				s = Settle(&a, SettleInput{Seconds: tc.seconds, PoolAvailable: a.PoolHold, Reserved: a.Reserve})
			}
			got, err := json.MarshalIndent(struct {
				Authorization Authorization `json:"authorization"`
				Settlement    Settlement    `json:"settlement"`
			}{a, s}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			var back Authorization
			if err := json.Unmarshal(got, &struct {
				A *Authorization `json:"authorization"`
			}{&back}); err != nil || !reflect.DeepEqual(back, a) {
				t.Fatalf("authorization does not read back: %v\n%+v\n%+v", err, back, a)
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs:\n%s", path, got)
			}
		})
	}
}
