package report

import (
	"strconv"
	"time"
)

// Table is a report as a header and rows of text, for terminals and CSV exports of the
// non-usage reports.
type Table struct {
	Header []string
	Rows   [][]string
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Table lists the lines (the §8 columns).
func (r *UsageReport) Table() Table {
	t := Table{Header: UsageColumns}
	for i := range r.Lines {
		t.Rows = append(t.Rows, r.Lines[i].Record())
	}
	return t
}

// Table lists the pools.
func (r *PoolsReport) Table() Table {
	t := Table{Header: []string{"Country", "Capability", "Description", "Total minutes", "Used minutes", "Available minutes", "Percent used"}}
	for _, p := range r.Pools {
		t.Rows = append(t.Rows, []string{p.Country, p.Capability, p.Description, strconv.FormatInt(p.TotalMinutes, 10),
			strconv.FormatInt(p.UsedMinutes, 10), strconv.FormatInt(p.AvailableMinutes, 10), strconv.FormatFloat(p.PercentUsed, 'f', 1, 64)})
	}
	return t
}

// Table lists the events.
func (r *BlockedReport) Table() Table {
	t := Table{Header: []string{"Display name", "User", "Phone", "Reason", "Action", "Time"}}
	for _, e := range r.Events {
		t.Rows = append(t.Rows, []string{e.DisplayName, e.User, e.Phone, e.Reason, e.Action, ts(e.Time)})
	}
	return t
}

// Table lists the ledger entries.
func (s *Statement) Table() Table {
	t := Table{Header: StatementColumns}
	for i := range s.Entries {
		t.Rows = append(t.Rows, s.Entries[i].Record())
	}
	return t
}

// LotsTable lists the lots.
func (s *Statement) LotsTable() Table {
	t := Table{Header: []string{"Lot", "Source", "Ref", "Amount", "Remaining", "Forfeited", "Purchased", "Expires", "Status"}}
	for _, l := range s.Lots {
		t.Rows = append(t.Rows, []string{strconv.FormatInt(l.ID, 10), l.Source, l.Ref, l.Amount, l.Remaining, l.Forfeited, ts(l.PurchasedAt), ts(l.ExpiresAt), l.Status})
	}
	return t
}

// Table lists the funding figures as name/value pairs.
func (f *Funding) Table() Table {
	t := Table{Header: []string{"Figure", "Value"}}
	add := func(k, v string) { t.Rows = append(t.Rows, []string{k, v}) }
	add("Balance", f.Balance+" "+f.Currency)
	add("Available", f.Available+" "+f.Currency)
	add("Burn, last "+strconv.Itoa(f.BurnDays)+" days", f.Burn)
	add("Average daily burn", f.DailyBurn)
	add("95th-percentile daily burn", f.P95DailyBurn)
	if f.RunwayDays != nil {
		add("Runway (days)", strconv.FormatInt(*f.RunwayDays, 10))
	}
	if s := f.Suggestion; s != nil {
		add("Suggested trigger", s.Trigger)
		add("Suggested recharge amount", s.Amount)
	}
	if d := f.DryRun; d != nil {
		add("Dry run", ts(d.From)+" to "+ts(d.To)+" ("+d.Settings.Source+" settings)")
		add("  trigger / amount / cap", d.Settings.Trigger+" / "+d.Settings.Amount+" / "+d.Settings.MonthlyCap)
		add("  opening / closing balance", d.OpeningBalance+" / "+d.ClosingBalance)
		add("  debits replayed", strconv.Itoa(d.Debits)+" ("+d.Charged+")")
		add("  recharges", strconv.Itoa(d.Recharges)+" ("+d.Recharged+")")
		add("  lowest balance", d.LowestBalance+" at "+ts(d.LowestAt))
		add("  refused calls", strconv.Itoa(d.RefusedCalls)+" ("+d.RefusedAmount+")")
		add("  calls cut short", strconv.Itoa(d.CutShort))
	}
	return t
}
