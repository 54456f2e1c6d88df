package rest

import (
	"context"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
)

// listOut is a page of a report.
type listOut[T any] struct {
	Body struct {
		Items      []T    `json:"items"`
		NextCursor string `json:"next_cursor,omitempty"`
	}
}

type reportIn struct {
	TenantPath
	PageQuery
}

// report registers a read-only report whose rows the store returns in a stable order; the
// cursor is the position after the last row returned.
func report[T any](a *API, id, p, summary string, rows func(ctx context.Context, tenantID string) ([]T, error)) {
	huma.Register(a, a.op(id, http.MethodGet, p, summary, accRead, "reports"),
		func(ctx context.Context, in *reportIn) (*listOut[T], error) {
			if _, err := a.svc.Store.Tenant(ctx, in.Tenant); err != nil {
				return nil, problem(err)
			}
			all, err := rows(ctx, in.Tenant)
			if err != nil {
				return nil, problem(err)
			}
			start := 0
			if in.Cursor != "" {
				n, err := strconv.Atoi(decodeCursor(in.Cursor))
				if err != nil || n < 0 {
					return nil, huma.Error400BadRequest("bad cursor", &huma.ErrorDetail{Location: "query.cursor", Value: in.Cursor})
				}
				start = min(n, len(all))
			}
			end := min(start+in.limit(), len(all))
			out := &listOut[T]{}
			out.Body.Items = append([]T{}, all[start:end]...)
			if end < len(all) {
				out.Body.NextCursor = encodeCursor(strconv.Itoa(end))
			}
			return out, nil
		})
}

func (a *API) reportRoutes() {
	st := a.svc.Store
	report(a, "report-usage", "/v1/tenants/{tenant}/reports/usage", "PSTN usage rows (one per charged call leg)", st.ReportUsage)
	report(a, "report-pool-usage", "/v1/tenants/{tenant}/reports/pool-usage", "Minute pool use per month and pool", st.ReportPoolUsage)
	report(a, "report-spend", "/v1/tenants/{tenant}/reports/spend", "Credit spend per user and month", st.ReportSpend)
	report(a, "report-blocked-users", "/v1/tenants/{tenant}/reports/blocked-users", "Users blocked and unblocked (balance, pool, spend limit)", st.ReportBlockEvents)
	report(a, "report-refusals", "/v1/tenants/{tenant}/reports/refusals", "Calls refused, with the reason", st.ReportRefusals)
}
