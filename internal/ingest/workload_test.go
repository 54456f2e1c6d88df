package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
)

// The synthetic CDR import that BenchmarkImportCSV and the ingest tests use (exported to
// the package's external tests only; `commcredits bench` has its own realistic workload in
// internal/bench): tenants in USD, each with a PAYG user
// (alice, GB) and a Domestic Calling Plan user (bob, US), one outbound card, and CDRs of
// March 2026 spread over the tenants with one of them taking ~30 % of the traffic.

// WorkloadMonth is the month the workload's CDRs start in; WorkloadNow is the writer's
// clock for it (the month's last day).
var (
	WorkloadMonth = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	WorkloadNow   = time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
)

// WorkloadCardCSV is the workload's outbound USD rate card.
const WorkloadCardCSV = "prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n" +
	"1,United States,fixed_or_mobile,0.01,0,60,60,2026-01-01,false\n" +
	"44,United Kingdom,fixed_or_mobile,0.02,0,1,1,2026-01-01,false\n" +
	"971,United Arab Emirates,mobile,0.30,0.10,30,6,2026-01-01,false\n"

// WorkloadEnv returns the writer environment of the workload (catalog, the card, 1 h call TTL).
func WorkloadEnv() (*tenant.Env, error) {
	g := rating.NewRegistry()
	if _, err := g.Import(rating.Outbound, money.MustCurrency("USD"), []byte(WorkloadCardCSV), WorkloadMonth.AddDate(0, -1, 0)); err != nil {
		return nil, err
	}
	return &tenant.Env{Catalog: plans.Default(), Cards: g, CallTTL: time.Hour}, nil
}

// PopulateWorkload creates the tenants ids with the workload's users, each funded with funds.
func PopulateWorkload(ctx context.Context, s store.Store, w Submitter, ids []string, funds money.Amount) error {
	usd := money.MustCurrency("USD")
	for _, id := range ids {
		if err := s.CreateTenant(ctx, store.Tenant{ID: id, Name: id, Currency: usd, CreatedAt: WorkloadMonth}); err != nil {
			return err
		}
		for j, u := range []directory.User{
			{ID: "alice", DisplayName: "Alice", Kind: directory.KindUser, UsageLocation: "GB", Licences: []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}},
			{ID: "bob", DisplayName: "Bob", Kind: directory.KindUser, UsageLocation: "US", Licences: []string{"MCOEV", "MCOPSTN1", "MCOPSTNPP"}},
		} {
			if _, err := w.Submit(ctx, id, fmt.Sprint("user-", j), directory.PutUser{User: u}); err != nil {
				return err
			}
		}
		if _, err := w.Submit(ctx, id, "fund", ledger.Fund{Amount: funds, Source: "purchase"}); err != nil {
			return err
		}
	}
	return nil
}

// WorkloadCDRs makes n CDRs over tenants, tenants[0] getting ~30 % of them, call ids
// prefix-0000000…: start times spread over WorkloadMonth, 15 % unanswered, the rest
// exponential around 3 minutes up to 2 hours; PAYG calls to the UAE and the UK, Calling Plan
// calls in the US, and 2 % to Japan, which has no rate (FREECALL).
func WorkloadCDRs(n int, tenants []string, prefix string, seed uint64) []charging.CDR {
	g := newWorkloadGen(tenants, prefix, seed)
	out := make([]charging.CDR, n)
	for i := range out {
		out[i] = g.next()
	}
	return out
}

// WriteWorkloadCSV writes the CSV of WorkloadCDRs(n, tenants, prefix, seed) to w, a few
// thousand records at a time, so that a large file never has to be held in memory.
func WriteWorkloadCSV(w io.Writer, n int, tenants []string, prefix string, seed uint64) error {
	g := newWorkloadGen(tenants, prefix, seed)
	chunk := make([]charging.CDR, 0, 4096)
	var buf bytes.Buffer
	for done := 0; done < n; {
		chunk = chunk[:0]
		for ; len(chunk) < cap(chunk) && done < n; done++ {
			chunk = append(chunk, g.next())
		}
		buf.Reset()
		if err := charging.FormatCSV(&buf, chunk); err != nil {
			return err
		}
		b := buf.Bytes()
		if done > len(chunk) { // the header only once
			b = b[bytes.IndexByte(b, '\n')+1:]
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

type workloadGen struct {
	rng     *rand.Rand
	tenants []string
	prefix  string
	i       int
}

func newWorkloadGen(tenants []string, prefix string, seed uint64) *workloadGen {
	return &workloadGen{rng: rand.New(rand.NewPCG(seed, 2)), tenants: tenants, prefix: prefix}
}

func (g *workloadGen) next() charging.CDR {
	rng, tenants := g.rng, g.tenants
	id := tenants[0]
	if len(tenants) > 1 && rng.Float64() >= 0.3 {
		id = tenants[1+rng.IntN(len(tenants)-1)]
	}
	c := charging.CDR{Tenant: id, CallID: fmt.Sprintf("%s-%07d", g.prefix, g.i), CallType: payer.UserOut,
		Start: WorkloadMonth.Add(time.Duration(rng.Int64N(int64(29 * 24 * time.Hour)))).Truncate(time.Second)}
	g.i++
	switch r := rng.IntN(100); {
	case r < 2:
		c.Principal, c.Caller, c.Callee = "alice", "+442071838750", "+81312345678"
	case r < 30:
		c.Principal, c.Caller, c.Callee = "alice", "+442071838750", "+971501234567"
	case r < 55:
		c.Principal, c.Caller, c.Callee = "alice", "+442071838750", "+442079460000"
	default:
		c.Principal, c.Caller, c.Callee = "bob", "+12025550100", "+12125550199"
	}
	if rng.IntN(100) >= 15 {
		c.Duration = min(7200, 1+int64(-180*math.Log(1-rng.Float64())))
	}
	c.End = c.Start.Add(time.Duration(c.Duration) * time.Second)
	return c
}
