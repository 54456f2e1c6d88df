package rest_test

import (
	"testing"

	"github.com/commcredits/commcredits/internal/rest"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
)

// NUL bytes (raw or as \u0000) and invalid UTF-8 in a body, a path or an Idempotency-Key
// are bad input on both engines: PostgreSQL cannot store them, and one in a command would
// fail the writer's whole group commit.
func TestNULAndInvalidUTF8AreBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, st *store.SQL) {
		h := newHarness(t, st, rest.Config{})
		ta := h.keys["ta"]["tenant_admin"]
		for _, b := range []struct{ m, p, body string }{
			{"PUT", "/v1/tenants/ta/users/carol", `{"display_name":"C\u0000ol","usage_location":"GB"}`},
			{"PUT", "/v1/tenants/ta/users/a%00b", `{"display_name":"Col","usage_location":"GB"}`},
			{"POST", "/v1/tenants/ta/webhooks", `{"url":"https://x.test/\u0000","events":[]}`},
			{"PUT", "/v1/tenants/ta/notification-contacts/a@b.test", `{"name":"\u0000"}`},
			{"POST", "/v1/tenants/ta/keys", `{"role":"switch","name":"\u0000"}`},
			{"POST", "/v1/tenants", `{"id":"tc","name":"N\u0000","currency":"USD"}`},
			{"POST", "/v1/tenants/ta/credits/funds", `{"amount":"1.00","method":"ea:\u0000"}`},
			{"POST", "/v1/tenants/ta/notifications/resend", `{"event_id":"a/\u0000"}`},
			{"POST", "/v1/tenants/ta/calls/authorize", `{"call_id":"c\u0000","call_type":"user_out","principal":"alice","callee":"+14155550100"}`},
			{"POST", "/v1/tenants/ta/cdrs", `{"call_id":"d\u0000","call_type":"user_out","principal":"alice","callee":"+14155550100","seconds":5}`},
		} {
			key := ta
			if b.p == "/v1/tenants" {
				key = h.op
			}
			r := h.do(b.m, b.p, key, b.body, "Idempotency-Key", "k-\xff\xfe")
			if r.code != 400 && r.code != 404 && r.code != 422 {
				t.Errorf("%s %s with a bad Idempotency-Key: %d %.300s", b.m, b.p, r.code, r.body)
			}
			r = h.do(b.m, b.p, key, b.body)
			if r.code != 400 && r.code != 404 && r.code != 422 {
				t.Errorf("%s %s: %d %.300s", b.m, b.p, r.code, r.body)
			}
		}
	})
}
