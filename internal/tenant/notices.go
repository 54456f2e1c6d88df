package tenant

import (
	"strconv"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/recharge"
)

// ExpiryWarnDays are the days before a lot's expiry at which funds_expiring is sent.
var ExpiryWarnDays = [...]int{30, 7, 1}

// PoolThresholds are the percentages of a pool's minutes used at which pool_threshold is sent.
var PoolThresholds = [...]int{80, 100}

// note adds a notification to the outbox, keyed by its event id.
func (s *State) note(eff *Effects, t notify.Type, now time.Time, parts ...string) *notify.Event {
	ev := &notify.Event{ID: notify.Key(t, s.Account.Tenant, parts...), Type: t, TenantID: s.Account.Tenant, At: now,
		Currency: s.Account.Currency, Balance: s.Account.Balance}
	eff.Outbox = append(eff.Outbox, OutboxItem{Key: "notify:" + ev.ID, Kind: "notify", Event: ev})
	return ev
}

// notices writes the time- and ledger-driven notifications of domain §7 that the recharge
// policy does not: funds expired (each forfeiture entry), funds expiring in 30, 7 and 1 days
// (once per lot and threshold: only the nearest threshold passed is sent, so a lot that
// is already 5 days from expiry when first seen is announced once, as "7 days"), and the
// card expiry warning when its time comes without a command. It keeps NextNotice, the next
// instant one of these is due, which the sweep ticks the tenant at.
func (s *State) notices(now time.Time, env *Env, eff *Effects) {
	r := s.Recharge
	funded := false
	for _, e := range eff.Entries {
		switch e.Kind {
		case ledger.EntryForfeiture:
			if e.Amount < 0 {
				ev := s.note(eff, notify.FundsExpired, now, strconv.FormatInt(e.LotID, 10))
				ev.Amount, ev.ExpiresAt = -e.Amount, e.At
			}
		case ledger.EntryFunding:
			funded = true
		}
	}
	if r.NoticesChecked && !funded && !eff.Recharge && (r.NextNotice.IsZero() || now.Before(r.NextNotice)) {
		return
	}
	changed := !r.NoticesChecked
	r.NoticesChecked = true
	live := make(map[int64]bool, len(s.Account.Lots))
	var next time.Time
	earliest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, l := range s.Account.Lots {
		if l.Remaining <= 0 || !now.Before(l.ExpiresAt) {
			continue
		}
		live[l.ID] = true
		warned := r.ExpiryWarned[l.ID]
		due := 0
		for _, d := range ExpiryWarnDays {
			at := l.ExpiresAt.Add(-time.Duration(d) * 24 * time.Hour)
			switch {
			case warned != 0 && d >= warned:
			case !now.Before(at):
				due = d // the nearest passed: the list runs from far to near
			default:
				earliest(at)
			}
		}
		if due > 0 {
			if r.ExpiryWarned == nil {
				r.ExpiryWarned = map[int64]int{}
			}
			r.ExpiryWarned[l.ID] = due
			changed = true
			ev := s.note(eff, notify.FundsExpiring, now, strconv.FormatInt(l.ID, 10), strconv.Itoa(due))
			ev.Amount, ev.ExpiresAt, ev.DaysLeft = l.Remaining, l.ExpiresAt, due
		}
	}
	for id := range r.ExpiryWarned {
		if !live[id] {
			delete(r.ExpiryWarned, id)
			changed = true
		}
	}
	if pm := r.Settings.PaymentMethod; strings.HasPrefix(pm, "pm_") && !r.CardExpiry.IsZero() &&
		r.WarnedCardExpiry != pm+"@"+r.CardExpiry.String() {
		if at := r.CardExpiry.WarnAt(); now.Before(at) {
			earliest(at)
		} else {
			// Tick warns (once per card and expiry) and re-evaluates the trigger.
			_ = s.funding(recharge.Tick{At: now}, now, env, eff)
		}
	}
	if !next.Equal(r.NextNotice) {
		r.NextNotice = next
		changed = true
	}
	if changed {
		eff.Recharge = true
	}
}

// poolUsed sends pool_threshold when a pool's used minutes cross 80 % or 100 % of its size
// in a month. Crossing is judged on seconds paid, not held, so calls in progress do not
// announce what they may not use; the dedup key (pool, month, percent) makes a second
// crossing after usage went down and up again the same notification.
func (s *State) poolUsed(ref PoolRef, before int64, now time.Time, env *Env, eff *Effects) {
	p, ok := s.poolsFor(ref.Month, env).Get(ref.Key)
	if !ok || p.TotalSeconds <= 0 {
		return
	}
	after := s.Usage[ref].Used
	for _, pct := range PoolThresholds {
		level := p.TotalSeconds * int64(pct) / 100
		if before < level && after >= level {
			ev := s.note(eff, notify.PoolThreshold, now, strings.ReplaceAll(ref.Key.String(), "/", ":"), string(ref.Month), strconv.Itoa(pct))
			ev.Pool = &notify.Pool{Name: PoolName(ref.Key), Month: string(ref.Month), Percent: pct,
				UsedMinutes: after / 60, TotalMinutes: p.TotalSeconds / 60}
		}
	}
}

// PoolName names a pool for people: "Dial-out (Zone A)", "Domestic calling (MCOPSTN1), US".
func PoolName(k plans.PoolKey) string {
	switch k.Kind {
	case plans.PoolDialOut:
		return "Dial-out (Zone A)"
	case plans.PoolDomestic:
		return "Domestic calling (" + k.Plan + "), " + k.Country
	case plans.PoolInternational:
		return "International calling (" + k.Plan + "), " + k.Country
	case plans.PoolUser:
		return k.Plan + " minutes of " + k.User
	}
	return k.String()
}
