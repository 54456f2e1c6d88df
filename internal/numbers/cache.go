package numbers

import (
	"hash/maphash"
	"strings"
	"sync"
)

// The cache of Parse: a fixed number of shards, each a map under its own lock, holding at
// most cacheShardSize answers; a full shard makes room by dropping an arbitrary entry (Go's
// map iteration starts at a random place), so memory stays bounded whatever the input.
const (
	cacheShards    = 64
	cacheShardSize = 1024 // 64 Ki answers in all
)

type cacheKey struct{ raw, country string }

type cacheEntry struct {
	n   Number
	err error
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[cacheKey]cacheEntry
	_  [40]byte // keep shards on their own cache lines
}

type parseCache struct{ shards [cacheShards]cacheShard }

var (
	cacheSeed = maphash.MakeSeed()
	parsed    parseCache
)

func (c *parseCache) get(h uint64, k cacheKey) (Number, error, bool) {
	s := &c.shards[h%cacheShards]
	s.mu.RLock()
	e, ok := s.m[k]
	s.mu.RUnlock()
	return e.n, e.err, ok
}

func (c *parseCache) put(h uint64, k cacheKey, n Number, err error) {
	// Own the key's bytes: raw may be a slice of a much larger buffer.
	k = cacheKey{strings.Clone(k.raw), strings.Clone(k.country)}
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[cacheKey]cacheEntry, cacheShardSize)
	}
	if _, ok := s.m[k]; !ok && len(s.m) >= cacheShardSize {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[k] = cacheEntry{n, err}
}

// reset empties the cache (tests and benchmarks).
func (c *parseCache) reset() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.m = nil
		s.mu.Unlock()
	}
}
