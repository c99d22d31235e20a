// Package login serves the person-facing side of the authorization-code
// flow: /oauth2/authorize decides whether the person must sign in or
// consent, and the login and consent forms post back with the original
// request, which is parsed and checked again from scratch (a form field is
// as untrusted as the first request). Nothing about a pending request by
// value is kept on the server or in cookies; the browser session is. A
// pushed request (RFC 9126) is kept by its Pushed resolver, and the forms
// carry its reference instead. It also serves
// logout, and owns the browser session cookie, CSRF tokens, the sign-in
// throttling and the HTML pages' security headers.
package login

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/password"
	"github.com/idvauth/idvauth/authz/internal/ratelimit"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/logout"
	"github.com/idvauth/idvauth/authz/passkey"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// Paths of the person-facing pages.
const (
	LoginPath   = "/login"
	ConsentPath = "/consent"
	LogoutPath  = "/logout"
	// EndSessionPath is the OpenID Connect end-session endpoint; it
	// serves the same as LogoutPath.
	EndSessionPath = "/oauth2/logout"
	// MFAPath takes the second factor, EnrollPath sets one up.
	MFAPath    = "/login/mfa"
	EnrollPath = "/login/mfa/enroll"
)

// Store is what the pages read and write: people, their browser sessions
// and consents, and the shared sign-in failure counters.
type Store interface {
	GetUser(ctx context.Context, id string) (storage.User, error)
	GetUserByUsername(ctx context.Context, username string) (storage.User, error)
	GetBrowserSession(ctx context.Context, id string) (storage.BrowserSession, error)
	CreateBrowserSession(ctx context.Context, s storage.BrowserSession) error
	DeleteBrowserSession(ctx context.Context, id string) error
	GetConsent(ctx context.Context, userID, clientID string) (storage.Consent, error)
	SaveConsent(ctx context.Context, c storage.Consent) error
	ReserveAttempt(ctx context.Context, key string, now time.Time, window time.Duration, limit int) (bool, int, time.Time, error)
	ReleaseAttempt(ctx context.Context, key string, now time.Time) error
}

// Provider is the part of fosite the authorization endpoint uses.
type Provider interface {
	NewAuthorizeRequest(ctx context.Context, r *http.Request) (fosite.AuthorizeRequester, error)
	NewAuthorizeResponse(ctx context.Context, ar fosite.AuthorizeRequester, session fosite.Session) (fosite.AuthorizeResponder, error)
	WriteAuthorizeResponse(ctx context.Context, rw http.ResponseWriter, ar fosite.AuthorizeRequester, resp fosite.AuthorizeResponder)
}

// Config configures a Handler. Every field without a documented default is
// required.
type Config struct {
	Store    Store
	Provider Provider
	// NewSession makes the fosite session of a grant for the person
	// userID, with the ID token claims of the sign-in.
	NewSession func(userID string, claims *jwt.IDTokenClaims) fosite.Session
	Scopes     *scopes.Registry
	// Pushed resolves pushed authorization requests; nil: request_uri is
	// refused.
	Pushed Pushed
	// RequirePAR accepts only pushed authorization requests, from every
	// client.
	RequirePAR bool
	// Profile is the server's security profile ("fapi2" or ""); a
	// client's own applies to it too (authz/fapi).
	Profile string
	// AudienceAllowed checks requested audiences against a client's.
	AudienceAllowed func(allowed, requested []string) error
	Pages           *templates.Pages
	Audit           *audit.Writer
	IPs             clientip.Resolver
	// Issuer is the issuer URL; an https issuer makes cookies Secure and
	// __Host- prefixed.
	Issuer string
	// SessionTTL is how long a browser stays signed in.
	SessionTTL time.Duration
	// LoginMaxFailures and LoginMaxFailuresPerIP are the failed sign-ins
	// per account and per address in LoginWindow before sign-in pauses.
	LoginMaxFailures, LoginMaxFailuresPerIP int
	LoginWindow                             time.Duration
	// ThrottleSecret keys the hash of usernames in failure counters.
	ThrottleSecret []byte
	// Argon2 are the parameters of the hash an unknown username is
	// checked against, so that it costs what a wrong password does.
	Argon2 password.Params
	// Hasher checks passwords within the process's hashing budget: past
	// it a login gets 503 without hashing. If nil, one of Argon2 with the
	// default concurrency.
	Hasher *password.Hasher
	// LoginLimiter limits login form posts per address; nil: no limit.
	LoginLimiter *ratelimit.Limiter
	// OnLimited, if set, is called for each request refused by a limit.
	OnLimited func(r *http.Request, limit string)
	// Logout ends browser sessions, checks end-session requests and
	// records the grants of each session.
	Logout *logout.Service
	// Factors keeps people's second factors; it is given and returns
	// factor secrets in the clear and must seal them at rest (authz/seal
	// does, under the person's data key).
	Factors FactorStore
	// Sealer seals the pending state between the two steps of a sign-in.
	Sealer *keys.Sealer
	// MFARequired makes every sign-in use a second factor: a person
	// without one sets one up at their next sign-in.
	MFARequired bool
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Log receives the pages' logs; zap.NewNop if nil.
	Log *zap.Logger
}

// Handler serves the authorization endpoint and the login, consent and
// logout pages. Build it with New; it is safe for concurrent use.
type Handler struct {
	cfg   Config
	store Store
	log   *zap.Logger
	// cookies: when the issuer is https, cookies are Secure and
	// __Host- prefixed.
	cookies web.Cookies
	// dummyHash is checked against when a username is unknown, so that
	// the answer takes as long as for a wrong password.
	dummyHash string
	// second serves the second step of a sign-in.
	second *SecondFactor
	// passkeys runs WebAuthn ceremonies; nil when the issuer's host is
	// not a domain name, where browsers refuse passkeys.
	passkeys *passkey.RP
	// pk serves the passkey endpoints.
	pk *Passkeys
}

// New returns a handler with cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Provider == nil || cfg.NewSession == nil || cfg.Scopes == nil || cfg.AudienceAllowed == nil ||
		cfg.Pages == nil || cfg.Audit == nil || cfg.Issuer == "" || len(cfg.ThrottleSecret) == 0 || cfg.Factors == nil || cfg.Sealer == nil || cfg.Logout == nil {
		return nil, errors.New("login: incomplete configuration")
	}
	if cfg.SessionTTL <= 0 || cfg.LoginWindow <= 0 || cfg.LoginMaxFailures < 1 || cfg.LoginMaxFailuresPerIP < 1 {
		return nil, errors.New("login: session lifetime, login window and failure limits must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.OnLimited == nil {
		cfg.OnLimited = func(*http.Request, string) {}
	}
	if cfg.Hasher == nil {
		cfg.Hasher = password.NewHasher(cfg.Argon2, 0)
	}
	dummy, err := cfg.Argon2.WithDefaults().Hash(web.RandomToken())
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, store: cfg.Store, log: cfg.Log, dummyHash: dummy,
		cookies: web.Cookies{Secure: strings.HasPrefix(cfg.Issuer, "https://")}}
	h.second = &SecondFactor{h: h}
	h.pk = &Passkeys{h: h}
	h.passkeys, err = passkey.New(passkey.Config{Issuer: cfg.Issuer, Store: cfg.Factors, Sealer: cfg.Sealer, Now: cfg.Now})
	if errors.Is(err, passkey.ErrUnavailable) {
		cfg.Log.Info("passkeys are off: the issuer's host is not a domain name")
	} else if err != nil {
		return nil, err
	}
	return h, nil
}

// now is the clock, in UTC.
func (h *Handler) now() time.Time { return h.cfg.Now().UTC() }

func (h *Handler) logFosite(ctx context.Context, endpoint string, err error) {
	web.LogFosite(ctx, h.log, endpoint, err)
}

// Usernames: how they are stored and looked up.
const MaxUsernameLen = 64

// NormalizeUsername is how a username is stored and looked up.
func NormalizeUsername(u string) string { return strings.ToLower(strings.TrimSpace(u)) }

func clientField(id string) zap.Field { return zap.String("client_id", id) }
func userField(id string) zap.Field   { return zap.String("user_id", id) }
