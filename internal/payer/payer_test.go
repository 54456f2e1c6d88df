package payer

import (
	"testing"

	"github.com/commcredits/commcredits/internal/numbers"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
)

var (
	cat     = plans.Default()
	row     = &rating.Row{Prefix: "1", Rate: 10_000, Initial: 60, Subsequent: 60}
	blocked = &rating.Row{Prefix: "1900", Rate: 10_000, Initial: 60, Subsequent: 60, Blocked: true}

	usFixed   = numbers.Number{E164: "12125550100", Country: "US", Type: numbers.FixedOrMobile}
	prFixed   = numbers.Number{E164: "17875550123", Country: "PR", Type: numbers.FixedOrMobile}
	mxMobile  = numbers.Number{E164: "5215512345678", Country: "MX", Type: numbers.Mobile}
	aeMobile  = numbers.Number{E164: "971501234567", Country: "AE", Type: numbers.Mobile}
	gbPremium = numbers.Number{E164: "449098790000", Country: "GB", Type: numbers.Premium}
	us911     = numbers.Number{E164: "911", Country: "US", Type: numbers.Emergency, Emergency: true}
)

func user(loc string, lic ...string) plans.Principal {
	return plans.Principal{ID: "u1", Licences: lic, UsageLocation: loc}
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name string
		in   Input
		want Decision
	}{
		// user_in, unassigned_in: free.
		{"user_in free", Input{Call: UserIn, Principal: user("US", "MCOEV", "MCOPSTN1"), Remote: mxMobile},
			Decision{Outcome: Free, Capability: "MCOPSTN1"}},
		{"user_in from home is domestic", Input{Call: UserIn, Principal: user("US", "MCOEV", "MCOPSTN1"), Remote: usFixed},
			Decision{Outcome: Free, Capability: "MCOPSTN1", Domestic: true}},
		{"unassigned_in free", Input{Call: UnassignedIn, Remote: mxMobile}, Decision{Outcome: Free}},

		// Outbound, domestic: the plan's domestic pool, then credits.
		{"user_out domestic", Input{Call: UserOut, Principal: user("US", "MCOEV", "MCOPSTN1", "MCOPSTNPP"), Remote: usFixed, Row: row},
			Decision{Outcome: Pool, Pool: plans.DomesticPool("MCOPSTN1", "US"), Credits: true, Capability: "MCOPSTN1", Domestic: true}},
		{"user_out_transfer domestic", Input{Call: UserOutTransfer, Principal: user("US", "MCOEV", "MCOPSTN1", "MCOPSTNPP"), Remote: usFixed, Row: row},
			Decision{Outcome: Pool, Pool: plans.DomesticPool("MCOPSTN1", "US"), Credits: true, Capability: "MCOPSTN1", Domestic: true}},
		{"user_out_forwarding domestic", Input{Call: UserOutForwarding, Principal: user("US", "MCOEV", "MCOPSTN1", "MCOPSTNPP"), Remote: usFixed, Row: row},
			Decision{Outcome: Pool, Pool: plans.DomesticPool("MCOPSTN1", "US"), Credits: true, Capability: "MCOPSTN1", Domestic: true}},
		{"user_out_conf domestic", Input{Call: UserOutConf, Principal: user("US", "MCOEV", "MCOPSTN1", "MCOPSTNPP"), Remote: usFixed, Row: row},
			Decision{Outcome: Pool, Pool: plans.DomesticPool("MCOPSTN1", "US"), Credits: true, Capability: "MCOPSTN1", Domestic: true}},
		{"US user to PR is domestic, shared pool", Input{Call: UserOut, Principal: user("US", "MCOEV", "MCOPSTN1", "MCOPSTNPP"), Remote: prFixed, Row: row},
			Decision{Outcome: Pool, Pool: plans.DomesticPool("MCOPSTN1", "US"), Credits: true, Capability: "MCOPSTN1", Domestic: true}},
		{"PR user draws the US pool", Input{Call: UserOut, Principal: user("PR", "MCOEV", "MCOPSTN1"), Remote: usFixed, Row: row},
			Decision{Outcome: Pool, Pool: plans.DomesticPool("MCOPSTN1", "US"), Capability: "MCOPSTN1", Domestic: true}},
		{"domestic without credits licence: pool only", Input{Call: UserOut, Principal: user("US", "MCOEV", "MCOPSTN1"), Remote: usFixed, Row: row},
			Decision{Outcome: Pool, Pool: plans.DomesticPool("MCOPSTN1", "US"), Capability: "MCOPSTN1", Domestic: true}},
		{"MCOPSTN8 per-user pool", Input{Call: UserOut, Principal: user("US", "MCOEV", "MCOPSTN8", "MCOPSTNPP"), Remote: usFixed, Row: row},
			Decision{Outcome: Pool, Pool: plans.UserPool("MCOPSTN8", "u1"), Credits: true, Capability: "MCOPSTN8", Domestic: true}},
		{"D&I plan ranks before domestic plan", Input{Call: UserOut, Principal: user("US", "MCOEV", "MCOPSTN1", "MCOPSTN2"), Remote: usFixed, Row: row},
			Decision{Outcome: Pool, Pool: plans.DomesticPool("MCOPSTN2", "US"), Capability: "MCOPSTN2", Domestic: true}},

		// Outbound, international: D&I international pool then credits; credits only otherwise.
		{"user_out international D&I", Input{Call: UserOut, Principal: user("US", "MCOEV", "MCOPSTN2", "MCOPSTNPP"), Remote: mxMobile, Row: row},
			Decision{Outcome: Pool, Pool: plans.InternationalPool("MCOPSTN2", "US"), Credits: true, Capability: "MCOPSTN2"}},
		{"user_out international domestic plan: credits", Input{Call: UserOut, Principal: user("US", "MCOEV", "MCOPSTN1", "MCOPSTNPP"), Remote: mxMobile, Row: row},
			Decision{Outcome: Credits, Credits: true, Capability: "MCOPSTNPP"}},
		{"user_out international without credits licence", Input{Call: UserOut, Principal: user("US", "MCOEV", "MCOPSTN1"), Remote: mxMobile, Row: row},
			Decision{Outcome: Refused, Reason: ReasonNoCreditsLicence}},
		{"user_out_forwarding international MCOPSTN8: credits", Input{Call: UserOutForwarding, Principal: user("US", "MCOEV", "MCOPSTN8", "MCOPSTNPP"), Remote: aeMobile, Row: row},
			Decision{Outcome: Credits, Credits: true, Capability: "MCOPSTNPP"}},

		// Any outbound with MCOPSTN_PAYG: credits.
		{"PAYG domestic", Input{Call: UserOut, Principal: user("US", "MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"), Remote: usFixed, Row: row},
			Decision{Outcome: Credits, Credits: true, Capability: "MCOPSTNPP", Domestic: true}},
		{"PAYG international", Input{Call: UserOutConf, Principal: user("US", "MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"), Remote: mxMobile, Row: row},
			Decision{Outcome: Credits, Credits: true, Capability: "MCOPSTNPP"}},

		// conf_in to a toll number: free; to a toll-free number: credits.
		{"conf_in toll free of charge", Input{Call: ConfIn, Principal: user("US", "MCOMEETADD"), Remote: mxMobile, Service: ServiceNumber{Toll, "US"}},
			Decision{Outcome: Free, Capability: "MCOMEETADD"}},
		{"conf_in toll-free: credits", Input{Call: ConfIn, Principal: user("US", "MCOMEETADD", "MCOPSTNPP"), Remote: usFixed, Service: ServiceNumber{TollFreeLine, "US"}, Row: row},
			Decision{Outcome: Credits, Credits: true, Capability: "MCOPSTNPP", Domestic: true}},
		{"conf_in toll-free disabled by organizer", Input{Call: ConfIn, Principal: user("US", "MCOMEETADD", "MCOPSTNPP"), TollFreeDisabled: true, Remote: usFixed, Service: ServiceNumber{TollFreeLine, "US"}, Row: row},
			Decision{Outcome: Refused, Reason: ReasonTollFreeDisabled}},
		{"conf_in toll-free from another country", Input{Call: ConfIn, Principal: user("US", "MCOMEETADD", "MCOPSTNPP"), Remote: mxMobile, Service: ServiceNumber{TollFreeLine, "US"}, Row: row},
			Decision{Outcome: Refused, Reason: ReasonTollFreeOtherCountry}},
		{"conf_in toll-free, organizer without credits licence", Input{Call: ConfIn, Principal: user("US", "MCOMEETADD"), Remote: usFixed, Service: ServiceNumber{TollFreeLine, "US"}, Row: row},
			Decision{Outcome: Refused, Reason: ReasonNoCreditsLicence, Domestic: true}},
		{"conf_in toll-free unpriceable", Input{Call: ConfIn, Principal: user("US", "MCOMEETADD", "MCOPSTNPP"), Remote: usFixed, Service: ServiceNumber{TollFreeLine, "US"}},
			Decision{Outcome: Refused, Reason: ReasonNoRate, Capability: "FREECALL"}},
		{"conf_in organizer without conferencing", Input{Call: ConfIn, Principal: user("US", "MCOEV"), Remote: usFixed, Service: ServiceNumber{Toll, "US"}},
			Decision{Outcome: Refused, Reason: ReasonNoConferencing}},

		// conf_out to Zone A: dial-out pool then credits; elsewhere: credits.
		{"conf_out Zone A", Input{Call: ConfOut, Principal: user("US", "MCOMEETADD", "MCOPSTNPP"), Remote: mxMobile, Row: row},
			Decision{Outcome: Pool, Pool: plans.DialOutPool(), Credits: true, Capability: "MCOMEETADD"}},
		{"conf_out Zone A without credits licence: pool only", Input{Call: ConfOut, Principal: user("US", "MCOMEETADD"), Remote: usFixed, Row: row},
			Decision{Outcome: Pool, Pool: plans.DialOutPool(), Capability: "MCOMEETADD", Domestic: true}},
		{"conf_out elsewhere: credits", Input{Call: ConfOut, Principal: user("US", "MCOMEETADD", "MCOPSTNPP"), Remote: aeMobile, Row: row},
			Decision{Outcome: Credits, Credits: true, Capability: "MCOPSTNPP"}},
		{"conf_out elsewhere without credits licence", Input{Call: ConfOut, Principal: user("US", "MCOMEETADD"), Remote: aeMobile, Row: row},
			Decision{Outcome: Refused, Reason: ReasonNoCreditsLicence}},
		{"conf_out organizer without conferencing", Input{Call: ConfOut, Principal: user("US", "MCOPSTNPP"), Remote: usFixed, Row: row},
			Decision{Outcome: Refused, Reason: ReasonNoConferencing}},

		// ucap_in to a toll-free service number: credits; to a toll number: free.
		{"ucap_in toll-free: credits", Input{Call: UcapIn, Principal: user("US", "MCOEV_VIRTUALUSER", "MCOPSTNPP"), Remote: usFixed, Service: ServiceNumber{TollFreeLine, "US"}, Row: row},
			Decision{Outcome: Credits, Credits: true, Capability: "MCOPSTNPP", Domestic: true}},
		{"ucap_in toll-free from abroad", Input{Call: UcapIn, Principal: user("US", "MCOEV_VIRTUALUSER", "MCOPSTNPP"), Remote: mxMobile, Service: ServiceNumber{TollFreeLine, "US"}, Row: row},
			Decision{Outcome: Refused, Reason: ReasonTollFreeOtherCountry}},
		{"ucap_in toll-free without credits licence", Input{Call: UcapIn, Principal: user("US", "MCOEV_VIRTUALUSER"), Remote: usFixed, Service: ServiceNumber{TollFreeLine, "US"}, Row: row},
			Decision{Outcome: Refused, Reason: ReasonNoCreditsLicence, Domestic: true}},
		{"ucap_in toll: free", Input{Call: UcapIn, Principal: user("US", "MCOEV_VIRTUALUSER"), Remote: mxMobile, Service: ServiceNumber{Toll, "US"}},
			Decision{Outcome: Free, Capability: "MCOEV_VIRTUALUSER"}},

		// ucap_out: the resource account's plan, then credits.
		{"ucap_out domestic plan pool", Input{Call: UcapOut, Principal: user("US", "MCOEV_VIRTUALUSER", "MCOPSTN1", "MCOPSTNPP"), Remote: usFixed, Row: row},
			Decision{Outcome: Pool, Pool: plans.DomesticPool("MCOPSTN1", "US"), Credits: true, Capability: "MCOPSTN1", Domestic: true}},
		{"ucap_out international: credits", Input{Call: UcapOut, Principal: user("US", "MCOEV_VIRTUALUSER", "MCOPSTN1", "MCOPSTNPP"), Remote: mxMobile, Row: row},
			Decision{Outcome: Credits, Credits: true, Capability: "MCOPSTNPP"}},
		{"ucap_out without phone licence", Input{Call: UcapOut, Principal: user("US", "MCOPSTN1"), Remote: usFixed, Row: row},
			Decision{Outcome: Refused, Reason: ReasonNoPhoneSystem}},

		// MCOMEETACPEA organizers: every conf_in and conf_out minute from credits.
		{"ACPEA conf_in toll", Input{Call: ConfIn, Principal: user("US", "MCOMEETACPEA", "MCOPSTNPP"), Remote: mxMobile, Service: ServiceNumber{Toll, "US"}, Row: row},
			Decision{Outcome: Credits, Credits: true, Capability: "MCOMEETACPEA"}},
		{"ACPEA conf_in toll-free", Input{Call: ConfIn, Principal: user("US", "MCOMEETACPEA", "MCOPSTNPP"), Remote: usFixed, Service: ServiceNumber{TollFreeLine, "US"}, Row: row},
			Decision{Outcome: Credits, Credits: true, Capability: "MCOMEETACPEA", Domestic: true}},
		{"ACPEA conf_out Zone A still credits", Input{Call: ConfOut, Principal: user("US", "MCOMEETACPEA", "MCOMEETADD", "MCOPSTNPP"), Remote: mxMobile, Row: row},
			Decision{Outcome: Credits, Credits: true, Capability: "MCOMEETACPEA"}},
		{"ACPEA without credits licence", Input{Call: ConfOut, Principal: user("US", "MCOMEETACPEA"), Remote: mxMobile, Row: row},
			Decision{Outcome: Refused, Reason: ReasonNoCreditsLicence}},

		// Emergency numbers: always allowed, never charged, before any licence check.
		{"emergency user_out", Input{Call: UserOut, Principal: user("US", "MCOEV", "MCOPSTN1"), Remote: us911},
			Decision{Outcome: Free, Emergency: true, Domestic: true, Capability: "MCOPSTN1"}},
		{"emergency without any licence", Input{Call: UserOut, Principal: user("US"), Remote: us911},
			Decision{Outcome: Free, Emergency: true, Domestic: true}},
		{"emergency from a meeting", Input{Call: ConfOut, Principal: user("US"), Remote: us911},
			Decision{Outcome: Free, Emergency: true, Domestic: true, Capability: "MCOMEETADD"}},

		// Premium and blocked prefixes are refused.
		{"premium refused", Input{Call: UserOut, Principal: user("GB", "MCOEV", "MCOPSTN1", "MCOPSTNPP"), Remote: gbPremium, Row: row},
			Decision{Outcome: Refused, Reason: ReasonPremium}},
		{"premium refused in a meeting", Input{Call: ConfOut, Principal: user("GB", "MCOMEETADD", "MCOPSTNPP"), Remote: gbPremium, Row: row},
			Decision{Outcome: Refused, Reason: ReasonPremium}},
		{"blocked row refused", Input{Call: UserOut, Principal: user("US", "MCOEV", "MCOPSTN1", "MCOPSTNPP"), Remote: usFixed, Row: blocked},
			Decision{Outcome: Refused, Reason: ReasonBlocked}},
		{"blocked toll-free origin refused", Input{Call: UcapIn, Principal: user("US", "MCOEV_VIRTUALUSER", "MCOPSTNPP"), Remote: usFixed, Service: ServiceNumber{TollFreeLine, "US"}, Row: blocked},
			Decision{Outcome: Refused, Reason: ReasonBlocked}},

		// Other refusals.
		{"no rate: unpriceable", Input{Call: UserOut, Principal: user("US", "MCOEV", "MCOPSTN1", "MCOPSTNPP"), Remote: usFixed},
			Decision{Outcome: Refused, Reason: ReasonNoRate, Capability: "FREECALL"}},
		{"no phone system", Input{Call: UserOut, Principal: user("US", "MCOPSTN1", "MCOPSTNPP"), Remote: usFixed, Row: row},
			Decision{Outcome: Refused, Reason: ReasonNoPhoneSystem}},
		{"no calling plan", Input{Call: UserOut, Principal: user("US", "MCOEV", "MCOPSTNPP"), Remote: usFixed, Row: row},
			Decision{Outcome: Refused, Reason: ReasonNoCallingPlan}},
		{"unknown call type", Input{Call: "fax_out", Principal: user("US", "MCOEV", "MCOPSTN1"), Remote: usFixed, Row: row},
			Decision{Outcome: Refused, Reason: ReasonUnknownCallType}},
	}
	for _, c := range cases {
		if got := Decide(cat, &c.in); got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

func TestCardFor(t *testing.T) {
	cases := []struct {
		call     CallType
		svc      ServiceNumberType
		card     rating.Service
		onCaller bool
		ok       bool
	}{
		{UserOut, "", rating.Outbound, false, true},
		{UserOutConf, "", rating.Outbound, false, true},
		{UcapOut, "", rating.Outbound, false, true},
		{ConfOut, "", rating.DialOut, false, true},
		{ConfIn, TollFreeLine, rating.TollFree, true, true},
		{UcapIn, TollFreeLine, rating.TollFree, true, true},
		{ConfIn, Toll, rating.DialOut, true, true},
		{UcapIn, Toll, "", false, false},
		{UserIn, "", "", false, false},
		{UnassignedIn, "", "", false, false},
	}
	for _, c := range cases {
		card, onCaller, ok := CardFor(c.call, c.svc)
		if card != c.card || onCaller != c.onCaller || ok != c.ok {
			t.Errorf("CardFor(%s, %s) = %s %v %v", c.call, c.svc, card, onCaller, ok)
		}
	}
}

func TestOutcomeString(t *testing.T) {
	if Refused.String() != "refused" || Pool.String() != "pool" || Credits.String() != "credits" || Free.String() != "free" {
		t.Error("Outcome names")
	}
}
