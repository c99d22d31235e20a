package authz

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/ratelimit"
	"github.com/idvauth/idvauth/authz/internal/web"
)

// Defaults of the rate limits (requests per second; a bucket holds
// ratelimit.BurstSeconds seconds' worth). They are far above what a well-behaved
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
	setDefault(&rl.TokenPerClient, DefaultRateTokenPerClient)
	setDefault(&rl.IntrospectPerClient, DefaultRateIntrospectPerClient)
	setDefault(&rl.PerIP, DefaultRatePerIP)
	setDefault(&rl.LoginPerIP, DefaultRateLoginPerIP)
	setDefault(&rl.FailedPerIP, DefaultRateFailedPerIP)
	return rl
}

// limiters are the server's buckets.
type limiters struct {
	token, introspect, ip, login, failed *ratelimit.Limiter
}

// newLimiters builds the buckets of rl. The login form's burst is capped
// at hashes, the password hashes that run at once: one address cannot
// send more logins at once than the server can hash, so it meets 429
// before anyone meets 503.
func newLimiters(rl RateLimits, hashes int) limiters {
	return limiters{
		token: ratelimit.New(rl.TokenPerClient), introspect: ratelimit.New(rl.IntrospectPerClient),
		ip: ratelimit.New(rl.PerIP), login: ratelimit.NewMaxBurst(rl.LoginPerIP, hashes), failed: ratelimit.New(rl.FailedPerIP),
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
	s.metrics.RateLimited(endpointOf(r), limit)
	if ce := s.log.Check(zap.DebugLevel, "request rate limited"); ce != nil {
		ce.Write(web.RequestField(r.Context()), zap.String("limit", limit))
	}
}
