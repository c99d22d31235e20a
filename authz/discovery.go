package authz

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/account"
	"github.com/idvauth/idvauth/authz/admin"
	"github.com/idvauth/idvauth/authz/discovery"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/login"
	"github.com/idvauth/idvauth/authz/par"
)

func (s *Server) buildDiscovery() ([]byte, error) {
	return discovery.Build(discovery.Facts{
		Issuer: s.cfg.Issuer, Scopes: s.scopes.Names(), IDTokenAlg: s.cfg.IDTokenAlg, Profile: s.cfg.Profile,
		TokenAuthMethods: s.clients.Methods(true), IntrospectionAuthMethods: s.clients.Methods(false),
		MTLS: s.clients.MTLSEnabled(), RequirePAR: s.cfg.RequirePAR,
	})
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	if !web.AllowGet(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(s.discovery)
}

// handleJWKS serves the public keys with a max-age and an ETag.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if !web.AllowGet(w, r) {
		return
	}
	body, etag := s.ring.JWKS()
	h := w.Header()
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.cfg.JWKSMaxAge/time.Second)))
	h.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(body)
}

func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	if !web.AllowGet(w, r) {
		return
	}
	writeStatus(w, http.StatusOK, "ok")
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if !web.AllowGet(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		s.log.Warn("not ready", zap.Error(err))
		writeStatus(w, http.StatusServiceUnavailable, "unavailable")
		return
	}
	writeStatus(w, http.StatusOK, "ok")
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(`{"status":"` + status + `"}` + "\n"))
}

// PublicHandler returns the handler of the public listener.
func (s *Server) PublicHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", s.handleDiscovery)
	mux.HandleFunc("/.well-known/oauth-authorization-server", s.handleDiscovery)
	mux.HandleFunc("/.well-known/jwks.json", s.handleJWKS)
	mux.HandleFunc("/oauth2/authorize", s.signin.Authorize)
	mux.HandleFunc("/oauth2/token", s.limitIP(s.handleToken))
	mux.HandleFunc(par.Path, s.limitIP(s.par.ServeHTTP))
	mux.HandleFunc("/userinfo", s.handleUserinfo)
	mux.HandleFunc(login.LoginPath, s.signin.Login)
	mux.HandleFunc(login.ConsentPath, s.signin.Consent)
	mux.HandleFunc(login.LogoutPath, s.signin.Logout)
	mux.HandleFunc(login.EndSessionPath, s.signin.Logout)
	mux.HandleFunc(login.MFAPath, s.signin.SecondFactor().MFA)
	mux.HandleFunc(login.EnrollPath, s.signin.SecondFactor().Enroll)
	mux.HandleFunc(login.AssetsPath, s.signin.Asset)
	for path, h := range s.signin.Passkeys().Routes() {
		mux.HandleFunc(path, h)
	}
	mux.Handle(account.Path, s.account)
	mux.Handle(account.Path+"/", s.account)
	if s.cfg.Dev {
		mux.HandleFunc(admin.DemoCallbackPath, s.demo.Callback)
	}
	mux.HandleFunc("/oauth2/introspect", s.limitIP(s.handleIntrospect))
	mux.HandleFunc("/oauth2/revoke", s.limitIP(s.handleRevoke))
	mux.HandleFunc("/health/live", s.handleLive)
	mux.HandleFunc("/health/ready", s.handleReady)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		web.WriteError(w, http.StatusNotFound, "not_found", "No such endpoint.")
	})
	return s.middleware("public", web.HSTS(s.cfg.HSTSMaxAge, s.clients.StripCertHeader(mux)))
}
