package numbers

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
)

// The cache of Parse: a fixed table of cacheSlots immutable answers, two-way set-associative
// (an answer lives in slot i or i^1 of its hash), read without a lock. A full set makes room
// by replacing one of its two answers, so memory stays bounded whatever the input. Reading
// costs one hash of the raw string and two pointer loads: a map under a lock hashed the key
// twice (once for the shard, once in the map) and was 40 % of admitting a call (P7).
const cacheSlots = 1 << 16 // 64 Ki answers

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
	i := h & (cacheSlots - 1)
	for _, j := range [2]uint64{i, i ^ 1} {
		if e := c.slots[j].Load(); e != nil && e.raw == raw && e.country == country {
			return e.n, e.err, true
		}
	}
	return Number{}, nil, false
}

func (c *parseCache) put(h uint64, raw, country string, n Number, err error) {
	// Own the key's bytes: raw may be a slice of a much larger buffer.
	e := &cacheEntry{raw: strings.Clone(raw), country: strings.Clone(country), n: n, err: err}
	i := h & (cacheSlots - 1)
	switch {
	case c.slots[i].Load() == nil:
	case c.slots[i^1].Load() == nil:
		i ^= 1
	default:
		i ^= (h >> 32) & 1 // an arbitrary one of the two
	}
	c.slots[i].Store(e)
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
