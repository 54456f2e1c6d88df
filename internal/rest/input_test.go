package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/commcredits/commcredits/internal/rest"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/store/storetest"
)

// Bad input of every kind the issue names is a 4xx problem document naming the field, and
// nothing is written.
func TestBadInputIsAProblemAndChangesNothing(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{MaxBody: 4096, MaxUpload: 8192})
	ta, sw := h.keys["ta"]["tenant_admin"], h.keys["ta"]["switch"]
	call := func(extra string) string {
		return `{"call_id":"b1","call_type":"user_out","principal":"alice","callee":"+14155550100"` + extra + `}`
	}
	big := `{"call_id":"b1","call_type":"user_out","principal":"alice","callee":"+14155550100","caller":"` + strings.Repeat("1", 5000) + `"}`
	cases := []struct {
		name, method, path, key string
		body                    any
		headers                 []string
		code                    int
		loc                     string // an error's location, "" when none is expected
	}{
		{"malformed JSON", "POST", "/v1/tenants/ta/calls/authorize", sw, `{"call_id":"b1",`, nil, 400, "body"},
		{"not JSON at all", "POST", "/v1/tenants/ta/credits/funds", ta, `amount=5`, nil, 400, "body"},
		{"unknown field", "POST", "/v1/tenants/ta/calls/authorize", sw, call(`,"colour":"red"`), nil, 422, "body.colour"},
		{"unknown nested field", "POST", "/v1/tenants/ta/users/bulk", ta, `{"users":[{"id":"x","display_name":"X","usage_location":"GB","age":3}]}`, nil, 422, "body.users[0].age"},
		{"oversized body", "POST", "/v1/tenants/ta/calls/authorize", sw, big, nil, 413, ""},
		{"oversized upload", "POST", "/v1/tenants/ta/cdrs/import", sw, []byte("tenant,call_id\n" + strings.Repeat("ta,x\n", 3000)), nil, 413, ""},
		{"wrong type", "POST", "/v1/tenants/ta/calls/c1/extend", sw, `{"seconds":"ten"}`, nil, 422, "body.seconds"},
		{"negative seconds", "POST", "/v1/tenants/ta/calls/c1/settle", sw, `{"seconds":-5}`, nil, 422, "body.seconds"},
		{"missing field", "POST", "/v1/tenants/ta/calls/authorize", sw, `{"call_id":"b1","principal":"alice"}`, nil, 422, "body.call_type"},
		{"bad enum", "POST", "/v1/tenants/ta/calls/authorize", sw, `{"call_id":"b1","call_type":"fax","principal":"alice"}`, nil, 422, "body.call_type"},
		{"callee not a number", "POST", "/v1/tenants/ta/calls/authorize", sw, call(`,"caller":"alice@example"`), nil, 422, "body.caller"},
		{"E.164 too short", "POST", "/v1/tenants/ta/numbers", ta, `{"e164":"+1202","kind":"user"}`, nil, 422, "body.e164"},
		{"E.164 letters", "POST", "/v1/tenants/ta/numbers", ta, `{"e164":"+1202555CALL","kind":"user"}`, nil, 422, "body.e164"},
		{"E.164 without plus", "POST", "/v1/tenants/ta/numbers", ta, `{"e164":"12025550199","kind":"user"}`, nil, 422, "body.e164"},
		{"E.164 no such country", "POST", "/v1/tenants/ta/numbers", ta, `{"e164":"+99912345678","kind":"user"}`, nil, 422, "body.e164"},
		{"user number not E.164", "PUT", "/v1/tenants/ta/users/zed", ta, `{"display_name":"Z","usage_location":"GB","number":"020 7183 8750"}`, nil, 422, "body.number"},
		{"amount too precise", "POST", "/v1/tenants/ta/credits/funds", ta, `{"amount":"60.001"}`, nil, 422, "body.amount"},
		{"amount as number", "POST", "/v1/tenants/ta/credits/funds", ta, `{"amount":60.5}`, nil, 422, "body.amount"},
		{"amount not decimal", "POST", "/v1/tenants/ta/credits/funds", ta, `{"amount":"sixty"}`, nil, 422, "body.amount"},
		{"amount too large", "POST", "/v1/tenants/ta/credits/funds", ta, `{"amount":"99999999999999999999"}`, nil, 422, "body.amount"},
		{"amount negative", "POST", "/v1/tenants/ta/credits/funds", ta, `{"amount":"-60.00"}`, nil, 422, "body.amount"},
		{"spend limit too precise", "PUT", "/v1/tenants/ta/users/alice/spend-limit", ta, `{"limit":"1.005"}`, nil, 422, "body.limit"},
		{"bulk user bad limit", "POST", "/v1/tenants/ta/users/bulk", ta, `{"users":[{"id":"ok","display_name":"O","usage_location":"GB"},{"id":"x","display_name":"X","usage_location":"GB","spend_limit":"0.001"}]}`, nil, 422, "body.users[1].spend_limit"},
		{"auto-recharge too precise", "PUT", "/v1/tenants/ta/credits/auto-recharge", ta, `{"enabled":true,"trigger":"1.234","amount":"60"}`, []string{"If-Match", `"v0"`}, 422, "body.trigger"},
		{"unknown licence", "POST", "/v1/tenants/ta/licences/assign", ta, `{"user_ids":["alice"],"add":["NOPE"]}`, nil, 422, "body.add[0]"},
		{"unknown user", "POST", "/v1/tenants/ta/licences/assign", ta, `{"user_ids":["nobody"],"add":["MCOEV"]}`, nil, 404, "body.user_ids[0]"},
		{"bad licence CSV", "POST", "/v1/tenants/ta/licences/import", ta, []byte("user_id,add,remove\nalice,NOPE,\n"), nil, 422, ""},
		{"unknown tenant (operator)", "GET", "/v1/tenants/nope/credits", "", nil, nil, 404, ""},
		{"unknown tenant authorize", "POST", "/v1/tenants/nope/calls/authorize", "", call(""), nil, 404, ""},
		{"unknown tenant funds", "POST", "/v1/tenants/nope/credits/funds", "", `{"amount":"60.00"}`, nil, 404, ""},
		{"unknown call", "POST", "/v1/tenants/ta/calls/zz/extend", sw, `{"seconds":60}`, nil, 404, "path.call_id"},
		{"bad cursor", "GET", "/v1/tenants/ta/credits/entries?cursor=!!", ta, nil, nil, 400, "query.cursor"},
		{"limit too large", "GET", "/v1/tenants/ta/users?limit=100000", ta, nil, nil, 422, "query.limit"},
		{"bad currency", "POST", "/v1/tenants", "", `{"id":"tq","name":"Q","currency":"XXQ"}`, nil, 422, ""},
		{"bad tenant id", "POST", "/v1/tenants", "", `{"id":"../x","name":"Q","currency":"USD"}`, nil, 422, "body.id"},
		{"bad rate card", "POST", "/v1/rate-cards/outbound/USD", "", []byte("prefix,destination\n1,x\n"), nil, 422, ""},
		{"bad rate card service", "POST", "/v1/rate-cards/fax/USD", "", []byte(outboundCard), nil, 422, "path.service"},
		{"form content type", "POST", "/v1/tenants/ta/credits/funds", ta, `{"amount":"60.00"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, ""},
		{"idempotency key too long", "POST", "/v1/tenants/ta/credits/funds", ta, `{"amount":"60.00"}`, []string{"Idempotency-Key", strings.Repeat("k", 300)}, 422, "header.Idempotency-Key"},
	}
	before := map[string]string{"ta": h.snapshot("ta"), "tb": h.snapshot("tb")}
	tenantsBefore, _ := h.st.Tenants(context.Background())
	cards, _ := h.st.RateCardVersions(context.Background())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			key := c.key
			if key == "" {
				key = h.op
			}
			res := h.do(c.method, c.path, key, c.body, c.headers...).want(c.code)
			if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q: %s", ct, res.body)
			}
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
				Errors []struct {
					Location string `json:"location"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(res.body, &p); err != nil || p.Status != c.code || p.Detail == "" {
				t.Fatalf("not a problem document: %s", res.body)
			}
			if c.loc != "" {
				found := false
				for _, e := range p.Errors {
					found = found || e.Location == c.loc
				}
				if !found {
					t.Fatalf("no error at %s: %s", c.loc, res.body)
				}
			}
		})
	}
	h.t = t
	for id, b := range before {
		if after := h.snapshot(id); after != b {
			t.Errorf("tenant %s changed:\nbefore %s\nafter  %s", id, b, after)
		}
	}
	tenantsAfter, _ := h.st.Tenants(context.Background())
	cardsAfter, _ := h.st.RateCardVersions(context.Background())
	if len(tenantsAfter) != len(tenantsBefore) || len(cardsAfter) != len(cards) {
		t.Errorf("tenants %d → %d, rate cards %d → %d", len(tenantsBefore), len(tenantsAfter), len(cards), len(cardsAfter))
	}
}

// A CDR CSV uploaded for one tenant books only that tenant's records; one naming another
// tenant is rejected with its line, never booked there.
func TestCDRImportStaysInItsTenant(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	tb := h.snapshot("tb")
	csv := "tenant,call_id,call_type,principal,callee,start,duration_seconds\n" +
		"ta,i1,user_out,alice,+14155550100,2026-01-01T00:00:00Z,60\n" +
		"tb,i2,user_out,alice,+14155550100,2026-01-01T00:00:00Z,60\n"
	rep := h.do("POST", "/v1/tenants/ta/cdrs/import", h.keys["ta"]["switch"], []byte(csv)).want(200).json()
	if rep["booked"].(float64) != 1 || rep["rejected"].(float64) != 1 {
		t.Fatalf("report %v", rep)
	}
	if h.snapshot("tb") != tb {
		t.Fatal("tenant tb changed by ta's import")
	}
}

// The call path of the load generator's contract, on both engines: authorize, extend,
// settle; a settle sent again is a replay, with other seconds a conflict; release of an
// unknown call is 404; an authorize sent again returns the first authorization.
func TestCallPath(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, st *store.SQL) {
		h := newHarness(t, st, rest.Config{})
		sw := h.keys["ta"]["switch"]
		auth := map[string]any{"call_id": "k1", "call_type": "user_out", "principal": "alice", "caller": "+442071838750", "callee": "+14155550100"}
		a := h.do("POST", "/v1/tenants/ta/calls/authorize", sw, auth).want(200).json()
		if a["allowed"] != true || a["reserved"] == "0.00" || a["outcome"] != "credits" || a["destination"] != "United States, Canada" {
			t.Fatalf("authorization %v", a)
		}
		again := h.do("POST", "/v1/tenants/ta/calls/authorize", sw, auth).want(200)
		if again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("second authorize not a replay: %s", again.body)
		}
		bal := h.do("GET", "/v1/tenants/ta/credits", h.keys["ta"]["billing_admin"], nil).want(200).json()
		if bal["reserved"] == "0.00" {
			t.Fatalf("nothing reserved: %v", bal)
		}
		h.do("POST", "/v1/tenants/ta/calls/k1/extend", sw, map[string]any{"seconds": 60}).want(200)
		s1 := h.do("POST", "/v1/tenants/ta/calls/k1/settle", sw, map[string]any{"seconds": 90}).want(200)
		charge := s1.json()["charge"]
		// US rate 0.012/min + 0.05 fee, 60/60 increments: 90 s bills 120 s = 0.024 + 0.05 → 0.07.
		if charge != "0.07" {
			t.Fatalf("charge %v, want 0.07", charge)
		}
		s2 := h.do("POST", "/v1/tenants/ta/calls/k1/settle", sw, map[string]any{"seconds": 90}).want(200)
		if s2.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("second settle not a replay: %s", s2.body)
		}
		h.do("POST", "/v1/tenants/ta/calls/k1/settle", sw, map[string]any{"seconds": 95}).want(http.StatusConflict)
		h.do("POST", "/v1/tenants/ta/calls/k1/release", sw, nil).want(http.StatusConflict)
		h.do("POST", "/v1/tenants/ta/calls/nope/release", sw, map[string]any{"leg": "b"}).want(http.StatusNotFound)
		bal = h.do("GET", "/v1/tenants/ta/credits", h.keys["ta"]["billing_admin"], nil).want(200).json()
		if bal["balance"] != "99.93" || bal["reserved"] != "0.00" {
			t.Fatalf("balance after the call %v", bal)
		}
		// A refused call is 200 with allowed=false and a reason, and is reported.
		r := h.do("POST", "/v1/tenants/ta/calls/authorize", sw, map[string]any{"call_id": "k2", "call_type": "user_out",
			"principal": "alice", "callee": "+5372345678"}).want(200).json()
		if r["allowed"] != false || r["reason"] == "" {
			t.Fatalf("call to a blocked destination allowed: %v", r)
		}
		ref := h.do("GET", "/v1/tenants/ta/reports/refusals", h.keys["ta"]["reports_reader"], nil).want(200).json()
		if len(ref["items"].([]any)) != 1 {
			t.Fatalf("refusals %v", ref)
		}
		// Release takes the leg from the body.
		h.do("POST", "/v1/tenants/ta/calls/authorize", sw, map[string]any{"call_id": "k3", "leg": "b", "call_type": "user_out",
			"principal": "alice", "callee": "+14155550100"}).want(200)
		h.do("POST", "/v1/tenants/ta/calls/k3/release", sw, nil).want(http.StatusNotFound)
		h.do("POST", "/v1/tenants/ta/calls/k3/release", sw, map[string]any{"leg": "b"}).want(200)
		// CDRs: single and batch, each booked once.
		cdr := map[string]any{"call_id": "d1", "call_type": "user_out", "principal": "alice", "callee": "+14155550100",
			"start": "2026-01-05T10:00:00Z", "duration_seconds": 30}
		h.do("POST", "/v1/tenants/ta/cdrs", sw, cdr).want(200)
		if h.do("POST", "/v1/tenants/ta/cdrs", sw, cdr).want(200).header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("second CDR not a replay")
		}
		b := h.do("POST", "/v1/tenants/ta/cdrs/batch", sw, map[string]any{"cdrs": []any{cdr,
			map[string]any{"call_id": "d2", "call_type": "user_out", "principal": "alice", "callee": "+14155550100", "start": "2026-01-05T10:00:00Z", "duration_seconds": 30}}}).want(200).json()
		if b["booked"].(float64) != 2 || !b["items"].([]any)[0].(map[string]any)["replayed"].(bool) {
			t.Fatalf("batch %v", b)
		}
	})
}

// Idempotency-Key on the two paths, on both engines: writer commands (add funds) and
// stored responses (create tenant, create key).
func TestIdempotencyKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string, st *store.SQL) {
		h := newHarness(t, st, rest.Config{})
		ba := h.keys["ta"]["billing_admin"]
		fund := map[string]any{"amount": "60.00", "method": "ea:T-1"}
		h.do("POST", "/v1/tenants/ta/credits/funds", ba, fund, "Idempotency-Key", "f-1").want(200)
		r := h.do("POST", "/v1/tenants/ta/credits/funds", ba, fund, "Idempotency-Key", "f-1").want(200)
		if r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("replay not marked")
		}
		h.do("POST", "/v1/tenants/ta/credits/funds", ba, map[string]any{"amount": "70.00", "method": "ea:T-1"}, "Idempotency-Key", "f-1").want(422)
		// The same key in another tenant is another key.
		h.do("POST", "/v1/tenants/tb/credits/funds", h.keys["tb"]["billing_admin"], fund, "Idempotency-Key", "f-1").want(200)
		if bal := h.do("GET", "/v1/tenants/ta/credits", ba, nil).json()["balance"]; bal != "160.00" {
			t.Fatalf("balance %v: funded more than once", bal)
		}
		// Stored responses: create tenant.
		body := map[string]any{"id": "tc", "name": "C", "currency": "EUR"}
		first := h.do("POST", "/v1/tenants", h.op, body, "Idempotency-Key", "t-1").want(201)
		second := h.do("POST", "/v1/tenants", h.op, body, "Idempotency-Key", "t-1").want(201)
		if string(first.body) != string(second.body) || second.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay %s vs %s", first.body, second.body)
		}
		h.do("POST", "/v1/tenants", h.op, map[string]any{"id": "td", "name": "D", "currency": "EUR"}, "Idempotency-Key", "t-1").want(422)
		h.do("POST", "/v1/tenants", h.op, body).want(409) // without a key, a second create is a conflict
		// Create key: the replay does not show the secret again.
		k1 := h.do("POST", "/v1/tenants/ta/keys", h.keys["ta"]["tenant_admin"], map[string]any{"role": "switch"}, "Idempotency-Key", "k-1").want(201).json()
		k2 := h.do("POST", "/v1/tenants/ta/keys", h.keys["ta"]["tenant_admin"], map[string]any{"role": "switch"}, "Idempotency-Key", "k-1").want(201).json()
		if k1["secret"] == nil || k2["secret"] != nil || k1["id"] != k2["id"] {
			t.Fatalf("create key %v, replay %v", k1, k2)
		}
		// Concurrent requests with one new key: one key is created, every answer is it.
		ids := make(chan string, 8)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := h.do("POST", "/v1/tenants/ta/keys", h.keys["ta"]["tenant_admin"], map[string]any{"role": "reports_reader"}, "Idempotency-Key", "k-race")
				if r.code != 201 {
					ids <- fmt.Sprintf("status %d: %s", r.code, r.body)
					return
				}
				ids <- r.json()["id"].(string)
			}()
		}
		wg.Wait()
		close(ids)
		firstID := ""
		for id := range ids {
			if firstID == "" {
				firstID = id
			}
			if id != firstID {
				t.Fatalf("two keys created under one Idempotency-Key: %s, %s", firstID, id)
			}
		}
		keys, _ := h.st.APIKeys(context.Background(), "ta", "", 100)
		if len(keys) != 6 {
			t.Fatalf("%d keys of ta, want 6", len(keys))
		}
	})
}
