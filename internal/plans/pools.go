package plans

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Month is a calendar month in UTC, "2026-11". Pools reset on its first day.
type Month string

// MonthOf returns the UTC calendar month of t.
func MonthOf(t time.Time) Month { return Month(t.UTC().Format("2006-01")) }

// Bounds returns the month's first instant and the first instant of the next month (UTC).
func (m Month) Bounds() (start, end time.Time, err error) {
	start, err = time.Parse("2006-01", string(m))
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("plans: month %q: want YYYY-MM", m)
	}
	return start, start.AddDate(0, 1, 0), nil
}

// PoolKind names what a pool is for.
type PoolKind string

// Pool kinds (domain §1).
const (
	PoolDomestic      PoolKind = "domestic"      // a calling plan's domestic pool per usage country
	PoolInternational PoolKind = "international" // a D&I plan's international pool per usage country
	PoolDialOut       PoolKind = "dial_out"      // the tenant-wide Zone A conference dial-out pool
	PoolUser          PoolKind = "user"          // one user's own allotment (MCOPSTN8)
)

// PoolKey identifies a pool within a tenant and month. It is comparable.
type PoolKey struct {
	Kind    PoolKind
	Plan    string // licence code; "" for the dial-out pool
	Country string // pool country (PoolCountry of the usage location); "" for dial-out and user pools
	User    string // user id for PoolUser
}

func (k PoolKey) String() string {
	switch k.Kind {
	case "":
		return ""
	case PoolDialOut:
		return string(k.Kind)
	case PoolUser:
		return string(k.Kind) + "/" + k.Plan + "/" + k.User
	}
	return string(k.Kind) + "/" + k.Plan + "/" + k.Country
}

// PoolCountry maps a usage location to the country whose pool it draws from: US and PR users
// share one pool, kept under "US".
func PoolCountry(usage string) string {
	if usage == "PR" {
		return "US"
	}
	return usage
}

// DomesticPool is the key of plan's domestic pool for users with usage location usage.
func DomesticPool(plan, usage string) PoolKey {
	return PoolKey{Kind: PoolDomestic, Plan: plan, Country: PoolCountry(usage)}
}

// InternationalPool is the key of plan's international pool for users with usage location usage.
func InternationalPool(plan, usage string) PoolKey {
	return PoolKey{Kind: PoolInternational, Plan: plan, Country: PoolCountry(usage)}
}

// DialOutPool is the key of the tenant-wide Zone A conference dial-out pool.
func DialOutPool() PoolKey { return PoolKey{Kind: PoolDialOut} }

// UserPool is the key of user's own allotment of a per-user plan.
func UserPool(plan, user string) PoolKey { return PoolKey{Kind: PoolUser, Plan: plan, User: user} }

// linked returns the pool capped together with k: a plan's domestic and international pools
// of one country.
func (k PoolKey) linked() (PoolKey, bool) {
	switch k.Kind {
	case PoolDomestic:
		k.Kind = PoolInternational
	case PoolInternational:
		k.Kind = PoolDomestic
	default:
		return PoolKey{}, false
	}
	return k, true
}

// Pool is a pool's size and use for one month, in seconds.
type Pool struct {
	TotalSeconds int64
	UsedSeconds  int64
}

// Left returns the seconds not yet used (never negative).
func (p Pool) Left() int64 { return max(p.TotalSeconds-p.UsedSeconds, 0) }

// Principal is a user or resource account as far as pools and who-pays need it.
type Principal struct {
	ID            string
	Licences      []string // licence codes held (assigned)
	UsageLocation string   // ISO 3166 alpha-2
}

// Has reports whether the principal holds licence code.
func (p *Principal) Has(code string) bool {
	for _, l := range p.Licences {
		if l == code {
			return true
		}
	}
	return false
}

// Basis says which licences count towards the dial-out pool.
type Basis string

// Bases. Decision (domain §1): assigned licences, configurable to purchased.
const (
	Assigned  Basis = "assigned"
	Purchased Basis = "purchased"
)

// SizeOptions tune Size.
type SizeOptions struct {
	DialOutBasis Basis          // "" means Assigned
	Purchased    map[string]int // licences purchased per code, for DialOutBasis == Purchased
}

// Pools are one tenant's pools for one month. The zero value is not usable; use NewPools or
// Size. A Pools is not safe for concurrent use; the charging layer serialises per tenant.
type Pools struct {
	Month Month
	m     map[PoolKey]Pool
}

// NewPools returns empty pools for month (for restoring from storage with Set).
func NewPools(month Month) *Pools { return &Pools{Month: month, m: map[PoolKey]Pool{}} }

// Size computes the month's pools from the tenant's principals: for each calling plan, the
// sum of per-user minutes over its holders by pool country (US and PR together), a per-user
// pool for each holder of a per-user plan, and the dial-out pool of DialOutMinutes per
// conferencing licence (assigned, or purchased per opt). Pools of zero seconds are left out.
// A licence listed twice for one principal counts once.
func Size(cat *Catalog, month Month, principals []Principal, opt SizeOptions) *Pools {
	ps := NewPools(month)
	add := func(k PoolKey, minutes int64) {
		if minutes > 0 {
			p := ps.m[k]
			p.TotalSeconds += minutes * 60
			ps.m[k] = p
		}
	}
	for i := range principals {
		pr := &principals[i]
		for j, code := range pr.Licences {
			if slices.Contains(pr.Licences[:j], code) {
				continue
			}
			p, ok := cat.Plan(code)
			if !ok {
				continue
			}
			switch {
			case p.Kind == KindCallingPlan && p.PerUser:
				add(UserPool(code, pr.ID), p.DomesticMinutes[pr.UsageLocation])
			case p.Kind == KindCallingPlan:
				add(DomesticPool(code, pr.UsageLocation), p.DomesticMinutes[pr.UsageLocation])
				add(InternationalPool(code, pr.UsageLocation), p.InternationalMinutes[pr.UsageLocation])
			case p.Kind == KindConferencing && opt.DialOutBasis != Purchased:
				add(DialOutPool(), p.DialOutMinutes)
			}
		}
	}
	if opt.DialOutBasis == Purchased {
		for code, n := range opt.Purchased {
			if p, ok := cat.Plan(code); ok && p.Kind == KindConferencing && n > 0 {
				add(DialOutPool(), p.DialOutMinutes*int64(n))
			}
		}
	}
	return ps
}

// Resize takes the totals of sized (a fresh Size after licences changed mid-month) and keeps
// the seconds already used. Pools that no longer have a size keep their use with total 0.
func (ps *Pools) Resize(sized *Pools) {
	for k, p := range ps.m {
		p.TotalSeconds = sized.m[k].TotalSeconds
		ps.m[k] = p
	}
	for k, p := range sized.m {
		if _, ok := ps.m[k]; !ok {
			ps.m[k] = Pool{TotalSeconds: p.TotalSeconds}
		}
	}
}

// Set stores a pool as read back from storage.
func (ps *Pools) Set(k PoolKey, p Pool) { ps.m[k] = p }

// Get returns a pool and whether it exists.
func (ps *Pools) Get(k PoolKey) (Pool, bool) {
	p, ok := ps.m[k]
	return p, ok
}

// Available returns the seconds a call may draw from pool k now. A plan's domestic and
// international pools of one country are capped together (MCOPSTN2, domain §1): while both
// exist, a draw from either is possible only if neither is exhausted, and is bounded by the
// pool's own seconds left. So once the domestic pool is used up, international calls go to
// credits too even with international minutes left, and the other way round.
func (ps *Pools) Available(k PoolKey) int64 {
	_, n := ps.available(k)
	return n
}

func (ps *Pools) available(k PoolKey) (Pool, int64) {
	p, ok := ps.m[k]
	if !ok {
		return p, 0
	}
	if lk, ok := k.linked(); ok {
		if l, ok := ps.m[lk]; ok && l.Left() == 0 {
			return p, 0
		}
	}
	return p, p.Left()
}

// Draw uses up to seconds from pool k, never more than Available, and returns the seconds drawn.
func (ps *Pools) Draw(k PoolKey, seconds int64) int64 {
	if seconds <= 0 {
		return 0
	}
	p, avail := ps.available(k)
	n := min(seconds, avail)
	if n > 0 {
		p.UsedSeconds += n
		ps.m[k] = p
	}
	return n
}

// Entry is one pool with its key.
type Entry struct {
	Key PoolKey
	Pool
}

// All returns every pool, sorted by kind, plan, country and user.
func (ps *Pools) All() []Entry {
	out := make([]Entry, 0, len(ps.m))
	for k, p := range ps.m {
		out = append(out, Entry{k, p})
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Key.Kind, b.Key.Kind), cmp.Compare(a.Key.Plan, b.Key.Plan),
			cmp.Compare(a.Key.Country, b.Key.Country), cmp.Compare(a.Key.User, b.Key.User))
	})
	return out
}
