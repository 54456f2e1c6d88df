package report

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/store"
)

// ExpiringWindow is how far ahead "funds expiring soon" looks.
const ExpiringWindow = 30 * 24 * time.Hour

// StatementRequest selects the ledger entries with time in [From, To); zero From is the
// beginning, zero To is now. Lots, expiring funds and the account are always as of now.
type StatementRequest struct {
	Tenant string    `json:"tenant"`
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
}

// EntryLine is one ledger entry with its balance before and after (decimals in Currency).
type EntryLine struct {
	Seq    int64     `json:"seq"`
	Kind   string    `json:"kind"` // funding, charge, forfeiture, adjustment
	Amount string    `json:"amount"`
	Before string    `json:"before"`
	After  string    `json:"after"`
	At     time.Time `json:"at"`
	LotID  int64     `json:"lot_id,omitempty"`
	Ref    string    `json:"ref,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// LotLine is one funding lot. Status: live (money left, not expired), drained (spent) or
// expired (its remainder was forfeited, or is due to be at the next sweep).
type LotLine struct {
	ledger.LotView
	Status string `json:"status"`
}

// Statement is the credits statement of domain §8.
type Statement struct {
	Tenant    string    `json:"tenant"`
	Currency  string    `json:"currency"`
	At        time.Time `json:"at"`
	From      time.Time `json:"from,omitzero"`
	To        time.Time `json:"to"`
	Balance   string    `json:"balance"`
	Available string    `json:"available"`
	Reserved  string    `json:"reserved"`
	Debt      string    `json:"debt"`
	// Totals of the entries in the range, by kind.
	Funded    string      `json:"funded"`
	Charged   string      `json:"charged"`
	Forfeited string      `json:"forfeited"`
	Adjusted  string      `json:"adjusted"`
	Entries   []EntryLine `json:"entries"`
	Lots      []LotLine   `json:"lots"`
	// ExpiringSoon are the live lots expiring within 30 days, soonest first, and their sum.
	ExpiringSoon      []LotLine `json:"expiring_soon"`
	ExpiringSoonTotal string    `json:"expiring_soon_total"`
	// Forfeitures are the forfeiture entries of the range.
	Forfeitures []EntryLine `json:"forfeitures"`
}

func entryLine(e ledger.Entry, c money.Currency) EntryLine {
	return EntryLine{Seq: e.Seq, Kind: string(e.Kind), Amount: e.Amount.Format(c), Before: e.Before.Format(c),
		After: e.After.Format(c), At: e.At.UTC(), LotID: e.LotID, Ref: e.Ref, Reason: e.Reason}
}

// entryRange resolves a statement request: the tenant, the range as asked (to clamped to
// now) and the bounds to query, the end one nanosecond past now to keep entries booked at now.
func (e *Engine) entryRange(ctx context.Context, req StatementRequest, now time.Time) (t store.Tenant, from, to, start, end time.Time, err error) {
	if t, err = e.tenant(ctx, req.Tenant); err != nil {
		return
	}
	to, from = req.To.UTC(), req.From.UTC()
	if to.IsZero() || to.After(now) {
		to = now
	}
	if !from.IsZero() && !from.Before(to) {
		err = invalid("from", "%s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
		return
	}
	start, end = from, to
	if start.IsZero() {
		start = time.Unix(0, 0)
	}
	if end.Equal(now) {
		end = now.Add(time.Nanosecond)
	}
	return
}

// StatementColumns are the columns of the statement's entries CSV.
var StatementColumns = []string{"Seq", "Time", "Kind", "Amount", "Before", "After", "Lot", "Ref", "Reason"}

// Record is the entry's fields in StatementColumns order.
func (l *EntryLine) Record() []string {
	lot := ""
	if l.LotID != 0 {
		lot = strconv.FormatInt(l.LotID, 10)
	}
	return []string{strconv.FormatInt(l.Seq, 10), ts(l.At), l.Kind, l.Amount, l.Before, l.After, lot, l.Ref, l.Reason}
}

// WriteStatementCSV writes the ledger entries of the range as RFC 4180 CSV, streamed from
// the store one entry at a time.
func (e *Engine) WriteStatementCSV(ctx context.Context, w io.Writer, req StatementRequest) error {
	t, _, _, start, end, err := e.entryRange(ctx, req, e.now())
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(StatementColumns); err != nil {
		return err
	}
	err = e.Store.EachEntry(ctx, t.ID, start, end, func(en ledger.Entry) error {
		l := entryLine(en, t.Currency)
		return cw.Write(l.Record())
	})
	cw.Flush()
	return errors.Join(err, cw.Error())
}

// Statement reads the account, its lots and the ledger entries of the range.
func (e *Engine) Statement(ctx context.Context, req StatementRequest) (*Statement, error) {
	now := e.now()
	t, from, to, start, end, err := e.entryRange(ctx, req, now)
	if err != nil {
		return nil, err
	}
	a, err := e.Store.Account(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	c := t.Currency
	st := &Statement{Tenant: t.ID, Currency: c.Code, At: now, From: from, To: to,
		Balance: a.Balance.Format(c), Available: a.Available().Format(c), Reserved: a.Reserved.Format(c), Debt: a.Debt.Format(c),
		Entries: []EntryLine{}, Lots: []LotLine{}, ExpiringSoon: []LotLine{}, Forfeitures: []EntryLine{}}
	var tot ledger.Totals
	err = e.Store.EachEntry(ctx, t.ID, start, end, func(en ledger.Entry) error {
		l := entryLine(en, c)
		st.Entries = append(st.Entries, l)
		switch en.Kind {
		case ledger.EntryFunding:
			tot.Funded += en.Amount
		case ledger.EntryCharge:
			tot.Charged -= en.Amount
		case ledger.EntryForfeiture:
			tot.Forfeited -= en.Amount
			st.Forfeitures = append(st.Forfeitures, l)
		case ledger.EntryAdjustment:
			tot.Adjusted += en.Amount
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	st.Funded, st.Charged, st.Forfeited, st.Adjusted = tot.Funded.Format(c), tot.Charged.Format(c), tot.Forfeited.Format(c), tot.Adjusted.Format(c)
	lots, err := e.Store.Lots(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	var soon money.Amount
	for _, l := range lots {
		line := LotLine{LotView: l.View(c)}
		switch {
		case !l.ExpiresAt.After(now) && (l.Remaining > 0 || l.Forfeited > 0):
			line.Status = "expired"
		case l.Remaining == 0:
			line.Status = "drained"
		default:
			line.Status = "live"
			if l.ExpiresAt.Before(now.Add(ExpiringWindow)) {
				st.ExpiringSoon = append(st.ExpiringSoon, line)
				soon += l.Remaining
			}
		}
		st.Lots = append(st.Lots, line)
	}
	// Lots are in id order, which is purchase order and so expiry order (one lifetime).
	st.ExpiringSoonTotal = soon.Format(c)
	return st, nil
}
