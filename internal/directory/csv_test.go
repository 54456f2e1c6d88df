package directory

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseLicenceCSV(t *testing.T) {
	in := "\xEF\xBB\xBFuser_id,add,remove\r\n" +
		"alice,MCOPSTNPP;MCOMEETADD,\r\n" +
		"\r\n" +
		"bob , mcopstn1  mcoev ; MCOEV,MCOPSTN2\r\n" +
		"\"carol\",,MCOPSTNPP\r\n"
	rows, err := ParseLicenceCSV([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []LicenceRow{
		{Line: 2, UserID: "alice", Add: []string{"MCOPSTNPP", "MCOMEETADD"}},
		{Line: 4, UserID: "bob", Add: []string{"MCOPSTN1", "MCOEV"}, Remove: []string{"MCOPSTN2"}},
		{Line: 5, UserID: "carol", Remove: []string{"MCOPSTNPP"}},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows\n %+v\nwant\n %+v", rows, want)
	}
	// Columns in another order, remove left out.
	rows, err = ParseLicenceCSV([]byte("add,User_ID\nMCOEV,u1\n"))
	if err != nil || !reflect.DeepEqual(rows, []LicenceRow{{Line: 2, UserID: "u1", Add: []string{"MCOEV"}}}) {
		t.Fatalf("%+v %v", rows, err)
	}
	// Applied, the rows name their lines in errors.
	d := fixture(t)
	rows, err = ParseLicenceCSV([]byte("user_id,add\nalice,MCOPSTNPP\nbob,MCOXYZ\n"))
	if err != nil {
		t.Fatal(err)
	}
	before := d.Clone()
	_, err = Apply(d, AssignLicenceRows{Rows: rows}, credits)
	if !errors.Is(err, ErrInvalid) || err.Error() != `line 3: add[0]: unknown licence "MCOXYZ"` || !reflect.DeepEqual(d, before) {
		t.Fatalf("apply: %v", err)
	}
}

func TestParseLicenceCSVErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", `line 1: empty file: want a header user_id,add,remove`},
		{"only BOM", "\xEF\xBB\xBF", `line 1: empty file: want a header user_id,add,remove`},
		{"no rows", "user_id,add\n", `line 2: no rows after the header`},
		{"unknown column", "user_id,add,extra\n", `line 1: unknown column "extra": want user_id, add, remove`},
		{"duplicate column", "user_id,add,add\n", `line 1: column "add" appears twice`},
		{"no user column", "add,remove\n", `line 1: no user_id column`},
		{"no change column", "user_id\n", `line 1: no add or remove column`},
		{"field count", "user_id,add\nalice\nbob,MCOEV,x\n", "line 2: wrong number of fields\nline 3: wrong number of fields"},
		{"quote", "user_id,add\n\"alice,MCOEV\n", `line 2: extraneous or missing " in quoted-field`},
		{"missing user", "user_id,add\n,MCOEV\n", `line 2: user_id: missing`},
		{"bridge", "user_id,add\nbridge,MCOEV\n", `line 2: user_id: "bridge" is reserved for the conferencing bridge`},
		{"duplicate user", "user_id,add\nalice,MCOEV\nbob,MCOEV\nalice,MCOPSTNPP\n", `line 4: user_id: "alice" is on line 2 already`},
		{"bad code", "user_id,add\nalice,MCO/EV\n", `line 2: add: "MCO/EV" is not a licence code`},
		{"both", "user_id,add,remove\nalice,MCOEV,mcoev\n", `line 2: remove: MCOEV is also in add`},
		{"nothing", "user_id,add,remove\nalice,;,\n", `line 2: add: nothing to add or remove`},
		{"several lines", "user_id,add\r\n,MCOEV\r\nok,MCOEV\r\nbad,a+b\r\n", "line 2: user_id: missing\nline 4: add: \"A+B\" is not a licence code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := ParseLicenceCSV([]byte(tt.in))
			if rows != nil || !errors.Is(err, ErrInvalid) || err.Error() != tt.want {
				t.Fatalf("rows %v error\n %q\nwant\n %q", rows, err, tt.want)
			}
			var ce *CSVErrors
			var e *Error
			if !errors.As(err, &ce) || !errors.As(err, &e) || e.Line == 0 {
				t.Fatalf("error types: %T", err)
			}
		})
	}
}

func TestParseLicenceCSVManyErrors(t *testing.T) {
	in := "user_id,add\n" + strings.Repeat(",MCOEV\n", MaxCSVErrors+5)
	_, err := ParseLicenceCSV([]byte(in))
	var ce *CSVErrors
	if !errors.As(err, &ce) || len(ce.List) != MaxCSVErrors || ce.Omitted != 5 || !strings.HasSuffix(err.Error(), "… and 5 more") {
		t.Fatalf("%v", err)
	}
}

func FuzzParseLicenceCSV(f *testing.F) {
	f.Add([]byte("user_id,add,remove\nalice,MCOEV;MCOPSTNPP,MCOPSTN1\n"))
	f.Add([]byte("\xEF\xBB\xBFuser_id,add\r\nbob,mcoev mcopstn2\r\n"))
	f.Add([]byte("remove,user_id\n\"x\"\"y\",u\n"))
	f.Add([]byte("user_id,add\n\"unterminated\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ParseLicenceCSV(data)
		if (rows == nil) == (err == nil) {
			t.Fatalf("rows %v and error %v", rows, err)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range rows {
			if r.Line < 2 || seen[r.UserID] || principalID("", r.UserID) != nil || len(r.Add)+len(r.Remove) == 0 {
				t.Fatalf("bad row %+v", r)
			}
			seen[r.UserID] = true
			for _, c := range append(r.Add, r.Remove...) {
				if c == "" || strings.ToUpper(c) != c || strings.ContainsAny(c, "; \t") {
					t.Fatalf("bad code %q", c)
				}
			}
		}
		// Applying rows never breaks the directory, accepted or not.
		d := fixture(t)
		before := d.Clone()
		if _, err := Apply(d, AssignLicenceRows{Rows: rows}, credits); err != nil && !reflect.DeepEqual(d, before) {
			t.Fatal("refused rows changed the directory")
		}
		if err := d.Check(); err != nil {
			t.Fatal(err)
		}
	})
}
