// Package numbers normalizes and classifies telephone numbers at the edges of the engine:
// E.164 digits, ISO 3166 country, number type, validity, and emergency numbers per the
// caller's country. It wraps github.com/nyaruka/phonenumbers (libphonenumber's metadata).
package numbers

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Type is the kind of a number, as far as its digits tell.
type Type string

// Number types. FixedOrMobile is what the metadata says where the digits cannot tell the two
// apart (the North American Numbering Plan).
const (
	Fixed         Type = "fixed"
	Mobile        Type = "mobile"
	FixedOrMobile Type = "fixed_or_mobile"
	TollFree      Type = "toll_free"
	Premium       Type = "premium"
	SharedCost    Type = "shared_cost"
	VoIP          Type = "voip"
	Other         Type = "other" // personal, pager, UAN, voicemail, unknown
	Emergency     Type = "emergency"
)

// Types lists every Type in a stable order.
var Types = []Type{Fixed, Mobile, FixedOrMobile, TollFree, Premium, SharedCost, VoIP, Other, Emergency}

// ParseType reads a Type name ("toll_free"); it is how rate cards name number types.
func ParseType(s string) (Type, bool) {
	for _, t := range Types {
		if string(t) == s {
			return t, true
		}
	}
	return "", false
}

// Number is a parsed number.
type Number struct {
	// E164 is the number in E.164 without the "+" ("442071838750"). For an emergency number
	// it is the short number as dialed ("112").
	E164 string
	// Country is the ISO 3166 alpha-2 code of the number ("GB"); for an emergency number the
	// caller's country; "" for non-geographic numbers (+800, +882 …).
	Country string
	Type    Type
	// Emergency is true when the dialed string is an emergency number in the caller's
	// country (112, 911, 999, 000, 110, 119 …). Such a call is always allowed and never charged.
	Emergency bool
}

// Errors returned by Parse; callers test them with errors.Is.
var (
	ErrEmpty          = errors.New("empty phone number")
	ErrInvalid        = errors.New("invalid phone number")
	ErrUnknownCountry = errors.New("unknown country")
)

// MaxInputLen bounds the raw input Parse accepts; longer strings are not phone numbers.
const MaxInputLen = 64

// Parse normalizes raw, as dialed or received, in the context of defaultCountry (ISO 3166
// alpha-2, the caller's usage location; used for numbers without a "+" or international
// prefix). Emergency numbers of defaultCountry are recognised first, before any other
// parsing. A number that the metadata does not know as valid is an error wrapping ErrInvalid.
//
// Parse is safe for concurrent use. Recent answers are memoized (a bounded cache); "+digits"
// input takes a fast path over precompiled metadata; both give what phonenumbers gives.
func Parse(raw, defaultCountry string) (Number, error) {
	if len(raw) > 2*MaxInputLen || len(defaultCountry) > 8 {
		return parse(raw, defaultCountry) // not worth a cache slot
	}
	h := cacheHash(raw, defaultCountry)
	if n, err, ok := parsed.get(h, raw, defaultCountry); ok {
		return n, err
	}
	n, err := parse(raw, defaultCountry)
	parsed.put(h, raw, defaultCountry, n, err)
	return n, err
}

// parse is Parse without the cache.
func parse(raw, defaultCountry string) (Number, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Number{}, ErrEmpty
	}
	if len(s) > MaxInputLen {
		return Number{}, fmt.Errorf("%w: longer than %d characters", ErrInvalid, MaxInputLen)
	}
	cc := defaultCountry
	if !isUpperRegion(cc) {
		cc = strings.ToUpper(strings.TrimSpace(defaultCountry))
	}
	if cc != "" && !knownRegion(cc) {
		return Number{}, fmt.Errorf("%w: %q", ErrUnknownCountry, defaultCountry)
	}
	// "+digits" is never an emergency number (phonenumbers refuses a "+" before one).
	if n, err, ok := parseE164(s, raw); ok {
		return n, err
	}
	if cc != "" && phonenumbers.IsEmergencyNumber(s, cc) {
		return Number{E164: phonenumbers.NormalizeDigitsOnly(s), Country: cc, Type: Emergency, Emergency: true}, nil
	}
	region := cc
	if region == "" {
		region = "ZZ" // unknown region: only "+"-prefixed numbers parse
	}
	pn, err := phonenumbers.Parse(s, region)
	if err != nil {
		return Number{}, fmt.Errorf("%w: %q: %v", ErrInvalid, raw, err)
	}
	c := callingCodeFor(int(pn.GetCountryCode()))
	if c == nil {
		return classifyReference(pn, raw)
	}
	return c.number(phonenumbers.GetNationalSignificantNumber(pn), raw)
}

// parseE164 is the fast path for "+" and ASCII digits, what switches send, maybe grouped by
// single spaces or hyphens ("+44 20 7183-8750"; phonenumbers drops those): the steps of
// phonenumbers.Parse for such input (calling code by prefix, national prefix stripping)
// over precompiled metadata. ok is false for input it leaves to the slow path: another
// shape, or one that phonenumbers.Parse refuses (its error message is the slow path's).
func parseE164(s, raw string) (_ Number, _ error, ok bool) {
	digits, ok := e164Digits(s)
	if !ok || len(digits) < 3 || digits[0] == '0' {
		return Number{}, nil, false
	}
	loadCallingCodes()
	var c *callingCode
	for i, code := 0, 0; i < 3 && i < len(digits)-1; i++ {
		code = code*10 + int(digits[i]-'0')
		if callingCodes.known[code] {
			c = callingCodeFor(code)
			break
		}
	}
	if c == nil {
		return Number{}, nil, false
	}
	nsn, ok := c.main.stripNationalPrefix(digits[len(c.prefix):])
	if !ok || len(nsn) < 2 || len(nsn) > 17 {
		return Number{}, nil, false
	}
	r, t, valid := c.classify(nsn)
	if !valid {
		return Number{}, fmt.Errorf("%w: %q is not a valid number for its country", ErrInvalid, raw), true
	}
	e164 := digits
	if len(nsn) != len(digits)-len(c.prefix) { // the national prefix was stripped
		e164 = c.prefix + nsn
	}
	return Number{E164: e164, Country: r.country, Type: typeFor(t)}, nil, true
}

// e164Digits is the digits of s if s is "+" and ASCII digits, with single spaces or hyphens
// between digits; "+digits" is returned without copying.
func e164Digits(s string) (string, bool) {
	if len(s) < 2 || s[0] != '+' {
		return "", false
	}
	d := s[1:]
	if isDigits(d) {
		return d, true
	}
	var buf [MaxInputLen]byte
	n := 0
	for i := 0; i < len(d); i++ {
		switch ch := d[i]; {
		case ch >= '0' && ch <= '9':
			buf[n] = ch
			n++
		case (ch == ' ' || ch == '-') && i > 0 && i+1 < len(d) && isDigit(d[i-1]) && isDigit(d[i+1]):
		default:
			return "", false
		}
	}
	return string(buf[:n]), true
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// number is the Number of a parsed number with calling code c and national significant
// number nsn, or the error for a number that is not valid.
func (c *callingCode) number(nsn, raw string) (Number, error) {
	r, t, valid := c.classify(nsn)
	if !valid {
		return Number{}, fmt.Errorf("%w: %q is not a valid number for its country", ErrInvalid, raw)
	}
	return Number{E164: c.prefix + nsn, Country: r.country, Type: typeFor(t)}, nil
}

// classifyReference classifies a parsed number with phonenumbers alone.
func classifyReference(pn *phonenumbers.PhoneNumber, raw string) (Number, error) {
	if !phonenumbers.IsValidNumber(pn) {
		return Number{}, fmt.Errorf("%w: %q is not a valid number for its country", ErrInvalid, raw)
	}
	e164 := phonenumbers.Format(pn, phonenumbers.E164)
	country := phonenumbers.GetRegionCodeForNumber(pn)
	if country == "001" || country == "ZZ" {
		country = ""
	}
	return Number{E164: strings.TrimPrefix(e164, "+"), Country: country, Type: typeOf(pn)}, nil
}

// isUpperRegion reports whether s is already two upper-case ASCII letters.
func isUpperRegion(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// parseReference is Parse as it was before the fast path: phonenumbers end to end. It is kept
// as the reference the differential tests hold parse to.
//
// It normalizes raw, as dialed or received, in the context of defaultCountry (ISO 3166
// alpha-2, the caller's usage location; used for numbers without a "+" or international
// prefix). Emergency numbers of defaultCountry are recognised first, before any other
// parsing. A number that the metadata does not know as valid is an error wrapping ErrInvalid.
func parseReference(raw, defaultCountry string) (Number, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Number{}, ErrEmpty
	}
	if len(s) > MaxInputLen {
		return Number{}, fmt.Errorf("%w: longer than %d characters", ErrInvalid, MaxInputLen)
	}
	cc := strings.ToUpper(strings.TrimSpace(defaultCountry))
	if cc != "" && !knownRegion(cc) {
		return Number{}, fmt.Errorf("%w: %q", ErrUnknownCountry, defaultCountry)
	}
	if cc != "" && phonenumbers.IsEmergencyNumber(s, cc) {
		return Number{E164: phonenumbers.NormalizeDigitsOnly(s), Country: cc, Type: Emergency, Emergency: true}, nil
	}
	region := cc
	if region == "" {
		region = "ZZ" // unknown region: only "+"-prefixed numbers parse
	}
	pn, err := phonenumbers.Parse(s, region)
	if err != nil {
		return Number{}, fmt.Errorf("%w: %q: %v", ErrInvalid, raw, err)
	}
	if !phonenumbers.IsValidNumber(pn) {
		return Number{}, fmt.Errorf("%w: %q is not a valid number for its country", ErrInvalid, raw)
	}
	e164 := phonenumbers.Format(pn, phonenumbers.E164)
	country := phonenumbers.GetRegionCodeForNumber(pn)
	if country == "001" || country == "ZZ" {
		country = ""
	}
	return Number{E164: strings.TrimPrefix(e164, "+"), Country: country, Type: typeOf(pn)}, nil
}

// IsEmergency reports whether dialed is exactly an emergency number in country.
func IsEmergency(dialed, country string) bool {
	return phonenumbers.IsEmergencyNumber(dialed, strings.ToUpper(country))
}

func knownRegion(cc string) bool {
	return len(cc) == 2 && phonenumbers.GetCountryCodeForRegion(cc) != 0
}

func typeOf(pn *phonenumbers.PhoneNumber) Type {
	return typeFor(phonenumbers.GetNumberType(pn))
}

func typeFor(t phonenumbers.PhoneNumberType) Type {
	switch t {
	case phonenumbers.FIXED_LINE:
		return Fixed
	case phonenumbers.MOBILE:
		return Mobile
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return FixedOrMobile
	case phonenumbers.TOLL_FREE:
		return TollFree
	case phonenumbers.PREMIUM_RATE:
		return Premium
	case phonenumbers.SHARED_COST:
		return SharedCost
	case phonenumbers.VOIP:
		return VoIP
	}
	return Other
}
