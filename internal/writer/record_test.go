package writer

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/commcredits/commcredits/internal/charging"
	"github.com/commcredits/commcredits/internal/ledger"
	"github.com/commcredits/commcredits/internal/money"
	"github.com/commcredits/commcredits/internal/tenant"
)

// The compact record copies charging.Settlement field by field: a field added there must be
// added to compactSettlement too, or replays would lose it.
func TestCompactSettlementCoversSettlement(t *testing.T) {
	want := map[string]bool{"PoolSeconds": true, "CreditSeconds": true, "Uncovered": true, "Fee": true,
		"Charge": true, "Release": true, "Usage": true /* stored in the usage table, not in the record */}
	st := reflect.TypeFor[charging.Settlement]()
	for i := range st.NumField() {
		if !want[st.Field(i).Name] {
			t.Errorf("charging.Settlement.%s is not kept by the compact record", st.Field(i).Name)
		}
	}
	if st.NumField() != len(want) {
		t.Errorf("charging.Settlement has %d fields, the compact record knows %d", st.NumField(), len(want))
	}
}

func TestRecordRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	amt := func() money.Amount { return money.Amount(rng.Int64N(1e9) - 5e8) }
	settlement := func() charging.Settlement {
		return charging.Settlement{PoolSeconds: rng.Int64N(9999), CreditSeconds: rng.Int64N(9999), Uncovered: rng.Int64N(3),
			Fee: rng.IntN(2) == 0, Charge: amt(), Release: amt(),
			Usage: charging.UsageRow{CallID: "x", DurationSeconds: 5, Review: "r"}}
	}
	for i := range 500 {
		var res tenant.Result
		res.Balance, res.Available = amt(), amt()
		compact := true
		switch i % 4 {
		case 0:
			st := settlement()
			res.Settlement = &st
		case 1:
			res.Priced = &charging.Priced{Settlement: settlement(), FreeCall: rng.IntN(2) == 0,
				Review:        charging.Reason([]string{"", "no_rate", "pool_exhausted"}[rng.IntN(3)]),
				CDR:           charging.CDR{Tenant: "t|1", CallID: "c\"" + string(rune('a'+i%26)), Leg: []string{"", "b"}[i%2], Duration: 7},
				Authorization: charging.Authorization{Tenant: "t|1", MaxSeconds: 60}}
		case 2:
			res.Ledger = &ledger.Result{Charged: amt(), Balance: res.Balance, Available: res.Available,
				Entries: []ledger.Entry{{Seq: 1}}}
			compact = false
		case 3:
			st := settlement()
			res.Settlement = &st
			res.Extension = &charging.Extension{Allowed: true, GrantedSeconds: 60}
			compact = false
		}
		b, err := encodeRecord(res)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(b) >= len(compactMark) && string(b[:len(compactMark)]) == string(compactMark); got != compact {
			t.Fatalf("case %d: compact = %v, want %v: %s", i, got, compact, b)
		}
		got, err := decodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		// What a replay answers is what the full JSON of Record() answered before.
		var want tenant.Result
		full, _ := json.Marshal(res.Record())
		if err := json.Unmarshal(full, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
}

// A record kept in a usage row answers a replay exactly as the JSON record does.
func TestUsageRecordRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	amt := func() money.Amount { return money.Amount(rng.Int64N(1<<62) - 1<<61) }
	for i := range 1000 {
		st := charging.Settlement{PoolSeconds: rng.Int64N(1 << 40), CreditSeconds: rng.Int64N(9999), Uncovered: rng.Int64N(3),
			Fee: rng.IntN(2) == 0, Charge: amt(), Release: amt(), Usage: charging.UsageRow{CallID: "c", DurationSeconds: 5}}
		res := tenant.Result{Balance: amt(), Available: amt()}
		callID, leg := []string{"c1", "", "ü-9"}[i%3], []string{"", "2", "leg"}[i%3]
		binary := true
		switch i % 5 {
		case 0:
			res.Settlement = &st
		case 1, 2:
			res.Priced = &charging.Priced{Settlement: st, FreeCall: rng.IntN(2) == 0,
				Review: charging.Reason([]string{"", "no_rate", "uncovered_seconds"}[rng.IntN(3)]),
				CDR:    charging.CDR{Tenant: []string{"t1", "other", ""}[i%3], CallID: callID, Leg: leg, Duration: 7}}
		case 3: // a release: the balance only
		case 4: // another command sent under a call's key
			res.Ledger = &ledger.Result{Charged: amt(), Balance: res.Balance, Available: res.Available}
			binary = false
		}
		b, err := usageRecord("t1", &res)
		if err != nil {
			t.Fatal(err)
		}
		if got := b[0] == usageRecordV1; got != binary {
			t.Fatalf("case %d: binary %v, want %v", i, got, binary)
		}
		got, err := decodeUsageRecord(b, "t1", "call:"+tenant.CallKey(callID, leg))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		body, err := encodeRecord(res)
		if err != nil {
			t.Fatal(err)
		}
		want, err := decodeRecord(body)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d:\n got %+v\nwant %+v", i, got, want)
		}
		// Cut short anywhere, it is refused, never read as another result.
		if n := rng.IntN(len(b)); binary {
			if _, err := decodeUsageRecord(b[:n], "t1", "call:c/"); err == nil {
				t.Fatalf("case %d: %d of %d bytes decoded", i, n, len(b))
			}
		}
	}
}

func FuzzDecodeUsageRecord(f *testing.F) {
	res := tenant.Result{Priced: &charging.Priced{Review: "no_rate", CDR: charging.CDR{Tenant: "x", CallID: "c"}}}
	f.Add(encodeUsageRecord(nil, "t", &res), "call:c/")
	f.Add([]byte{usageRecordV1, 0xff, 0x80}, "call:a/b/c")
	f.Add([]byte(`{"v":1,"b":3}`), "call:a/")
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		r, err := decodeUsageRecord(b, "t", key)
		if err != nil || b[0] == '{' {
			return
		}
		if !usageRecordable(&r) {
			t.Fatalf("decoded %+v", r)
		}
		// What decodes encodes back to what decodes the same.
		again := encodeUsageRecord(nil, "t", &r)
		if r2, err := decodeUsageRecord(again, "t", key); err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoded %+v %v", r2, err)
		}
	})
}
