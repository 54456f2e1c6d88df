package web_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/tenant"
)

// BenchmarkPages measures a signed-in page view end to end over loopback HTTP (session
// lookup, state read, render) for a tenant with 1,000 users and 1,000 calls.
func BenchmarkPages(b *testing.B) {
	h := newHarness(b, "sqlite:"+b.TempDir()+"/cc.db", false)
	h.submit("fund", tenant.AddFunds{Amount: 1_000_000, Method: "ea:AG-1"})
	for i := range 1000 {
		h.submit(fmt.Sprint("u", i), directory.PutUser{User: directory.User{ID: fmt.Sprintf("user%04d", i), DisplayName: fmt.Sprint("User ", i),
			Kind: directory.KindUser, UsageLocation: "US", Licences: []string{"MCOEV", "MCOPSTN1", "MCOPSTNPP"}}})
	}
	for i := range 1000 {
		id := fmt.Sprint("call", i)
		h.submit("", tenant.Authorize{CallID: id, Type: payer.UserOut, Principal: fmt.Sprintf("user%04d", i), Caller: "+12025550100", Callee: "+971501234567"})
		h.submit("", tenant.Settle{CallID: id, Seconds: 90})
	}
	c := h.client(nil)
	c.signIn("admin@acme.test")
	for _, p := range []string{"/ui/credits", "/ui/users", "/ui/reports/usage", "/ui/reports/pools", "/ui/reports/blocked"} {
		b.Run(p, func(b *testing.B) {
			for b.Loop() {
				res, err := c.http.Get(h.url + p)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", p, res.StatusCode)
				}
			}
		})
	}
}
