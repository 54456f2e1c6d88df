package numbers

import (
	"testing"
	"time"
)

// TestCompileAllCallingCodes: the metadata of every calling code compiles, and says how much
// of it the DFAs cover (the rest runs on regexp, still correct) and what compiling costs.
func TestCompileAllCallingCodes(t *testing.T) {
	loadCallingCodes()
	start := time.Now()
	codes, patterns, onRegexp := 0, 0, 0
	for code := range maxCallingCode {
		c := callingCodeFor(code)
		if c == nil {
			if callingCodes.known[code] {
				t.Errorf("calling code %d did not compile", code)
			}
			continue
		}
		codes++
		for _, r := range c.regions {
			for _, d := range []*desc{&r.general, &r.premium, &r.tollFree, &r.sharedCost, &r.voip, &r.personal, &r.pager, &r.uan, &r.voicemail, &r.fixed, &r.mobile} {
				patterns++
				if d.pattern.dfa == nil {
					onRegexp++
				}
			}
		}
	}
	t.Logf("%d calling codes, %d patterns (%d on regexp) compiled in %v", codes, patterns, onRegexp, time.Since(start))
}
