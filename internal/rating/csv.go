package rating

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/numbers"
)

// Columns is the header every rate card CSV starts with, in this order (docs/ratecard.md).
var Columns = []string{
	"prefix", "destination", "number_type", "rate_per_minute", "connection_fee",
	"initial_increment", "subsequent_increment", "effective_from", "blocked",
}

// Limits on a card's source.
const (
	MaxLineBytes      = 4096     // a longer line is an error of its own
	MaxSourceBytes    = 64 << 20 // 64 MiB
	MaxRows           = 1_000_000
	MaxIncrement      = 3600 // seconds
	MaxDestinationLen = 200  // bytes
	MaxErrors         = 1000 // errors listed; more are counted
)

// LineError is one problem in a CSV source.
type LineError struct {
	Line   int    // 1-based; the header is line 1
	Column string // "" when the problem is the whole line
	Msg    string
}

func (e LineError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Column, e.Msg)
}

// ImportError lists every problem found in a source; when it is returned nothing is imported.
type ImportError struct {
	Errors  []LineError // in line order, at most MaxErrors
	Omitted int         // problems found beyond MaxErrors
}

func (e *ImportError) Error() string {
	var b strings.Builder
	n := len(e.Errors) + e.Omitted
	fmt.Fprintf(&b, "rate card rejected: %d error", n)
	if n != 1 {
		b.WriteByte('s')
	}
	for i, le := range e.Errors {
		if i == 20 {
			fmt.Fprintf(&b, "\n… and %d more", n-20)
			break
		}
		b.WriteString("\n")
		b.WriteString(le.Error())
	}
	return b.String()
}

type collector struct{ e ImportError }

func (c *collector) add(line int, col, format string, args ...any) {
	if len(c.e.Errors) >= MaxErrors {
		c.e.Omitted++
		return
	}
	c.e.Errors = append(c.e.Errors, LineError{Line: line, Column: col, Msg: fmt.Sprintf(format, args...)})
}

var bom = []byte("\uFEFF")

// ParseCSV validates every row of a rate card CSV (format in docs/ratecard.md) and returns the
// rows, or an *ImportError listing every bad line. A UTF-8 byte-order mark at the very start
// and CRLF line endings are accepted (spreadsheets write them); a byte-order mark anywhere
// else is an error. Blank lines and lines starting with '#' are ignored.
func ParseCSV(data []byte) ([]Row, error) {
	var errs collector
	if len(data) > MaxSourceBytes {
		errs.add(1, "", "source is %d bytes, more than %d", len(data), MaxSourceBytes)
		return nil, &errs.e
	}
	data = bytes.TrimPrefix(data, bom)
	// Long lines are reported on their own and their records skipped: encoding/csv would
	// otherwise build a field of any length.
	long := map[int]bool{}
	for line, rest := 1, data; len(rest) > 0; line++ {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			i = len(rest)
		}
		if i > MaxLineBytes {
			long[line] = true
			errs.add(line, "", "line is %d bytes, longer than %d", i, MaxLineBytes)
		}
		rest = rest[min(i+1, len(rest)):]
	}

	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.Comment = '#'
	r.ReuseRecord = true
	var rows []Row
	seen := make(map[key]int)
	// A row's strings are copied out of the record: as slices of it, they would keep every
	// record's whole text (64 bytes a line) alive as long as the card. Destinations repeat,
	// so each is kept once.
	names := make(map[string]string)
	header := false
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if !long[pe.StartLine] {
				errs.add(pe.StartLine, "", "%v", pe.Err)
			}
			continue
		} else if err != nil {
			errs.add(0, "", "%v", err)
			break
		}
		line, _ := r.FieldPos(0)
		if long[line] {
			continue
		}
		if last, _ := r.FieldPos(len(rec) - 1); last != line {
			errs.add(line, "", "a quoted field spans lines %d to %d", line, last)
			continue
		}
		if !header {
			header = true
			checkHeader(&errs, line, rec)
			continue
		}
		if len(rows) >= MaxRows {
			errs.add(line, "", "more than %d rows", MaxRows)
			break
		}
		row, ok := parseRow(&errs, line, rec)
		if !ok {
			continue
		}
		k := key{row.Prefix, row.EffectiveFrom.Unix()}
		if first, dup := seen[k]; dup {
			errs.add(line, "", "prefix %s effective %s repeats line %d", row.Prefix, row.EffectiveFrom.Format(time.RFC3339), first)
			continue
		}
		seen[k] = line
		row.Prefix = strings.Clone(row.Prefix)
		d, ok := names[row.Destination]
		if !ok {
			d = strings.Clone(row.Destination)
			names[d] = d
		}
		row.Destination = d
		rows = append(rows, row)
	}
	if !header {
		errs.add(1, "", "empty source: want the header %s", strings.Join(Columns, ","))
	} else if len(rows) == 0 && len(errs.e.Errors) == 0 {
		errs.add(2, "", "no rows")
	}
	if len(errs.e.Errors) > 0 {
		sortErrors(errs.e.Errors)
		return nil, &errs.e
	}
	return rows, nil
}

type key struct {
	prefix string
	from   int64
}

func sortErrors(es []LineError) {
	// Insertion sort by line, stable: long-line errors were found first.
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].Line < es[j-1].Line; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

func checkHeader(errs *collector, line int, rec []string) {
	if len(rec) != len(Columns) {
		errs.add(line, "", "header has %d columns, want %d: %s", len(rec), len(Columns), strings.Join(Columns, ","))
		return
	}
	for i, name := range Columns {
		if got := strings.ToLower(strings.TrimSpace(rec[i])); got != name {
			errs.add(line, "", "header column %d is %q, want %q (header: %s)", i+1, rec[i], name, strings.Join(Columns, ","))
			return
		}
	}
}

// parseRow validates one record, adding every problem it finds.
func parseRow(errs *collector, line int, rec []string) (Row, bool) {
	if len(rec) != len(Columns) {
		errs.add(line, "", "has %d fields, want %d", len(rec), len(Columns))
		return Row{}, false
	}
	n := len(errs.e.Errors) + errs.e.Omitted
	f := func(i int) string { return strings.TrimSpace(rec[i]) }
	row := Row{Line: line}

	row.Prefix = strings.TrimPrefix(f(0), "+")
	if !validPrefix(row.Prefix) {
		errs.add(line, "prefix", "%q is not 1 to %d E.164 digits", f(0), MaxPrefixLen)
	}
	row.Destination = f(1)
	switch d := row.Destination; {
	case d == "":
		errs.add(line, "destination", "empty")
	case len(d) > MaxDestinationLen:
		errs.add(line, "destination", "longer than %d bytes", MaxDestinationLen)
	case !utf8.ValidString(d):
		errs.add(line, "destination", "not valid UTF-8")
	case strings.IndexFunc(d, func(r rune) bool { return unicode.IsControl(r) || r == '\uFEFF' }) >= 0:
		errs.add(line, "destination", "contains a control character or byte-order mark")
	}
	if t, ok := numbers.ParseType(f(2)); ok && t != numbers.Emergency {
		row.NumberType = t
	} else {
		errs.add(line, "number_type", "%q is not one of fixed, mobile, fixed_or_mobile, toll_free, premium, shared_cost, voip, other", f(2))
	}
	var err error
	if row.Rate, err = money.ParseRate(f(3)); err != nil {
		errs.add(line, "rate_per_minute", "%v", err)
	}
	if row.Fee, err = money.ParseRate(f(4)); err != nil {
		errs.add(line, "connection_fee", "%v", err)
	}
	row.Initial = parseIncrement(errs, line, "initial_increment", f(5))
	row.Subsequent = parseIncrement(errs, line, "subsequent_increment", f(6))
	if row.EffectiveFrom, err = parseTime(f(7)); err != nil {
		errs.add(line, "effective_from", "%v", err)
	}
	switch strings.ToLower(f(8)) {
	case "true":
		row.Blocked = true
	case "false":
	default:
		errs.add(line, "blocked", "%q is not true or false", f(8))
	}
	return row, len(errs.e.Errors)+errs.e.Omitted == n
}

func parseIncrement(errs *collector, line int, col, s string) int64 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 1 || v > MaxIncrement {
		errs.add(line, col, "%q is not a whole number of seconds from 1 to %d", s, MaxIncrement)
		return 0
	}
	return v
}

// parseTime reads a date (2026-01-01, midnight UTC) or an RFC 3339 instant.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (2026-01-01) or an RFC 3339 time", s)
	}
	if t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("%q is out of range", s)
	}
	return t.UTC(), nil
}

// Import parses and compiles a card: all of it or, on any bad line, nothing.
func Import(meta Meta, data []byte) (*Card, error) {
	rows, err := ParseCSV(data)
	if err != nil {
		return nil, err
	}
	return Compile(meta, rows, data)
}
