package directory_test

import (
	"errors"
	"fmt"

	"github.com/commcredits/commcredits/internal/directory"
)

func Example() {
	d := directory.New("acme")
	env := directory.Env{CreditsSetUp: false} // nil Catalog: the default catalog
	for _, c := range []directory.Command{
		directory.SetBillingCountry{Country: "US"},
		directory.PutUser{User: directory.User{ID: "alice", DisplayName: "Alice", Kind: directory.KindUser,
			UsageLocation: "US", Licences: []string{"MCOPSTN1", "MCOEV"}}},
		directory.AcquireNumber{E164: "+12025550123", Kind: directory.NumberUser},
		directory.AssignNumber{E164: "+12025550123", To: "alice"},
	} {
		ch, err := directory.Apply(d, c, env)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %d users, %d numbers changed\n", c.Name(), len(ch.Users), len(ch.Numbers))
	}
	u, _ := d.UserByNumber("+12025550123")
	fmt.Println(u.ID, u.Licences, u.ConfDialOut, u.PSTNPolicy)

	_, err := directory.Apply(d, directory.AcquireNumber{E164: "+18005550100", Kind: directory.NumberService, Service: directory.ServiceTollFree}, env)
	fmt.Println(errors.Is(err, directory.ErrCreditsNotSetUp), err)
	_, err = directory.Apply(d, directory.AssignLicences{UserIDs: []string{"alice"}, Add: []string{"MCOPSTNPP", "MCOXYZ"}}, env)
	fmt.Println(errors.Is(err, directory.ErrInvalid), err)

	rows, _ := directory.ParseLicenceCSV([]byte("user_id,add,remove\nalice,MCOPSTNPP;MCOMEETADD,MCOPSTN1\n"))
	if _, err := directory.Apply(d, directory.AssignLicenceRows{Rows: rows}, env); err != nil {
		fmt.Println(err)
	}
	fmt.Println(d.Principals())
	// Output:
	// set_billing_country: 0 users, 0 numbers changed
	// put_user: 1 users, 0 numbers changed
	// acquire_number: 0 users, 1 numbers changed
	// assign_number: 1 users, 1 numbers changed
	// alice [MCOEV MCOPSTN1] any international
	// true service: toll-free numbers need Communications Credits set up first
	// true add[1]: unknown licence "MCOXYZ"
	// [{alice [MCOEV MCOMEETADD MCOPSTNPP] US}]
}
