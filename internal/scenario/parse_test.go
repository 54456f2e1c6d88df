package scenario

import (
	"errors"
	"strings"
	"testing"
)

const tenantLine = `{"step":"tenant","id":"t1","currency":"USD"}` + "\n"

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{tenantLine + `{"step":"fund","amount":"12.345"}`, `line 2: fund.amount: "12.345" has more than 2 decimal places`},
		{tenantLine + `{"step":"fund","amount":12}`, `line 2: fund.amount: want a string, got a JSON number`},
		{tenantLine + `{"step":"fund","amount":"-1"}`, `line 2: fund.amount: "-1" is negative`},
		{tenantLine + `{"step":"fund","amount":"abc"}`, `line 2: fund.amount: "abc" is not a decimal amount`},
		{tenantLine + `{"step":"fund","amont":"1"}`, `line 2: fund.amont: unknown field`},
		{`{"step":"fund","amount":"1"}`, `line 1: fund.tenant: no tenant declared yet`},
		{tenantLine + `{"step":"fund","tenant":"t2","amount":"1"}`, `line 2: fund.tenant: unknown tenant "t2"`},
		{tenantLine + `{"step":"teleport"}`, `line 2: step: unknown step "teleport"`},
		{tenantLine + `{"amount":"1"}`, `line 2: step: missing`},
		{tenantLine + `{"step":"fund",`, `line 2: invalid JSON`},
		{tenantLine + `fund 1`, `line 2: want a JSON object`},
		{`{"step":"tenant","id":"t1","currency":"XXX"}`, `line 1: tenant.currency: "XXX" is not an ISO 4217 currency code`},
		{tenantLine + tenantLine, `line 2: tenant.id: tenant "t1" is declared already`},
		{tenantLine + `{"step":"clock","at":"2026-01-01T00:00:00Z"}`, `line 2: clock: the clock step must be the first step`},
		{`{"step":"clock","at":"yesterday"}`, `line 1: clock.at: "yesterday" is not an RFC 3339 time`},
		{tenantLine + `{"step":"advance","duration":"soon"}`, `line 2: advance.duration: "soon" is not a positive duration`},
		{tenantLine + `{"step":"advance","duration":"1h","months":1}`, `line 2: advance.duration: give exactly one of duration, months, to`},
		{tenantLine + `{"step":"call","call_id":"c","call_type":"user_sideways","seconds":1}`, `line 2: call.call_type: "user_sideways" is not a call type`},
		{tenantLine + `{"step":"call","call_id":"c","call_type":"user_out","seconds":-1}`, `line 2: call.seconds: -1 is not a whole number of seconds`},
		{tenantLine + `{"step":"ratecard","service":"outbound"}`, `line 2: ratecard.csv: missing`},
		{tenantLine + `{"step":"ratecard","service":"inbound","csv":""}`, `line 2: ratecard.service: "inbound" is not one of outbound, dial_out, toll_free`},
		{tenantLine + `{"step":"ratecard","service":"outbound","file":"/etc/passwd"}`, `line 2: ratecard.file: "/etc/passwd" must be a path relative to the scenario`},
		{tenantLine + `{"step":"ratecard","service":"outbound","csv":"prefix\n"}`, `line 2: ratecard.csv: rate card rejected`},
		{tenantLine + `{"step":"cdr","call_id":"c","call_type":"user_out","duration_seconds":"x"}`, `line 2: cdr.duration_seconds: `},
		{tenantLine + `{"step":"cdr","call_id":"c","call_type":"user_out","end":"2026-01-01T00:00:00Z"}`, `line 2: cdr.start: required when end is given`},
		{tenantLine + `{"step":"cdr","call_id":"c","call_type":"user_out","duration_seconds":1,"colour":"red"}`, `line 2: cdr.colour: unknown field`},
		{tenantLine + `{"step":"expect","pool":{"key":"lake","used":1}}`, `line 2: expect.pool.key: "lake" is not a pool key`},
		{tenantLine + `{"step":"expect","authorization":{"reserve":"0.001"}}`, `line 2: expect.authorization.reserve: "0.001" has more than 2 decimal places`},
		{tenantLine + `{"step":"expect","authorization":{"allowed":"yes"}}`, `line 2: expect.authorization.allowed: want a boolean`},
		{tenantLine + `{"step":"fund","amount":"1"}` + "\n" + `{"step":"fund","amount":"1","key":"line-2"}`, ""},
		{"# only comments\n\n", `line 1: the scenario has no steps`},
	} {
		_, err := Parse(strings.NewReader(c.src))
		if c.want == "" {
			if err != nil {
				t.Errorf("%q: %v", c.src, err)
			}
			continue
		}
		var se *Error
		if !errors.As(err, &se) {
			t.Errorf("%q: err = %v, want an *Error", c.src, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q:\n got  %s\n want %s…", c.src, err, c.want)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	src := "\uFEFF# comment\r\n" + `{"step":"clock","at":"2026-03-01T10:00:00+01:00"}` + "\r\n\r\n" + tenantLine +
		`{"step":"tenant","id":"t2","currency":"JPY"}` + "\n" +
		`{"step":"fund","amount":"500"}` + "\n" +
		`{"step":"fund","tenant":"t1","amount":"5.5","key":"k1"}` + "\n" +
		`{"step":"advance","months":1}`
	steps, err := Parse(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 6 || steps[0].At.Format("15:04") != "09:00" {
		t.Fatalf("steps %+v", steps)
	}
	if s := steps[3]; s.Tenant != "t2" || s.Key != "line-6" || s.Line != 6 {
		t.Errorf("the default tenant is the latest declared and the key the line: %+v", s)
	}
	if s := steps[4]; s.Tenant != "t1" || s.Key != "k1" {
		t.Errorf("%+v", s)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(tenantLine + `{"step":"fund","amount":"1.50"}`)
	f.Add(tenantLine + `{"step":"call","call_id":"c","call_type":"user_out","callee":"+12125550100","seconds":60,"extend_every":30}`)
	f.Add(tenantLine + `{"step":"cdr","call_id":"c","call_type":"user_out","callee":"+12125550100","duration_seconds":60}`)
	f.Add(tenantLine + `{"step":"expect","balance":"1","pool":{"key":"domestic/MCOPSTN1/US","used":1},"authorization":{"allowed":true}}`)
	f.Add(`{"step":"clock","at":"2026-01-01T00:00:00Z"}` + "\n" + `{"step":"advance","duration":"3d"}`)
	f.Add(tenantLine + `{"step":"ratecard","service":"outbound","csv":"prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n1,US,fixed,0.01,0,60,60,2026-01-01,false\n"}`)
	f.Fuzz(func(t *testing.T, src string) {
		steps, err := Parse(strings.NewReader(src))
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Line < 1 {
				t.Fatalf("error %v (%T) does not name a line", err, err)
			}
			return
		}
		for _, s := range steps {
			if s.Line < 1 || s.Kind == "" || (s.Kind != "clock" && s.Kind != "config" && s.Kind != "advance" && s.Kind != "ratecard" && s.Tenant == "") {
				t.Fatalf("bad step %+v", s)
			}
		}
	})
}
