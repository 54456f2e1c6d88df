package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/db"
	"github.com/commcredits/commcredits/internal/store"
)

// serve --demo prints working URLs and keys, and a second start on the same database
// seeds nothing twice.
func TestServeDemo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cc.db")
	for run := range 2 {
		out := &syncBuffer{}
		s := startServeOut(t, noEnv, out, "--db", "sqlite:"+path, "--demo")
		text := out.String()
		admin := regexp.MustCompile(`Admin key\s+(cc_live_\w+)`).FindStringSubmatch(text)
		if admin == nil || !strings.Contains(text, s.base+"/docs") {
			t.Fatalf("run %d printed:\n%s", run, text)
		}
		req, _ := http.NewRequest("GET", s.base+"/v1/tenants/contoso/credits", nil)
		req.Header.Set("Authorization", "Bearer "+admin[1])
		c := &http.Client{Timeout: 10 * time.Second}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("credits with the printed admin key: %d", res.StatusCode)
		}
		code, body := httpGet(t, s.base+"/metrics")
		for _, want := range []string{`route="GET /v1/tenants/{tenant}/credits"`, "commcredits_calls_open 0", `commcredits_lots{source=`} {
			if code != 200 || !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		if code := s.shutdown(t); code != 0 {
			t.Fatalf("exit %d:\n%s", code, s.stderr)
		}
	}
}

// SIGTERM while a switch is sending calls: every authorization answered 200 is durable
// (an open call or a recorded refusal after the restart), and serve exits cleanly.
func TestServeDrainsInFlightCalls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cc.db")
	out := &syncBuffer{}
	s := startServeOut(t, noEnv, out, "--db", "sqlite:"+path, "--demo", "--rate-limit", "-1")
	sw := regexp.MustCompile(`Switch key\s+(cc_live_\w+)`).FindStringSubmatch(out.String())
	if sw == nil {
		t.Fatalf("no switch key in:\n%s", out)
	}
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	c := &http.Client{Timeout: 10 * time.Second}
	var n atomic.Int64
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				id := fmt.Sprintf("drain-%d", n.Add(1))
				body := `{"call_id":"` + id + `","call_type":"user_out","principal":"alice","caller":"+12025550101","callee":"+14155550123"}`
				req, _ := http.NewRequest("POST", s.base+"/v1/tenants/contoso/calls/authorize", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+sw[1])
				req.Header.Set("Content-Type", "application/json")
				res, err := c.Do(req)
				if err != nil {
					return // the server stopped accepting
				}
				res.Body.Close()
				if res.StatusCode != 200 {
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	if code := s.shutdown(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.stderr)
	}
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no call was acknowledged before the shutdown")
	}
	d, err := db.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(d)
	defer st.Close()
	state, err := st.State(context.Background(), "contoso", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	refused, err := st.ReportRefusals(context.Background(), "contoso")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for k := range state.Calls {
		stored[strings.TrimSuffix(k, "/")] = true
	}
	for _, r := range refused {
		stored[r.CallID] = true
	}
	for _, id := range acked {
		if !stored[id] {
			t.Fatalf("call %s was acknowledged but is not stored (%d acknowledged)", id, len(acked))
		}
	}
	t.Logf("%d authorizations acknowledged during the shutdown window, all stored", len(acked))
}
