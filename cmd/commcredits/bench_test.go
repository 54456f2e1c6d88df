package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
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
