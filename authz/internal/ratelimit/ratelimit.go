// Package ratelimit keeps per-key token buckets (golang.org/x/time/rate)
// for the per-client and per-address request limits. Limits are per
// process: a replica limits what it serves (limits are about load, which
// is per replica; brute force is stopped by failure counters in the
// store).
package ratelimit

import (
	"hash/maphash"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// BurstSeconds is the size of a bucket in seconds of its rate: a key may
// burst to ten times its rate.
const BurstSeconds = 10

// Limiter is a set of token buckets, one per key, all with one rate. Idle
// buckets are dropped. Times come from the caller, so tests pin them. A nil
// Limiter, or one with a rate of zero or less, allows everything. Build it
// with New; it is safe for concurrent use.
type Limiter struct {
	limit rate.Limit
	burst int
	// idle is how long a bucket takes to fill up: an idle bucket that old
	// is as good as none.
	idle  time.Duration
	seed  maphash.Seed
	shard [16]shard
}

type shard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// New returns a limiter of perSecond requests per key, with buckets of
// BurstSeconds times that (at least one). perSecond <= 0: no limit.
func New(perSecond float64) *Limiter { return NewMaxBurst(perSecond, 0) }

// NewMaxBurst is New with buckets of at most maxBurst (if positive).
func NewMaxBurst(perSecond float64, maxBurst int) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	burst := max(int(math.Ceil(perSecond*BurstSeconds)), 1)
	if maxBurst > 0 {
		burst = min(burst, maxBurst)
	}
	l := &Limiter{limit: rate.Limit(perSecond), burst: burst, seed: maphash.MakeSeed(),
		idle: time.Duration(float64(burst) / perSecond * float64(time.Second))}
	for i := range l.shard {
		l.shard[i].buckets = make(map[string]*bucket)
	}
	return l
}

// Allow takes one token from key's bucket at now. If there is none it
// returns false and how long until there is one.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	b := l.bucket(key, now, true)
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	return false, l.wait(b, now)
}

// Empty reports whether key's bucket has no token left at now, and how
// long until it has one, without taking one.
func (l *Limiter) Empty(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return false, 0
	}
	b := l.bucket(key, now, false)
	if b == nil || b.lim.TokensAt(now) >= 1 {
		return false, 0
	}
	return true, l.wait(b, now)
}

// wait is how long until b holds a whole token.
func (l *Limiter) wait(b *bucket, now time.Time) time.Duration {
	missing := 1 - b.lim.TokensAt(now)
	return time.Duration(missing / float64(l.limit) * float64(time.Second))
}

// bucket returns key's bucket, made if create and there is none (nil
// otherwise: a full bucket). Idle buckets of the shard are dropped now and
// then.
func (l *Limiter) bucket(key string, now time.Time, create bool) *bucket {
	sh := &l.shard[maphash.String(l.seed, key)%uint64(len(l.shard))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now.Sub(sh.swept) > l.idle {
		for k, b := range sh.buckets {
			if now.Sub(b.last) > l.idle {
				delete(sh.buckets, k)
			}
		}
		sh.swept = now
	}
	b := sh.buckets[key]
	if b == nil {
		if !create {
			return nil
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		sh.buckets[key] = b
	}
	if now.After(b.last) {
		b.last = now
	}
	return b
}
