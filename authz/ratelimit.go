package authz

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

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/ratelimit"
	"github.com/idvauth/idvauth/authz/internal/web"
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

// limiters are the server's buckets.
type limiters struct {
	token, introspect, ip, login, failed *ratelimit.Limiter
}

func newLimiters(rl RateLimits) limiters {
	return limiters{
		token: ratelimit.New(rl.TokenPerClient), introspect: ratelimit.New(rl.IntrospectPerClient),
		ip: ratelimit.New(rl.PerIP), login: ratelimit.New(rl.LoginPerIP), failed: ratelimit.New(rl.FailedPerIP),
	}
}

// limitIP wraps an OAuth endpoint with the per-address limits: on all
// requests, and on refused ones (an address past that gets 429 before any
// work is done, and without an audit entry, so that a flood of bad
// requests cannot occupy the audit trail that every replica shares).
func (s *Server) limitIP(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ip, now := clientip.LimitKey(s.ips.Addr(r)), s.now()
		if empty, wait := s.limits.failed.Empty(ip, now); empty {
			s.rateLimited(r, "failures")
			web.WriteRateLimited(w, wait, "Too many refused requests from this address; retry after the time in Retry-After.")
			return
		}
		if ok, wait := s.limits.ip.Allow(ip, now); !ok {
			s.rateLimited(r, "ip")
			web.WriteRateLimited(w, wait, "Too many requests from this address; retry after the time in Retry-After.")
			return
		}
		sw := &web.StatusWriter{ResponseWriter: w}
		next(sw, r)
		if sw.Status >= 400 && sw.Status < 500 && sw.Status != http.StatusTooManyRequests {
			s.limits.failed.Allow(ip, s.now())
		}
	}
}

// rateLimited counts and debug-logs one refused request.
func (s *Server) rateLimited(r *http.Request, limit string) {
	s.metrics.rateLimited(endpointOf(r), limit)
	if ce := s.log.Check(zap.DebugLevel, "request rate limited"); ce != nil {
		ce.Write(web.RequestField(r.Context()), zap.String("limit", limit))
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
			s.log.Warn("failed client authentication not counted", web.RequestField(ctx), zap.Error(err))
			continue
		}
		if n >= k.limit {
			s.locks.mu.Lock()
			delete(s.locks.m, k.key) // look again at once
			s.locks.mu.Unlock()
		}
		if n == k.limit {
			s.log.Warn("client authentication cool-off started", web.RequestField(ctx), clientField(clientID), zap.String("scope", k.scope))
			_ = s.trail.Append(ctx, storage.AuditEntry{Type: EventClientLocked, Actor: audit.System, ClientID: clientID, IP: ip,
				Details: map[string]string{"scope": k.scope, "failures": strconv.Itoa(n), "until": audit.Time(now.Add(s.cfg.ClientAuthWindow))}})
		}
	}
}
