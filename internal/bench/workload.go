// Package bench is `commcredits bench`: it measures the engine's figures (P1…P7 of issue 8)
// and, in the same run, the machine's own ceilings they are bounded by, and reports each
// figure with its ratio to its ceiling, so that results compare across noisy machines.
//
// The workload is realistic and deterministic (seeded): a rate card of 100,000 prefixes over
// every country libphonenumber knows, 1,000 tenants of which one takes 30% of the traffic,
// calls of 0 s to 2 h to numbers of many countries, calling-plan pools that run out in the
// middle of the month, and auto-recharge that fires as balances fall.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/commcredits/commcredits/internal/bench/cardgen"
	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/numbers"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/recharge"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

// Workload describes the simulated customer base and its traffic. The zero value of a field
// takes the default of Default.
type Workload struct {
	Seed     uint64
	Tenants  int     // 1,000
	HotShare float64 // share of all calls made by tenant 0: 0.30
	Prefixes int     // rate-card prefixes: 100,000
	// Month is the first instant of the month the calls start in.
	Month time.Time
}

// Default is the workload of issue 8.
func Default() Workload {
	return Workload{Seed: 1, Tenants: 1000, HotShare: 0.30, Prefixes: 100_000, Month: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
}

func (w Workload) norm() Workload {
	d := Default()
	if w.Tenants <= 1 {
		w.Tenants = max(w.Tenants, d.Tenants)
	}
	if w.HotShare <= 0 || w.HotShare >= 1 {
		w.HotShare = d.HotShare
	}
	if w.Prefixes <= 0 {
		w.Prefixes = d.Prefixes
	}
	if w.Month.IsZero() {
		w.Month = d.Month
	}
	return w
}

// Now is the writer's clock for the workload: after the month's last call has ended.
func (w Workload) Now() time.Time { return w.norm().Month.AddDate(0, 1, 0).Add(3 * time.Hour) }

// Clock is a writer.Clock fixed at Now.
type Clock struct{ T time.Time }

// Now implements writer.Clock.
func (c Clock) Now() time.Time { return c.T }

var usd = money.MustCurrency("USD")

// homes are the tenants' home countries: each has calling-plan minutes in the catalog, so
// the domestic and international pools exist there.
var homes = []string{"US", "US", "US", "CA", "DE", "FR", "ES", "IT", "NL", "SE", "IE", "AT"}

// country is one destination country with valid numbers of it.
type country struct {
	region string
	cc     string
	nums   []string // "+E164"
}

// world is every region libphonenumber has example numbers for, with a few valid numbers
// each: fixed, mobile and variants of them with other last digits. It is built once.
var world = sync.OnceValue(func() []country {
	regions := make([]string, 0, 256)
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	rng := rand.New(rand.NewPCG(77, 78))
	var out []country
	for _, r := range regions {
		c := country{region: r, cc: fmt.Sprint(phonenumbers.GetCountryCodeForRegion(r))}
		for _, t := range []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE} {
			pn := phonenumbers.GetExampleNumberForType(r, t)
			if pn == nil {
				continue
			}
			e := phonenumbers.Format(pn, phonenumbers.E164)
			for i := range 8 {
				cand := e
				if i > 0 && len(e) > 6 {
					cand = e[:len(e)-2] + fmt.Sprintf("%02d", rng.IntN(100))
				}
				if n, err := numbers.Parse(cand, ""); err == nil && n.Country == r && !slices.Contains(c.nums, cand) {
					c.nums = append(c.nums, cand)
				}
			}
		}
		if len(c.nums) > 0 {
			out = append(out, c)
		}
	}
	return out
})

func countryOf(region string) *country {
	ws := world()
	for i := range ws {
		if ws[i].region == region {
			return &ws[i]
		}
	}
	panic("bench: no numbers for " + region)
}

// Countries is how many destination countries the traffic calls.
func Countries() int { return len(world()) }

// CardCSV is the workload's outbound USD rate card: w.Prefixes prefixes under the calling
// codes of every destination country (each code also a prefix of its own).
func (w Workload) CardCSV() []byte {
	w = w.norm()
	var ccs []string
	for _, c := range world() {
		if !slices.Contains(ccs, c.cc) {
			ccs = append(ccs, c.cc)
		}
	}
	data, _ := cardgen.Card(w.Prefixes, w.Seed, 11, ccs)
	return data
}

// Env is the tenant environment of the workload: the default catalog, the card of CardCSV
// and auto-recharge purchases of at least $50.
func (w Workload) Env() (*tenant.Env, error) {
	w = w.norm()
	g := rating.NewRegistry()
	if _, err := g.Import(rating.Outbound, usd, w.CardCSV(), w.Month.AddDate(0, -1, 0)); err != nil {
		return nil, err
	}
	return &tenant.Env{Catalog: plans.Default(), Cards: g, CallTTL: time.Hour}, nil
}

// TenantID names tenant i.
func TenantID(i int) string { return fmt.Sprintf("t%04d", i) }

// usersPer is how many users of each kind a tenant has: the hot tenant has more.
func (w Workload) usersPer(i int) int {
	if i == 0 {
		return 20
	}
	return 1
}

func (w Workload) home(i int) string { return homes[i%len(homes)] }

// Funding is how tenant i pays: most recharge automatically against an enterprise agreement
// (credited at once when the balance falls under the trigger), one in ten by card (the
// recharge leaves through the outbox as a payment attempt), one in ten prepay without
// auto-recharge.
func (w Workload) Funding(i int) string {
	switch i % 10 {
	case 3:
		return "card"
	case 7:
		return "none"
	}
	return "ea"
}

// Populate creates the workload's tenants in st through wr, 64 at a time: users of each kind
// (pay-as-you-go, a small domestic calling plan and a domestic-and-international plan), an
// opening balance and the auto-recharge settings of Funding.
func (w Workload) Populate(ctx context.Context, st store.Store, wr *writer.Writer) error {
	w = w.norm()
	created := w.Month.AddDate(0, -1, 0)
	// The tenants' rows first, one at a time; their users and funds then go through the
	// writer side by side.
	for i := range w.Tenants {
		id := TenantID(i)
		if err := st.CreateTenant(ctx, store.Tenant{ID: id, Name: id, Currency: usd, CreatedAt: created}); err != nil {
			return fmt.Errorf("tenant %s: %w", id, err)
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	errs := make(chan error, 1)
	for i := range w.Tenants {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := w.populateOne(ctx, wr, i); err != nil {
				select {
				case errs <- fmt.Errorf("tenant %s: %w", TenantID(i), err):
				default:
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func (w Workload) populateOne(ctx context.Context, wr *writer.Writer, i int) error {
	id := TenantID(i)
	home := w.home(i)
	for u := range w.usersPer(i) {
		for _, p := range []struct {
			kind string
			lic  []string
		}{
			{"payg", []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}},
			{"dom", []string{"MCOEV", "MCOPSTN5", "MCOPSTNPP"}},
			{"intl", []string{"MCOEV", "MCOPSTN2", "MCOPSTNPP"}},
		} {
			user := directory.User{ID: fmt.Sprintf("%s-%d", p.kind, u), DisplayName: p.kind, Kind: directory.KindUser, UsageLocation: home, Licences: p.lic}
			if _, err := wr.Submit(ctx, id, "user-"+user.ID, directory.PutUser{User: user}); err != nil {
				return err
			}
		}
	}
	funds := money.Amount(100_00)
	if w.Funding(i) == "none" {
		funds = 2_000_00
	}
	if _, err := wr.Submit(ctx, id, "fund", ledger.Fund{Amount: funds, Source: "purchase"}); err != nil {
		return err
	}
	var method string
	var version int64 // the settings version SetPaymentMethod leaves
	switch w.Funding(i) {
	case "ea":
		method = "ea:bench-" + id
	case "card":
		method = "pm_card_visa"
		if _, err := wr.Submit(ctx, id, "pm", tenant.SetPaymentMethod{Method: method, ExpMonth: 12, ExpYear: 2030, Brand: "visa", Last4: "4242"}); err != nil {
			return err
		}
		version = 1
	default:
		return nil
	}
	s := recharge.Settings{Enabled: true, Trigger: 50_00, Amount: 200_00, PaymentMethod: method}
	_, err := wr.Submit(ctx, id, "auto-recharge", tenant.SetAutoRecharge{Settings: s, IfVersion: version})
	return err
}

// Traffic generates the workload's calls in order of start, spread evenly over the month
// (so pools fill up as the month goes on). It is deterministic: the same Workload and n
// give the same calls.
type Traffic struct {
	w    Workload
	rng  *rand.Rand
	n, i int
	span time.Duration
}

// Traffic returns a generator of n calls.
func (w Workload) Traffic(n int) *Traffic {
	w = w.norm()
	return &Traffic{w: w, rng: rand.New(rand.NewPCG(w.Seed, 99)), n: n,
		span: w.Month.AddDate(0, 1, 0).Sub(w.Month) - 2*time.Hour}
}

// Call is one generated call: who calls whom, when, and how many seconds it connects.
type Call struct {
	Tenant    string
	ID        string
	Principal string
	Caller    string
	Callee    string
	Start     time.Time
	Seconds   int64 // connected seconds, 0 for an unanswered call
}

// Next returns the next call; ok is false after n calls.
func (t *Traffic) Next() (c Call, ok bool) {
	if t.i >= t.n {
		return Call{}, false
	}
	rng := t.rng
	ti := 0
	if rng.Float64() >= t.w.HotShare {
		ti = 1 + rng.IntN(t.w.Tenants-1)
	}
	home := countryOf(t.w.home(ti))
	c = Call{Tenant: TenantID(ti), ID: fmt.Sprintf("c%09d", t.i),
		Start: t.w.Month.Add(time.Duration(int64(t.span) / int64(max(t.n, 1)) * int64(t.i))).Truncate(time.Second)}
	c.Caller = home.nums[rng.IntN(len(home.nums))]
	u := rng.IntN(t.w.usersPer(ti))
	dest := home
	switch r := rng.IntN(100); {
	case r < 45: // domestic calls of calling-plan users: their pool, then credits
		c.Principal = fmt.Sprint("dom-", u)
	case r < 70: // international calls of D&I users: the international pool, then credits
		c.Principal = fmt.Sprint("intl-", u)
		dest = t.foreign()
	default: // pay-as-you-go users, anywhere: credits
		c.Principal = fmt.Sprint("payg-", u)
		if rng.IntN(2) == 0 {
			dest = t.foreign()
		}
	}
	c.Callee = dest.nums[rng.IntN(len(dest.nums))]
	if rng.IntN(100) >= 15 {
		c.Seconds = min(7200, 1+int64(-180*math.Log(1-rng.Float64())))
	}
	t.i++
	return c, true
}

// foreign picks a destination country: a few popular ones take half of the calls, the rest
// spread over every country.
func (t *Traffic) foreign() *country {
	if t.rng.IntN(2) == 0 {
		return countryOf([]string{"GB", "MX", "IN", "DE", "FR", "PH", "CN", "AE", "BR", "JP"}[t.rng.IntN(10)])
	}
	ws := world()
	return &ws[t.rng.IntN(len(ws))]
}

// CDR is c as the switch's call detail record.
func (c Call) CDR() charging.CDR {
	return charging.CDR{Tenant: c.Tenant, CallID: c.ID, CallType: payer.UserOut, Principal: c.Principal,
		Caller: c.Caller, Callee: c.Callee, Start: c.Start, End: c.Start.Add(time.Duration(c.Seconds) * time.Second), Duration: c.Seconds}
}

// Authorize is c's authorization request.
func (c Call) Authorize() tenant.Authorize {
	return tenant.Authorize{CallID: c.ID, Type: payer.UserOut, Principal: c.Principal, Caller: c.Caller, Callee: c.Callee, Start: c.Start}
}

// CSV streams the n calls of w as a CDR CSV file (charging.FormatCSV), generated as it is
// read: memory stays flat whatever n.
func (w Workload) CSV(n int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		t := w.Traffic(n)
		chunk := make([]charging.CDR, 0, 4096)
		var buf bytes.Buffer
		first := true
		flush := func() error {
			buf.Reset()
			if err := charging.FormatCSV(&buf, chunk); err != nil {
				return err
			}
			data := buf.Bytes()
			if !first {
				data = data[bytes.IndexByte(data, '\n')+1:] // one header only
			}
			first = false
			chunk = chunk[:0]
			_, err := pw.Write(data)
			return err
		}
		for {
			c, ok := t.Next()
			if ok {
				chunk = append(chunk, c.CDR())
			}
			if len(chunk) == cap(chunk) || (!ok && (len(chunk) > 0 || first)) {
				if err := flush(); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			if !ok {
				pw.Close()
				return
			}
		}
	}()
	return pr
}
