package directory

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/plans"
)

var (
	credits   = Env{CreditsSetUp: true}
	noCredits = Env{}
)

func ptr[T any](v T) *T { return &v }

// fixture is a small tenant: two users, a resource account, numbers of every kind.
func fixture(t testing.TB) *Directory {
	t.Helper()
	d := New("acme")
	for _, c := range []Command{
		SetBillingCountry{Country: "US"},
		PutUser{User{ID: "alice", DisplayName: "Alice", UPN: "alice@acme.example", Kind: KindUser, UsageLocation: "US", Licences: []string{"MCOPSTN1", "MCOEV"}}},
		PutUser{User{ID: "bob", DisplayName: "Bob", Kind: KindUser, UsageLocation: "GB", Licences: []string{"MCOEV"}}},
		PutUser{User{ID: "aa", DisplayName: "Main line", Kind: KindResourceAccount, UsageLocation: "US", Licences: []string{"MCOEV_VIRTUALUSER"}}},
		AcquireNumber{E164: "+12025550123", Kind: NumberUser},
		AcquireNumber{E164: "+442071838750", Kind: NumberUser},
		AcquireNumber{E164: "+14255550100", Kind: NumberService, Service: ServiceToll},
		AcquireNumber{E164: "+18005550100", Kind: NumberService, Service: ServiceTollFree},
		AcquireNumber{E164: "+18885550199", Kind: NumberService, Service: ServiceTollFree},
		AssignNumber{E164: "+12025550123", To: "alice"},
		AssignNumber{E164: "18885550199", To: Bridge},
	} {
		if _, err := Apply(d, c, credits); err != nil {
			t.Fatalf("fixture %s: %v", c.Name(), err)
		}
	}
	if err := d.Check(); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestApplyRefused(t *testing.T) {
	long := strings.Repeat("x", MaxIDLen+1)
	tests := []struct {
		name string
		cmd  Command
		env  Env
		kind error
		msg  string
	}{
		{"billing country missing", SetBillingCountry{}, credits, ErrInvalid, `country: missing`},
		{"billing country unknown", SetBillingCountry{Country: "XX"}, credits, ErrInvalid, `country: "XX" is not a country`},
		{"billing country alpha-3", SetBillingCountry{Country: "USA"}, credits, ErrInvalid, `country: "USA" is not a country`},

		{"put user no id", PutUser{User{Kind: KindUser, UsageLocation: "US"}}, credits, ErrInvalid, `id: missing`},
		{"put user id spaces", PutUser{User{ID: " a", Kind: KindUser, UsageLocation: "US"}}, credits, ErrInvalid, `id: " a" has leading or trailing space`},
		{"put user id bridge", PutUser{User{ID: "bridge", Kind: KindUser, UsageLocation: "US"}}, credits, ErrInvalid, `id: "bridge" is reserved for the conferencing bridge`},
		{"put user id long", PutUser{User{ID: long, Kind: KindUser, UsageLocation: "US"}}, credits, ErrInvalid, `id: longer than 128 bytes`},
		{"put user id control", PutUser{User{ID: "a\x00b", Kind: KindUser, UsageLocation: "US"}}, credits, ErrInvalid, `id: contains a control character`},
		{"put user bad utf8", PutUser{User{ID: "u", DisplayName: "\xff", Kind: KindUser, UsageLocation: "US"}}, credits, ErrInvalid, `display_name: not valid UTF-8`},
		{"put user upn", PutUser{User{ID: "u", UPN: "nobody", Kind: KindUser, UsageLocation: "US"}}, credits, ErrInvalid, `upn: "nobody" is not of the form name@domain`},
		{"put user kind", PutUser{User{ID: "u", Kind: "robot", UsageLocation: "US"}}, credits, ErrInvalid, `kind: "robot" is not one of user, resource_account`},
		{"put user usage location", PutUser{User{ID: "u", Kind: KindUser, UsageLocation: "XX"}}, credits, ErrInvalid, `usage_location: "XX" is not a country`},
		{"put user no usage location", PutUser{User{ID: "u", Kind: KindUser}}, credits, ErrInvalid, `usage_location: missing`},
		{"put user unknown licence", PutUser{User{ID: "u", Kind: KindUser, UsageLocation: "US", Licences: []string{"MCOEV", "MCOXYZ"}}}, credits, ErrInvalid, `licences[1]: unknown licence "MCOXYZ"`},
		{"put user pseudo licence", PutUser{User{ID: "u", Kind: KindUser, UsageLocation: "US", Licences: []string{"FREECALL"}}}, credits, ErrInvalid, `licences[0]: FREECALL is a pseudo-capability and cannot be assigned`},
		{"put user virtual user licence", PutUser{User{ID: "u", Kind: KindUser, UsageLocation: "US", Licences: []string{"MCOEV_VIRTUALUSER"}}}, credits, ErrInvalid, `licences[0]: MCOEV_VIRTUALUSER is for resource accounts only`},
		{"put user dial-out", PutUser{User{ID: "u", Kind: KindUser, UsageLocation: "US", ConfDialOut: "moon"}}, credits, ErrInvalid, `conf_dial_out: "moon" is not one of any, same_country, zone_a, none`},
		{"put user pstn", PutUser{User{ID: "u", Kind: KindUser, UsageLocation: "US", PSTNPolicy: "local"}}, credits, ErrInvalid, `pstn_policy: "local" is not one of international, domestic, none`},
		{"put user spend limit", PutUser{User{ID: "u", Kind: KindUser, UsageLocation: "US", SpendLimit: -1}}, credits, ErrInvalid, `spend_limit: -1 out of range 0..1000000000000000`},
		{"put user unknown number", PutUser{User{ID: "u", Kind: KindUser, UsageLocation: "US", Number: "+15550000000"}}, credits, ErrNotFound, `number: the tenant holds no number "+15550000000"`},
		{"put user taken number", PutUser{User{ID: "u", Kind: KindUser, UsageLocation: "US", Number: "+12025550123"}}, credits, ErrConflict, `number: 12025550123 is assigned to "alice"`},
		{"put user service number", PutUser{User{ID: "u", Kind: KindUser, UsageLocation: "US", Number: "+14255550100"}}, credits, ErrConflict,
			`number: service number 14255550100 can be assigned only to a resource account or the bridge, not to user "u"`},
		{"put resource account user number", PutUser{User{ID: "r", Kind: KindResourceAccount, UsageLocation: "US", Number: "442071838750"}}, credits, ErrConflict,
			`number: user number 442071838750 cannot be assigned to resource account "r"`},
		{"put user kind change keeps a misfit number", PutUser{User{ID: "alice", Kind: KindResourceAccount, UsageLocation: "US", Number: "12025550123"}}, credits, ErrConflict,
			`number: user number 12025550123 cannot be assigned to resource account "alice"`},

		{"delete missing user", DeleteUser{UserID: "zed"}, credits, ErrNotFound, `user_id: no user or resource account "zed"`},
		{"delete no id", DeleteUser{}, credits, ErrInvalid, `user_id: missing`},

		{"licences no users", AssignLicences{Add: []string{"MCOEV"}}, credits, ErrInvalid, `user_ids: missing`},
		{"licences nothing", AssignLicences{UserIDs: []string{"alice"}}, credits, ErrInvalid, `add: nothing to add or remove`},
		{"licences missing user", AssignLicences{UserIDs: []string{"alice", "zed"}, Add: []string{"MCOPSTNPP"}}, credits, ErrNotFound, `user_ids[1]: no user or resource account "zed"`},
		{"licences unknown add", AssignLicences{UserIDs: []string{"alice"}, Add: []string{"MCOPSTNPP", "MCOXYZ"}}, credits, ErrInvalid, `add[1]: unknown licence "MCOXYZ"`},
		{"licences pseudo add", AssignLicences{UserIDs: []string{"alice"}, Add: []string{"FREECALL"}}, credits, ErrInvalid, `add[0]: FREECALL is a pseudo-capability and cannot be assigned`},
		{"licences virtual user to a user", AssignLicences{UserIDs: []string{"aa", "bob"}, Add: []string{"MCOEV_VIRTUALUSER"}}, credits, ErrInvalid,
			`add[0]: MCOEV_VIRTUALUSER is for resource accounts only; user_ids[1] "bob" is a user`},
		{"licences unknown remove", AssignLicences{UserIDs: []string{"alice"}, Remove: []string{"MCOXYZ"}}, credits, ErrInvalid, `remove[0]: unknown licence "MCOXYZ"`},
		{"licences add and remove", AssignLicences{UserIDs: []string{"alice"}, Add: []string{"MCOEV"}, Remove: []string{"MCOEV"}}, credits, ErrInvalid, `remove[0]: MCOEV is also in add`},

		{"rows none", AssignLicenceRows{}, credits, ErrInvalid, `rows: missing`},
		{"rows line error", AssignLicenceRows{Rows: []LicenceRow{{Line: 2, UserID: "alice", Add: []string{"MCOPSTNPP"}}, {Line: 3, UserID: "bob", Add: []string{"MCOXYZ"}}}}, credits, ErrInvalid,
			`line 3: add[0]: unknown licence "MCOXYZ"`},
		{"rows without lines", AssignLicenceRows{Rows: []LicenceRow{{UserID: "alice", Add: []string{"MCOPSTNPP"}}, {UserID: "zed", Add: []string{"MCOEV"}}}}, credits, ErrNotFound,
			`rows[1].user_id: no user or resource account "zed"`},

		{"usage location missing user", SetUsageLocation{UserID: "zed", Country: "US"}, credits, ErrNotFound, `user_id: no user or resource account "zed"`},
		{"usage location unknown", SetUsageLocation{UserID: "alice", Country: "XX"}, credits, ErrInvalid, `usage_location: "XX" is not a country`},

		{"policies missing user", SetPolicies{UserID: "zed", PSTN: ptr("none")}, credits, ErrNotFound, `user_id: no user or resource account "zed"`},
		{"policies bad dial-out", SetPolicies{UserID: "alice", ConfDialOut: ptr("everywhere")}, credits, ErrInvalid, `conf_dial_out: "everywhere" is not one of any, same_country, zone_a, none`},
		{"policies empty dial-out", SetPolicies{UserID: "alice", ConfDialOut: ptr("")}, credits, ErrInvalid, `conf_dial_out: empty`},
		{"policies bad pstn", SetPolicies{UserID: "alice", ConfDialOut: ptr("none"), PSTN: ptr("galactic")}, credits, ErrInvalid, `pstn: "galactic" is not one of international, domestic, none`},
		{"policies empty pstn", SetPolicies{UserID: "alice", PSTN: ptr("")}, credits, ErrInvalid, `pstn: empty`},
		{"policies with a bad spend limit", SetPolicies{UserID: "alice", PSTN: ptr("none"), SpendLimit: ptr(money.Amount(-5))}, credits, ErrInvalid,
			`spend_limit: -5 out of range 0..1000000000000000`},

		{"spend limit missing user", SetSpendLimit{UserID: "zed", Limit: 1}, credits, ErrNotFound, `user_id: no user or resource account "zed"`},
		{"spend limit negative", SetSpendLimit{UserID: "alice", Limit: -5}, credits, ErrInvalid, `limit: -5 out of range 0..1000000000000000`},
		{"spend limit huge", SetSpendLimit{UserID: "alice", Limit: money.MaxAmount + 1}, credits, ErrInvalid, `limit: 1000000000000001 out of range 0..1000000000000000`},

		{"toll-free missing organizer", SetTollFreeDialIn{OrganizerID: "zed", Disabled: true}, credits, ErrNotFound, `organizer_id: no user or resource account "zed"`},
		{"toll-free resource account", SetTollFreeDialIn{OrganizerID: "aa", Disabled: true}, credits, ErrInvalid, `organizer_id: "aa" is a resource account; meetings have users as organizers`},

		{"acquire missing", AcquireNumber{Kind: NumberUser}, credits, ErrInvalid, `e164: missing`},
		{"acquire letters", AcquireNumber{E164: "+1202CALLME", Kind: NumberUser}, credits, ErrInvalid, `e164: "+1202CALLME" is not an E.164 number (digits with an optional +)`},
		{"acquire invalid", AcquireNumber{E164: "+1555", Kind: NumberUser}, credits, ErrInvalid, `e164: "+1555" is not a valid number`},
		{"acquire no country", AcquireNumber{E164: "+80012345678", Kind: NumberService, Service: ServiceTollFree}, credits, ErrInvalid, `e164: "+80012345678" belongs to no country`},
		{"acquire kind", AcquireNumber{E164: "+33142685300", Kind: "fax"}, credits, ErrInvalid, `kind: "fax" is not one of user, service`},
		{"acquire user with service", AcquireNumber{E164: "+33142685300", Kind: NumberUser, Service: ServiceToll}, credits, ErrInvalid, `service: a user number has no service; got "toll"`},
		{"acquire toll-free as user", AcquireNumber{E164: "+33800123456", Kind: NumberUser}, credits, ErrInvalid, `e164: 33800123456 is a toll-free number; acquire it as a toll_free service number`},
		{"acquire service none", AcquireNumber{E164: "+33142685300", Kind: NumberService}, credits, ErrInvalid, `service: "" is not one of toll, toll_free`},
		{"acquire toll-free as toll", AcquireNumber{E164: "+33800123456", Kind: NumberService, Service: ServiceToll}, credits, ErrInvalid, `service: 33800123456 is a toll-free number, not toll`},
		{"acquire toll as toll-free", AcquireNumber{E164: "+33142685300", Kind: NumberService, Service: ServiceTollFree}, credits, ErrInvalid, `service: 33142685300 is not a toll-free number`},
		{"acquire twice", AcquireNumber{E164: "12025550123", Kind: NumberUser}, credits, ErrConflict, `e164: the tenant holds 12025550123 already`},
		{"acquire toll-free without credits", AcquireNumber{E164: "+33800123456", Kind: NumberService, Service: ServiceTollFree}, noCredits, ErrCreditsNotSetUp,
			`service: toll-free numbers need Communications Credits set up first`},

		{"assign unknown number", AssignNumber{E164: "+33142685300", To: "bob"}, credits, ErrNotFound, `e164: the tenant holds no number "+33142685300"`},
		{"assign no number", AssignNumber{To: "bob"}, credits, ErrInvalid, `e164: missing`},
		{"assign to nobody", AssignNumber{E164: "442071838750"}, credits, ErrInvalid, `to: missing`},
		{"assign twice", AssignNumber{E164: "12025550123", To: "bob"}, credits, ErrConflict, `e164: 12025550123 is assigned to "alice" already`},
		{"assign user number to bridge", AssignNumber{E164: "442071838750", To: Bridge}, credits, ErrConflict, `to: user number 442071838750 cannot be a bridge number`},
		{"assign to missing user", AssignNumber{E164: "442071838750", To: "zed"}, credits, ErrNotFound, `to: no user or resource account "zed"`},
		{"assign service number to user", AssignNumber{E164: "14255550100", To: "bob"}, credits, ErrConflict,
			`to: service number 14255550100 can be assigned only to a resource account or the bridge, not to user "bob"`},
		{"assign user number to resource account", AssignNumber{E164: "442071838750", To: "aa"}, credits, ErrConflict,
			`to: user number 442071838750 cannot be assigned to resource account "aa"`},
		{"assign second number", PutUser{User{ID: "alice", Kind: KindUser, UsageLocation: "US", Number: "442071838750x"}}, credits, ErrNotFound,
			`number: the tenant holds no number "442071838750x"`},

		{"unassign unknown", UnassignNumber{E164: "+33142685300"}, credits, ErrNotFound, `e164: the tenant holds no number "+33142685300"`},
		{"release unknown", ReleaseNumber{E164: "+33142685300"}, credits, ErrNotFound, `e164: the tenant holds no number "+33142685300"`},
		{"release assigned", ReleaseNumber{E164: "+12025550123"}, credits, ErrConflict, `e164: 12025550123 is assigned to "alice"; unassign it first`},
		{"release bridge number", ReleaseNumber{E164: "+18885550199"}, credits, ErrConflict, `e164: 18885550199 is assigned to "bridge"; unassign it first`},

		{"purchased no code", SetPurchasedLicences{Count: 1}, credits, ErrInvalid, `code: missing`},
		{"purchased unknown", SetPurchasedLicences{Code: "MCOXYZ", Count: 1}, credits, ErrInvalid, `code: unknown licence "MCOXYZ"`},
		{"purchased pseudo", SetPurchasedLicences{Code: "FREECALL", Count: 1}, credits, ErrInvalid, `code: FREECALL is a pseudo-capability and cannot be purchased`},
		{"purchased negative", SetPurchasedLicences{Code: "MCOMEETADD", Count: -1}, credits, ErrInvalid, `count: -1 out of range 0..10000000`},

		{"unknown command", unknownCmd{}, credits, ErrInvalid, `unknown command directory.unknownCmd`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fixture(t)
			before := d.Clone()
			ch, err := Apply(d, tt.cmd, tt.env)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("error %v, want %v", err, tt.kind)
			}
			var e *Error
			if !errors.As(err, &e) || err.Error() != tt.msg {
				t.Fatalf("error\n %q\nwant\n %q", err, tt.msg)
			}
			if !reflect.DeepEqual(d, before) {
				t.Fatalf("a refused command changed the directory")
			}
			if !ch.Empty() {
				t.Fatalf("changes of a refused command: %+v", ch)
			}
		})
	}
}

type unknownCmd struct{}

func (unknownCmd) Name() string { return "unknown" }

func TestApplyAccepted(t *testing.T) {
	tests := []struct {
		name  string
		cmd   Command
		env   Env
		want  Changes
		check func(t *testing.T, d *Directory)
	}{
		{"billing country lower case", SetBillingCountry{Country: "gb"}, credits, Changes{Settings: true},
			func(t *testing.T, d *Directory) { eq(t, d.BillingCountry, "GB") }},
		{"billing country unchanged", SetBillingCountry{Country: "US"}, credits, Changes{}, nil},
		{"put new user with defaults", PutUser{User{ID: "carol", DisplayName: "Carol", Kind: KindUser, UsageLocation: "fr",
			Licences: []string{"MCOPSTNPP", "MCOEV", "MCOPSTNPP"}, Number: "+442071838750"}}, credits,
			Changes{
				Numbers: []Number{{E164: "442071838750", Country: "GB", Kind: NumberUser, AssignedTo: "carol"}},
				Users: []User{{ID: "carol", DisplayName: "Carol", Kind: KindUser, UsageLocation: "FR", Licences: []string{"MCOEV", "MCOPSTNPP"},
					Number: "442071838750", ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational}},
			}, nil},
		{"replace user moves its number", PutUser{User{ID: "alice", DisplayName: "Alice B", Kind: KindUser, UsageLocation: "US", Number: "442071838750", SpendLimit: 500}}, credits,
			Changes{
				Numbers: []Number{
					{E164: "12025550123", Country: "US", Kind: NumberUser},
					{E164: "442071838750", Country: "GB", Kind: NumberUser, AssignedTo: "alice"},
				},
				Users: []User{{ID: "alice", DisplayName: "Alice B", Kind: KindUser, UsageLocation: "US", Number: "442071838750",
					ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational, SpendLimit: 500}},
			}, func(t *testing.T, d *Directory) {
				if u, ok := d.UserByNumber("+12025550123"); ok {
					t.Fatalf("old number still reaches %q", u.ID)
				}
			}},
		{"replace user unchanged", PutUser{User{ID: "bob", DisplayName: "Bob", Kind: KindUser, UsageLocation: "GB", Licences: []string{"MCOEV"},
			ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational}}, credits, Changes{}, nil},
		{"resource account gets a service number", PutUser{User{ID: "cq", Kind: KindResourceAccount, UsageLocation: "US", Number: "18005550100"}}, credits,
			Changes{
				Numbers: []Number{{E164: "18005550100", Country: "US", Kind: NumberService, Service: ServiceTollFree, AssignedTo: "cq"}},
				Users:   []User{{ID: "cq", Kind: KindResourceAccount, UsageLocation: "US", Number: "18005550100", ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational}},
			}, nil},
		{"delete user frees its number", DeleteUser{UserID: "alice"}, credits,
			Changes{Numbers: []Number{{E164: "12025550123", Country: "US", Kind: NumberUser}}, DeletedUsers: []string{"alice"}},
			func(t *testing.T, d *Directory) {
				if _, ok := d.User("alice"); ok {
					t.Fatal("alice still there")
				}
			}},
		{"bulk licences", AssignLicences{UserIDs: []string{"bob", "alice", "bob"}, Add: []string{"MCOPSTNPP", "MCOMEETADD"}, Remove: []string{"MCOPSTN1", "MCOPSTN2"}}, noCredits,
			Changes{Users: []User{
				{ID: "alice", DisplayName: "Alice", UPN: "alice@acme.example", Kind: KindUser, UsageLocation: "US", Licences: []string{"MCOEV", "MCOMEETADD", "MCOPSTNPP"},
					Number: "12025550123", ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational},
				{ID: "bob", DisplayName: "Bob", Kind: KindUser, UsageLocation: "GB", Licences: []string{"MCOEV", "MCOMEETADD", "MCOPSTNPP"},
					ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational},
			}}, nil},
		{"bulk licences no-op", AssignLicences{UserIDs: []string{"alice"}, Add: []string{"MCOEV"}, Remove: []string{"MCOPSTN8"}}, credits, Changes{}, nil},
		{"virtual user licence to resource accounts", AssignLicences{UserIDs: []string{"aa"}, Remove: []string{"MCOEV_VIRTUALUSER"}}, credits,
			Changes{Users: []User{{ID: "aa", DisplayName: "Main line", Kind: KindResourceAccount, UsageLocation: "US", ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational}}}, nil},
		{"licence rows in order", AssignLicenceRows{Rows: []LicenceRow{{Line: 2, UserID: "bob", Add: []string{"MCOPSTN2"}}, {Line: 3, UserID: "bob", Remove: []string{"MCOEV"}}}}, credits,
			Changes{Users: []User{{ID: "bob", DisplayName: "Bob", Kind: KindUser, UsageLocation: "GB", Licences: []string{"MCOPSTN2"}, ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational}}}, nil},
		{"usage location", SetUsageLocation{UserID: "bob", Country: "de"}, credits,
			Changes{Users: []User{{ID: "bob", DisplayName: "Bob", Kind: KindUser, UsageLocation: "DE", Licences: []string{"MCOEV"}, ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational}}}, nil},
		{"policies one of two", SetPolicies{UserID: "bob", PSTN: ptr(PSTNDomestic)}, credits,
			Changes{Users: []User{{ID: "bob", DisplayName: "Bob", Kind: KindUser, UsageLocation: "GB", Licences: []string{"MCOEV"}, ConfDialOut: DialOutAny, PSTNPolicy: PSTNDomestic}}}, nil},
		{"policies both", SetPolicies{UserID: "bob", ConfDialOut: ptr(DialOutZoneA), PSTN: ptr(PSTNNone)}, credits,
			Changes{Users: []User{{ID: "bob", DisplayName: "Bob", Kind: KindUser, UsageLocation: "GB", Licences: []string{"MCOEV"}, ConfDialOut: DialOutZoneA, PSTNPolicy: PSTNNone}}}, nil},
		{"policies nothing", SetPolicies{UserID: "bob"}, credits, Changes{}, nil},
		{"policies and spend limit", SetPolicies{UserID: "bob", PSTN: ptr(PSTNDomestic), SpendLimit: ptr(money.Amount(2500))}, credits,
			Changes{Users: []User{{ID: "bob", DisplayName: "Bob", Kind: KindUser, UsageLocation: "GB", Licences: []string{"MCOEV"}, ConfDialOut: DialOutAny, PSTNPolicy: PSTNDomestic, SpendLimit: 2500}}}, nil},
		{"spend limit", SetSpendLimit{UserID: "bob", Limit: 2500}, credits,
			Changes{Users: []User{{ID: "bob", DisplayName: "Bob", Kind: KindUser, UsageLocation: "GB", Licences: []string{"MCOEV"}, ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational, SpendLimit: 2500}}}, nil},
		{"toll-free dial-in off", SetTollFreeDialIn{OrganizerID: "bob", Disabled: true}, credits,
			Changes{Users: []User{{ID: "bob", DisplayName: "Bob", Kind: KindUser, UsageLocation: "GB", Licences: []string{"MCOEV"}, ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational, TollFreeDialInDisabled: true}}}, nil},
		{"acquire toll service number", AcquireNumber{E164: "+33142685300", Kind: NumberService, Service: ServiceToll}, noCredits,
			Changes{Numbers: []Number{{E164: "33142685300", Country: "FR", Kind: NumberService, Service: ServiceToll}}}, nil},
		{"acquire toll-free with credits", AcquireNumber{E164: "33800123456", Kind: NumberService, Service: ServiceTollFree}, credits,
			Changes{Numbers: []Number{{E164: "33800123456", Country: "FR", Kind: NumberService, Service: ServiceTollFree}}}, nil},
		{"assign user number", AssignNumber{E164: "+442071838750", To: "bob"}, credits,
			Changes{
				Numbers: []Number{{E164: "442071838750", Country: "GB", Kind: NumberUser, AssignedTo: "bob"}},
				Users:   []User{{ID: "bob", DisplayName: "Bob", Kind: KindUser, UsageLocation: "GB", Licences: []string{"MCOEV"}, Number: "442071838750", ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational}},
			}, func(t *testing.T, d *Directory) {
				u, ok := d.UserByNumber("442071838750")
				if !ok || u.ID != "bob" {
					t.Fatalf("UserByNumber: %v %v", u, ok)
				}
			}},
		{"assign service number to a resource account", AssignNumber{E164: "14255550100", To: "aa"}, credits,
			Changes{
				Numbers: []Number{{E164: "14255550100", Country: "US", Kind: NumberService, Service: ServiceToll, AssignedTo: "aa"}},
				Users:   []User{{ID: "aa", DisplayName: "Main line", Kind: KindResourceAccount, UsageLocation: "US", Licences: []string{"MCOEV_VIRTUALUSER"}, Number: "14255550100", ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational}},
			}, nil},
		{"assign to the bridge", AssignNumber{E164: "14255550100", To: Bridge}, credits,
			Changes{Numbers: []Number{{E164: "14255550100", Country: "US", Kind: NumberService, Service: ServiceToll, AssignedTo: Bridge}}},
			func(t *testing.T, d *Directory) {
				if b := d.Bridge(); len(b) != 2 || b[0].E164 != "14255550100" || b[1].E164 != "18885550199" {
					t.Fatalf("bridge %+v", b)
				}
			}},
		{"assign again to the same", AssignNumber{E164: "12025550123", To: "alice"}, credits, Changes{}, nil},
		{"unassign from a user", UnassignNumber{E164: "+12025550123"}, credits,
			Changes{
				Users:   []User{{ID: "alice", DisplayName: "Alice", UPN: "alice@acme.example", Kind: KindUser, UsageLocation: "US", Licences: []string{"MCOEV", "MCOPSTN1"}, ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational}},
				Numbers: []Number{{E164: "12025550123", Country: "US", Kind: NumberUser}},
			}, nil},
		{"unassign from the bridge", UnassignNumber{E164: "18885550199"}, credits,
			Changes{Numbers: []Number{{E164: "18885550199", Country: "US", Kind: NumberService, Service: ServiceTollFree}}},
			func(t *testing.T, d *Directory) { eq(t, len(d.Bridge()), 0) }},
		{"unassign a free number", UnassignNumber{E164: "442071838750"}, credits, Changes{}, nil},
		{"release", ReleaseNumber{E164: "+442071838750"}, credits, Changes{DeletedNumbers: []string{"442071838750"}},
			func(t *testing.T, d *Directory) {
				if _, ok := d.Number("442071838750"); ok {
					t.Fatal("still held")
				}
			}},
		{"purchased", SetPurchasedLicences{Code: "MCOMEETADD", Count: 25}, credits, Changes{Settings: true},
			func(t *testing.T, d *Directory) { eq(t, d.PurchasedLicences["MCOMEETADD"], 25) }},
		{"pointer command", &SetSpendLimit{UserID: "bob", Limit: 1}, credits,
			Changes{Users: []User{{ID: "bob", DisplayName: "Bob", Kind: KindUser, UsageLocation: "GB", Licences: []string{"MCOEV"}, ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational, SpendLimit: 1}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fixture(t)
			ch, err := Apply(d, tt.cmd, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ch, tt.want) {
				t.Fatalf("changes\n %+v\nwant\n %+v", ch, tt.want)
			}
			if err := d.Check(); err != nil {
				t.Fatal(err)
			}
			// The snapshots are what the directory now holds.
			for _, u := range ch.Users {
				if got, ok := d.User(u.ID); !ok || !reflect.DeepEqual(*got, u) {
					t.Fatalf("snapshot %+v, directory %+v", u, got)
				}
			}
			for _, n := range ch.Numbers {
				if got, ok := d.Number(n.E164); !ok || *got != n {
					t.Fatalf("snapshot %+v, directory %+v", n, got)
				}
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func eq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestSnapshotsDoNotAlias(t *testing.T) {
	d := fixture(t)
	ch, err := Apply(d, AssignLicences{UserIDs: []string{"alice"}, Add: []string{"MCOPSTNPP"}}, credits)
	if err != nil {
		t.Fatal(err)
	}
	ch.Users[0].Licences[0] = "CHANGED"
	if d.Users["alice"].Licences[0] != "MCOEV" {
		t.Fatal("changes share the directory's licence slice")
	}
}

func TestPrincipalsAndPools(t *testing.T) {
	d := fixture(t)
	mustApply(t, d, credits,
		PutUser{User{ID: "pr", Kind: KindUser, UsageLocation: "PR", Licences: []string{"MCOEV", "MCOPSTN1", "MCOMEETADD"}}},
		SetPurchasedLicences{Code: "MCOMEETADD", Count: 10},
	)
	ps := d.Principals()
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	if !slices.Equal(ids, []string{"aa", "alice", "bob", "pr"}) {
		t.Fatalf("principals %v", ids)
	}
	if !ps[3].Has("MCOPSTN1") || ps[3].UsageLocation != "PR" {
		t.Fatalf("principal %+v", ps[3])
	}
	cat := plans.Default()
	pools := plans.Size(cat, "2026-03", ps, d.SizeOptions(plans.Assigned))
	if p, _ := pools.Get(plans.DomesticPool("MCOPSTN1", "US")); p.TotalSeconds != 2*3000*60 {
		t.Fatalf("US+PR domestic pool %+v", p)
	}
	if p, _ := pools.Get(plans.DialOutPool()); p.TotalSeconds != 60*60 {
		t.Fatalf("assigned dial-out pool %+v", p)
	}
	pools = plans.Size(cat, "2026-03", ps, d.SizeOptions(plans.Purchased))
	if p, _ := pools.Get(plans.DialOutPool()); p.TotalSeconds != 10*60*60 {
		t.Fatalf("purchased dial-out pool %+v", p)
	}
	u, _ := d.User("alice")
	if !u.Has("MCOEV") || u.Has("MCOPSTNPP") {
		t.Fatal("Has")
	}
}

func mustApply(t testing.TB, d *Directory, env Env, cmds ...Command) Changes {
	t.Helper()
	var all Changes
	for _, c := range cmds {
		ch, err := Apply(d, c, env)
		if err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		all.Merge(ch)
	}
	return all
}

func TestMerge(t *testing.T) {
	d := New("t")
	all := mustApply(t, d, credits,
		PutUser{User{ID: "a", Kind: KindUser, UsageLocation: "US"}},
		PutUser{User{ID: "b", Kind: KindUser, UsageLocation: "US"}},
		AcquireNumber{E164: "12025550123", Kind: NumberUser},
		AssignNumber{E164: "12025550123", To: "a"},
		DeleteUser{UserID: "b"},
		SetSpendLimit{UserID: "a", Limit: 7},
		AcquireNumber{E164: "442071838750", Kind: NumberUser},
		ReleaseNumber{E164: "442071838750"},
		SetBillingCountry{Country: "US"},
	)
	want := Changes{
		Users:          []User{{ID: "a", Kind: KindUser, UsageLocation: "US", Number: "12025550123", ConfDialOut: DialOutAny, PSTNPolicy: PSTNInternational, SpendLimit: 7}},
		DeletedUsers:   []string{"b"},
		Numbers:        []Number{{E164: "12025550123", Country: "US", Kind: NumberUser, AssignedTo: "a"}},
		DeletedNumbers: []string{"442071838750"},
		Settings:       true,
	}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("merged\n %+v\nwant\n %+v", all, want)
	}
	// A put after a delete revives.
	all.Merge(mustApply(t, d, credits, PutUser{User{ID: "b", Kind: KindUser, UsageLocation: "CA"}}))
	if len(all.DeletedUsers) != 0 || len(all.Users) != 2 || all.Users[1].UsageLocation != "CA" {
		t.Fatalf("revived %+v", all)
	}
}

func TestDecode(t *testing.T) {
	for _, c := range []Command{
		SetBillingCountry{Country: "US"},
		PutUser{User{ID: "a", Kind: KindUser, UsageLocation: "US", Licences: []string{"MCOEV"}, SpendLimit: 5}},
		DeleteUser{UserID: "a"},
		AssignLicences{UserIDs: []string{"a"}, Add: []string{"MCOEV"}},
		AssignLicenceRows{Rows: []LicenceRow{{Line: 2, UserID: "a", Remove: []string{"MCOEV"}}}},
		SetUsageLocation{UserID: "a", Country: "GB"},
		SetPolicies{UserID: "a", PSTN: ptr("none")},
		SetSpendLimit{UserID: "a", Limit: 100},
		SetTollFreeDialIn{OrganizerID: "a", Disabled: true},
		AcquireNumber{E164: "1", Kind: NumberService, Service: ServiceToll},
		AssignNumber{E164: "1", To: Bridge},
		UnassignNumber{E164: "1"},
		ReleaseNumber{E164: "1"},
		SetPurchasedLicences{Code: "MCOMEETADD", Count: 3},
	} {
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(c.Name(), data)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("%s: %#v %v, want %#v", data, got, err, c)
		}
	}
	if _, err := Decode("nope", []byte(`{}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown name: %v", err)
	}
	if _, err := Decode("delete_user", []byte(`{"user":"a"}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown field: %v", err)
	}
}

func TestCheckFindsBrokenInvariants(t *testing.T) {
	for name, breakIt := range map[string]func(d *Directory){
		"number to missing user":  func(d *Directory) { d.Numbers["442071838750"].AssignedTo = "zed" },
		"user without its number": func(d *Directory) { d.Users["bob"].Number = "442071838750" },
		"two owners":              func(d *Directory) { d.Numbers["442071838750"].AssignedTo = "alice" },
		"unsorted licences":       func(d *Directory) { d.Users["bob"].Licences = []string{"MCOPSTNPP", "MCOEV"} },
		"user number on bridge":   func(d *Directory) { d.Numbers["442071838750"].AssignedTo = Bridge },
	} {
		d := fixture(t)
		breakIt(d)
		if d.Check() == nil {
			t.Errorf("%s: Check passed", name)
		}
	}
}
