package plans

import (
	"encoding/json"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestDefaultCatalog(t *testing.T) {
	c := Default()
	for _, code := range []string{"MCOEV", "MCOEV_VIRTUALUSER", "MCOPSTN1", "MCOPSTN2", "MCOPSTN5", "MCOPSTN6", "MCOPSTN8",
		"MCOPSTN_PAYG", "MCOMEETADD", "MCOMEETACPEA", "MCOPSTNPP", "FREECALL"} {
		if _, ok := c.Plan(code); !ok {
			t.Errorf("default catalog lacks %s", code)
		}
	}
	cases := []struct {
		code, country string
		scope         Scope
		want          int64
	}{
		{"MCOPSTN1", "US", Domestic, 3000}, {"MCOPSTN1", "CA", Domestic, 3000}, {"MCOPSTN1", "PR", Domestic, 3000},
		{"MCOPSTN1", "DE", Domestic, 1200}, {"MCOPSTN1", "CH", Domestic, 1200}, {"MCOPSTN1", "JP", Domestic, 0},
		{"MCOPSTN1", "US", International, 0},
		{"MCOPSTN2", "US", Domestic, 3000}, {"MCOPSTN2", "FR", Domestic, 1200}, {"MCOPSTN2", "FR", International, 600},
		{"MCOPSTN5", "US", Domestic, 120}, {"MCOPSTN6", "US", Domestic, 240}, {"MCOPSTN8", "GB", Domestic, 0},
		{"MCOPSTN8", "US", Domestic, 120},
	}
	for _, tc := range cases {
		p, _ := c.Plan(tc.code)
		m := p.DomesticMinutes
		if tc.scope == International {
			m = p.InternationalMinutes
		}
		if m[tc.country] != tc.want {
			t.Errorf("%s %s %s = %d, want %d", tc.code, tc.scope, tc.country, m[tc.country], tc.want)
		}
	}
	eu := 0
	p1, _ := c.Plan("MCOPSTN1")
	for _, m := range p1.DomesticMinutes {
		if m == 1200 {
			eu++
		}
	}
	if eu != 13 {
		t.Errorf("%d countries at 1200 minutes, want the 13 of domain §1", eu)
	}
	if p8, _ := c.Plan("MCOPSTN8"); !p8.PerUser {
		t.Error("MCOPSTN8 is per user")
	}
	if p, _ := c.Plan("MCOMEETADD"); p.DialOutMinutes != 60 || p.Kind != KindConferencing {
		t.Errorf("MCOMEETADD: %+v", p)
	}
	if len(c.ZoneA()) != 44 || !c.InZoneA("PR") || !c.InZoneA("GB") || c.InZoneA("AE") {
		t.Errorf("Zone A: %d countries %v", len(c.ZoneA()), c.ZoneA())
	}
	if c.Kind("MCOPSTNPP") != KindCredits || c.Kind("NOPE") != "" {
		t.Error("Kind")
	}
	if r2, _ := c.Rank("MCOPSTN2"); r2 >= func() int { r, _ := c.Rank("MCOPSTN1"); return r }() {
		t.Error("MCOPSTN2 pays before MCOPSTN1 for a user holding both")
	}
}

func TestCatalogEdits(t *testing.T) {
	c := Default()
	c2, err := c.SetMinutes("MCOPSTN1", Domestic, "GB", 1200)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Plan("MCOPSTN1"); p.DomesticMinutes["GB"] != 0 {
		t.Error("SetMinutes changed the original catalog")
	}
	if p, _ := c2.Plan("MCOPSTN1"); p.DomesticMinutes["GB"] != 1200 {
		t.Error("SetMinutes did not set GB")
	}
	c3, err := c2.SetMinutes("MCOPSTN1", Domestic, "GB", 0)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := c3.Plan("MCOPSTN1"); len(p.DomesticMinutes) != 16 {
		t.Errorf("removing GB left %d countries", len(p.DomesticMinutes))
	}
	c4, err := c.AddPlan(Plan{Code: "MCOPSTN_JP", Name: "Japan 500", Kind: KindCallingPlan, DomesticMinutes: map[string]int64{"JP": 500}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Plan("MCOPSTN_JP"); ok {
		t.Error("AddPlan changed the original catalog")
	}
	if p, ok := c4.Plan("MCOPSTN_JP"); !ok || p.DomesticMinutes["JP"] != 500 {
		t.Error("AddPlan lost the plan")
	}
	bad := []struct {
		name string
		err  func() error
	}{
		{"duplicate", func() error { _, err := c.AddPlan(Plan{Code: "MCOEV", Kind: KindPhoneSystem}); return err }},
		{"lower case", func() error { _, err := c.AddPlan(Plan{Code: "mine", Kind: KindCredits}); return err }},
		{"kind", func() error { _, err := c.AddPlan(Plan{Code: "X", Kind: "magic"}); return err }},
		{"minutes on credits", func() error {
			_, err := c.AddPlan(Plan{Code: "X", Kind: KindCredits, DomesticMinutes: map[string]int64{"US": 1}})
			return err
		}},
		{"bad country", func() error { _, err := c.SetMinutes("MCOPSTN1", Domestic, "usa", 10); return err }},
		{"negative", func() error { _, err := c.SetMinutes("MCOPSTN1", Domestic, "US", -1); return err }},
		{"no plan", func() error { _, err := c.SetMinutes("NOPE", Domestic, "US", 1); return err }},
		{"scope", func() error { _, err := c.SetMinutes("MCOPSTN1", "zone", "US", 1); return err }},
		{"minutes on non-calling plan", func() error { _, err := c.SetMinutes("MCOEV", Domestic, "US", 1); return err }},
	}
	for _, b := range bad {
		if b.err() == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
	// The catalog round-trips through its JSON form (how storage will keep it).
	data, err := json.Marshal(c4)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseCatalog(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(back)
	if string(again) != string(data) {
		t.Error("catalog JSON does not round-trip")
	}
	if _, err := ParseCatalog([]byte(`{"plans":[],"zone_a":[],"extra":1}`)); err == nil {
		t.Error("unknown field accepted")
	}
}

func TestMonth(t *testing.T) {
	if m := MonthOf(time.Date(2026, 11, 30, 23, 30, 0, 0, time.FixedZone("x", -3600))); m != "2026-12" {
		t.Errorf("MonthOf uses UTC: %s", m)
	}
	s, e, err := Month("2026-12").Bounds()
	if err != nil || !s.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) || !e.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Bounds: %v %v %v", s, e, err)
	}
	if _, _, err := Month("2026-13").Bounds(); err == nil {
		t.Error("bad month accepted")
	}
}

func TestSize(t *testing.T) {
	principals := []Principal{
		{ID: "u1", Licences: []string{"MCOEV", "MCOPSTN1", "MCOPSTNPP"}, UsageLocation: "US"},
		{ID: "u2", Licences: []string{"MCOEV", "MCOPSTN1", "MCOPSTN1"}, UsageLocation: "PR"}, // shares the US pool; listed twice, counted once
		{ID: "u3", Licences: []string{"MCOEV", "MCOPSTN1"}, UsageLocation: "DE"},
		{ID: "u4", Licences: []string{"MCOEV", "MCOPSTN2", "MCOMEETADD"}, UsageLocation: "FR"},
		{ID: "u5", Licences: []string{"MCOEV", "MCOPSTN2", "MCOMEETADD"}, UsageLocation: "FR"},
		{ID: "u6", Licences: []string{"MCOEV", "MCOPSTN8"}, UsageLocation: "CA"},
		{ID: "u7", Licences: []string{"MCOEV", "MCOPSTN8"}, UsageLocation: "CA"},
		{ID: "u8", Licences: []string{"MCOEV", "MCOPSTN1"}, UsageLocation: "JP"}, // no minutes there: no pool
		{ID: "u9", Licences: []string{"MCOMEETADD", "UNKNOWN"}, UsageLocation: "JP"},
	}
	ps := Size(Default(), "2026-11", principals, SizeOptions{})
	want := map[PoolKey]int64{
		DomesticPool("MCOPSTN1", "US"):      2 * 3000 * 60,
		DomesticPool("MCOPSTN1", "DE"):      1200 * 60,
		DomesticPool("MCOPSTN2", "FR"):      2 * 1200 * 60,
		InternationalPool("MCOPSTN2", "FR"): 2 * 600 * 60,
		UserPool("MCOPSTN8", "u6"):          120 * 60,
		UserPool("MCOPSTN8", "u7"):          120 * 60,
		DialOutPool():                       3 * 60 * 60,
	}
	all := ps.All()
	if len(all) != len(want) {
		t.Errorf("%d pools, want %d: %+v", len(all), len(want), all)
	}
	for _, e := range all {
		if want[e.Key] != e.TotalSeconds || e.UsedSeconds != 0 {
			t.Errorf("pool %s: %+v, want total %d", e.Key, e.Pool, want[e.Key])
		}
	}
	if DomesticPool("MCOPSTN1", "PR") != DomesticPool("MCOPSTN1", "US") {
		t.Error("US and PR share one pool")
	}
	// Purchased basis: 10 purchased Audio Conferencing licences, whoever holds them.
	ps = Size(Default(), "2026-11", principals, SizeOptions{DialOutBasis: Purchased, Purchased: map[string]int{"MCOMEETADD": 10, "MCOEV": 5}})
	if p, _ := ps.Get(DialOutPool()); p.TotalSeconds != 10*60*60 {
		t.Errorf("purchased dial-out pool: %+v", p)
	}
}

func TestLinkedCap(t *testing.T) {
	dom, intl := DomesticPool("MCOPSTN2", "FR"), InternationalPool("MCOPSTN2", "FR")
	ps := NewPools("2026-11")
	ps.Set(dom, Pool{TotalSeconds: 1000})
	ps.Set(intl, Pool{TotalSeconds: 300})
	if got := ps.Draw(intl, 200); got != 200 {
		t.Fatalf("drew %d", got)
	}
	if got := ps.Available(dom); got != 1000 {
		t.Errorf("domestic available %d while international has seconds left", got)
	}
	if got := ps.Draw(intl, 500); got != 100 { // only what is left
		t.Fatalf("drew %d, want 100", got)
	}
	if got := ps.Available(dom); got != 0 {
		t.Errorf("international exhausted: domestic must be capped too, available %d", got)
	}
	if got := ps.Draw(dom, 10); got != 0 {
		t.Errorf("drew %d from a capped pool", got)
	}
	// And the other way round.
	ps.Set(intl, Pool{TotalSeconds: 300})
	ps.Set(dom, Pool{TotalSeconds: 1000, UsedSeconds: 1000})
	if got := ps.Available(intl); got != 0 {
		t.Errorf("domestic exhausted: international available %d", got)
	}
	// Pools of other kinds are not linked.
	ps.Set(UserPool("MCOPSTN8", "u"), Pool{TotalSeconds: 60})
	if ps.Available(UserPool("MCOPSTN8", "u")) != 60 || ps.Available(DialOutPool()) != 0 {
		t.Error("unlinked pools")
	}
}

func TestResize(t *testing.T) {
	k := DomesticPool("MCOPSTN1", "US")
	ps := NewPools("2026-11")
	ps.Set(k, Pool{TotalSeconds: 180000, UsedSeconds: 1000})
	ps.Set(DialOutPool(), Pool{TotalSeconds: 3600, UsedSeconds: 10})
	sized := NewPools("2026-11")
	sized.Set(k, Pool{TotalSeconds: 360000})
	sized.Set(UserPool("MCOPSTN8", "u"), Pool{TotalSeconds: 7200})
	ps.Resize(sized)
	for k, want := range map[PoolKey]Pool{
		k:                         {360000, 1000},
		DialOutPool():             {0, 10},
		UserPool("MCOPSTN8", "u"): {7200, 0},
	} {
		if got, _ := ps.Get(k); got != want {
			t.Errorf("%s: %+v, want %+v", k, got, want)
		}
	}
}

// TestDrawProperty: draws never exceed what is available, use never exceeds the total, and the
// seconds drawn add up to the use.
func TestDrawProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		dom, intl := DomesticPool("MCOPSTN2", "US"), InternationalPool("MCOPSTN2", "PR")
		keys := []PoolKey{dom, intl, DialOutPool()}
		ps := NewPools("2026-11")
		for _, k := range keys {
			ps.Set(k, Pool{TotalSeconds: rapid.Int64Range(0, 10_000).Draw(t, "total")})
		}
		drawn := map[PoolKey]int64{}
		for i := 0; i < rapid.IntRange(0, 50).Draw(t, "n"); i++ {
			k := rapid.SampledFrom(keys).Draw(t, "key")
			avail := ps.Available(k)
			got := ps.Draw(k, rapid.Int64Range(-5, 5_000).Draw(t, "seconds"))
			if got < 0 || got > avail {
				t.Fatalf("drew %d with %d available", got, avail)
			}
			drawn[k] += got
		}
		for _, k := range keys {
			p, _ := ps.Get(k)
			if p.UsedSeconds != drawn[k] || p.UsedSeconds > p.TotalSeconds {
				t.Fatalf("%s: %+v after drawing %d", k, p, drawn[k])
			}
		}
	})
}
