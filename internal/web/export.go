package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/commcredits/commcredits/internal/report"
)

// usageExport downloads the PSTN usage report (domain §8) for the page's filter: the zip of
// PSTN.calls.<date>.csv and parameters.json, the XLSX, or the CSV alone. It is built in
// memory first so that a refused filter still answers with a page, not half a file.
func (s *Server) usageExport(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	q := r.URL.Query()
	req := report.UsageRequest{Tenant: c.tenant.ID, User: q.Get("user"), CallType: q.Get("call_type"), Capability: q.Get("capability")}
	var bad []string
	day := func(field string) time.Time {
		raw := q.Get(field)
		if raw == "" {
			return time.Time{}
		}
		t, err := time.Parse("2006-01-02", raw)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %q is not a date (YYYY-MM-DD)", field, raw))
		}
		return t
	}
	req.From = day("from")
	if to := day("to"); !to.IsZero() {
		req.To = to.AddDate(0, 0, 1) // the page's "to" day is included
	}
	e := s.reportEngine()
	var b bytes.Buffer
	var err error
	var ctype, ext string
	if len(bad) == 0 {
		switch q.Get("format") {
		case "zip":
			ctype, ext = "application/zip", "zip"
			_, err = e.WriteUsageZip(r.Context(), &b, req)
		case "xlsx":
			ctype, ext = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"
			_, err = e.WriteUsageXLSX(r.Context(), &b, req)
		case "csv":
			ctype, ext = "text/csv; charset=utf-8", "csv"
			_, err = e.WriteUsageCSV(r.Context(), &b, req)
		default:
			bad = append(bad, "format: want zip, xlsx or csv")
		}
	}
	var fe *report.FieldError
	if errors.As(err, &fe) {
		bad, err = append(bad, fe.Field+": "+fe.Msg), nil
	}
	if err != nil {
		s.fail(w, r, c, err)
		return
	}
	if len(bad) > 0 {
		s.render(w, r, c, http.StatusUnprocessableEntity, "error", view{Title: "Export refused",
			D: "The export was not made: " + fmt.Sprint(bad)})
		return
	}
	name := fmt.Sprintf("pstn-usage-%s-%s.%s", c.tenant.ID, s.now().Format("2006-01-02"), ext)
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Content-Length", fmt.Sprint(b.Len()))
	_, _ = w.Write(b.Bytes())
}

// exportURL is the page's export link for format with the page's filter.
func exportURL(format string, f url.Values) string {
	q := url.Values{"format": {format}}
	for _, k := range []string{"from", "to", "user", "call_type", "capability"} {
		if v := f.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	return "/ui/reports/usage/export?" + q.Encode()
}
