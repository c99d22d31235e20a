package authz

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/token/hmac"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/admin"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/certs"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/demo"
	"github.com/idvauth/idvauth/authz/internal/framing"
	"github.com/idvauth/idvauth/authz/internal/metrics"
	"github.com/idvauth/idvauth/authz/internal/rotation"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/login"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// Server is the authorization server. Build it with New; it is safe for
// concurrent use.
type Server struct {
	cfg      Config
	log      *zap.Logger
	store    storage.Store
	ring     *keys.Ring
	scopes   *scopes.Registry
	provider *fosite.Fosite
	strategy *jwtStrategy
	fstore   *fositeStore
	// admin serves the admin API.
	admin     *admin.Handler
	discovery []byte
	reqIDs    *web.RequestIDs
	// ips finds the address a request came from.
	ips clientip.Resolver
	// keeper keeps the key ring current; keeperReady holds it once it
	// exists, for the store's change notices.
	keeper      *rotation.Keeper
	keeperReady atomic.Pointer[rotation.Keeper]
	// codes makes and checks authorization codes and refresh tokens
	// (opaque, HMAC-signed).
	codes *oauth2.HMACSHAStrategy
	// throttleSecret keys the hash of usernames in login failure counters.
	throttleSecret []byte
	// demo seeds the development demo and serves its callback page.
	demo    *demo.Demo
	metrics *metrics.Metrics
	// trail writes the audit trail.
	trail  *audit.Writer
	limits limiters
	// revokers are the revocation handlers /oauth2/revoke runs.
	revokers fosite.RevocationHandlers
	// clients authenticates clients.
	clients *clientauth.Authenticator
	// signin serves the authorization endpoint and the login pages.
	signin *login.Handler
	// tlsCert is the public listener's certificate and clientCAs the CAs
	// of tls_client_auth clients, each reloaded when its files change;
	// nil when not configured.
	tlsCert   *certs.Reloading[*tls.Certificate]
	clientCAs *certs.Reloading[*x509.CertPool]
}

// New validates cfg, opens the key ring (creating keys on first start),
// and composes fosite. It does not listen; see Serve.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("authz: invalid configuration:\n%w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.Named("authz"), store: cfg.Store,
		ips: clientip.Resolver{Trusted: cfg.TrustedProxies}, reqIDs: web.NewRequestIDs()}
	// Metrics first: the store reports audit batches from its start.
	s.metrics = metrics.New(cfg.Now, func() []storage.Key { return s.ring.Records() })
	if err := s.openStore(ctx); err != nil {
		return nil, err
	}
	if err := s.assemble(ctx); err != nil {
		if cfg.Store == nil {
			s.store.Close()
		}
		return nil, err
	}
	if cfg.MetricsToken == "" && !cfg.Dev {
		s.log.Warn("/metrics on the admin listener is open to anyone who reaches it: keep the admin listener on a network " +
			"that only operators and the scraper reach, or set IDVAUTH_METRICS_TOKEN (32+ characters, not the admin token)")
	}
	return s, nil
}

// openStore opens the store Config names, unless Config gave one, and
// routes its key-change notices to the key loop.
func (s *Server) openStore(ctx context.Context) error {
	if s.store != nil {
		return nil
	}
	// The store reports key changes from its start, before the keeper of
	// the ring exists: those need no reload, the ring loads after.
	keysChanged := func() {
		if k := s.keeperReady.Load(); k != nil {
			k.Notify()
		}
	}
	st, err := dialStore(ctx, s.cfg, s.log, keysChanged, s.metrics.AuditBatch)
	if err != nil {
		return err
	}
	s.store, s.cfg.Store = st, st
	return nil
}

// assemble builds every part of the server on its store: the audit trail,
// the key ring and its loop, TLS, client authentication, fosite, the
// login pages, the admin API and the demo.
func (s *Server) assemble(ctx context.Context) error {
	cfg := s.cfg
	s.trail = audit.New(audit.Config{Store: s.store, Disabled: cfg.AuditDisabled, Now: cfg.Now, Log: s.log,
		Observe: s.metrics.AuditAppend})
	var err error
	if s.scopes, err = scopes.New(cfg.Scopes); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	sealer, err := keys.NewSealer(cfg.Secrets, rand.Reader)
	if err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	if s.ring, err = keys.Open(ctx, keys.Config{Store: s.store, Sealer: sealer, Now: cfg.Now, Schedule: cfg.KeySchedule(), OnChange: s.onKeyChange}); err != nil {
		return fmt.Errorf("authz: open key ring: %w", err)
	}
	s.keeper = rotation.New(s.ring, s.log, cfg.KeyCheckInterval)
	s.keeperReady.Store(s.keeper)
	if err := s.loadTLS(); err != nil {
		return err
	}
	s.limits = newLimiters(cfg.RateLimits)
	if s.clients, err = clientauth.New(clientauth.Config{
		Store: s.store, Audit: s.trail, IPs: s.ips, Issuer: cfg.Issuer, DefaultAudience: cfg.DefaultAudience,
		MaxAccessTokenTTL: cfg.MaxAccessTokenTTL, ClockSkew: ClockSkew,
		TLS: s.tlsCert != nil, ClientCAs: s.clientCAs, CertHeader: cfg.TLSClientCertHeader,
		MaxFailures: cfg.ClientAuthMaxFailures, MaxFailuresPerIP: cfg.ClientAuthMaxFailuresPerIP,
		Window: cfg.ClientAuthWindow, LockCacheTTL: cfg.ClientLockCacheTTL,
		TokenLimiter: s.limits.token, IntrospectLimiter: s.limits.introspect,
		OnFailure: s.metrics.AuthFailure, OnLimited: s.rateLimited,
		Now: cfg.Now, Log: s.log,
	}); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	if err := s.compose(); err != nil {
		return err
	}
	if err := s.assemblePeople(); err != nil {
		return err
	}
	s.metrics.WatchPool(s.store)
	s.discovery, err = s.buildDiscovery()
	return err
}

// loadTLS reads the public listener's certificate and the client CAs, if
// configured.
func (s *Server) loadTLS() error {
	var err error
	if f := s.cfg.TLSCertFile; f != "" {
		if s.tlsCert, err = certs.NewReloading(s.log, certs.LoadKeyPair(f, s.cfg.TLSKeyFile), f, s.cfg.TLSKeyFile); err != nil {
			return fmt.Errorf("authz: %w", err)
		}
	}
	if f := s.cfg.TLSClientCAFile; f != "" {
		if s.clientCAs, err = certs.NewReloading(s.log, certs.LoadCertPool(f), f); err != nil {
			return fmt.Errorf("authz: %w", err)
		}
	}
	return nil
}

// assemblePeople builds the parts that serve people and operators: the
// login pages, the admin API and the demo.
func (s *Server) assemblePeople() error {
	cfg := s.cfg
	pages, err := templates.New()
	if err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	if s.signin, err = login.New(login.Config{
		Store: s.store, Provider: s.provider, NewSession: newGrantSession, Scopes: s.scopes, AudienceAllowed: audienceAllowed,
		Pages: pages, Audit: s.trail, IPs: s.ips, Issuer: cfg.Issuer, SessionTTL: cfg.SessionTTL,
		LoginMaxFailures: cfg.LoginMaxFailures, LoginMaxFailuresPerIP: cfg.LoginMaxFailuresPerIP, LoginWindow: cfg.LoginWindow,
		ThrottleSecret: s.throttleSecret, Argon2: cfg.Argon2, LoginLimiter: s.limits.login, OnLimited: s.rateLimited,
		Now: cfg.Now, Log: s.log,
	}); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	if s.admin, err = admin.New(admin.Config{
		Store: s.store, Keys: s.ring, Scopes: s.scopes, Audit: s.trail, IPs: s.ips, AdminToken: cfg.AdminToken,
		MaxAccessTokenTTL: cfg.MaxAccessTokenTTL, Argon2: cfg.Argon2,
		AccountKey: func(username string) string { return login.AccountKey(s.throttleSecret, username) },
		Now:        cfg.Now, Log: s.log,
	}); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	s.demo = demo.New(s.admin, s.store, cfg.Issuer, cfg.CodeTTL)
	return nil
}

// compose builds the fosite provider with only the handlers idvauth uses.
func (s *Server) compose() error {
	// fosite's HMAC strategy (refresh tokens, later authorization codes)
	// gets its own secrets, derived from the operator's.
	var hmacSecrets [][]byte
	for _, sec := range s.cfg.Secrets {
		k, err := hkdf.Key(sha256.New, []byte(sec), []byte("idvauth"), "idvauth fosite hmac v1", 32)
		if err != nil {
			return fmt.Errorf("authz: derive hmac secret: %w", err)
		}
		hmacSecrets = append(hmacSecrets, k)
	}
	var err error
	if s.throttleSecret, err = hkdf.Key(sha256.New, []byte(s.cfg.Secrets[0]), []byte("idvauth"), "idvauth login throttle v1", 32); err != nil {
		return fmt.Errorf("authz: derive throttle secret: %w", err)
	}
	fc := &fosite.Config{
		AccessTokenLifespan:          s.cfg.AccessTokenTTL,
		AccessTokenIssuer:            s.cfg.Issuer,
		TokenURL:                     s.cfg.Issuer + "/oauth2/token",
		ScopeStrategy:                s.scopes.Allowed,
		AudienceMatchingStrategy:     audienceAllowed,
		ClientSecretsHasher:          clientauth.SecretHasher{},
		ClientAuthenticationStrategy: s.clients.Authenticate,
		SendDebugMessagesToClients:   false,
		GlobalSecret:                 hmacSecrets[0],
		RotatedGlobalSecrets:         hmacSecrets[1:],
		AuthorizeCodeLifespan:        s.cfg.CodeTTL,
		RefreshTokenLifespan:         s.cfg.RefreshTokenTTL,
		IDTokenLifespan:              s.cfg.IDTokenTTL,
		IDTokenIssuer:                s.cfg.Issuer,
		RefreshTokenScopes:           []string{scopes.OfflineAccess},
		// PKCE: S256 only; required of public clients, checked for
		// everyone who sends it (parseAuthorize adds the rules).
		EnforcePKCE:                    false,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		AllowedPromptValues:            []string{"login", "none", "consent"},
		OmitRedirectScopeParam:         true,
	}
	s.fstore = &fositeStore{s: s}
	s.strategy = &jwtStrategy{s: s}
	helper := &oauth2.HandleHelper{AccessTokenStrategy: s.strategy, AccessTokenStorage: s.fstore, Config: fc}
	s.codes = oauth2.NewHMACSHAStrategy(&hmac.HMACStrategy{Config: fc}, fc)
	explicit := &oauth2.AuthorizeExplicitGrantHandler{
		AccessTokenStrategy: s.strategy, RefreshTokenStrategy: s.codes, AuthorizeCodeStrategy: s.codes,
		CoreStorage: s.fstore, TokenRevocationStorage: s.fstore, Config: fc,
	}
	idTokens := &openid.IDTokenHandleHelper{IDTokenStrategy: &idTokenStrategy{s: s}}
	oidc := &openid.OpenIDConnectExplicitHandler{
		IDTokenHandleHelper:           idTokens,
		OpenIDConnectRequestStorage:   s.fstore,
		OpenIDConnectRequestValidator: openid.NewOpenIDConnectRequestValidator(hintDecoder{s: s}, fc),
		Config:                        fc,
	}
	pkceHandler := &pkce.Handler{AuthorizeCodeStrategy: s.codes, Storage: s.fstore, Config: fc}
	fc.AuthorizeEndpointHandlers = fosite.AuthorizeEndpointHandlers{explicit, pkceHandler, oidc}
	fc.TokenEndpointHandlers = fosite.TokenEndpointHandlers{
		&oauth2.ClientCredentialsGrantHandler{HandleHelper: helper, Config: fc},
		explicit,
		&oauth2.RefreshTokenGrantHandler{AccessTokenStrategy: s.strategy, RefreshTokenStrategy: s.codes, TokenRevocationStorage: s.fstore, Config: fc},
		oidc,
		&openid.OpenIDConnectRefreshHandler{IDTokenHandleHelper: idTokens, Config: fc},
		pkceHandler,
	}
	fc.TokenIntrospectionHandlers = fosite.TokenIntrospectionHandlers{&introspector{s: s}}
	s.revokers = fosite.RevocationHandlers{
		&oauth2.TokenRevocationHandler{TokenRevocationStorage: s.fstore, RefreshTokenStrategy: s.codes, AccessTokenStrategy: s.strategy},
	}
	fc.RevocationHandlers = s.revokers
	s.provider = fosite.NewOAuth2Provider(s.fstore, fc)
	return nil
}

// revokeGrant ends a grant whose code or refresh token was used twice:
// the used record goes first (so that a redemption still in flight sees it
// gone and revokes what it issued itself), then every access and refresh
// token of the grant.
func (s *Server) revokeGrant(ctx context.Context, kind storage.TokenKind, sig, requestID string) {
	if err := s.store.DeleteToken(ctx, kind, sig); err != nil && !isNotFound(err) {
		s.log.Error("revoke reused grant: delete record", web.RequestField(ctx), zap.Error(err))
	}
	for _, k := range []storage.TokenKind{storage.AccessToken, storage.RefreshToken} {
		if err := s.store.RevokeRequest(ctx, k, requestID); err != nil {
			s.log.Error("revoke reused grant", web.RequestField(ctx), zap.String("kind", string(k)), zap.Error(err))
		}
	}
	s.log.Warn("reuse detected; grant revoked", web.RequestField(ctx), zap.String("kind", string(kind)))
}

// now is the server's clock, in UTC.
func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

// audienceAllowed is fosite's audience strategy: every requested audience
// must be registered for the client, exactly.
func audienceAllowed(allowed []string, requested []string) error {
	for _, a := range requested {
		if !slices.Contains(allowed, a) {
			return errInvalidTarget.WithHintf("The client is not registered for audience '%s'.", a)
		}
	}
	return nil
}

// errInvalidTarget is RFC 8707's error for a resource or audience the
// client may not have.
var errInvalidTarget = &fosite.RFC6749Error{
	ErrorField:       "invalid_target",
	DescriptionField: "The requested resource or audience is invalid, unknown, or not allowed for this client.",
	CodeField:        http.StatusBadRequest,
}

// Ready reports whether the server can serve requests: the store answers
// and the ring has an active key for access tokens.
func (s *Server) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if _, err := s.ring.Active(s.cfg.AccessTokenAlg); err != nil {
		return err
	}
	return nil
}

// Janitor deletes expired token records in batches until none is left, and
// returns how many it deleted. A store shared by several replicas may let
// only one of them clean at a time; the others delete nothing.
func (s *Server) Janitor(ctx context.Context) (int, error) {
	return deleteExpired(ctx, s.store, s.now(), s.cfg.JanitorBatch)
}

// expiredDeleter is the store the janitor cleans.
type expiredDeleter interface {
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

// deleteExpired deletes what expired before now from st, batch rows a
// statement, until none is left.
func deleteExpired(ctx context.Context, st expiredDeleter, now time.Time, batch int) (int, error) {
	total := 0
	for {
		n, err := st.DeleteExpired(ctx, now, batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("authz: delete expired tokens: %w", err)
		}
		if n < batch {
			return total, nil
		}
	}
}

// DropOldAudit drops the audit entries older than AuditRetention behind a
// checkpoint entry, and returns how many it dropped; it does nothing when
// retention is zero (keep everything).
func (s *Server) DropOldAudit(ctx context.Context) (int, error) {
	if s.cfg.AuditRetention <= 0 {
		return 0, nil
	}
	now := s.now()
	n, err := s.store.DropAuditBefore(ctx, now.Add(-s.cfg.AuditRetention), now)
	if err != nil {
		return n, fmt.Errorf("authz: audit retention: %w", err)
	}
	return n, nil
}

// runJanitor runs Janitor every JanitorInterval until ctx is done.
func (s *Server) runJanitor(ctx context.Context) {
	if s.cfg.JanitorInterval < 0 {
		return
	}
	t := time.NewTicker(s.cfg.JanitorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := s.Janitor(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("janitor pass failed", zap.Error(err))
			} else if n > 0 {
				s.log.Debug("janitor deleted expired tokens", zap.Int("count", n))
			}
			if n, err := s.DropOldAudit(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("audit retention pass failed", zap.Error(err))
			} else if n > 0 {
				s.log.Info("audit entries past retention dropped behind a checkpoint", zap.Int("count", n))
			}
		}
	}
}

// Close releases the store.
func (s *Server) Close() { s.store.Close() }

// Timeouts of the HTTP servers that Serve runs.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 32 << 10
	// ShutdownTimeout bounds how long Serve waits for in-flight requests.
	ShutdownTimeout = 20 * time.Second
)

// Serve serves the public endpoints on public and the admin API on admin
// until ctx is done, then stops accepting connections, lets in-flight
// requests finish (at most ShutdownTimeout) and returns nil. It returns an
// error if a listener fails.
func (s *Server) Serve(ctx context.Context, public, admin net.Listener) error {
	mk := func(h http.Handler, name string) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          zap.NewStdLog(s.log.Named(name)),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
			ConnContext:       framing.ConnContext,
		}
	}
	servers := []*http.Server{mk(s.PublicHandler(), "public"), mk(s.AdminHandler(), "admin")}
	listeners := []net.Listener{public, admin}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		serve := func(l net.Listener) error { return srv.Serve(framing.Listen(l)) }
		if tc := s.tlsConfig(); i == 0 && tc != nil {
			srv.TLSConfig = tc
			serve = func(l net.Listener) error { return srv.ServeTLS(l, "", "") }
		}
		go func() {
			if err := serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	jctx, stopJanitor := context.WithCancel(ctx)
	janitorDone := make(chan struct{}, 2)
	go func() { defer func() { janitorDone <- struct{}{} }(); s.runJanitor(jctx) }()
	go func() { defer func() { janitorDone <- struct{}{} }(); s.keeper.Run(jctx) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stopJanitor()
	<-janitorDone
	<-janitorDone
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if serr := srv.Shutdown(sctx); serr != nil {
				s.log.Warn("shutdown did not finish cleanly", zap.Error(serr))
			}
		}()
	}
	wg.Wait()
	return err
}

// AdminHandler returns the handler of the admin listener: the admin API
// and /metrics.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metrics.Handler(s.cfg.MetricsToken))
	mux.Handle("/", s.admin)
	return s.middleware("admin", mux)
}

// CreateClient registers a client as POST /admin/clients does (without an
// audit entry) and returns it with its new secret.
func (s *Server) CreateClient(ctx context.Context, in ClientJSON) (ClientJSON, error) {
	return s.admin.CreateClient(ctx, in)
}
