package rest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/ingest"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

const dialled = "^\\+?[0-9*#]{1,32}$"

// CallPath names a call of a tenant.
type CallPath struct {
	TenantPath
	IdemHeader
	CallID string `path:"call_id" minLength:"1" maxLength:"128"`
}

// CDRIn is a call detail record as a switch posts it.
type CDRIn struct {
	CallID        string    `json:"call_id" minLength:"1" maxLength:"256"`
	Leg           string    `json:"leg,omitempty" maxLength:"256"`
	CallType      string    `json:"call_type" enum:"user_in,user_out,user_out_transfer,user_out_forwarding,user_out_conf,conf_in,conf_out,ucap_in,ucap_out,unassigned_in"`
	Principal     string    `json:"principal,omitempty" maxLength:"128"`
	Caller        string    `json:"caller,omitempty" pattern:"^\\+?[0-9*#]{1,32}$"`
	Callee        string    `json:"callee,omitempty" pattern:"^\\+?[0-9*#]{1,32}$"`
	ServiceNumber string    `json:"service_number,omitempty" pattern:"^\\+?[0-9]{1,32}$"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end,omitzero"`
	Duration      int64     `json:"duration_seconds,omitempty" minimum:"0" maximum:"2678400"`
}

func (c CDRIn) cdr(tenantID string) charging.CDR {
	d := c.Duration
	if d == 0 && !c.End.IsZero() && c.End.After(c.Start) {
		d = int64(c.End.Sub(c.Start) / time.Second)
	}
	return charging.CDR{Tenant: tenantID, CallID: c.CallID, Leg: c.Leg, CallType: payer.CallType(c.CallType), Principal: c.Principal,
		Caller: c.Caller, Callee: c.Callee, ServiceNumber: c.ServiceNumber, Start: c.Start.UTC(), End: c.End.UTC(), Duration: d}
}

var _ ingest.BatchSubmitter = tenantOnly{}

// tenantOnly is the writer as a CSV import of one tenant may use it: a record naming
// another tenant is refused like an unknown tenant, never booked there.
type tenantOnly struct {
	w      *writer.Writer
	tenant string
}

func (t tenantOnly) Submit(ctx context.Context, tenantID, key string, cmd tenant.Command) (writer.Result, error) {
	if err := t.check(tenantID); err != nil {
		return writer.Result{}, err
	}
	return t.w.Submit(ctx, tenantID, key, cmd)
}

// SubmitBatch makes tenantOnly an ingest.BatchSubmitter, so that an upload sends its
// records in batches from a few workers, as `cdr import` does, instead of one goroutine per
// record in flight.
func (t tenantOnly) SubmitBatch(ctx context.Context, items []writer.Item) []writer.Outcome {
	out := make([]writer.Outcome, len(items))
	send := make([]writer.Item, 0, len(items))
	at := make([]int, 0, len(items))
	for i, it := range items {
		if err := t.check(it.Tenant); err != nil {
			out[i].Err = err
			continue
		}
		send, at = append(send, it), append(at, i)
	}
	for j, o := range t.w.SubmitBatch(ctx, send) {
		out[at[j]] = o
	}
	return out
}

func (t tenantOnly) check(tenantID string) error {
	if tenantID != t.tenant {
		return fmt.Errorf("%w: record of tenant %q in an import for %q", tenant.ErrUnknownTenant, tenantID, t.tenant)
	}
	return nil
}

func (a *API) callRoutes() {
	type authorizeIn struct {
		TenantPath
		IdemHeader
		Body struct {
			CallID         string    `json:"call_id" minLength:"1" maxLength:"128"`
			Leg            string    `json:"leg,omitempty" maxLength:"64"`
			CallType       string    `json:"call_type" enum:"user_in,user_out,user_out_transfer,user_out_forwarding,user_out_conf,conf_in,conf_out,ucap_in,ucap_out,unassigned_in"`
			Principal      string    `json:"principal" maxLength:"128" doc:"user, resource account or organizer id"`
			Caller         string    `json:"caller,omitempty" pattern:"^\\+?[0-9*#]{1,32}$"`
			Callee         string    `json:"callee,omitempty" pattern:"^\\+?[0-9*#]{1,32}$"`
			ServiceNumber  string    `json:"service_number,omitempty" pattern:"^\\+?[0-9]{1,32}$"`
			Start          time.Time `json:"start,omitzero" required:"false" doc:"default now"`
			InitialSeconds int64     `json:"initial_seconds,omitempty" minimum:"0" maximum:"86400"`
		}
	}
	huma.Register(a, a.op("authorize-call", http.MethodPost, "/v1/tenants/{tenant}/calls/authorize",
		"Admit or refuse a call and hold what it may spend (a refusal is 200 with allowed=false)", accCalls, "calls"),
		func(ctx context.Context, in *authorizeIn) (*callResp, error) {
			b := in.Body
			return a.submitCall(ctx, in.Tenant, in.IdempotencyKey, b.CallID, b.Leg, tenant.Authorize{CallID: b.CallID, Leg: b.Leg, Type: payer.CallType(b.CallType),
				Principal: b.Principal, Caller: b.Caller, Callee: b.Callee, Service: b.ServiceNumber, Start: b.Start, InitialSeconds: b.InitialSeconds})
		})

	type extendIn struct {
		CallPath
		Body struct {
			Leg     string `json:"leg,omitempty" maxLength:"64"`
			Seconds int64  `json:"seconds" minimum:"0" maximum:"86400"`
		}
	}
	huma.Register(a, a.op("extend-call", http.MethodPost, "/v1/tenants/{tenant}/calls/{call_id}/extend", "Ask for more seconds for a call in progress", accCalls, "calls"),
		func(ctx context.Context, in *extendIn) (*callResp, error) {
			idem := in.IdempotencyKey
			if idem != "" {
				idem = "extend:" + in.CallID + "/" + in.Body.Leg + ":" + idem
			}
			return a.submitCall(ctx, in.Tenant, idem, in.CallID, in.Body.Leg, tenant.Extend{CallID: in.CallID, Leg: in.Body.Leg, Seconds: in.Body.Seconds})
		})

	type settleIn struct {
		CallPath
		Body struct {
			Leg     string    `json:"leg,omitempty" maxLength:"64"`
			Seconds int64     `json:"seconds" minimum:"0" maximum:"2678400" doc:"connected seconds"`
			End     time.Time `json:"end,omitzero" required:"false"`
		}
	}
	huma.Register(a, a.op("settle-call", http.MethodPost, "/v1/tenants/{tenant}/calls/{call_id}/settle", "End a call with its connected seconds", accCalls, "calls"),
		func(ctx context.Context, in *settleIn) (*callResp, error) {
			return a.submitCall(ctx, in.Tenant, "", in.CallID, in.Body.Leg, tenant.Settle{CallID: in.CallID, Leg: in.Body.Leg, Seconds: in.Body.Seconds, End: in.Body.End})
		})

	type releaseIn struct {
		CallPath
		Body *struct {
			Leg string `json:"leg,omitempty" maxLength:"64"`
		} `required:"false"`
	}
	huma.Register(a, a.op("release-call", http.MethodPost, "/v1/tenants/{tenant}/calls/{call_id}/release", "End a call that did not connect, charging nothing", accCalls, "calls"),
		func(ctx context.Context, in *releaseIn) (*callResp, error) {
			leg := ""
			if in.Body != nil {
				leg = in.Body.Leg
			}
			return a.submitCall(ctx, in.Tenant, "", in.CallID, leg, tenant.Release{CallID: in.CallID, Leg: leg})
		})

	type callsIn struct {
		TenantPath
		PageQuery
	}
	type callsOut struct {
		Body struct {
			Items      []tenant.Call `json:"items"`
			NextCursor string        `json:"next_cursor,omitempty"`
		}
	}
	huma.Register(a, a.op("list-calls", http.MethodGet, "/v1/tenants/{tenant}/calls", "Calls in progress", accRead, "calls"),
		func(ctx context.Context, in *callsIn) (*callsOut, error) {
			st, err := a.svc.State(ctx, in.Tenant)
			if err != nil {
				return nil, problem(err)
			}
			var all []tenant.Call
			for _, c := range st.Calls {
				all = append(all, *c)
			}
			slices.SortFunc(all, func(x, y tenant.Call) int { return strings.Compare(x.Key, y.Key) })
			items, next := page(all, func(c tenant.Call) string { return c.Key }, in.PageQuery)
			out := &callsOut{}
			out.Body.Items = append([]tenant.Call{}, items...)
			out.Body.NextCursor = next
			return out, nil
		})

	// CDRs.
	type cdrIn struct {
		TenantPath
		IdemHeader
		Body CDRIn
	}
	co := a.op("post-cdr", http.MethodPost, "/v1/tenants/{tenant}/cdrs", "Book one CDR (once per call and leg)", accCalls, "cdrs")
	huma.Register(a, co, func(ctx context.Context, in *cdrIn) (*callResp, error) {
		return a.submitCall(ctx, in.Tenant, "", in.Body.CallID, in.Body.Leg, tenant.PostCDR{CDR: in.Body.cdr(in.Tenant)})
	})

	type batchIn struct {
		TenantPath
		IdemHeader
		Body struct {
			CDRs []CDRIn `json:"cdrs" minItems:"1" maxItems:"10000"`
		}
	}
	type batchItem struct {
		CallID   string           `json:"call_id"`
		Leg      string           `json:"leg,omitempty"`
		Status   int              `json:"status"`
		Replayed bool             `json:"replayed,omitempty"`
		Result   *CallResult      `json:"result,omitempty"`
		Error    *huma.ErrorModel `json:"error,omitempty"`
	}
	type batchOut struct {
		Body struct {
			Booked  int         `json:"booked"`
			Refused int         `json:"refused"`
			Items   []batchItem `json:"items"`
		}
	}
	bo := a.op("post-cdr-batch", http.MethodPost, "/v1/tenants/{tenant}/cdrs/batch", "Book many CDRs; each is booked once and reported", accCalls, "cdrs")
	bo.MaxBodyBytes = 16 << 20
	huma.Register(a, bo, func(ctx context.Context, in *batchIn) (*batchOut, error) {
		cur, err := a.currency(ctx, in.Tenant)
		if err != nil {
			return nil, err
		}
		out := &batchOut{}
		out.Body.Items = make([]batchItem, len(in.Body.CDRs))
		done := make(chan struct{}, len(in.Body.CDRs))
		// Submitted together, the CDRs share the writer's group commits.
		for i, c := range in.Body.CDRs {
			go func() {
				defer func() { done <- struct{}{} }()
				it := batchItem{CallID: c.CallID, Leg: c.Leg, Status: http.StatusOK}
				r, err := a.svc.Submit(ctx, in.Tenant, "", tenant.PostCDR{CDR: c.cdr(in.Tenant)})
				if err != nil {
					if se, ok := problem(err).(*huma.ErrorModel); ok {
						it.Status, it.Error = se.Status, se
					}
				}
				if err == nil {
					res := callResult(r, c.CallID, c.Leg, cur)
					it.Replayed, it.Result = r.Replayed, &res
				}
				out.Body.Items[i] = it
			}()
		}
		for range in.Body.CDRs {
			<-done
		}
		for _, it := range out.Body.Items {
			if it.Error != nil {
				out.Body.Refused++
			} else {
				out.Body.Booked++
			}
		}
		return out, nil
	})

	type importIn struct {
		TenantPath
		IdemHeader
		RawBody []byte `contentType:"text/csv"`
	}
	type importOut struct{ Body ingest.Report }
	io := a.op("import-cdrs", http.MethodPost, "/v1/tenants/{tenant}/cdrs/import",
		"Book a CDR CSV (docs/cdr.md); bad lines are reported with their line and field, the rest booked", accCalls, "cdrs")
	io.MaxBodyBytes = a.cfg.MaxUpload
	huma.Register(a, io, func(ctx context.Context, in *importIn) (*importOut, error) {
		rep, err := ingest.Import(ctx, tenantOnly{a.svc.Writer, in.Tenant}, strings.NewReader(string(in.RawBody)), ingest.Options{Size: int64(len(in.RawBody))})
		if err != nil {
			return nil, problem(err)
		}
		return &importOut{rep}, nil
	})
}
