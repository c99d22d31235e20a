package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/buildinfo"
	"github.com/idvauth/idvauth/authz/container"
	"github.com/idvauth/idvauth/authz/devkit"
	"github.com/idvauth/idvauth/authz/settings"
	"github.com/idvauth/idvauth/authz/tracing"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/cliconf"
)

func newServeCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the authorization server",
		Long: `Run the authorization server: the public OAuth 2.0 endpoints on the public
listener and the admin API on the admin listener.

With --dev it is a one-command demo: in-memory storage unless a database URL
is given, a generated admin token and secrets where none is set, two demo
clients, and curl lines to paste. Nothing persists in --dev. It hands out
generated credentials, so it listens on loopback only: a public or admin
address that is not loopback is refused unless --dev-allow-remote is given.

Without --dev, IDVAUTH_DATABASE_URL, IDVAUTH_SECRETS and IDVAUTH_ADMIN_TOKEN
are required. IDVAUTH_SECRETS is a comma-separated list of secrets of at
least 32 characters: the first encrypts signing keys, all decrypt.

Every token issued or refused, sign-in and admin change is recorded in a
hash-chained audit trail (see 'idvauth audit'); --audit off turns it off
(only to measure its cost) and --audit-retention drops old entries.
IDVAUTH_METRICS_TOKEN (env or config file only: flags show in ps), if set,
is the bearer token that /metrics on the admin listener requires; without
it /metrics is open to whoever reaches the admin listener, and serve logs
a warning at start (not with --dev). Keep the admin listener off the public
network either way.

SIGINT or SIGTERM stops the server: in-flight requests finish, then it exits 0.`,
		Example: `  # Demo on 127.0.0.1:8080 (public) and 127.0.0.1:8081 (admin)
  idvauth serve --dev

  # Demo with your own issuer and admin token
  IDVAUTH_ADMIN_TOKEN=$(openssl rand -hex 32) idvauth serve --dev --issuer http://localhost:8080

  # Production
  IDVAUTH_DATABASE_URL=postgres://idvauth@db/idvauth IDVAUTH_SECRETS=... \
  IDVAUTH_ADMIN_TOKEN=... idvauth serve --config /etc/idvauth.yaml

  # Keep 90 days of audit trail; at most 20 token requests a second per client
  idvauth serve --config /etc/idvauth.yaml --audit-retention 2160h --rate-limit-token-per-client 20`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd, env) },
	}
	cmd.Flags().Bool("dev", false, "development mode: in-memory, generated credentials, demo clients")
	cmd.Flags().Bool("dev-allow-remote", false, "let --dev listen on addresses other than loopback (never on a network you do not trust)")
	for _, s := range []setting{sIssuer, sPublicAddr, sAdminAddr, sDatabaseURL, sPersonKeysURL, sDatabaseTimeout, sAdminToken, sAdminURL, sAccessTTL, sMaxAccessTTL, sMaxAPIKeyTTL, sDefaultAudience, sAdminAudience, sAccessAlg, sJWKSMaxAge, sJanitorInterval, sKeyRotation,
		sIDTokenAlg, sIDTokenTTL, sCodeTTL, sPARTTL, sRequirePAR, sDPoPNonce, sProfile, sRefreshTTL, sRefreshMaxLife, sSessionTTL, sLoginMaxFail, sLoginMaxFailIP, sLoginWindow, sMFA, sFourEyes,
		sArgon2Time, sArgon2Memory, sArgon2Threads, sPasswordHashConcurrency, sTrustedProxies, sTLSCert, sTLSKey, sTLSClientCA, sTLSClientCertHeader, sHSTSMaxAge, sLogLevel,
		sAudit, sAuditCommit, sAuditReadDelay, sAuditRetention, sAuditSink, sAuditSinkToken, sAuditSinkCA, sRateToken, sRateIntrospect, sRatePerIP, sRateLogin, sRateFailed,
		sClientAuthMaxFail, sClientAuthMaxFailIP, sClientAuthWindow, sAllowPrivateOutbound} {
		cliconf.AddFlag(cmd, s)
	}
	return cmd
}

// serveConfig is everything serve needs, resolved from flags, env and file.
type serveConfig struct {
	dev                 bool
	devAllowRemote      bool
	publicAddr          string
	adminAddr           string
	logLevel            zapcore.Level
	authz               authz.Config
	generatedAdminToken bool
	generatedSecrets    bool
	// issuerSet is whether the issuer was set (flag, env or file) rather
	// than defaulted.
	issuerSet bool
}

func loadServeConfig(cmd *cobra.Command, env lookupEnv) (serveConfig, error) {
	var sc serveConfig
	r, err := newResolver(cmd, env)
	if err != nil {
		return sc, err
	}
	sc.dev, _ = cmd.Flags().GetBool("dev")
	sc.authz.Dev = sc.dev
	sc.publicAddr, _ = r.Get(sPublicAddr)
	sc.adminAddr, _ = r.Get(sAdminAddr)
	sc.devAllowRemote, _ = cmd.Flags().GetBool("dev-allow-remote")
	if err := checkDevListeners(sc); err != nil {
		return sc, err
	}
	lvl, _ := r.Get(sLogLevel)
	if sc.logLevel, err = zapcore.ParseLevel(lvl); err != nil {
		return sc, fmt.Errorf("%s: %q is not a level (debug, info, warn, error)", r.Where(sLogLevel), lvl)
	}
	a := &sc.authz
	a.Issuer, sc.issuerSet = r.Get(sIssuer)
	a.Issuer, a.DatabaseURL = strings.TrimSuffix(a.Issuer, "/"), r.Value(sDatabaseURL) // the issuer once, as tokens carry it
	a.PersonKeysDatabaseURL = r.Value(sPersonKeysURL)
	a.DefaultAudience, _ = r.Get(sDefaultAudience)
	a.AdminAudience, _ = r.Get(sAdminAudience)
	var adminURLSet bool
	if a.AdminURL, adminURLSet = r.Get(sAdminURL); !adminURLSet {
		a.AdminURL = urlOf(sc.adminAddr) // empty for port 0: links then follow the request's Host
	}
	a.AccessTokenAlg, _ = r.Get(sAccessAlg)
	if err := r.Decode("scopes", &a.Scopes); err != nil {
		return sc, err
	}
	if err := loadLoopSettings(r, a); err != nil {
		return sc, err
	}
	if v, set := r.Get(sIDTokenAlg); set {
		a.IDTokenAlg = v // else settings picks: ES256 under fapi2, RS256 otherwise
	}
	a.Profile, _ = r.Get(sProfile)
	for _, d := range []struct {
		s   setting
		dst *time.Duration
	}{{sAccessTTL, &a.AccessTokenTTL}, {sMaxAccessTTL, &a.MaxAccessTokenTTL}, {sMaxAPIKeyTTL, &a.MaxAPIKeyTTL}, {sJWKSMaxAge, &a.JWKSMaxAge},
		{sDatabaseTimeout, &a.DatabaseTimeout}, {sIDTokenTTL, &a.IDTokenTTL}, {sCodeTTL, &a.CodeTTL}, {sPARTTL, &a.PARTTL}, {sRefreshTTL, &a.RefreshTokenTTL}, {sRefreshMaxLife, &a.RefreshTokenMaxLifetime}, {sSessionTTL, &a.SessionTTL}, {sLoginWindow, &a.LoginWindow}} {
		if *d.dst, err = r.Duration(d.s); err != nil {
			return sc, err
		}
	}
	if a.RequirePAR, err = r.OnOff(sRequirePAR); err != nil {
		return sc, err
	}
	if a.DPoPNonce, err = r.OnOff(sDPoPNonce); err != nil {
		return sc, err
	}
	if a.FourEyes, err = r.OnOff(sFourEyes); err != nil {
		return sc, err
	}
	if err := loadPasswordSettings(r, a); err != nil {
		return sc, err
	}
	if a.TrustedProxies, err = r.Prefixes(sTrustedProxies); err != nil {
		return sc, err
	}
	if a.AllowPrivateOutbound, err = r.Prefixes(sAllowPrivateOutbound); err != nil {
		return sc, err
	}
	if err := loadTLSSettings(r, a); err != nil {
		return sc, err
	}
	if err := loadAbuseSettings(r, a); err != nil {
		return sc, err
	}
	if err := loadAuditSettings(r, a); err != nil {
		return sc, err
	}
	if err := loadCredentials(r, &sc); err != nil {
		return sc, err
	}
	return sc, nil
}

// loadLoopSettings reads how often the janitor and the key rotation run;
// 0 turns the janitor off and leaves rotation to the operator.
func loadLoopSettings(r *resolver, a *authz.Config) error {
	var err error
	if a.JanitorInterval, err = r.Duration(sJanitorInterval); err != nil {
		return err
	}
	if a.JanitorInterval == 0 {
		a.JanitorInterval = -1 // off
	}
	if a.KeyRotationInterval, err = r.Duration(sKeyRotation); err != nil {
		return err
	}
	if a.KeyRotationInterval == 0 {
		a.KeyRotationInterval = -1 // only by hand
	}
	return nil
}

// loadPasswordSettings reads the sign-in failure limits and the argon2id
// parameters into a.
func loadPasswordSettings(r *resolver, a *authz.Config) error {
	n, err := r.Uint(sLoginMaxFail, 16)
	if err != nil {
		return err
	}
	a.LoginMaxFailures = int(n)
	if n, err = r.Uint(sLoginMaxFailIP, 16); err != nil {
		return err
	}
	a.LoginMaxFailuresPerIP = int(n)
	if n, err = r.Uint(sArgon2Time, 8); err != nil {
		return err
	}
	a.Argon2.Time = uint32(n)
	if n, err = r.Uint(sArgon2Memory, 21); err != nil {
		return err
	}
	a.Argon2.MemoryKiB = uint32(n)
	if n, err = r.Uint(sArgon2Threads, 8); err != nil {
		return err
	}
	a.Argon2.Threads = uint8(n)
	if n, err = r.Uint(sPasswordHashConcurrency, 16); err != nil {
		return err
	}
	a.PasswordHashConcurrency = int(n)
	a.MFA, _ = r.Get(sMFA)
	if a.MFA = strings.ToLower(a.MFA); a.MFA != settings.MFAOptional && a.MFA != settings.MFARequired {
		return fmt.Errorf("%s: %q must be optional or required (example: %s=required)", sMFA.Env, a.MFA, sMFA.Env)
	}
	return nil
}

// loadCredentials reads the admin token, the secrets and the metrics
// token into sc.authz, generating the first two under --dev, and names
// every setting that serve cannot start without.
func loadCredentials(r *resolver, sc *serveConfig) error {
	a := &sc.authz
	var missing []string
	a.AdminToken, _ = r.Get(sAdminToken)
	if a.AdminToken == "" && sc.dev {
		// Without --dev it is optional: the server refuses to start only
		// when no operator could reach the admin API either.
		a.AdminToken, sc.generatedAdminToken = authz.NewSecret(), true
	}
	a.Secrets = secretList(r)
	if len(a.Secrets) == 0 {
		if !sc.dev {
			missing = append(missing, "IDVAUTH_SECRETS (comma-separated secrets of 32+ characters that encrypt signing keys)")
		}
		a.Secrets, sc.generatedSecrets = []string{authz.NewSecret()}, true
	}
	if a.DatabaseURL == "" && !sc.dev {
		missing = append(missing, "IDVAUTH_DATABASE_URL (PostgreSQL; or run 'idvauth serve --dev' to try idvauth in memory)")
	}
	a.InMemory = sc.dev && a.DatabaseURL == ""
	if len(missing) > 0 {
		return fmt.Errorf("cannot start without these settings:\n  - %s", strings.Join(missing, "\n  - "))
	}
	if a.MetricsToken, _ = r.Get(sMetricsToken); a.MetricsToken != "" {
		switch {
		case len(a.MetricsToken) < 32:
			return errors.New("IDVAUTH_METRICS_TOKEN: the metrics bearer token must be at least 32 characters (e.g. openssl rand -hex 32)")
		case a.MetricsToken == a.AdminToken:
			return errors.New("IDVAUTH_METRICS_TOKEN: must not be the admin token (a scraper should not hold the keys to the admin API; e.g. openssl rand -hex 32)")
		case slices.Contains(a.Secrets, a.MetricsToken):
			return errors.New("IDVAUTH_METRICS_TOKEN: must not be one of IDVAUTH_SECRETS (a scraper should not hold the key that encrypts signing keys; e.g. openssl rand -hex 32)")
		}
	}
	return nil
}

// loadAbuseSettings reads the rate limits and the client authentication
// failure limits into a.
func loadAbuseSettings(r *resolver, a *authz.Config) error {
	var err error
	for _, rl := range []struct {
		s   setting
		dst *float64
	}{
		{sRateToken, &a.RateLimits.TokenPerClient}, {sRateIntrospect, &a.RateLimits.IntrospectPerClient},
		{sRatePerIP, &a.RateLimits.PerIP}, {sRateLogin, &a.RateLimits.LoginPerIP}, {sRateFailed, &a.RateLimits.FailedPerIP},
	} {
		if *rl.dst, err = r.Rate(rl.s); err != nil {
			return err
		}
	}
	for _, l := range []struct {
		s   setting
		dst *int
	}{{sClientAuthMaxFail, &a.ClientAuthMaxFailures}, {sClientAuthMaxFailIP, &a.ClientAuthMaxFailuresPerIP}} {
		n, err := r.Uint(l.s, 16)
		if err != nil {
			return err
		}
		if n == 0 {
			v, _ := r.Get(l.s)
			return fmt.Errorf("%s: %q must be at least 1 (example: %s=%s)", r.Where(l.s), v, l.s.Env, l.s.Def)
		}
		*l.dst = int(n)
	}
	if a.ClientAuthWindow, err = r.Duration(sClientAuthWindow); err != nil {
		return err
	}
	if a.ClientAuthWindow < time.Second {
		v, _ := r.Get(sClientAuthWindow)
		return fmt.Errorf("%s: %q must be at least 1s (example: %s=15m)", r.Where(sClientAuthWindow), v, sClientAuthWindow.Env)
	}
	return nil
}

// loadAuditSettings reads the audit trail settings into a. Retention is
// applied by the janitor, so it needs a janitor interval.
func loadAuditSettings(r *resolver, a *authz.Config) error {
	on, err := r.OnOff(sAudit)
	if err != nil {
		return err
	}
	a.AuditDisabled = !on
	switch v, _ := r.Get(sAuditCommit); strings.ToLower(v) {
	case "durable":
	case "fast":
		a.AuditFastCommit = true
	default:
		return fmt.Errorf("%s: %q must be durable or fast (example: %s=durable)", r.Where(sAuditCommit), v, sAuditCommit.Env)
	}
	if a.AuditReadDelay, err = r.Duration(sAuditReadDelay); err != nil {
		return err
	}
	if a.AuditReadDelay < 0 || a.AuditReadDelay > settings.MaxAuditReadDelay {
		return fmt.Errorf("%s: %v is not between 0 (reads' entries stored before the answer) and %v", r.Where(sAuditReadDelay), a.AuditReadDelay, settings.MaxAuditReadDelay)
	}
	a.AuditSink, _ = r.Get(sAuditSink)
	a.AuditSinkToken, _ = r.Get(sAuditSinkToken)
	a.AuditSinkCA, _ = r.Get(sAuditSinkCA)
	v, _ := r.Get(sAuditRetention)
	d, err := settings.ParseDays(v)
	if err != nil || d < 0 {
		return fmt.Errorf("%s: %q is not a retention period (examples: 2160h or 90d for 90 days, 0 to keep everything)", r.Where(sAuditRetention), v)
	}
	a.AuditRetention = d
	if d > 0 && a.JanitorInterval < 0 {
		return fmt.Errorf("%s: %q needs the janitor, which drops old entries, but IDVAUTH_JANITOR_INTERVAL=0 turns it off (example: IDVAUTH_JANITOR_INTERVAL=5m)", r.Where(sAuditRetention), v)
	}
	return nil
}

func serve(cmd *cobra.Command, env lookupEnv) error {
	sc, err := loadServeConfig(cmd, env)
	if err != nil {
		return err
	}
	log := devkit.NewLogger(sc.dev, sc.logLevel, cmd.ErrOrStderr())
	defer func() { _ = log.Sync() }()
	sc.authz.Logger = log
	if sc.authz.AuditDisabled {
		log.Warn("AUDIT TRAIL OFF: token issuance, sign-ins and admin changes are NOT recorded; " +
			"turn it off only to measure its cost (IDVAUTH_AUDIT=off)")
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var lc net.ListenConfig
	var public net.Listener
	if sc.dev && !sc.issuerSet {
		// The demo's issuer is where its public listener really is (another
		// --public-addr, or port 0), so that discovery and the iss of its
		// tokens name this server; only known once bound.
		if public, err = lc.Listen(ctx, "tcp", sc.publicAddr); err != nil {
			return fmt.Errorf("public listener: %w", err)
		}
		sc.authz.Issuer = devkit.Issuer(public.Addr())
		if sc.authz.TLSCertFile != "" {
			sc.authz.Issuer = "https://" + strings.TrimPrefix(sc.authz.Issuer, "http://")
		}
	}
	getenv := func(k string) string { v, _ := env(k); return v }
	if tracing.Enabled(getenv) {
		tp, shutdown, err := tracing.FromEnv(ctx, buildinfo.Read().Version, getenv)
		if err != nil {
			return fmt.Errorf("tracing (OTEL_EXPORTER_OTLP_*): %w", err)
		}
		sc.authz.TracerProvider = tp
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = shutdown(sctx)
		}()
		log.Info("tracing on: spans go to the OTLP endpoint of the OTEL_EXPORTER_OTLP_* variables")
	}
	srv, err := authz.New(ctx, sc.authz)
	if err != nil {
		if public != nil {
			public.Close()
		}
		return err
	}
	defer srv.Close()

	if public == nil {
		if public, err = lc.Listen(ctx, "tcp", sc.publicAddr); err != nil {
			return fmt.Errorf("public listener: %w", err)
		}
	}
	admin, err := lc.Listen(ctx, "tcp", sc.adminAddr)
	if err != nil {
		public.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	if sc.dev {
		demo, err := srv.SeedDemo(ctx)
		if err != nil {
			public.Close()
			admin.Close()
			return fmt.Errorf("seed demo clients: %w", err)
		}
		sc.banner(demo, public.Addr(), admin.Addr()).Write(cmd.OutOrStdout())
	}
	log.Info("idvauth serving", zap.String("version", buildinfo.Read().Version), zap.String("issuer", sc.authz.Issuer),
		zap.String("public_addr", public.Addr().String()), zap.String("admin_addr", admin.Addr().String()), zap.Bool("dev", sc.dev))
	if err := srv.Serve(ctx, public, admin); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("idvauth stopped")
	return nil
}

// banner is the --dev banner of the listeners at public and admin.
func (sc serveConfig) banner(demo authz.DemoClients, public, admin net.Addr) devkit.Banner {
	return devkit.Banner{Issuer: sc.authz.Issuer, PublicAddr: public.String(), AdminAddr: admin.String(),
		TLSCertFile: sc.authz.TLSCertFile, TLSClientCAFile: sc.authz.TLSClientCAFile, Persistent: sc.authz.DatabaseURL != "",
		AdminToken: sc.authz.AdminToken, GeneratedAdminToken: sc.generatedAdminToken, AllowRemote: sc.devAllowRemote, Demo: demo}
}

// secretList is IDVAUTH_SECRETS split at commas, blanks dropped.
func secretList(r *resolver) []string { v, _ := r.Get(sSecrets); return settings.SplitList(v) }

// checkDevListeners refuses a --dev listener beyond loopback unless
// --dev-allow-remote: --dev hands out generated credentials and the demo's
// secrets.
func checkDevListeners(sc serveConfig) error {
	if !sc.dev || sc.devAllowRemote {
		return nil
	}
	for _, l := range []struct {
		s    setting
		addr string
	}{{sPublicAddr, sc.publicAddr}, {sAdminAddr, sc.adminAddr}} {
		if !devkit.LoopbackOnly(l.addr) {
			return fmt.Errorf("--%s (%s) %q is not a loopback address: --dev listens on loopback only, since it hands out generated credentials "+
				"and the demo's secrets (use 127.0.0.1:PORT, or add --dev-allow-remote to listen there anyway, only on a network you trust)",
				l.s.Flag, l.s.Env, l.addr)
		}
	}
	return nil
}

// loadTLSSettings reads the TLS files, the forwarded certificate header
// and HSTS.
func loadTLSSettings(r *resolver, a *authz.Config) error {
	a.TLSCertFile, _ = r.Get(sTLSCert)
	a.TLSKeyFile, _ = r.Get(sTLSKey)
	a.TLSClientCAFile, _ = r.Get(sTLSClientCA)
	a.TLSClientCertHeader, _ = r.Get(sTLSClientCertHeader)
	var err error
	if a.HSTSMaxAge, err = r.Duration(sHSTSMaxAge); err != nil {
		return err
	}
	switch {
	case a.HSTSMaxAge == 0:
		a.HSTSMaxAge = -1 // off
	case a.HSTSMaxAge < time.Second:
		v, _ := r.Get(sHSTSMaxAge)
		return fmt.Errorf("%s: %q must be at least 1s, or 0 for no Strict-Transport-Security (example: %s=8760h)", r.Where(sHSTSMaxAge), v, sHSTSMaxAge.Env)
	}
	return nil
}

func newHealthCmd(env lookupEnv) *cobra.Command {
	cmd := &cobra.Command{Use: "health", Short: "Check that the server on this host is ready (the image's HEALTHCHECK)",
		Long: container.HealthDoc, Example: "  idvauth health\n  idvauth health --live --url http://10.0.0.7:8080", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := newResolver(cmd, env)
			if err != nil {
				return err
			}
			p := container.Probe{URL: cmd.Flag("url").Value.String(), Live: cmd.Flag("live").Value.String() == "true"}
			p.Addr, _ = r.Get(sPublicAddr)
			cert, _ := r.Get(sTLSCert)
			p.TLS = cert != ""
			return container.Health(cmd.Context(), cmd.OutOrStdout(), p)
		}}
	cliconf.AddFlag(cmd, sPublicAddr)
	cmd.Flags().String("url", "", "base URL of the public listener (default: from --public-addr)")
	cmd.Flags().Bool("live", false, "ask /health/live instead of /health/ready")
	return cmd
}

// urlOf is the http URL of the listen address addr, for links to it when
// IDVAUTH_ADMIN_URL is not set: an unspecified host (all interfaces) is
// reached on loopback. It is empty when the port is chosen at listening
// (0) or addr cannot be read (the listener then says why).
func urlOf(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" {
		return ""
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
