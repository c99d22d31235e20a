package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/admin"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/dpop"
	"github.com/idvauth/idvauth/authz/fapi"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/login"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/authz/par"
	"github.com/idvauth/idvauth/keys"
)

// metadata is the authorization server metadata (RFC 8414) served at both
// well-known paths. It lists only what works.
type metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthSigningAlgValues  []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthSigningAlgValues     []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	ACRValuesSupported                         []string `json:"acr_values_supported"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	// TLSClientCertificateBoundAccessTokens: RFC 8705 section 3.3. The
	// mTLS endpoints are the ordinary ones (the listener asks for client
	// certificates without requiring them), so there are no
	// mtls_endpoint_aliases.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// RFC 9126 section 5; require_pushed_authorization_requests only when
	// the server requires it of every client.
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests,omitempty"`
	// RFC 9449 section 5.1.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
}

func (s *Server) buildDiscovery() ([]byte, error) {
	methods := s.clients.Methods(false)
	m := metadata{
		Issuer:                            s.cfg.Issuer,
		AuthorizationEndpoint:             s.cfg.Issuer + "/oauth2/authorize",
		TokenEndpoint:                     s.cfg.Issuer + "/oauth2/token",
		UserinfoEndpoint:                  s.cfg.Issuer + "/userinfo",
		JWKSURI:                           s.cfg.Issuer + "/.well-known/jwks.json",
		IntrospectionEndpoint:             s.cfg.Issuer + "/oauth2/introspect",
		RevocationEndpoint:                s.cfg.Issuer + "/oauth2/revoke",
		ScopesSupported:                   s.scopes.Names(),
		ResponseTypesSupported:            []string{"code"},
		GrantTypesSupported:               adminapi.Grants(),
		TokenEndpointAuthMethodsSupported: s.clients.Methods(true),
		IntrospectionEndpointAuthMethodsSupported: methods,
		RevocationEndpointAuthMethodsSupported:    s.clients.Methods(true),
		ResponseModesSupported:                    []string{"query"},
		CodeChallengeMethodsSupported:             []string{"S256"},
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          []string{s.cfg.IDTokenAlg, otherAlg(s.cfg.IDTokenAlg)},
		ClaimsSupported: []string{"iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "acr", "jti",
			"name", "preferred_username", "updated_at", "email"},
		ACRValuesSupported:                         mfa.Supported(),
		ClaimsParameterSupported:                   true,
		PromptValuesSupported:                      []string{"none", "login", "consent"},
		TokenEndpointAuthSigningAlgValuesSupported: clientauth.AssertionAlgs(),
		IntrospectionEndpointAuthSigningAlgValues:  clientauth.AssertionAlgs(),
		RevocationEndpointAuthSigningAlgValues:     clientauth.AssertionAlgs(),
		TLSClientCertificateBoundAccessTokens:      s.clients.MTLSEnabled(),
		AuthorizationResponseIssParameterSupported: true,
		PushedAuthorizationRequestEndpoint:         s.cfg.Issuer + par.Path,
		RequirePushedAuthorizationRequests:         s.cfg.RequirePAR,
		DPoPSigningAlgValuesSupported:              dpop.Algs(),
	}
	if s.cfg.Profile == fapi.Profile {
		// What the profile enforces (authz/fapi).
		m.TokenEndpointAuthMethodsSupported = fapi.OnlyAuthMethods(m.TokenEndpointAuthMethodsSupported)
		m.IntrospectionEndpointAuthMethodsSupported = fapi.OnlyAuthMethods(m.IntrospectionEndpointAuthMethodsSupported)
		m.RevocationEndpointAuthMethodsSupported = fapi.OnlyAuthMethods(m.RevocationEndpointAuthMethodsSupported)
		m.RequirePushedAuthorizationRequests, m.IDTokenSigningAlgValuesSupported = true, []string{fapi.IDTokenAlg}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("authz: encode discovery: %w", err)
	}
	return append(b, '\n'), nil
}

// otherAlg is the signing algorithm that alg is not: the ring keeps both.
func otherAlg(alg string) string {
	if alg == keys.RS256 {
		return keys.ES256
	}
	return keys.RS256
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
	mux.HandleFunc(login.MFAPath, s.signin.SecondFactor().MFA)
	mux.HandleFunc(login.EnrollPath, s.signin.SecondFactor().Enroll)
	mux.HandleFunc(login.AssetsPath, s.signin.Asset)
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
