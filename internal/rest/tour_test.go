package rest_test

import (
	"strings"
	"testing"

	"github.com/commcredits/commcredits/internal/rest"
)

// The admin operations of domain §9 do what they say, read back through the API.
func TestAdminTour(t *testing.T) {
	h := newHarness(t, sqliteStore(t), rest.Config{})
	ta := h.keys["ta"]["tenant_admin"]
	get := func(path string) map[string]any { return h.do("GET", path, ta, nil).want(200).json() }

	// Bulk users: each applied and reported; one bad principal does not stop the others.
	b := h.do("POST", "/v1/tenants/ta/users/bulk", ta, map[string]any{"users": []any{
		map[string]any{"id": "carla", "display_name": "Carla", "usage_location": "DE", "licences": []string{"MCOEV", "MCOPSTN2"}},
		map[string]any{"id": "dan", "display_name": "Dan", "usage_location": "FR", "licences": []string{"NOPE"}},
		map[string]any{"id": "olga", "display_name": "Olga", "usage_location": "US", "licences": []string{"MCOEV", "MCOMEETADD", "MCOPSTNPP"}},
	}}).want(200).json()
	items := b["items"].([]any)
	if items[0].(map[string]any)["status"].(float64) != 200 || items[1].(map[string]any)["status"].(float64) != 422 ||
		items[2].(map[string]any)["status"].(float64) != 200 {
		t.Fatalf("bulk %v", b)
	}
	// Licences in bulk, by JSON and by CSV.
	h.do("POST", "/v1/tenants/ta/licences/assign", ta, map[string]any{"user_ids": []string{"alice", "carla"}, "add": []string{"MCOPSTNPP"}}).want(200)
	h.do("POST", "/v1/tenants/ta/licences/import", ta, []byte("user_id,add,remove\ncarla,,MCOPSTN2\n")).want(200)
	carla := get("/v1/tenants/ta/users/carla")
	if lic := carla["licences"].([]any); len(lic) != 2 || lic[0] != "MCOEV" || lic[1] != "MCOPSTNPP" {
		t.Fatalf("carla's licences %v", lic)
	}
	h.do("PUT", "/v1/tenants/ta/users/carla/usage-location", ta, map[string]any{"country": "AT"}).want(200)
	if get("/v1/tenants/ta/users/carla")["usage_location"] != "AT" {
		t.Fatal("usage location not set")
	}
	// Numbers: user number to a user; toll-free to the bridge (credits are set up).
	h.do("POST", "/v1/tenants/ta/numbers/+12025550101/assign", ta, map[string]any{"to": "bob"}).want(200)
	h.do("POST", "/v1/tenants/ta/numbers", ta, map[string]any{"e164": "+18005550100", "kind": "service", "service": "toll_free"}).want(200)
	h.do("POST", "/v1/tenants/ta/numbers/+18005550100/assign", ta, map[string]any{"to": "bridge"}).want(200)
	bridge := get("/v1/tenants/ta/bridge/numbers")["items"].([]any)
	if len(bridge) != 1 || bridge[0].(map[string]any)["e164"] != "18005550100" {
		t.Fatalf("bridge %v", bridge)
	}
	if get("/v1/tenants/ta/users/bob")["number"] != "12025550101" {
		t.Fatal("bob's number not assigned")
	}
	h.do("DELETE", "/v1/tenants/ta/numbers/+12025550101", ta, nil).want(409) // assigned
	h.do("POST", "/v1/tenants/ta/numbers/+12025550101/unassign", ta, nil).want(200)
	h.do("DELETE", "/v1/tenants/ta/numbers/+12025550101", ta, nil).want(200)
	// Per-organizer toll-free and policies.
	h.do("PUT", "/v1/tenants/ta/users/olga/toll-free-dial-in", ta, map[string]any{"disabled": true}).want(200)
	if get("/v1/tenants/ta/users/olga")["toll_free_dial_in_disabled"] != true {
		t.Fatal("toll-free dial-in not disabled")
	}
	h.do("PUT", "/v1/tenants/ta/users/olga/policies", ta, map[string]any{"conf_dial_out": "zone_a"}).want(200)
	if p := get("/v1/tenants/ta/users/olga/policies"); p["conf_dial_out"] != "zone_a" || p["pstn"] != "international" {
		t.Fatalf("policies %v", p)
	}
	// Toll-free before credits: a fresh tenant without funds is refused with 409.
	h.do("POST", "/v1/tenants", h.op, map[string]any{"id": "tn", "name": "N", "currency": "USD"}).want(201)
	r := h.do("POST", "/v1/tenants/tn/numbers", h.op, map[string]any{"e164": "+18005550101", "kind": "service", "service": "toll_free"}).want(409)
	if !strings.Contains(string(r.body), "credits") {
		t.Fatalf("toll-free refusal %s", r.body)
	}
	// Credits: balance, lots, entries, auto-recharge with a payment method.
	bal := get("/v1/tenants/ta/credits")
	if bal["balance"] != "100.00" || bal["credits_set_up"] != true {
		t.Fatalf("balance %v", bal)
	}
	if lots := get("/v1/tenants/ta/credits/lots")["items"].([]any); len(lots) != 1 || lots[0].(map[string]any)["remaining"] != "100.00" {
		t.Fatalf("lots %v", lots)
	}
	pm := h.do("GET", "/v1/tenants/ta/credits/payment-method", ta, nil).want(200)
	h.do("PUT", "/v1/tenants/ta/credits/payment-method", ta, map[string]any{"method": "pm_card_visa", "exp_month": 12, "exp_year": 2030,
		"brand": "visa", "last4": "4242"}, "If-Match", pm.header.Get("ETag")).want(200)
	if m := get("/v1/tenants/ta/credits/payment-method"); m["method"] != "pm_card_visa" || m["last4"] != "4242" {
		t.Fatalf("payment method %v", m)
	}
	// Rate cards and plans.
	h.do("POST", "/v1/rate-cards/dial_out/USD", h.op, []byte(outboundCard)).want(201)
	cards := h.do("GET", "/v1/rate-cards", ta, nil).want(200)
	if !strings.Contains(string(cards.body), `"dial_out"`) {
		t.Fatalf("rate cards %s", cards.body)
	}
	if !strings.Contains(string(h.do("GET", "/v1/plans", ta, nil).want(200).body), "MCOPSTNPP") {
		t.Fatal("plans lack MCOPSTNPP")
	}
	// Reports after a call.
	sw := h.keys["ta"]["switch"]
	h.do("POST", "/v1/tenants/ta/calls/authorize", sw, map[string]any{"call_id": "r1", "call_type": "user_out", "principal": "alice",
		"caller": "+442071838750", "callee": "+14155550100"}).want(200)
	if calls := get("/v1/tenants/ta/calls")["items"].([]any); len(calls) != 1 {
		t.Fatalf("calls in progress %v", calls)
	}
	h.do("POST", "/v1/tenants/ta/calls/r1/settle", sw, map[string]any{"seconds": 61}).want(200)
	rr := h.keys["ta"]["reports_reader"]
	for _, rep := range []string{"usage", "spend"} {
		if items := h.do("GET", "/v1/tenants/ta/reports/"+rep, rr, nil).want(200).json()["items"].([]any); len(items) != 1 {
			t.Fatalf("%s report %v", rep, items)
		}
	}
	h.do("GET", "/v1/tenants/ta/reports/pool-usage", rr, nil).want(200)
	h.do("GET", "/v1/tenants/ta/reports/blocked-users", rr, nil).want(200)
	// Delete a user.
	h.do("DELETE", "/v1/tenants/ta/users/carla", ta, nil).want(200)
	h.do("GET", "/v1/tenants/ta/users/carla", ta, nil).want(404)
}
