package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/recharge"
)

// Funding-help windows and factors (docs/reports.md, "Funding help").
const (
	BurnDays       = 30 // the burn rate is measured over the last 30 days
	DryRunDays     = 60 // the dry run replays the last 60 days
	TriggerDays    = 3  // suggested trigger: 3 days of the p95 daily burn
	RechargeDays   = 30 // suggested recharge: 30 days of average burn
	maxDryActions  = 10000
	dryRunMethod   = "ea:dry-run"
	dryRunPayment  = "dry-run"
	sourceRecharge = "recharge"
)

// FundingRequest asks for funding help. Settings is the auto-recharge to dry-run; nil means
// the tenant's own settings when auto-recharge is enabled, else the suggested ones.
type FundingRequest struct {
	Tenant   string             `json:"tenant"`
	Settings *recharge.Settings `json:"settings,omitempty"`
}

// Suggestion is an auto-recharge trigger and amount computed from past usage.
type Suggestion struct {
	Trigger      string `json:"trigger"`
	Amount       string `json:"amount"`
	TriggerMinor int64  `json:"trigger_minor"`
	AmountMinor  int64  `json:"amount_minor"`
	Rule         string `json:"rule"`
}

// DrySettings are the settings a dry run used.
type DrySettings struct {
	Source        string `json:"source"` // request, tenant or suggested
	Enabled       bool   `json:"enabled"`
	Trigger       string `json:"trigger"`
	Amount        string `json:"amount"`
	MonthlyCap    string `json:"monthly_cap,omitempty"`
	PaymentMethod string `json:"payment_method"`
}

// DryRecharge is one recharge the dry run fired.
type DryRecharge struct {
	At           time.Time `json:"at"`
	Amount       string    `json:"amount"`
	BalanceAfter string    `json:"balance_after"`
}

// DryRun is the replay of the last 60 days of debits against the balance under Settings.
type DryRun struct {
	From     time.Time   `json:"from"`
	To       time.Time   `json:"to"`
	Settings DrySettings `json:"settings"`
	// OpeningBalance is the real balance at From; ClosingBalance the simulated one at To.
	OpeningBalance string    `json:"opening_balance"`
	ClosingBalance string    `json:"closing_balance"`
	Debits         int       `json:"debits"` // call charges replayed (refused ones included)
	Charged        string    `json:"charged"`
	Recharges      int       `json:"recharges"`
	Recharged      string    `json:"recharged"`
	LowestBalance  string    `json:"lowest_balance"`
	LowestMinor    int64     `json:"lowest_minor"`
	LowestAt       time.Time `json:"lowest_at"`
	// RefusedCalls are charges met with an available balance ≤ 0: the call would have
	// been refused (and cost nothing). CutShort: calls that cost more than the balance left,
	// so they would have been cut when their grant ran out.
	RefusedCalls     int           `json:"refused_calls"`
	RefusedAmount    string        `json:"refused_amount"`
	FirstRefusedAt   time.Time     `json:"first_refused_at,omitzero"`
	CutShort         int           `json:"cut_short"`
	WouldRefuse      bool          `json:"would_refuse"`
	CapReachedMonths []string      `json:"cap_reached_months"`
	RechargeLog      []DryRecharge `json:"recharge_log"`
}

// Funding is the funding help of issue 7 §3.
type Funding struct {
	Tenant       string    `json:"tenant"`
	Currency     string    `json:"currency"`
	At           time.Time `json:"at"`
	Balance      string    `json:"balance"`
	Available    string    `json:"available"`
	BurnDays     int       `json:"burn_days"`
	Burn         string    `json:"burn"`       // charges of the last 30 days
	DailyBurn    string    `json:"daily_burn"` // their average per day, rounded up
	P95DailyBurn string    `json:"p95_daily_burn"`
	// RunwayDays is how many whole days the available balance lasts at the average daily
	// burn; nil when nothing was charged in the window.
	RunwayDays *int64      `json:"runway_days"`
	Runway     string      `json:"runway"` // the sentence for a human
	Suggestion *Suggestion `json:"suggestion"`
	DryRun     *DryRun     `json:"dry_run"`
}

// Funding measures the burn, the runway and a suggestion over the last 30 days and
// replays the last 60 days under req.Settings (or the tenant's, or the suggestion).
func (e *Engine) Funding(ctx context.Context, req FundingRequest) (*Funding, error) {
	now := e.now()
	t, err := e.tenant(ctx, req.Tenant)
	if err != nil {
		return nil, err
	}
	cur := t.Currency
	cfg := e.Recharge
	cfg.Currency = cur
	a, err := e.Store.Account(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	rs, err := e.Store.ReportRecharge(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	lots, err := e.Store.Lots(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	source := make(map[int64]string, len(lots))
	for _, l := range lots {
		source[l.ID] = l.Source
	}

	// First pass: the last 30 days' charges, bucketed per day. The dry run streams the
	// last 60 days again, so neither pass holds the history in memory.
	from, burnFrom := now.AddDate(0, 0, -DryRunDays), now.AddDate(0, 0, -BurnDays)
	end := now.Add(time.Nanosecond) // entries booked at now itself count
	daily := make([]money.Amount, BurnDays)
	err = e.Store.EachEntry(ctx, t.ID, burnFrom, end, func(en ledger.Entry) error {
		if en.Kind == ledger.EntryCharge {
			i := min(int(en.At.Sub(burnFrom)/(24*time.Hour)), BurnDays-1)
			daily[i] -= en.Amount
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	f := &Funding{Tenant: t.ID, Currency: cur.Code, At: now, Balance: a.Balance.Format(cur), Available: a.Available().Format(cur), BurnDays: BurnDays}
	var burn money.Amount
	for _, d := range daily {
		burn += d
	}
	p95 := P95(daily)
	f.Burn, f.DailyBurn, f.P95DailyBurn = burn.Format(cur), ceilDiv(burn, BurnDays).Format(cur), p95.Format(cur)
	if burn > 0 {
		days := int64(0)
		if av := a.Available(); av > 0 {
			days = int64(av) * BurnDays / int64(burn)
		}
		f.RunwayDays = &days
		f.Runway = fmt.Sprintf("At the last %d days' burn (%s %s a day on average) your available balance of %s %s lasts about %d days.",
			BurnDays, f.DailyBurn, cur.Code, f.Available, cur.Code, days)
		f.Suggestion = Suggest(daily, cfg.MinPurchaseAmount(), cur)
	} else {
		f.Runway = fmt.Sprintf("Nothing was charged in the last %d days: no burn rate to project.", BurnDays)
	}

	s, src := req.Settings, "request"
	switch {
	case s != nil:
		cp := *s
		s = &cp
	case rs.Settings.Enabled:
		cp := rs.Settings
		s, src = &cp, "tenant"
	case f.Suggestion != nil:
		s = &recharge.Settings{Enabled: true, Trigger: money.Amount(f.Suggestion.TriggerMinor), Amount: money.Amount(f.Suggestion.AmountMinor)}
		src = "suggested"
	}
	if s != nil {
		x, err := e.newSim(t.ID, cur, *s, src, cfg, from, now)
		if err != nil {
			return nil, err
		}
		err = e.Store.EachEntry(ctx, t.ID, from, end, func(en ledger.Entry) error { return x.step(en, source) })
		if err != nil {
			return nil, err
		}
		if f.DryRun, err = x.finish(a.Balance); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func ceilDiv(a money.Amount, n int64) money.Amount { return money.Amount((int64(a) + n - 1) / n) }

// P95 is the nearest-rank 95th percentile of the daily amounts.
func P95(daily []money.Amount) money.Amount {
	if len(daily) == 0 {
		return 0
	}
	s := slices.Clone(daily)
	slices.Sort(s)
	return s[(95*len(s)+99)/100-1]
}

// Suggest computes the suggested settings from the last days' daily charges: trigger =
// Nice(3 × p95 daily burn), amount = max(Nice(30 × average daily burn), minimum purchase).
func Suggest(daily []money.Amount, minPurchase money.Amount, cur money.Currency) *Suggestion {
	var sum money.Amount
	for _, d := range daily {
		sum += d
	}
	if len(daily) == 0 || sum <= 0 {
		return nil
	}
	// With calls on few days the 95th percentile can be 0; the average day keeps the
	// trigger above zero, so a recharge fires before the balance runs out.
	avg := money.Amount(money.MulDivRound(int64(sum), 1, int64(len(daily))))
	trig := Nice(TriggerDays*max(P95(daily), avg), cur)
	amt := max(Nice(money.Amount(money.MulDivRound(int64(sum), RechargeDays, int64(len(daily)))), cur), minPurchase)
	return &Suggestion{Trigger: trig.Format(cur), Amount: amt.Format(cur), TriggerMinor: int64(trig), AmountMinor: int64(amt),
		Rule: fmt.Sprintf("trigger = %d days of the 95th-percentile daily burn (or of the average day, when higher), amount = %d days of the average daily burn (at least the minimum purchase of %s), each rounded up to whole %s with at most two significant digits",
			TriggerDays, RechargeDays, minPurchase.Format(cur), cur.Code)}
}

// Nice rounds a up to whole currency units with at most two significant digits:
// 0.30 → 1, 9.10 → 10, 87.20 → 88, 1234.56 → 1300. Zero or less stays 0.
func Nice(a money.Amount, cur money.Currency) money.Amount {
	if a <= 0 {
		return 0
	}
	sc := cur.Scale()
	units := (int64(a) + sc - 1) / sc
	p := int64(1)
	for units/p >= 100 {
		p *= 10
	}
	units = (units + p - 1) / p * p
	return money.Units(units, cur)
}

// ErrDryRunRunaway: the settings made the replay recharge without end (cannot happen with
// valid settings; kept as a guard).
var ErrDryRunRunaway = errors.New("report: dry run: too many recharges for one event")

// sim is the dry run's state: the pure ledger and recharge machine in memory. It starts
// at the first entry replayed (whose balance before is the opening balance).
type sim struct {
	acct             *ledger.Account
	rs               *recharge.State
	s                recharge.Settings
	cfg              *recharge.Config
	lcfg             ledger.Config
	cur              money.Currency
	out              *DryRun
	started          bool
	low              money.Amount
	paid             money.Amount
	nPay             int
	charged, refused money.Amount
	caps             map[string]bool
	err              error // the first ledger refusal, which stops the replay
}

// newSim validates the settings (as a real update would) and prepares the replay.
func (e *Engine) newSim(tenant string, cur money.Currency, s recharge.Settings, src string, cfg recharge.Config, from, to time.Time) (*sim, error) {
	if s.PaymentMethod == "" {
		s.PaymentMethod = dryRunMethod
	}
	s.Version = 0
	if err := s.Validate(&cfg); err != nil {
		return nil, &FieldError{Field: "settings", Msg: err.Error(), Err: ErrInvalid}
	}
	x := &sim{acct: ledger.NewAccount(tenant, cur), rs: recharge.New(tenant), s: s, cfg: &cfg, lcfg: e.Ledger, cur: cur, caps: map[string]bool{}}
	x.out = &DryRun{From: from, To: to, CapReachedMonths: []string{}, RechargeLog: []DryRecharge{},
		Settings: DrySettings{Source: src, Enabled: s.Enabled, Trigger: s.Trigger.Format(cur), Amount: s.Amount.Format(cur), PaymentMethod: s.PaymentMethod}}
	if s.MonthlyCap > 0 {
		x.out.Settings.MonthlyCap = s.MonthlyCap.Format(cur)
	}
	return x, nil
}

// start opens the replay with the real balance at the window's start: one lot, or debt.
// The replay spans 60 days, far shorter than any lot's life, so the real lots' expiry is
// replayed as forfeitures instead.
func (x *sim) start(opening money.Amount) error {
	x.started = true
	from := x.out.From
	x.out.OpeningBalance = opening.Format(x.cur)
	switch {
	case opening > 0:
		x.apply(ledger.Fund{Amount: opening, Source: "opening"}, from)
	case opening < 0:
		x.apply(ledger.Charge{Amount: -opening, Ref: "opening"}, from)
	}
	x.low, x.out.LowestAt = x.acct.Balance, from
	if err := x.balanceChanged(from); err != nil {
		return err
	}
	out, err := x.rs.Apply(recharge.SettingsUpdated{Settings: x.s, IfVersion: 0, At: from}, x.cfg)
	if err != nil {
		return &FieldError{Field: "settings", Msg: err.Error(), Err: ErrInvalid}
	}
	return x.handle(out, from)
}

// step replays one historical entry; source maps lot ids to their funding source.
func (x *sim) step(en ledger.Entry, source map[int64]string) error {
	if !x.started {
		if err := x.start(en.Before); err != nil {
			return err
		}
	}
	at, dr := en.At, x.out
	switch {
	case en.Kind == ledger.EntryCharge:
		amt := -en.Amount
		dr.Debits++
		x.charged += amt
		av := x.acct.Available()
		if av <= 0 {
			dr.RefusedCalls++
			x.refused += amt
			if dr.FirstRefusedAt.IsZero() {
				dr.FirstRefusedAt = at
			}
			return nil
		}
		if amt > av {
			dr.CutShort++
			amt = av
		}
		x.apply(ledger.Charge{Amount: amt, Ref: en.Ref}, at)
	case en.Kind == ledger.EntryForfeiture:
		amt := min(-en.Amount, max(x.acct.Balance, 0))
		if amt <= 0 {
			return nil
		}
		x.apply(ledger.Charge{Amount: amt, Ref: "forfeiture"}, at)
	case en.Kind == ledger.EntryAdjustment && en.Amount < 0:
		x.apply(ledger.Charge{Amount: -en.Amount, Ref: "adjustment"}, at)
	case en.Kind == ledger.EntryAdjustment && en.Amount > 0:
		x.apply(ledger.Adjust{Amount: en.Amount, Reason: en.Reason}, at)
	case en.Kind == ledger.EntryFunding && source[en.LotID] != sourceRecharge:
		// Manual purchases happen whatever the settings; past auto-recharges are what the
		// settings under test replace.
		x.apply(ledger.Fund{Amount: en.Amount, Source: source[en.LotID], Ref: en.Ref}, at)
	default:
		return nil
	}
	x.track(at)
	if x.err != nil {
		return x.err
	}
	return x.balanceChanged(at)
}

// finish closes the replay; balanceNow opens it when there was no entry to replay.
func (x *sim) finish(balanceNow money.Amount) (*DryRun, error) {
	if !x.started {
		if err := x.start(balanceNow); err != nil {
			return nil, err
		}
	}
	if x.err != nil {
		return nil, x.err
	}
	dr := x.out
	dr.Charged, dr.RefusedAmount = x.charged.Format(x.cur), x.refused.Format(x.cur)
	dr.Recharges, dr.Recharged = x.nPay, x.paid.Format(x.cur)
	dr.ClosingBalance = x.acct.Balance.Format(x.cur)
	dr.LowestBalance, dr.LowestMinor = x.low.Format(x.cur), int64(x.low)
	dr.WouldRefuse = dr.RefusedCalls > 0
	return dr, nil
}

// apply runs c on the simulated account. Positive Fund, Charge and Adjust amounts are not
// refused by the ledger; should one be, the replay stops with the error rather than drift.
func (x *sim) apply(c ledger.Command, at time.Time) {
	if _, err := ledger.Apply(x.acct, c, at, x.lcfg); err != nil && x.err == nil {
		x.err = fmt.Errorf("report: dry run: %s at %s: %w", c.Name(), at.Format(time.RFC3339), err)
	}
}

func (x *sim) track(at time.Time) {
	if x.acct.Balance < x.low {
		x.low, x.out.LowestAt = x.acct.Balance, at
	}
}

// balance is what the writer reports to the policy after a ledger command.
func (x *sim) balance(at time.Time) recharge.BalanceChanged {
	return recharge.BalanceChanged{Balance: x.acct.Balance, Available: x.acct.Available(), Seq: x.acct.NextSeq - 1, At: at}
}

func (x *sim) balanceChanged(at time.Time) error {
	out := x.rs.OnBalance(x.balance(at), x.cfg)
	return x.handle(out, at)
}

// handle carries out the machine's actions as the writer and the job runner would, with
// every payment succeeding at once.
func (x *sim) handle(out recharge.Output, at time.Time) error {
	queue := out.Actions
	x.noteCaps(out.Events)
	for n := 0; len(queue) > 0; n++ {
		if n > maxDryActions {
			return ErrDryRunRunaway
		}
		act := queue[0]
		queue = queue[1:]
		var next recharge.Output
		switch a := act.(type) {
		case recharge.Credit:
			x.apply(ledger.Fund{Amount: a.Amount, Source: a.Source, Ref: a.Ref}, at)
			if a.Source == sourceRecharge {
				x.nPay++
				x.paid += a.Amount
				x.out.RechargeLog = append(x.out.RechargeLog, DryRecharge{At: at, Amount: a.Amount.Format(x.cur), BalanceAfter: x.acct.Balance.Format(x.cur)})
			}
			next = x.rs.OnBalance(x.balance(at), x.cfg)
		case recharge.StartAttempt:
			var err error
			if next, err = x.rs.Apply(recharge.AttemptSucceeded{Key: a.Key, PaymentID: dryRunPayment, At: at}, x.cfg); err != nil {
				return err
			}
		default:
			continue
		}
		x.noteCaps(next.Events)
		queue = append(queue, next.Actions...)
	}
	return nil
}

// noteCaps records the months in which the monthly cap stopped a recharge.
func (x *sim) noteCaps(events []notify.Event) {
	for _, ev := range events {
		if ev.Type == notify.RechargeCapReached && !x.caps[x.rs.Month] {
			x.caps[x.rs.Month] = true
			x.out.CapReachedMonths = append(x.out.CapReachedMonths, x.rs.Month)
		}
	}
}
