package store

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/commcredits/commcredits/internal/tenant"
)

// fill sets every field reachable from v to a random non-zero value (times in UTC, whole
// nanoseconds), so that a field the codec forgets shows up as a difference.
func fill(rng *rand.Rand, v reflect.Value) {
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Unix(0, rng.Int64N(4e18)+1).UTC()))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(rng, v.Field(i))
			}
		}
	case reflect.String:
		const letters = "ab|c\"{}!é\x00"
		b := []rune{}
		for range 1 + rng.IntN(8) {
			b = append(b, []rune(letters)[rng.IntN(len([]rune(letters)))])
		}
		v.SetString(string(b))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(rng.Int64N(1<<40) - 1<<39 + 1)
	case reflect.Uint8, reflect.Uint64, reflect.Uint:
		v.SetUint(1 + uint64(rng.IntN(200)))
	default:
		panic("fill: add a case for " + v.Type().String())
	}
}

func TestCallCodecRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		var c tenant.Call
		fill(rng, reflect.ValueOf(&c).Elem())
		if i%3 == 0 { // zero times stay zero
			c.Auth.RetryAfter, c.Auth.Row.EffectiveFrom = time.Time{}, time.Time{}
		}
		body := encodeCall(&c)
		got, err := decodeCall(body)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, c) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", *got, c)
		}
		if _, err := decodeCall(body[:len(body)-2]); err == nil {
			t.Fatal("a truncated body decoded")
		}
	}
}

// Rows written as JSON before the binary form are still read.
func TestCallCodecReadsJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var c tenant.Call
	fill(rng, reflect.ValueOf(&c).Elem())
	c.Auth.Outcome = 2 // the JSON form writes outcomes by name
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeCall(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, c) {
		t.Fatalf("JSON body:\n got %+v\nwant %+v", *got, c)
	}
	if len(encodeCall(&c))*2 > len(b) {
		t.Errorf("binary body %d bytes, JSON %d: expected well under half", len(encodeCall(&c)), len(b))
	}
}

// A call's start comes from its sender and may lie outside the years UnixNano can hold
// (1678–2262): it still reads back as written, as the JSON form did, so that the pool
// month its hold was taken in is the one it is given back to.
func TestCallCodecFarTimes(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2300, 1, 2, 3, 4, 5, 6, time.UTC),
		time.Date(1600, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.UTC),
		time.Date(1677, 9, 21, 0, 12, 43, 145224192, time.UTC),
	} {
		var c tenant.Call
		c.Key, c.Auth.Start, c.Auth.Row.EffectiveFrom, c.ExpiresAt = "k/", at, at, at
		got, err := decodeCall(encodeCall(&c))
		if err != nil {
			t.Fatalf("%v: %v", at, err)
		}
		if !reflect.DeepEqual(*got, c) {
			t.Fatalf("%v: read back start %v, effective %v, expires %v", at, got.Auth.Start, got.Auth.Row.EffectiveFrom, got.ExpiresAt)
		}
	}
}

// A damaged body is an error, never a panic.
func FuzzDecodeCall(f *testing.F) {
	var c tenant.Call
	fill(rand.New(rand.NewPCG(7, 8)), reflect.ValueOf(&c).Elem())
	f.Add(encodeCall(&c))
	f.Add(`{"key":"k/"}`)
	f.Add("!AQ")
	f.Fuzz(func(t *testing.T, body string) {
		got, err := decodeCall(body)
		if err == nil && got == nil {
			t.Fatal("no call and no error")
		}
	})
}
