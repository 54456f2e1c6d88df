package report

import (
	"archive/zip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/directory"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/store"
)

// UsageColumns are the PSTN usage report's columns, exactly as domain §8 lists them: the
// charging engine's columns without its trailing rate card reference.
var UsageColumns = slices.Clone(charging.UsageColumns[:20])

// UsageRequest selects the calls of a usage report. Zero To is now (a later To is clamped
// to now); zero From is To − 30 days; From may not be more than one year before now. The
// range is half-open on the call's start time. Empty filters select everything.
type UsageRequest struct {
	Tenant     string    `json:"tenant"`
	From       time.Time `json:"from,omitzero"`
	To         time.Time `json:"to,omitzero"`
	User       string    `json:"user,omitempty"`       // user or resource account id (AAD ObjectId)
	CallType   string    `json:"call_type,omitempty"`  // user_out, conf_in, ... (domain §4)
	Capability string    `json:"capability,omitempty"` // licence code that paid, or FREECALL
	// Limit caps the rows Usage returns (default 1000, at most 10000); exports are not capped.
	Limit int `json:"limit,omitempty"`
}

// UsageParameters are the resolved range and filters, as written to parameters.json.
type UsageParameters struct {
	Tenant         string    `json:"tenant"`
	From           time.Time `json:"from"`
	To             time.Time `json:"to"`
	User           string    `json:"user,omitempty"`
	CallType       string    `json:"call_type,omitempty"`
	Capability     string    `json:"capability,omitempty"`
	BillingCountry string    `json:"billing_country,omitempty"`
	MaskedDigits   int       `json:"masked_digits"`
	GeneratedAt    time.Time `json:"generated_at"`
	Rows           *int64    `json:"rows,omitempty"` // set once an export has written them
}

// UsageLine is one call of the usage report: the columns of UsageColumns (numbers with "+",
// external ones masked; money as decimals in Currency) plus the rate card reference.
type UsageLine struct {
	UsageID               string    `json:"usage_id"`
	CallID                string    `json:"call_id"`
	ConferenceID          string    `json:"conference_id"`
	UserLocation          string    `json:"user_location"`
	AADObjectID           string    `json:"aad_object_id"`
	UPN                   string    `json:"upn"`
	UserDisplayName       string    `json:"user_display_name"`
	CallerID              string    `json:"caller_id"`
	CallType              string    `json:"call_type"`
	NumberType            string    `json:"number_type"`
	DomesticInternational string    `json:"domestic_international"`
	DestinationDialed     string    `json:"destination_dialed"`
	DestinationNumber     string    `json:"destination_number"`
	StartTime             time.Time `json:"start_time"`
	EndTime               time.Time `json:"end_time"`
	DurationSeconds       int64     `json:"duration_seconds"`
	ConnectionFee         string    `json:"connection_fee"`
	Charge                string    `json:"charge"`
	Currency              string    `json:"currency"`
	Capability            string    `json:"capability"`
	// CardRef is the rate card version and row that priced the call (not a §8 column).
	CardRef string `json:"card_ref,omitempty"`
}

// Record is the line's fields in UsageColumns order, times in RFC 3339 UTC.
func (l *UsageLine) Record() []string {
	return []string{
		l.UsageID, l.CallID, l.ConferenceID, l.UserLocation, l.AADObjectID, l.UPN, l.UserDisplayName,
		l.CallerID, l.CallType, l.NumberType, l.DomesticInternational, l.DestinationDialed, l.DestinationNumber,
		l.StartTime.Format(time.RFC3339), l.EndTime.Format(time.RFC3339), strconv.FormatInt(l.DurationSeconds, 10),
		l.ConnectionFee, l.Charge, l.Currency, l.Capability,
	}
}

// UsageDay is one UTC day of the chart series: calls started that day and their charges.
type UsageDay struct {
	Day         string `json:"day"` // 2026-11-24
	Calls       int64  `json:"calls"`
	Charge      string `json:"charge"`
	ChargeMinor int64  `json:"charge_minor"`
}

// UsageReport is the report for a screen: the first Limit lines, totals over all of them
// and the per-day series.
type UsageReport struct {
	Parameters UsageParameters `json:"parameters"`
	Currency   string          `json:"currency"`
	Columns    []string        `json:"columns"`
	Lines      []UsageLine     `json:"lines"`
	Truncated  bool            `json:"truncated"`
	Calls      int64           `json:"calls"`
	Charge     string          `json:"charge"`
	Days       []UsageDay      `json:"days"`
}

// usageQuery is a validated request.
type usageQuery struct {
	params UsageParameters
	filter store.UsageFilter
	cur    money.Currency
	mask   masker
}

func (e *Engine) usageQuery(ctx context.Context, req UsageRequest) (*usageQuery, error) {
	now := e.now()
	t, err := e.tenant(ctx, req.Tenant)
	if err != nil {
		return nil, err
	}
	r, err := resolveRange(span{From: req.From, To: req.To}, now)
	if err != nil {
		return nil, err
	}
	if req.CallType != "" && !payer.CallType(req.CallType).Valid() {
		return nil, invalid("call_type", "unknown call type %q (user_in, user_out, user_out_transfer, user_out_forwarding, user_out_conf, conf_in, conf_out, ucap_in, ucap_out, unassigned_in)", req.CallType)
	}
	if req.Capability != "" && req.Capability != plans.FREECALL {
		if _, ok := e.catalog().Plan(req.Capability); !ok {
			return nil, invalid("capability", "unknown licence code %q", req.Capability)
		}
	}
	if len(req.User) > directory.MaxIDLen {
		return nil, invalid("user", "longer than %d characters", directory.MaxIDLen)
	}
	d, err := e.Store.ReportDirectory(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	m := newMasker(d)
	return &usageQuery{
		params: UsageParameters{Tenant: t.ID, From: r.From, To: r.To, User: req.User, CallType: req.CallType,
			Capability: req.Capability, BillingCountry: d.BillingCountry, MaskedDigits: m.n, GeneratedAt: now},
		filter: store.UsageFilter{From: r.From, To: r.To, User: req.User, CallType: req.CallType, Capability: req.Capability},
		cur:    t.Currency,
		mask:   m,
	}, nil
}

func (q *usageQuery) line(u *store.UsageRecord) UsageLine {
	rec := u.Record() // the charging engine's formatting: "+" numbers, RFC 3339 UTC, decimals
	return UsageLine{
		UsageID: rec[0], CallID: rec[1], ConferenceID: rec[2], UserLocation: rec[3], AADObjectID: rec[4], UPN: rec[5],
		UserDisplayName: rec[6], CallerID: q.mask.number(u.CallerID), CallType: rec[8], NumberType: rec[9],
		DomesticInternational: rec[10], DestinationDialed: rec[11], DestinationNumber: q.mask.number(u.DestinationNumber),
		StartTime: u.Start.UTC(), EndTime: u.End.UTC(), DurationSeconds: u.DurationSeconds,
		ConnectionFee: rec[16], Charge: rec[17], Currency: rec[18], Capability: rec[19], CardRef: u.CardRefText,
	}
}

// EachUsage validates req and calls fn for every line in order, one at a time (rows are
// streamed from the store, never all held). It returns the resolved parameters.
func (e *Engine) EachUsage(ctx context.Context, req UsageRequest, fn func(*UsageLine) error) (UsageParameters, error) {
	q, err := e.usageQuery(ctx, req)
	if err != nil {
		return UsageParameters{}, err
	}
	err = e.each(ctx, q, fn)
	return q.params, err
}

func (e *Engine) each(ctx context.Context, q *usageQuery, fn func(*UsageLine) error) error {
	var n int64
	err := e.Store.EachUsage(ctx, q.params.Tenant, q.filter, func(u *store.UsageRecord) error {
		l := q.line(u)
		n++
		return fn(&l)
	})
	q.params.Rows = &n
	return err
}

// Usage is the report for a screen: up to req.Limit lines, totals and the per-day series.
func (e *Engine) Usage(ctx context.Context, req UsageRequest) (*UsageReport, error) {
	limit := req.Limit
	switch {
	case limit < 0 || limit > 10000:
		return nil, invalid("limit", "%d is not between 1 and 10000", limit)
	case limit == 0:
		limit = 1000
	}
	q, err := e.usageQuery(ctx, req)
	if err != nil {
		return nil, err
	}
	rep := &UsageReport{Currency: q.cur.Code, Columns: UsageColumns, Lines: []UsageLine{}}
	// Totals come from the store's daily sums; the lines stop at the limit.
	if rep.Days, err = e.days(ctx, q); err != nil {
		return nil, err
	}
	var total money.Amount
	for _, d := range rep.Days {
		rep.Calls += d.Calls
		total += money.Amount(d.ChargeMinor)
	}
	rep.Charge = total.Format(q.cur)
	err = e.each(ctx, q, func(l *UsageLine) error {
		if len(rep.Lines) == limit {
			rep.Truncated = true
			return errEnough
		}
		rep.Lines = append(rep.Lines, *l)
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, err
	}
	rep.Parameters = q.params
	rep.Parameters.Rows = &rep.Calls
	return rep, nil
}

// errEnough stops a row iteration early; it never leaves the package.
var errEnough = errors.New("enough rows")

// UsageDaily is the chart series of req: one entry per UTC day of the range, days without
// calls included, summed by the store.
func (e *Engine) UsageDaily(ctx context.Context, req UsageRequest) ([]UsageDay, error) {
	q, err := e.usageQuery(ctx, req)
	if err != nil {
		return nil, err
	}
	return e.days(ctx, q)
}

func (e *Engine) days(ctx context.Context, q *usageQuery) ([]UsageDay, error) {
	rows, err := e.Store.ReportUsageDaily(ctx, q.params.Tenant, q.filter)
	if err != nil {
		return nil, err
	}
	by := make(map[time.Time]store.UsageDay, len(rows))
	for _, r := range rows {
		by[r.Day] = r
	}
	out := []UsageDay{}
	first := q.filter.From.Truncate(24 * time.Hour)
	for d := first; d.Before(q.filter.To); d = d.AddDate(0, 0, 1) {
		r := by[d]
		out = append(out, UsageDay{Day: d.Format(time.DateOnly), Calls: r.Calls, Charge: r.Charge.Format(q.cur), ChargeMinor: int64(r.Charge)})
	}
	return out, nil
}

// CSVName is the name of the usage CSV in the export for a report generated at t:
// "PSTN.calls.2026-11-24.csv" (the UTC date).
func CSVName(t time.Time) string { return "PSTN.calls." + t.UTC().Format(time.DateOnly) + ".csv" }

// ParametersName is the name of the parameters file in the export.
const ParametersName = "parameters.json"

// WriteUsageCSV writes the header and every line of req as RFC 4180 CSV (CRLF line ends).
func (e *Engine) WriteUsageCSV(ctx context.Context, w io.Writer, req UsageRequest) (UsageParameters, error) {
	q, err := e.usageQuery(ctx, req)
	if err != nil {
		return UsageParameters{}, err
	}
	err = e.writeCSV(ctx, w, q)
	return q.params, err
}

func (e *Engine) writeCSV(ctx context.Context, w io.Writer, q *usageQuery) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // RFC 4180
	if err := cw.Write(UsageColumns); err != nil {
		return err
	}
	err := e.each(ctx, q, func(l *UsageLine) error { return cw.Write(l.Record()) })
	cw.Flush()
	return errors.Join(err, cw.Error())
}

// WriteUsageZip writes the export of domain §8: a zip holding PSTN.calls.<UTC date>.csv
// and parameters.json (the resolved range and filters, and the number of rows).
func (e *Engine) WriteUsageZip(ctx context.Context, w io.Writer, req UsageRequest) (UsageParameters, error) {
	q, err := e.usageQuery(ctx, req)
	if err != nil {
		return UsageParameters{}, err
	}
	zw := zip.NewWriter(w)
	mod := q.params.GeneratedAt
	f, err := zw.CreateHeader(&zip.FileHeader{Name: CSVName(mod), Method: zip.Deflate, Modified: mod})
	if err != nil {
		return q.params, err
	}
	if err := e.writeCSV(ctx, f, q); err != nil {
		return q.params, err
	}
	p, err := json.MarshalIndent(q.params, "", "  ")
	if err != nil {
		return q.params, err
	}
	f, err = zw.CreateHeader(&zip.FileHeader{Name: ParametersName, Method: zip.Deflate, Modified: mod})
	if err != nil {
		return q.params, err
	}
	if _, err := f.Write(append(p, '\n')); err != nil {
		return q.params, err
	}
	return q.params, zw.Close()
}

// Sheet names of the XLSX export.
const (
	UsageSheet      = "PSTN calls"
	ParametersSheet = "Parameters"
)

// WriteUsageXLSX writes the report as an XLSX workbook: sheet "PSTN calls" (the columns,
// then one row per call, written with excelize's stream writer) and sheet "Parameters".
// Money and times are text cells exactly as in the CSV; Duration Seconds is a number.
func (e *Engine) WriteUsageXLSX(ctx context.Context, w io.Writer, req UsageRequest) (UsageParameters, error) {
	q, err := e.usageQuery(ctx, req)
	if err != nil {
		return UsageParameters{}, err
	}
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", UsageSheet); err != nil {
		return q.params, err
	}
	sw, err := f.NewStreamWriter(UsageSheet)
	if err != nil {
		return q.params, err
	}
	row := 1
	put := func(cells []any) error {
		cell, err := excelize.CoordinatesToCellName(1, row)
		if err != nil {
			return err
		}
		row++
		return sw.SetRow(cell, cells)
	}
	head := make([]any, len(UsageColumns))
	for i, c := range UsageColumns {
		head[i] = c
	}
	if err := put(head); err != nil {
		return q.params, err
	}
	err = e.each(ctx, q, func(l *UsageLine) error {
		rec := l.Record()
		cells := make([]any, len(rec))
		for i, v := range rec {
			cells[i] = v
		}
		cells[15] = l.DurationSeconds
		return put(cells)
	})
	if err != nil {
		return q.params, err
	}
	if err := sw.Flush(); err != nil {
		return q.params, err
	}
	if _, err := f.NewSheet(ParametersSheet); err != nil {
		return q.params, err
	}
	p := q.params
	kv := [][2]string{
		{"tenant", p.Tenant}, {"from", p.From.Format(time.RFC3339)}, {"to", p.To.Format(time.RFC3339)},
		{"user", p.User}, {"call_type", p.CallType}, {"capability", p.Capability},
		{"billing_country", p.BillingCountry}, {"masked_digits", strconv.Itoa(p.MaskedDigits)},
		{"generated_at", p.GeneratedAt.Format(time.RFC3339)}, {"rows", strconv.FormatInt(*p.Rows, 10)},
	}
	for i, r := range kv {
		if err := f.SetSheetRow(ParametersSheet, fmt.Sprintf("A%d", i+1), &[]any{r[0], r[1]}); err != nil {
			return q.params, err
		}
	}
	_, err = f.WriteTo(w)
	return q.params, err
}
