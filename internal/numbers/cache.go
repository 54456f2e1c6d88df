package numbers

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
)

// The cache of Parse: a fixed table of cacheSlots immutable answers, 8-way set-associative
// (an answer lives in one of the 8 slots, one cache line of pointers, of its hash's set),
// read without a lock. A full set makes room by replacing one of its answers, so memory
// stays bounded whatever the input; 8 ways keep a working set far below the capacity from
// thrashing a set (with 2 ways, a few thousand numbers already had sets of three). Reading
// costs one hash of the raw string and two pointer loads: a map under a lock hashed the key
// twice (once for the shard, once in the map) and was 40 % of admitting a call (P7).
const (
	cacheSlots = 1 << 16 // 64 Ki answers
	cacheWays  = 8
	cacheSets  = cacheSlots / cacheWays
)

type cacheEntry struct {
	raw, country string
	n            Number
	err          error
}

type parseCache struct {
	slots [cacheSlots]atomic.Pointer[cacheEntry]
}

var (
	cacheSeed = maphash.MakeSeed()
	parsed    parseCache
)

// cacheHash hashes raw with country, which Parse bounds to 8 bytes: packed into a word and
// mixed in rather than hashed a second time.
func cacheHash(raw, country string) uint64 {
	var c uint64
	for i := 0; i < len(country) && i < 8; i++ {
		c = c<<8 | uint64(country[i])
	}
	return maphash.String(cacheSeed, raw) ^ (c+uint64(len(country)))*0x9E3779B97F4A7C15
}

func (c *parseCache) get(h uint64, raw, country string) (Number, error, bool) {
	set := c.slots[(h%cacheSets)*cacheWays:][:cacheWays]
	for i := range set {
		if e := set[i].Load(); e != nil && e.raw == raw && e.country == country {
			return e.n, e.err, true
		}
	}
	return Number{}, nil, false
}

func (c *parseCache) put(h uint64, raw, country string, n Number, err error) {
	// Own the key's bytes: raw may be a slice of a much larger buffer.
	e := &cacheEntry{raw: strings.Clone(raw), country: strings.Clone(country), n: n, err: err}
	set := c.slots[(h%cacheSets)*cacheWays:][:cacheWays]
	for i := range set {
		if set[i].CompareAndSwap(nil, e) {
			return
		}
	}
	set[(h>>32)%cacheWays].Store(e) // full: an arbitrary one of them
}

// reset empties the cache (tests and benchmarks).
func (c *parseCache) reset() {
	for i := range c.slots {
		c.slots[i].Store(nil)
	}
}

// len counts the answers held (tests).
func (c *parseCache) len() int {
	n := 0
	for i := range c.slots {
		if c.slots[i].Load() != nil {
			n++
		}
	}
	return n
}
