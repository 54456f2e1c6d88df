package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSimulate(t *testing.T) {
	dir := t.TempDir()
	card := "prefix,destination,number_type,rate_per_minute,connection_fee,initial_increment,subsequent_increment,effective_from,blocked\n" +
		"44,United Kingdom,fixed,0.03,0.05,30,6,2025-01-01,false\n"
	if err := os.WriteFile(filepath.Join(dir, "card.csv"), []byte(card), 0o644); err != nil {
		t.Fatal(err)
	}
	good := `# a scenario
{"step":"tenant","id":"t1","currency":"USD"}
{"step":"ratecard","service":"outbound","file":"card.csv"}
{"step":"user","id":"alice","usage_location":"US","licences":["MCOEV","MCOPSTN_PAYG","MCOPSTNPP"]}
{"step":"fund","amount":"10"}
{"step":"call","call_id":"c1","call_type":"user_out","principal":"alice","callee":"+442071838750","seconds":125}
{"step":"expect","balance":"9.89"}
`
	file := filepath.Join(dir, "good.jsonl")
	if err := os.WriteFile(file, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"simulate", file}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res struct {
		Tenants []struct {
			Balance string `json:"balance"`
		} `json:"tenants"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res.Tenants) != 1 || res.Tenants[0].Balance != "9.89" {
		t.Fatalf("output %s: %v", out.String(), err)
	}

	// --out writes the file and prints nothing.
	outFile := filepath.Join(dir, "out.json")
	out.Reset()
	if code := run(context.Background(), []string{"simulate", file, "--out", outFile}, &out, &errb); code != exitOK || out.Len() != 0 {
		t.Fatalf("exit %d, stdout %q: %s", code, out.String(), errb.String())
	}
	if b, err := os.ReadFile(outFile); err != nil || !bytes.Contains(b, []byte(`"balance": "9.89"`)) {
		t.Fatalf("--out file: %v %s", err, b)
	}

	for _, c := range []struct{ name, src, want string }{
		{"failed expectation", strings.Replace(good, `"balance":"9.89"`, `"balance":"9.90"`, 1), "line 7: expect.balance: want 9.90, got 9.89"},
		{"bad amount", strings.Replace(good, `"amount":"10"`, `"amount":"12.345"`, 1), `line 5: fund.amount: "12.345" has more than 2 decimal places`},
		{"unknown step", good + `{"step":"teleport"}` + "\n", `line 8: step: unknown step "teleport"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".jsonl")
			if err := os.WriteFile(f, []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{"simulate", f}, &out, &errb); code != exitError {
				t.Fatalf("exit %d, want %d", code, exitError)
			}
			if !strings.Contains(errb.String(), c.want) {
				t.Errorf("stderr %q, want it to contain %q", errb.String(), c.want)
			}
		})
	}

	var errb2 bytes.Buffer
	if code := run(context.Background(), []string{"simulate"}, &out, &errb2); code != exitUsage {
		t.Errorf("no file: exit %d, want %d", code, exitUsage)
	}
	if code := run(context.Background(), []string{"simulate", filepath.Join(dir, "missing.jsonl")}, &out, &errb2); code != exitError {
		t.Errorf("missing file: exit %d, want %d", code, exitError)
	}
}
