package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/settings"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/cliconf"
)

// setting is one setting with its flag and env names (its config file
// key follows from the env name), its default and its help.
type setting = cliconf.Setting

// newSetting is the setting of flag ("" for none) and env, with its
// default and help.
func newSetting(flag, env, def, usage string) setting {
	return setting{Flag: flag, Env: env, Def: def, Usage: usage}
}

// resolver resolves settings: flag, env, config file, default.
type resolver = cliconf.Resolver

var (
	sIssuer = newSetting("issuer", "IDVAUTH_ISSUER",
		settings.DefaultIssuer, "issuer URL: the iss of every token")
	sPublicAddr = newSetting("public-addr", "IDVAUTH_PUBLIC_ADDR",
		"127.0.0.1:8080", "public listener (OAuth endpoints)")
	sAdminAddr = newSetting("admin-addr", "IDVAUTH_ADMIN_ADDR",
		"127.0.0.1:8081", "admin listener (admin API)")
	sDatabaseURL = newSetting("database-url", "IDVAUTH_DATABASE_URL",
		"", "PostgreSQL URL (none: in-memory, only with --dev)")
	sPersonKeysURL = newSetting("person-keys-database-url", "IDVAUTH_PERSON_KEYS_DATABASE_URL",
		"", "PostgreSQL URL of the person-key store: people's data keys, apart from the main database, so that erasures reach its backups (none: kept in the main database)")
	sDatabaseTimeout = newSetting("database-timeout", "IDVAUTH_DATABASE_TIMEOUT",
		settings.DefaultDatabaseTimeout.String(), "longest a request waits for the database before it is answered 503")
	sSecrets = newSetting("", "IDVAUTH_SECRETS",
		"", "")
	sAdminToken = newSetting("admin-token", "IDVAUTH_ADMIN_TOKEN",
		"", "admin API bearer token (prefer the env variable: flags show in ps)")
	sAdminURL = newSetting("admin-url", "IDVAUTH_ADMIN_URL",
		"http://127.0.0.1:8081", "URL of the admin listener: where the CLI calls the admin API, and what the server builds its links and the console's redirect URI on")
	sCredentials = newSetting("credentials", "IDVAUTH_CREDENTIALS",
		"", "file where idvauth login keeps operators' tokens (default: idvauth/credentials.json in the user's configuration directory)")
	sAccessTTL = newSetting("access-token-ttl", "IDVAUTH_ACCESS_TOKEN_TTL",
		settings.DefaultAccessTokenTTL.String(), "access token lifetime")
	sMaxAccessTTL = newSetting("max-access-token-ttl", "IDVAUTH_MAX_ACCESS_TOKEN_TTL",
		settings.DefaultMaxAccessTokenTTL.String(), "longest access_token_ttl a client may have")
	sMaxAPIKeyTTL = newSetting("max-api-key-ttl", "IDVAUTH_MAX_API_KEY_TTL",
		settings.DefaultMaxAPIKeyTTL.String(), "longest lifetime of an API key")
	sDefaultAudience = newSetting("default-audience", "IDVAUTH_DEFAULT_AUDIENCE",
		settings.DefaultAudience, "aud of tokens for clients that register no audience")
	sAdminAudience = newSetting("admin-audience", "IDVAUTH_ADMIN_AUDIENCE",
		"", "aud the admin API accepts in access tokens (default: the issuer followed by /admin)")
	sAccessAlg = newSetting("access-token-alg", "IDVAUTH_ACCESS_TOKEN_ALG",
		settings.DefaultAccessTokenAlg, "access token signing algorithm: ES256, RS256 or PS256")
	sJWKSMaxAge = newSetting("jwks-max-age", "IDVAUTH_JWKS_MAX_AGE",
		settings.DefaultJWKSMaxAge.String(), "Cache-Control max-age of the JWKS")
	sJanitorInterval = newSetting("janitor-interval", "IDVAUTH_JANITOR_INTERVAL",
		settings.DefaultJanitorInterval.String(), "how often expired tokens are deleted (0 turns the janitor off)")
	sKeyRotation = newSetting("key-rotation-interval", "IDVAUTH_KEY_ROTATION_INTERVAL",
		settings.DefaultKeyRotationInterval.String(), "how long a signing key signs before the next one takes over (0: only by hand)")
	sIDTokenAlg = newSetting("id-token-alg", "IDVAUTH_ID_TOKEN_ALG",
		settings.DefaultIDTokenAlg, "ID token signing algorithm for clients that registered none: RS256, ES256 or PS256")
	sIDTokenTTL = newSetting("id-token-ttl", "IDVAUTH_ID_TOKEN_TTL",
		settings.DefaultIDTokenTTL.String(), "ID token lifetime")
	sCodeTTL = newSetting("code-ttl", "IDVAUTH_CODE_TTL",
		settings.DefaultCodeTTL.String(), "authorization code lifetime (at most 10m)")
	sPARTTL = newSetting("par-ttl", "IDVAUTH_PAR_TTL",
		settings.DefaultPARTTL.String(), "how long a pushed authorization request's request_uri may be started (at most 10m)")
	sRequirePAR = newSetting("require-par", "IDVAUTH_REQUIRE_PAR",
		"off", "on: the authorization endpoint takes only pushed authorization requests (RFC 9126), from every client")
	sDPoPNonce = newSetting("dpop-nonce", "IDVAUTH_DPOP_NONCE",
		"off", "on: every DPoP proof must repeat a server nonce (RFC 9449 section 8; DPoP-Nonce header, use_dpop_nonce)")
	sProfile = newSetting("profile", "IDVAUTH_PROFILE",
		"", "security profile every client is held to: fapi2 (the FAPI 2.0 Security Profile), or empty for none")
	sRefreshTTL = newSetting("refresh-token-ttl", "IDVAUTH_REFRESH_TOKEN_TTL",
		settings.DefaultRefreshTTL.String(), "refresh token lifetime (each rotation starts a new one, up to --refresh-token-max-lifetime)")
	sRefreshMaxLife = newSetting("refresh-token-max-lifetime", "IDVAUTH_REFRESH_TOKEN_MAX_LIFETIME",
		settings.DefaultRefreshMaxLifetime.String(), "how long a grant's refresh tokens live in all, however often they rotate (at least --refresh-token-ttl)")
	sSessionTTL = newSetting("session-ttl", "IDVAUTH_SESSION_TTL",
		settings.DefaultSessionTTL.String(), "how long a browser stays signed in")
	sLoginMaxFail = newSetting("login-max-failures", "IDVAUTH_LOGIN_MAX_FAILURES",
		fmt.Sprint(settings.DefaultLoginMaxFail), "failed sign-ins per account in a login window before sign-in is paused")
	sLoginMaxFailIP = newSetting("login-max-failures-per-ip", "IDVAUTH_LOGIN_MAX_FAILURES_PER_IP",
		fmt.Sprint(settings.DefaultLoginMaxFailIP), "failed sign-ins per source address in a login window")
	sLoginWindow = newSetting("login-window", "IDVAUTH_LOGIN_WINDOW",
		settings.DefaultLoginWindow.String(), "window of the sign-in failure limits (and the pause)")
	sMFA = newSetting("mfa", "IDVAUTH_MFA",
		settings.MFAOptional, "second factor at sign-in: optional (for people who set one up, and clients or requests that ask) or required (everyone sets one up at their next sign-in)")
	sFourEyes = newSetting("four-eyes", "IDVAUTH_FOUR_EYES",
		"off", "four-eyes: on holds erasing a person, retiring a key with its tokens, granting owner or admin and deleting a client until a second operator approves (idvauth requests)")
	sArgon2Time = newSetting("argon2-time", "IDVAUTH_ARGON2_TIME",
		fmt.Sprint(settings.DefaultArgon2Time), "argon2id passes for new password hashes")
	sArgon2Memory = newSetting("argon2-memory-kib", "IDVAUTH_ARGON2_MEMORY_KIB",
		fmt.Sprint(settings.DefaultArgon2MemoryKiB), "argon2id memory in KiB for new password hashes")
	sArgon2Threads = newSetting("argon2-threads", "IDVAUTH_ARGON2_THREADS",
		fmt.Sprint(settings.DefaultArgon2Threads), "argon2id lanes for new password hashes")
	sPasswordHashConcurrency = newSetting("password-hash-concurrency", "IDVAUTH_PASSWORD_HASH_CONCURRENCY",
		"0", "password hashes (of --argon2-memory-kib each) run at once; past it sign-ins and new users get 503 without hashing, and the login burst per address is capped to it (0: as many as fit in a quarter of the memory limit — GOMEMLIMIT, cgroup or total memory — at most 2 of 64 MiB per CPU, at least 1)")
	sTrustedProxies = newSetting("trusted-proxies", "IDVAUTH_TRUSTED_PROXIES",
		"", "comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is believed")
	sAllowPrivateOutbound = newSetting("allow-private-outbound", "IDVAUTH_ALLOW_PRIVATE_OUTBOUND",
		"", "comma-separated CIDR ranges of internal addresses (loopback, link-local, private, shared, unspecified) that clients' jwks_uri may reach all the same")
	sTLSCert = newSetting("tls-cert", "IDVAUTH_TLS_CERT",
		"", "PEM certificate (chain) of the public listener: serve HTTPS (reloaded when the file changes)")
	sTLSKey = newSetting("tls-key", "IDVAUTH_TLS_KEY",
		"", "PEM private key of --tls-cert")
	sTLSClientCA = newSetting("tls-client-ca", "IDVAUTH_TLS_CLIENT_CA",
		"", "PEM CA certificates of client certificates: enables tls_client_auth and self_signed_tls_client_auth")
	sTLSClientCertHeader = newSetting("tls-client-cert-header", "IDVAUTH_TLS_CLIENT_CERT_HEADER",
		"", "header in which a trusted proxy that ends TLS forwards the client certificate (URL-encoded PEM, nginx $ssl_client_escaped_cert)")
	sHSTSMaxAge = newSetting("hsts-max-age", "IDVAUTH_HSTS_MAX_AGE",
		settings.DefaultHSTSMaxAge.String(), "Strict-Transport-Security max-age on the public listener's HTTPS answers (0: none; never on plain HTTP)")
	sLogLevel = newSetting("log-level", "IDVAUTH_LOG_LEVEL",
		"info", "log level: debug, info, warn or error")
	sAudit = newSetting("audit", "IDVAUTH_AUDIT",
		"on", "audit trail: on, or off (only to measure its cost: nothing is recorded)")
	sAuditReadDelay = newSetting("audit-read-delay", "IDVAUTH_AUDIT_READ_DELAY",
		settings.DefaultAuditReadDelay.String(), "longest a read's audit entry (introspection, userinfo) is stored after its answer; 0: before it")
	sAuditCommit = newSetting("audit-commit", "IDVAUTH_AUDIT_COMMIT",
		"durable", "when a request's audit entry counts as written: durable (flushed to disk by PostgreSQL) or fast (committed; survives a crash of idvauth, not of PostgreSQL)")
	sAuditRetention = newSetting("audit-retention", "IDVAUTH_AUDIT_RETENTION",
		"0", "how long audit entries are kept, e.g. 2160h; older ones are dropped behind a checkpoint by the janitor (0: keep everything)")
	sAuditSink = newSetting("audit-sink", "IDVAUTH_AUDIT_SINK",
		"", "ship the audit trail off the host: https://host/path (JSON lines) or syslog+tls://host:port (default: not shipped)")
	sAuditSinkToken = newSetting("audit-sink-token", "IDVAUTH_AUDIT_SINK_TOKEN",
		"", "bearer token for an https audit sink (prefer the env variable: flags show in ps)")
	sAuditSinkCA = newSetting("audit-sink-ca", "IDVAUTH_AUDIT_SINK_CA",
		"", "PEM file of the CAs the audit sink's certificate chains to (default: the system's)")
	sRateToken = newSetting("rate-limit-token-per-client", "IDVAUTH_RATE_LIMIT_TOKEN_PER_CLIENT",
		fmt.Sprint(settings.DefaultRateTokenPerClient), "token and revocation requests per second per client (0 or off: no limit)")
	sRateIntrospect = newSetting("rate-limit-introspect-per-client", "IDVAUTH_RATE_LIMIT_INTROSPECT_PER_CLIENT",
		fmt.Sprint(settings.DefaultRateIntrospectPerClient), "introspection requests per second per caller (0 or off: no limit)")
	sRatePerIP = newSetting("rate-limit-per-ip", "IDVAUTH_RATE_LIMIT_PER_IP",
		fmt.Sprint(settings.DefaultRatePerIP), "token, introspection and revocation requests per second per client address (0 or off: no limit)")
	sRateLogin = newSetting("rate-limit-login-per-ip", "IDVAUTH_RATE_LIMIT_LOGIN_PER_IP",
		fmt.Sprint(settings.DefaultRateLoginPerIP), "login form posts per second per client address (0 or off: no limit)")
	sRateFailed = newSetting("rate-limit-failures-per-ip", "IDVAUTH_RATE_LIMIT_FAILURES_PER_IP",
		fmt.Sprint(settings.DefaultRateFailedPerIP), "refused token, introspection and revocation requests per second per client address (0 or off: no limit)")
	sClientAuthMaxFail = newSetting("client-auth-max-failures", "IDVAUTH_CLIENT_AUTH_MAX_FAILURES",
		fmt.Sprint(settings.DefaultClientAuthMaxFailures), "failed client authentications of one client ID from one address in a window before it is refused from there")
	sClientAuthMaxFailIP = newSetting("client-auth-max-failures-per-ip", "IDVAUTH_CLIENT_AUTH_MAX_FAILURES_PER_IP",
		fmt.Sprint(settings.DefaultClientAuthMaxFailuresPerIP), "failed client authentications from one address in a window, whatever the client ID")
	sClientAuthWindow = newSetting("client-auth-window", "IDVAUTH_CLIENT_AUTH_WINDOW",
		settings.DefaultClientAuthWindow.String(), "window of the client authentication failure limits (and the cool-off)")
	// sMetricsToken has no flag: flags show in ps.
	sMetricsToken = newSetting("", "IDVAUTH_METRICS_TOKEN",
		"", "")
)

// allSettings lists every setting, in the order of the example config
// (idvauth.example.yaml) and of 'idvauth config check'. A setting missing
// here fails TestExampleConfig.
var allSettings = []setting{
	sIssuer, sPublicAddr, sAdminAddr, sDatabaseURL, sPersonKeysURL, sSecrets, sAdminToken, sAdminURL, sCredentials,
	sAccessTTL, sMaxAccessTTL, sDefaultAudience, sAdminAudience, sAccessAlg, sJWKSMaxAge, sJanitorInterval, sKeyRotation,
	sIDTokenAlg, sIDTokenTTL, sCodeTTL, sRefreshTTL, sRefreshMaxLife, sSessionTTL,
	sLoginMaxFail, sLoginMaxFailIP, sLoginWindow, sArgon2Time, sArgon2Memory, sArgon2Threads, sPasswordHashConcurrency,
	sTrustedProxies, sAllowPrivateOutbound, sTLSCert, sTLSKey, sTLSClientCA, sTLSClientCertHeader, sHSTSMaxAge, sLogLevel,
	sAudit, sAuditCommit, sAuditRetention, sRateToken, sRateIntrospect, sRatePerIP, sRateLogin, sRateFailed,
	sClientAuthMaxFail, sClientAuthMaxFailIP, sClientAuthWindow, sMetricsToken,
	sMaxAPIKeyTTL, sAuditReadDelay, sAuditSink, sAuditSinkToken, sAuditSinkCA, sDatabaseTimeout, sPARTTL, sRequirePAR, sDPoPNonce, sProfile, sMFA, sFourEyes,
}

// fileSettings may also be read from the file their _FILE variable names.
var fileSettings = []string{sDatabaseURL.Env, sPersonKeysURL.Env, sSecrets.Env, sAdminToken.Env, sMetricsToken.Env, sAuditSinkToken.Env}

// schema is what the config file may hold: every setting, and the
// scopes table.
var schema = cliconf.Schema{
	Settings: allSettings,
	Lists:    []setting{sSecrets, sTrustedProxies, sAllowPrivateOutbound},
	Files:    fileSettings,
	Other:    []string{"scopes"},
}

func newResolver(cmd *cobra.Command, env lookupEnv) (*resolver, error) {
	return cliconf.NewResolver(cmd, env, schema)
}
