package scenario

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden.json files")

// TestGolden runs every testdata/*.jsonl scenario (its expect steps must hold) and compares
// the output with testdata/NAME.golden.json.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Run(context.Background(), bytes.NewReader(src), Options{Dir: "testdata", TempDir: t.TempDir()})
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			got, err := out.JSON()
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/scenario -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: output differs from %s (run with -update and review the diff):\n%s", f, golden, firstDiff(want, got))
			}
		})
	}
}

// firstDiff shows the first differing line of two outputs.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + itoa(i+1) + ":\n  want " + w + "\n  got  " + g
		}
	}
	return ""
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

// TestDeterministic runs one scenario twice: the output must be byte for byte the same.
func TestDeterministic(t *testing.T) {
	src, err := os.ReadFile("testdata/pool_split.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var outs [2][]byte
	for i := range outs {
		o, err := Run(context.Background(), bytes.NewReader(src), Options{Dir: "testdata", TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if outs[i], err = o.JSON(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatalf("two runs differ:\n%s", firstDiff(outs[0], outs[1]))
	}
}

const header = `{"step":"tenant","id":"t1","currency":"USD","billing_country":"US"}
{"step":"user","id":"alice","usage_location":"US","licences":["MCOEV","MCOPSTN_PAYG","MCOPSTNPP"]}
`

// TestFailedExpectation: a wrong expectation is an error naming its line and field.
func TestFailedExpectation(t *testing.T) {
	src := header + `{"step":"fund","amount":"10"}
# the balance is 10.00, not 11
{"step":"expect","balance":"11"}
{"step":"fund","amount":"1"}
`
	out, err := Run(context.Background(), strings.NewReader(src), Options{TempDir: t.TempDir()})
	if !errors.Is(err, ErrExpectation) {
		t.Fatalf("err = %v, want an expectation failure", err)
	}
	if want := "line 5: expect.balance: want 11.00, got 10.00"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	if out == nil || len(out.Tenants) != 1 || out.Tenants[0].Balance != "10.00" {
		t.Errorf("the output should hold the state reached: %+v", out)
	}
}

// TestEngineRefusal: a step the engine refuses stops the run with its line, unless the step
// expects the refusal.
func TestEngineRefusal(t *testing.T) {
	src := header + `{"step":"number","e164":"+18005550100","service":"toll_free"}
`
	_, err := Run(context.Background(), strings.NewReader(src), Options{TempDir: t.TempDir()})
	if err == nil || !strings.HasPrefix(err.Error(), "line 3: number.service: ") || !strings.Contains(err.Error(), "Communications Credits") {
		t.Fatalf("err = %v", err)
	}
	src = header + `{"step":"number","e164":"+18005550100","service":"toll_free","expect_error":"set up first"}
{"step":"fund","amount":"50"}
{"step":"number","e164":"+18005550100","service":"toll_free"}
`
	out, err := Run(context.Background(), strings.NewReader(src), Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if out.Steps[2].Error == "" {
		t.Errorf("the expected refusal is not in the step results: %+v", out.Steps[2])
	}
	src = header + `{"step":"fund","amount":"50","expect_error":"nope"}
`
	if _, err := Run(context.Background(), strings.NewReader(src), Options{TempDir: t.TempDir()}); !errors.Is(err, ErrExpectation) ||
		!strings.HasPrefix(err.Error(), "line 3: fund.expect_error:") {
		t.Fatalf("err = %v", err)
	}
}
