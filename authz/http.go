package authz

import (
	"net/http"
	"strings"
	"time"

	"github.com/idvauth/idvauth/authz/account"
	"github.com/idvauth/idvauth/authz/internal/framing"
	"github.com/idvauth/idvauth/authz/internal/serve"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/login"
	"github.com/idvauth/idvauth/authz/tracing"
)

// middleware wraps a listener's handler (see web.Middleware), counting
// every answer in the metrics. A public request's database calls share
// DatabaseTimeout; the admin API's, which may read the whole audit trail,
// serve.AdminDeadline.
func (s *Server) middleware(name string, next http.Handler) http.Handler {
	deadline := s.cfg.DatabaseTimeout
	if name == "admin" {
		deadline = max(deadline, serve.AdminDeadline)
	}
	h := web.Middleware(web.MiddlewareConfig{Name: name, Log: s.log.Named(name), IDs: s.reqIDs, Guard: framing.Check, Deadline: deadline,
		Observe: func(r *http.Request, status int, d time.Duration, late bool) {
			s.metrics.Observe(name, endpointOf(r), status, d, late)
		}}, next)
	if s.tracer != nil {
		h = tracing.Middleware(s.tracer, name, endpointOf, h)
	}
	return h
}

// publicEndpoints are the endpoint labels of the public listener.
var publicEndpoints = map[string]bool{
	"/.well-known/openid-configuration": true, "/.well-known/oauth-authorization-server": true, "/.well-known/jwks.json": true,
	"/oauth2/authorize": true, "/oauth2/token": true, "/oauth2/introspect": true, "/oauth2/revoke": true, "/userinfo": true,
	login.LoginPath: true, login.ConsentPath: true, login.LogoutPath: true, login.EndSessionPath: true, login.MFAPath: true, login.EnrollPath: true, DevCallbackPath: true, "/health/live": true, "/health/ready": true,
	login.PasskeyLoginPath: true, login.PasskeyMFAPath: true, login.PasskeyEnrollPath: true, login.AccountPasskeysPath: true,
	login.AccountPasskeysAddPath: true, login.AccountPasskeysRenamePath: true, login.AccountPasskeysRemovePath: true,
	account.Path: true, account.ResetPath: true, login.KitSignInPath: true, login.KitSignInMFAPath: true,
}

// endpointOf is the endpoint label of a request: its path if it is one
// of ours, the matched pattern on the admin listener, or "other".
func endpointOf(r *http.Request) string {
	if publicEndpoints[r.URL.Path] {
		return r.URL.Path
	}
	if p := r.Pattern; strings.HasPrefix(p, "/admin/") || p == "/metrics" {
		return p
	}
	return "other"
}
