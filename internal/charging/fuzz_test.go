package charging

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// valid holds for every CDR a parser returns.
func valid(t *testing.T, c *CDR) {
	t.Helper()
	if c.Tenant == "" || c.CallID == "" || !c.CallType.Valid() || c.Start.IsZero() {
		t.Fatalf("incomplete CDR %+v", c)
	}
	if c.Duration < 0 || c.Duration > maxDuration {
		t.Fatalf("duration %d", c.Duration)
	}
	if !c.End.IsZero() && (c.End.Before(c.Start) || c.Duration > int64(c.End.Sub(c.Start)/time.Second)) {
		t.Fatalf("end %v start %v duration %d", c.End, c.Start, c.Duration)
	}
	if c.Start.Location() != time.UTC {
		t.Fatalf("start not UTC: %v", c.Start)
	}
}

func FuzzParseCSV(f *testing.F) {
	f.Add([]byte(cdrCSV))
	f.Add([]byte("tenant,call_id,call_type,start,duration_seconds\nt,\"c,1\",user_in,2026-11-05T10:00:00Z,0\n"))
	f.Add([]byte("tenant,call_id,call_type,start,end\n\"t\"\"x\",c,conf_out,2026-11-05T10:00:00.5+14:00,2026-11-05T10:00:09-12:00\n"))
	f.Add([]byte("tenant,call_id,call_type,start,end\nt,c,user_out,2026-11-05T10:00:00Z,\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cdrs, errs, err := ParseCSV(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, e := range errs.List {
			if e.Line < 2 {
				t.Fatalf("error on line %d: %v", e.Line, e.Error())
			}
		}
		for i := range cdrs {
			valid(t, &cdrs[i])
		}
		var b bytes.Buffer
		if err := FormatCSV(&b, cdrs); err != nil {
			t.Fatal(err)
		}
		back, errs2, err := ParseCSV(&b)
		if err != nil || errs2.Len() != 0 {
			t.Fatalf("formatted CDRs do not parse back: %v %v\n%s", err, errs2.List, b.Bytes())
		}
		if len(back) != len(cdrs) || len(cdrs) > 0 && !reflect.DeepEqual(back, cdrs) {
			t.Fatalf("round trip\n%+v\n%+v", cdrs, back)
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"tenant":"t1","call_id":"c1","call_type":"user_out","caller":"+12025550123","start":"2026-11-05T10:00:00Z","duration_seconds":95}`))
	f.Add([]byte(`[{"tenant":"t","call_id":"c","call_type":"conf_in","start":"2026-11-05T10:00:00+01:00","end":"2026-11-05T10:30:00+01:00"}, 3, null]`))
	f.Add([]byte(`{"tenant":"t","call_id":"c","call_type":"ucap_in","start":"2026-11-05T10:00:00Z","duration_seconds":1e3}{"x":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cdrs, _, _ := DecodeJSON(data)
		for i := range cdrs {
			valid(t, &cdrs[i])
			enc, err := json.Marshal(&cdrs[i])
			if err != nil {
				t.Fatal(err)
			}
			back, errs, err := DecodeJSON(enc)
			if err != nil || errs.Len() != 0 || len(back) != 1 || !reflect.DeepEqual(back[0], cdrs[i]) {
				t.Fatalf("round trip of %s: %+v %v %v", enc, back, errs.List, err)
			}
		}
	})
}
