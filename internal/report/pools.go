package report

import (
	"context"
	"slices"
	"strings"

	"github.com/commcredits/commcredits/internal/plans"
)

// PoolsRequest asks for the minute pools of one calendar month (UTC); "" is now's month.
type PoolsRequest struct {
	Tenant string      `json:"tenant"`
	Month  plans.Month `json:"month,omitempty"`
}

// PoolRow is one pool of the month. Minutes are whole: used rounds up (a started minute is
// used), available rounds down; the exact seconds are given too. Held seconds belong to
// calls in progress and are not available.
type PoolRow struct {
	Key              string  `json:"key"` // domestic/MCOPSTN1/US, dial_out, user/MCOPSTN8/alice
	Country          string  `json:"country"`
	Capability       string  `json:"capability"`
	Description      string  `json:"description"`
	TotalMinutes     int64   `json:"total_minutes"`
	UsedMinutes      int64   `json:"used_minutes"`
	AvailableMinutes int64   `json:"available_minutes"`
	PercentUsed      float64 `json:"percent_used"` // one decimal
	TotalSeconds     int64   `json:"total_seconds"`
	UsedSeconds      int64   `json:"used_seconds"`
	HeldSeconds      int64   `json:"held_seconds"`
}

// PoolsReport is the minute pools report of a month.
type PoolsReport struct {
	Tenant string      `json:"tenant"`
	Month  plans.Month `json:"month"`
	Pools  []PoolRow   `json:"pools"`
}

// Pools lists every pool of the month: those the directory sizes now and those with use
// recorded. Sizes come from the licences as they are now (the store keeps use, not sizes),
// so a past month after licence changes shows today's totals.
func (e *Engine) Pools(ctx context.Context, req PoolsRequest) (*PoolsReport, error) {
	t, err := e.tenant(ctx, req.Tenant)
	if err != nil {
		return nil, err
	}
	m := req.Month
	if m == "" {
		m = plans.MonthOf(e.now())
	} else if _, _, err := m.Bounds(); err != nil {
		return nil, invalid("month", "%q: want YYYY-MM", string(m))
	}
	d, err := e.Store.ReportDirectory(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	use, err := e.Store.ReportPoolUsage(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	cat := e.catalog()
	sized := plans.Size(cat, m, d.Principals(), d.SizeOptions(e.DialOutBasis))
	type u struct{ used, held int64 }
	used := map[plans.PoolKey]u{}
	keys := []plans.PoolKey{}
	for _, p := range sized.All() {
		keys = append(keys, p.Key)
	}
	for _, r := range use {
		if r.Month != m {
			continue
		}
		if _, ok := sized.Get(r.Key); !ok {
			keys = append(keys, r.Key)
		}
		used[r.Key] = u{r.Used, r.Held}
	}
	slices.SortFunc(keys, func(a, b plans.PoolKey) int { return strings.Compare(a.String(), b.String()) })
	rep := &PoolsReport{Tenant: t.ID, Month: m, Pools: []PoolRow{}}
	for _, k := range keys {
		p, _ := sized.Get(k)
		x := used[k]
		row := PoolRow{Key: k.String(), Country: k.Country, Capability: k.Plan,
			TotalSeconds: p.TotalSeconds, UsedSeconds: x.used, HeldSeconds: x.held}
		var who string
		switch k.Kind {
		case plans.PoolDialOut:
			row.Capability = dialOutPlan(cat)
		case plans.PoolUser:
			if usr, ok := d.User(k.User); ok {
				row.Country, who = usr.UsageLocation, usr.DisplayName
			}
			if who == "" {
				who = k.User
			}
		}
		row.Description = describe(cat, k, who)
		avail := max(p.TotalSeconds-x.used-x.held, 0)
		row.TotalMinutes, row.UsedMinutes, row.AvailableMinutes = p.TotalSeconds/60, (x.used+59)/60, avail/60
		row.PercentUsed = percent(x.used, p.TotalSeconds)
		rep.Pools = append(rep.Pools, row)
	}
	return rep, nil
}

// percent is used/total in percent with one decimal, rounded half up; 100 when a pool that
// no longer has a size was used.
func percent(used, total int64) float64 {
	switch {
	case total <= 0 && used > 0:
		return 100
	case total <= 0:
		return 0
	}
	return float64((used*1000+total/2)/total) / 10
}

func dialOutPlan(cat *plans.Catalog) string {
	for _, p := range cat.Plans() {
		if p.Kind == plans.KindConferencing && p.DialOutMinutes > 0 {
			return p.Code
		}
	}
	return ""
}

func describe(cat *plans.Catalog, k plans.PoolKey, who string) string {
	name := k.Plan
	if p, ok := cat.Plan(k.Plan); ok && p.Name != "" {
		name = p.Name
	}
	switch k.Kind {
	case plans.PoolDomestic:
		where := "users in " + k.Country
		if k.Country == "US" {
			where = "users in US and PR"
		}
		return name + ": domestic minutes, " + where
	case plans.PoolInternational:
		return name + ": international minutes, users in " + k.Country
	case plans.PoolDialOut:
		return "Audio Conferencing dial-out minutes to Zone A, tenant-wide"
	case plans.PoolUser:
		return name + ": own minutes of " + who
	}
	return name
}
