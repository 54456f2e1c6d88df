package charging

import (
	"time"

	"github.com/commcredits/commcredits/internal/payer"
)

// BlockAction is what a block event records.
type BlockAction string

// Block actions.
const (
	Blocked   BlockAction = "blocked"
	Unblocked BlockAction = "unblocked"
)

// BlockEvent is one row of the blocked users report (domain §8): the user, the phone number
// they called from, why, blocked or unblocked, and when.
type BlockEvent struct {
	Tenant string      `json:"tenant"`
	User   string      `json:"user"`
	Phone  string      `json:"phone,omitempty"` // E.164 with "+", "" when unknown
	Reason Reason      `json:"reason"`
	Action BlockAction `json:"action"`
	At     time.Time   `json:"at"`
}

// BlocksUser reports whether a refusal with reason r blocks the user (their calls are refused
// until money or minutes come back: balance exhausted, pool exhausted, spend limit reached)
// rather than refusing one call (a bad number, a blocked destination, a policy, a licence).
func BlocksUser(r Reason) bool {
	switch r {
	case ReasonInsufficientBalance, ReasonPoolExhausted, ReasonSpendLimitReached:
		return true
	}
	return false
}

// BlockState is whether a user is blocked now, as far as the events recorded say.
type BlockState struct {
	Blocked bool      `json:"blocked"`
	Reason  Reason    `json:"reason,omitempty"`
	Since   time.Time `json:"since,omitzero"`
}

// Observe folds one authorization of the user into the state and returns the event to record,
// if any: a blocking refusal of an unblocked user blocks them; a call that pool or credits pay
// unblocks a blocked user. Free, emergency and per-call refusals change nothing. at is the
// decision's time.
func (s BlockState) Observe(a *Authorization, at time.Time) (BlockState, BlockEvent, bool) {
	ev := BlockEvent{Tenant: a.Tenant, User: a.User, At: at.UTC()}
	if a.Caller.E164 != "" {
		ev.Phone = "+" + a.Caller.E164
	}
	switch {
	case !a.Allowed && BlocksUser(a.Reason) && !s.Blocked:
		ev.Reason, ev.Action = a.Reason, Blocked
		return BlockState{Blocked: true, Reason: a.Reason, Since: ev.At}, ev, true
	case a.Allowed && s.Blocked && (a.Outcome == payer.Pool || a.Outcome == payer.Credits):
		ev.Reason, ev.Action = s.Reason, Unblocked
		return BlockState{}, ev, true
	}
	return s, BlockEvent{}, false
}
