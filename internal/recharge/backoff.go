package recharge

import "time"

// Backoff is a deterministic exponential schedule: the n-th retry (n ≥ 1) waits
// Base × Factor^(n−1), capped at Max, then moved by the jitter.
//
// Jitter is deterministic too: its source is a 64-bit FNV-1a hash of the retry's charge
// key, so two tenants failing at the same instant spread out while a replay of the same
// events schedules the same instants. JitterPercent 0 (the default) means no jitter; p
// moves each delay by at most ±p % (never below zero and never above Max).
type Backoff struct {
	Base          time.Duration `json:"base"`
	Factor        int64         `json:"factor"` // < 1 is taken as 1 (constant delay)
	Max           time.Duration `json:"max"`    // 0: no cap
	JitterPercent int           `json:"jitter_percent,omitempty"`
}

// Delay is the wait before retry n (1-based) of the charge with the given key.
func (b Backoff) Delay(n int, key string) time.Duration {
	d := b.Base
	f := time.Duration(b.Factor)
	if f < 1 {
		f = 1
	}
	for i := 1; i < n; i++ {
		if b.Max > 0 && d >= b.Max {
			break
		}
		if d > (1<<62)/f { // overflow guard; Max is the real bound
			d = 1 << 62
			break
		}
		d *= f
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	if p := b.JitterPercent; p > 0 && d > 0 {
		if p > 100 {
			p = 100
		}
		span := int64(d) / 100 * int64(p)
		if span > 0 {
			j := int64(fnv64a(key)%uint64(2*span+1)) - span
			d += time.Duration(j)
		}
		if b.Max > 0 && d > b.Max {
			d = b.Max
		}
		if d < 0 {
			d = 0
		}
	}
	return d
}

func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
