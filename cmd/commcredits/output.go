package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/commcredits/commcredits/internal/client"
)

// Tables are drawn from the API's JSON itself, in the order the API sends its fields, so
// that the table and --json never disagree about what a field is called.

type field struct {
	key string
	val json.RawMessage
}

// fields decodes a JSON object keeping its field order.
func fields(raw []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not a JSON object: %.40s", raw)
	}
	var out []field
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, field{kt.(string), v})
	}
	return out, nil
}

// cell renders a JSON value for a table: strings bare, lists of scalars comma-joined,
// objects as compact JSON, null as "".
func cell(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	switch v[0] {
	case '"':
		var s string
		_ = json.Unmarshal(v, &s)
		return s
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(v, &items) == nil {
			parts := make([]string, len(items))
			for i, it := range items {
				parts[i] = cell(it)
			}
			return strings.Join(parts, ",")
		}
	case '{':
		var b bytes.Buffer
		if json.Compact(&b, v) == nil {
			return b.String()
		}
	}
	return string(v)
}

// printJSON writes the API's body as it came, ending in a newline.
func printJSON(w io.Writer, body []byte) {
	_, _ = w.Write(body)
	if len(body) == 0 || body[len(body)-1] != '\n' {
		fmt.Fprintln(w)
	}
}

// printObject prints a JSON object as "field  value" lines.
func printObject(w io.Writer, raw []byte) error {
	fs, err := fields(raw)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range fs {
		fmt.Fprintf(tw, "%s\t%s\n", f.key, cell(f.val))
	}
	return tw.Flush()
}

// columns are the fields of items in the order first seen, and each item's cells.
func columns(items []json.RawMessage) ([]string, []map[string]string, error) {
	rows := make([]map[string]string, len(items))
	seen := map[string]bool{}
	var all []string
	for i, it := range items {
		fs, err := fields(it)
		if err != nil {
			return nil, nil, err
		}
		rows[i] = map[string]string{}
		for _, f := range fs {
			rows[i][f.key] = cell(f.val)
			if !seen[f.key] {
				seen[f.key] = true
				all = append(all, f.key)
			}
		}
	}
	return all, rows, nil
}

// writeCSV writes items as CSV: a header of every field, then a line per item.
func writeCSV(w io.Writer, items []json.RawMessage) error {
	cols, rows, err := columns(items)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(cols)
	for _, r := range rows {
		line := make([]string, len(cols))
		for i, c := range cols {
			line[i] = r[c]
		}
		_ = cw.Write(line)
	}
	cw.Flush()
	return cw.Error()
}

// printItems prints JSON objects as a table with a header row. cols picks and orders the
// columns; without cols, every field any item has, in the order first seen.
func printItems(w io.Writer, items []json.RawMessage, cols ...string) error {
	all, rows, err := columns(items)
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		cols = all
	}
	if len(items) == 0 {
		fmt.Fprintln(w, "(none)")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = strings.ToUpper(c)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		vals := make([]string, len(cols))
		for i, c := range cols {
			vals[i] = r[c]
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	return tw.Flush()
}

// show prints a single answer: the body as sent with --json, else as field lines.
func (a *admin) show(res *client.Response) error {
	if a.conn.json {
		printJSON(a.stdout, res.Body)
		return nil
	}
	return printObject(a.stdout, res.Body)
}

// shown is show of an answer, or the error that came instead.
func (a *admin) shown(res *client.Response, err error) error {
	if err != nil {
		return err
	}
	return a.show(res)
}

// showAll prints every item of the list at path (showList).
func (a *admin) showAll(ctx context.Context, path string, cols ...string) error {
	items, err := a.c.All(ctx, path)
	if err != nil {
		return err
	}
	return a.showList(items, cols...)
}

// showList prints every item of a list: {"items":[...]} with --json (all pages in one),
// else a table.
func (a *admin) showList(items []json.RawMessage, cols ...string) error {
	if a.conn.json {
		if items == nil {
			items = []json.RawMessage{}
		}
		b, err := json.Marshal(struct {
			Items []json.RawMessage `json:"items"`
		}{items})
		if err != nil {
			return err
		}
		printJSON(a.stdout, b)
		return nil
	}
	return printItems(a.stdout, items, cols...)
}
