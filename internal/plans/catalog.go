// Package plans holds the licence and plan catalog (domain §1) and the monthly minute pools a
// tenant's licences give it: sizing from the assigned licences and usage locations, and
// drawing seconds. Everything is a pure value: no I/O, no clock.
package plans

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Kind says what a licence does for rating and pools.
type Kind string

// Licence kinds.
const (
	KindPhoneSystem     Kind = "phone_system"     // MCOEV: needed before any calling plan
	KindVirtualUser     Kind = "virtual_user"     // MCOEV_VIRTUALUSER: resource-account phone licence
	KindCallingPlan     Kind = "calling_plan"     // minutes per user per month, pooled or per user
	KindPayAsYouGo      Kind = "pay_as_you_go"    // MCOPSTN_PAYG: every outbound minute from credits
	KindConferencing    Kind = "conferencing"     // MCOMEETADD: toll dial-in, Zone A dial-out minutes
	KindConferencingPPM Kind = "conferencing_ppm" // MCOMEETACPEA: every conference minute from credits
	KindCredits         Kind = "credits"          // MCOPSTNPP: may spend the tenant balance
	KindPseudo          Kind = "pseudo"           // FREECALL: reported on calls that could not be priced
)

var kinds = []Kind{KindPhoneSystem, KindVirtualUser, KindCallingPlan, KindPayAsYouGo, KindConferencing, KindConferencingPPM, KindCredits, KindPseudo}

// Licence codes of the default catalog that the engine refers to by name.
const (
	MCOPSTNPP = "MCOPSTNPP" // Communications Credits
	FREECALL  = "FREECALL"  // an unpriceable call, free
)

// Plan is one licence of the catalog.
type Plan struct {
	Code string `json:"code"`
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// PerUser: each holder has their own allotment (MCOPSTN8); otherwise holders with the same
	// usage location share a pool.
	PerUser bool `json:"per_user,omitempty"`
	// DomesticMinutes and InternationalMinutes: minutes per user per month, by usage location
	// (ISO 3166). A plan with both has its two pools capped together (see Pools.Available).
	DomesticMinutes      map[string]int64 `json:"domestic_minutes,omitempty"`
	InternationalMinutes map[string]int64 `json:"international_minutes,omitempty"`
	// DialOutMinutes: minutes per licence per month added to the tenant-wide Zone A
	// conference dial-out pool.
	DialOutMinutes int64 `json:"dial_out_minutes,omitempty"`
}

func (p Plan) clone() Plan {
	p.DomesticMinutes = maps.Clone(p.DomesticMinutes)
	p.InternationalMinutes = maps.Clone(p.InternationalMinutes)
	return p
}

// Catalog is an immutable set of plans plus the Zone A country list. Edits return a new
// Catalog, so one in use by pricing never changes underneath it.
type Catalog struct {
	plans []Plan // in precedence order: when a user holds several calling plans the first pays
	index map[string]int
	zoneA map[string]bool
}

type catalogJSON struct {
	ZoneA []string `json:"zone_a"`
	Plans []Plan   `json:"plans"`
}

//go:embed catalog.json
var defaultCatalog []byte

// Default returns the catalog of domain §1 shipped in catalog.json.
func Default() *Catalog {
	c, err := ParseCatalog(defaultCatalog)
	if err != nil {
		panic("plans: embedded catalog: " + err.Error())
	}
	return c
}

// ParseCatalog reads and validates a catalog in the JSON form of catalog.json.
func ParseCatalog(data []byte) (*Catalog, error) {
	var cj catalogJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cj); err != nil {
		return nil, fmt.Errorf("plans: catalog: %w", err)
	}
	return build(cj.Plans, cj.ZoneA)
}

func build(plans []Plan, zoneA []string) (*Catalog, error) {
	c := &Catalog{index: make(map[string]int, len(plans)), zoneA: make(map[string]bool, len(zoneA))}
	for _, cc := range zoneA {
		if !validCountry(cc) {
			return nil, fmt.Errorf("plans: Zone A country %q is not an ISO 3166 alpha-2 code", cc)
		}
		c.zoneA[cc] = true
	}
	for _, p := range plans {
		if err := validate(p); err != nil {
			return nil, err
		}
		if _, dup := c.index[p.Code]; dup {
			return nil, fmt.Errorf("plans: plan %s appears twice", p.Code)
		}
		c.index[p.Code] = len(c.plans)
		c.plans = append(c.plans, p.clone())
	}
	return c, nil
}

func validate(p Plan) error {
	if p.Code == "" || strings.TrimSpace(p.Code) != p.Code || strings.ToUpper(p.Code) != p.Code {
		return fmt.Errorf("plans: plan code %q must be upper case without spaces", p.Code)
	}
	if !slices.Contains(kinds, p.Kind) {
		return fmt.Errorf("plans: plan %s: unknown kind %q", p.Code, p.Kind)
	}
	if p.Kind != KindCallingPlan && (len(p.DomesticMinutes) > 0 || len(p.InternationalMinutes) > 0 || p.PerUser) {
		return fmt.Errorf("plans: plan %s: only calling plans carry calling minutes", p.Code)
	}
	if p.DialOutMinutes != 0 && p.Kind != KindConferencing || p.DialOutMinutes < 0 {
		return fmt.Errorf("plans: plan %s: only conferencing plans carry dial-out minutes", p.Code)
	}
	for _, m := range []map[string]int64{p.DomesticMinutes, p.InternationalMinutes} {
		for cc, min := range m {
			if !validCountry(cc) {
				return fmt.Errorf("plans: plan %s: %q is not an ISO 3166 alpha-2 code", p.Code, cc)
			}
			if min < 0 || min > maxMinutes {
				return fmt.Errorf("plans: plan %s: %d minutes for %s out of range", p.Code, min, cc)
			}
		}
	}
	return nil
}

const maxMinutes = 1_000_000

func validCountry(cc string) bool {
	return len(cc) == 2 && cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z'
}

// MarshalJSON writes the catalog in the form ParseCatalog reads.
func (c *Catalog) MarshalJSON() ([]byte, error) {
	return json.Marshal(catalogJSON{ZoneA: c.ZoneA(), Plans: c.Plans()})
}

// Plan returns the plan with code. Its maps are shared: do not modify them.
func (c *Catalog) Plan(code string) (Plan, bool) {
	i, ok := c.index[code]
	if !ok {
		return Plan{}, false
	}
	return c.plans[i], true
}

// Licence returns the plan with code and its rank in precedence order (lower pays first), in
// one lookup and without copying: the plan is shared, do not modify it.
func (c *Catalog) Licence(code string) (p *Plan, rank int, ok bool) {
	i, ok := c.index[code]
	if !ok {
		return nil, 0, false
	}
	return &c.plans[i], i, true
}

// Kind returns the kind of the licence code, "" when the catalog does not know it.
func (c *Catalog) Kind(code string) Kind {
	if i, ok := c.index[code]; ok {
		return c.plans[i].Kind
	}
	return ""
}

// Rank returns the code's place in precedence order (lower pays first) and whether it exists.
func (c *Catalog) Rank(code string) (int, bool) {
	i, ok := c.index[code]
	return i, ok
}

// Plans returns copies of every plan in precedence order.
func (c *Catalog) Plans() []Plan {
	out := make([]Plan, len(c.plans))
	for i, p := range c.plans {
		out[i] = p.clone()
	}
	return out
}

// InZoneA reports whether country is one of the Zone A dial-out countries.
func (c *Catalog) InZoneA(country string) bool { return c.zoneA[country] }

// ZoneA returns the Zone A countries, sorted.
func (c *Catalog) ZoneA() []string { return slices.Sorted(maps.Keys(c.zoneA)) }

// AddPlan returns a catalog with p added after the existing plans.
func (c *Catalog) AddPlan(p Plan) (*Catalog, error) {
	if _, dup := c.index[p.Code]; dup {
		return nil, fmt.Errorf("plans: plan %s already exists", p.Code)
	}
	return build(append(c.Plans(), p), c.ZoneA())
}

// Scope selects which minutes SetMinutes changes.
type Scope string

// Scopes.
const (
	Domestic      Scope = "domestic"
	International Scope = "international"
)

// SetMinutes returns a catalog where calling plan code gives minutes per user per month in
// scope for users with usage location country; 0 removes the country from the plan.
func (c *Catalog) SetMinutes(code string, scope Scope, country string, minutes int64) (*Catalog, error) {
	i, ok := c.index[code]
	if !ok {
		return nil, fmt.Errorf("plans: no plan %s", code)
	}
	ps := c.Plans()
	p := &ps[i]
	var m *map[string]int64
	switch scope {
	case Domestic:
		m = &p.DomesticMinutes
	case International:
		m = &p.InternationalMinutes
	default:
		return nil, fmt.Errorf("plans: unknown scope %q", scope)
	}
	if *m == nil {
		*m = map[string]int64{}
	}
	if minutes == 0 {
		delete(*m, country)
	} else {
		(*m)[country] = minutes
	}
	return build(ps, c.ZoneA())
}
