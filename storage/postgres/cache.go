package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
//
// It remembers client IDs that do not exist too: otherwise an unknown
// client costs a query that a known one does not, and the difference
// (0.6 ms of 4 at the median, issue 17) tells which client IDs exist.
// Creating a client notifies like changing one (migration 009), so such
// an entry goes as soon as the client exists, on every replica.
type clientCache struct {
	ttl time.Duration
	now func() time.Time

	mu        sync.Mutex
	listening bool
	gen       uint64 // bumped by every invalidation
	entries   map[string]cacheEntry
	missing   int // entries for unknown client IDs
}

type cacheEntry struct {
	c       storage.Client
	expires time.Time
	// unknown: no client has this ID (c is empty).
	unknown bool
}

// maxMissing bounds the entries for unknown client IDs, which anyone can
// make up: past it, they are all forgotten (the real clients stay).
const maxMissing = 10000

func newClientCache(ttl time.Duration) *clientCache {
	return &clientCache{ttl: ttl, now: time.Now, entries: make(map[string]cacheEntry)}
}

// get returns a cached client (ok), or reports that the ID is cached as
// unknown, and the generation to pass to put or putUnknown after a miss.
func (c *clientCache) get(id string) (cl storage.Client, ok, unknown bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.listening {
		return storage.Client{}, false, false, c.gen
	}
	e, ok := c.entries[id]
	if !ok || c.now().After(e.expires) {
		return storage.Client{}, false, false, c.gen
	}
	if e.unknown {
		return storage.Client{}, false, true, c.gen
	}
	return cloneClient(e.c), true, false, c.gen
}

// put caches a client read while the generation was gen; a change heard
// since then means the read may be stale, so it is not kept.
func (c *clientCache) put(cl storage.Client, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.listening || gen != c.gen {
		return
	}
	c.drop(cl.ID)
	c.entries[cl.ID] = cacheEntry{c: cloneClient(cl), expires: c.now().Add(c.ttl)}
}

// putUnknown caches that no client has the ID id, as read while the
// generation was gen.
func (c *clientCache) putUnknown(id string, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.listening || gen != c.gen {
		return
	}
	c.drop(id)
	if c.missing >= maxMissing {
		for k, e := range c.entries {
			if e.unknown {
				delete(c.entries, k)
			}
		}
		c.missing = 0
	}
	c.entries[id] = cacheEntry{expires: c.now().Add(c.ttl), unknown: true}
	c.missing++
}

// drop forgets the entry of id; c.mu is held.
func (c *clientCache) drop(id string) {
	if e, ok := c.entries[id]; ok {
		if e.unknown {
			c.missing--
		}
		delete(c.entries, id)
	}
}

// invalidate forgets one client (id != "") or all.
func (c *clientCache) invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if id == "" {
		clear(c.entries)
		c.missing = 0
		return
	}
	c.drop(id)
}

func (c *clientCache) setListening(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listening = on
	c.gen++
	clear(c.entries)
	c.missing = 0
}

func cloneClient(c storage.Client) storage.Client {
	c.SecretHash = append([]byte(nil), c.SecretHash...)
	c.GrantTypes = append([]string{}, c.GrantTypes...)
	c.ResponseTypes = append([]string{}, c.ResponseTypes...)
	c.RedirectURIs = append([]string{}, c.RedirectURIs...)
	c.Scopes = append([]string{}, c.Scopes...)
	c.Audience = append([]string{}, c.Audience...)
	c.IntrospectionAudiences = append([]string{}, c.IntrospectionAudiences...)
	if c.JWKS != nil {
		c.JWKS = append([]byte(nil), c.JWKS...)
	}
	return c
}

// listener keeps a LISTEN connection open, invalidating the client cache
// and telling onKeysChanged on every notification, and reconnecting with
// back-off when the connection fails. A connection silent for every is
// pinged (the answer bounded by listenPingTimeout, or every if shorter):
// one that a network incident left dead (no FIN, no RST, so nothing ever
// arrives) is given up within an interval and a second and replaced, and
// since notifications may have been lost meanwhile, the cache starts
// empty and onKeysChanged is told.
type listener struct {
	cfg           *pgx.ConnConfig
	every         time.Duration
	cache         *clientCache // nil when disabled
	onError       func(error)  // optional
	onKeysChanged func()       // optional
	// onSilent, optional, is told when the connection did not answer
	// its ping: what broke it (a cut, a NAT that forgot its state) has
	// likely broken the pools' idle connections of the same age too.
	onSilent func()
	cancel   context.CancelFunc
	done     chan struct{} // closed when run returns

	connected  atomic.Bool
	reconnects atomic.Int64 // connections lost
}

// startListener starts a listener on cfg; stop ends it.
func startListener(cfg *pgx.ConnConfig, every time.Duration, cache *clientCache, onError func(error), onKeysChanged, onSilent func()) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{cfg: cfg, every: every, cache: cache, onError: onError, onKeysChanged: onKeysChanged, onSilent: onSilent,
		cancel: cancel, done: make(chan struct{})}
	go l.run(ctx)
	return l
}

// stop ends the listener and waits until it has.
func (l *listener) stop() {
	l.cancel()
	<-l.done
}

// run listens until ctx is done.
func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.listenOnce(ctx)
		if l.connected.Swap(false) {
			l.reconnects.Add(1)
			backoff = 100 * time.Millisecond // it worked for a while
		}
		if l.cache != nil {
			l.cache.setListening(false)
		}
		if ctx.Err() != nil {
			return
		}
		if l.onError != nil {
			l.onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listenPingTimeout bounds the answer to the listener's ping: an idle
// connection answers in well under a millisecond.
const listenPingTimeout = time.Second

// errSilent is why a listener gave up a connection that did not answer
// its ping.
var errSilent = errors.New("postgres: listener: the connection did not answer a ping")

func (l *listener) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), l.every)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	lctx, cancel := context.WithTimeout(ctx, l.every)
	_, err = conn.Exec(lctx, "LISTEN "+clientChannel+"; LISTEN "+keysChannel)
	cancel()
	if err != nil {
		return err
	}
	l.connected.Store(true)
	if l.cache != nil {
		l.cache.setListening(true)
	}
	if l.onKeysChanged != nil {
		l.onKeysChanged()
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, l.every)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			// Silence: is the connection still there?
			pctx, cancel := context.WithTimeout(ctx, min(l.every, listenPingTimeout))
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				if l.onSilent != nil && ctx.Err() == nil {
					l.onSilent()
				}
				return fmt.Errorf("%w: %w", errSilent, err)
			}
			continue
		}
		switch {
		case n.Channel == keysChannel && l.onKeysChanged != nil:
			l.onKeysChanged()
		case n.Channel == clientChannel && l.cache != nil:
			l.cache.invalidate(n.Payload)
		}
	}
}
