package authz

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/ory/fosite"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/storage"
)

// Defaults of the rate limits (requests per second; a bucket holds
// rateBurst seconds' worth). They are far above what a well-behaved
// service sends: a client-credentials client needs a token every few
// minutes, and a resource server introspects once per API call.
const (
	DefaultRateTokenPerClient      = 100
	DefaultRateIntrospectPerClient = 5000
	DefaultRatePerIP               = 10000
	DefaultRateLoginPerIP          = 10
	// DefaultRateFailedPerIP bounds refused requests (bad credentials,
	// malformed requests) per address: each one costs an audit entry,
	// and the audit chain is shared by every replica.
	DefaultRateFailedPerIP = 10
	// rateBurst is the bucket size in seconds of the rate.
	rateBurst = 10

	DefaultClientAuthMaxFailures      = 20
	DefaultClientAuthMaxFailuresPerIP = 200
	DefaultClientAuthWindow           = 15 * time.Minute
	// DefaultClientLockCacheTTL is how long a replica trusts its last look
	// at the shared failure counters of one client ID and address.
	DefaultClientLockCacheTTL = time.Second
)

// RateLimits are the token-bucket limits, in requests per second; a
// negative value turns a limit off, zero takes the default.
type RateLimits struct {
	// TokenPerClient limits /oauth2/token and /oauth2/revoke per
	// authenticated client.
	TokenPerClient float64
	// IntrospectPerClient limits /oauth2/introspect per authenticated
	// caller.
	IntrospectPerClient float64
	// PerIP limits /oauth2/token, /oauth2/introspect and /oauth2/revoke
	// per client address, before any other work.
	PerIP float64
	// LoginPerIP limits posts of the login form per client address.
	LoginPerIP float64
	// FailedPerIP limits refused requests (4xx answers) to the token,
	// introspection and revocation endpoints per client address: past
	// it, the address gets 429 before any work, and no audit entry.
	FailedPerIP float64
}

func (rl RateLimits) withDefaults() RateLimits {
	def := func(v, d float64) float64 {
		if v == 0 {
			return d
		}
		return v
	}
	rl.TokenPerClient = def(rl.TokenPerClient, DefaultRateTokenPerClient)
	rl.IntrospectPerClient = def(rl.IntrospectPerClient, DefaultRateIntrospectPerClient)
	rl.PerIP = def(rl.PerIP, DefaultRatePerIP)
	rl.LoginPerIP = def(rl.LoginPerIP, DefaultRateLoginPerIP)
	rl.FailedPerIP = def(rl.FailedPerIP, DefaultRateFailedPerIP)
	return rl
}

// limiter is a set of token buckets, one per key, all with one rate. It is
// per process: a replica limits what it serves (limits are about load,
// which is per replica; brute force is stopped by the shared failure
// counters). Idle buckets are dropped. Safe for concurrent use.
type limiter struct {
	rate  float64 // tokens per second; <= 0: no limit
	burst float64
	seed  maphash.Seed
	shard [16]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64) *limiter {
	l := &limiter{rate: rate, burst: max(rate*rateBurst, 1), seed: maphash.MakeSeed()}
	for i := range l.shard {
		l.shard[i].buckets = make(map[string]*bucket)
	}
	return l
}

// allow takes one token from key's bucket at now. If there is none it
// returns false and how long until there is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	return l.take(key, now, true)
}

// empty reports whether key's bucket has no token left at now, and how
// long until it has one, without taking one.
func (l *limiter) empty(key string, now time.Time) (bool, time.Duration) {
	ok, wait := l.take(key, now, false)
	return !ok, wait
}

func (l *limiter) take(key string, now time.Time, consume bool) (bool, time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	sh := &l.shard[maphash.String(l.seed, key)%uint64(len(l.shard))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// A full bucket is as good as none: drop idle ones now and then.
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	if now.Sub(sh.swept) > full {
		for k, b := range sh.buckets {
			if now.Sub(b.last) > full {
				delete(sh.buckets, k)
			}
		}
		sh.swept = now
	}
	b := sh.buckets[key]
	if b == nil && !consume {
		return true, 0 // a full bucket
	}
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		sh.buckets[key] = b
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = math.Min(l.burst, b.tokens+dt.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		if consume {
			b.tokens--
		}
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// limiters are the server's buckets.
type limiters struct {
	token, introspect, ip, login, failed *limiter
}

func newLimiters(rl RateLimits) limiters {
	return limiters{
		token: newLimiter(rl.TokenPerClient), introspect: newLimiter(rl.IntrospectPerClient),
		ip: newLimiter(rl.PerIP), login: newLimiter(rl.LoginPerIP), failed: newLimiter(rl.FailedPerIP),
	}
}

// retryAfter is the Retry-After value for a wait: whole seconds, at least 1.
func retryAfter(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}

// writeRateLimited answers 429 with Retry-After and an RFC 6749-style body.
func writeRateLimited(w http.ResponseWriter, wait time.Duration, desc string) {
	w.Header().Set("Retry-After", retryAfter(wait))
	writeJSONError(w, http.StatusTooManyRequests, "too_many_requests", desc)
}

// limitIP wraps an OAuth endpoint with the per-address limits: on all
// requests, and on refused ones (an address past that gets 429 before any
// work is done, and without an audit entry, so that a flood of bad
// requests cannot occupy the audit trail that every replica shares).
func (s *Server) limitIP(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ip, now := limitKey(s.clientIP(r)), s.now()
		if empty, wait := s.limits.failed.empty(ip, now); empty {
			s.rateLimited(r, "failures")
			writeRateLimited(w, wait, "Too many refused requests from this address; retry after the time in Retry-After.")
			return
		}
		if ok, wait := s.limits.ip.allow(ip, now); !ok {
			s.rateLimited(r, "ip")
			writeRateLimited(w, wait, "Too many requests from this address; retry after the time in Retry-After.")
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		next(sw, r)
		if sw.status >= 400 && sw.status < 500 && sw.status != http.StatusTooManyRequests {
			s.limits.failed.allow(ip, s.now())
		}
	}
}

// limitKey is the rate-limit key of an address: IPv6 addresses by their
// /64, which one host or customer usually holds whole, so that rotating
// addresses inside it does not reset the limits.
func limitKey(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return ipString(a)
}

// rateLimited counts and debug-logs one refused request.
func (s *Server) rateLimited(r *http.Request, limit string) {
	s.metrics.rateLimited(endpointOf(r), limit)
	if ce := s.log.Check(zap.DebugLevel, "request rate limited"); ce != nil {
		ce.Write(requestField(r.Context()), zap.String("limit", limit))
	}
}

// errRateLimited is the cause of a fosite error for a request over a
// client's limit or in a client's cool-off; it carries the wait.
type errRateLimited struct{ wait time.Duration }

func (e *errRateLimited) Error() string { return "rate limited for " + e.wait.String() }

// rateLimitedError is the fosite error answering a limited request: 429
// with the wait in Retry-After (set by setRetryAfter).
func rateLimitedError(wait time.Duration, desc string) error {
	return (&fosite.RFC6749Error{ErrorField: "too_many_requests", DescriptionField: desc, CodeField: http.StatusTooManyRequests}).
		WithWrap(&errRateLimited{wait})
}

// setRetryAfter sets Retry-After when err is a rate-limit refusal.
func setRetryAfter(w http.ResponseWriter, err error) {
	var rl *errRateLimited
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", retryAfter(rl.wait))
	}
}

// --- failed client authentication cool-off ---

// lockKeys are the shared failure counters of a client authentication from
// an address: the client ID from that address, and the address.
func lockKeys(clientID, ip string) (pair, addr string) {
	if a, err := netip.ParseAddr(ip); err == nil {
		ip = limitKey(a)
	}
	return "clientauth:" + clientID + "|" + ip, "clientauth:ip:" + ip
}

// lockCache remembers, per counter key, what the store said and when.
type lockCache struct {
	mu sync.Mutex
	m  map[string]lockState
}

type lockState struct {
	until   time.Time // locked until; zero if not locked
	checked time.Time
}

// clientLocked reports whether clientID may not authenticate from ip now,
// and for how long. It reads the store's shared counters at most once per
// ClientLockCacheTTL per key, so every replica sees a cool-off another
// one started within that time.
func (s *Server) clientLocked(ctx context.Context, clientID, ip string) (time.Duration, error) {
	now := s.now()
	pair, addr := lockKeys(clientID, ip)
	var wait time.Duration
	for _, k := range []struct {
		key   string
		limit int
	}{{pair, s.cfg.ClientAuthMaxFailures}, {addr, s.cfg.ClientAuthMaxFailuresPerIP}} {
		until, err := s.lockedUntil(ctx, k.key, k.limit, now)
		if err != nil {
			return 0, err
		}
		if d := until.Sub(now); d > wait {
			wait = d
		}
	}
	return wait, nil
}

func (s *Server) lockedUntil(ctx context.Context, key string, limit int, now time.Time) (time.Time, error) {
	c := &s.locks
	c.mu.Lock()
	st, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Sub(st.checked) < s.cfg.ClientLockCacheTTL {
		return st.until, nil
	}
	n, end, err := s.store.Failures(ctx, key, now)
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
	c.m[key] = st
	c.mu.Unlock()
	return st.until, nil
}

// maxLockCache bounds the lock cache; past it the cache starts afresh.
const maxLockCache = 100_000

// countAuthFailure counts a failed client authentication in the shared
// counters and audits the start of a cool-off.
func (s *Server) countAuthFailure(ctx context.Context, clientID, ip string) {
	now := s.now()
	pair, addr := lockKeys(clientID, ip)
	for _, k := range []struct {
		key, scope string
		limit      int
	}{{pair, "client_and_ip", s.cfg.ClientAuthMaxFailures}, {addr, "ip", s.cfg.ClientAuthMaxFailuresPerIP}} {
		n, err := s.store.AddFailure(ctx, k.key, now, s.cfg.ClientAuthWindow)
		if err != nil {
			s.log.Warn("failed client authentication not counted", requestField(ctx), zap.Error(err))
			continue
		}
		if n >= k.limit {
			s.locks.mu.Lock()
			delete(s.locks.m, k.key) // look again at once
			s.locks.mu.Unlock()
		}
		if n == k.limit {
			s.log.Warn("client authentication cool-off started", requestField(ctx), clientField(clientID), zap.String("scope", k.scope))
			_ = s.audit(ctx, storage.AuditEntry{Type: EventClientLocked, Actor: actorSystem, ClientID: clientID, IP: ip,
				Details: map[string]string{"scope": k.scope, "failures": strconv.Itoa(n), "until": auditTime(now.Add(s.cfg.ClientAuthWindow))}})
		}
	}
}
