package report

import (
	"context"
	"time"
)

// BlockedRequest selects block events with time in [From, To); zero bounds are open.
// User, when set, keeps one user's events.
type BlockedRequest struct {
	Tenant string    `json:"tenant"`
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
	User   string    `json:"user,omitempty"`
}

// BlockedRow is one block or unblock event (domain §8).
type BlockedRow struct {
	DisplayName string    `json:"display_name"`
	User        string    `json:"user"`
	Phone       string    `json:"phone"`
	Reason      string    `json:"reason"`
	Action      string    `json:"action"` // blocked or unblocked
	Time        time.Time `json:"time"`
}

// BlockedNow is a user whose last event blocked them.
type BlockedNow struct {
	DisplayName string    `json:"display_name"`
	User        string    `json:"user"`
	Reason      string    `json:"reason"`
	Since       time.Time `json:"since"`
}

// BlockedReport is the blocked users report: the events by time, and who is blocked as of
// the last event of each user (over all time, not only the range).
type BlockedReport struct {
	Tenant     string       `json:"tenant"`
	From       time.Time    `json:"from,omitzero"`
	To         time.Time    `json:"to,omitzero"`
	Events     []BlockedRow `json:"events"`
	BlockedNow []BlockedNow `json:"blocked_now"`
}

// Blocked reads the block events.
func (e *Engine) Blocked(ctx context.Context, req BlockedRequest) (*BlockedReport, error) {
	t, err := e.tenant(ctx, req.Tenant)
	if err != nil {
		return nil, err
	}
	if !req.From.IsZero() && !req.To.IsZero() && !req.From.Before(req.To) {
		return nil, invalid("from", "%s is not before to %s", req.From.Format(time.RFC3339), req.To.Format(time.RFC3339))
	}
	d, err := e.Store.ReportDirectory(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	evs, err := e.Store.ReportBlockEvents(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	name := func(id string) string {
		if u, ok := d.User(id); ok {
			return u.DisplayName
		}
		return ""
	}
	rep := &BlockedReport{Tenant: t.ID, From: req.From.UTC(), To: req.To.UTC(), Events: []BlockedRow{}, BlockedNow: []BlockedNow{}}
	last := map[string]int{}
	var order []string
	for i, ev := range evs {
		if _, seen := last[ev.User]; !seen {
			order = append(order, ev.User)
		}
		last[ev.User] = i
		if req.User != "" && ev.User != req.User {
			continue
		}
		if (!req.From.IsZero() && ev.At.Before(req.From)) || (!req.To.IsZero() && !ev.At.Before(req.To)) {
			continue
		}
		rep.Events = append(rep.Events, BlockedRow{DisplayName: name(ev.User), User: ev.User, Phone: ev.Phone,
			Reason: string(ev.Reason), Action: string(ev.Action), Time: ev.At.UTC()})
	}
	for _, u := range order {
		ev := evs[last[u]]
		if ev.Action == "blocked" && (req.User == "" || u == req.User) {
			rep.BlockedNow = append(rep.BlockedNow, BlockedNow{DisplayName: name(u), User: u, Reason: string(ev.Reason), Since: ev.At.UTC()})
		}
	}
	return rep, nil
}
