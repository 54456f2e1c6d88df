package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRateCardCommand(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "cc.db")
	good := filepath.Join(dir, "good.csv")
	bad := filepath.Join(dir, "bad.csv")
	header := "prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n"
	_ = os.WriteFile(good, []byte(header+"1,United States,fixed_or_mobile,0.01,0,60,60,2026-01-01,false\n"), 0o644)
	_ = os.WriteFile(bad, []byte(header+"1,United States,fixed_or_mobile,0.01,0,0,60,2026-01-01,false\n44,UK,fixed,abc,0,60,1,2026-01-01,false\n"), 0o644)
	cmd := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"ratecard"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, errs := cmd("import", "--db", dsn, "--service", "outbound", "--currency", "usd", good); code != exitOK || !strings.Contains(out, "outbound/USD") || !strings.Contains(out, "stored outbound/USD/v1: 1 rows") {
		t.Fatalf("import: %d %q %q", code, out, errs)
	}
	code, _, errs := cmd("import", "--db", dsn, "--service", "outbound", "--currency", "USD", bad)
	if code != exitError || !strings.Contains(errs, "nothing imported") || !strings.Contains(errs, "line 2") || !strings.Contains(errs, "line 3") {
		t.Fatalf("bad card: %d %q", code, errs)
	}
	if code, out, _ := cmd("list", "--db", dsn); code != exitOK || strings.Count(out, "outbound") != 1 {
		t.Fatalf("list: %d %q", code, out)
	}
	if code, _, _ := cmd("import", "--db", dsn, "--service", "fax", "--currency", "USD", good); code != exitUsage {
		t.Fatalf("unknown service: %d", code)
	}
	if code, _, _ := cmd("export"); code != exitUsage {
		t.Fatalf("unknown subcommand: %d", code)
	}
}
