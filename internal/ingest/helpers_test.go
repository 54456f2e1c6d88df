package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/ingest"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/pgtest"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	bg  = context.Background()
	usd = money.MustCurrency("USD")
	// now is the writer's clock; CDRs start in March 2026 (the workload's month).
	now    = ingest.WorkloadNow
	march1 = ingest.WorkloadMonth
)

type fixedClock struct{}

func (fixedClock) Now() time.Time { return now }

func env(t testing.TB) *tenant.Env {
	t.Helper()
	e, err := ingest.WorkloadEnv()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// setup creates n tenants ("t00", "t01", …), each with a PAYG user alice (GB) and a Domestic
// Calling Plan user bob (US), funded with funds, and returns a writer on s.
func setup(t testing.TB, s *store.SQL, n int, funds money.Amount) (*writer.Writer, []string) {
	t.Helper()
	w := writer.New(s, fixedClock{}, writer.Config{Env: env(t)})
	t.Cleanup(func() { _ = w.Close() })
	return w, populate(t, s, w, n, funds)
}

func populate(t testing.TB, s store.Store, w *writer.Writer, n int, funds money.Amount) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%02d", i)
	}
	if err := ingest.PopulateWorkload(bg, s, w, ids, funds); err != nil {
		t.Fatal(err)
	}
	return ids
}

// genCDRs makes n CDRs over tenants in random order of start (so out of order), durations
// 0 s to 2 h, with every unpriceable tenth record calling Japan (no rate: FREECALL).
func genCDRs(n int, tenants []string, seed uint64) (cdrs []charging.CDR, free int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range n {
		c := charging.CDR{Tenant: tenants[rng.IntN(len(tenants))], CallID: fmt.Sprintf("call-%06d", i), CallType: payer.UserOut,
			Start: march1.Add(time.Duration(rng.Int64N(int64(29 * 24 * time.Hour)))).Truncate(time.Second)}
		switch i % 10 {
		case 0:
			c.Principal, c.Caller, c.Callee = "alice", "+442071838750", "+81312345678"
			free++
		case 1, 2, 3:
			c.Principal, c.Caller, c.Callee = "alice", "+442071838750", "+971501234567"
		case 4, 5:
			c.Principal, c.Caller, c.Callee = "alice", "+442071838750", "+442079460000"
		default:
			c.Principal, c.Caller, c.Callee = "bob", "+12025550100", "+12125550199"
		}
		switch rng.IntN(10) {
		case 0:
			c.Duration = 0
		case 1:
			c.Duration = 600 + rng.Int64N(6600)
		default:
			c.Duration = 1 + rng.Int64N(600)
		}
		if rng.IntN(2) == 0 {
			c.End = c.Start.Add(time.Duration(c.Duration+rng.Int64N(20)) * time.Second)
		}
		cdrs = append(cdrs, c)
	}
	return cdrs, free
}

func csvOf(t testing.TB, cdrs []charging.CDR) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := charging.FormatCSV(&b, cdrs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// state is what the database holds after an import, per tenant.
type state struct {
	Balance     money.Amount
	Charged     money.Amount // the account's charge total
	ChargeSum   money.Amount // −Σ ledger charge entries
	ChargeCount int          // ledger charge entries
	UsageSum    money.Amount // Σ usage.charge
	UsageRows   int
	FreeRows    int // usage rows with capability FREECALL
	PoolSeconds int64
}

func dbState(t testing.TB, s *store.SQL, tenants []string) map[string]state {
	t.Helper()
	out := map[string]state{}
	for _, id := range tenants {
		a, err := s.Account(bg, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := ledger.Check(a); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		st := state{Balance: a.Balance, Charged: a.Totals.Charged}
		es, err := s.Entries(bg, id, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Kind == ledger.EntryCharge {
				st.ChargeSum -= e.Amount
				st.ChargeCount++
			}
		}
		out[id] = st
	}
	const q = `SELECT tenant_id, COALESCE(SUM(charge), 0), COUNT(*), COALESCE(SUM(CASE WHEN capability = 'FREECALL' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(pool_seconds), 0) FROM usage WHERE duration_seconds > 0 GROUP BY tenant_id` // the others only keep records
	add := func(id string, sum int64, n, free int, pool int64) {
		st := out[id]
		st.UsageSum, st.UsageRows, st.FreeRows, st.PoolSeconds = money.Amount(sum), n, free, pool
		out[id] = st
	}
	switch d := s.DB(); d.Kind() {
	case db.SQLite:
		rows, err := d.Read().QueryContext(bg, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var sum, pool int64
			var n, free int
			if err := rows.Scan(&id, &sum, &n, &free, &pool); err != nil {
				t.Fatal(err)
			}
			add(id, sum, n, free, pool)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	default:
		rows, err := d.Pool().Query(bg, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var sum, pool, n, free int64
			if err := rows.Scan(&id, &sum, &n, &free, &pool); err != nil {
				t.Fatal(err)
			}
			add(id, sum, int(n), int(free), pool)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
