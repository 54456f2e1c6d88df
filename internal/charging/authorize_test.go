package charging

import (
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
)

const (
	usNum   = "+12025550123"
	usNum2  = "+12025550187"
	prNum   = "+17875550123"
	usTF    = "+18002345678"
	mxNum   = "+525512345678"
	aeNum   = "+971501234567"
	deNum   = "+4930123456"
	gbNum   = "+442071838750"
	gbPrem  = "+449098790000"
	frNum   = "+33142685300"
	ukNoCRd = "+61291234567" // Australia: on no card
)

var (
	usUser   = principal("ana", "US", "MCOEV", "MCOPSTN1", "MCOPSTNPP")
	usNoPP   = principal("ben", "US", "MCOEV", "MCOPSTN1")
	usDI     = principal("cy", "US", "MCOEV", "MCOPSTN2", "MCOPSTNPP")
	usDINoPP = principal("dee", "US", "MCOEV", "MCOPSTN2")
	usPAYG   = principal("eve", "US", "MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP")
	usPer    = principal("fay", "US", "MCOEV", "MCOPSTN8", "MCOPSTNPP")
	org      = principal("org", "US", "MCOMEETADD", "MCOPSTNPP")
	orgNoPP  = principal("orn", "US", "MCOMEETADD")
	orgPPM   = principal("ppm", "US", "MCOMEETACPEA", "MCOPSTNPP")
	ra       = principal("ra", "US", "MCOEV_VIRTUALUSER", "MCOPSTN1", "MCOPSTNPP")
	raNoPlan = principal("rb", "US", "MCOEV_VIRTUALUSER", "MCOPSTNPP")
	noPhone  = principal("np", "US", "MCOPSTN1", "MCOPSTNPP")
)

type want struct {
	allowed    bool
	reason     Reason
	outcome    payer.Outcome
	pool       plans.PoolKey
	capability string
	max        int64        // -1: not checked
	reserve    money.Amount // -1: not checked
}

func TestAuthorize(t *testing.T) {
	g := registry(t)
	everyone := []plans.Principal{usUser, usNoPP, usDI, usDINoPP, usPAYG, usPer, org, orgNoPP, orgPPM, ra}
	dom1 := plans.DomesticPool("MCOPSTN1", "US")
	cases := []struct {
		name      string
		c         *Call
		mod       func(*Context)
		w         want
		emergency bool
		domestic  bool
	}{
		// §4: inbound user calls are free.
		{name: "user_in free", c: call(payer.UserIn, usUser, mxNum, usNum),
			w: want{true, "", payer.Free, plans.PoolKey{}, "MCOPSTN1", DefaultMaxCallSeconds, 0}},
		{name: "unassigned_in free", c: call(payer.UnassignedIn, plans.Principal{}, "anonymous", usNum),
			w: want{true, "", payer.Free, plans.PoolKey{}, "", DefaultMaxCallSeconds, 0}},
		// §4: outbound domestic: the plan's domestic pool, then credits.
		{name: "user_out domestic pool", c: call(payer.UserOut, usUser, usNum, usNum2), domestic: true,
			w: want{true, "", payer.Pool, dom1, "MCOPSTN1", DefaultMaxCallSeconds, 0}},
		{name: "user_out_transfer domestic pool", c: call(payer.UserOutTransfer, usUser, usNum, usNum2), domestic: true,
			w: want{true, "", payer.Pool, dom1, "MCOPSTN1", DefaultMaxCallSeconds, 0}},
		{name: "user_out_forwarding domestic pool", c: call(payer.UserOutForwarding, usUser, usNum, usNum2), domestic: true,
			w: want{true, "", payer.Pool, dom1, "MCOPSTN1", DefaultMaxCallSeconds, 0}},
		{name: "user_out_conf domestic pool", c: call(payer.UserOutConf, usUser, usNum, usNum2), domestic: true,
			w: want{true, "", payer.Pool, dom1, "MCOPSTN1", DefaultMaxCallSeconds, 0}},
		{name: "US to PR is domestic", c: call(payer.UserOut, usUser, usNum, prNum), domestic: true,
			w: want{true, "", payer.Pool, dom1, "MCOPSTN1", DefaultMaxCallSeconds, 0}},
		{name: "per-user plan pool", c: call(payer.UserOut, usPer, usNum, usNum2), domestic: true,
			w: want{true, "", payer.Pool, plans.UserPool("MCOPSTN8", "fay"), "MCOPSTN8", -1, -1}},
		{name: "domestic pool 10 s left then credits", c: call(payer.UserOut, usUser, usNum, usNum2), domestic: true,
			mod: func(ctx *Context) { drainTo(ctx, dom1, 10); ctx.Available = 5 },
			// 5 cents at 0.01/min on 60/60 buys 300 s, no fee: 10 + 300.
			w: want{true, "", payer.Pool, dom1, "MCOPSTN1", 310, 5}},
		{name: "domestic pool empty, credits with fee", c: call(payer.UserOut, usUser, usNum, usNum2), domestic: true,
			mod: func(ctx *Context) { drainTo(ctx, dom1, 0); ctx.Available = 3 },
			w:   want{true, "", payer.Credits, plans.PoolKey{}, plans.MCOPSTNPP, 180, 3}},
		{name: "domestic pool without credits licence: pool seconds only", c: call(payer.UserOut, usNoPP, usNum, usNum2), domestic: true,
			mod: func(ctx *Context) { drainTo(ctx, dom1, 125) },
			w:   want{true, "", payer.Pool, dom1, "MCOPSTN1", 125, 0}},
		// §4: international: D&I international pool then credits; credits only for other plans.
		{name: "D&I international pool", c: call(payer.UserOut, usDI, usNum, mxNum),
			w: want{true, "", payer.Pool, plans.InternationalPool("MCOPSTN2", "US"), "MCOPSTN2", -1, -1}},
		{name: "D&I international without credits licence", c: call(payer.UserOut, usDINoPP, usNum, mxNum),
			w: want{true, "", payer.Pool, plans.InternationalPool("MCOPSTN2", "US"), "MCOPSTN2", -1, 0}},
		{name: "domestic plan international: credits", c: call(payer.UserOut, usUser, usNum, mxNum), mod: func(ctx *Context) { ctx.Available = 100 },
			// (100 − 5) cents at 2 cents/min, 60/1: 2864 s cost 5 + 95.47, rounded once: 100.
			w: want{true, "", payer.Credits, plans.PoolKey{}, plans.MCOPSTNPP, 2864, 100}},
		{name: "UAE credits 30/6 with fee", c: call(payer.UserOut, usUser, usNum, aeNum), mod: func(ctx *Context) { ctx.Available = 100 },
			w: want{true, "", payer.Credits, plans.PoolKey{}, plans.MCOPSTNPP, 180, 100}},
		{name: "credits capped by max call length", c: call(payer.UserOut, usUser, usNum, mxNum), mod: func(ctx *Context) { ctx.Available = 100_000; ctx.MaxCallSeconds = 600 },
			w: want{true, "", payer.Credits, plans.PoolKey{}, plans.MCOPSTNPP, 600, 25}},
		// §4: pay-as-you-go: credits for every outbound call.
		{name: "PAYG domestic credits", c: call(payer.UserOut, usPAYG, usNum, usNum2), mod: func(ctx *Context) { ctx.Available = 2 }, domestic: true,
			w: want{true, "", payer.Credits, plans.PoolKey{}, plans.MCOPSTNPP, 120, 2}},
		// §4: conferences.
		{name: "conf_in toll free", c: confIn(org, mxNum, usNum),
			w: want{true, "", payer.Free, plans.PoolKey{}, "MCOMEETADD", DefaultMaxCallSeconds, 0}},
		{name: "conf_in toll-free credits", c: confIn(org, usNum2, usTF), domestic: true, mod: func(ctx *Context) { ctx.Available = 18 },
			w: want{true, "", payer.Credits, plans.PoolKey{}, plans.MCOPSTNPP, 612, 18}},
		{name: "conf_in toll-free needs a positive balance", c: confIn(org, usNum2, usTF), mod: func(ctx *Context) { ctx.Available = 0 },
			w: want{false, ReasonInsufficientBalance, payer.Refused, plans.PoolKey{}, plans.MCOPSTNPP, 0, 0}},
		{name: "conf_in toll-free, service number from the callee", c: call(payer.ConfIn, org, usNum2, usTF), domestic: true, mod: func(ctx *Context) { ctx.Available = 18 },
			w: want{true, "", payer.Credits, plans.PoolKey{}, plans.MCOPSTNPP, 612, 18}},
		{name: "ucap_in toll-free, explicit service type", c: func() *Call {
			c := call(payer.UcapIn, ra, usNum2, "+1 202 555 0100")
			c.ServiceType = payer.TollFreeLine
			return c
		}(), domestic: true,
			w: want{true, "", payer.Credits, plans.PoolKey{}, plans.MCOPSTNPP, -1, -1}},
		{name: "conf_in toll-free disabled", c: func() *Call { c := confIn(org, usNum2, usTF); c.TollFreeDisabled = true; return c }(),
			w: want{false, payer.ReasonTollFreeDisabled, payer.Refused, plans.PoolKey{}, "", 0, 0}},
		{name: "conf_in toll-free from abroad", c: confIn(org, mxNum, usTF),
			w: want{false, payer.ReasonTollFreeOtherCountry, payer.Refused, plans.PoolKey{}, "", 0, 0}},
		{name: "conf_out Zone A pool", c: call(payer.ConfOut, org, "", mxNum),
			w: want{true, "", payer.Pool, plans.DialOutPool(), "MCOMEETADD", -1, -1}},
		{name: "conf_out Zone A pool exhausted then credits", c: call(payer.ConfOut, org, "", deNum),
			mod: func(ctx *Context) { drainTo(ctx, plans.DialOutPool(), 0); ctx.Available = 2 },
			w:   want{true, "", payer.Credits, plans.PoolKey{}, plans.MCOPSTNPP, 74, 2}},
		{name: "conf_out elsewhere credits", c: call(payer.ConfOut, org, "", aeNum), mod: func(ctx *Context) { ctx.Available = 45 },
			// 10 + 35 × 60/60: 60 s cost 45.
			w: want{true, "", payer.Credits, plans.PoolKey{}, plans.MCOPSTNPP, 60, 45}},
		{name: "conf_out elsewhere needs MCOPSTNPP", c: call(payer.ConfOut, orgNoPP, "", aeNum),
			w: want{false, payer.ReasonNoCreditsLicence, payer.Refused, plans.PoolKey{}, "", 0, 0}},
		{name: "MCOMEETACPEA conf_out credits", c: call(payer.ConfOut, orgPPM, "", usNum), domestic: true,
			w: want{true, "", payer.Credits, plans.PoolKey{}, "MCOMEETACPEA", -1, -1}},
		{name: "MCOMEETACPEA conf_in toll credits", c: confIn(orgPPM, usNum2, usNum), domestic: true,
			w: want{true, "", payer.Credits, plans.PoolKey{}, "MCOMEETACPEA", -1, -1}},
		// §4: resource accounts.
		{name: "ucap_in toll free", c: ucapIn(ra, mxNum, usNum),
			w: want{true, "", payer.Free, plans.PoolKey{}, "MCOPSTN1", DefaultMaxCallSeconds, 0}},
		{name: "ucap_in toll-free credits", c: ucapIn(ra, usNum2, usTF), domestic: true,
			w: want{true, "", payer.Credits, plans.PoolKey{}, plans.MCOPSTNPP, -1, -1}},
		{name: "ucap_out plan pool", c: call(payer.UcapOut, ra, usNum, usNum2), domestic: true,
			w: want{true, "", payer.Pool, dom1, "MCOPSTN1", -1, 0}},
		{name: "ucap_out without a plan", c: call(payer.UcapOut, raNoPlan, usNum, usNum2),
			w: want{false, payer.ReasonNoCallingPlan, payer.Refused, plans.PoolKey{}, "", 0, 0}},
		// §4: emergency numbers: always allowed, never charged, before any other rule.
		{name: "emergency", c: call(payer.UserOut, usUser, usNum, "911"), emergency: true, domestic: true,
			w: want{true, "", payer.Free, plans.PoolKey{}, "MCOPSTN1", DefaultMaxCallSeconds, 0}},
		{name: "emergency with policy none, no balance, not set up", c: call(payer.UserOut, usNoPP, usNum, "911"), emergency: true, domestic: true,
			mod: func(ctx *Context) {
				ctx.Policy.PSTN = PSTNNone
				ctx.Available = -50
				ctx.CreditsSetUp = false
				drainTo(ctx, dom1, 0)
			},
			w: want{true, "", payer.Free, plans.PoolKey{}, "MCOPSTN1", DefaultMaxCallSeconds, 0}},
		{name: "emergency without phone system", c: call(payer.UserOut, noPhone, usNum, "911"), emergency: true, domestic: true,
			w: want{true, "", payer.Free, plans.PoolKey{}, "MCOPSTN1", DefaultMaxCallSeconds, 0}},
		{name: "emergency from a conference", c: call(payer.ConfOut, org, "", "911"), emergency: true, domestic: true,
			mod: func(ctx *Context) { ctx.Policy.Conference = ConferenceNone },
			w:   want{true, "", payer.Free, plans.PoolKey{}, "MCOMEETADD", DefaultMaxCallSeconds, 0}},

		// §5 admission rules.
		{name: "credits without MCOPSTNPP", c: call(payer.UserOut, usNoPP, usNum, mxNum),
			w: want{false, payer.ReasonNoCreditsLicence, payer.Refused, plans.PoolKey{}, "", 0, 0}},
		{name: "credits not set up", c: call(payer.UserOut, usUser, usNum, mxNum), mod: func(ctx *Context) { ctx.CreditsSetUp = false },
			w: want{false, ReasonCreditsNotSetUp, payer.Refused, plans.PoolKey{}, plans.MCOPSTNPP, 0, 0}},
		{name: "zero balance", c: call(payer.UserOut, usUser, usNum, mxNum), mod: func(ctx *Context) { ctx.Available = 0 },
			w: want{false, ReasonInsufficientBalance, payer.Refused, plans.PoolKey{}, plans.MCOPSTNPP, 0, 0}},
		{name: "negative balance (debt)", c: call(payer.UserOut, usUser, usNum, mxNum), mod: func(ctx *Context) { ctx.Available = -1 },
			w: want{false, ReasonInsufficientBalance, payer.Refused, plans.PoolKey{}, plans.MCOPSTNPP, 0, 0}},
		{name: "balance below the first increment", c: call(payer.UserOut, usUser, usNum, aeNum), mod: func(ctx *Context) { ctx.Available = 24 },
			w: want{false, ReasonInsufficientBalance, payer.Refused, plans.PoolKey{}, plans.MCOPSTNPP, 0, 0}},
		{name: "blocked destination", c: call(payer.UserOut, usUser, usNum, frNum),
			w: want{false, payer.ReasonBlocked, payer.Refused, plans.PoolKey{}, "", 0, 0}},
		{name: "premium destination", c: call(payer.UserOut, usUser, usNum, gbPrem),
			w: want{false, payer.ReasonPremium, payer.Refused, plans.PoolKey{}, "", 0, 0}},
		{name: "no rate", c: call(payer.UserOut, usUser, usNum, ukNoCRd),
			w: want{false, payer.ReasonNoRate, payer.Refused, plans.PoolKey{}, plans.FREECALL, 0, 0}},
		{name: "no card in the currency", c: func() *Call {
			c := call(payer.UserOut, usUser, usNum, mxNum)
			c.Currency = money.MustCurrency("EUR")
			return c
		}(),
			w: want{false, ReasonNoRateCard, payer.Refused, plans.PoolKey{}, plans.FREECALL, 0, 0}},
		{name: "invalid callee", c: call(payer.UserOut, usUser, usNum, "+1 555"),
			w: want{false, ReasonInvalidNumber, payer.Refused, plans.PoolKey{}, "", 0, 0}},
		{name: "invalid caller on toll-free", c: confIn(org, "12", usTF),
			w: want{false, ReasonInvalidNumber, payer.Refused, plans.PoolKey{}, "", 0, 0}},
		{name: "no phone system", c: call(payer.UserOut, noPhone, usNum, usNum2),
			w: want{false, payer.ReasonNoPhoneSystem, payer.Refused, plans.PoolKey{}, "", 0, 0}},
		{name: "unknown call type", c: call("user_sideways", usUser, usNum, usNum2),
			w: want{false, payer.ReasonUnknownCallType, payer.Refused, plans.PoolKey{}, "", 0, 0}},
		// Dial-out policies.
		{name: "PSTN none", c: call(payer.UserOut, usUser, usNum, usNum2), mod: func(ctx *Context) { ctx.Policy.PSTN = PSTNNone },
			w: want{false, ReasonDialOutPolicy, payer.Refused, dom1, "MCOPSTN1", 0, 0}},
		{name: "PSTN domestic allows domestic", c: call(payer.UserOut, usUser, usNum, usNum2), mod: func(ctx *Context) { ctx.Policy.PSTN = PSTNDomestic }, domestic: true,
			w: want{true, "", payer.Pool, dom1, "MCOPSTN1", -1, 0}},
		{name: "PSTN domestic refuses international", c: call(payer.UserOut, usUser, usNum, mxNum), mod: func(ctx *Context) { ctx.Policy.PSTN = PSTNDomestic },
			w: want{false, ReasonDialOutPolicy, payer.Refused, plans.PoolKey{}, plans.MCOPSTNPP, 0, 0}},
		{name: "PSTN international allows international", c: call(payer.UserOut, usUser, usNum, mxNum),
			w: want{true, "", payer.Credits, plans.PoolKey{}, plans.MCOPSTNPP, -1, -1}},
		{name: "conference none", c: call(payer.ConfOut, org, "", usNum), mod: func(ctx *Context) { ctx.Policy.Conference = ConferenceNone },
			w: want{false, ReasonDialOutPolicy, payer.Refused, plans.DialOutPool(), "MCOMEETADD", 0, 0}},
		{name: "conference same country allows US", c: call(payer.ConfOut, org, "", usNum), mod: func(ctx *Context) { ctx.Policy.Conference = ConferenceSameCountry }, domestic: true,
			w: want{true, "", payer.Pool, plans.DialOutPool(), "MCOMEETADD", -1, -1}},
		{name: "conference same country refuses MX", c: call(payer.ConfOut, org, "", mxNum), mod: func(ctx *Context) { ctx.Policy.Conference = ConferenceSameCountry },
			w: want{false, ReasonDialOutPolicy, payer.Refused, plans.DialOutPool(), "MCOMEETADD", 0, 0}},
		{name: "conference Zone A allows DE", c: call(payer.ConfOut, org, "", deNum), mod: func(ctx *Context) { ctx.Policy.Conference = ConferenceZoneA },
			w: want{true, "", payer.Pool, plans.DialOutPool(), "MCOMEETADD", -1, -1}},
		{name: "conference Zone A refuses AE", c: call(payer.ConfOut, org, "", aeNum), mod: func(ctx *Context) { ctx.Policy.Conference = ConferenceZoneA },
			w: want{false, ReasonDialOutPolicy, payer.Refused, plans.PoolKey{}, plans.MCOPSTNPP, 0, 0}},
		// Spend limits.
		{name: "spend limit caps max seconds", c: call(payer.UserOut, usUser, usNum, mxNum),
			mod: func(ctx *Context) { ctx.Available = 10_000; ctx.Policy = Policy{SpendLimit: 500, Spent: 489} },
			// 11 cents left at 2 cents/min + 5 fee, 60/1: 194 s cost 11.47, rounded 11.
			w: want{true, "", payer.Credits, plans.PoolKey{}, plans.MCOPSTNPP, 194, 11}},
		{name: "spend limit reached", c: call(payer.UserOut, usUser, usNum, mxNum),
			mod: func(ctx *Context) { ctx.Available = 10_000; ctx.Policy = Policy{SpendLimit: 500, Spent: 500} },
			w:   want{false, ReasonSpendLimitReached, payer.Refused, plans.PoolKey{}, plans.MCOPSTNPP, 0, 0}},
		{name: "spend limit left below first increment", c: call(payer.UserOut, usUser, usNum, mxNum),
			mod: func(ctx *Context) { ctx.Available = 10_000; ctx.Policy = Policy{SpendLimit: 500, Spent: 494} },
			w:   want{false, ReasonSpendLimitReached, payer.Refused, plans.PoolKey{}, plans.MCOPSTNPP, 0, 0}},
		{name: "spend limit does not stop pool minutes", c: call(payer.UserOut, usUser, usNum, usNum2), domestic: true,
			mod: func(ctx *Context) { drainTo(ctx, dom1, 30); ctx.Policy = Policy{SpendLimit: 500, Spent: 600} },
			w:   want{true, "", payer.Pool, dom1, "MCOPSTN1", 30, 0}},
		// Pools exhausted without credits: refused until next month.
		{name: "pool exhausted without credits licence", c: call(payer.UserOut, usNoPP, usNum, usNum2),
			mod: func(ctx *Context) { drainTo(ctx, dom1, 0) },
			w:   want{false, ReasonPoolExhausted, payer.Refused, dom1, "MCOPSTN1", 0, 0}},
		{name: "pool exhausted, zero balance", c: call(payer.UserOut, usUser, usNum, usNum2),
			mod: func(ctx *Context) { drainTo(ctx, dom1, 0); ctx.Available = 0 },
			w:   want{false, ReasonPoolExhausted, payer.Refused, dom1, "MCOPSTN1", 0, 0}},
		{name: "no pools at all", c: call(payer.UserOut, usNoPP, usNum, usNum2), mod: func(ctx *Context) { ctx.Pools = nil },
			w: want{false, ReasonPoolExhausted, payer.Refused, dom1, "MCOPSTN1", 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tenant(g, 1000, everyone...)
			if tc.mod != nil {
				tc.mod(ctx)
			}
			a := Authorize(ctx, tc.c)
			w := tc.w
			if a.Allowed != w.allowed || a.Reason != w.reason || a.Outcome != w.outcome || a.Pool != w.pool || a.Capability != w.capability {
				t.Fatalf("got allowed=%v reason=%q outcome=%v pool=%v capability=%q; want %v %q %v %v %q",
					a.Allowed, a.Reason, a.Outcome, a.Pool, a.Capability, w.allowed, w.reason, w.outcome, w.pool, w.capability)
			}
			if w.max >= 0 && a.MaxSeconds != w.max {
				t.Errorf("max seconds %d, want %d", a.MaxSeconds, w.max)
			}
			if w.reserve >= 0 && a.Reserve != w.reserve {
				t.Errorf("reserve %d, want %d", a.Reserve, w.reserve)
			}
			if a.Emergency != tc.emergency {
				t.Errorf("emergency %v", a.Emergency)
			}
			if a.Allowed && a.Domestic != tc.domestic {
				t.Errorf("domestic %v", a.Domestic)
			}
			if a.Reason == ReasonPoolExhausted {
				if want := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC); !a.RetryAfter.Equal(want) {
					t.Errorf("retry after %v, want %v", a.RetryAfter, want)
				}
			} else if !a.RetryAfter.IsZero() {
				t.Errorf("retry after %v on %q", a.RetryAfter, a.Reason)
			}
			checkInvariants(t, ctx, &a)
		})
	}
}

// checkInvariants holds for every authorization.
func checkInvariants(t *testing.T, ctx *Context, a *Authorization) {
	t.Helper()
	if !a.Allowed {
		if a.MaxSeconds != 0 || a.Reserve != 0 || a.PoolHold != 0 || a.Reason == "" {
			t.Errorf("refusal grants something: %+v", a)
		}
		return
	}
	if a.MaxSeconds <= 0 || a.MaxSeconds > ctx.maxCall() || a.GrantedSeconds > a.MaxSeconds {
		t.Errorf("max %d granted %d", a.MaxSeconds, a.GrantedSeconds)
	}
	if a.Reserve < 0 || a.Reserve > 0 && a.Reserve > ctx.Available {
		t.Errorf("reserve %d of available %d", a.Reserve, ctx.Available)
	}
	if a.Outcome == payer.Free && (a.Reserve != 0 || a.PoolHold != 0) {
		t.Errorf("free call holds %d / %d s", a.Reserve, a.PoolHold)
	}
}

func confIn(p plans.Principal, caller, service string) *Call {
	c := call(payer.ConfIn, p, caller, service)
	c.Service = service
	return c
}

func ucapIn(p plans.Principal, caller, service string) *Call {
	c := call(payer.UcapIn, p, caller, service)
	c.Service = service
	return c
}

// drainTo uses pool k until left seconds remain.
func drainTo(ctx *Context, k plans.PoolKey, left int64) {
	p, _ := ctx.Pools.Get(k)
	p.UsedSeconds = p.TotalSeconds - left
	ctx.Pools.Set(k, p)
}

func TestInitialGrant(t *testing.T) {
	g := registry(t)
	ctx := tenant(g, 1000, usUser)
	dom := plans.DomesticPool("MCOPSTN1", "US")
	drainTo(ctx, dom, 90)
	c := call(payer.UserOut, usUser, usNum, usNum2)
	c.InitialSeconds = 300
	a := Authorize(ctx, c)
	// 90 pool seconds, then credits: 1000 cents buy the rest up to 4 h.
	if !a.Allowed || a.MaxSeconds != DefaultMaxCallSeconds || a.GrantedSeconds != 300 || a.PoolHold != 90 {
		t.Fatalf("%+v", a)
	}
	// 210 credit seconds on 60/60 at 1 cent/min, no fee: 240 s → 4 cents.
	if a.Reserve != 4 || a.StartsOnCredits {
		t.Errorf("reserve %d, starts on credits %v", a.Reserve, a.StartsOnCredits)
	}
}
