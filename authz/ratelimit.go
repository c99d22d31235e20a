package authz

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/metrics"
	"github.com/idvauth/idvauth/authz/internal/ratelimit"
	"github.com/idvauth/idvauth/authz/internal/web"
)

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

// limitReporter returns what counts in m and debug-logs on log one
// request refused by the rate limit named limit.
func limitReporter(m *metrics.Metrics, log *zap.Logger) func(r *http.Request, limit string) {
	return func(r *http.Request, limit string) {
		m.RateLimited(endpointOf(r), limit)
		if ce := log.Check(zap.DebugLevel, "request rate limited"); ce != nil {
			ce.Write(web.RequestField(r.Context()), zap.String("limit", limit))
		}
	}
}
