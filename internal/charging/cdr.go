package charging

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
)

// CDR is a call detail record from a switch that never asked for authorization (docs/cdr.md).
// (Tenant, CallID, Leg) identifies it: ingesting it twice must not charge twice.
type CDR struct {
	Tenant        string         `json:"tenant"`
	CallID        string         `json:"call_id"`
	Leg           string         `json:"leg,omitempty"`
	CallType      payer.CallType `json:"call_type"`
	Principal     string         `json:"principal,omitempty"` // user, resource account or organizer id
	Caller        string         `json:"caller,omitempty"`
	Callee        string         `json:"callee,omitempty"`
	ServiceNumber string         `json:"service_number,omitempty"`
	Start         time.Time      `json:"start"`
	End           time.Time      `json:"end,omitzero"`
	// Duration is the connected seconds: duration_seconds when given, else end − start.
	Duration int64 `json:"duration_seconds"`
}

// CDRKey is what makes a CDR unique.
type CDRKey struct{ Tenant, CallID, Leg string }

// Key returns the CDR's idempotency key.
func (c *CDR) Key() CDRKey { return CDRKey{c.Tenant, c.CallID, c.Leg} }

// CDRColumns are the CSV columns, in the order FormatCSV writes them. A CSV source may order
// them freely and leave optional ones out (docs/cdr.md).
var CDRColumns = []string{
	"tenant", "call_id", "leg", "call_type", "principal", "caller", "callee",
	"service_number", "start", "end", "duration_seconds",
}

// Limits on CDR sources.
const (
	MaxCDRFieldLen  = 256     // bytes of any one field
	MaxCDRLineBytes = 4096    // bytes of one JSON record
	MaxCDRErrors    = 1000    // errors ParseCSV and DecodeJSON list; more are counted
	MaxCDRSource    = 1 << 30 // bytes DecodeJSON accepts
	maxDuration     = rating.MaxCallSeconds
	colNone         = -1
	fieldCount      = 11
)

// CDRError is one problem with one record: Line is the CSV line (the header is line 1) or
// the 1-based position of a JSON record; Field the column or JSON field ("" for the record).
type CDRError struct {
	Line  int    `json:"line"`
	Field string `json:"field,omitempty"`
	Msg   string `json:"msg"`
}

func (e *CDRError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Msg)
}

// ErrCDRSource is wrapped by errors that stop reading a whole source (a bad header, broken
// JSON, a source too large).
var ErrCDRSource = errors.New("cdr source")

// fields are a record's values by CDRColumns index, as text.
type fields struct {
	v [fieldCount]string
}

// toCDR validates a record's fields; it returns the first problem.
func (f *fields) toCDR(line int) (CDR, *CDRError) {
	bad := func(i int, format string, args ...any) (CDR, *CDRError) {
		return CDR{}, &CDRError{Line: line, Field: CDRColumns[i], Msg: fmt.Sprintf(format, args...)}
	}
	for i := range f.v {
		switch s := f.v[i]; {
		case len(s) > MaxCDRFieldLen:
			return bad(i, "longer than %d bytes", MaxCDRFieldLen)
		case !utf8.ValidString(s):
			return bad(i, "not valid UTF-8")
		case strings.TrimSpace(s) != s:
			return bad(i, "leading or trailing space")
		case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return bad(i, "control character")
		}
	}
	if strings.HasPrefix(f.v[0], "#") {
		return bad(0, "must not start with '#' (a CSV comment)")
	}
	for _, i := range []int{0, 1, 3, 8} {
		if f.v[i] == "" {
			return bad(i, "required")
		}
	}
	c := CDR{Tenant: f.v[0], CallID: f.v[1], Leg: f.v[2], CallType: payer.CallType(f.v[3]), Principal: f.v[4],
		Caller: f.v[5], Callee: f.v[6], ServiceNumber: f.v[7]}
	if !c.CallType.Valid() {
		return bad(3, "unknown call type %q", f.v[3])
	}
	var err error
	if c.Start, err = parseTime(f.v[8]); err != nil {
		return bad(8, "%v", err)
	}
	if f.v[9] != "" {
		if c.End, err = parseTime(f.v[9]); err != nil {
			return bad(9, "%v", err)
		}
		if c.End.Before(c.Start) {
			return bad(9, "before start")
		}
		if c.End.Sub(c.Start) > maxDuration*time.Second {
			return bad(9, "more than %d seconds after start", maxDuration)
		}
	}
	switch {
	case f.v[10] != "":
		d, err := strconv.ParseInt(f.v[10], 10, 64)
		if err != nil || d < 0 || d > maxDuration {
			return bad(10, "want whole seconds from 0 to %d, got %q", maxDuration, f.v[10])
		}
		if !c.End.IsZero() && d > int64(c.End.Sub(c.Start)/time.Second) {
			return bad(10, "longer than end − start")
		}
		c.Duration = d
	case f.v[9] != "":
		c.Duration = int64(c.End.Sub(c.Start) / time.Second)
	default:
		return CDR{}, &CDRError{Line: line, Msg: "needs end or duration_seconds"}
	}
	return c, nil
}

// parseTime reads an RFC 3339 time with an offset ("2026-11-05T10:00:00Z",
// "2026-11-05T11:00:00.250+01:00"); it is kept in UTC, truncated to the second.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 time with offset, got %q", s)
	}
	if t.Year() < 2000 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("year %d out of range", t.Year())
	}
	return t.UTC().Truncate(time.Second), nil
}

// CSVReader reads a CDR CSV source record by record, so that an import can show progress
// (Offset) and resume (skip records up to a line already done).
type CSVReader struct {
	r    *csv.Reader
	skip int64           // bytes of a byte-order mark skipped
	cols [fieldCount]int // CSV column of each CDRColumns field, colNone when absent
	n    int             // columns in the header
}

var bom = []byte("\uFEFF")

// NewCSVReader reads and checks the header (docs/cdr.md). A UTF-8 byte-order mark, CRLF
// line endings, blank lines and lines starting with '#' are accepted.
func NewCSVReader(r io.Reader) (*CSVReader, error) {
	br := bufio.NewReader(r)
	skip := 0
	if b, err := br.Peek(len(bom)); err == nil && bytes.Equal(b, bom) {
		skip, _ = br.Discard(len(bom))
	}
	cr := csv.NewReader(br)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	rd := &CSVReader{r: cr, skip: int64(skip)}
	head, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: empty, want a header line", ErrCDRSource)
		}
		return nil, fmt.Errorf("%w: header: %v", ErrCDRSource, err)
	}
	for i := range rd.cols {
		rd.cols[i] = colNone
	}
	for j, name := range head {
		i := columnIndex(strings.ToLower(strings.TrimSpace(name)))
		if i < 0 {
			return nil, fmt.Errorf("%w: header: unknown column %q", ErrCDRSource, name)
		}
		if rd.cols[i] != colNone {
			return nil, fmt.Errorf("%w: header: column %q repeats", ErrCDRSource, name)
		}
		rd.cols[i] = j
	}
	for _, i := range []int{0, 1, 3, 8} {
		if rd.cols[i] == colNone {
			return nil, fmt.Errorf("%w: header: missing column %q", ErrCDRSource, CDRColumns[i])
		}
	}
	if rd.cols[9] == colNone && rd.cols[10] == colNone {
		return nil, fmt.Errorf("%w: header: needs an end or a duration_seconds column", ErrCDRSource)
	}
	rd.n = len(head)
	return rd, nil
}

func columnIndex(name string) int {
	for i, c := range CDRColumns {
		if c == name {
			return i
		}
	}
	return -1
}

// Next returns the next record and its line. A bad record is a *CDRError (read on after it);
// io.EOF ends the source; any other error stops it.
func (rd *CSVReader) Next() (CDR, int, error) {
	rec, err := rd.r.Read()
	line := 0
	if len(rec) > 0 {
		line, _ = rd.r.FieldPos(0)
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return CDR{}, pe.StartLine, &CDRError{Line: pe.StartLine, Msg: pe.Err.Error()}
		}
		return CDR{}, 0, err
	}
	if len(rec) != rd.n {
		return CDR{}, line, &CDRError{Line: line, Msg: fmt.Sprintf("%d fields, the header has %d", len(rec), rd.n)}
	}
	var f fields
	for i, j := range rd.cols {
		if j != colNone {
			f.v[i] = rec[j]
		}
	}
	c, e := f.toCDR(line)
	if e != nil {
		return CDR{}, line, e
	}
	return c, line, nil
}

// Offset is how many bytes of the source have been read: the progress of an import.
func (rd *CSVReader) Offset() int64 { return rd.skip + rd.r.InputOffset() }

// Errors are the problems of a source's records, in order: at most MaxCDRErrors listed,
// the rest counted in Omitted.
type Errors struct {
	List    []CDRError
	Omitted int
}

func (e *Errors) add(ce *CDRError) {
	if len(e.List) < MaxCDRErrors {
		e.List = append(e.List, *ce)
	} else {
		e.Omitted++
	}
}

// Len is the number of bad records.
func (e *Errors) Len() int { return len(e.List) + e.Omitted }

// ParseCSV reads a whole CDR CSV source: the good records, the bad ones' errors, and an
// error (wrapping ErrCDRSource) when the source as a whole cannot be read.
func ParseCSV(r io.Reader) ([]CDR, Errors, error) {
	var errs Errors
	rd, err := NewCSVReader(r)
	if err != nil {
		return nil, errs, err
	}
	var out []CDR
	for {
		c, _, err := rd.Next()
		var ce *CDRError
		switch {
		case err == io.EOF:
			return out, errs, nil
		case errors.As(err, &ce):
			errs.add(ce)
		case err != nil:
			return out, errs, fmt.Errorf("%w: %v", ErrCDRSource, err)
		default:
			out = append(out, c)
		}
	}
}

// FormatCSV writes CDRs with a header in CDRColumns order; ParseCSV reads it back.
func FormatCSV(w io.Writer, cdrs []CDR) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CDRColumns); err != nil {
		return err
	}
	for i := range cdrs {
		c := &cdrs[i]
		end := ""
		if !c.End.IsZero() {
			end = c.End.UTC().Format(time.RFC3339)
		}
		rec := []string{c.Tenant, c.CallID, c.Leg, string(c.CallType), c.Principal, c.Caller, c.Callee,
			c.ServiceNumber, c.Start.UTC().Format(time.RFC3339), end, strconv.FormatInt(c.Duration, 10)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// jsonCDR is a JSON record as text, so that a wrong value names its field.
type jsonCDR struct {
	Tenant        *string      `json:"tenant"`
	CallID        *string      `json:"call_id"`
	Leg           *string      `json:"leg"`
	CallType      *string      `json:"call_type"`
	Principal     *string      `json:"principal"`
	Caller        *string      `json:"caller"`
	Callee        *string      `json:"callee"`
	ServiceNumber *string      `json:"service_number"`
	Start         *string      `json:"start"`
	End           *string      `json:"end"`
	Duration      *json.Number `json:"duration_seconds"`
}

// DecodeJSON reads CDRs from JSON: one object, an array of objects, or objects one after
// another (JSON lines). A record that is not a valid CDR is listed in Errors with its
// 1-based position as Line and the field at fault; broken JSON stops the source (an error
// wrapping ErrCDRSource, with the records read before it).
func DecodeJSON(data []byte) ([]CDR, Errors, error) {
	var errs Errors
	if len(data) > MaxCDRSource {
		return nil, errs, fmt.Errorf("%w: larger than %d bytes", ErrCDRSource, MaxCDRSource)
	}
	data = bytes.TrimPrefix(data, bom)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	array := false
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		array = true
		if _, err := dec.Token(); err != nil {
			return nil, errs, fmt.Errorf("%w: %v", ErrCDRSource, err)
		}
	}
	var out []CDR
	for n := 1; ; n++ {
		if array && !dec.More() {
			if _, err := dec.Token(); err != nil {
				return out, errs, fmt.Errorf("%w: %v", ErrCDRSource, err)
			}
			if _, err := dec.Token(); err != io.EOF {
				return out, errs, fmt.Errorf("%w: data after the array", ErrCDRSource)
			}
			return out, errs, nil
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if err == io.EOF && !array {
				return out, errs, nil
			}
			return out, errs, fmt.Errorf("%w: record %d: %v", ErrCDRSource, n, err)
		}
		c, ce := decodeRecord(raw, n)
		if ce != nil {
			errs.add(ce)
			continue
		}
		out = append(out, c)
	}
}

func decodeRecord(raw []byte, n int) (CDR, *CDRError) {
	if len(raw) > MaxCDRLineBytes {
		return CDR{}, &CDRError{Line: n, Msg: fmt.Sprintf("record longer than %d bytes", MaxCDRLineBytes)}
	}
	var j jsonCDR
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return CDR{}, &CDRError{Line: n, Msg: "want a JSON object"}
			}
			return CDR{}, &CDRError{Line: n, Field: te.Field, Msg: "want a " + te.Type.String()}
		}
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return CDR{}, &CDRError{Line: n, Field: strings.Trim(f, `"`), Msg: "unknown field"}
		}
		return CDR{}, &CDRError{Line: n, Msg: msg}
	}
	var f fields
	for i, p := range []*string{j.Tenant, j.CallID, j.Leg, j.CallType, j.Principal, j.Caller, j.Callee, j.ServiceNumber, j.Start, j.End} {
		if p != nil {
			f.v[i] = *p
		}
	}
	if j.Duration != nil {
		f.v[10] = j.Duration.String()
	}
	return f.toCDR(n)
}

// Priced is a CDR with its price.
type Priced struct {
	CDR CDR
	// Authorization is the decision the CDR was priced by, as if authorized at its start
	// with no balance, spend-limit or policy limits (the call has happened).
	Authorization Authorization
	Settlement    Settlement
	// FreeCall: the CDR could not be priced; it is kept, charged nothing, reported with
	// capability FREECALL and listed for review with Review saying why.
	FreeCall bool
	Review   Reason
}

// PriceCDR prices a CDR that was never authorized (domain §5, issue 4): who pays and the
// rate as Authorize decides them at the CDR's start, pools first (ctx.Pools as they are now)
// then credits, without admission limits on the balance, spend limit or dial-out policy —
// the charge may take the balance negative. A CDR that cannot be priced (a number that does
// not parse, no rate, a refusal by licence or destination, a pool gone without credits, a
// principal unknown to the caller) is never dropped: it is FREECALL, charged nothing, with a
// review reason. p is the CDR's principal as the directory knows it (zero when unknown).
func PriceCDR(ctx *Context, c *CDR, p plans.Principal, cur money.Currency) Priced {
	call := Call{Tenant: c.Tenant, Currency: cur, ID: c.CallID, Leg: c.Leg, Type: c.CallType, Principal: p,
		Caller: c.Caller, Callee: c.Callee, Service: c.ServiceNumber, Start: c.Start}
	free := *ctx
	free.Available = money.MaxAmount
	free.Policy = Policy{}
	free.MaxCallSeconds = rating.MaxCallSeconds
	a := Authorize(&free, &call)
	pr := Priced{CDR: *c, Authorization: a}
	in := SettleInput{Seconds: c.Duration, End: c.End}
	if a.Allowed {
		if a.Outcome == payer.Pool {
			in.PoolAvailable = ctx.poolLeft(a.Pool)
		}
		pr.Settlement = Settle(&a, in)
		if pr.Settlement.Uncovered > 0 {
			pr.Review = "uncovered_seconds"
		}
		return pr
	}
	// Unpriceable: keep it as a free call with the reason for review.
	pr.FreeCall, pr.Review = true, a.Reason
	if c.Principal != "" && p.ID == "" {
		pr.Review = "unknown_principal"
	}
	fa := a
	fa.Allowed, fa.Outcome, fa.Capability = true, payer.Free, plans.FREECALL
	pr.Settlement = Settle(&fa, in)
	if pr.Settlement.Usage.DurationSeconds > 0 {
		pr.Settlement.Usage.Review = string(pr.Review)
	}
	return pr
}
