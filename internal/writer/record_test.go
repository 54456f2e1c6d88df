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
