package directory

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Limits of ParseLicenceCSV.
const (
	MaxCSVRows   = 100_000
	MaxCSVErrors = 100 // errors listed; the rest are counted
	maxCodeLen   = 64
)

// CSVErrors are every bad line of a licence CSV (at most MaxCSVErrors, then Omitted counts
// the rest). errors.Is(err, ErrInvalid) holds; errors.As finds the first *Error.
type CSVErrors struct {
	List    []*Error
	Omitted int
}

func (e *CSVErrors) Error() string {
	var b strings.Builder
	for i, x := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(x.Error())
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "\n… and %d more", e.Omitted)
	}
	return b.String()
}

func (e *CSVErrors) Unwrap() []error {
	out := make([]error, len(e.List))
	for i, x := range e.List {
		out[i] = x
	}
	return out
}

func (e *CSVErrors) add(line int, field, format string, args ...any) {
	if len(e.List) >= MaxCSVErrors {
		e.Omitted++
		return
	}
	x := invalid(field, format, args...)
	x.Line = line
	e.List = append(e.List, x)
}

var csvColumns = []string{"user_id", "add", "remove"}

// ParseLicenceCSV reads a bulk licence assignment (docs/directory.md): a header naming the
// columns user_id, add and remove (any order; add or remove may be left out), then one line
// per user with licence codes separated by ';' or spaces. Codes are upper-cased. A UTF-8 BOM
// and CRLF line ends are accepted, blank lines skipped. It returns every row or, when any
// line is bad, no rows and *CSVErrors naming each bad line ("line 3: add: ..."). Whether the
// users and codes exist is checked when the rows are applied (AssignLicenceRows).
func ParseLicenceCSV(data []byte) ([]LicenceRow, error) {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = true
	errs := &CSVErrors{}
	header, err := r.Read()
	if err == io.EOF {
		errs.add(1, "", "empty file: want a header user_id,add,remove")
		return nil, errs
	}
	if err != nil {
		errs.add(csvLine(err, 1), "", "%s", csvMsg(err))
		return nil, errs
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case !slices.Contains(csvColumns, h):
			errs.add(1, "", "unknown column %q: want user_id, add, remove", h)
		case col[h] > 0:
			errs.add(1, "", "column %q appears twice", h)
		default:
			col[h] = i + 1
		}
	}
	if col["user_id"] == 0 {
		errs.add(1, "", "no user_id column")
	}
	if col["add"] == 0 && col["remove"] == 0 {
		errs.add(1, "", "no add or remove column")
	}
	if len(errs.List) > 0 {
		return nil, errs
	}
	var rows []LicenceRow
	first := map[string]int{} // user id → line
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				errs.add(0, "", "%v", err)
				break
			}
			errs.add(pe.StartLine, "", "%s", csvMsg(err))
			if !errors.Is(err, csv.ErrFieldCount) {
				break // the reader cannot resynchronise after a quoting error
			}
			continue
		}
		line, _ := r.FieldPos(0)
		if len(rows) >= MaxCSVRows {
			errs.add(line, "", "more than %d rows", MaxCSVRows)
			break
		}
		field := func(name string) string {
			if i := col[name]; i > 0 {
				return strings.TrimSpace(rec[i-1])
			}
			return ""
		}
		row := LicenceRow{Line: line, UserID: field("user_id")}
		bad := len(errs.List) + errs.Omitted
		if e := principalID("user_id", row.UserID); e != nil {
			errs.add(line, e.Field, "%s", e.Msg)
		} else if l, dup := first[row.UserID]; dup {
			errs.add(line, "user_id", "%q is on line %d already", row.UserID, l)
		} else {
			first[row.UserID] = line
		}
		row.Add = codes(errs, line, "add", field("add"))
		row.Remove = codes(errs, line, "remove", field("remove"))
		for _, c := range row.Remove {
			if slices.Contains(row.Add, c) {
				errs.add(line, "remove", "%s is also in add", c)
			}
		}
		if len(row.Add) == 0 && len(row.Remove) == 0 && len(errs.List)+errs.Omitted == bad {
			errs.add(line, "add", "nothing to add or remove")
		}
		rows = append(rows, row)
	}
	if len(errs.List) > 0 {
		return nil, errs
	}
	if len(rows) == 0 {
		errs.add(2, "", "no rows after the header")
		return nil, errs
	}
	return rows, nil
}

// codes splits a cell of licence codes on ';' and spaces, upper-cases and deduplicates them.
func codes(errs *CSVErrors, line int, field, cell string) []string {
	var out []string
	for _, c := range strings.FieldsFunc(cell, func(r rune) bool { return r == ';' || r == ' ' || r == '\t' }) {
		c = strings.ToUpper(c)
		ok := len(c) <= maxCodeLen && !strings.ContainsFunc(c, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')
		})
		if !ok {
			if len(c) > maxCodeLen {
				c = c[:maxCodeLen] + "…"
			}
			errs.add(line, field, "%q is not a licence code", c)
			continue
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func csvLine(err error, def int) int {
	var pe *csv.ParseError
	if errors.As(err, &pe) && pe.StartLine > 0 {
		return pe.StartLine
	}
	return def
}

func csvMsg(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
