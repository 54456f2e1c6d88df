package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
	"github.com/commcredits/commcredits/internal/tenant"
)

// TestReportQueries checks the report engine's read queries on both engines: streamed usage
// with its filters, daily sums, entries by time, the directory and the recharge state.
func TestReportQueries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ string, s *store.SQL) {
		mustTenant(t, s, "acme")
		var st *tenant.State
		var v int64
		if err := s.WriteTx(ctx, func(tx store.Tx) (err error) { st, v, err = tx.LoadState(ctx, "acme", t0); return }); err != nil {
			t.Fatal(err)
		}
		day := 24 * time.Hour
		m := applyAll(t, st.Account, v, t0, ledger.Fund{Amount: 5000, Source: "purchase"})
		for i, c := range []int64{100, 250} {
			r, err := ledger.Apply(st.Account, ledger.Charge{Amount: money.Amount(c), Ref: fmt.Sprint("c", i)}, t0.Add(time.Duration(i+1)*day), ledger.Config{})
			if err != nil {
				t.Fatal(err)
			}
			m.Entries = append(m.Entries, r.Entries...)
		}
		m.State = st
		// three calls: day 0 (two, users u1 and u2), day 2 (u1, conf_out)
		for i, u := range []struct {
			user, typ, capab string
			at               time.Time
			charge           int64
		}{{"u1", "user_out", "MCOPSTNPP", t0, 100}, {"u2", "user_out", "MCOPSTN1", t0.Add(time.Hour), 0}, {"u1", "conf_out", "MCOPSTNPP", t0.Add(2 * day), 250}} {
			m.Usage = append(m.Usage, charging.UsageRow{Tenant: "acme", CallID: fmt.Sprint("call", i), UserID: u.user, CallType: u.typ,
				Capability: u.capab, Start: u.at, End: u.at.Add(time.Minute), DurationSeconds: 60, Charge: money.Amount(u.charge), Currency: "USD"})
		}
		if err := save(s, m); err != nil {
			t.Fatal(err)
		}
		from := t0.Truncate(day)
		for _, tc := range []struct {
			f    store.UsageFilter
			want string
		}{
			{store.UsageFilter{From: from, To: from.Add(3 * day)}, "call0 call1 call2"},
			{store.UsageFilter{From: from, To: from.Add(3 * day), User: "u1"}, "call0 call2"},
			{store.UsageFilter{From: from, To: from.Add(3 * day), CallType: "conf_out"}, "call2"},
			{store.UsageFilter{From: from, To: from.Add(3 * day), Capability: "MCOPSTN1"}, "call1"},
			{store.UsageFilter{From: t0.Add(time.Hour), To: t0.Add(2 * day)}, "call1"}, // half-open
		} {
			var got []string
			if err := s.EachUsage(ctx, "acme", tc.f, func(u *store.UsageRecord) error { got = append(got, u.CallID); return nil }); err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("filter %+v: got %v, want %s", tc.f, got, tc.want)
			}
		}
		days, err := s.ReportUsageDaily(ctx, "acme", store.UsageFilter{From: from, To: from.Add(3 * day)})
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 2 || !days[0].Day.Equal(from) || days[0].Calls != 2 || days[0].Charge != 100 ||
			!days[1].Day.Equal(from.Add(2*day)) || days[1].Calls != 1 || days[1].Charge != 250 {
			t.Fatalf("days %+v", days)
		}
		var kinds []string
		if err := s.EachEntry(ctx, "acme", t0.Add(time.Second), t0.Add(3*day), func(e ledger.Entry) error {
			kinds = append(kinds, fmt.Sprintf("%s%d", e.Kind, e.Amount))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if strings.Join(kinds, " ") != "charge-100 charge-250" {
			t.Fatalf("entries %v", kinds)
		}
		d, err := s.ReportDirectory(ctx, "acme")
		if err != nil || d.Tenant != "acme" {
			t.Fatalf("directory %+v %v", d, err)
		}
		r, err := s.ReportRecharge(ctx, "acme")
		if err != nil || r.Tenant != "acme" || r.Settings.Enabled {
			t.Fatalf("recharge %+v %v", r, err)
		}
	})
}
