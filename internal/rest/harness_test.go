package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/api"
	"github.com/commcredits/commcredits/internal/jobs"
	"github.com/commcredits/commcredits/internal/notify"
	"github.com/commcredits/commcredits/internal/plans"
	"github.com/commcredits/commcredits/internal/rating"
	"github.com/commcredits/commcredits/internal/rest"
	"github.com/commcredits/commcredits/internal/service"
	"github.com/commcredits/commcredits/internal/store"
	"github.com/commcredits/commcredits/internal/tenant"
	"github.com/commcredits/commcredits/internal/writer"
)

const outboundCard = "prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n" +
	"1,\"United States, Canada\",fixed_or_mobile,0.012,0.05,60,60,2024-01-01,false\n" +
	"44,United Kingdom,fixed,0.03,0.05,30,6,2024-01-01,false\n" +
	"53,Cuba,fixed_or_mobile,1.20,0,60,60,2024-01-01,true\n"

// harness is a server on a real store with two tenants, "ta" and "tb", and a key of every
// role in each.
type harness struct {
	t    testing.TB
	url  string
	svc  *service.Service
	st   *store.SQL
	api  *rest.API
	srv  http.Handler // the server behind url, for benchmarks without a client
	jobs *fakeJobs
	op   string                       // operator key
	keys map[string]map[string]string // tenant → role → secret
}

func newHarness(t testing.TB, st *store.SQL, cfg rest.Config) *harness {
	t.Helper()
	ctx := context.Background()
	cards := rating.NewRegistry()
	env := &tenant.Env{Catalog: plans.Default(), Cards: cards, CallTTL: time.Hour}
	w := writer.New(st, writer.SystemClock{}, writer.Config{Env: env})
	t.Cleanup(func() { w.Close() })
	fj := &fakeJobs{}
	svc := &service.Service{Store: st, Writer: w, Cards: cards, Env: env, Jobs: fj}
	srv := api.New(api.Deps{DB: st, DBKind: "test"})
	if cfg.RateLimit == 0 {
		cfg.RateLimit = -1
	}
	a := rest.Mount(srv.Mux(), svc, cfg)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	h := &harness{t: t, url: hs.URL, svc: svc, st: st, api: a, srv: srv, jobs: fj, keys: map[string]map[string]string{}}
	if _, err := svc.ImportRateCard(ctx, rating.Outbound, "USD", []byte(outboundCard)); err != nil {
		t.Fatal(err)
	}
	var err error
	if _, h.op, err = svc.CreateKey(ctx, "", service.RoleOperator, "test operator"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ta", "tb"} {
		h.do("POST", "/v1/tenants", h.op, map[string]any{"id": id, "name": "Tenant " + id, "currency": "USD", "billing_country": "US"}).want(201)
		h.keys[id] = map[string]string{}
		for _, role := range service.TenantRoles {
			_, secret, err := svc.CreateKey(ctx, id, role, role)
			if err != nil {
				t.Fatal(err)
			}
			h.keys[id][role] = secret
		}
		admin := h.keys[id]["tenant_admin"]
		h.do("PUT", "/v1/tenants/"+id+"/users/alice", admin, map[string]any{"display_name": "Alice", "usage_location": "GB",
			"licences": []string{"MCOEV", "MCOPSTN_PAYG", "MCOPSTNPP"}}).want(200)
		h.do("PUT", "/v1/tenants/"+id+"/users/bob", admin, map[string]any{"display_name": "Bob", "usage_location": "US",
			"licences": []string{"MCOEV", "MCOPSTN1", "MCOPSTNPP"}}).want(200)
		h.do("POST", "/v1/tenants/"+id+"/credits/funds", admin, map[string]any{"amount": "100.00", "method": "ea:T-1"}).want(200)
		h.do("POST", "/v1/tenants/"+id+"/numbers", admin, map[string]any{"e164": "+12025550101", "kind": "user"}).want(200)
	}
	return h
}

type resp struct {
	t      testing.TB
	req    string
	code   int
	header http.Header
	body   []byte
}

func (r resp) want(codes ...int) resp {
	r.t.Helper()
	for _, c := range codes {
		if r.code == c {
			return r
		}
	}
	r.t.Fatalf("%s: status %d, want %v: %s", r.req, r.code, codes, r.body)
	return r
}

func (r resp) json() map[string]any {
	r.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		r.t.Fatalf("%s: %v: %s", r.req, err, r.body)
	}
	return m
}

// do sends body (JSON-encoded unless it is a string or []byte) with key.
func (h *harness) do(method, path, key string, body any, headers ...string) resp {
	h.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
		ct = "text/csv"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ct)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{t: h.t, req: method + " " + path, code: res.StatusCode, header: res.Header, body: b}
}

// snapshot is everything stored of a tenant, for "nothing changed" checks.
func (h *harness) snapshot(id string) string {
	h.t.Helper()
	ctx := context.Background()
	st, err := h.svc.State(ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	es, err := h.st.Entries(ctx, id, 0, 1_000_000)
	if err != nil {
		h.t.Fatal(err)
	}
	lots, _ := h.st.Lots(ctx, id)
	usage, _ := h.st.ReportUsage(ctx, id)
	refusals, _ := h.st.ReportRefusals(ctx, id)
	keys, _ := h.st.APIKeys(ctx, id, "", 1000)
	b, err := json.Marshal(map[string]any{"account": st.Account, "dir": st.Dir, "calls": st.Calls, "recharge": st.Recharge,
		"entries": es, "lots": lots, "usage": usage, "refusals": refusals, "keys": keys})
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

// fakeJobs stands in for River's queue (the delivery log and resends) where the test
// runs no job queue: it keeps the resends asked for and serves a fixed log.
type fakeJobs struct {
	mu      sync.Mutex
	resends []notify.Event
	log     []jobs.Delivery
}

func (f *fakeJobs) Resend(_ context.Context, e notify.Event, target string, now time.Time) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resends = append(f.resends, e)
	return fmt.Sprintf("resend-%d", now.UnixNano()), nil
}

func (f *fakeJobs) TenantDeliveries(_ context.Context, tenant string, limit int) ([]jobs.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []jobs.Delivery
	for _, d := range f.log {
		if d.Tenant == tenant && len(out) < limit {
			out = append(out, d)
		}
	}
	return out, nil
}
