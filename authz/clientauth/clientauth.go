// Package clientauth authenticates OAuth clients at the token,
// introspection and revocation endpoints: client secrets (HTTP Basic and
// form), private_key_jwt (RFC 7523), tls_client_auth and
// self_signed_tls_client_auth (RFC 8705), and public clients that only
// name themselves. It counts failed authentications in the store, so that
// every replica sees them, and cools off a client ID (or an address) that
// fails too often. Each client accepts exactly its registered method.
package clientauth

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/apikeys"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/certs"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/jwks"
	"github.com/idvauth/idvauth/authz/internal/outbound"
	"github.com/idvauth/idvauth/authz/internal/ratelimit"
	"github.com/idvauth/idvauth/authz/tracing"
	"github.com/idvauth/idvauth/storage"
)

// Store is what client authentication reads and writes.
type Store interface {
	GetClient(ctx context.Context, id string) (storage.Client, error)
	// Failures and AddFailure are the shared failed-authentication
	// counters of the lock-out.
	Failures(ctx context.Context, key string, now time.Time) (int, time.Time, error)
	AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	// UseAssertion records a client assertion's jti once; a second use is
	// storage.ErrAlreadyExists.
	UseAssertion(ctx context.Context, clientID, jti string, expires time.Time) error
}

// Config configures an Authenticator. Store, Audit, IPs and Issuer are
// required; the limits must be set (authz.Config supplies its defaults).
type Config struct {
	Store Store
	// Audit records the start of a cool-off.
	Audit *audit.Writer
	// IPs finds the address a request came from.
	IPs clientip.Resolver
	// Issuer is the server's issuer URL: the audience client assertions
	// must name (Issuer + "/oauth2/token" only for a client whose
	// TokenEndpointAudienceAllowed is set).
	Issuer string
	// DefaultAudience is the audience of clients that registered none.
	DefaultAudience string
	// MaxAccessTokenTTL caps a client's own access token lifetime.
	MaxAccessTokenTTL time.Duration
	// ClockSkew is how long a used assertion's jti is kept past its
	// expiry, beyond the leeway, for replicas whose clocks differ.
	ClockSkew time.Duration
	// TLS says the public listener serves TLS itself.
	TLS bool
	// ClientCAs are the CAs of tls_client_auth certificates; nil: no
	// mutual TLS.
	ClientCAs *certs.Reloading[*x509.CertPool]
	// CertHeader names the header in which a trusted proxy forwards the
	// client certificate; empty: none.
	CertHeader string
	// MaxFailures is how many failed authentications of one client ID
	// from one address, in Window, start a cool-off; MaxFailuresPerIP the
	// same per address.
	MaxFailures, MaxFailuresPerIP int
	// Window is the window (and cool-off) of the failure counts.
	Window time.Duration
	// LockCacheTTL is how long a replica trusts its last read of the
	// shared counters; no caching if zero or negative.
	LockCacheTTL time.Duration
	// TokenLimiter and IntrospectLimiter limit requests per authenticated
	// client at the token (and revocation) and introspection endpoints;
	// nil: no limit.
	TokenLimiter, IntrospectLimiter *ratelimit.Limiter
	// OnFailure, if set, is called for each failed authentication.
	OnFailure func()
	// OnLimited, if set, is called for each request refused by a limit
	// ("client" or "cooloff").
	OnLimited func(r *http.Request, limit string)
	// APIKeys checks API keys sent at the token endpoint in place of a
	// client's credentials; nil: API keys are refused.
	APIKeys *apikeys.Checker
	// Outbound says which internal addresses a client's jwks_uri may
	// reach; the zero value: none.
	Outbound outbound.Policy
	// Tracer, if set, traces jwks_uri fetches.
	Tracer trace.Tracer
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Log receives debug reasons of failures; zap.NewNop if nil.
	Log *zap.Logger
}

// Authenticator authenticates clients. Build it with New; it is safe for
// concurrent use.
type Authenticator struct {
	cfg   Config
	store Store
	log   *zap.Logger
	locks lockCache
	// parsedJWKS and jwksFetch hold clients' keys (private_key_jwt,
	// self_signed_tls_client_auth).
	parsedJWKS jwks.Cache
	jwksFetch  *jwks.Fetcher
	// compare checks a secret against a digest: compareSecret.
	compare func(hash []byte, secret string) error
	// verifyAssertion verifies an assertion with a key set:
	// (*parsedAssertion).verify. dummyKeys are dummyKeysJSON.
	verifyAssertion func(p *parsedAssertion, set *jose.JSONWebKeySet) (assertionClaims, error)
	dummyKeys       *jose.JSONWebKeySet
}

// New returns an authenticator with cfg.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Store == nil || cfg.Audit == nil || cfg.Issuer == "" {
		return nil, errors.New("clientauth: a store, an audit writer and the issuer are required")
	}
	if cfg.MaxFailures < 1 || cfg.MaxFailuresPerIP < 1 || cfg.Window <= 0 {
		return nil, fmt.Errorf("clientauth: failure limits (%d, %d) and window (%s) must be positive", cfg.MaxFailures, cfg.MaxFailuresPerIP, cfg.Window)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.OnFailure == nil {
		cfg.OnFailure = func() {}
	}
	if cfg.OnLimited == nil {
		cfg.OnLimited = func(*http.Request, string) {}
	}
	var dummy jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(dummyKeysJSON), &dummy); err != nil {
		return nil, fmt.Errorf("clientauth: dummy keys: %w", err)
	}
	return &Authenticator{cfg: cfg, store: cfg.Store, log: cfg.Log, jwksFetch: jwks.NewFetcher(cfg.Now, cfg.Outbound, func(rt http.RoundTripper) http.RoundTripper { return tracing.Transport(cfg.Tracer, rt) }),
		compare: compareSecret, verifyAssertion: (*parsedAssertion).verify, dummyKeys: &dummy}, nil
}

// now is the clock, in UTC.
func (a *Authenticator) now() time.Time { return a.cfg.Now().UTC() }

// LoadClient loads the client id from the store, with the server's
// defaults applied. A missing client is storage.ErrNotFound.
func (a *Authenticator) LoadClient(ctx context.Context, id string) (*Client, error) {
	rec, err := a.store.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	c := &Client{Rec: rec, Audience: rec.Audience, MaxTTL: a.cfg.MaxAccessTokenTTL}
	if len(c.Audience) == 0 {
		c.Audience = []string{a.cfg.DefaultAudience}
	}
	return c, nil
}
