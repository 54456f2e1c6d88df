package numbers

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// This file holds phonenumbers' metadata precomputed once per country calling code, for the
// fast path: every pattern the validity and type checks use is compiled to a digitDFA, and
// the checks themselves (GetRegionCodeForNumber, IsValidNumberForRegion, GetNumberType and
// the national-prefix stripping of Parse) are restated over them, step for step as
// phonenumbers v1.8.1 does them. The metadata stays the only source of numbering plans; the
// differential tests hold the two implementations to the same answers.

// matcher is a compiled pattern: the digit DFA, or the regexp when the DFA could not be built.
type matcher struct {
	dfa *digitDFA
	re  *regexp.Regexp // "^(?:pattern)$" or "^(?:pattern)", as phonenumbers builds it
}

func newMatcher(pattern string, full bool) matcher {
	if d, err := compileDigitDFA(pattern); err == nil {
		return matcher{dfa: d}
	}
	anchored := "^(?:" + pattern + ")"
	if full {
		anchored += "$"
	}
	return matcher{re: regexp.MustCompile(anchored)}
}

func (m *matcher) full(digits string) bool {
	if m.dfa != nil {
		return m.dfa.fullMatch(digits)
	}
	return m.re.MatchString(digits)
}

func (m *matcher) prefix(digits string) bool {
	if m.dfa != nil {
		return m.dfa.prefixMatch(digits)
	}
	return m.re.MatchString(digits)
}

// desc is a PhoneNumberDesc: isNumberMatchingDesc is "length possible and pattern matches".
type desc struct {
	anyLength bool   // no possible lengths given: any length passes the length check
	lengths   uint64 // bit n: length n is possible
	pattern   matcher
}

func newDesc(d *phonenumbers.PhoneNumberDesc) desc {
	out := desc{anyLength: len(d.GetPossibleLength()) == 0, pattern: newMatcher(d.GetNationalNumberPattern(), true)}
	for _, l := range d.GetPossibleLength() {
		if l >= 0 && l < 64 {
			out.lengths |= 1 << uint(l)
		}
	}
	return out
}

func (d *desc) matches(nsn string) bool {
	if !d.anyLength && (len(nsn) >= 64 || d.lengths&(1<<uint(len(nsn))) == 0) {
		return false
	}
	return d.pattern.full(nsn)
}

// region is one region's (or one non-geographic calling code's) metadata, compiled.
type region struct {
	id                                      string // "US", "001"
	country                                 string // Number.Country: id, or "" for "001"
	md                                      *phonenumbers.PhoneMetadata
	general, premium, tollFree, sharedCost  desc
	voip, personal, pager, uan, voicemail   desc
	fixed, mobile                           desc
	sameMobileAndFixed                      bool
	leading                                 *matcher // leading digits, prefix match; nil if none
	nationalPrefix                          *matcher // national prefix for parsing, prefix match; nil if none
	nationalPrefixRe                        *regexp.Regexp
	generalLengths, generalLocalOnlyLengths []int32
}

func newRegion(md *phonenumbers.PhoneMetadata) *region {
	r := &region{
		id: md.GetId(), md: md,
		general: newDesc(md.GetGeneralDesc()), premium: newDesc(md.GetPremiumRate()),
		tollFree: newDesc(md.GetTollFree()), sharedCost: newDesc(md.GetSharedCost()),
		voip: newDesc(md.GetVoip()), personal: newDesc(md.GetPersonalNumber()),
		pager: newDesc(md.GetPager()), uan: newDesc(md.GetUan()), voicemail: newDesc(md.GetVoicemail()),
		fixed: newDesc(md.GetFixedLine()), mobile: newDesc(md.GetMobile()),
		sameMobileAndFixed:      md.GetSameMobileAndFixedLinePattern(),
		generalLengths:          md.GetGeneralDesc().GetPossibleLength(),
		generalLocalOnlyLengths: md.GetGeneralDesc().GetPossibleLengthLocalOnly(),
	}
	if r.id != "001" && r.id != "ZZ" {
		r.country = r.id
	}
	if ld := md.GetLeadingDigits(); ld != "" {
		m := newMatcher(ld, false)
		r.leading = &m
	}
	if np := md.GetNationalPrefixForParsing(); np != "" {
		m := newMatcher(np, false)
		r.nationalPrefix = &m
		r.nationalPrefixRe = regexp.MustCompile("^(?:" + np + ")")
	}
	return r
}

// numberType is getNumberTypeHelper.
func (r *region) numberType(nsn string) phonenumbers.PhoneNumberType {
	switch {
	case !r.general.matches(nsn):
		return phonenumbers.UNKNOWN
	case r.premium.matches(nsn):
		return phonenumbers.PREMIUM_RATE
	case r.tollFree.matches(nsn):
		return phonenumbers.TOLL_FREE
	case r.sharedCost.matches(nsn):
		return phonenumbers.SHARED_COST
	case r.voip.matches(nsn):
		return phonenumbers.VOIP
	case r.personal.matches(nsn):
		return phonenumbers.PERSONAL_NUMBER
	case r.pager.matches(nsn):
		return phonenumbers.PAGER
	case r.uan.matches(nsn):
		return phonenumbers.UAN
	case r.voicemail.matches(nsn):
		return phonenumbers.VOICEMAIL
	}
	if r.fixed.matches(nsn) {
		if r.sameMobileAndFixed || r.mobile.matches(nsn) {
			return phonenumbers.FIXED_LINE_OR_MOBILE
		}
		return phonenumbers.FIXED_LINE
	}
	if !r.sameMobileAndFixed && r.mobile.matches(nsn) {
		return phonenumbers.MOBILE
	}
	return phonenumbers.UNKNOWN
}

// testGeneralLength is testNumberLength(number, metadata, UNKNOWN).
func (r *region) testGeneralLength(n int) phonenumbers.ValidationResult {
	possible := r.generalLengths
	if len(possible) == 0 || possible[0] == -1 {
		return phonenumbers.INVALID_LENGTH
	}
	l := int32(n)
	for _, x := range r.generalLocalOnlyLengths {
		if x == l {
			return phonenumbers.IS_POSSIBLE_LOCAL_ONLY
		}
	}
	switch {
	case possible[0] == l:
		return phonenumbers.IS_POSSIBLE
	case possible[0] > l:
		return phonenumbers.TOO_SHORT
	case possible[len(possible)-1] < l:
		return phonenumbers.TOO_LONG
	}
	for _, x := range possible[1:] {
		if x == l {
			return phonenumbers.IS_POSSIBLE
		}
	}
	return phonenumbers.INVALID_LENGTH
}

// stripNationalPrefix is what phonenumbers' parseHelper does with the national number after
// the country calling code: maybeStripNationalPrefixAndCarrierCode on a copy, kept if the
// result has a possible length. The common case (the prefix pattern does not match) is
// decided by the DFA; the rest runs the very regexp calls phonenumbers runs.
// ok is false when the result is not ASCII digits (then the caller takes the slow path).
func (r *region) stripNationalPrefix(nsn string) (_ string, ok bool) {
	if r.nationalPrefix == nil || nsn == "" || !r.nationalPrefix.prefix(nsn) {
		return nsn, true
	}
	stripped, ok := r.maybeStripNationalPrefix(nsn)
	if !ok {
		return nsn, true
	}
	if !isDigits(stripped) {
		return "", false
	}
	switch r.testGeneralLength(len(stripped)) {
	case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY, phonenumbers.INVALID_LENGTH:
		return nsn, true
	}
	return stripped, true
}

// isDigits reports whether s is ASCII digits only.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// maybeStripNationalPrefix is maybeStripNationalPrefixAndCarrierCode without the carrier code.
func (r *region) maybeStripNationalPrefix(number string) (string, bool) {
	re := r.nationalPrefixRe
	if !re.MatchString(number) {
		return "", false
	}
	viableOriginal := r.general.pattern.full(number)
	groups := re.FindStringSubmatchIndex(number)
	numOfGroups := len(groups)/2 - 1
	transformRule := r.md.GetNationalPrefixTransformRule()
	if transformRule == "" || groups[numOfGroups*2] < 0 {
		if viableOriginal && !r.general.pattern.full(number[groups[1]:]) {
			return "", false
		}
		return number[groups[1]:], true
	}
	transformed := re.ReplaceAllString(number, transformRule)
	if viableOriginal && (!isDigits(transformed) || !r.general.pattern.full(transformed)) {
		return "", false
	}
	return transformed, true
}

// callingCode is a country calling code and its regions, in phonenumbers' order (the main
// region first).
type callingCode struct {
	code    int32
	prefix  string // "44"
	regions []*region
	main    *region // the metadata Parse uses for the national number
}

// forNumber is GetRegionCodeForNumber; nil where that gives "".
func (c *callingCode) forNumber(nsn string) *region {
	if len(c.regions) == 1 {
		return c.regions[0]
	}
	for _, r := range c.regions {
		if r.leading != nil {
			if r.leading.prefix(nsn) {
				return r
			}
		} else if r.numberType(nsn) != phonenumbers.UNKNOWN {
			return r
		}
	}
	return nil
}

// classify is IsValidNumber, GetRegionCodeForNumber and GetNumberType of the number with
// this calling code and national significant number nsn (ASCII digits).
func (c *callingCode) classify(nsn string) (r *region, t phonenumbers.PhoneNumberType, valid bool) {
	r = c.forNumber(nsn)
	if r == nil || (r.id != "001" && r.md.GetCountryCode() != c.code) {
		return nil, phonenumbers.UNKNOWN, false
	}
	t = r.numberType(nsn)
	return r, t, t != phonenumbers.UNKNOWN
}

// maxCallingCode bounds country calling codes (1 to 3 digits).
const maxCallingCode = 1000

var callingCodes struct {
	once  sync.Once
	known [maxCallingCode]bool
	// Each code's metadata is compiled on first use.
	lazy [maxCallingCode]struct {
		once sync.Once
		cc   *callingCode
	}
	byRegion map[string]*phonenumbers.PhoneMetadata
	nonGeo   map[int32]*phonenumbers.PhoneMetadata
}

func loadCallingCodes() {
	callingCodes.once.Do(func() {
		for code := range phonenumbers.GetSupportedCallingCodes() {
			if code > 0 && code < maxCallingCode {
				callingCodes.known[code] = true
			}
		}
		callingCodes.byRegion = map[string]*phonenumbers.PhoneMetadata{}
		callingCodes.nonGeo = map[int32]*phonenumbers.PhoneMetadata{}
		coll, err := phonenumbers.MetadataCollection()
		if err != nil {
			return // no fast path: every code looks unknown and Parse takes the slow path
		}
		for _, md := range coll.GetMetadata() {
			if md.GetId() == "001" {
				callingCodes.nonGeo[md.GetCountryCode()] = md
			} else {
				callingCodes.byRegion[md.GetId()] = md
			}
		}
	})
}

// callingCodeFor is the compiled metadata of a calling code phonenumbers supports, or nil.
func callingCodeFor(code int) *callingCode {
	loadCallingCodes()
	if code <= 0 || code >= maxCallingCode || !callingCodes.known[code] {
		return nil
	}
	e := &callingCodes.lazy[code]
	e.once.Do(func() {
		c := &callingCode{code: int32(code), prefix: strconv.Itoa(code)}
		for _, id := range phonenumbers.GetRegionCodesForCountryCode(code) {
			var md *phonenumbers.PhoneMetadata
			if id == "001" {
				md = callingCodes.nonGeo[int32(code)]
			} else {
				md = callingCodes.byRegion[id]
			}
			if md == nil {
				return // metadata without a region: leave the code to the slow path
			}
			c.regions = append(c.regions, newRegion(md))
		}
		if len(c.regions) == 0 {
			return
		}
		c.main = c.regions[0]
		e.cc = c
	})
	return e.cc
}
