package logout

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/outbound"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage"
)

// Store is what logging out reads and writes.
type Store interface {
	storage.LogoutStore
	GetClient(ctx context.Context, id string) (storage.Client, error)
	ListBrowserSessions(ctx context.Context, userID string) ([]storage.BrowserSession, error)
	GetBrowserSession(ctx context.Context, id string) (storage.BrowserSession, error)
	CreateBrowserSession(ctx context.Context, bs storage.BrowserSession) error
	DeleteBrowserSession(ctx context.Context, id string) error
}

// Keys signs logout tokens and verifies ID token hints: the key ring.
type Keys interface {
	Active(alg string) (*keys.Key, error)
	Verify(token, typ string) (payload []byte, key *keys.Key, signature string, err error)
}

// Config configures a Service. Every field without a documented default
// is required.
type Config struct {
	Store  Store
	Keys   Keys
	Audit  *audit.Writer
	Issuer string
	// IDTokenAlg signs the logout tokens of clients that register no
	// id_token_signed_response_alg.
	IDTokenAlg string
	// Profile is the server's profile (IDVAUTH_PROFILE): under fapi2, a
	// client's logout tokens use the algorithms its ID tokens may.
	Profile string
	// SIDKey keys the sid of browser sessions (at least 32 bytes).
	SIDKey []byte
	// Outbound says which internal addresses deliveries may reach.
	Outbound outbound.Policy
	// Timeout bounds one delivery (connection, request and answer);
	// default 5s.
	Timeout time.Duration
	// MaxAttempts bounds the deliveries tried per logout token; default
	// 5. RetryBase is the wait after the first failure, doubled after
	// each further one up to an hour; default 10s.
	MaxAttempts int
	RetryBase   time.Duration
	// PollInterval is how often the queue is checked for deliveries that
	// another replica, or an earlier run, left; default 30s.
	PollInterval time.Duration
	// Client makes the deliveries; if nil, one through Outbound. Its
	// redirects are never followed.
	Client *http.Client
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Log receives the logs; zap.NewNop if nil.
	Log *zap.Logger
}

// Service serves logout. Build it with New; it is safe for concurrent
// use.
type Service struct {
	cfg    Config
	client *http.Client
	// wake tells Run that deliveries were queued.
	wake chan struct{}
}

// Defaults of Config.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultMaxAttempts  = 5
	DefaultRetryBase    = 10 * time.Second
	DefaultPollInterval = 30 * time.Second
	maxRetryDelay       = time.Hour
	// tokenTTL is the life of a logout token: long enough for a
	// relying party's clock to differ, short enough to be useless later.
	tokenTTL = 2 * time.Minute
)

// New returns a service with cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Keys == nil || cfg.Audit == nil || cfg.Issuer == "" || cfg.IDTokenAlg == "" || len(cfg.SIDKey) < 32 {
		return nil, errors.New("logout: incomplete configuration")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: cfg.Outbound.Transport(cfg.Timeout)}
	}
	c := *client
	c.Timeout = cfg.Timeout
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Service{cfg: cfg, client: &c, wake: make(chan struct{}, 1)}, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// SID returns the sid claim of the browser session with stored ID
// sessionID.
func (s *Service) SID(sessionID string) string {
	m := hmac.New(sha256.New, s.cfg.SIDKey)
	m.Write([]byte("idvauth sid v1\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:24])
}

// InSession reports whether sid is the sid of the browser session bs, or
// of a session of the same person that bs replaced (its grants, moved to
// bs by Replace, keep it).
func (s *Service) InSession(ctx context.Context, bs storage.BrowserSession, sid string) (bool, error) {
	if hmac.Equal([]byte(sid), []byte(s.SID(bs.ID))) {
		return true, nil
	}
	grants, err := s.cfg.Store.ListSessionGrants(ctx, bs.ID)
	if err != nil {
		return false, fmt.Errorf("logout: %w", err)
	}
	return slices.ContainsFunc(grants, func(g storage.SessionGrant) bool { return hmac.Equal([]byte(sid), []byte(g.SID)) }), nil
}

// Granted records that the browser session sessionID was used to grant
// clientID the request requestID (whose tokens share it).
func (s *Service) Granted(ctx context.Context, sessionID, clientID, requestID string) error {
	return s.cfg.Store.AddSessionGrant(ctx, storage.SessionGrant{SessionID: sessionID, RequestID: requestID, ClientID: clientID,
		SID: s.SID(sessionID), CreatedAt: s.now()})
}

// End logs the browser session bs out: the session and its grants' tokens
// go, and every client of the session with a back-channel logout URI is
// queued a logout token, in one store step; then it is audited and the
// deliveries start in the background. ErrNotFound (wrapped) if the
// session was already gone.
func (s *Service) End(ctx context.Context, bs storage.BrowserSession, ip string) error {
	return s.end(ctx, bs, ending{actor: audit.User(bs.UserID), ip: ip, outcome: "ok", store: s.cfg.Store.EndBrowserSession})
}

// ending is how a browser session ends: who ends it, the audit outcome,
// and the store step (EndBrowserSession or ExpireBrowserSession).
type ending struct {
	actor, ip, outcome string
	store              func(ctx context.Context, sessionID string, deliveries []storage.LogoutDelivery) error
}

func (s *Service) end(ctx context.Context, bs storage.BrowserSession, how ending) error {
	grants, err := s.cfg.Store.ListSessionGrants(ctx, bs.ID)
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	now := s.now()
	// One logout token per client and sid: the grants a session took
	// over from an earlier one of the same person (ReplaceBrowserSession)
	// keep the sid their clients know.
	type told struct{ client, sid string }
	var sent []told
	var clients []string
	var deliveries []storage.LogoutDelivery
	for _, g := range grants {
		if slices.Contains(sent, told{g.ClientID, g.SID}) {
			continue
		}
		c, err := s.cfg.Store.GetClient(ctx, g.ClientID)
		if errors.Is(err, storage.ErrNotFound) || err == nil && c.BackchannelLogoutURI == "" {
			continue
		}
		if err != nil {
			return fmt.Errorf("logout: %w", err)
		}
		sent = append(sent, told{g.ClientID, g.SID})
		if !slices.Contains(clients, g.ClientID) {
			clients = append(clients, g.ClientID)
		}
		deliveries = append(deliveries, storage.LogoutDelivery{ID: web.Random(16), ClientID: g.ClientID, Subject: bs.UserID, SID: g.SID,
			NextAttempt: now, CreatedAt: now})
	}
	if err := how.store(ctx, bs.ID, deliveries); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	details := map[string]string{}
	if len(clients) > 0 {
		details["backchannel_clients"] = strings.Join(clients, " ")
	}
	if err := s.cfg.Audit.Append(ctx, storage.AuditEntry{Type: adminapi.EventLogout, Actor: how.actor, Subject: bs.UserID,
		IP: how.ip, Outcome: how.outcome, Details: details}); err != nil {
		s.cfg.Log.Error("audit logout", web.RequestField(ctx), zap.Error(err))
	}
	s.cfg.Log.Info("browser session logged out", web.RequestField(ctx), zap.String("user_id", bs.UserID), zap.String("outcome", how.outcome),
		zap.Int("backchannel_clients", len(clients)))
	if len(deliveries) > 0 {
		s.Wake()
	}
	return nil
}

// EndExpired ends at most limit browser sessions that expired before
// before and have grants: their clients with a back-channel logout URI
// are queued a logout token, and the session goes with its grants (the
// grants' tokens stay: a refresh token is offline access, meant to
// outlive the session). It returns how many sessions it found; the
// janitor calls it until fewer than limit are found, before it deletes
// what has expired. A session another replica ended meanwhile is
// skipped.
func (s *Service) EndExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	expired, err := s.cfg.Store.ListExpiredBrowserSessions(ctx, before, limit)
	if err != nil {
		return 0, fmt.Errorf("logout: list expired sessions: %w", err)
	}
	var errs []error
	for _, bs := range expired {
		err := s.end(ctx, bs, ending{actor: audit.System, outcome: "expired", store: s.cfg.Store.ExpireBrowserSession})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			errs = append(errs, err) // the others are still ended
		}
	}
	return len(expired), errors.Join(errs...)
}

// EndAll logs every browser session of the person userID out (End), as
// erasing them does first: their clients are queued logout tokens, which
// carry only the opaque subject and the sid, so they are delivered after
// the person's data is gone. outcome is the audit entries' outcome.
//
// A sign-in of the person in one of those browsers meanwhile replaces the
// session listed with a new one holding its grants: the list is read
// again until no session is left (a few rounds at most), so that those
// clients are told too.
func (s *Service) EndAll(ctx context.Context, userID, outcome string) error {
	for range 3 {
		sessions, err := s.cfg.Store.ListBrowserSessions(ctx, userID)
		if err != nil {
			return fmt.Errorf("logout: list sessions: %w", err)
		}
		if len(sessions) == 0 {
			return nil
		}
		for _, bs := range sessions {
			err := s.end(ctx, bs, ending{actor: audit.System, outcome: outcome, store: s.cfg.Store.EndBrowserSession})
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// Wake makes Run look at the queue now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
