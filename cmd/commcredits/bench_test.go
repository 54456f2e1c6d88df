package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/bench"
)

func TestBenchUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"bench", "--bogus"}, exitUsage, "flag provided but not defined"},
		{[]string{"bench", "extra"}, exitUsage, "unexpected arguments: extra"},
		{[]string{"bench", "-h"}, exitOK, "--quick"},
	} {
		var out, errb bytes.Buffer
		if code := runWith(context.Background(), c.args, &out, &errb, hooks{getenv: noEnv}); code != c.code || !strings.Contains(errb.String(), c.err) {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, errb.String())
		}
	}
}

// The hidden child subcommand answers with one JSON line even when it cannot work.
func TestBenchChildReportsErrors(t *testing.T) {
	var out, errb bytes.Buffer
	code := runWith(context.Background(), []string{benchChild, "--cdrs", "10", "--tenants", "2", "--prefixes", "100", "--dir", "/nonexistent/dir"},
		&out, &errb, hooks{getenv: noEnv})
	var res struct{ Error string }
	if code != exitError || json.Unmarshal(out.Bytes(), &res) != nil || res.Error == "" {
		t.Errorf("exit %d, stdout %q", code, out.String())
	}
}

// TestBenchAPIWiring drives the real /v1 API through benchAPI: P2 and P3 measure, with every
// request answered (a refusal for funds is an answer, an HTTP error is not).
func TestBenchAPIWiring(t *testing.T) {
	rep, err := bench.Run(context.Background(), bench.Options{Dir: t.TempDir(), API: benchAPI, Sizes: bench.Sizes{
		Tenants: 12, Prefixes: 2_000, P1CDRs: 500, P4CDRs: 500, HTTPOps: 600, P3Calls: 200, Lookups: 10_000, Imports: 1,
		P7Calls: 1_000, LimitTime: 200 * time.Millisecond, LoadTime: 20 * time.Second, SQLiteRows: 10_000, Fsyncs: 50}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*bench.Figure{rep.P2, rep.P3} {
		if f.Status != "ok" || !(*f.Value > 0) || f.Extra["errors"].(int64) != 0 {
			t.Errorf("%s: %s %s %v", f.Name, f.Status, f.Reason, f.Extra)
		}
	}
	if n := rep.P2.Extra["requests"].(int64); n != 600 {
		t.Errorf("P2 answered %d of 600 requests", n)
	}
	if full, refused := rep.P3.Extra["calls"].(int64), rep.P3.Extra["refused"].(int64); full+refused != 200 || full == 0 {
		t.Errorf("P3: %d full calls, %d refused of 200", full, refused)
	}
}
