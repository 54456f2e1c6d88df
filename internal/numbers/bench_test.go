package numbers

import (
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// benchRegions are ~40 countries: NANP (US, CA, PR, Caribbean sharing +1), +7 (RU, KZ), the
// big European ones, the Gulf, Asia, Latin America, Africa.
var benchRegions = []string{
	"US", "CA", "PR", "JM", "BS", "DO", "TT", "RU", "KZ", "GB", "DE", "FR", "AE", "JP",
	"IT", "ES", "NL", "BE", "CH", "AT", "SE", "NO", "PL", "PT", "IE", "AU", "NZ", "IN",
	"CN", "HK", "SG", "BR", "MX", "AR", "ZA", "NG", "EG", "SA", "IL", "TR", "KR",
}

// benchE164 is "+E164" as switches send it: fixed, mobile, toll-free and premium example
// numbers of benchRegions, and non-geographic +800.
func benchE164(tb testing.TB) []string {
	var out []string
	for _, r := range benchRegions {
		for _, t := range []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE, phonenumbers.PREMIUM_RATE} {
			if pn := phonenumbers.GetExampleNumberForType(r, t); pn != nil {
				out = append(out, phonenumbers.Format(pn, phonenumbers.E164))
			}
		}
	}
	out = append(out, "+80012345678")
	if len(out) < 100 {
		tb.Fatalf("only %d bench numbers", len(out))
	}
	return out
}

type benchInput struct{ raw, country string }

// benchNational is numbers as dialed, with the caller's country.
var benchNational = []benchInput{
	{"(202) 555-0199", "US"}, {"020 7183 8750", "GB"}, {"030 123456", "DE"}, {"06 12 34 56 78", "FR"},
	{"0044 20 7183 8750", "DE"}, {"011 44 20 7183 8750", "US"}, {"8 (912) 345-67-89", "RU"},
	{"090-1234-5678", "JP"}, {"050 123 4567", "AE"}, {"0800 123 4567", "GB"},
}

var benchEmergency = []benchInput{{"112", "DE"}, {"911", "US"}, {"999", "GB"}, {"000", "AU"}, {"110", "JP"}}

func benchParse(b *testing.B, parse func(string, string) (Number, error), in []benchInput) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := in[i%len(in)]
		if _, err := parse(c.raw, c.country); err != nil {
			b.Fatal(c, err)
		}
		i++
	}
}

func e164Inputs(b *testing.B) []benchInput {
	var in []benchInput
	for i, s := range benchE164(b) {
		in = append(in, benchInput{s, benchRegions[i%len(benchRegions)]})
	}
	return in
}

// BenchmarkParse: reference is phonenumbers end to end (Parse before the fast path);
// uncached is parse (fast path, no cache); cached is Parse on a working set that fits the cache.
func BenchmarkParse(b *testing.B) {
	for _, set := range []struct {
		name string
		in   func(*testing.B) []benchInput
	}{
		{"e164", e164Inputs},
		{"national", func(*testing.B) []benchInput { return benchNational }},
		{"emergency", func(*testing.B) []benchInput { return benchEmergency }},
	} {
		b.Run(set.name+"/reference", func(b *testing.B) { benchParse(b, parseReference, set.in(b)) })
		b.Run(set.name+"/uncached", func(b *testing.B) { benchParse(b, parse, set.in(b)) })
		b.Run(set.name+"/cached", func(b *testing.B) {
			in := set.in(b)
			for _, c := range in {
				Parse(c.raw, c.country)
			}
			benchParse(b, Parse, in)
		})
	}
}

// BenchmarkParseParallel: cached Parse from every P.
func BenchmarkParseParallel(b *testing.B) {
	in := e164Inputs(b)
	for _, c := range in {
		Parse(c.raw, c.country)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c := in[i%len(in)]
			Parse(c.raw, c.country)
			i++
		}
	})
}
