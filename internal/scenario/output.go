package scenario

import (
	"encoding/json"
	"time"

	"github.com/commcredits/commcredits/internal/ledger"
)

// Output is what a scenario leaves: the final state of every tenant, read back from the
// database, and what each step did. Money is written as decimal strings in the tenant's
// currency, times in RFC 3339 UTC; lists are in a fixed order, so the same scenario always
// gives the same bytes.
type Output struct {
	Start   time.Time      `json:"start"`
	End     time.Time      `json:"end"`
	Tenants []TenantOutput `json:"tenants"`
	Steps   []StepResult   `json:"steps"`
}

// JSON returns the output as indented JSON with a final newline.
func (o *Output) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// TenantOutput is one tenant's final state.
type TenantOutput struct {
	ID             string              `json:"id"`
	Name           string              `json:"name"`
	Currency       string              `json:"currency"`
	BillingCountry string              `json:"billing_country,omitempty"`
	Balance        string              `json:"balance"`
	Available      string              `json:"available"`
	Reserved       string              `json:"reserved"`
	Debt           string              `json:"debt"`
	Totals         TotalsOutput        `json:"totals"`
	Lots           []LotOutput         `json:"lots"`
	Entries        []EntryOutput       `json:"entries"`
	Reservations   []ReservationOutput `json:"reservations"`
	OpenCalls      []OpenCallOutput    `json:"open_calls"`
	Pools          []PoolOutput        `json:"pools"`
	Spend          []SpendOutput       `json:"spend"`
	Usage          []UsageOutput       `json:"usage"`
	Refusals       []RefusalOutput     `json:"refusals"`
	BlockEvents    []BlockEventOutput  `json:"block_events"`
	BlockedUsers   []BlockedOutput     `json:"blocked_users"`
	// Funding, present when there are some: notification ids by the time they were written
	// (then by id), and the receipts and invoices.
	Notifications []string        `json:"notifications,omitempty"`
	Receipts      []ReceiptOutput `json:"receipts,omitempty"`
}

// ReceiptOutput is a receipt or invoice.
type ReceiptOutput struct {
	Number        string `json:"number"`
	Kind          string `json:"kind"`
	Purpose       string `json:"purpose"`
	Amount        string `json:"amount"`
	MethodSummary string `json:"method_summary"`
	PaymentID     string `json:"payment_id"`
	LotID         int64  `json:"lot_id"`
}

// TotalsOutput are the running sums of the ledger's entry kinds.
type TotalsOutput struct {
	Funded    string `json:"funded"`
	Charged   string `json:"charged"`
	Forfeited string `json:"forfeited"`
	Adjusted  string `json:"adjusted"`
}

// LotOutput is a funding lot, drained and expired ones included.
type LotOutput ledger.LotView

// EntryOutput is a ledger entry with the balance before and after it.
type EntryOutput struct {
	Seq    int64     `json:"seq"`
	Kind   string    `json:"kind"`
	Amount string    `json:"amount"`
	Before string    `json:"before"`
	After  string    `json:"after"`
	At     time.Time `json:"at"`
	LotID  int64     `json:"lot_id,omitempty"`
	Ref    string    `json:"ref,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// ReservationOutput is an open reservation.
type ReservationOutput struct {
	ID        string    `json:"id"`
	Amount    string    `json:"amount"`
	ExpiresAt time.Time `json:"expires_at"`
}

// OpenCallOutput is a call in progress.
type OpenCallOutput struct {
	Key       string    `json:"key"`
	Granted   int64     `json:"granted_seconds"`
	PoolHeld  int64     `json:"pool_held_seconds"`
	Reserved  string    `json:"reserved"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PoolOutput is one pool of one month, in seconds. Total is the pool's size under the
// directory as it is at the end of the scenario.
type PoolOutput struct {
	Month string `json:"month"`
	Key   string `json:"key"`
	Total int64  `json:"total_seconds"`
	Used  int64  `json:"used_seconds"`
	Held  int64  `json:"held_seconds"`
	Left  int64  `json:"left_seconds"`
}

// SpendOutput is one user's credit spend in one month.
type SpendOutput struct {
	Month  string `json:"month"`
	User   string `json:"user"`
	Amount string `json:"amount"`
}

// UsageOutput is one row of the usage table (the PSTN usage report).
type UsageOutput struct {
	CallID            string    `json:"call_id"`
	Leg               string    `json:"leg,omitempty"`
	ConferenceID      string    `json:"conference_id,omitempty"`
	UserLocation      string    `json:"user_location"`
	UserID            string    `json:"user_id"`
	UPN               string    `json:"upn,omitempty"`
	DisplayName       string    `json:"display_name,omitempty"`
	CallerID          string    `json:"caller_id"`
	CallType          string    `json:"call_type"`
	NumberType        string    `json:"number_type"`
	International     bool      `json:"international"`
	DestinationDialed string    `json:"destination_dialed"`
	DestinationNumber string    `json:"destination_number"`
	Start             time.Time `json:"start"`
	End               time.Time `json:"end"`
	DurationSeconds   int64     `json:"duration_seconds"`
	PoolSeconds       int64     `json:"pool_seconds"`
	ConnectionFee     string    `json:"connection_fee"`
	Charge            string    `json:"charge"`
	Currency          string    `json:"currency"`
	Capability        string    `json:"capability"`
	CardRef           string    `json:"card_ref,omitempty"`
	Review            string    `json:"review,omitempty"`
}

// RefusalOutput is a refused call.
type RefusalOutput struct {
	CallID   string    `json:"call_id"`
	Leg      string    `json:"leg,omitempty"`
	User     string    `json:"user,omitempty"`
	CallType string    `json:"call_type"`
	Callee   string    `json:"callee,omitempty"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// BlockEventOutput is a row of the blocked users report.
type BlockEventOutput struct {
	User   string    `json:"user"`
	Phone  string    `json:"phone,omitempty"`
	Reason string    `json:"reason"`
	Action string    `json:"action"`
	At     time.Time `json:"at"`
}

// BlockedOutput is a user blocked at the end.
type BlockedOutput struct {
	User   string    `json:"user"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// StepResult is what one step did.
type StepResult struct {
	Line          int           `json:"line"`
	Step          string        `json:"step"`
	Tenant        string        `json:"tenant,omitempty"`
	At            time.Time     `json:"at"`
	Error         string        `json:"error,omitempty"` // the refusal an expect_error step expected
	Replayed      bool          `json:"replayed,omitempty"`
	Authorization *AuthResult   `json:"authorization,omitempty"`
	Extensions    []ExtResult   `json:"extensions,omitempty"`
	Settlement    *SettleResult `json:"settlement,omitempty"`
	Balance       string        `json:"balance,omitempty"`
	Available     string        `json:"available,omitempty"`
}

// AuthResult is an authorization in short.
type AuthResult struct {
	CallID     string    `json:"call_id"`
	Allowed    bool      `json:"allowed"`
	Reason     string    `json:"reason,omitempty"`
	Outcome    string    `json:"outcome"`
	Pool       string    `json:"pool,omitempty"`
	Credits    bool      `json:"credits"`
	Capability string    `json:"capability,omitempty"`
	Emergency  bool      `json:"emergency,omitempty"`
	MaxSeconds int64     `json:"max_seconds"`
	Granted    int64     `json:"granted_seconds"`
	PoolHold   int64     `json:"pool_hold_seconds"`
	Reserve    string    `json:"reserve"`
	RetryAfter time.Time `json:"retry_after,omitzero"`
}

// ExtResult is one extension of a call step or an extend step.
type ExtResult struct {
	At      time.Time `json:"at"`
	Allowed bool      `json:"allowed"`
	Reason  string    `json:"reason,omitempty"`
	Granted int64     `json:"granted_seconds"`
}

// SettleResult is a settlement in short.
type SettleResult struct {
	Seconds       int64  `json:"seconds"`
	PoolSeconds   int64  `json:"pool_seconds"`
	CreditSeconds int64  `json:"credit_seconds"`
	Uncovered     int64  `json:"uncovered_seconds,omitempty"`
	Fee           bool   `json:"fee"`
	Charge        string `json:"charge"`
	FreeCall      bool   `json:"free_call,omitempty"`
	Review        string `json:"review,omitempty"`
}
