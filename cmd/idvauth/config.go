package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/idvauth/idvauth/authz/container"
	"github.com/idvauth/idvauth/authz/settings"
)

// fileConfig is the YAML config file. Unknown keys are an error.
type fileConfig struct {
	Issuer            string           `yaml:"issuer"`
	PublicAddr        string           `yaml:"public_addr"`
	AdminAddr         string           `yaml:"admin_addr"`
	DatabaseURL       string           `yaml:"database_url"`
	DatabaseTimeout   string           `yaml:"database_timeout"`
	Secrets           []string         `yaml:"secrets"`
	AdminToken        string           `yaml:"admin_token"`
	AdminURL          string           `yaml:"admin_url"`
	AccessTokenTTL    string           `yaml:"access_token_ttl"`
	MaxAccessTokenTTL string           `yaml:"max_access_token_ttl"`
	MaxAPIKeyTTL      string           `yaml:"max_api_key_ttl"`
	DefaultAudience   string           `yaml:"default_audience"`
	AdminAudience     string           `yaml:"admin_audience"`
	AccessTokenAlg    string           `yaml:"access_token_alg"`
	JWKSMaxAge        string           `yaml:"jwks_max_age"`
	LogLevel          string           `yaml:"log_level"`
	JanitorInterval   string           `yaml:"janitor_interval"`
	KeyRotation       string           `yaml:"key_rotation_interval"`
	IDTokenAlg        string           `yaml:"id_token_alg"`
	IDTokenTTL        string           `yaml:"id_token_ttl"`
	CodeTTL           string           `yaml:"code_ttl"`
	PARTTL            string           `yaml:"par_ttl"`
	RequirePAR        string           `yaml:"require_par"`
	RefreshTokenTTL   string           `yaml:"refresh_token_ttl"`
	RefreshMaxLife    string           `yaml:"refresh_token_max_lifetime"`
	SessionTTL        string           `yaml:"session_ttl"`
	LoginMaxFailures  string           `yaml:"login_max_failures"`
	LoginMaxFailIP    string           `yaml:"login_max_failures_per_ip"`
	LoginWindow       string           `yaml:"login_window"`
	MFA               string           `yaml:"mfa"`
	Argon2Time        string           `yaml:"argon2_time"`
	Argon2MemoryKiB   string           `yaml:"argon2_memory_kib"`
	Argon2Threads     string           `yaml:"argon2_threads"`
	PasswordHashConc  string           `yaml:"password_hash_concurrency"`
	TrustedProxies    []string         `yaml:"trusted_proxies"`
	AllowPrivateOut   []string         `yaml:"allow_private_outbound"`
	TLSCert           string           `yaml:"tls_cert"`
	TLSKey            string           `yaml:"tls_key"`
	TLSClientCA       string           `yaml:"tls_client_ca"`
	TLSClientCertHdr  string           `yaml:"tls_client_cert_header"`
	HSTSMaxAge        string           `yaml:"hsts_max_age"`
	Scopes            []settings.Scope `yaml:"scopes"`

	Audit                   string `yaml:"audit"`
	AuditRetention          string `yaml:"audit_retention"`
	AuditCommit             string `yaml:"audit_commit"`
	AuditSink               string `yaml:"audit_sink"`
	AuditSinkToken          string `yaml:"audit_sink_token"`
	AuditSinkCA             string `yaml:"audit_sink_ca"`
	RateTokenPerClient      string `yaml:"rate_limit_token_per_client"`
	RateIntrospectPerClient string `yaml:"rate_limit_introspect_per_client"`
	RatePerIP               string `yaml:"rate_limit_per_ip"`
	RateLoginPerIP          string `yaml:"rate_limit_login_per_ip"`
	RateFailedPerIP         string `yaml:"rate_limit_failures_per_ip"`
	ClientAuthMaxFailures   string `yaml:"client_auth_max_failures"`
	ClientAuthMaxFailuresIP string `yaml:"client_auth_max_failures_per_ip"`
	ClientAuthWindow        string `yaml:"client_auth_window"`
	MetricsToken            string `yaml:"metrics_token"`
}

// setting is one string-valued setting with its flag, env and file names.
type setting struct {
	flag  string // "" if there is no flag
	env   string
	file  func(*fileConfig) string
	def   string
	usage string
}

var (
	sIssuer = setting{"issuer", "IDVAUTH_ISSUER", func(f *fileConfig) string { return f.Issuer },
		settings.DefaultIssuer, "issuer URL: the iss of every token"}
	sPublicAddr = setting{"public-addr", "IDVAUTH_PUBLIC_ADDR", func(f *fileConfig) string { return f.PublicAddr },
		"127.0.0.1:8080", "public listener (OAuth endpoints)"}
	sAdminAddr = setting{"admin-addr", "IDVAUTH_ADMIN_ADDR", func(f *fileConfig) string { return f.AdminAddr },
		"127.0.0.1:8081", "admin listener (admin API)"}
	sDatabaseURL = setting{"database-url", "IDVAUTH_DATABASE_URL", func(f *fileConfig) string { return f.DatabaseURL },
		"", "PostgreSQL URL (none: in-memory, only with --dev)"}
	sDatabaseTimeout = setting{"database-timeout", "IDVAUTH_DATABASE_TIMEOUT", func(f *fileConfig) string { return f.DatabaseTimeout },
		settings.DefaultDatabaseTimeout.String(), "longest a request waits for the database before it is answered 503"}
	sSecrets = setting{"", "IDVAUTH_SECRETS", func(f *fileConfig) string { return strings.Join(f.Secrets, ",") },
		"", ""}
	sAdminToken = setting{"admin-token", "IDVAUTH_ADMIN_TOKEN", func(f *fileConfig) string { return f.AdminToken },
		"", "admin API bearer token (prefer the env variable: flags show in ps)"}
	sAdminURL = setting{"admin-url", "IDVAUTH_ADMIN_URL", func(f *fileConfig) string { return f.AdminURL },
		"http://127.0.0.1:8081", "admin API URL"}
	sAccessTTL = setting{"access-token-ttl", "IDVAUTH_ACCESS_TOKEN_TTL", func(f *fileConfig) string { return f.AccessTokenTTL },
		settings.DefaultAccessTokenTTL.String(), "access token lifetime"}
	sMaxAccessTTL = setting{"max-access-token-ttl", "IDVAUTH_MAX_ACCESS_TOKEN_TTL", func(f *fileConfig) string { return f.MaxAccessTokenTTL },
		settings.DefaultMaxAccessTokenTTL.String(), "longest access_token_ttl a client may have"}
	sMaxAPIKeyTTL = setting{"max-api-key-ttl", "IDVAUTH_MAX_API_KEY_TTL", func(f *fileConfig) string { return f.MaxAPIKeyTTL },
		settings.DefaultMaxAPIKeyTTL.String(), "longest lifetime of an API key"}
	sDefaultAudience = setting{"default-audience", "IDVAUTH_DEFAULT_AUDIENCE", func(f *fileConfig) string { return f.DefaultAudience },
		settings.DefaultAudience, "aud of tokens for clients that register no audience"}
	sAdminAudience = setting{"admin-audience", "IDVAUTH_ADMIN_AUDIENCE", func(f *fileConfig) string { return f.AdminAudience },
		"", "aud the admin API accepts in access tokens (default: the issuer followed by /admin)"}
	sAccessAlg = setting{"access-token-alg", "IDVAUTH_ACCESS_TOKEN_ALG", func(f *fileConfig) string { return f.AccessTokenAlg },
		settings.DefaultAccessTokenAlg, "access token signing algorithm: ES256 or RS256"}
	sJWKSMaxAge = setting{"jwks-max-age", "IDVAUTH_JWKS_MAX_AGE", func(f *fileConfig) string { return f.JWKSMaxAge },
		settings.DefaultJWKSMaxAge.String(), "Cache-Control max-age of the JWKS"}
	sJanitorInterval = setting{"janitor-interval", "IDVAUTH_JANITOR_INTERVAL", func(f *fileConfig) string { return f.JanitorInterval },
		settings.DefaultJanitorInterval.String(), "how often expired tokens are deleted (0 turns the janitor off)"}
	sKeyRotation = setting{"key-rotation-interval", "IDVAUTH_KEY_ROTATION_INTERVAL", func(f *fileConfig) string { return f.KeyRotation },
		settings.DefaultKeyRotationInterval.String(), "how long a signing key signs before the next one takes over (0: only by hand)"}
	sIDTokenAlg = setting{"id-token-alg", "IDVAUTH_ID_TOKEN_ALG", func(f *fileConfig) string { return f.IDTokenAlg },
		settings.DefaultIDTokenAlg, "ID token signing algorithm for clients that registered none: RS256 or ES256"}
	sIDTokenTTL = setting{"id-token-ttl", "IDVAUTH_ID_TOKEN_TTL", func(f *fileConfig) string { return f.IDTokenTTL },
		settings.DefaultIDTokenTTL.String(), "ID token lifetime"}
	sCodeTTL = setting{"code-ttl", "IDVAUTH_CODE_TTL", func(f *fileConfig) string { return f.CodeTTL },
		settings.DefaultCodeTTL.String(), "authorization code lifetime (at most 10m)"}
	sPARTTL = setting{"par-ttl", "IDVAUTH_PAR_TTL", func(f *fileConfig) string { return f.PARTTL },
		settings.DefaultPARTTL.String(), "how long a pushed authorization request's request_uri may be started (at most 10m)"}
	sRequirePAR = setting{"require-par", "IDVAUTH_REQUIRE_PAR", func(f *fileConfig) string { return f.RequirePAR },
		"off", "on: the authorization endpoint takes only pushed authorization requests (RFC 9126), from every client"}
	sRefreshTTL = setting{"refresh-token-ttl", "IDVAUTH_REFRESH_TOKEN_TTL", func(f *fileConfig) string { return f.RefreshTokenTTL },
		settings.DefaultRefreshTTL.String(), "refresh token lifetime (each rotation starts a new one, up to --refresh-token-max-lifetime)"}
	sRefreshMaxLife = setting{"refresh-token-max-lifetime", "IDVAUTH_REFRESH_TOKEN_MAX_LIFETIME", func(f *fileConfig) string { return f.RefreshMaxLife },
		settings.DefaultRefreshMaxLifetime.String(), "how long a grant's refresh tokens live in all, however often they rotate (at least --refresh-token-ttl)"}
	sSessionTTL = setting{"session-ttl", "IDVAUTH_SESSION_TTL", func(f *fileConfig) string { return f.SessionTTL },
		settings.DefaultSessionTTL.String(), "how long a browser stays signed in"}
	sLoginMaxFail = setting{"login-max-failures", "IDVAUTH_LOGIN_MAX_FAILURES", func(f *fileConfig) string { return f.LoginMaxFailures },
		fmt.Sprint(settings.DefaultLoginMaxFail), "failed sign-ins per account in a login window before sign-in is paused"}
	sLoginMaxFailIP = setting{"login-max-failures-per-ip", "IDVAUTH_LOGIN_MAX_FAILURES_PER_IP", func(f *fileConfig) string { return f.LoginMaxFailIP },
		fmt.Sprint(settings.DefaultLoginMaxFailIP), "failed sign-ins per source address in a login window"}
	sLoginWindow = setting{"login-window", "IDVAUTH_LOGIN_WINDOW", func(f *fileConfig) string { return f.LoginWindow },
		settings.DefaultLoginWindow.String(), "window of the sign-in failure limits (and the pause)"}
	sMFA = setting{"mfa", "IDVAUTH_MFA", func(f *fileConfig) string { return f.MFA },
		settings.MFAOptional, "second factor at sign-in: optional (for people who set one up, and clients or requests that ask) or required (everyone sets one up at their next sign-in)"}
	sArgon2Time = setting{"argon2-time", "IDVAUTH_ARGON2_TIME", func(f *fileConfig) string { return f.Argon2Time },
		fmt.Sprint(settings.DefaultArgon2Time), "argon2id passes for new password hashes"}
	sArgon2Memory = setting{"argon2-memory-kib", "IDVAUTH_ARGON2_MEMORY_KIB", func(f *fileConfig) string { return f.Argon2MemoryKiB },
		fmt.Sprint(settings.DefaultArgon2MemoryKiB), "argon2id memory in KiB for new password hashes"}
	sArgon2Threads = setting{"argon2-threads", "IDVAUTH_ARGON2_THREADS", func(f *fileConfig) string { return f.Argon2Threads },
		fmt.Sprint(settings.DefaultArgon2Threads), "argon2id lanes for new password hashes"}
	sPasswordHashConcurrency = setting{"password-hash-concurrency", "IDVAUTH_PASSWORD_HASH_CONCURRENCY", func(f *fileConfig) string { return f.PasswordHashConc },
		"0", "password hashes (of --argon2-memory-kib each) run at once; past it sign-ins and new users get 503 without hashing, and the login burst per address is capped to it (0: as many as fit in a quarter of the memory limit — GOMEMLIMIT, cgroup or total memory — at most 2 of 64 MiB per CPU, at least 1)"}
	sTrustedProxies = setting{"trusted-proxies", "IDVAUTH_TRUSTED_PROXIES", func(f *fileConfig) string { return strings.Join(f.TrustedProxies, ",") },
		"", "comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is believed"}
	sAllowPrivateOutbound = setting{"allow-private-outbound", "IDVAUTH_ALLOW_PRIVATE_OUTBOUND", func(f *fileConfig) string { return strings.Join(f.AllowPrivateOut, ",") },
		"", "comma-separated CIDR ranges of internal addresses (loopback, link-local, private, shared, unspecified) that clients' jwks_uri may reach all the same"}
	sTLSCert = setting{"tls-cert", "IDVAUTH_TLS_CERT", func(f *fileConfig) string { return f.TLSCert },
		"", "PEM certificate (chain) of the public listener: serve HTTPS (reloaded when the file changes)"}
	sTLSKey = setting{"tls-key", "IDVAUTH_TLS_KEY", func(f *fileConfig) string { return f.TLSKey },
		"", "PEM private key of --tls-cert"}
	sTLSClientCA = setting{"tls-client-ca", "IDVAUTH_TLS_CLIENT_CA", func(f *fileConfig) string { return f.TLSClientCA },
		"", "PEM CA certificates of client certificates: enables tls_client_auth and self_signed_tls_client_auth"}
	sTLSClientCertHeader = setting{"tls-client-cert-header", "IDVAUTH_TLS_CLIENT_CERT_HEADER", func(f *fileConfig) string { return f.TLSClientCertHdr },
		"", "header in which a trusted proxy that ends TLS forwards the client certificate (URL-encoded PEM, nginx $ssl_client_escaped_cert)"}
	sHSTSMaxAge = setting{"hsts-max-age", "IDVAUTH_HSTS_MAX_AGE", func(f *fileConfig) string { return f.HSTSMaxAge },
		settings.DefaultHSTSMaxAge.String(), "Strict-Transport-Security max-age on the public listener's HTTPS answers (0: none; never on plain HTTP)"}
	sLogLevel = setting{"log-level", "IDVAUTH_LOG_LEVEL", func(f *fileConfig) string { return f.LogLevel },
		"info", "log level: debug, info, warn or error"}
	sAudit = setting{"audit", "IDVAUTH_AUDIT", func(f *fileConfig) string { return f.Audit },
		"on", "audit trail: on, or off (only to measure its cost: nothing is recorded)"}
	sAuditCommit = setting{"audit-commit", "IDVAUTH_AUDIT_COMMIT", func(f *fileConfig) string { return f.AuditCommit },
		"durable", "when a request's audit entry counts as written: durable (flushed to disk by PostgreSQL) or fast (committed; survives a crash of idvauth, not of PostgreSQL)"}
	sAuditRetention = setting{"audit-retention", "IDVAUTH_AUDIT_RETENTION", func(f *fileConfig) string { return f.AuditRetention },
		"0", "how long audit entries are kept, e.g. 2160h; older ones are dropped behind a checkpoint by the janitor (0: keep everything)"}
	sAuditSink = setting{"audit-sink", "IDVAUTH_AUDIT_SINK", func(f *fileConfig) string { return f.AuditSink },
		"", "ship the audit trail off the host: https://host/path (JSON lines) or syslog+tls://host:port (default: not shipped)"}
	sAuditSinkToken = setting{"audit-sink-token", "IDVAUTH_AUDIT_SINK_TOKEN", func(f *fileConfig) string { return f.AuditSinkToken },
		"", "bearer token for an https audit sink (prefer the env variable: flags show in ps)"}
	sAuditSinkCA = setting{"audit-sink-ca", "IDVAUTH_AUDIT_SINK_CA", func(f *fileConfig) string { return f.AuditSinkCA },
		"", "PEM file of the CAs the audit sink's certificate chains to (default: the system's)"}
	sRateToken = setting{"rate-limit-token-per-client", "IDVAUTH_RATE_LIMIT_TOKEN_PER_CLIENT", func(f *fileConfig) string { return f.RateTokenPerClient },
		fmt.Sprint(settings.DefaultRateTokenPerClient), "token and revocation requests per second per client (0 or off: no limit)"}
	sRateIntrospect = setting{"rate-limit-introspect-per-client", "IDVAUTH_RATE_LIMIT_INTROSPECT_PER_CLIENT", func(f *fileConfig) string { return f.RateIntrospectPerClient },
		fmt.Sprint(settings.DefaultRateIntrospectPerClient), "introspection requests per second per caller (0 or off: no limit)"}
	sRatePerIP = setting{"rate-limit-per-ip", "IDVAUTH_RATE_LIMIT_PER_IP", func(f *fileConfig) string { return f.RatePerIP },
		fmt.Sprint(settings.DefaultRatePerIP), "token, introspection and revocation requests per second per client address (0 or off: no limit)"}
	sRateLogin = setting{"rate-limit-login-per-ip", "IDVAUTH_RATE_LIMIT_LOGIN_PER_IP", func(f *fileConfig) string { return f.RateLoginPerIP },
		fmt.Sprint(settings.DefaultRateLoginPerIP), "login form posts per second per client address (0 or off: no limit)"}
	sRateFailed = setting{"rate-limit-failures-per-ip", "IDVAUTH_RATE_LIMIT_FAILURES_PER_IP", func(f *fileConfig) string { return f.RateFailedPerIP },
		fmt.Sprint(settings.DefaultRateFailedPerIP), "refused token, introspection and revocation requests per second per client address (0 or off: no limit)"}
	sClientAuthMaxFail = setting{"client-auth-max-failures", "IDVAUTH_CLIENT_AUTH_MAX_FAILURES", func(f *fileConfig) string { return f.ClientAuthMaxFailures },
		fmt.Sprint(settings.DefaultClientAuthMaxFailures), "failed client authentications of one client ID from one address in a window before it is refused from there"}
	sClientAuthMaxFailIP = setting{"client-auth-max-failures-per-ip", "IDVAUTH_CLIENT_AUTH_MAX_FAILURES_PER_IP", func(f *fileConfig) string { return f.ClientAuthMaxFailuresIP },
		fmt.Sprint(settings.DefaultClientAuthMaxFailuresPerIP), "failed client authentications from one address in a window, whatever the client ID"}
	sClientAuthWindow = setting{"client-auth-window", "IDVAUTH_CLIENT_AUTH_WINDOW", func(f *fileConfig) string { return f.ClientAuthWindow },
		settings.DefaultClientAuthWindow.String(), "window of the client authentication failure limits (and the cool-off)"}
	// sMetricsToken has no flag: flags show in ps.
	sMetricsToken = setting{"", "IDVAUTH_METRICS_TOKEN", func(f *fileConfig) string { return f.MetricsToken },
		"", ""}
)

// allSettings lists every setting, in the order of the example config
// (idvauth.example.yaml) and of 'idvauth config check'. A setting missing
// here fails TestExampleConfig.
var allSettings = []setting{
	sIssuer, sPublicAddr, sAdminAddr, sDatabaseURL, sSecrets, sAdminToken, sAdminURL,
	sAccessTTL, sMaxAccessTTL, sDefaultAudience, sAdminAudience, sAccessAlg, sJWKSMaxAge, sJanitorInterval, sKeyRotation,
	sIDTokenAlg, sIDTokenTTL, sCodeTTL, sRefreshTTL, sRefreshMaxLife, sSessionTTL,
	sLoginMaxFail, sLoginMaxFailIP, sLoginWindow, sArgon2Time, sArgon2Memory, sArgon2Threads, sPasswordHashConcurrency,
	sTrustedProxies, sAllowPrivateOutbound, sTLSCert, sTLSKey, sTLSClientCA, sTLSClientCertHeader, sHSTSMaxAge, sLogLevel,
	sAudit, sAuditCommit, sAuditRetention, sRateToken, sRateIntrospect, sRatePerIP, sRateLogin, sRateFailed,
	sClientAuthMaxFail, sClientAuthMaxFailIP, sClientAuthWindow, sMetricsToken,
	sMaxAPIKeyTTL, sAuditSink, sAuditSinkToken, sAuditSinkCA, sDatabaseTimeout, sPARTTL, sRequirePAR, sMFA,
}

// fileSettings may also be read from the file their _FILE variable names.
var fileSettings = []string{sDatabaseURL.env, sSecrets.env, sAdminToken.env, sMetricsToken.env, sAuditSinkToken.env}

// addFlag registers the setting's flag on cmd.
func addFlag(cmd *cobra.Command, s setting) {
	if s.flag != "" {
		v := &settingValue{v: s.def, typ: settings.FlagKind(s.flag, s.def)}
		cmd.Flags().Var(v, s.flag, s.usage+" (env "+s.env+")")
		cmd.Flags().Lookup(s.flag).DefValue = s.def
	}
}

// settingValue is the flag of a setting: a string parsed later (with the
// env variable and the file), whose help names its kind, not "string".
type settingValue struct{ v, typ string }

func (f *settingValue) String() string     { return f.v }
func (f *settingValue) Set(v string) error { f.v = v; return nil }
func (f *settingValue) Type() string       { return f.typ }

// resolver resolves settings in the order flag, env, file, default.
type resolver struct {
	cmd  *cobra.Command
	env  lookupEnv
	file *fileConfig
	path string         // the config file, "" if none
	line map[string]int // line of each top-level key of the config file
}

func newResolver(cmd *cobra.Command, env lookupEnv) (*resolver, error) {
	env, err := container.SecretFiles(env, fileSettings)
	if err != nil {
		return nil, err
	}
	r := &resolver{cmd: cmd, env: env, file: &fileConfig{}}
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		path, _ = env("IDVAUTH_CONFIG")
	}
	if path == "" {
		return r, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	r.path = path
	if err := r.readFile(b); err != nil {
		return nil, err
	}
	return r, nil
}

// readFile reads the YAML config file b into r.file, noting the line of
// each key, and refuses an unknown key with the nearest known one.
func (r *resolver) readFile(b []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("config file %s: %w", r.path, err)
	}
	r.line = map[string]int{}
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		known := fileKeys()
		m := doc.Content[0].Content
		for i := 0; i+1 < len(m); i += 2 {
			k := m[i]
			if !slices.Contains(known, k.Value) {
				msg := fmt.Sprintf("%s:%d: unknown key %q", r.path, k.Line, k.Value)
				if near := settings.Nearest(k.Value, known); near != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", near)
				}
				return errors.New(msg)
			}
			r.line[k.Value] = k.Line
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(r.file); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", r.path, err)
	}
	return nil
}

// fileKeys lists the keys of the config file, from fileConfig's tags.
func fileKeys() []string {
	t := reflect.TypeFor[fileConfig]()
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		keys = append(keys, strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0])
	}
	return keys
}

// fileKey is the config file key of s: its env name without IDVAUTH_, in
// lower case (a test holds every setting to it).
func (s setting) fileKey() string { return strings.ToLower(strings.TrimPrefix(s.env, "IDVAUTH_")) }

// where names the source of s's value for an error message: the flag, the
// env variable, or the config file's line; the env name for a default.
func (r *resolver) where(s setting) string {
	if s.flag != "" {
		if f := r.cmd.Flags().Lookup(s.flag); f != nil && f.Changed {
			return "--" + s.flag
		}
	}
	if v, ok := r.env(s.env); ok && v != "" {
		return s.env
	}
	if s.file(r.file) != "" {
		return fmt.Sprintf("%s:%d: %s", r.path, r.line[s.fileKey()], s.fileKey())
	}
	return s.env + " (default)"
}

// get returns the setting's value and whether it was set anywhere (flag,
// env or file) rather than defaulted.
func (r *resolver) get(s setting) (string, bool) {
	if s.flag != "" {
		if f := r.cmd.Flags().Lookup(s.flag); f != nil && f.Changed {
			return f.Value.String(), true
		}
	}
	if v, ok := r.env(s.env); ok && v != "" {
		return v, true
	}
	if v := s.file(r.file); v != "" {
		return v, true
	}
	return s.def, false
}

// value is the setting's value, set or defaulted.
func (r *resolver) value(s setting) string {
	v, _ := r.get(s)
	return v
}

// uint parses a non-negative integer setting of at most bits bits.
func (r *resolver) uint(s setting, bits int) (uint64, error) {
	v, _ := r.get(s)
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a whole number from 0 to %d", r.where(s), v, uint64(1)<<bits-1)
	}
	return n, nil
}

// prefixes parses a comma-separated list of IP addresses and CIDR ranges.
func (r *resolver) prefixes(s setting) ([]netip.Prefix, error) {
	v, _ := r.get(s)
	out, bad := settings.ParsePrefixes(v)
	if bad != "" {
		return nil, fmt.Errorf("%s: %q is neither an IP address nor a CIDR range (examples: 10.0.0.7, 10.0.0.0/8, fd00::/8)", r.where(s), bad)
	}
	return out, nil
}

// rate parses a rate limit in requests per second (see settings.ParseRate).
func (r *resolver) rate(s setting) (float64, error) {
	v, _ := r.get(s)
	f, ok := settings.ParseRate(v)
	if !ok {
		return 0, fmt.Errorf("%s: %q is not a rate in requests per second (examples: 50, 0.5, off)", r.where(s), v)
	}
	return f, nil
}

// onOff parses an on/off setting (true and false are taken too).
func (r *resolver) onOff(s setting) (bool, error) {
	v, _ := r.get(s)
	on, ok := settings.ParseOnOff(v)
	if !ok {
		return false, fmt.Errorf("%s: %q is neither on nor off (example: %s=off)", r.where(s), v, s.env)
	}
	return on, nil
}

func (r *resolver) duration(s setting) (time.Duration, error) {
	v, _ := r.get(s)
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration (examples: 5m, 90s, 1h)", r.where(s), v)
	}
	return d, nil
}
