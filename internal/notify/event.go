// Package notify turns engine events into billing emails and signed webhooks.
//
// It only renders and delivers: deciding that an event happened, storing it in the
// outbox and retrying is the caller's job. Every send returns an error the outbox can keep
// the message queued on, and every event carries a dedup key so that at-least-once
// delivery does not turn into the same email twice.
package notify

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/commcredits/commcredits/internal/money"
)

// Type names an event. The values are stable: they appear in webhook payloads and keys.
type Type string

// The events of domain §7. The first three are required.
const (
	RechargeSucceeded     Type = "recharge_succeeded"
	RechargeFailed        Type = "recharge_failed"
	BalanceZero           Type = "balance_zero"
	PurchaseSucceeded     Type = "purchase_succeeded"
	BalanceLow            Type = "balance_low"
	FundsExpiring         Type = "funds_expiring"
	FundsExpired          Type = "funds_expired"
	PoolThreshold         Type = "pool_threshold"
	AutoRechargeSuspended Type = "auto_recharge_suspended"
	CardExpiring          Type = "card_expiring"
	RechargeCapReached    Type = "recharge_cap_reached"
)

// Types lists every event type.
var Types = []Type{
	RechargeSucceeded, RechargeFailed, BalanceZero, PurchaseSucceeded, BalanceLow,
	FundsExpiring, FundsExpired, PoolThreshold, AutoRechargeSuspended, CardExpiring,
	RechargeCapReached,
}

// Valid reports whether t is one of Types.
func (t Type) Valid() bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// Event is one notification. Fields a type does not use stay zero; Validate checks those
// it needs. All amounts are in Currency, the tenant's one currency.
type Event struct {
	// ID is the dedup key (see Key): the outbox stores it with a unique constraint, emails
	// carry it in Message-ID, webhooks in the payload's "id".
	ID         string
	Type       Type
	TenantID   string
	TenantName string
	At         time.Time

	Currency money.Currency
	// Amount: money added (recharge, purchase), expiring or expired (funds_*), or the
	// attempted recharge (recharge_failed).
	Amount money.Amount
	// Balance is the balance after the event.
	Balance money.Amount
	// Threshold: the low-balance level (balance_low) or the monthly cap (recharge_cap_reached).
	Threshold money.Amount

	// Reason says why, in words for the tenant: "card expired".
	Reason string
	// PaymentID is the provider payment or funding id, for the tenant's records.
	PaymentID string

	// ExpiresAt: when the lot expires or expired (funds_*) or the card stops working.
	ExpiresAt time.Time
	// DaysLeft is 30, 7 or 1 for funds_expiring.
	DaysLeft int

	// Card on file (recharge_*, auto_recharge_suspended, card_expiring).
	Card *Card
	// Pool for pool_threshold.
	Pool *Pool
}

// Card identifies the card on file without revealing it.
type Card struct {
	Brand    string `json:"brand"`
	Last4    string `json:"last4"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
}

// Pool is a minute pool crossing a usage threshold.
type Pool struct {
	Name         string `json:"name"`    // "Dial-out (Zone A)", "Domestic calling, US"
	Month        string `json:"month"`   // "2025-03"
	Percent      int    `json:"percent"` // 80 or 100
	UsedMinutes  int64  `json:"used_minutes"`
	TotalMinutes int64  `json:"total_minutes"`
}

// Key builds a dedup key: the type, the tenant and the parts that identify one state
// change, joined by "/". The conventions (docs/notifications.md):
//
//	recharge_succeeded      Key(t, tenant, attemptKey)            the charge's idempotency key
//	recharge_failed         Key(t, tenant, attemptKey)            one per failed attempt
//	balance_zero            Key(t, tenant, ledgerSeq)             the entry that crossed to <= 0
//	purchase_succeeded      Key(t, tenant, fundingID)
//	balance_low             Key(t, tenant, ledgerSeq)             the entry that crossed below the level
//	funds_expiring          Key(t, tenant, lotID, "30"|"7"|"1")
//	funds_expired           Key(t, tenant, lotID)
//	pool_threshold          Key(t, tenant, poolKey, month, "80"|"100")
//	auto_recharge_suspended Key(t, tenant, settingsVersion)       the suspension's settings row version
//	card_expiring           Key(t, tenant, paymentMethodID, "2027-12")
//	recharge_cap_reached    Key(t, tenant, "2025-03")             once per calendar month
//
// Parts must not contain "/"; Key panics if one does, because a key that can collide is
// a silent lost notification.
func Key(t Type, tenantID string, parts ...string) string {
	all := append([]string{string(t), tenantID}, parts...)
	for _, p := range all {
		if p == "" || strings.Contains(p, "/") {
			panic(fmt.Sprintf("notify: bad key part %q", p))
		}
	}
	return strings.Join(all, "/")
}

// Validate checks that e has what its type's email and payload need.
func (e Event) Validate() error {
	var missing []string
	need := func(ok bool, field string) {
		if !ok {
			missing = append(missing, field)
		}
	}
	need(e.Type.Valid(), "Type")
	need(e.ID != "", "ID")
	need(e.TenantID != "", "TenantID")
	need(!e.At.IsZero(), "At")
	switch e.Type {
	case RechargeSucceeded, PurchaseSucceeded, RechargeFailed, FundsExpiring, FundsExpired:
		need(e.Currency.Code != "", "Currency")
		need(e.Amount > 0, "Amount")
	case BalanceZero, BalanceLow, RechargeCapReached:
		need(e.Currency.Code != "", "Currency")
	}
	switch e.Type {
	case RechargeFailed, AutoRechargeSuspended:
		need(e.Reason != "", "Reason")
	case FundsExpiring:
		need(e.DaysLeft > 0, "DaysLeft")
		need(!e.ExpiresAt.IsZero(), "ExpiresAt")
	case FundsExpired:
		need(!e.ExpiresAt.IsZero(), "ExpiresAt")
	case PoolThreshold:
		need(e.Pool != nil, "Pool")
	case CardExpiring:
		need(e.Card != nil, "Card")
	case BalanceLow, RechargeCapReached:
		need(e.Threshold > 0, "Threshold")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s event %q lacks %s", ErrInvalid, e.Type, e.ID, strings.Join(missing, ", "))
	}
	return nil
}

// ErrInvalid is wrapped by errors about events or addresses that no retry will fix; the
// outbox should park such messages instead of retrying them.
var ErrInvalid = errors.New("notify: invalid")
