package directory

import (
	"maps"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/commcredits/commcredits/internal/money"
)

// A small universe so that random commands collide: few ids, few numbers, some bad values.
var (
	propIDs      = []string{"u1", "u2", "u3", "r1", "r2", "", "bridge"}
	propNumbers  = []string{"12025550123", "+442071838750", "14255550100", "18005550100", "33800123456", "+1555", ""}
	propTargets  = append([]string{Bridge}, propIDs...)
	propLicences = []string{"MCOEV", "MCOEV_VIRTUALUSER", "MCOPSTN1", "MCOPSTN2", "MCOPSTNPP", "MCOMEETADD", "FREECALL", "MCOXYZ"}
	propCountry  = []string{"US", "GB", "PR", "fr", "XX", ""}
	propPolicy   = []string{"any", "same_country", "zone_a", "none", "international", "domestic", "bogus", ""}
)

func drawCommand(t *rapid.T) Command {
	id := rapid.SampledFrom(propIDs)
	num := rapid.SampledFrom(propNumbers)
	lic := rapid.SliceOfN(rapid.SampledFrom(propLicences), 0, 3)
	cc := rapid.SampledFrom(propCountry)
	switch rapid.IntRange(-1, 13).Draw(t, "cmd") {
	case -1:
		return SetPurchasedLicences{Code: rapid.SampledFrom(propLicences).Draw(t, "code"), Count: rapid.IntRange(-1, 3).Draw(t, "count")}
	case 0:
		return SetBillingCountry{Country: cc.Draw(t, "cc")}
	case 1, 2:
		return PutUser{User{
			ID:            id.Draw(t, "id"),
			Kind:          rapid.SampledFrom([]string{KindUser, KindResourceAccount, "x"}).Draw(t, "kind"),
			UsageLocation: cc.Draw(t, "cc"),
			Licences:      lic.Draw(t, "licences"),
			Number:        rapid.SampledFrom(append([]string{"", ""}, propNumbers...)).Draw(t, "number"),
			ConfDialOut:   rapid.SampledFrom(propPolicy).Draw(t, "conf"),
			SpendLimit:    money.Amount(rapid.Int64Range(-1, 1000).Draw(t, "limit")),
		}}
	case 3:
		return DeleteUser{UserID: id.Draw(t, "id")}
	case 4:
		return AssignLicences{UserIDs: rapid.SliceOfN(id, 0, 3).Draw(t, "ids"), Add: lic.Draw(t, "add"), Remove: lic.Draw(t, "remove")}
	case 5:
		return SetUsageLocation{UserID: id.Draw(t, "id"), Country: cc.Draw(t, "cc")}
	case 6:
		p := rapid.SampledFrom(propPolicy).Draw(t, "p")
		return SetPolicies{UserID: id.Draw(t, "id"), ConfDialOut: &p, PSTN: &p}
	case 7:
		return SetTollFreeDialIn{OrganizerID: id.Draw(t, "id"), Disabled: rapid.Bool().Draw(t, "off")}
	case 8, 9:
		return AcquireNumber{E164: num.Draw(t, "num"),
			Kind:    rapid.SampledFrom([]string{NumberUser, NumberService, ""}).Draw(t, "kind"),
			Service: rapid.SampledFrom([]string{"", ServiceToll, ServiceTollFree}).Draw(t, "service")}
	case 10, 11:
		return AssignNumber{E164: num.Draw(t, "num"), To: rapid.SampledFrom(propTargets).Draw(t, "to")}
	case 12:
		return UnassignNumber{E164: num.Draw(t, "num")}
	default:
		return ReleaseNumber{E164: num.Draw(t, "num")}
	}
}

// TestPropertyInvariants: random command sequences never leave a number with two owners or
// assigned to a missing principal (Check), a refused command changes nothing, and the
// changes of an accepted one are exactly what differs.
func TestPropertyInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := New("t")
		env := Env{CreditsSetUp: rapid.Bool().Draw(t, "credits")}
		for range rapid.IntRange(1, 60).Draw(t, "steps") {
			cmd := drawCommand(t)
			before := d.Clone()
			ch, err := Apply(d, cmd, env)
			if err != nil {
				if !reflect.DeepEqual(d, before) {
					t.Fatalf("%s refused (%v) but changed the directory", cmd.Name(), err)
				}
				continue
			}
			if err := d.Check(); err != nil {
				t.Fatalf("after %#v: %v", cmd, err)
			}
			owners := map[string]string{}
			for id, u := range d.Users {
				if u.Number == "" {
					continue
				}
				if o, dup := owners[u.Number]; dup {
					t.Fatalf("number %s held by %s and %s", u.Number, o, id)
				}
				owners[u.Number] = id
			}
			// Replaying the changes on the old state gives the new one: storage that
			// writes only the changes stays equal to the directory.
			replay(before, ch, d)
			if !reflect.DeepEqual(before, d) {
				t.Fatalf("%#v: changes %+v do not describe the change", cmd, ch)
			}
		}
	})
}

// replay applies changes to d as storage does: the settings are read from now.
func replay(d *Directory, ch Changes, now *Directory) {
	if ch.Settings {
		d.BillingCountry, d.PurchasedLicences = now.BillingCountry, maps.Clone(now.PurchasedLicences)
	}
	for _, u := range ch.Users {
		v := u.clone()
		d.Users[u.ID] = &v
	}
	for _, id := range ch.DeletedUsers {
		delete(d.Users, id)
	}
	for _, n := range ch.Numbers {
		v := n
		d.Numbers[n.E164] = &v
	}
	for _, e := range ch.DeletedNumbers {
		delete(d.Numbers, e)
	}
}
