package bench

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/ingest"
	"github.com/commcredits/commcredits/internal/numbers"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/writer"
)

func TestTrafficDeterministicAndSkewed(t *testing.T) {
	const n = 40_000
	w := Default()
	a, b := w.Traffic(n), w.Traffic(n)
	perTenant := map[string]int{}
	regions := map[string]bool{}
	var prev time.Time
	answered, long := 0, 0
	for i := 0; ; i++ {
		x, okA := a.Next()
		y, okB := b.Next()
		if okA != okB || x != y {
			t.Fatalf("call %d differs between two runs of the same workload: %+v vs %+v", i, x, y)
		}
		if !okA {
			if i != n {
				t.Fatalf("%d calls, want %d", i, n)
			}
			break
		}
		perTenant[x.Tenant]++
		if x.Start.Before(prev) || x.Start.Before(w.Month) || !x.Start.Before(w.Month.AddDate(0, 1, 0)) {
			t.Fatalf("call %d starts at %v after %v", i, x.Start, prev)
		}
		prev = x.Start
		if x.Seconds < 0 || x.Seconds > 7200 {
			t.Fatalf("call %d lasts %d s", i, x.Seconds)
		}
		if x.Seconds > 0 {
			answered++
		}
		if x.Seconds > 1800 {
			long++
		}
		num, err := numbers.Parse(x.Callee, "")
		if err != nil {
			t.Fatalf("call %d callee %s: %v", i, x.Callee, err)
		}
		regions[num.Country] = true
	}
	hot := float64(perTenant[TenantID(0)]) / n
	if hot < 0.28 || hot > 0.32 {
		t.Errorf("tenant 0 makes %.3f of the calls, want 0.30", hot)
	}
	// Every other tenant gets its share of the rest: 0.7 n / 999 ≈ 28 each.
	if len(perTenant) < 990 {
		t.Errorf("only %d tenants call", len(perTenant))
	}
	for id, c := range perTenant {
		if id != TenantID(0) && c > 100 {
			t.Errorf("tenant %s makes %d calls, more than a cold tenant should", id, c)
		}
	}
	if len(regions) < 100 {
		t.Errorf("calls reach %d countries", len(regions))
	}
	if r := float64(answered) / n; r < 0.8 || r > 0.9 {
		t.Errorf("answered share %.3f, want ~0.85", r)
	}
	if long == 0 {
		t.Error("no call longer than 30 minutes")
	}
	// Another seed is another workload.
	w2 := w
	w2.Seed = 2
	c1, _ := w.Traffic(10).Next()
	c2, _ := w2.Traffic(10).Next()
	if c1 == c2 {
		t.Error("seed does not change the traffic")
	}
}

func TestCardCoversEveryCountry(t *testing.T) {
	w := Default()
	w.Prefixes = 20_000
	card, err := rating.Import(rating.Meta{Service: rating.Outbound, Currency: usd, Version: 1}, w.CardCSV())
	if err != nil {
		t.Fatal(err)
	}
	if card.Len() != 20_000 {
		t.Errorf("card has %d prefixes", card.Len())
	}
	for _, c := range world() {
		for _, num := range c.nums {
			if _, ok := card.Lookup(num[1:], w.Month); !ok {
				t.Errorf("%s (%s): no rate", num, c.region)
			}
		}
	}
}

func TestCSVStreamsTheTraffic(t *testing.T) {
	w := Default()
	const n = 10_000
	rd, err := charging.NewCSVReader(w.CSV(n))
	if err != nil {
		t.Fatal(err)
	}
	tr := w.Traffic(n)
	for i := 0; ; i++ {
		got, _, err := rd.Next()
		want, ok := tr.Next()
		if err == io.EOF && !ok {
			break
		}
		if err != nil || !ok {
			t.Fatalf("record %d: %v (traffic has more: %v)", i, err, ok)
		}
		wc := want.CDR()
		if got.Tenant != wc.Tenant || got.CallID != wc.CallID || got.Callee != wc.Callee || !got.Start.Equal(wc.Start) || got.Duration != wc.Duration {
			t.Fatalf("record %d: %+v, want %+v", i, got, wc)
		}
	}
}

// TestWorkloadIsRealistic books a month of heavy traffic for a few tenants and checks what
// the workload promises: pools pay first and run out before the month ends, credits pay the
// rest, and auto-recharge fires (credited at once on an agreement, a payment attempt through
// the outbox for a card).
func TestWorkloadIsRealistic(t *testing.T) {
	ctx := context.Background()
	w := Default()
	w.Tenants, w.Prefixes = 10, 5_000
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "w.db"), db.WithMigrate())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st := store.New(d)
	env, err := w.Env()
	if err != nil {
		t.Fatal(err)
	}
	wr := writer.New(st, Clock{w.Now()}, writer.Config{Env: env})
	defer wr.Close()
	if err := w.Populate(ctx, st, wr); err != nil {
		t.Fatal(err)
	}
	const n = 6_000
	rep, err := ingest.Import(ctx, wr, w.CSV(n), ingest.Options{})
	if err != nil || rep.Lines != n || rep.Rejected != 0 {
		t.Fatalf("%+v %v", rep, err)
	}
	q := func(query string, args ...any) int64 {
		var v int64
		if err := d.Read().QueryRowContext(ctx, query, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return v
	}
	// Tenant 1's domestic pool (MCOPSTN5, 120 minutes) is used up before the month ends,
	// and later domestic calls of its calling-plan user are charged to credits.
	mid := w.Month.AddDate(0, 0, 20).UnixNano() // start_at is in nanoseconds
	if v := q(`SELECT COUNT(*) FROM usage WHERE tenant_id = 't0001' AND user_id = 'dom-0' AND pool_seconds > 0`); v == 0 {
		t.Error("no call of a calling-plan user drew on its pool")
	}
	if v := q(`SELECT COUNT(*) FROM usage WHERE tenant_id = 't0001' AND user_id = 'dom-0' AND pool_seconds = 0 AND charge > 0 AND start_at < ?`, mid); v == 0 {
		t.Error("the domestic pool did not run out before the 21st")
	}
	// Auto-recharge: agreement tenants got credits beyond their opening balance; the card
	// tenant (t0003) has a payment attempt in the outbox.
	if v := q(`SELECT COUNT(*) FROM ledger_entries WHERE tenant_id = 't0000' AND kind = 'funding'`); v < 2 {
		t.Errorf("tenant 0 was funded %d times: auto-recharge never fired", v)
	}
	if v := q(`SELECT COUNT(*) FROM outbox WHERE tenant_id = 't0003' AND kind = 'start_attempt'`); v == 0 {
		t.Error("the card tenant's auto-recharge started no payment")
	}
}
