// Package console serves the web admin console on the admin listener
// (/console): the operators' enrollment and sign-in (password, then the
// authenticator app), and server-rendered pages over the admin API.
//
// The console holds no rights of its own: every action goes through the
// admin API (Config.API, served in-process) with an access token issued
// to the signed-in operator for the scopes of their current role
// (Config.Token), so that the API's role rules are the only ones. Pages
// hide what the role cannot do, but the API refuses it anyway.
//
// The browser session is kept on the server (storage.OperatorSession:
// 30 minutes idle and 12 hours in all end it, signing out ends it at
// once). The browser holds its ID, with the operator's current access
// token, in a cookie sealed under the server's secrets (AES-GCM,
// keys.Sealer), HttpOnly and SameSite=Strict, Secure with the __Host-
// prefix when the admin URL is https; the token never reaches a page.
// Every request reads the operator again: a disabled or deleted operator
// is signed out at once, and a role change gets a token of the new role's
// scopes on the next request.
package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/password"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage"
)

// Paths of the console on the admin listener.
const (
	Prefix         = "/console"
	SignInPath     = Prefix + "/signin"
	SignInTOTPPath = Prefix + "/signin/totp"
	SignOutPath    = Prefix + "/signout"
	EnrollPath     = Prefix + "/enroll"
	EnrollTOTPPath = Prefix + "/enroll/totp"
)

// Session lifetimes.
const (
	IdleTimeout     = 30 * time.Minute
	AbsoluteTimeout = 12 * time.Hour
	// pendingTTL bounds the step between the password and the code.
	pendingTTL = 5 * time.Minute
)

// Store is what the console reads and writes itself: operators, and the
// failure counters of sign-in attempts (shared with the login pages'
// throttle).
type Store interface {
	GetOperator(ctx context.Context, id string) (storage.Operator, error)
	GetOperatorByUsername(ctx context.Context, username string) (storage.Operator, error)
	SetOperatorCredentials(ctx context.Context, id string, c storage.OperatorCredentials, enrollment []byte, now time.Time) error
	AdvanceOperatorTOTP(ctx context.Context, id string, counter int64, now time.Time) error
	UseEnrollment(ctx context.Context, digest []byte, now time.Time) (storage.Operator, error)
	CreateOperatorSession(ctx context.Context, s storage.OperatorSession) error
	TouchOperatorSession(ctx context.Context, digest []byte, now time.Time, idle time.Duration) (storage.OperatorSession, error)
	DeleteOperatorSession(ctx context.Context, digest []byte) error
	DeleteOperatorSessions(ctx context.Context, operatorID string) (int, error)
	ReserveAttempt(ctx context.Context, key string, now time.Time, window time.Duration, limit int) (reserved bool, count int, end time.Time, err error)
	ReleaseAttempt(ctx context.Context, key string, now time.Time) error
}

// Config is what New needs. Every field is required unless said.
type Config struct {
	Store Store
	// API is the admin API's handler; the console calls it in-process.
	API http.Handler
	// Token issues an access token for the admin API to the operator
	// operatorID with scopes (those of their role).
	Token func(ctx context.Context, operatorID string, scopes []string) (string, error)
	// TokenTTL is the lifetime of the tokens Token issues.
	TokenTTL time.Duration
	// Manage feeds the management pages (manage.go); optional.
	Manage Manage
	// Sealer seals the session cookies and the operators' TOTP secrets.
	Sealer *keys.Sealer
	Hasher *password.Hasher
	Audit  *audit.Writer
	IPs    clientip.Resolver
	// AdminURL is where browsers reach the admin listener; https makes
	// the cookies Secure. Empty: plain http.
	AdminURL string
	// ThrottleSecret keys the usernames in the failure counters.
	ThrottleSecret []byte
	// MaxFailures and MaxFailuresPerIP bound the failed sign-ins (password
	// or code) of one account and from one address in Window.
	MaxFailures, MaxFailuresPerIP int
	Window                        time.Duration
	// IssuerLabel names this server in authenticator apps.
	IssuerLabel string
	Now         func() time.Time
	Log         *zap.Logger
}

// Handler serves /console. Build it with New; it is safe for concurrent
// use.
type Handler struct {
	cfg     Config
	log     *zap.Logger
	cookies web.Cookies
	pages   *pages
	mux     *http.ServeMux

	dummyOnce sync.Once
	dummyHash string
}

// New checks cfg and returns the console's handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.API == nil || cfg.Token == nil || cfg.Sealer == nil || cfg.Hasher == nil || cfg.Audit == nil ||
		len(cfg.ThrottleSecret) == 0 || cfg.MaxFailures <= 0 || cfg.MaxFailuresPerIP <= 0 || cfg.Window <= 0 || cfg.TokenTTL <= 0 {
		return nil, errors.New("console: incomplete configuration")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.IssuerLabel == "" {
		cfg.IssuerLabel = "idvauth"
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, log: cfg.Log.Named("console"), pages: p, mux: http.NewServeMux(),
		cookies: web.Cookies{Secure: strings.HasPrefix(cfg.AdminURL, "https://")}}
	h.routes()
	return h, nil
}

// ServeHTTP serves the console's routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) now() time.Time { return h.cfg.Now().UTC() }

// SignedIn reports which operator is signed in to the console on r, and
// when they signed in; ok false if none is (no session, expired, or the
// operator is disabled or gone).
func (h *Handler) SignedIn(r *http.Request) (operatorID string, authTime time.Time, ok bool) {
	_, rec, ok, err := h.readSession(r)
	if !ok || err != nil {
		return "", time.Time{}, false
	}
	o, err := h.cfg.Store.GetOperator(r.Context(), rec.OperatorID)
	if err != nil || o.Disabled || len(o.TOTPSecret) == 0 {
		return "", time.Time{}, false
	}
	return o.ID, rec.CreatedAt, true
}

// SignInURL is the path of the sign-in page that returns to next (a
// local path with its query) once the operator has signed in.
func SignInURL(next string) string {
	if LocalPath(next) == "" {
		return SignInPath
	}
	return SignInPath + "?next=" + url.QueryEscape(next)
}

// LocalPath returns next if it is a path on this listener ("/..." with no
// scheme, host, backslash or control character), else "": the sign-in
// goes back only to such paths, so it is no open redirect.
func LocalPath(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\") {
		return ""
	}
	for i := 0; i < len(next); i++ {
		if next[i] < 0x20 || next[i] == 0x7f {
			return ""
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return ""
	}
	return next
}
