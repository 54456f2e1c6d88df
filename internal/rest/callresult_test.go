package rest

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// plainCallResult is CallResult without its MarshalJSON: what encoding/json writes from the tags.
type plainCallResult CallResult

// encodings are c's JSON as huma writes it (no HTML escaping) and as json.Marshal does.
func encodings(t *testing.T, c any) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	m, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return buf.String(), string(m)
}

func sameJSON(t *testing.T, c CallResult) {
	t.Helper()
	gotHuma, gotStd := encodings(t, c)
	wantHuma, wantStd := encodings(t, plainCallResult(c))
	if gotHuma != wantHuma || gotStd != wantStd {
		t.Fatalf("%#v:\n got  %s %s\n want %s %s", c, gotHuma, gotStd, wantHuma, wantStd)
	}
	// Inside other values (a batch item holds a *CallResult).
	type item struct {
		R *CallResult `json:"result,omitempty"`
	}
	type plainItem struct {
		R *plainCallResult `json:"result,omitempty"`
	}
	p := plainCallResult(c)
	gi, _ := encodings(t, []item{{&c}, {}})
	wi, _ := encodings(t, []plainItem{{&p}, {}})
	if gi != wi {
		t.Fatalf("in a batch item: %s, want %s", gi, wi)
	}
}

var jsonStrings = []string{"", "a", "+14155550100", `q"uote`, `back\slash`, "tab\tnl\ncr\rbs\bff\f", "\x00\x01\x1f\x7f", "<b>&amp;</b>",
	"é ü 😀", "\u2028\u2029", "\xff\xfe", "a\xc3", "\xe2\x80", "1.50", "user/plan/GB/alice", "ünïcödé\u2028x"}

// TestCallResultJSON: MarshalJSON writes what encoding/json writes from CallResult's tags,
// for every field set or left zero and strings that need escaping.
func TestCallResultJSON(t *testing.T) {
	sameJSON(t, CallResult{})
	rng := rand.New(rand.NewPCG(7, 11))
	ty := reflect.TypeFor[CallResult]()
	for range 5000 {
		var c CallResult
		v := reflect.ValueOf(&c).Elem()
		for i := range ty.NumField() {
			if rng.IntN(3) == 0 {
				continue // left zero
			}
			f := v.Field(i)
			switch f.Kind() {
			case reflect.String:
				f.SetString(jsonStrings[rng.IntN(len(jsonStrings))])
			case reflect.Bool:
				f.SetBool(rng.IntN(2) == 0)
			case reflect.Int64:
				f.SetInt([]int64{0, 1, -1, 60, 86400, math.MaxInt64, math.MinInt64}[rng.IntN(7)])
			case reflect.Pointer: // RetryAfter
				tm := time.Date(2026, 11, 24, 10, rng.IntN(60), rng.IntN(60), rng.IntN(2)*123456789, time.FixedZone("", 3600*rng.IntN(3)))
				f.Set(reflect.ValueOf(&tm))
			default:
				t.Fatalf("field %s of kind %s: extend the test and MarshalJSON", ty.Field(i).Name, f.Kind())
			}
		}
		sameJSON(t, c)
	}
}

func FuzzCallResultJSON(f *testing.F) {
	for _, s := range jsonStrings {
		f.Add(s, int64(len(s)))
	}
	f.Fuzz(func(t *testing.T, s string, n int64) {
		sameJSON(t, CallResult{CallID: s, Leg: s, Reason: s, Destination: s, GrantedSeconds: n, Balance: s, Available: "1.00", Review: s})
	})
}
