package numbers

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"pgregory.net/rapid"
)

var allTypes = []phonenumbers.PhoneNumberType{
	phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE,
	phonenumbers.TOLL_FREE, phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST,
	phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER, phonenumbers.PAGER, phonenumbers.UAN,
	phonenumbers.VOICEMAIL,
}

func sortedRegions() []string {
	var rs []string
	for r := range phonenumbers.GetSupportedRegions() {
		rs = append(rs, r)
	}
	slices.Sort(rs)
	return rs
}

// exampleNumbers are phonenumbers' example numbers of every region and type, and of every
// non-geographic calling code.
func exampleNumbers() []*phonenumbers.PhoneNumber {
	var out []*phonenumbers.PhoneNumber
	for _, r := range sortedRegions() {
		for _, t := range allTypes {
			if pn := phonenumbers.GetExampleNumberForType(r, t); pn != nil {
				out = append(out, pn)
			}
		}
	}
	var codes []int
	for c := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		if pn := phonenumbers.GetExampleNumberForNonGeoEntity(c); pn != nil {
			out = append(out, pn)
		}
	}
	return out
}

// sameAsReference fails t unless parse (uncached) and Parse (cached) answer raw in country
// exactly as parseReference: the same Number, and the same error, message included.
func sameAsReference(t interface{ Fatalf(string, ...any) }, raw, country string) {
	want, wantErr := parseReference(raw, country)
	for _, f := range []struct {
		name  string
		parse func(string, string) (Number, error)
	}{{"parse", parse}, {"Parse", Parse}, {"Parse (cached)", Parse}} {
		got, err := f.parse(raw, country)
		if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("%s(%q, %q) = %+v, %v; reference %+v, %v", f.name, raw, country, got, err, want, wantErr)
		}
	}
}

// TestParseExampleNumbers: every example number, as "+E164", international and national
// format and as bare digits, in its own region, another one and none.
func TestParseExampleNumbers(t *testing.T) {
	parsed.reset()
	regions := sortedRegions()
	n := 0
	for i, pn := range exampleNumbers() {
		own := phonenumbers.GetRegionCodeForNumber(pn)
		e164 := phonenumbers.Format(pn, phonenumbers.E164)
		inputs := []string{
			e164,
			phonenumbers.Format(pn, phonenumbers.INTERNATIONAL),
			phonenumbers.Format(pn, phonenumbers.NATIONAL),
			phonenumbers.GetNationalSignificantNumber(pn),
			e164[:len(e164)-1],       // one digit short
			e164 + "0",               // one digit long
			e164[:len(e164)-1] + "9", // last digit changed
		}
		for _, in := range inputs {
			for _, cc := range []string{own, "", regions[i%len(regions)], "US", "gb"} {
				sameAsReference(t, in, cc)
				n++
			}
		}
	}
	t.Logf("%d inputs agree", n)
}

// TestParseAgreesWithReference: generated input, fast path and slow path alike.
func TestParseAgreesWithReference(t *testing.T) {
	regions := sortedRegions()
	examples := exampleNumbers()
	country := rapid.OneOf(rapid.SampledFrom(regions), rapid.SampledFrom([]string{"", "US", "GB", "RU", "KZ", "de", "XX", " fr "}))
	digits := func(min, max int) *rapid.Generator[string] {
		return rapid.StringOfN(rapid.RuneFrom([]rune("0123456789")), min, max, -1)
	}
	emergency := rapid.SampledFrom([]string{"112", "911", "999", "000", "110", "119", "100", "101", "102", "103", "108", "15", "17", "18", "190", "192", "193", "199", "911 ", "1 1 2", "08", "061", "113", "115", "118", "120", "122", "123", "997", "998"})
	example := rapid.Custom(func(t *rapid.T) string {
		pn := rapid.SampledFrom(examples).Draw(t, "example")
		f := rapid.SampledFrom([]phonenumbers.PhoneNumberFormat{phonenumbers.E164, phonenumbers.INTERNATIONAL, phonenumbers.NATIONAL, phonenumbers.RFC3966}).Draw(t, "format")
		s := phonenumbers.Format(pn, f)
		if rapid.Bool().Draw(t, "mutate") {
			// Change, drop or add a digit somewhere.
			i := rapid.IntRange(0, len(s)).Draw(t, "at")
			d := digits(0, 2).Draw(t, "digits")
			j := min(len(s), i+rapid.IntRange(0, 2).Draw(t, "drop"))
			s = s[:i] + d + s[j:]
		}
		return s
	})
	input := rapid.OneOf(
		example,
		rapid.Map(digits(1, 18), func(s string) string { return "+" + s }),
		digits(1, 18),
		emergency,
		rapid.Custom(func(t *rapid.T) string { // a calling code and a national number
			cc := phonenumbers.GetCountryCodeForRegion(rapid.SampledFrom(regions).Draw(t, "region"))
			return fmt.Sprintf("+%d%s", cc, digits(0, 14).Draw(t, "nsn"))
		}),
		rapid.String(),
	)
	rapid.Check(t, func(t *rapid.T) {
		raw, cc := input.Draw(t, "raw"), country.Draw(t, "country")
		if rapid.Bool().Draw(t, "spaces") {
			raw = " " + raw + " "
		}
		sameAsReference(t, raw, cc)
	})
}

// TestParseCacheBounded: the cache keeps at most cacheSlots answers, and answers what it
// holds from the cache.
func TestParseCacheBounded(t *testing.T) {
	parsed.reset()
	for i := range 3 * cacheSlots / 2 {
		if _, err := Parse(fmt.Sprintf("+1202555%04d", i%10000), fmt.Sprint(i/10000)); err == nil {
			t.Fatal("unknown country accepted")
		}
	}
	if n := parsed.len(); n > cacheSlots || n < cacheSlots/2 {
		t.Fatalf("cache holds %d of %d slots", n, cacheSlots)
	}
	parsed.reset()
	want, _ := Parse("+12025550100", "US")
	h := cacheHash("+12025550100", "US")
	if got, err, ok := parsed.get(h, "+12025550100", "US"); !ok || err != nil || got != want {
		t.Fatalf("not cached: %v %v %v", got, err, ok)
	}
	// Another country is another answer.
	if _, _, ok := parsed.get(cacheHash("+12025550100", "GB"), "+12025550100", "GB"); ok {
		t.Fatal("an answer for US served GB")
	}
	// A key in a full set replaces one of its answers, never a slot of another set.
	parsed.reset()
	set := h % cacheSets
	keys := []string{}
	for k := range cacheWays + 1 {
		key := fmt.Sprint("k", k)
		parsed.put(set, key, "", Number{E164: key}, nil)
		keys = append(keys, key)
	}
	held := 0
	for _, k := range keys {
		if _, _, ok := parsed.get(set, k, ""); ok {
			held++
		}
	}
	if held != cacheWays || parsed.len() != cacheWays {
		t.Fatalf("set holds %d answers, cache %d", held, parsed.len())
	}
}

// FuzzParseAgrees: parse answers as the reference parser does, for any input.
func FuzzParseAgrees(f *testing.F) {
	for _, s := range []string{"112", "+1 212 555 0100", "+442071838750", "+7 912 345-67-89", "0044 20 7183 8750", "+800 1234 5678", "+54 9 11 1234 5678", "+", "+0", "+1-"} {
		f.Add(s, "US")
		f.Add(s, "AR")
	}
	f.Fuzz(func(t *testing.T, raw, country string) {
		sameAsReference(t, raw, country)
	})
}

// TestParseConcurrent: many goroutines through the cache and the lazily compiled metadata
// (run with -race).
func TestParseConcurrent(t *testing.T) {
	parsed.reset()
	in := exampleNumbers()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				pn := in[(g*7919+i)%len(in)]
				raw := phonenumbers.Format(pn, phonenumbers.E164)
				want, wantErr := parseReference(raw, "")
				got, err := Parse(raw, "")
				if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Errorf("Parse(%q) = %+v, %v; reference %+v, %v", raw, got, err, want, wantErr)
					return
				}
			}
		}()
	}
	wg.Wait()
}
