// Package settings holds the Config of the authorization server: every
// setting, its default and the checks of a whole configuration.
package settings

import (
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/admin"
	"github.com/idvauth/idvauth/authz/internal/password"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
)

// Defaults of the settings in Config.
const (
	DefaultIssuer            = "http://127.0.0.1:8080"
	DefaultAdminURL          = "http://127.0.0.1:8081"
	DefaultAccessTokenTTL    = 5 * time.Minute
	DefaultMaxAccessTokenTTL = time.Hour
	DefaultMaxAPIKeyTTL      = 365 * 24 * time.Hour
	DefaultAudience          = "idv-api"
	DefaultAccessTokenAlg    = keys.ES256
	DefaultJWKSMaxAge        = 15 * time.Minute
	DefaultJanitorInterval   = 5 * time.Minute
	DefaultJanitorBatch      = 1000
	// DefaultAuditReadDelay bounds how long the audit entry of a read
	// (introspection, userinfo) may wait after its answer (IDVAUTH_AUDIT_READ_DELAY);
	// MaxAuditReadDelay bounds the setting.
	DefaultAuditReadDelay = 50 * time.Millisecond
	MaxAuditReadDelay     = 10 * time.Second
	// DefaultKeyRotationInterval is how long a signing key signs.
	DefaultKeyRotationInterval = 30 * 24 * time.Hour
	// DefaultKeyCheckInterval is how often every replica reloads the keys
	// and takes any rotation step that is due. Key changes reach replicas
	// on PostgreSQL at once through LISTEN/NOTIFY; this bounds the lag when
	// a notification is lost.
	DefaultKeyCheckInterval = 10 * time.Second
	// DefaultIDTokenAlg signs ID tokens of clients that registered no
	// id_token_signed_response_alg (OpenID Connect's default).
	DefaultIDTokenAlg = keys.RS256
	DefaultIDTokenTTL = 15 * time.Minute
	DefaultCodeTTL    = time.Minute
	// ProfileFAPI2 is the FAPI 2.0 Security Profile (authz/fapi.Profile).
	ProfileFAPI2 = "fapi2"
	MaxCodeTTL   = 10 * time.Minute
	// DefaultPARTTL is how long a pushed authorization request may be
	// started (RFC 9126 expires_in); MaxPARTTL bounds it.
	DefaultPARTTL      = time.Minute
	MaxPARTTL          = 10 * time.Minute
	DefaultRefreshTTL  = 14 * 24 * time.Hour
	DefaultSessionTTL  = 8 * time.Hour
	DefaultLoginWindow = 15 * time.Minute
	// MFAOptional and MFARequired are the values of Config.MFA.
	MFAOptional         = "optional"
	MFARequired         = "required"
	DefaultLoginMaxFail = 5
	// DefaultLoginMaxFailIP is per source address: a shared office NAT may
	// hold many people who mistype.
	DefaultLoginMaxFailIP = 50
	// ClockSkew is the clock difference between us and resource servers
	// that key retention allows for.
	ClockSkew = 5 * time.Minute
)

// DefaultDatabaseTimeout is how long a request waits for the store at
// most: a token request takes a few milliseconds, so two seconds only
// pass when the database is unreachable or overwhelmed.
const DefaultDatabaseTimeout = 2 * time.Second

// DefaultRefreshMaxLifetime bounds the refresh tokens of one grant,
// however often they rotate.
const DefaultRefreshMaxLifetime = 30 * 24 * time.Hour

// DefaultHSTSMaxAge is the Strict-Transport-Security max-age of the public
// listener's HTTPS answers: one year.
const DefaultHSTSMaxAge = 365 * 24 * time.Hour

// Argon2 are the argon2id parameters of new password hashes.
type Argon2 = password.Params

// The default argon2id parameters (RFC 9106's second recommended option,
// two lanes).
const (
	DefaultArgon2Time      = password.DefaultTime
	DefaultArgon2MemoryKiB = password.DefaultMemoryKiB
	DefaultArgon2Threads   = password.DefaultThreads
	// MaxPasswordHashConcurrency bounds PasswordHashConcurrency.
	MaxPasswordHashConcurrency = password.MaxConcurrency
)

// Scope is a scope registered in addition to the built-in ones.
type Scope = scopes.Scope

// Config configures a Server. Zero values take the documented defaults;
// Store, Secrets and AdminToken are required.
type Config struct {
	// Issuer is the issuer URL, the "iss" of every token; DefaultIssuer
	// if empty. It must be an absolute http or https URL without query
	// or fragment.
	Issuer string
	// Store keeps clients, tokens and keys. If nil, New opens the store
	// that DatabaseURL names, or, with InMemory, an in-memory store; with
	// none of the three New fails (never a silent fallback).
	Store storage.Store
	// InMemory asks for an in-memory store when Store and DatabaseURL are
	// unset: nothing persists. Development only (serve --dev).
	InMemory bool
	// DatabaseURL is the PostgreSQL connection URL; its schema must be
	// migrated (Migrate).
	DatabaseURL string
	// PersonKeysDatabaseURL is the PostgreSQL database of the person-key
	// store: people's wrapped data keys, apart from the main database, so
	// that an erasure reaches the main database's backups
	// (docs/sealing.md). Empty: the keys stay in the main database (a
	// warning at start), or, with InMemory, in a memory store of their own.
	PersonKeysDatabaseURL string
	// PersonKeys is a person-key store the caller opened (tests); it takes
	// the place of PersonKeysDatabaseURL and is not closed by the server.
	PersonKeys storage.PersonKeyStore
	// DatabaseMaxConns caps the PostgreSQL pool when the URL sets no
	// pool_max_conns; postgres.DefaultMaxConns() if zero.
	DatabaseMaxConns int32
	// DatabaseTimeout bounds what a request of the public listener waits
	// for, the store above all: past it the request is answered 503 with
	// Retry-After, never left hanging through an outage.
	// DefaultDatabaseTimeout if zero.
	DatabaseTimeout time.Duration
	// Secrets encrypt the signing keys at rest: the first encrypts, all
	// decrypt. Each must be at least keys.MinSecretLen characters.
	Secrets []string
	// AdminToken is the bearer token of the admin API.
	AdminToken string
	// Scopes are registered in addition to the built-in ones.
	Scopes []scopes.Scope
	// AccessTokenTTL is the access token lifetime; DefaultAccessTokenTTL
	// if zero.
	AccessTokenTTL time.Duration
	// MaxAccessTokenTTL caps a client's own access_token_ttl;
	// DefaultMaxAccessTokenTTL if zero.
	MaxAccessTokenTTL time.Duration
	// MaxAPIKeyTTL caps the lifetime of API keys; DefaultMaxAPIKeyTTL
	// if zero. (A key's default lifetime is 90 days, or this if less.)
	MaxAPIKeyTTL time.Duration
	// AuditSink, if set, is where the audit trail is shipped off the
	// host: https://host/path (JSON lines) or syslog+tls://host:port.
	// AuditSinkToken is a bearer token for an https sink; AuditSinkCA a
	// PEM file of the CAs its certificate chains to (the system's roots
	// if empty).
	AuditSink, AuditSinkToken, AuditSinkCA string
	// TracerProvider, if set, receives the server's OpenTelemetry spans
	// (requests, database statements, audit appends, outbound fetches);
	// nil: no tracing, at no cost.
	TracerProvider trace.TracerProvider
	// DefaultAudience is the "aud" of tokens for clients that registered
	// no audience; DefaultAudience if empty.
	DefaultAudience string
	// AdminAudience is the identifier of the admin API as a resource
	// server: the admin API accepts an access token only if its "aud"
	// names it. The issuer followed by /admin if empty.
	AdminAudience string
	// AdminURL is where browsers and the CLI reach the admin listener
	// (its scheme, host and port): the console's redirect URI and the
	// operators' enrollment links are built on it. If empty, links use
	// the Host of the request that asks for them, and the console's
	// redirect URI DefaultAdminURL.
	AdminURL string
	// AccessTokenAlg signs access tokens: ES256 (default) or RS256.
	AccessTokenAlg string
	// JWKSMaxAge is the Cache-Control max-age of the JWKS;
	// DefaultJWKSMaxAge if zero.
	JWKSMaxAge time.Duration
	// KeyRotationInterval is how long a signing key signs before the next
	// one takes over; DefaultKeyRotationInterval if zero, never (only by
	// hand) if negative. It must be longer than KeyPrePublish().
	KeyRotationInterval time.Duration
	// KeyCheckInterval is how often Serve reloads the keys and takes due
	// rotation steps; DefaultKeyCheckInterval if zero.
	KeyCheckInterval time.Duration
	// JanitorInterval is how often Serve deletes expired tokens;
	// DefaultJanitorInterval if zero, never if negative.
	JanitorInterval time.Duration
	// JanitorBatch is how many rows one delete statement removes at most;
	// DefaultJanitorBatch if zero.
	JanitorBatch int
	// IDTokenAlg signs the ID tokens of clients that registered no
	// id_token_signed_response_alg: RS256 (default) or ES256.
	IDTokenAlg string
	// IDTokenTTL is the ID token lifetime; DefaultIDTokenTTL if zero.
	IDTokenTTL time.Duration
	// CodeTTL is how long an authorization code may be redeemed;
	// DefaultCodeTTL if zero, at most MaxCodeTTL.
	CodeTTL time.Duration
	// PARTTL is how long a pushed authorization request's request_uri
	// may be started at the authorization endpoint (RFC 9126); DefaultPARTTL
	// if zero, at most MaxPARTTL.
	PARTTL time.Duration
	// RequirePAR accepts only pushed authorization requests at the
	// authorization endpoint, for every client (RFC 9126 section 5); a
	// client's require_pushed_authorization_requests does it for one.
	RequirePAR bool
	// DPoPNonce makes every DPoP proof repeat a server nonce (RFC 9449
	// section 8). Nonces are HMACs of a time slot under a key derived
	// from Secrets, so every replica accepts the others'.
	DPoPNonce bool
	// Profile holds every client to a security profile: "fapi2" (the
	// FAPI 2.0 Security Profile, see authz/fapi), or "" for none (a
	// client's own profile then applies to it alone). Under fapi2 the ID
	// token algorithm defaults to ES256 and the code lifetime is at most
	// a minute.
	Profile string
	// RefreshTokenTTL is the lifetime of a refresh token (each rotation
	// issues a new one with a full lifetime, up to
	// RefreshTokenMaxLifetime); DefaultRefreshTTL if zero.
	RefreshTokenTTL time.Duration
	// RefreshTokenMaxLifetime is how long the refresh tokens of one grant
	// live in all, from the redemption of its code, however often they
	// rotate; DefaultRefreshMaxLifetime if zero, at least
	// RefreshTokenTTL.
	RefreshTokenMaxLifetime time.Duration
	// BackchannelLogoutTimeout bounds one back-channel logout delivery;
	// 5s if zero. BackchannelLogoutRetry is the wait after a failed one,
	// doubled after each further failure (5 attempts in all); 10s if zero.
	// Not settings of the command line: for tests and embedders.
	BackchannelLogoutTimeout, BackchannelLogoutRetry time.Duration
	// SessionTTL is how long a browser stays signed in;
	// DefaultSessionTTL if zero.
	SessionTTL time.Duration
	// LoginMaxFailures is how many failed sign-ins one account may have in
	// LoginWindow before further attempts are refused until the window
	// ends; DefaultLoginMaxFail if zero.
	LoginMaxFailures int
	// LoginMaxFailuresPerIP is the same limit per source address;
	// DefaultLoginMaxFailIP if zero.
	LoginMaxFailuresPerIP int
	// LoginWindow is the window of the login limits; DefaultLoginWindow
	// if zero.
	LoginWindow time.Duration
	// FourEyes holds the sensitive admin calls (erasing a person,
	// retiring a key with its tokens, granting owner or admin, deleting a
	// client) until a second operator approves them; see authz/foureyes.
	FourEyes bool
	// MFA is MFAOptional (a second factor for people who set one up and
	// for clients and requests that ask for it) or MFARequired (everyone
	// sets one up at their next sign-in); MFAOptional if empty.
	MFA string
	// Argon2 are the parameters of new password hashes; the
	// DefaultArgon2 constants where zero.
	Argon2 Argon2
	// PasswordHashConcurrency is how many password hashes of Argon2's
	// memory run at once (login, and people created through the admin
	// API); past it a request gets 503 with Retry-After without hashing.
	// If zero, as many as fit in a quarter of the memory limit (the lowest
	// of GOMEMLIMIT, the cgroup limit and the machine's memory), at most 2
	// hashes of the default 64 MiB per GOMAXPROCS (more of smaller ones),
	// at least 1: see password.DefaultConcurrency.
	// The login form's per-address burst is capped to it.
	PasswordHashConcurrency int
	// TrustedProxies are the addresses of reverse proxies in front of the
	// public listener. Only a request whose TCP peer is one of them has
	// its X-Forwarded-For believed (for the client address that rate
	// limits, login throttling and the audit trail use). None by default:
	// the peer is the client.
	TrustedProxies []netip.Prefix
	// AllowPrivateOutbound lists internal ranges (loopback, link-local,
	// private, shared, unspecified) that requests idvauth makes to URLs
	// clients register (jwks_uri, back-channel logout deliveries) may
	// reach all the same. None by default: such URLs are refused at
	// registration when they name an internal IP address, and when their
	// host name resolves to one at connection time (so DNS rebinding
	// cannot reach the server's own network either).
	AllowPrivateOutbound []netip.Prefix
	// TLSCertFile and TLSKeyFile (PEM) make the public listener serve
	// TLS (1.2 or later, modern cipher suites); both or neither. They are
	// read again when they change, without a restart.
	TLSCertFile, TLSKeyFile string
	// HSTSMaxAge is the max-age of the Strict-Transport-Security header
	// on every HTTPS answer of the public listener (never on plain HTTP);
	// DefaultHSTSMaxAge if zero, no header if negative. Whole seconds.
	HSTSMaxAge time.Duration
	// TLSClientCAFile (PEM) holds the CAs of tls_client_auth client
	// certificates. With it, the public listener asks every TLS client
	// for a certificate (without requiring one) and the mTLS client
	// authentication methods are enabled. Reloaded like TLSCertFile.
	TLSClientCAFile string
	// TLSClientCertHeader names the request header in which a trusted
	// proxy (TrustedProxies) that ends TLS forwards the client
	// certificate, URL-encoded PEM like nginx's $ssl_client_escaped_cert.
	// It is ignored on requests from anyone else. Empty: none.
	TLSClientCertHeader string
	// RateLimits are the token-bucket limits of the OAuth endpoints and
	// the login form; defaults where zero, off where negative.
	RateLimits RateLimits
	// ClientAuthMaxFailures is how many failed client authentications of
	// one client ID from one address, in ClientAuthWindow, start a
	// cool-off: that client ID is refused from that address until the
	// window ends. DefaultClientAuthMaxFailures if zero.
	ClientAuthMaxFailures int
	// ClientAuthMaxFailuresPerIP is the same limit per address, whatever
	// the client ID; DefaultClientAuthMaxFailuresPerIP if zero.
	ClientAuthMaxFailuresPerIP int
	// ClientAuthWindow is the window (and cool-off) of the client
	// authentication limits; DefaultClientAuthWindow if zero.
	ClientAuthWindow time.Duration
	// ClientLockCacheTTL is how long a replica trusts its last read of the
	// shared failure counters of one client ID and address (a cool-off
	// that another replica starts is seen within it);
	// DefaultClientLockCacheTTL if zero, no caching if negative.
	ClientLockCacheTTL time.Duration
	// MetricsToken, if set, is the bearer token /metrics requires; without
	// it /metrics on the admin listener is open (New logs a warning unless
	// Dev). It must be neither the admin token nor one of the secrets.
	MetricsToken string
	// AuditDisabled turns the audit trail off. It is on by default; turn
	// it off only to measure what it costs.
	AuditDisabled bool
	// AuditFastCommit answers a request once its audit entry is committed
	// but before PostgreSQL flushed it to disk: the entry survives any
	// crash or kill of idvauth, not a crash of PostgreSQL. Faster; off by
	// default (see postgres.Config.AuditFastCommit).
	AuditFastCommit bool
	// AuditRetention is how long audit entries are kept: older leading
	// entries are dropped behind a checkpoint by the janitor. Zero keeps
	// everything.
	AuditRetention time.Duration
	// AuditReadDelay, if positive, answers reads (introspection, userinfo)
	// before their audit entries are stored, which happens within this
	// delay: a kill of idvauth loses at most that window of read entries,
	// never an entry of a change. Zero stores them before the answer.
	// The command's default is DefaultAuditReadDelay.
	AuditReadDelay time.Duration
	// Dev serves DevCallbackPath, the page the demo web client of
	// SeedDemo lands on. Development only.
	Dev bool
	// Logger receives the server's logs; zap.NewNop if nil.
	Logger *zap.Logger
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
	// GenerateKey makes the private key of a new signing key of alg;
	// nil: a fresh random one. For tests (keys.Config.Generate).
	GenerateKey func(alg string) (crypto.Signer, error)
}

// WithDefaults fills in defaults and validates the result.
func (c Config) WithDefaults() (Config, error) {
	c.fillDefaults()
	return c, c.validate()
}

// fillDefaults sets every zero setting to its default.
func (c *Config) fillDefaults() {
	setDefault(&c.Issuer, DefaultIssuer)
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	setDefault(&c.AccessTokenTTL, DefaultAccessTokenTTL)
	setDefault(&c.MaxAccessTokenTTL, DefaultMaxAccessTokenTTL)
	setDefault(&c.MaxAPIKeyTTL, DefaultMaxAPIKeyTTL)
	setDefault(&c.DefaultAudience, DefaultAudience)
	setDefault(&c.AdminAudience, c.Issuer+"/admin")
	c.AdminURL = strings.TrimSuffix(c.AdminURL, "/")
	setDefault(&c.AccessTokenAlg, DefaultAccessTokenAlg)
	setDefault(&c.JWKSMaxAge, DefaultJWKSMaxAge)
	c.DatabaseTimeout = max(c.DatabaseTimeout, 0)
	setDefault(&c.DatabaseTimeout, DefaultDatabaseTimeout)
	setDefault(&c.JanitorInterval, DefaultJanitorInterval)
	setDefault(&c.HSTSMaxAge, DefaultHSTSMaxAge)
	c.JanitorBatch = max(c.JanitorBatch, 0)
	setDefault(&c.JanitorBatch, DefaultJanitorBatch)
	setDefault(&c.KeyRotationInterval, DefaultKeyRotationInterval)
	c.KeyCheckInterval = max(c.KeyCheckInterval, 0)
	setDefault(&c.KeyCheckInterval, DefaultKeyCheckInterval)
	if c.Profile == ProfileFAPI2 {
		setDefault(&c.IDTokenAlg, keys.ES256)
	}
	setDefault(&c.IDTokenAlg, DefaultIDTokenAlg)
	setDefault(&c.IDTokenTTL, DefaultIDTokenTTL)
	setDefault(&c.CodeTTL, DefaultCodeTTL)
	setDefault(&c.PARTTL, DefaultPARTTL)
	setDefault(&c.RefreshTokenTTL, DefaultRefreshTTL)
	setDefault(&c.RefreshTokenMaxLifetime, DefaultRefreshMaxLifetime)
	setDefault(&c.SessionTTL, DefaultSessionTTL)
	setDefault(&c.LoginWindow, DefaultLoginWindow)
	setDefault(&c.MFA, MFAOptional)
	c.RateLimits = c.RateLimits.WithDefaults()
	setDefault(&c.ClientAuthWindow, DefaultClientAuthWindow)
	setDefault(&c.ClientLockCacheTTL, DefaultClientLockCacheTTL)
	setDefault(&c.ClientAuthMaxFailures, DefaultClientAuthMaxFailures)
	setDefault(&c.ClientAuthMaxFailuresPerIP, DefaultClientAuthMaxFailuresPerIP)
	setDefault(&c.LoginMaxFailures, DefaultLoginMaxFail)
	setDefault(&c.LoginMaxFailuresPerIP, DefaultLoginMaxFailIP)
	c.Argon2 = c.Argon2.WithDefaults()
	if c.PasswordHashConcurrency == 0 {
		c.PasswordHashConcurrency = password.DefaultConcurrency(c.Argon2.MemoryKiB)
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// setDefault sets *p to def if it is the zero value.
func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// validate explains every setting that is wrong, or returns nil.
func (c Config) validate() error {
	var errs []error
	for _, check := range []func() error{
		func() error { return validIssuer(c.Issuer) },
		c.validateStore,
		c.validateTokens,
		c.validateDurations,
		c.validateLogin,
		c.validateTLS,
		c.validateKeys,
	} {
		if err := check(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c Config) validateStore() error {
	var errs []error
	if c.Store == nil && c.DatabaseURL == "" && !c.InMemory {
		errs = append(errs, errors.New("no store: set a database URL (IDVAUTH_DATABASE_URL), or ask for an in-memory store (development only)"))
	}
	if len(c.Secrets) == 0 {
		errs = append(errs, errors.New("no secrets configured (IDVAUTH_SECRETS)"))
	}
	if c.AdminToken != "" && len(c.AdminToken) < 32 {
		errs = append(errs, errors.New("the admin token (IDVAUTH_ADMIN_TOKEN) must be at least 32 characters"))
	}
	if c.MetricsToken != "" {
		// A scraper holds the metrics token: it must open nothing else.
		if c.AdminToken != "" && c.MetricsToken == c.AdminToken {
			errs = append(errs, errors.New("the metrics token (IDVAUTH_METRICS_TOKEN) must not be the admin token"))
		}
		if slices.Contains(c.Secrets, c.MetricsToken) {
			errs = append(errs, errors.New("the metrics token (IDVAUTH_METRICS_TOKEN) must not be one of the secrets (IDVAUTH_SECRETS)"))
		}
	}
	return errors.Join(errs...)
}

func (c Config) validateTokens() error {
	var errs []error
	if c.AccessTokenTTL < time.Second || c.AccessTokenTTL > c.MaxAccessTokenTTL {
		errs = append(errs, fmt.Errorf("access token lifetime %s must be between 1s and the maximum %s", c.AccessTokenTTL, c.MaxAccessTokenTTL))
	}
	if !keys.ValidAlg(c.AccessTokenAlg) {
		errs = append(errs, fmt.Errorf("access token algorithm %q is not supported (use ES256, RS256 or PS256)", c.AccessTokenAlg))
	}
	if !keys.ValidAlg(c.IDTokenAlg) {
		errs = append(errs, fmt.Errorf("ID token algorithm %q is not supported (use RS256, ES256 or PS256)", c.IDTokenAlg))
	}
	if c.CodeTTL < time.Second || c.CodeTTL > MaxCodeTTL {
		errs = append(errs, fmt.Errorf("authorization code lifetime %s must be between 1s and %s", c.CodeTTL, MaxCodeTTL))
	}
	if c.PARTTL < time.Second || c.PARTTL > MaxPARTTL {
		errs = append(errs, fmt.Errorf("pushed authorization request lifetime %s must be between 1s and %s", c.PARTTL, MaxPARTTL))
	}
	switch c.Profile {
	case "":
	case ProfileFAPI2:
		if c.IDTokenAlg != keys.ES256 && c.IDTokenAlg != keys.PS256 {
			errs = append(errs, fmt.Errorf("profile fapi2: the ID token algorithm must be ES256 or PS256 (FAPI 2.0), not %s", c.IDTokenAlg))
		}
		if c.CodeTTL > time.Minute {
			errs = append(errs, fmt.Errorf("profile fapi2: the authorization code lifetime %s must be at most 1m (FAPI 2.0)", c.CodeTTL))
		}
	default:
		errs = append(errs, fmt.Errorf("profile %q is not supported (use fapi2, or leave it empty)", c.Profile))
	}
	if c.AuditReadDelay < 0 || c.AuditReadDelay > MaxAuditReadDelay {
		errs = append(errs, fmt.Errorf("audit read delay %s must be between 0 and %s", c.AuditReadDelay, MaxAuditReadDelay))
	}
	return errors.Join(errs...)
}

func (c Config) validateDurations() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ID token lifetime", c.IDTokenTTL}, {"refresh token lifetime", c.RefreshTokenTTL}, {"session lifetime", c.SessionTTL}, {"login window", c.LoginWindow},
		{"API key maximum lifetime", c.MaxAPIKeyTTL}} {
		if d.v < time.Second {
			errs = append(errs, fmt.Errorf("%s %s must be at least 1s", d.name, d.v))
		}
	}
	if c.RefreshTokenMaxLifetime < c.RefreshTokenTTL {
		errs = append(errs, fmt.Errorf("refresh token maximum lifetime %s must be at least the refresh token lifetime %s", c.RefreshTokenMaxLifetime, c.RefreshTokenTTL))
	}
	if c.HSTSMaxAge > 0 && c.HSTSMaxAge < time.Second {
		errs = append(errs, fmt.Errorf("HSTS max-age %s must be at least 1s (or 0 to send no Strict-Transport-Security)", c.HSTSMaxAge))
	}
	return errors.Join(errs...)
}

func (c Config) validateLogin() error {
	var errs []error
	if c.LoginMaxFailures < 1 || c.LoginMaxFailuresPerIP < 1 {
		errs = append(errs, errors.New("login failure limits must be at least 1"))
	}
	if c.MFA != MFAOptional && c.MFA != MFARequired {
		errs = append(errs, fmt.Errorf("mfa %q must be %s or %s", c.MFA, MFAOptional, MFARequired))
	}
	if c.Argon2.MemoryKiB < 8*uint32(c.Argon2.Threads) || c.Argon2.MemoryKiB > password.MaxMemoryKiB {
		errs = append(errs, fmt.Errorf("argon2 memory %d KiB must be between 8 KiB per thread and %d KiB", c.Argon2.MemoryKiB, password.MaxMemoryKiB))
	}
	if c.PasswordHashConcurrency < 1 || c.PasswordHashConcurrency > MaxPasswordHashConcurrency {
		errs = append(errs, fmt.Errorf("password hash concurrency %d must be between 1 and %d", c.PasswordHashConcurrency, MaxPasswordHashConcurrency))
	}
	if err := admin.ValidAudience(c.DefaultAudience); err != nil {
		errs = append(errs, fmt.Errorf("default audience: %w", err))
	}
	if err := admin.ValidAudience(c.AdminAudience); err != nil {
		errs = append(errs, fmt.Errorf("admin audience: %w", err))
	}
	if u, err := url.Parse(c.AdminURL); c.AdminURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil) {
		errs = append(errs, fmt.Errorf("admin URL %q must be an http(s) URL with a host and nothing after it", c.AdminURL))
	}
	return errors.Join(errs...)
}

func (c Config) validateTLS() error {
	var errs []error
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLS needs both a certificate file and a key file (IDVAUTH_TLS_CERT, IDVAUTH_TLS_KEY)"))
	}
	if c.TLSClientCAFile != "" && c.TLSCertFile == "" && c.TLSClientCertHeader == "" {
		errs = append(errs, errors.New("a TLS client CA needs TLS on the listener (IDVAUTH_TLS_CERT) or a forwarded certificate header (IDVAUTH_TLS_CLIENT_CERT_HEADER)"))
	}
	if h := c.TLSClientCertHeader; h != "" {
		if len(c.TrustedProxies) == 0 {
			errs = append(errs, errors.New("a forwarded client certificate header needs trusted proxies (IDVAUTH_TRUSTED_PROXIES)"))
		}
		if strings.IndexFunc(h, func(r rune) bool {
			return !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) >= 0 {
			errs = append(errs, fmt.Errorf("forwarded client certificate header %q must be a header name (letters, digits, '-')", h))
		}
	}
	return errors.Join(errs...)
}

func (c Config) validateKeys() error {
	var errs []error
	if c.JWKSMaxAge < 0 {
		errs = append(errs, errors.New("JWKS max-age must not be negative"))
	}
	if sc := c.KeySchedule(); sc.Every > 0 && sc.Every <= sc.PrePublish {
		errs = append(errs, fmt.Errorf("key rotation interval %s must be longer than the %s a new key is published before it signs (twice the JWKS max-age plus %s)",
			sc.Every, sc.PrePublish, c.KeyCheckInterval))
	}
	return errors.Join(errs...)
}

func validIssuer(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("issuer %q must be an absolute http(s) URL without query, fragment or user info", s)
	}
	return nil
}

// KeySchedule is the rotation timeline that follows from the settings
// (after defaults): a next key is published two JWKS cache lifetimes plus
// one key check before it signs, so that every resource server's cached
// JWKS holds it even if a replica saw it late; a retired key stays
// published for the longest access token lifetime plus clock skew and one
// key check, so that every token it signed expires first.
func (c Config) KeySchedule() keys.Schedule {
	sc := keys.Schedule{
		PrePublish: 2*c.JWKSMaxAge + c.KeyCheckInterval,
		Retain:     c.MaxAccessTokenTTL + ClockSkew + c.KeyCheckInterval,
	}
	if c.KeyRotationInterval > 0 {
		sc.Every = c.KeyRotationInterval
	}
	return sc
}

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

func (rl RateLimits) WithDefaults() RateLimits {
	setDefault(&rl.TokenPerClient, DefaultRateTokenPerClient)
	setDefault(&rl.IntrospectPerClient, DefaultRateIntrospectPerClient)
	setDefault(&rl.PerIP, DefaultRatePerIP)
	setDefault(&rl.LoginPerIP, DefaultRateLoginPerIP)
	setDefault(&rl.FailedPerIP, DefaultRateFailedPerIP)
	return rl
}
