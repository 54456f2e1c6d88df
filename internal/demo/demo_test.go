package demo_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/demo"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/service"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// The demo seeds what the README promises, and seeding again changes no data.
func TestSeedIsCompleteAndIdempotent(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, "sqlite:"+filepath.Join(t.TempDir(), "cc.db"))
	cards := rating.NewRegistry()
	env := &tenant.Env{Catalog: plans.Default(), Cards: cards, CallTTL: time.Hour}
	w := writer.New(st, writer.SystemClock{}, writer.Config{Env: env})
	defer w.Close()
	svc := &service.Service{Store: st, Writer: w, Cards: cards, Env: env}
	res, err := demo.Seed(ctx, svc, demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{res.OperatorKey, res.AdminKey, res.SwitchKey} {
		if _, err := svc.Authenticate(ctx, k); err != nil {
			t.Fatalf("key %q: %v", k, err)
		}
	}
	snap := func() string {
		s, err := svc.State(ctx, res.Tenant)
		if err != nil {
			t.Fatal(err)
		}
		es, _ := st.Entries(ctx, res.Tenant, 0, 100000)
		usage, _ := st.ReportUsage(ctx, res.Tenant)
		ref, _ := st.ReportRefusals(ctx, res.Tenant)
		cv, _ := st.RateCardVersions(ctx)
		b, _ := json.Marshal([]any{s.Account, s.Dir, s.Recharge.Settings, es, usage, ref, len(cv)})
		return string(b)
	}
	first := snap()
	s, _ := svc.State(ctx, res.Tenant)
	countries := map[string]bool{}
	for _, u := range s.Dir.Users {
		if len(u.Licences) > 0 {
			countries[u.UsageLocation] = true
		}
	}
	tollFree, toll := 0, 0
	for _, n := range s.Dir.Numbers {
		switch n.Service {
		case "toll_free":
			tollFree++
		case "toll":
			toll++
		}
	}
	usage, _ := st.ReportUsage(ctx, res.Tenant)
	refusals, _ := st.ReportRefusals(ctx, res.Tenant)
	switch {
	case len(countries) < 3:
		t.Errorf("licensed users in %d countries", len(countries))
	case tollFree == 0 || toll == 0:
		t.Errorf("toll %d, toll-free %d numbers", toll, tollFree)
	case !s.Recharge.Settings.Enabled:
		t.Error("auto-recharge off")
	case s.Account.Totals.Funded == 0 || s.Account.Totals.Charged == 0:
		t.Errorf("funded %d, charged %d", s.Account.Totals.Funded, s.Account.Totals.Charged)
	case len(usage) < 5 || len(refusals) == 0:
		t.Errorf("%d usage rows, %d refusals", len(usage), len(refusals))
	case len(s.Calls) != 0:
		t.Errorf("%d calls left open", len(s.Calls))
	}
	if _, err := demo.Seed(ctx, svc, demo.Options{}); err != nil {
		t.Fatal(err)
	}
	if again := snap(); again != first {
		t.Fatalf("second seed changed data:\n%s\n%s", first, again)
	}
}
