package authz

import (
	"cmp"
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/token/hmac"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/idvauth/idvauth/authz/account"
	"github.com/idvauth/idvauth/authz/admin"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/apikeys"
	"github.com/idvauth/idvauth/authz/auditship"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/console"
	"github.com/idvauth/idvauth/authz/dpop"
	"github.com/idvauth/idvauth/authz/fapi"
	"github.com/idvauth/idvauth/authz/foureyes"
	"github.com/idvauth/idvauth/authz/internal/adminauth"
	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/authz/internal/certs"
	"github.com/idvauth/idvauth/authz/internal/clientip"
	"github.com/idvauth/idvauth/authz/internal/framing"
	"github.com/idvauth/idvauth/authz/internal/hotpath"
	"github.com/idvauth/idvauth/authz/internal/janitor"
	"github.com/idvauth/idvauth/authz/internal/metrics"
	"github.com/idvauth/idvauth/authz/internal/outbound"
	"github.com/idvauth/idvauth/authz/internal/password"
	"github.com/idvauth/idvauth/authz/internal/refresh"
	"github.com/idvauth/idvauth/authz/internal/rotation"
	"github.com/idvauth/idvauth/authz/internal/serve"
	"github.com/idvauth/idvauth/authz/internal/tokenreq"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/authz/login"
	"github.com/idvauth/idvauth/authz/logout"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/authz/opsignin"
	"github.com/idvauth/idvauth/authz/par"
	"github.com/idvauth/idvauth/authz/settings"
	"github.com/idvauth/idvauth/authz/tracing"
	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/scopes"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/templates"
)

// Server is the authorization server. Build it with New; it is safe for
// concurrent use.
type Server struct {
	cfg   Config
	log   *zap.Logger
	store storage.Store
	ring  *keys.Ring
	// sealer seals signing keys, TOTP secrets and pending sign-ins.
	sealer   *keys.Sealer
	scopes   *scopes.Registry
	provider *fosite.Fosite
	strategy *jwtStrategy
	fstore   *fositeStore
	// admin serves the admin API; console the web console over it.
	admin     *admin.Handler
	console   *console.Handler
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
	// opsignin is the authorization endpoint of idvauth login, on the
	// admin listener.
	opsignin *opsignin.Handler
	// demo seeds the development demo and serves its callback page.
	demo    *admin.Demo
	metrics *metrics.Metrics
	// rateLimited counts and debug-logs one request refused by a limit.
	rateLimited func(r *http.Request, limit string)
	// janitor deletes what expired.
	janitor janitor.Janitor
	// trail writes the audit trail.
	trail  *audit.Writer
	limits limiters
	// hasher bounds the password hashes of the login pages and the admin
	// API together.
	hasher *password.Hasher
	// revokers are the revocation handlers /oauth2/revoke runs.
	revokers fosite.RevocationHandlers
	// tracer makes the server's spans; nil without tracing.
	tracer trace.Tracer
	// shipper ships the audit trail off the host; nil without a sink.
	shipper *auditship.Shipper
	// clients authenticates clients; apiKeys checks their API keys.
	clients *clientauth.Authenticator
	apiKeys *apikeys.Checker
	// signin serves the authorization endpoint and the login pages.
	signin *login.Handler
	// account serves /account and password-reset links.
	account *account.Handler
	// logout ends browser sessions and delivers back-channel logouts.
	logout *logout.Service
	// par serves pushed authorization requests.
	par *par.Requests
	// dpop checks DPoP proofs at the token endpoint.
	dpop *dpop.Verifier
	// tlsCert is the public listener's certificate and clientCAs the CAs
	// of tls_client_auth clients, each reloaded when its files change;
	// nil when not configured.
	tlsCert   *certs.Reloading[*tls.Certificate]
	clientCAs *certs.Reloading[*x509.CertPool]
}

// New validates cfg, opens the key ring (creating keys on first start),
// and composes fosite. It does not listen; see Serve.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("authz: invalid configuration:\n%w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.Named("authz"), store: cfg.Store,
		ips: clientip.Resolver{Trusted: cfg.TrustedProxies}, reqIDs: web.NewRequestIDs()}
	// Metrics first: the store reports audit batches from its start.
	s.metrics = metrics.New(cfg.Now, func() []storage.Key { return s.ring.Records() })
	s.rateLimited = limitReporter(s.metrics, s.log)
	if s.store == nil {
		// The store reports key changes from its start, before the keeper
		// of the ring exists: those need no reload, the ring loads after.
		keysChanged := func() {
			if k := s.keeperReady.Load(); k != nil {
				k.Notify()
			}
		}
		if s.store, err = dialStore(ctx, cfg, s.log, keysChanged, s.metrics.AuditBatch); err != nil {
			return nil, err
		}
		s.cfg.Store = s.store
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
	if cfg.AdminToken != "" && !cfg.Dev {
		s.log.Warn("the break-glass admin token (IDVAUTH_ADMIN_TOKEN) is set: it has owner rights on the admin API and every use is " +
			"audited as break-glass; give operators and automation their own credentials, and keep it for emergencies")
	}
	return s, nil
}

// assemble builds every part of the server on its store: the audit trail,
// the key ring and its loop, TLS, client authentication, fosite, the
// login pages, the admin API and the demo.
func (s *Server) assemble(ctx context.Context) error {
	cfg := s.cfg
	// Everything above the store sees people in the clear; the backend
	// keeps them sealed (cfg.Store stays the backend itself).
	sealed, err := sealStore(ctx, s.store, cfg, s.log)
	if err != nil {
		return err
	}
	s.store = sealed
	s.janitor = janitor.Janitor{Store: s.store, Batch: cfg.JanitorBatch, Retention: cfg.AuditRetention, Now: cfg.Now, Log: s.log}
	if cfg.TracerProvider != nil {
		s.tracer = tracing.Tracer(cfg.TracerProvider)
	}
	s.trail = audit.New(audit.Config{Store: s.store, Disabled: cfg.AuditDisabled, Now: cfg.Now, Log: s.log,
		Observe: s.metrics.AuditAppend, Tracer: s.tracer, ReadDelay: cfg.AuditReadDelay, OnReadWait: s.metrics.AuditReadWait})
	if s.shipper, err = newShipper(cfg, s.store, s.metrics, s.log); err != nil {
		return err
	}
	if s.scopes, err = scopes.New(append(slices.Clone(cfg.Scopes), adminauth.ScopeRegistry()...)); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	if s.sealer, err = keys.NewSealer(cfg.Secrets, rand.Reader); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	if s.ring, err = keys.Open(ctx, keys.Config{Store: s.store, Sealer: s.sealer, Now: cfg.Now, Schedule: cfg.KeySchedule(), OnChange: s.onKeyChange,
		Generate: cfg.GenerateKey}); err != nil {
		return fmt.Errorf("authz: open key ring: %w", err)
	}
	s.keeper = rotation.New(s.ring, s.log, cfg.KeyCheckInterval)
	s.keeperReady.Store(s.keeper)
	s.metrics.WatchKeyRing(s.keeper.SinceLoad)
	if s.tlsCert, s.clientCAs, err = certs.LoadListener(s.log, cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSClientCAFile); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	s.hasher = password.NewHasher(cfg.Argon2, cfg.PasswordHashConcurrency)
	s.limits = newLimiters(cfg.RateLimits, s.hasher.Capacity())
	s.apiKeys = apikeys.NewChecker(s.store, s.now)
	if s.clients, err = clientauth.New(clientauth.Config{
		Store: s.store, Audit: s.trail, IPs: s.ips, Issuer: cfg.Issuer, DefaultAudience: cfg.DefaultAudience,
		MaxAccessTokenTTL: cfg.MaxAccessTokenTTL, ClockSkew: settings.ClockSkew,
		TLS: s.tlsCert != nil, ClientCAs: s.clientCAs, CertHeader: cfg.TLSClientCertHeader,
		MaxFailures: cfg.ClientAuthMaxFailures, MaxFailuresPerIP: cfg.ClientAuthMaxFailuresPerIP,
		Window: cfg.ClientAuthWindow, LockCacheTTL: cfg.ClientLockCacheTTL,
		TokenLimiter: s.limits.token, IntrospectLimiter: s.limits.introspect,
		OnFailure: s.metrics.AuthFailure, OnLimited: s.rateLimited, APIKeys: s.apiKeys, Tracer: s.tracer,
		Outbound: outbound.Policy{Allow: cfg.AllowPrivateOutbound},
		Now:      cfg.Now, Log: s.log,
	}); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	if s.dpop, err = newDPoP(cfg, s.store); err != nil {
		return err
	}
	if err := s.compose(); err != nil {
		return err
	}
	if err := s.assemblePeople(); err != nil {
		return err
	}
	if err := operators.CheckReachable(ctx, s.store, cfg.AdminToken); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	if err := operators.EnsureBuiltins(ctx, s.store, operators.Builtins(cfg.AdminAudience, cmp.Or(cfg.AdminURL, settings.DefaultAdminURL)), s.now()); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	s.metrics.WatchPool(cfg.Store)
	s.discovery, err = s.buildDiscovery()
	return err
}

// assemblePeople builds the parts that serve people and operators: the
// login pages, the admin API and the demo.
func (s *Server) assemblePeople() error {
	cfg := s.cfg
	pages, err := templates.New()
	if err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	if s.par, err = par.New(par.Config{Store: s.store, Authenticate: fapi.Authenticate(cfg.Profile, s.clients.Authenticate), TTL: cfg.PARTTL, Now: cfg.Now, Log: s.log, Audit: s.trail, IPs: s.ips,
		DPoP: s.dpop, Endpoint: cfg.Issuer + par.Path,
		Validate: func(ctx context.Context, r *http.Request, raw string) error {
			return s.signin.ValidatePushed(ctx, r, raw)
		},
	}); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	sidKey, err := hkdf.Key(sha256.New, []byte(cfg.Secrets[0]), []byte("idvauth"), "idvauth sid v1", 32)
	if err != nil {
		return fmt.Errorf("authz: derive sid key: %w", err)
	}
	if s.logout, err = logout.New(logout.Config{Store: s.store, Keys: s.ring, Audit: s.trail, Issuer: cfg.Issuer, IDTokenAlg: cfg.IDTokenAlg, Profile: cfg.Profile,
		SIDKey: sidKey, Outbound: outbound.Policy{Allow: cfg.AllowPrivateOutbound}, Timeout: cfg.BackchannelLogoutTimeout,
		RetryBase: cfg.BackchannelLogoutRetry, Now: cfg.Now, Log: s.log}); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	s.janitor.Sessions = s.logout
	if s.signin, err = login.New(login.Config{
		Pushed: s.par, RequirePAR: cfg.RequirePAR, Profile: cfg.Profile, Store: s.store, Provider: s.provider, NewSession: newGrantSession, Scopes: s.scopes, AudienceAllowed: tokenreq.AudienceAllowed,
		Pages: pages, Audit: s.trail, IPs: s.ips, Issuer: cfg.Issuer, SessionTTL: cfg.SessionTTL,
		LoginMaxFailures: cfg.LoginMaxFailures, LoginMaxFailuresPerIP: cfg.LoginMaxFailuresPerIP, LoginWindow: cfg.LoginWindow,
		ThrottleSecret: s.throttleSecret, Argon2: cfg.Argon2, Hasher: s.hasher, LoginLimiter: s.limits.login, OnLimited: s.rateLimited,
		Factors: s.store, Sealer: s.sealer, MFARequired: cfg.MFA == settings.MFARequired, Logout: s.logout,
		Now: cfg.Now, Log: s.log,
	}); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	ops, err := operators.New(operators.Config{Store: s.store, SignOuts: s.store, BaseURL: cfg.AdminURL, Now: cfg.Now})
	if err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	auth, err := adminauth.New(adminauth.Config{BreakGlass: cfg.AdminToken, Introspect: s.adminIntrospect, Audience: cfg.AdminAudience, Operators: s.store, Clients: s.store,
		CheckDPoP: s.dpop.ResourceCheck(cfg.AdminURL), PeerCertificates: s.clients.PeerCertificates, Log: s.log})
	if err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	fourEyes, err := foureyes.New(foureyes.Config{Store: s.store, Keys: s.ring, On: cfg.FourEyes, Now: cfg.Now, Log: s.log,
		Run: func(r *http.Request, p adminauth.Principal, a storage.Approval) (int, []byte) {
			return admin.Replay(s.admin)(r, p, a)
		}})
	if err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	if s.admin, err = admin.New(admin.Config{
		Store: s.store, Keys: s.ring, Scopes: s.scopes, Audit: s.trail, IPs: s.ips, Auth: auth, Operators: ops, FourEyes: fourEyes,
		MaxAccessTokenTTL: cfg.MaxAccessTokenTTL, MaxAPIKeyTTL: cfg.MaxAPIKeyTTL, Argon2: cfg.Argon2, Hasher: s.hasher,
		AccountKey: func(username string) string { return login.AccountKey(s.throttleSecret, username) },
		ResetLink:  func(ctx context.Context, id string) (string, time.Time, error) { return s.account.ResetLink(ctx, id) },
		EndSession: s.logout.End,
		EndPerson:  s.logout.EndAll,
		Outbound:   outbound.Policy{Allow: cfg.AllowPrivateOutbound}, Dev: cfg.Dev, Profile: cfg.Profile,
		Now: cfg.Now, Log: s.log,
	}); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	if s.account, err = account.New(account.Config{Login: s.signin, Store: s.store, Audit: s.trail, Export: s.admin.ExportUser,
		EndSession: s.logout.End, Issuer: cfg.Issuer, Log: s.log}); err != nil {
		return fmt.Errorf("authz: %w", err)
	}
	if err := assembleOperatorPages(s, pages); err != nil {
		return err
	}
	s.demo = admin.NewDemo(s.admin, s.store, cfg.Issuer, cfg.CodeTTL)
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
		AudienceMatchingStrategy:     tokenreq.AudienceAllowed,
		ClientSecretsHasher:          clientauth.SecretHasher{},
		ClientAuthenticationStrategy: fapi.Authenticate(s.cfg.Profile, s.clients.Authenticate),
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
	s.strategy = &jwtStrategy{s: s, verified: hotpath.NewCache[verifiedToken](verifiedTokens)}
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
		refresh.Keeping(&oauth2.RefreshTokenGrantHandler{AccessTokenStrategy: s.strategy, RefreshTokenStrategy: s.codes, TokenRevocationStorage: s.fstore, Config: fc}, fapi.KeepsRefresh(s.cfg.Profile)),
		oidc,
		&openid.OpenIDConnectRefreshHandler{IDTokenHandleHelper: idTokens, Config: fc},
		pkceHandler,
	}
	for i, h := range fc.TokenEndpointHandlers {
		fc.TokenEndpointHandlers[i] = hotpath.OwnGrant(h)
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
func (s *Server) Janitor(ctx context.Context) (int, error) { return s.janitor.DeleteExpired(ctx) }

// DropOldAudit drops the audit entries older than AuditRetention behind a
// checkpoint entry, and returns how many it dropped; it does nothing when
// retention is zero (keep everything).
func (s *Server) DropOldAudit(ctx context.Context) (int, error) { return s.janitor.DropOldAudit(ctx) }

// Close stores the audit entries of reads still queued (see
// Config.AuditReadDelay) and releases the store.
func (s *Server) Close() {
	if s.trail != nil {
		s.trail.Close()
	}
	s.store.Close()
}

// ShutdownTimeout bounds how long Serve waits for in-flight requests.
const ShutdownTimeout = serve.ShutdownTimeout

// Serve serves the public endpoints on public and the admin API on admin,
// and runs the janitor and the key loop, until ctx is done; then it stops
// accepting connections, lets in-flight requests finish (at most
// ShutdownTimeout) and returns nil. It returns an error if a listener
// fails.
func (s *Server) Serve(ctx context.Context, public, admin net.Listener) error {
	var suites []uint16
	if s.cfg.Profile == fapi.Profile {
		suites = fapi.TLS12CipherSuites()
	}
	tlsConfig := certs.ServerConfig(s.tlsCert, s.clientCAs != nil, suites)
	if tlsConfig == nil {
		// Plain HTTP: framing sees the raw request heads, and refuses
		// one that carries both Content-Length and Transfer-Encoding.
		public = framing.Listen(public)
	}
	loops := []func(context.Context){
		func(ctx context.Context) { s.janitor.Run(ctx, s.cfg.JanitorInterval) }, s.keeper.Run, s.logout.Run,
		func(ctx context.Context) {
			s.apiKeys.Run(ctx, apiKeyUseInterval, func(err error) {
				s.log.Warn("last use of API keys not stored; kept for the next try", zap.Error(err))
			})
		},
	}
	if s.shipper != nil {
		loops = append(loops, s.shipper.Run)
	}
	return serve.Run(ctx, s.log, []serve.Listener{
		{Name: "public", Listener: public, Handler: s.PublicHandler(), TLS: tlsConfig},
		{Name: "admin", Listener: framing.Listen(admin), Handler: s.AdminHandler()},
	}, loops...)
}

// AdminHandler returns the handler of the admin listener: the admin API,
// the web console and /metrics.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metrics.Handler(s.cfg.MetricsToken))
	mux.Handle(opsignin.AuthorizePath, s.opsignin)
	mux.Handle(opsignin.TokenPath, s.opsignin.Token(s.limitIP(s.handleToken)))
	mux.HandleFunc(opsignin.DeviceAuthorizationPath, s.limitIP(s.opsignin.ServeDeviceAuthorization))
	mux.HandleFunc(opsignin.DevicePath, s.opsignin.ServeDevice)
	mux.Handle(console.Prefix+"/", s.console)
	mux.Handle(console.Prefix, s.console)
	mux.Handle("/", s.admin)
	return s.middleware("admin", mux)
}

// CreateClient registers a client as POST /admin/clients does (without an
// audit entry) and returns it with its new secret.
func (s *Server) CreateClient(ctx context.Context, in adminapi.ClientJSON) (adminapi.ClientJSON, error) {
	return s.admin.CreateClient(ctx, in)
}
