package hotpath

import (
	"crypto/sha256"
	"sync"
)

// cacheShards splits a Cache so that concurrent requests rarely wait for
// the same lock.
const cacheShards = 16

// Cache is a bounded map from a token, known by its SHA-256 (so that the
// cache holds no bearer token a memory dump could give away), to what its
// verification found (which should not hold the token either). Introspection verifies a JWT access token's
// signature, which costs more than everything else the endpoint does; a
// resource server introspects the same token at each call it receives, and
// the signature over the same bytes verifies the same way every time. The
// cache replaces only that step: whoever uses it still checks that the key
// is still published, the expiry against the clock, and the stored record
// (revocation) at every request. Only verified tokens are put in, so
// garbage cannot fill it; when a shard is full, an entry picked at random
// makes room.
type Cache[V any] struct {
	per    int
	shards [cacheShards]cacheShard[V]
}

type cacheShard[V any] struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]V
}

// NewCache returns a cache of at most size entries (at least one per
// shard).
func NewCache[V any](size int) *Cache[V] {
	c := &Cache[V]{per: max(1, size/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]V)
	}
	return c
}

func (c *Cache[V]) shard(token string) (*cacheShard[V], [sha256.Size]byte) {
	sum := sha256.Sum256([]byte(token))
	return &c.shards[sum[0]%cacheShards], sum
}

// Get returns the value stored for token, if any.
func (c *Cache[V]) Get(token string) (V, bool) {
	s, sum := c.shard(token)
	s.mu.Lock()
	v, ok := s.m[sum]
	s.mu.Unlock()
	return v, ok
}

// Put stores v for token, evicting another entry of its shard if the
// shard is full.
func (c *Cache[V]) Put(token string, v V) {
	s, sum := c.shard(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[sum]; !ok && len(s.m) >= c.per {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[sum] = v
}

// Delete removes token.
func (c *Cache[V]) Delete(token string) {
	s, sum := c.shard(token)
	s.mu.Lock()
	delete(s.m, sum)
	s.mu.Unlock()
}

// Len returns the number of entries.
func (c *Cache[V]) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
