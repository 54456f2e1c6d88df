package charging

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/payer"
	"github.com/commcredits/commcredits/internal/plans"
)

const cdrCSV = "\uFEFFtenant,call_id,leg,call_type,principal,caller,callee,service_number,start,end,duration_seconds\r\n" +
	"t1,c1,a,user_out,ana,+12025550123,+525512345678,,2026-11-05T10:00:00Z,2026-11-05T10:01:40Z,95\r\n" +
	"# a comment\r\n" +
	"\r\n" +
	"t1,c2,,conf_in,org,+12025550187,+18002345678,+18002345678,2026-11-05T11:00:00+01:00,2026-11-05T11:10:00+01:00,\r\n" +
	"t1,c3,a,user_sideways,ana,,,,2026-11-05T10:00:00Z,,10\r\n" +
	"t1,c4,a,user_out,ana,,,,yesterday,,10\r\n" +
	"t1,c5,a,user_out,ana,,,,2026-11-05T10:00:00Z,2026-11-05T09:00:00Z,\r\n" +
	"t1,c6,a,user_out,ana,,,,2026-11-05T10:00:00Z,,\r\n" +
	"t1,c7,a,user_out,ana,,,,2026-11-05T10:00:00Z,,-3\r\n" +
	"t1,,a,user_out,ana,,,,2026-11-05T10:00:00Z,,3\r\n" +
	"t1,c9,a,user_out\r\n" +
	"t1,c10,a,user_out,ana,,,,2026-11-05T10:00:00Z,2026-11-05T10:00:05Z,6\r\n"

func TestParseCSV(t *testing.T) {
	cdrs, errs, err := ParseCSV(strings.NewReader(cdrCSV))
	if err != nil {
		t.Fatal(err)
	}
	want := []CDR{
		{Tenant: "t1", CallID: "c1", Leg: "a", CallType: payer.UserOut, Principal: "ana", Caller: "+12025550123", Callee: "+525512345678",
			Start: start, End: start.Add(100 * time.Second), Duration: 95},
		{Tenant: "t1", CallID: "c2", CallType: payer.ConfIn, Principal: "org", Caller: "+12025550187", Callee: "+18002345678", ServiceNumber: "+18002345678",
			Start: time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 5, 10, 10, 0, 0, time.UTC), Duration: 600},
	}
	if !reflect.DeepEqual(cdrs, want) {
		t.Errorf("cdrs\n%+v\nwant\n%+v", cdrs, want)
	}
	wantErrs := []string{
		`line 6: call_type: unknown call type "user_sideways"`,
		`line 7: start: want an RFC 3339 time with offset, got "yesterday"`,
		`line 8: end: before start`,
		`line 9: needs end or duration_seconds`,
		`line 10: duration_seconds: want whole seconds from 0 to 2678400, got "-3"`,
		`line 11: call_id: required`,
		`line 12: 4 fields, the header has 11`,
		`line 13: duration_seconds: longer than end − start`,
	}
	var got []string
	for _, e := range errs.List {
		got = append(got, e.Error())
	}
	if !reflect.DeepEqual(got, wantErrs) {
		t.Errorf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantErrs, "\n"))
	}
}

func TestCSVHeader(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"", "empty"},
		{"tenant,call_id,call_type,start,colour\n", `unknown column "colour"`},
		{"tenant,call_id,call_type,start,start,end\n", `column "start" repeats`},
		{"tenant,call_id,start,end\n", `missing column "call_type"`},
		{"tenant,call_id,call_type,start\n", "needs an end or a duration_seconds column"},
	} {
		_, _, err := ParseCSV(strings.NewReader(tc.src))
		if !errors.Is(err, ErrCDRSource) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.src, err, tc.want)
		}
	}
	// Columns in any order, optional ones left out.
	cdrs, errs, err := ParseCSV(strings.NewReader("duration_seconds,start,call_type,call_id,tenant\n30,2026-11-05T10:00:00Z,user_in,x,t\n"))
	if err != nil || errs.Len() != 0 || len(cdrs) != 1 || cdrs[0].Duration != 30 || cdrs[0].CallType != payer.UserIn {
		t.Errorf("%+v %+v %v", cdrs, errs, err)
	}
}

func TestCSVReaderResume(t *testing.T) {
	rd, err := NewCSVReader(strings.NewReader(cdrCSV))
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	var last int64
	for {
		c, line, err := rd.Next()
		if err == io.EOF {
			break
		}
		if off := rd.Offset(); off <= last {
			t.Errorf("offset %d after %d", off, last)
		} else {
			last = off
		}
		if err == nil {
			lines = append(lines, line)
			_ = c
		}
	}
	if !reflect.DeepEqual(lines, []int{2, 5}) {
		t.Errorf("good lines %v", lines)
	}
	if last != int64(len(cdrCSV)) {
		t.Errorf("offset %d of %d", last, len(cdrCSV))
	}
}

func TestDecodeJSON(t *testing.T) {
	one := `{"tenant":"t1","call_id":"c1","leg":"a","call_type":"user_out","principal":"ana","caller":"+12025550123","callee":"+525512345678","start":"2026-11-05T10:00:00Z","duration_seconds":95}`
	want := CDR{Tenant: "t1", CallID: "c1", Leg: "a", CallType: payer.UserOut, Principal: "ana", Caller: "+12025550123", Callee: "+525512345678", Start: start, Duration: 95}
	for _, src := range []string{one, "[" + one + "]", one + "\n" + one + "\n", " [ " + one + " , " + one + " ] "} {
		cdrs, errs, err := DecodeJSON([]byte(src))
		if err != nil || errs.Len() != 0 || len(cdrs) == 0 {
			t.Fatalf("%s: %v %v", src, errs, err)
		}
		for _, c := range cdrs {
			if !reflect.DeepEqual(c, want) {
				t.Errorf("%+v", c)
			}
		}
	}
	bad := `[` + one + `,
	{"tenant":"t1","call_id":"c2","call_type":"user_out","start":"2026-11-05T10:00:00Z","duration_seconds":"95"},
	{"tenant":"t1","call_id":"c3","call_type":"user_out","start":"2026-11-05T10:00:00Z","duration_seconds":1.5},
	{"tenant":"t1","call_id":"c4","call_type":"user_out","start":"2026-11-05T10:00:00Z","duration_seconds":5,"colour":"red"},
	{"tenant":"t1","call_id":"c5","call_type":"user_out","start":12,"duration_seconds":5},
	{"tenant":"t1","call_id":"c6","call_type":"user_out","start":"2026-11-05T10:00:00Z"},
	"not an object",
	` + one + `]`
	cdrs, errs, err := DecodeJSON([]byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	if len(cdrs) != 3 { // a numeric string is a number
		t.Errorf("%d good records", len(cdrs))
	}
	var got []string
	for _, e := range errs.List {
		got = append(got, e.Error())
	}
	wantErrs := []string{
		`line 3: duration_seconds: want whole seconds from 0 to 2678400, got "1.5"`,
		"line 4: colour: unknown field",
		"line 5: start: want a string",
		"line 6: needs end or duration_seconds",
		"line 7: want a JSON object",
	}
	if !reflect.DeepEqual(got, wantErrs) {
		t.Errorf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantErrs, "\n"))
	}
	for _, src := range []string{"[" + one, one + "{", "[" + one + "] x"} {
		if _, _, err := DecodeJSON([]byte(src)); !errors.Is(err, ErrCDRSource) {
			t.Errorf("%q: %v", src, err)
		}
	}
	if cdrs, errs, err := DecodeJSON([]byte("  ")); err != nil || errs.Len() != 0 || len(cdrs) != 0 {
		t.Errorf("empty: %v %v %v", cdrs, errs, err)
	}
}

func TestFormatCSVRoundTrip(t *testing.T) {
	cdrs, _, _ := ParseCSV(strings.NewReader(cdrCSV))
	var b bytes.Buffer
	if err := FormatCSV(&b, cdrs); err != nil {
		t.Fatal(err)
	}
	back, errs, err := ParseCSV(&b)
	if err != nil || errs.Len() != 0 || !reflect.DeepEqual(back, cdrs) {
		t.Errorf("%+v %+v %v", back, errs, err)
	}
}

func TestPriceCDR(t *testing.T) {
	g := registry(t)
	dir := map[string]plans.Principal{"ana": usUser, "ben": usNoPP, "org": org}
	cases := []struct {
		name     string
		cdr      CDR
		free     bool
		review   Reason
		charge   int64
		pool     int64
		usage    bool
		drainDom bool
	}{
		{name: "credits, may go negative", cdr: CDR{CallType: payer.UserOut, Principal: "ana", Caller: usNum, Callee: mxNum, Duration: 95}, charge: 8},
		{name: "pool", cdr: CDR{CallType: payer.UserOut, Principal: "ana", Caller: usNum, Callee: usNum2, Duration: 95}, pool: 95},
		{name: "no rate: FREECALL", cdr: CDR{CallType: payer.UserOut, Principal: "ana", Caller: usNum, Callee: ukNoCRd, Duration: 95}, free: true, review: payer.ReasonNoRate},
		{name: "bad number: FREECALL", cdr: CDR{CallType: payer.UserOut, Principal: "ana", Caller: usNum, Callee: "12", Duration: 95}, free: true, review: ReasonInvalidNumber},
		{name: "unknown principal: FREECALL", cdr: CDR{CallType: payer.UserOut, Principal: "zed", Caller: usNum, Callee: mxNum, Duration: 95}, free: true, review: "unknown_principal"},
		{name: "no credits licence: FREECALL", cdr: CDR{CallType: payer.UserOut, Principal: "ben", Caller: usNum, Callee: mxNum, Duration: 95}, free: true, review: payer.ReasonNoCreditsLicence},
		{name: "pool gone, no credits licence: FREECALL", cdr: CDR{CallType: payer.UserOut, Principal: "ben", Caller: usNum, Callee: usNum2, Duration: 95}, drainDom: true, free: true, review: ReasonPoolExhausted},
		{name: "free inbound", cdr: CDR{CallType: payer.UserIn, Principal: "ana", Caller: mxNum, Callee: usNum, Duration: 95}},
		{name: "unanswered", cdr: CDR{CallType: payer.UserOut, Principal: "ana", Caller: usNum, Callee: mxNum}, charge: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tenant(g, 0, usUser, usNoPP, org) // balance 0: CDRs are charged anyway
			if tc.drainDom {
				drainTo(ctx, plans.DomesticPool("MCOPSTN1", "US"), 0)
			}
			c := tc.cdr
			c.Tenant, c.CallID, c.Start = "t1", "x", start
			pr := PriceCDR(ctx, &c, dir[c.Principal], usd)
			if pr.FreeCall != tc.free || pr.Review != tc.review || int64(pr.Settlement.Charge) != tc.charge || pr.Settlement.PoolSeconds != tc.pool {
				t.Fatalf("free=%v review=%q charge=%d pool=%d", pr.FreeCall, pr.Review, pr.Settlement.Charge, pr.Settlement.PoolSeconds)
			}
			u := pr.Settlement.Usage
			if (u.DurationSeconds > 0) != (c.Duration > 0) {
				t.Fatalf("usage %+v", u)
			}
			if u.DurationSeconds > 0 && tc.free && (u.Capability != plans.FREECALL || u.Charge != 0 || u.Review != string(tc.review)) {
				t.Errorf("usage %+v", u)
			}
		})
	}
}
