package directory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/numbers"
	"github.com/commcredits/commcredits/internal/plans"
)

// Command is one directory change. The concrete types below are the whole set.
type Command interface{ Name() string }

// SetBillingCountry sets the tenant's billing country (ISO 3166 alpha-2).
type SetBillingCountry struct {
	Country string `json:"country"`
}

// PutUser creates a user or resource account, or replaces one with all fields. Empty
// policies mean "any" and "international"; the usage location is upper-cased; licences are
// sorted and deduplicated. A Number must be one the tenant holds, free or already this
// principal's, of a fitting kind; a number the principal held before and no longer names
// is unassigned.
type PutUser struct {
	User
}

// DeleteUser deletes a user or resource account; its number, if any, becomes unassigned.
type DeleteUser struct {
	UserID string `json:"user_id"`
}

// AssignLicences adds and removes licences for every listed principal, all or nothing.
// Adding a licence held already and removing one not held are no-ops.
type AssignLicences struct {
	UserIDs []string `json:"user_ids"`
	Add     []string `json:"add,omitempty"`
	Remove  []string `json:"remove,omitempty"`
}

// LicenceRow is one principal's licence change, as a line of a licence CSV reads.
type LicenceRow struct {
	Line   int      `json:"line,omitempty"` // the CSV line, for error messages; 0 when none
	UserID string   `json:"user_id"`
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// AssignLicenceRows applies rows (from ParseLicenceCSV) in order as one command, all or
// nothing. Errors name the row's CSV line when it has one ("line 4: add[0]: unknown licence").
type AssignLicenceRows struct {
	Rows []LicenceRow `json:"rows"`
}

// SetUsageLocation sets a principal's usage location (ISO 3166 alpha-2).
type SetUsageLocation struct {
	UserID  string `json:"user_id"`
	Country string `json:"country"`
}

// SetPolicies sets a principal's conference dial-out and PSTN policies and, when given, its
// monthly spend limit (as SetSpendLimit), all or none; nil leaves one as is.
type SetPolicies struct {
	UserID      string        `json:"user_id"`
	ConfDialOut *string       `json:"conf_dial_out,omitempty"`
	PSTN        *string       `json:"pstn,omitempty"`
	SpendLimit  *money.Amount `json:"spend_limit,omitempty"`
}

// SetSpendLimit sets a principal's monthly credit spend limit (minor units; 0 = none).
type SetSpendLimit struct {
	UserID string       `json:"user_id"`
	Limit  money.Amount `json:"limit"`
}

// SetTollFreeDialIn turns toll-free dial-in off (Disabled) or on for a meeting organizer's
// meetings. Organizers are users, not resource accounts.
type SetTollFreeDialIn struct {
	OrganizerID string `json:"organizer_id"`
	Disabled    bool   `json:"disabled"`
}

// AcquireNumber adds a number to the tenant: a user number (Service ""), or a service number
// with Service "toll" or "toll_free". A toll-free number must be one (by its digits) and
// needs credits set up (ErrCreditsNotSetUp); a toll number must not be toll-free.
type AcquireNumber struct {
	E164    string `json:"e164"`
	Kind    string `json:"kind"`
	Service string `json:"service,omitempty"`
}

// AssignNumber assigns a free number: a user number to a user, a service number to a
// resource account or to the bridge (To = "bridge"). A principal holds one number; the
// bridge holds any number of them. Assigning a number to whom it is assigned is a no-op.
type AssignNumber struct {
	E164 string `json:"e164"`
	To   string `json:"to"`
}

// UnassignNumber takes a number from its principal or the bridge; a free number is a no-op.
type UnassignNumber struct {
	E164 string `json:"e164"`
}

// ReleaseNumber gives a free number back; an assigned one is refused (ErrConflict).
type ReleaseNumber struct {
	E164 string `json:"e164"`
}

// SetPurchasedLicences records how many licences of Code the tenant bought (0 forgets it).
type SetPurchasedLicences struct {
	Code  string `json:"code"`
	Count int    `json:"count"`
}

// MaxPurchased bounds SetPurchasedLicences.Count.
const MaxPurchased = 10_000_000

func (SetBillingCountry) Name() string    { return "set_billing_country" }
func (PutUser) Name() string              { return "put_user" }
func (DeleteUser) Name() string           { return "delete_user" }
func (AssignLicences) Name() string       { return "assign_licences" }
func (AssignLicenceRows) Name() string    { return "assign_licence_rows" }
func (SetUsageLocation) Name() string     { return "set_usage_location" }
func (SetPolicies) Name() string          { return "set_policies" }
func (SetSpendLimit) Name() string        { return "set_spend_limit" }
func (SetTollFreeDialIn) Name() string    { return "set_toll_free_dial_in" }
func (AcquireNumber) Name() string        { return "acquire_number" }
func (AssignNumber) Name() string         { return "assign_number" }
func (UnassignNumber) Name() string       { return "unassign_number" }
func (ReleaseNumber) Name() string        { return "release_number" }
func (SetPurchasedLicences) Name() string { return "set_purchased_licences" }

var commandTypes = map[string]func() Command{
	"set_billing_country":    func() Command { return &SetBillingCountry{} },
	"put_user":               func() Command { return &PutUser{} },
	"delete_user":            func() Command { return &DeleteUser{} },
	"assign_licences":        func() Command { return &AssignLicences{} },
	"assign_licence_rows":    func() Command { return &AssignLicenceRows{} },
	"set_usage_location":     func() Command { return &SetUsageLocation{} },
	"set_policies":           func() Command { return &SetPolicies{} },
	"set_spend_limit":        func() Command { return &SetSpendLimit{} },
	"set_toll_free_dial_in":  func() Command { return &SetTollFreeDialIn{} },
	"acquire_number":         func() Command { return &AcquireNumber{} },
	"assign_number":          func() Command { return &AssignNumber{} },
	"unassign_number":        func() Command { return &UnassignNumber{} },
	"release_number":         func() Command { return &ReleaseNumber{} },
	"set_purchased_licences": func() Command { return &SetPurchasedLicences{} },
}

// Decode reads the JSON of the command called name (its Name()); unknown fields are errors.
// It returns the command as a value, as Apply takes it.
func Decode(name string, data []byte) (Command, error) {
	mk, ok := commandTypes[name]
	if !ok {
		return nil, invalid("", "unknown command %q", name)
	}
	p := mk()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, invalid("", "%s: %v", name, err)
	}
	return deref(p), nil
}

// deref turns a pointer to a command into the command value.
func deref(c Command) Command {
	if v := reflect.ValueOf(c); v.Kind() == reflect.Pointer && !v.IsNil() {
		if e, ok := v.Elem().Interface().(Command); ok {
			return e
		}
	}
	return c
}

// Changes are the snapshots, after a command, of what it changed: storage writes these and
// nothing else. Settings means the billing country or the purchased licences changed (the
// directory's current values are written).
type Changes struct {
	Users          []User   `json:"users,omitempty"`
	DeletedUsers   []string `json:"deleted_users,omitempty"`
	Numbers        []Number `json:"numbers,omitempty"`
	DeletedNumbers []string `json:"deleted_numbers,omitempty"`
	Settings       bool     `json:"settings,omitempty"`
	// Notify: the billing contacts or webhooks changed (storage rewrites the tenant's).
	Notify bool `json:"notify,omitempty"`
}

// Empty reports whether c changes nothing.
func (c *Changes) Empty() bool {
	return len(c.Users) == 0 && len(c.DeletedUsers) == 0 && len(c.Numbers) == 0 && len(c.DeletedNumbers) == 0 && !c.Settings && !c.Notify
}

// Merge folds o, the changes of a later command, into c: the latest snapshot of a user or
// number wins, a delete cancels an earlier put and a put an earlier delete. A batch of
// commands is written as the merge of their changes.
func (c *Changes) Merge(o Changes) {
	if len(o.Users) > 0 || len(o.DeletedUsers) > 0 {
		c.Users, c.DeletedUsers = merge(c.Users, c.DeletedUsers, o.Users, o.DeletedUsers, func(u User) string { return u.ID }, User.clone)
	}
	if len(o.Numbers) > 0 || len(o.DeletedNumbers) > 0 {
		c.Numbers, c.DeletedNumbers = merge(c.Numbers, c.DeletedNumbers, o.Numbers, o.DeletedNumbers,
			func(n Number) string { return n.E164 }, func(n Number) Number { return n })
	}
	c.Settings = c.Settings || o.Settings
	c.Notify = c.Notify || o.Notify
}

// merge folds the later puts and deletes (disjoint, as one command's are; a delete wins
// otherwise) into the earlier ones, keeping first-seen order.
func merge[T any](puts []T, dels []string, later []T, laterDels []string, key func(T) string, cp func(T) T) ([]T, []string) {
	gone := make(map[string]bool, len(laterDels))
	for _, k := range laterDels {
		gone[k] = true
	}
	out := make([]T, 0, len(puts)+len(later))
	at := make(map[string]int, len(puts)+len(later))
	for _, v := range puts {
		if k := key(v); !gone[k] {
			at[k] = len(out)
			out = append(out, v)
		}
	}
	put := make(map[string]bool, len(later))
	for _, v := range later {
		k := key(v)
		if gone[k] {
			continue
		}
		put[k] = true
		if i, ok := at[k]; ok {
			out[i] = cp(v)
		} else {
			at[k] = len(out)
			out = append(out, cp(v))
		}
	}
	outDels := make([]string, 0, len(dels)+len(laterDels))
	seen := make(map[string]bool, len(dels)+len(laterDels))
	for _, k := range slices.Concat(dels, laterDels) {
		if !put[k] && !seen[k] {
			seen[k] = true
			outDels = append(outDels, k)
		}
	}
	if len(out) == 0 {
		out = nil
	}
	if len(outDels) == 0 {
		outDels = nil
	}
	return out, outDels
}

// Apply validates cmd against d and env and, if it is accepted, applies it to d and returns
// what changed. A refused command returns an *Error wrapping ErrInvalid, ErrNotFound,
// ErrConflict or ErrCreditsNotSetUp and leaves d exactly as it was. Pointers to commands are
// accepted too.
func Apply(d *Directory, cmd Command, env Env) (Changes, error) {
	d.init()
	a := applier{d: d, cat: env.catalog(), env: env}
	var err *Error
	switch c := deref(cmd).(type) {
	case SetBillingCountry:
		err = a.setBillingCountry(c)
	case PutUser:
		err = a.putUser(c)
	case DeleteUser:
		err = a.deleteUser(c)
	case AssignLicences:
		err = a.assignLicences(c)
	case AssignLicenceRows:
		err = a.assignLicenceRows(c)
	case SetUsageLocation:
		err = a.setUsageLocation(c)
	case SetPolicies:
		err = a.setPolicies(c)
	case SetSpendLimit:
		err = a.setSpendLimit(c)
	case SetTollFreeDialIn:
		err = a.setTollFreeDialIn(c)
	case AcquireNumber:
		err = a.acquireNumber(c)
	case AssignNumber:
		err = a.assignNumber(c)
	case UnassignNumber:
		err = a.unassignNumber(c)
	case ReleaseNumber:
		err = a.releaseNumber(c)
	case SetPurchasedLicences:
		err = a.setPurchasedLicences(c)
	case PutBillingContact:
		err = a.putBillingContact(c)
	case RemoveBillingContact:
		err = a.removeBillingContact(c)
	case PutWebhook:
		err = a.putWebhook(c)
	case DeleteWebhook:
		err = a.deleteWebhook(c)
	default:
		err = invalid("", "unknown command %T", cmd)
	}
	if err != nil {
		return Changes{}, err
	}
	return a.ch, nil
}

// applier validates first and mutates after; its helpers record snapshots in ch.
type applier struct {
	d   *Directory
	cat *plans.Catalog
	env Env
	ch  Changes
	// where each touched user and number is in ch
	users, nums map[string]int
}

// touchUser records u's current state as its snapshot in the changes.
func (a *applier) touchUser(u *User) {
	if i, ok := a.users[u.ID]; ok {
		a.ch.Users[i] = u.clone()
		return
	}
	if a.users == nil {
		a.users = map[string]int{}
	}
	a.users[u.ID] = len(a.ch.Users)
	a.ch.Users = append(a.ch.Users, u.clone())
}

// touchNumber records n's current state as its snapshot in the changes.
func (a *applier) touchNumber(n *Number) {
	if i, ok := a.nums[n.E164]; ok {
		a.ch.Numbers[i] = *n
		return
	}
	if a.nums == nil {
		a.nums = map[string]int{}
	}
	a.nums[n.E164] = len(a.ch.Numbers)
	a.ch.Numbers = append(a.ch.Numbers, *n)
}

func (a *applier) user(field, id string) (*User, *Error) {
	if id == "" {
		return nil, invalid(field, "missing")
	}
	u, ok := a.d.Users[id]
	if !ok {
		return nil, errf(ErrNotFound, field, "no user or resource account %q", id)
	}
	return u, nil
}

func (a *applier) number(field, raw string) (*Number, *Error) {
	k, err := key(field, raw)
	if err != nil {
		return nil, err
	}
	n, ok := a.d.Numbers[k]
	if !ok {
		return nil, errf(ErrNotFound, field, "the tenant holds no number %q", raw)
	}
	return n, nil
}

func (a *applier) setBillingCountry(c SetBillingCountry) *Error {
	cc, err := country("country", c.Country)
	if err != nil {
		return err
	}
	if a.d.BillingCountry != cc {
		a.d.BillingCountry = cc
		a.ch.Settings = true
	}
	return nil
}

func (a *applier) putUser(c PutUser) *Error {
	u := c.User.clone()
	if err := principalID("id", u.ID); err != nil {
		return err
	}
	if err := text("display_name", u.DisplayName, MaxNameLen); err != nil {
		return err
	}
	if err := text("upn", u.UPN, MaxNameLen); err != nil {
		return err
	}
	if u.UPN != "" && strings.Count(u.UPN, "@") != 1 {
		return invalid("upn", "%q is not of the form name@domain", u.UPN)
	}
	if u.Kind != KindUser && u.Kind != KindResourceAccount {
		return invalid("kind", "%q is not one of user, resource_account", u.Kind)
	}
	var err *Error
	if u.UsageLocation, err = country("usage_location", u.UsageLocation); err != nil {
		return err
	}
	if u.Licences, err = licences(a.cat, "licences", u.Licences, u.Kind); err != nil {
		return err
	}
	if u.ConfDialOut, err = dialOut("conf_dial_out", u.ConfDialOut); err != nil {
		return err
	}
	if u.PSTNPolicy, err = pstn("pstn_policy", u.PSTNPolicy); err != nil {
		return err
	}
	if err := spendLimit("spend_limit", u.SpendLimit); err != nil {
		return err
	}
	old := a.d.Users[u.ID]
	var n *Number
	if u.Number != "" {
		if n, err = a.number("number", u.Number); err != nil {
			return err
		}
		u.Number = n.E164
		if n.AssignedTo != "" && n.AssignedTo != u.ID {
			return errf(ErrConflict, "number", "%s is assigned to %q", n.E164, n.AssignedTo)
		}
		if e := fits(n, &u); e != nil {
			return errf(ErrConflict, "number", "%v", e)
		}
	}
	// Accepted: mutate.
	if old != nil && old.Number != "" && old.Number != u.Number {
		if on := a.d.Numbers[old.Number]; on != nil {
			on.AssignedTo = ""
			a.touchNumber(on)
		}
	}
	if n != nil && n.AssignedTo != u.ID {
		n.AssignedTo = u.ID
		a.touchNumber(n)
	}
	if old == nil || !equalUser(old, &u) {
		a.d.Users[u.ID] = &u
		a.touchUser(&u)
	}
	return nil
}

func equalUser(a, b *User) bool {
	return a.ID == b.ID && a.DisplayName == b.DisplayName && a.UPN == b.UPN && a.Kind == b.Kind &&
		a.UsageLocation == b.UsageLocation && slices.Equal(a.Licences, b.Licences) && a.Number == b.Number &&
		a.ConfDialOut == b.ConfDialOut && a.PSTNPolicy == b.PSTNPolicy && a.SpendLimit == b.SpendLimit &&
		a.TollFreeDialInDisabled == b.TollFreeDialInDisabled
}

func (a *applier) deleteUser(c DeleteUser) *Error {
	u, err := a.user("user_id", c.UserID)
	if err != nil {
		return err
	}
	if n := a.d.Numbers[u.Number]; u.Number != "" && n != nil {
		n.AssignedTo = ""
		a.touchNumber(n)
	}
	delete(a.d.Users, u.ID)
	a.ch.DeletedUsers = append(a.ch.DeletedUsers, u.ID)
	return nil
}

// licenceEdit validates one add/remove change for the users at field paths prefix+"user_ids[i]"
// (or prefix+"user_id"), against the licence sets staged so far, and stages the result.
func (a *applier) licenceEdit(staged map[string][]string, line int, prefix string, ids []string, idField func(int) string, add, remove []string) *Error {
	at := func(e *Error) *Error {
		if line > 0 {
			e.Line = line
		} else {
			e.Field = prefix + e.Field
		}
		return e
	}
	if len(ids) == 0 {
		return at(invalid(idField(-1), "missing"))
	}
	if len(add) == 0 && len(remove) == 0 {
		return at(invalid("add", "nothing to add or remove"))
	}
	users := make([]*User, len(ids))
	for i, id := range ids {
		u, err := a.user(idField(i), id)
		if err != nil {
			return at(err)
		}
		users[i] = u
	}
	for i, code := range add {
		f := fmt.Sprintf("add[%d]", i)
		if a.cat.Kind(code) == plans.KindVirtualUser {
			for j, u := range users {
				if u.Kind != KindResourceAccount {
					return at(invalid(f, "%s is for resource accounts only; %s %q is a user", code, idField(j), u.ID))
				}
			}
		}
		if err := licence(a.cat, f, code, KindResourceAccount); err != nil {
			return at(err)
		}
	}
	for i, code := range remove {
		f := fmt.Sprintf("remove[%d]", i)
		if slices.Contains(add, code) {
			return at(invalid(f, "%s is also in add", code))
		}
		if a.cat.Kind(code) == "" && !slices.ContainsFunc(users, func(u *User) bool { return slices.Contains(held(staged, u), code) }) {
			return at(invalid(f, "unknown licence %q", code))
		}
	}
	for _, u := range users {
		set := slices.Clone(held(staged, u))
		set = slices.DeleteFunc(set, func(c string) bool { return slices.Contains(remove, c) })
		set = append(set, add...)
		slices.Sort(set)
		if set = slices.Compact(set); len(set) == 0 {
			set = nil // no licences is always nil, as storage reads it back
		}
		staged[u.ID] = set
	}
	return nil
}

func held(staged map[string][]string, u *User) []string {
	if s, ok := staged[u.ID]; ok {
		return s
	}
	return u.Licences
}

func (a *applier) commitLicences(staged map[string][]string) {
	ids := make([]string, 0, len(staged))
	for id := range staged {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		u := a.d.Users[id]
		if !slices.Equal(u.Licences, staged[id]) {
			u.Licences = staged[id]
			a.touchUser(u)
		}
	}
}

func (a *applier) assignLicences(c AssignLicences) *Error {
	staged := map[string][]string{}
	idField := func(i int) string {
		if i < 0 {
			return "user_ids"
		}
		return fmt.Sprintf("user_ids[%d]", i)
	}
	if err := a.licenceEdit(staged, 0, "", c.UserIDs, idField, c.Add, c.Remove); err != nil {
		return err
	}
	a.commitLicences(staged)
	return nil
}

func (a *applier) assignLicenceRows(c AssignLicenceRows) *Error {
	if len(c.Rows) == 0 {
		return invalid("rows", "missing")
	}
	staged := map[string][]string{}
	idField := func(int) string { return "user_id" }
	for i, r := range c.Rows {
		if err := a.licenceEdit(staged, r.Line, fmt.Sprintf("rows[%d].", i), []string{r.UserID}, idField, r.Add, r.Remove); err != nil {
			return err
		}
	}
	a.commitLicences(staged)
	return nil
}

func (a *applier) setUsageLocation(c SetUsageLocation) *Error {
	u, err := a.user("user_id", c.UserID)
	if err != nil {
		return err
	}
	cc, err := country("usage_location", c.Country)
	if err != nil {
		return err
	}
	if u.UsageLocation != cc {
		u.UsageLocation = cc
		a.touchUser(u)
	}
	return nil
}

func (a *applier) setPolicies(c SetPolicies) *Error {
	u, err := a.user("user_id", c.UserID)
	if err != nil {
		return err
	}
	conf, p := u.ConfDialOut, u.PSTNPolicy
	if c.ConfDialOut != nil {
		if *c.ConfDialOut == "" {
			return invalid("conf_dial_out", "empty")
		}
		if conf, err = dialOut("conf_dial_out", *c.ConfDialOut); err != nil {
			return err
		}
	}
	if c.PSTN != nil {
		if *c.PSTN == "" {
			return invalid("pstn", "empty")
		}
		if p, err = pstn("pstn", *c.PSTN); err != nil {
			return err
		}
	}
	limit := u.SpendLimit
	if c.SpendLimit != nil {
		if err := spendLimit("spend_limit", *c.SpendLimit); err != nil {
			return err
		}
		limit = *c.SpendLimit
	}
	if conf != u.ConfDialOut || p != u.PSTNPolicy || limit != u.SpendLimit {
		u.ConfDialOut, u.PSTNPolicy, u.SpendLimit = conf, p, limit
		a.touchUser(u)
	}
	return nil
}

func (a *applier) setSpendLimit(c SetSpendLimit) *Error {
	u, err := a.user("user_id", c.UserID)
	if err != nil {
		return err
	}
	if err := spendLimit("limit", c.Limit); err != nil {
		return err
	}
	if u.SpendLimit != c.Limit {
		u.SpendLimit = c.Limit
		a.touchUser(u)
	}
	return nil
}

func (a *applier) setTollFreeDialIn(c SetTollFreeDialIn) *Error {
	u, err := a.user("organizer_id", c.OrganizerID)
	if err != nil {
		return err
	}
	if u.Kind != KindUser {
		return invalid("organizer_id", "%q is a resource account; meetings have users as organizers", u.ID)
	}
	if u.TollFreeDialInDisabled != c.Disabled {
		u.TollFreeDialInDisabled = c.Disabled
		a.touchUser(u)
	}
	return nil
}

func (a *applier) acquireNumber(c AcquireNumber) *Error {
	p, err := e164("e164", c.E164)
	if err != nil {
		return err
	}
	switch c.Kind {
	case NumberUser:
		if c.Service != "" {
			return invalid("service", "a user number has no service; got %q", c.Service)
		}
		if p.Type == numbers.TollFree {
			return invalid("e164", "%s is a toll-free number; acquire it as a toll_free service number", p.E164)
		}
	case NumberService:
		switch c.Service {
		case ServiceToll:
			if p.Type == numbers.TollFree {
				return invalid("service", "%s is a toll-free number, not toll", p.E164)
			}
		case ServiceTollFree:
			if p.Type != numbers.TollFree {
				return invalid("service", "%s is not a toll-free number", p.E164)
			}
		default:
			return invalid("service", "%q is not one of toll, toll_free", c.Service)
		}
	default:
		return invalid("kind", "%q is not one of user, service", c.Kind)
	}
	if _, ok := a.d.Numbers[p.E164]; ok {
		return errf(ErrConflict, "e164", "the tenant holds %s already", p.E164)
	}
	if c.Service == ServiceTollFree && !a.env.CreditsSetUp {
		return errf(ErrCreditsNotSetUp, "service", "toll-free numbers need Communications Credits set up first")
	}
	n := &Number{E164: p.E164, Country: p.Country, Kind: c.Kind, Service: c.Service}
	a.d.Numbers[n.E164] = n
	a.touchNumber(n)
	return nil
}

func (a *applier) assignNumber(c AssignNumber) *Error {
	n, err := a.number("e164", c.E164)
	if err != nil {
		return err
	}
	if c.To == "" {
		return invalid("to", "missing")
	}
	if n.AssignedTo == c.To {
		return nil
	}
	if n.AssignedTo != "" {
		return errf(ErrConflict, "e164", "%s is assigned to %q already", n.E164, n.AssignedTo)
	}
	if c.To == Bridge {
		if n.Kind != NumberService {
			return errf(ErrConflict, "to", "user number %s cannot be a bridge number", n.E164)
		}
		n.AssignedTo = Bridge
		a.touchNumber(n)
		return nil
	}
	u, err := a.user("to", c.To)
	if err != nil {
		return err
	}
	if e := fits(n, u); e != nil {
		return errf(ErrConflict, "to", "%v", e)
	}
	if u.Number != "" {
		return errf(ErrConflict, "to", "%q has number %s already", u.ID, u.Number)
	}
	n.AssignedTo, u.Number = u.ID, n.E164
	a.touchNumber(n)
	a.touchUser(u)
	return nil
}

func (a *applier) unassignNumber(c UnassignNumber) *Error {
	n, err := a.number("e164", c.E164)
	if err != nil {
		return err
	}
	if n.AssignedTo == "" {
		return nil
	}
	if u := a.d.Users[n.AssignedTo]; n.AssignedTo != Bridge && u != nil {
		u.Number = ""
		a.touchUser(u)
	}
	n.AssignedTo = ""
	a.touchNumber(n)
	return nil
}

func (a *applier) releaseNumber(c ReleaseNumber) *Error {
	n, err := a.number("e164", c.E164)
	if err != nil {
		return err
	}
	if n.AssignedTo != "" {
		return errf(ErrConflict, "e164", "%s is assigned to %q; unassign it first", n.E164, n.AssignedTo)
	}
	delete(a.d.Numbers, n.E164)
	a.ch.DeletedNumbers = append(a.ch.DeletedNumbers, n.E164)
	return nil
}

func (a *applier) setPurchasedLicences(c SetPurchasedLicences) *Error {
	switch k := a.cat.Kind(c.Code); {
	case c.Code == "":
		return invalid("code", "missing")
	case k == "":
		return invalid("code", "unknown licence %q", c.Code)
	case k == plans.KindPseudo:
		return invalid("code", "%s is a pseudo-capability and cannot be purchased", c.Code)
	}
	if c.Count < 0 || c.Count > MaxPurchased {
		return invalid("count", "%d out of range 0..%d", c.Count, MaxPurchased)
	}
	if a.d.PurchasedLicences[c.Code] == c.Count {
		return nil
	}
	if c.Count == 0 {
		delete(a.d.PurchasedLicences, c.Code)
	} else {
		a.d.PurchasedLicences[c.Code] = c.Count
	}
	a.ch.Settings = true
	return nil
}
