// Package directory is a tenant's configuration that calls are priced with (domain §1, §9):
// users and resource accounts with their usage location, licences, number and policies;
// the tenant's phone numbers (user numbers, toll and toll-free service numbers, the
// conferencing bridge); the billing country and the licences purchased.
//
// It is pure: a Directory changes only through Apply, which validates a command completely
// before touching anything (a refused command changes nothing) and returns the snapshots of
// what changed, for storage to write. No I/O, no clock.
package directory

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/numbers"
	"github.com/commcredits/commcredits/internal/plans"
)

// Kinds of principal.
const (
	KindUser            = "user"
	KindResourceAccount = "resource_account"
)

// Conference dial-out policies (domain §5).
const (
	DialOutAny         = "any"
	DialOutSameCountry = "same_country"
	DialOutZoneA       = "zone_a"
	DialOutNone        = "none"
)

// PSTN policies of users (domain §5).
const (
	PSTNInternational = "international" // international and domestic
	PSTNDomestic      = "domestic"
	PSTNNone          = "none"
)

// Number kinds and services.
const (
	NumberUser    = "user"    // assigned to a user
	NumberService = "service" // assigned to a resource account or the bridge

	ServiceToll     = "toll"
	ServiceTollFree = "toll_free"
)

// Bridge is the AssignedTo of the numbers of the tenant's conferencing bridge. No user or
// resource account may have this id.
const Bridge = "bridge"

// Limits on identifiers and names.
const (
	MaxIDLen   = 128
	MaxNameLen = 256
)

// User is a user or a resource account (Kind).
type User struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	UPN         string `json:"upn,omitempty"`
	Kind        string `json:"kind"`
	// UsageLocation is the ISO 3166 alpha-2 country that decides the user's pools and what
	// counts as domestic.
	UsageLocation string `json:"usage_location"`
	// Licences are the codes held, sorted and without duplicates.
	Licences []string `json:"licences"`
	// Number is the assigned number in E.164 without "+" ("442071838750"), or "".
	Number string `json:"number,omitempty"`
	// ConfDialOut is the conference dial-out policy as an organizer ("any" when empty in a
	// PutUser); PSTNPolicy the user's own outbound PSTN calls ("international" when empty).
	ConfDialOut string `json:"conf_dial_out"`
	PSTNPolicy  string `json:"pstn_policy"`
	// SpendLimit is the monthly credit spend limit in the tenant's minor unit; 0 = none.
	SpendLimit money.Amount `json:"spend_limit"`
	// TollFreeDialInDisabled: as a meeting organizer, toll-free dial-in is turned off.
	TollFreeDialInDisabled bool `json:"toll_free_dial_in_disabled,omitempty"`
}

// Principal returns u as far as pools and who-pays need it. Its licences are u's: do not
// modify them.
func (u *User) Principal() plans.Principal {
	return plans.Principal{ID: u.ID, Licences: u.Licences, UsageLocation: u.UsageLocation}
}

// Has reports whether u holds licence code.
func (u *User) Has(code string) bool {
	_, ok := slices.BinarySearch(u.Licences, code)
	return ok
}

func (u User) clone() User {
	u.Licences = slices.Clone(u.Licences)
	return u
}

// Number is a phone number the tenant holds.
type Number struct {
	// E164 is the number in E.164 without "+" (as numbers.Parse writes it).
	E164    string `json:"e164"`
	Country string `json:"country"`
	Kind    string `json:"kind"`              // "user" or "service"
	Service string `json:"service,omitempty"` // "toll" or "toll_free" for service numbers; "" for user numbers
	// AssignedTo is the user or resource account id, Bridge, or "" when unassigned.
	AssignedTo string `json:"assigned_to,omitempty"`
}

// Directory is one tenant's directory. Read it freely; change it only through Apply, which
// keeps its invariants: a number assigned to a principal is that principal's Number and the
// other way round, and every AssignedTo names an existing principal or the bridge.
type Directory struct {
	Tenant         string
	BillingCountry string
	Users          map[string]*User
	Numbers        map[string]*Number // by E164
	// PurchasedLicences counts licences bought per code (the dial-out pool's "purchased"
	// basis); codes with 0 are left out.
	PurchasedLicences map[string]int
	// Contacts get the billing emails; Webhooks get every event they filter for (§7).
	Contacts []Contact
	Webhooks map[string]*Webhook
}

// New returns an empty directory for tenant.
func New(tenant string) *Directory {
	return &Directory{Tenant: tenant, Users: map[string]*User{}, Numbers: map[string]*Number{}, PurchasedLicences: map[string]int{},
		Webhooks: map[string]*Webhook{}}
}

// Clone returns a deep copy of d.
func (d *Directory) Clone() *Directory {
	c := &Directory{Tenant: d.Tenant, BillingCountry: d.BillingCountry,
		Users: make(map[string]*User, len(d.Users)), Numbers: make(map[string]*Number, len(d.Numbers)),
		PurchasedLicences: maps.Clone(d.PurchasedLicences)}
	if c.PurchasedLicences == nil {
		c.PurchasedLicences = map[string]int{}
	}
	for id, u := range d.Users {
		v := u.clone()
		c.Users[id] = &v
	}
	for e, n := range d.Numbers {
		v := *n
		c.Numbers[e] = &v
	}
	c.Contacts = slices.Clone(d.Contacts)
	c.Webhooks = make(map[string]*Webhook, len(d.Webhooks))
	for id, w := range d.Webhooks {
		v := *w
		v.Events = slices.Clone(w.Events)
		c.Webhooks[id] = &v
	}
	return c
}

func (d *Directory) init() {
	if d.Users == nil {
		d.Users = map[string]*User{}
	}
	if d.Numbers == nil {
		d.Numbers = map[string]*Number{}
	}
	if d.PurchasedLicences == nil {
		d.PurchasedLicences = map[string]int{}
	}
	if d.Webhooks == nil {
		d.Webhooks = map[string]*Webhook{}
	}
}

// User returns the user or resource account id. The result is d's: do not modify it.
func (d *Directory) User(id string) (*User, bool) {
	u, ok := d.Users[id]
	return u, ok
}

// Number returns the tenant's number e164 ("+" optional). The result is d's: do not modify it.
func (d *Directory) Number(e164 string) (*Number, bool) {
	n, ok := d.Numbers[strings.TrimPrefix(e164, "+")]
	return n, ok
}

// UserByNumber returns the user or resource account that number e164 ("+" optional) is
// assigned to. The result is d's: do not modify it.
func (d *Directory) UserByNumber(e164 string) (*User, bool) {
	n, ok := d.Number(e164)
	if !ok || n.AssignedTo == "" || n.AssignedTo == Bridge {
		return nil, false
	}
	return d.User(n.AssignedTo)
}

// Bridge returns copies of the conferencing bridge's numbers, sorted by E164.
func (d *Directory) Bridge() []Number {
	var out []Number
	for _, n := range d.Numbers {
		if n.AssignedTo == Bridge {
			out = append(out, *n)
		}
	}
	slices.SortFunc(out, func(a, b Number) int { return strings.Compare(a.E164, b.E164) })
	return out
}

// Principals returns every user and resource account as plans.Principal, sorted by id, for
// pool sizing. The licence slices are d's: do not modify them.
func (d *Directory) Principals() []plans.Principal {
	out := make([]plans.Principal, 0, len(d.Users))
	for _, id := range slices.Sorted(maps.Keys(d.Users)) {
		out = append(out, d.Users[id].Principal())
	}
	return out
}

// SizeOptions returns the pool sizing options for basis with d's purchased licences.
func (d *Directory) SizeOptions(basis plans.Basis) plans.SizeOptions {
	return plans.SizeOptions{DialOutBasis: basis, Purchased: maps.Clone(d.PurchasedLicences)}
}

// Check verifies d's invariants; Apply keeps them, so an error means d was built or changed
// some other way (or read back from a damaged store).
func (d *Directory) Check() error {
	for id, u := range d.Users {
		if u.ID != id {
			return fmt.Errorf("directory: user under %q has id %q", id, u.ID)
		}
		if !slices.IsSorted(u.Licences) || len(slices.Compact(slices.Clone(u.Licences))) != len(u.Licences) {
			return fmt.Errorf("directory: user %q: licences not sorted and unique", id)
		}
		if u.Number != "" {
			n, ok := d.Numbers[u.Number]
			if !ok || n.AssignedTo != id {
				return fmt.Errorf("directory: user %q has number %q not assigned to it", id, u.Number)
			}
		}
	}
	for e, n := range d.Numbers {
		if n.E164 != e {
			return fmt.Errorf("directory: number under %q is %q", e, n.E164)
		}
		switch n.AssignedTo {
		case "":
		case Bridge:
			if n.Kind != NumberService {
				return fmt.Errorf("directory: user number %q on the bridge", e)
			}
		default:
			u, ok := d.Users[n.AssignedTo]
			if !ok {
				return fmt.Errorf("directory: number %q assigned to missing %q", e, n.AssignedTo)
			}
			if u.Number != e {
				return fmt.Errorf("directory: number %q assigned to %q whose number is %q", e, u.ID, u.Number)
			}
			if err := fits(n, u); err != nil {
				return fmt.Errorf("directory: number %q: %v", e, err)
			}
		}
	}
	return nil
}

// Errors callers test with errors.Is.
var (
	ErrInvalid         = errors.New("invalid")
	ErrNotFound        = errors.New("not found")
	ErrConflict        = errors.New("conflict")
	ErrCreditsNotSetUp = errors.New("credits not set up")
)

// Error is a refused command or a bad CSV line: the kind (one of the Err values above), the
// field path ("licences[1]", "users[3].usage_location") and what is wrong.
type Error struct {
	Err   error
	Line  int // the CSV line, or 0
	Field string
	Msg   string
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Field != "" {
		s = e.Field + ": " + s
	}
	if e.Line > 0 {
		s = fmt.Sprintf("line %d: %s", e.Line, s)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func errf(kind error, field, format string, args ...any) *Error {
	return &Error{Err: kind, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) *Error {
	return errf(ErrInvalid, field, format, args...)
}

// Env is what Apply needs besides the directory.
type Env struct {
	// Catalog validates licence codes; nil means plans.Default().
	Catalog *plans.Catalog
	// CreditsSetUp: the tenant has set up (funded) Communications Credits.
	CreditsSetUp bool
}

var defaultCatalog = sync.OnceValue(plans.Default)

func (e Env) catalog() *plans.Catalog {
	if e.Catalog != nil {
		return e.Catalog
	}
	return defaultCatalog()
}

// ValidCountry reports whether cc is an ISO 3166 alpha-2 code of a country with a telephone
// country code (libphonenumber's regions).
func ValidCountry(cc string) bool {
	return len(cc) == 2 && cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z' &&
		phonenumbers.GetCountryCodeForRegion(cc) != 0
}

func country(field, cc string) (string, *Error) {
	c := strings.ToUpper(strings.TrimSpace(cc))
	if c == "" {
		return "", invalid(field, "missing")
	}
	if !ValidCountry(c) {
		return "", invalid(field, "%q is not a country", cc)
	}
	return c, nil
}

// text checks a name: at most max bytes of valid UTF-8 without control characters.
func text(field, s string, max int) *Error {
	switch {
	case len(s) > max:
		return invalid(field, "longer than %d bytes", max)
	case !utf8.ValidString(s):
		return invalid(field, "not valid UTF-8")
	case strings.ContainsFunc(s, unicode.IsControl):
		return invalid(field, "contains a control character")
	}
	return nil
}

func principalID(field, id string) *Error {
	switch {
	case id == "":
		return invalid(field, "missing")
	case strings.TrimSpace(id) != id:
		return invalid(field, "%q has leading or trailing space", id)
	case id == Bridge:
		return invalid(field, "%q is reserved for the conferencing bridge", id)
	}
	return text(field, id, MaxIDLen)
}

// e164 parses a number as the tenant holds it: E.164 with or without "+", valid, with a country.
func e164(field, raw string) (numbers.Number, *Error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return numbers.Number{}, invalid(field, "missing")
	}
	if len(s) > numbers.MaxInputLen || strings.ContainsFunc(strings.TrimPrefix(s, "+"), func(r rune) bool { return r < '0' || r > '9' }) {
		return numbers.Number{}, invalid(field, "%q is not an E.164 number (digits with an optional +)", raw)
	}
	n, err := numbers.Parse("+"+strings.TrimPrefix(s, "+"), "")
	if err != nil {
		return numbers.Number{}, invalid(field, "%q is not a valid number", raw)
	}
	if n.Country == "" {
		return numbers.Number{}, invalid(field, "%q belongs to no country", raw)
	}
	return n, nil
}

// key returns the directory key of a number given in a command ("+" optional).
func key(field, raw string) (string, *Error) {
	s := strings.TrimPrefix(strings.TrimSpace(raw), "+")
	if s == "" {
		return "", invalid(field, "missing")
	}
	return s, nil
}

// licences validates codes (field is the list's path) and returns them sorted and unique.
func licences(cat *plans.Catalog, field string, codes []string, kind string) ([]string, *Error) {
	for i, c := range codes {
		if err := licence(cat, fmt.Sprintf("%s[%d]", field, i), c, kind); err != nil {
			return nil, err
		}
	}
	if len(codes) == 0 {
		return nil, nil
	}
	out := slices.Clone(codes)
	slices.Sort(out)
	return slices.Compact(out), nil
}

func licence(cat *plans.Catalog, field, code, kind string) *Error {
	switch k := cat.Kind(code); {
	case k == "":
		return invalid(field, "unknown licence %q", code)
	case k == plans.KindPseudo:
		return invalid(field, "%s is a pseudo-capability and cannot be assigned", code)
	case k == plans.KindVirtualUser && kind != KindResourceAccount:
		return invalid(field, "%s is for resource accounts only", code)
	}
	return nil
}

func dialOut(field, p string) (string, *Error) {
	switch p {
	case "":
		return DialOutAny, nil
	case DialOutAny, DialOutSameCountry, DialOutZoneA, DialOutNone:
		return p, nil
	}
	return "", invalid(field, "%q is not one of any, same_country, zone_a, none", p)
}

func pstn(field, p string) (string, *Error) {
	switch p {
	case "":
		return PSTNInternational, nil
	case PSTNInternational, PSTNDomestic, PSTNNone:
		return p, nil
	}
	return "", invalid(field, "%q is not one of international, domestic, none", p)
}

func spendLimit(field string, a money.Amount) *Error {
	if a < 0 || a > money.MaxAmount {
		return invalid(field, "%d out of range 0..%d", a, money.MaxAmount)
	}
	return nil
}

// fits says whether number n may be assigned to principal u.
func fits(n *Number, u *User) error {
	switch {
	case n.Kind == NumberUser && u.Kind != KindUser:
		return fmt.Errorf("user number %s cannot be assigned to resource account %q", n.E164, u.ID)
	case n.Kind == NumberService && u.Kind != KindResourceAccount:
		return fmt.Errorf("service number %s can be assigned only to a resource account or the bridge, not to user %q", n.E164, u.ID)
	}
	return nil
}
