package main

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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
