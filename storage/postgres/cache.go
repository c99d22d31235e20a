package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idvauth/idvauth/storage"
)

// NOTIFY channels: client changes (migration 002), key changes (004).
const (
	clientChannel = "idvauth_client_changed"
	keysChannel   = "idvauth_keys_changed"
)

// clientCache keeps clients read from the database so that token issuance
// and introspection need no client query. It is correct only while its
// listener hears every change: it serves entries only while listening,
// forgets everything when the listener loses its connection, and an entry
// lives at most ttl even so.
type clientCache struct {
	ttl time.Duration
	now func() time.Time

	mu        sync.Mutex
	listening bool
	gen       uint64 // bumped by every invalidation
	entries   map[string]cacheEntry
}

type cacheEntry struct {
	c       storage.Client
	expires time.Time
}

func newClientCache(ttl time.Duration) *clientCache {
	return &clientCache{ttl: ttl, now: time.Now, entries: make(map[string]cacheEntry)}
}

// get returns a cached client, and the generation to pass to put after a
// miss.
func (c *clientCache) get(id string) (storage.Client, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.listening {
		return storage.Client{}, false, c.gen
	}
	e, ok := c.entries[id]
	if !ok || c.now().After(e.expires) {
		return storage.Client{}, false, c.gen
	}
	return cloneClient(e.c), true, c.gen
}

// put caches a client read while the generation was gen; a change heard
// since then means the read may be stale, so it is not kept.
func (c *clientCache) put(cl storage.Client, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.listening || gen != c.gen {
		return
	}
	c.entries[cl.ID] = cacheEntry{c: cloneClient(cl), expires: c.now().Add(c.ttl)}
}

// invalidate forgets one client (id != "") or all.
func (c *clientCache) invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if id == "" {
		clear(c.entries)
		return
	}
	delete(c.entries, id)
}

func (c *clientCache) setListening(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listening = on
	c.gen++
	clear(c.entries)
}

func cloneClient(c storage.Client) storage.Client {
	c.SecretHash = append([]byte(nil), c.SecretHash...)
	c.GrantTypes = append([]string{}, c.GrantTypes...)
	c.ResponseTypes = append([]string{}, c.ResponseTypes...)
	c.RedirectURIs = append([]string{}, c.RedirectURIs...)
	c.Scopes = append([]string{}, c.Scopes...)
	c.Audience = append([]string{}, c.Audience...)
	if c.JWKS != nil {
		c.JWKS = append([]byte(nil), c.JWKS...)
	}
	return c
}

// listen keeps a LISTEN connection open until ctx is done, invalidating
// the cache and telling onKeysChanged on every notification, and
// reconnecting with back-off when the
// connection fails. It closes done when it returns.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, done chan<- struct{}) {
	defer close(done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, cfg)
		if s.cache != nil {
			s.cache.setListening(false)
		}
		if ctx.Err() != nil {
			return
		}
		if s.onListenError != nil {
			s.onListenError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+clientChannel+"; LISTEN "+keysChannel); err != nil {
		return err
	}
	if s.cache != nil {
		s.cache.setListening(true)
	}
	if s.onKeysChanged != nil {
		s.onKeysChanged()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch {
		case n.Channel == keysChannel && s.onKeysChanged != nil:
			s.onKeysChanged()
		case n.Channel == clientChannel && s.cache != nil:
			s.cache.invalidate(n.Payload)
		}
	}
}
