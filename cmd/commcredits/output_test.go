package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func TestPrintItems(t *testing.T) {
	items := []json.RawMessage{
		json.RawMessage(`{"id":"a","n":1,"tags":["x","y"],"obj":{"k":true},"none":null}`),
		json.RawMessage(`{"id":"b","extra":"e"}`),
	}
	var b strings.Builder
	if err := printItems(&b, items); err != nil {
		t.Fatal(err)
	}
	want := "ID  N  TAGS  OBJ         NONE  EXTRA\n" +
		"a   1  x,y   {\"k\":true}        \n" +
		"b                              e\n"
	if b.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	if err := printItems(&b, items, "extra", "id"); err != nil || b.String() != "EXTRA  ID\n       a\ne      b\n" {
		t.Fatalf("chosen columns: %q %v", b.String(), err)
	}
	if err := printItems(io.Discard, []json.RawMessage{json.RawMessage(`[1]`)}); err == nil {
		t.Fatal("an item that is not an object must be an error")
	}
}

// FuzzFields: the order-keeping object reader never panics, and on an object with distinct
// keys finds each key once, with the value encoding/json finds.
func FuzzFields(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":"x"}`, `{"a":{"b":[1,2]},"c":null}`, `[1]`, `"s"`, `{"a":`, `{"a":1,"a":2}`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fs, err := fields([]byte(s))
		_ = printItems(io.Discard, []json.RawMessage{json.RawMessage(s)})
		_ = printObject(io.Discard, []byte(s))
		var m map[string]json.RawMessage
		if err != nil || json.Unmarshal([]byte(s), &m) != nil || m == nil {
			return
		}
		if len(fs) != len(m) {
			return // repeated keys: encoding/json keeps the last
		}
		for _, f := range fs {
			if cell(f.val) != cell(m[f.key]) {
				t.Fatalf("%q: %s = %q, want %q", s, f.key, cell(f.val), cell(m[f.key]))
			}
		}
	})
}
