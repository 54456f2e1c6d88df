package store_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
)

var dirEnv = directory.Env{CreditsSetUp: true}

// applyDir applies cmds to d and returns their merged changes.
func applyDir(t *testing.T, d *directory.Directory, cmds ...directory.Command) directory.Changes {
	t.Helper()
	var all directory.Changes
	for _, c := range cmds {
		ch, err := directory.Apply(d, c, dirEnv)
		if err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		all.Merge(ch)
	}
	return all
}

func saveDir(t *testing.T, s *store.SQL, d *directory.Directory, c directory.Changes) int {
	t.Helper()
	n, err := store.SaveDirectory(ctx, s, d.Tenant, &c, d)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sameDir checks that the stored directory equals d, read in a transaction and outside.
func sameDir(t *testing.T, s *store.SQL, d *directory.Directory) {
	t.Helper()
	inTx, read, err := store.LoadDirectory(ctx, s, d.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	if err := inTx.Check(); err != nil {
		t.Fatal(err)
	}
	for _, got := range []*directory.Directory{inTx, read} {
		if !reflect.DeepEqual(got, d) {
			t.Fatalf("loaded\n %s\nwant\n %s", dump(got), dump(d))
		}
	}
}

func dump(d *directory.Directory) string {
	s := fmt.Sprintf("tenant %s billing %s purchased %v\n", d.Tenant, d.BillingCountry, d.PurchasedLicences)
	for id, u := range d.Users {
		s += fmt.Sprintf("  user %s %+v\n", id, *u)
	}
	for e, n := range d.Numbers {
		s += fmt.Sprintf("  number %s %+v\n", e, *n)
	}
	return s
}

func TestDirectoryRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, s *store.SQL) {
		if bad := store.UnpreparedDirectoryTexts(s); len(bad) > 0 {
			t.Fatalf("SQLite could not prepare %d statements, the first:\n%s", len(bad), bad[0])
		}
		// A tenant without rows has an empty directory.
		sameDir(t, s, directory.New("acme"))

		d := directory.New("acme")
		saveDir(t, s, d, applyDir(t, d,
			directory.SetBillingCountry{Country: "US"},
			directory.PutUser{User: directory.User{ID: "alice", DisplayName: "Alice Ä", UPN: "alice@acme.example", Kind: directory.KindUser,
				UsageLocation: "US", Licences: []string{"MCOPSTN1", "MCOEV", "MCOEV"}, ConfDialOut: directory.DialOutZoneA,
				PSTNPolicy: directory.PSTNDomestic, SpendLimit: money.Amount(12345), TollFreeDialInDisabled: true}},
			directory.PutUser{User: directory.User{ID: "bob", DisplayName: "Bob", Kind: directory.KindUser, UsageLocation: "GB"}},
			directory.PutUser{User: directory.User{ID: "aa", DisplayName: "Main line", Kind: directory.KindResourceAccount,
				UsageLocation: "US", Licences: []string{"MCOEV_VIRTUALUSER", "MCOPSTNPP"}}},
			directory.AcquireNumber{E164: "+12025550123", Kind: directory.NumberUser},
			directory.AcquireNumber{E164: "+442071838750", Kind: directory.NumberUser},
			directory.AcquireNumber{E164: "+14255550100", Kind: directory.NumberService, Service: directory.ServiceToll},
			directory.AcquireNumber{E164: "+18005550100", Kind: directory.NumberService, Service: directory.ServiceTollFree},
			directory.AcquireNumber{E164: "+33800123456", Kind: directory.NumberService, Service: directory.ServiceTollFree},
			directory.AssignNumber{E164: "12025550123", To: "alice"},
			directory.AssignNumber{E164: "18005550100", To: "aa"},
			directory.AssignNumber{E164: "14255550100", To: directory.Bridge},
			directory.SetPurchasedLicences{Code: "MCOMEETADD", Count: 40},
			directory.SetPurchasedLicences{Code: "MCOPSTN1", Count: 3},
		))
		sameDir(t, s, d)

		// Another tenant's rows stay apart.
		other := directory.New("other")
		saveDir(t, s, other, applyDir(t, other,
			directory.PutUser{User: directory.User{ID: "alice", Kind: directory.KindUser, UsageLocation: "DE", Licences: []string{"MCOEV"}}},
			directory.AcquireNumber{E164: "+12025550123", Kind: directory.NumberUser},
			directory.SetBillingCountry{Country: "DE"},
		))
		sameDir(t, s, other)
		sameDir(t, s, d)

		// Only the changes are written: deletes, unassignments, licences removed to none,
		// purchased licences forgotten, settings changed.
		saveDir(t, s, d, applyDir(t, d,
			directory.DeleteUser{UserID: "alice"},
			directory.ReleaseNumber{E164: "12025550123"},
			directory.UnassignNumber{E164: "14255550100"},
			directory.ReleaseNumber{E164: "14255550100"},
			directory.AssignLicences{UserIDs: []string{"aa"}, Remove: []string{"MCOEV_VIRTUALUSER", "MCOPSTNPP"}},
			directory.AssignNumber{E164: "442071838750", To: "bob"},
			directory.SetPurchasedLicences{Code: "MCOPSTN1", Count: 0},
			directory.SetBillingCountry{Country: "CA"},
			directory.SetPolicies{UserID: "bob", ConfDialOut: ptr(directory.DialOutNone)},
		))
		sameDir(t, s, d)
		if len(d.Users) != 2 || len(d.Numbers) != 3 || len(d.PurchasedLicences) != 1 {
			t.Fatalf("unexpected fixture %s", dump(d))
		}
		sameDir(t, s, other)

		// A user deleted and created again in one batch is written as created.
		saveDir(t, s, d, applyDir(t, d,
			directory.DeleteUser{UserID: "bob"},
			directory.PutUser{User: directory.User{ID: "bob", Kind: directory.KindUser, UsageLocation: "FR", Licences: []string{"MCOPSTNPP"}}},
		))
		sameDir(t, s, d)
	})
}

func ptr[T any](v T) *T { return &v }

func TestDirectoryLargeBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, s *store.SQL) {
		d := directory.New("big")
		const n = 600 // more than two chunks of every statement
		var cmds []directory.Command
		var ids []string
		for i := range n {
			id := fmt.Sprintf("u%04d", i)
			ids = append(ids, id)
			e164 := fmt.Sprintf("1202555%04d", i)
			cmds = append(cmds,
				directory.PutUser{User: directory.User{ID: id, DisplayName: "User " + id, Kind: directory.KindUser,
					UsageLocation: []string{"US", "PR", "GB"}[i%3], Licences: []string{"MCOEV", "MCOPSTN1", "MCOPSTNPP"}}},
				directory.AcquireNumber{E164: e164, Kind: directory.NumberUser},
				directory.AssignNumber{E164: e164, To: id},
			)
		}
		ch := applyDir(t, d, cmds...)
		if len(ch.Users) != n || len(ch.Numbers) != n {
			t.Fatalf("%d users, %d numbers changed", len(ch.Users), len(ch.Numbers))
		}
		if k := saveDir(t, s, d, ch); k > 40 {
			t.Fatalf("%d statements for %d users", k, n)
		}
		sameDir(t, s, d)

		// Bulk licence change on every user, then half of them deleted.
		saveDir(t, s, d, applyDir(t, d, directory.AssignLicences{UserIDs: ids, Add: []string{"MCOMEETADD"}, Remove: []string{"MCOPSTN1"}}))
		sameDir(t, s, d)
		var del []directory.Command
		for _, id := range ids[:n/2] {
			del = append(del, directory.DeleteUser{UserID: id})
		}
		saveDir(t, s, d, applyDir(t, d, del...))
		sameDir(t, s, d)
	})
}
