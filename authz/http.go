package authz

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/framing"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/login"
)

// middleware gives every request an ID (echoed in X-Request-Id), turns a
// panic into a fixed 500 answer, and writes a debug access log. The log
// holds method, path, status and duration: never headers, query or body.
func (s *Server) middleware(name string, next http.Handler) http.Handler {
	log := s.log.Named(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := s.reqIDs.Next()
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(web.WithRequestID(r.Context(), id))
		sw := &web.StatusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic while serving a request", zap.String("request_id", id), zap.String("path", r.URL.Path), zap.Any("panic", p))
				if sw.Status == 0 {
					web.WriteServerError(sw)
				}
			}
			if s.metrics != nil {
				s.metrics.Observe(name, endpointOf(r), max(sw.Status, http.StatusOK), time.Since(start))
			}
			if ce := log.Check(zap.DebugLevel, "request"); ce != nil {
				ce.Write(zap.String("request_id", id), zap.String("method", r.Method), zap.String("path", r.URL.Path),
					zap.Int("status", sw.Status), zap.Duration("duration", time.Since(start)))
			}
		}()
		if !framed(sw, r) {
			return
		}
		next.ServeHTTP(sw, r)
	})
}

// framed refuses, with 400 and the connection closed, a request on a
// connection that carried a head with both Content-Length and
// Transfer-Encoding (request smuggling; RFC 9112 section 6.1). On TLS,
// which package framing cannot watch, it closes the connection after any
// HTTP/1 request with a Transfer-Encoding instead: net/http frames it by
// the Transfer-Encoding (which a proxy in front may not have done) and
// removes any Content-Length before handlers see it, so only closing keeps
// what follows from being read as another request.
func framed(w http.ResponseWriter, r *http.Request) bool {
	if framing.Ambiguous(r.Context()) {
		w.Header().Set("Connection", "close")
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "A request may not carry both Content-Length and Transfer-Encoding.")
		return false
	}
	if r.TLS != nil && r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
		w.Header().Set("Connection", "close")
	}
	return true
}

// publicEndpoints are the endpoint labels of the public listener.
var publicEndpoints = map[string]bool{
	"/.well-known/openid-configuration": true, "/.well-known/oauth-authorization-server": true, "/.well-known/jwks.json": true,
	"/oauth2/authorize": true, "/oauth2/token": true, "/oauth2/introspect": true, "/oauth2/revoke": true, "/userinfo": true,
	login.LoginPath: true, login.ConsentPath: true, login.LogoutPath: true, DevCallbackPath: true, "/health/live": true, "/health/ready": true,
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

// hsts sets Strict-Transport-Security (RFC 6797) on every answer to a
// request that came over TLS, when Config.HSTSMaxAge is positive. Never
// on plain HTTP: a browser ignores it there, and behind a proxy that ends
// TLS the proxy is the one to send it.
func (s *Server) hsts(next http.Handler) http.Handler {
	if s.cfg.HSTSMaxAge <= 0 {
		return next
	}
	value := "max-age=" + strconv.FormatInt(int64(s.cfg.HSTSMaxAge/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", value)
		}
		next.ServeHTTP(w, r)
	})
}
