package clientauth

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/ory/fosite"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// errRateLimited is the cause of a fosite error for a request over a
// client's limit or in a client's cool-off; it carries the wait.
type errRateLimited struct{ wait time.Duration }

func (e *errRateLimited) Error() string { return "rate limited for " + e.wait.String() }

// rateLimitedError is the fosite error answering a limited request: 429
// with the wait in Retry-After (set by setRetryAfter).
func RateLimitedError(wait time.Duration, desc string) error {
	return (&fosite.RFC6749Error{ErrorField: "too_many_requests", DescriptionField: desc, CodeField: http.StatusTooManyRequests}).
		WithWrap(&errRateLimited{wait})
}

// setRetryAfter sets Retry-After when err is a rate-limit refusal.
func SetRetryAfter(w http.ResponseWriter, err error) {
	var rl *errRateLimited
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", web.RetryAfter(rl.wait))
	}
}

// --- failed client authentication cool-off ---

// lockKeys are the shared failure counters of a client authentication from
// an address: the client ID from that address, and the address.
func lockKeys(clientID, ip string) (pair, addr string) {
	if a, err := netip.ParseAddr(ip); err == nil {
		ip = clientip.LimitKey(a)
	}
	return "clientauth:" + clientID + "|" + ip, "clientauth:ip:" + ip
}

// lockCache remembers, per counter key, what the store said and when.
// gen counts the entries dropped because a failure reached a limit: a
// read of the store that began before such a drop is not cached, or it
// would hide, for LockCacheTTL, the lock-out the drop was for.
type lockCache struct {
	mu  sync.Mutex
	m   map[string]lockState
	gen uint64
}

type lockState struct {
	until   time.Time // locked until; zero if not locked
	checked time.Time
}

// clientLocked reports whether clientID may not authenticate from ip now,
// and for how long. It reads the store's shared counters at most once per
// ClientLockCacheTTL per key, so every replica sees a cool-off another
// one started within that time.
func (a *Authenticator) clientLocked(ctx context.Context, clientID, ip string) (time.Duration, error) {
	now := a.now()
	pair, addr := lockKeys(clientID, ip)
	var wait time.Duration
	for _, k := range []struct {
		key   string
		limit int
	}{{pair, a.cfg.MaxFailures}, {addr, a.cfg.MaxFailuresPerIP}} {
		until, err := a.lockedUntil(ctx, k.key, k.limit, now)
		if err != nil {
			return 0, err
		}
		if d := until.Sub(now); d > wait {
			wait = d
		}
	}
	return wait, nil
}

func (a *Authenticator) lockedUntil(ctx context.Context, key string, limit int, now time.Time) (time.Time, error) {
	c := &a.locks
	c.mu.Lock()
	st, ok := c.m[key]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Sub(st.checked) < a.cfg.LockCacheTTL {
		return st.until, nil
	}
	n, end, err := a.store.Failures(ctx, key, now)
	if err != nil {
		return time.Time{}, err
	}
	st = lockState{checked: now}
	if n >= limit {
		st.until = end
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > maxLockCache {
		c.m = make(map[string]lockState)
	}
	if c.gen == gen {
		c.m[key] = st
	}
	c.mu.Unlock()
	return st.until, nil
}

// maxLockCache bounds the lock cache; past it the cache starts afresh.
const maxLockCache = 100_000

// countAuthFailure counts a failed client authentication in the shared
// counters and audits the start of a cool-off. It returns how long the
// caller must wait when this failure is past a limit: such an attempt is
// answered 429 like one refused before it was checked, so that of any
// number of attempts, concurrent ones included, at most the limit are
// answered as wrong in a window (counted on every replica at once).
func (a *Authenticator) countAuthFailure(ctx context.Context, clientID, ip string) (wait time.Duration) {
	now := a.now()
	pair, addr := lockKeys(clientID, ip)
	for _, k := range []struct {
		key, scope string
		limit      int
	}{{pair, "client_and_ip", a.cfg.MaxFailures}, {addr, "ip", a.cfg.MaxFailuresPerIP}} {
		n, err := a.store.AddFailure(ctx, k.key, now, a.cfg.Window)
		if err != nil {
			a.log.Warn("failed client authentication not counted", web.RequestField(ctx), zap.Error(err))
			continue
		}
		if n >= k.limit {
			a.locks.mu.Lock()
			delete(a.locks.m, k.key) // look again at once
			a.locks.gen++
			a.locks.mu.Unlock()
		}
		if n > k.limit {
			end := now.Add(a.cfg.Window)
			if _, e, err := a.store.Failures(ctx, k.key, now); err == nil && e.After(now) {
				end = e
			}
			wait = max(wait, end.Sub(now))
		}
		if n == k.limit {
			a.log.Warn("client authentication cool-off started", web.RequestField(ctx), zap.String("client_id", clientID), zap.String("scope", k.scope))
			_ = a.cfg.Audit.Append(ctx, storage.AuditEntry{Type: adminapi.EventClientLocked, Actor: audit.System, ClientID: clientID, IP: ip,
				Details: map[string]string{"scope": k.scope, "failures": strconv.Itoa(n), "until": audit.Time(now.Add(a.cfg.Window))}})
		}
	}
	return wait
}
