package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/settings"
)

// writeConfig writes a YAML config file for t and returns its path.
func writeConfig(t testing.TB, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "idvauth.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadServe resolves the serve settings of `idvauth serve args...` with env,
// the way serve does, without starting anything.
func loadServe(t testing.TB, env map[string]string, args ...string) (serveConfig, error) {
	t.Helper()
	root := newRootCmd(envOf(env))
	cmd, rest, err := root.Find([]string{"serve"})
	if err != nil || cmd.Name() != "serve" || len(rest) != 0 {
		t.Fatalf("no serve command: %v", err)
	}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("parse flags %q: %v", args, err)
	}
	return loadServeConfig(cmd, envOf(env))
}

// TestSettingsPrecedence checks flag > IDVAUTH_* env > config file >
// default for each kind of setting.
func TestSettingsPrecedence(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, `
issuer: http://file.example
public_addr: 127.0.0.1:7001
admin_addr: 127.0.0.1:7002
access_token_ttl: 90s
default_audience: file-aud
log_level: warn
secrets:
  - file-secret-0123456789abcdef0123456789abcdef
  - file-secret-old-0123456789abcdef0123456789ab
admin_token: file-admin-token-0123456789abcdef0123456789
`)
	type want struct {
		issuer, publicAddr, adminAddr, audience string
		ttl                                     time.Duration
		level                                   zapcore.Level
		secrets                                 []string
		adminToken                              string
		issuerSet                               bool
	}
	def := want{
		issuer: settings.DefaultIssuer, publicAddr: "127.0.0.1:8080", adminAddr: "127.0.0.1:8081",
		audience: settings.DefaultAudience, ttl: settings.DefaultAccessTokenTTL, level: zapcore.InfoLevel,
	}
	fromFile := want{
		issuer: "http://file.example", publicAddr: "127.0.0.1:7001", adminAddr: "127.0.0.1:7002",
		audience: "file-aud", ttl: 90 * time.Second, level: zapcore.WarnLevel,
		secrets:    []string{"file-secret-0123456789abcdef0123456789abcdef", "file-secret-old-0123456789abcdef0123456789ab"},
		adminToken: "file-admin-token-0123456789abcdef0123456789", issuerSet: true,
	}
	env := map[string]string{
		"IDVAUTH_ISSUER":           "http://env.example",
		"IDVAUTH_PUBLIC_ADDR":      "127.0.0.1:6001",
		"IDVAUTH_ADMIN_ADDR":       "127.0.0.1:6002",
		"IDVAUTH_ACCESS_TOKEN_TTL": "2m",
		"IDVAUTH_DEFAULT_AUDIENCE": "env-aud",
		"IDVAUTH_LOG_LEVEL":        "debug",
		"IDVAUTH_SECRETS":          " env-secret-0123456789abcdef0123456789abcdef , ,env-secret-old-0123456789abcdef0123456789ab",
		"IDVAUTH_ADMIN_TOKEN":      "env-admin-token-0123456789abcdef0123456789",
	}
	fromEnv := want{
		issuer: "http://env.example", publicAddr: "127.0.0.1:6001", adminAddr: "127.0.0.1:6002",
		audience: "env-aud", ttl: 2 * time.Minute, level: zapcore.DebugLevel,
		secrets:    []string{"env-secret-0123456789abcdef0123456789abcdef", "env-secret-old-0123456789abcdef0123456789ab"},
		adminToken: "env-admin-token-0123456789abcdef0123456789", issuerSet: true,
	}
	flags := []string{
		"--issuer", "http://flag.example", "--public-addr", "127.0.0.1:5001", "--admin-addr", "127.0.0.1:5002",
		"--access-token-ttl", "30s", "--default-audience", "flag-aud", "--log-level", "error",
		"--admin-token", "flag-admin-token-0123456789abcdef0123456789",
	}
	fromFlags := want{
		issuer: "http://flag.example", publicAddr: "127.0.0.1:5001", adminAddr: "127.0.0.1:5002",
		audience: "flag-aud", ttl: 30 * time.Second, level: zapcore.ErrorLevel,
		secrets:    fromEnv.secrets, // secrets have no flag: they do not belong in ps
		adminToken: "flag-admin-token-0123456789abcdef0123456789", issuerSet: true,
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want want
	}{
		{"defaults", nil, []string{"--dev"}, def},
		{"file", nil, []string{"--dev", "--config", file}, fromFile},
		{"file named by IDVAUTH_CONFIG", map[string]string{"IDVAUTH_CONFIG": file}, []string{"--dev"}, fromFile},
		{"env beats file", env, []string{"--dev", "--config", file}, fromEnv},
		{"empty env does not beat file", map[string]string{"IDVAUTH_ISSUER": "", "IDVAUTH_SECRETS": "", "IDVAUTH_LOG_LEVEL": ""},
			[]string{"--dev", "--config", file}, fromFile},
		{"flag beats env and file", env, append([]string{"--dev", "--config", file}, flags...), fromFlags},
		{"--config beats IDVAUTH_CONFIG", with(nil, "IDVAUTH_CONFIG", filepath.Join(t.TempDir(), "missing.yaml")),
			[]string{"--dev", "--config", file}, fromFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := loadServe(t, tt.env, tt.args...)
			if err != nil {
				t.Fatalf("loadServeConfig(%q) = %v", tt.args, err)
			}
			a := sc.authz
			got := want{
				issuer: a.Issuer, publicAddr: sc.publicAddr, adminAddr: sc.adminAddr, audience: a.DefaultAudience,
				ttl: a.AccessTokenTTL, level: sc.logLevel, issuerSet: sc.issuerSet,
			}
			if !sc.generatedSecrets {
				got.secrets = a.Secrets
			}
			if !sc.generatedAdminToken {
				got.adminToken = a.AdminToken
			}
			if got.issuer != tt.want.issuer || got.publicAddr != tt.want.publicAddr || got.adminAddr != tt.want.adminAddr ||
				got.audience != tt.want.audience || got.ttl != tt.want.ttl || got.level != tt.want.level ||
				got.issuerSet != tt.want.issuerSet || got.adminToken != tt.want.adminToken || !slices.Equal(got.secrets, tt.want.secrets) {
				// No secret values in the message: only whether they match.
				t.Errorf("settings = issuer %s, public %s, admin %s, audience %s, ttl %s, level %s, issuerSet %t, admin token ok %t, secrets ok %t;\n"+
					"want issuer %s, public %s, admin %s, audience %s, ttl %s, level %s, issuerSet %t",
					got.issuer, got.publicAddr, got.adminAddr, got.audience, got.ttl, got.level, got.issuerSet,
					got.adminToken == tt.want.adminToken, slices.Equal(got.secrets, tt.want.secrets),
					tt.want.issuer, tt.want.publicAddr, tt.want.adminAddr, tt.want.audience, tt.want.ttl, tt.want.level, tt.want.issuerSet)
			}
		})
	}
}

// TestSettingsDevGenerates checks that --dev generates what is not set, and
// only that.
func TestSettingsDevGenerates(t *testing.T) {
	t.Parallel()
	sc, err := loadServe(t, nil, "--dev")
	if err != nil {
		t.Fatal(err)
	}
	if !sc.generatedAdminToken || len(sc.authz.AdminToken) < 32 {
		t.Errorf("--dev admin token: generated %t, %d characters; want a generated token of 32+", sc.generatedAdminToken, len(sc.authz.AdminToken))
	}
	if !sc.generatedSecrets || len(sc.authz.Secrets) != 1 || len(sc.authz.Secrets[0]) < 32 {
		t.Errorf("--dev secrets: generated %t, %d of them; want one generated secret of 32+", sc.generatedSecrets, len(sc.authz.Secrets))
	}
	if sc.authz.DatabaseURL != "" {
		t.Errorf("--dev database URL = %q, want none (in-memory)", sc.authz.DatabaseURL)
	}
	again, err := loadServe(t, nil, "--dev")
	if err != nil {
		t.Fatal(err)
	}
	if again.authz.AdminToken == sc.authz.AdminToken || again.authz.Secrets[0] == sc.authz.Secrets[0] {
		t.Error("--dev generated the same admin token or secret twice")
	}
	sc, err = loadServe(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken}, "--dev")
	if err != nil {
		t.Fatal(err)
	}
	if sc.generatedAdminToken || sc.authz.AdminToken != adminToken {
		t.Errorf("--dev with IDVAUTH_ADMIN_TOKEN: generated %t, token given kept %t; want the given one", sc.generatedAdminToken, sc.authz.AdminToken == adminToken)
	}
}

// TestSettingsJanitorInterval checks that 0 turns the janitor off rather
// than taking the default.
func TestSettingsJanitorInterval(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		arg  string
		want time.Duration
	}{
		{"0", -1},
		{"0s", -1},
		{"1m", time.Minute},
	} {
		sc, err := loadServe(t, nil, "--dev", "--janitor-interval", tt.arg)
		if err != nil {
			t.Fatal(err)
		}
		if sc.authz.JanitorInterval != tt.want {
			t.Errorf("--janitor-interval %s: JanitorInterval = %s, want %s", tt.arg, sc.authz.JanitorInterval, tt.want)
		}
	}
}

// TestSettingsRefreshMaxLifetime checks the refresh token maximum
// lifetime from each source, and its default.
func TestSettingsRefreshMaxLifetime(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, "refresh_token_max_lifetime: 48h\n")
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want time.Duration
	}{
		{"default", nil, []string{"--dev"}, settings.DefaultRefreshMaxLifetime},
		{"file", nil, []string{"--dev", "--config", file}, 48 * time.Hour},
		{"env", map[string]string{"IDVAUTH_REFRESH_TOKEN_MAX_LIFETIME": "72h"}, []string{"--dev", "--config", file}, 72 * time.Hour},
		{"flag", map[string]string{"IDVAUTH_REFRESH_TOKEN_MAX_LIFETIME": "72h"}, []string{"--dev", "--refresh-token-max-lifetime", "96h"}, 96 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := loadServe(t, tt.env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := sc.authz.RefreshTokenMaxLifetime; got != tt.want {
				t.Errorf("RefreshTokenMaxLifetime = %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := loadServe(t, map[string]string{"IDVAUTH_REFRESH_TOKEN_MAX_LIFETIME": "a month"}, "--dev"); err == nil ||
		!strings.Contains(err.Error(), "IDVAUTH_REFRESH_TOKEN_MAX_LIFETIME") {
		t.Errorf("a malformed maximum refresh lifetime: %v, want an error naming IDVAUTH_REFRESH_TOKEN_MAX_LIFETIME", err)
	}
}

// TestSettingsConfigFileErrors checks that a bad config file stops start-up
// with a message naming the file or the problem.
func TestSettingsConfigFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string // "" means: the file does not exist
		want string
	}{
		{"missing file", "", "read config file"},
		{"unknown key", "issuer: http://x.example\nisuer: typo\n", `idvauth.yaml:2: unknown key "isuer" (did you mean issuer?)`},
		{"unknown key far from any", "frobnicate: 1\n", `idvauth.yaml:1: unknown key "frobnicate"`},
		{"not YAML", "issuer: [unclosed\n", "config file"},
		{"wrong type", "secrets: not-a-list\n", "config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "absent.yaml")
			if tt.yaml != "" {
				path = writeConfig(t, tt.yaml)
			}
			if _, err := loadServe(t, nil, "--dev", "--config", path); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("loadServeConfig(--config %s) = %v, want an error with %q", tt.name, err, tt.want)
			}
			// Through the CLI: non-zero exit and the message on stderr.
			code, _, errOut := cli(t, nil, "serve", "--dev", "--config", path, "--public-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
			if code == 0 || !strings.Contains(errOut, tt.want) {
				t.Errorf("serve --dev --config (%s) = exit %d, stderr %q; want non-zero and %q", tt.name, code, errOut, tt.want)
			}
		})
	}
	// An empty file is no config, not an error.
	if _, err := loadServe(t, nil, "--dev", "--config", writeConfig(t, "")); err != nil {
		t.Errorf("empty config file: %v, want no error", err)
	}
}

// TestSettingsPrecedenceThroughServe checks the precedence end to end:
// serve fails early on an invalid issuer and names the one it used.
func TestSettingsPrecedenceThroughServe(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, "issuer: ftp://from-file\n")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"file", nil, []string{"--config", file}, "ftp://from-file"},
		{"env beats file", map[string]string{"IDVAUTH_ISSUER": "ftp://from-env"}, []string{"--config", file}, "ftp://from-env"},
		{"flag beats env", map[string]string{"IDVAUTH_ISSUER": "ftp://from-env"}, []string{"--config", file, "--issuer", "ftp://from-flag"}, "ftp://from-flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"serve", "--dev", "--public-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, tt.args...)
			code, out, errOut := cli(t, tt.env, args...)
			want := `issuer "` + tt.want + `" must be an absolute http(s) URL`
			if code == 0 || !strings.Contains(errOut, want) {
				t.Errorf("idvauth %s = exit %d, stderr %q; want non-zero and %q", strings.Join(args, " "), code, errOut, want)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing (no banner) when start-up fails", redact(out))
			}
		})
	}
}

// TestSettingsTrustedProxies checks the trusted proxy list from env and
// file, and that a bad entry stops start-up naming it.
func TestSettingsTrustedProxies(t *testing.T) {
	t.Parallel()
	sc, err := loadServe(t, map[string]string{"IDVAUTH_TRUSTED_PROXIES": "10.0.0.7, 10.1.0.0/16,fd00::/8"}, "--dev")
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(sc.authz.TrustedProxies)
	if want := "[10.0.0.7/32 10.1.0.0/16 fd00::/8]"; got != want {
		t.Errorf("TrustedProxies = %s, want %s", got, want)
	}
	sc, err = loadServe(t, nil, "--dev", "--config", writeConfig(t, "trusted_proxies: [192.0.2.0/24]\n"))
	if err != nil || fmt.Sprint(sc.authz.TrustedProxies) != "[192.0.2.0/24]" {
		t.Errorf("trusted_proxies from file = %v, %v", sc.authz.TrustedProxies, err)
	}
	if _, err := loadServe(t, nil, "--dev", "--trusted-proxies", "10.0.0.0/8,proxy.internal"); err == nil || !strings.Contains(err.Error(), `"proxy.internal" is neither`) {
		t.Errorf("--trusted-proxies with a host name: %v, want an error naming it", err)
	}
}

// TestSettingsAllowPrivateOutbound checks the outbound allowance from
// flag, env and file: none by default.
func TestSettingsAllowPrivateOutbound(t *testing.T) {
	t.Parallel()
	sc, err := loadServe(t, nil, "--dev")
	if err != nil || len(sc.authz.AllowPrivateOutbound) != 0 {
		t.Fatalf("default AllowPrivateOutbound = %v, %v; want none", sc.authz.AllowPrivateOutbound, err)
	}
	sc, err = loadServe(t, map[string]string{"IDVAUTH_ALLOW_PRIVATE_OUTBOUND": "10.20.0.0/16, fd00::/8"}, "--dev")
	if err != nil || fmt.Sprint(sc.authz.AllowPrivateOutbound) != "[10.20.0.0/16 fd00::/8]" {
		t.Errorf("AllowPrivateOutbound from env = %v, %v", sc.authz.AllowPrivateOutbound, err)
	}
	sc, err = loadServe(t, nil, "--dev", "--config", writeConfig(t, "allow_private_outbound: [127.0.0.0/8]\n"))
	if err != nil || fmt.Sprint(sc.authz.AllowPrivateOutbound) != "[127.0.0.0/8]" {
		t.Errorf("allow_private_outbound from file = %v, %v", sc.authz.AllowPrivateOutbound, err)
	}
	sc, err = loadServe(t, map[string]string{"IDVAUTH_ALLOW_PRIVATE_OUTBOUND": "10.0.0.0/8"}, "--dev", "--allow-private-outbound", "192.168.0.0/16")
	if err != nil || fmt.Sprint(sc.authz.AllowPrivateOutbound) != "[192.168.0.0/16]" {
		t.Errorf("--allow-private-outbound over env = %v, %v", sc.authz.AllowPrivateOutbound, err)
	}
	if _, err := loadServe(t, nil, "--dev", "--allow-private-outbound", "keys.internal"); err == nil || !strings.Contains(err.Error(), `"keys.internal" is neither`) {
		t.Errorf("--allow-private-outbound with a host name: %v, want an error naming it", err)
	}
}

// TestSettingsTLS checks the TLS settings from flags, env and file, in
// that order of precedence.
func TestSettingsTLS(t *testing.T) {
	t.Parallel()
	sc, err := loadServe(t, map[string]string{"IDVAUTH_TLS_CERT": "env.crt", "IDVAUTH_TLS_KEY": "env.key", "IDVAUTH_TLS_CLIENT_CERT_HEADER": "X-Env"},
		"--dev", "--tls-cert", "flag.crt", "--tls-client-ca", "flag-ca.crt",
		"--config", writeConfig(t, "tls_cert: file.crt\ntls_key: file.key\ntls_client_ca: file-ca.crt\ntls_client_cert_header: X-File\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := sc.authz
	got := []string{a.TLSCertFile, a.TLSKeyFile, a.TLSClientCAFile, a.TLSClientCertHeader}
	want := []string{"flag.crt", "env.key", "flag-ca.crt", "X-Env"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("TLS settings = %q, want %q", got, want)
	}
	sc, err = loadServe(t, nil, "--dev", "--config", writeConfig(t, "tls_client_cert_header: X-File\n"))
	if err != nil || sc.authz.TLSClientCertHeader != "X-File" {
		t.Errorf("tls_client_cert_header from file = %q, %v", sc.authz.TLSClientCertHeader, err)
	}
}

// TestSettingsHSTS checks IDVAUTH_HSTS_MAX_AGE from flag, env and file:
// one year by default, 0 turns it off, anything under a second or not a
// duration is refused.
func TestSettingsHSTS(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, "hsts_max_age: 720h\n")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want time.Duration
	}{
		{"default", nil, nil, settings.DefaultHSTSMaxAge},
		{"file", nil, []string{"--config", file}, 720 * time.Hour},
		{"env beats file", map[string]string{"IDVAUTH_HSTS_MAX_AGE": "48h"}, []string{"--config", file}, 48 * time.Hour},
		{"flag beats env", map[string]string{"IDVAUTH_HSTS_MAX_AGE": "48h"}, []string{"--config", file, "--hsts-max-age", "1h"}, time.Hour},
		{"0 turns it off", nil, []string{"--hsts-max-age", "0"}, -1},
		{"0s turns it off", map[string]string{"IDVAUTH_HSTS_MAX_AGE": "0s"}, nil, -1},
	}
	for _, tt := range tests {
		sc, err := loadServe(t, tt.env, append([]string{"--dev"}, tt.args...)...)
		if err != nil || sc.authz.HSTSMaxAge != tt.want {
			t.Errorf("%s: HSTSMaxAge = %v, %v; want %v", tt.name, sc.authz.HSTSMaxAge, err, tt.want)
		}
	}
	for v, want := range map[string]string{
		"1y":    `IDVAUTH_HSTS_MAX_AGE: "1y" is not a duration`,
		"-1h":   `IDVAUTH_HSTS_MAX_AGE: "-1h" must be at least 1s, or 0`,
		"500ms": `IDVAUTH_HSTS_MAX_AGE: "500ms" must be at least 1s, or 0`,
	} {
		if _, err := loadServe(t, map[string]string{"IDVAUTH_HSTS_MAX_AGE": v}, "--dev"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("IDVAUTH_HSTS_MAX_AGE=%s: %v, want an error with %q", v, err, want)
		}
	}
}

// TestSettingsAuditAndLimits checks the audit, rate limit, client
// authentication and metrics settings from flags, env and file.
func TestSettingsAuditAndLimits(t *testing.T) {
	t.Parallel()
	type limits struct {
		auditOff                         bool
		retention                        time.Duration
		rates                            authz.RateLimits
		maxFail, maxFailIP               int
		window                           time.Duration
		metricsTokenSet, metricsTokenLen int
	}
	got := func(sc serveConfig) limits {
		a := sc.authz
		l := limits{auditOff: a.AuditDisabled, retention: a.AuditRetention, rates: a.RateLimits,
			maxFail: a.ClientAuthMaxFailures, maxFailIP: a.ClientAuthMaxFailuresPerIP, window: a.ClientAuthWindow}
		if a.MetricsToken != "" {
			l.metricsTokenSet, l.metricsTokenLen = 1, len(a.MetricsToken)
		}
		return l
	}
	def := limits{
		rates: authz.RateLimits{TokenPerClient: settings.DefaultRateTokenPerClient, IntrospectPerClient: settings.DefaultRateIntrospectPerClient,
			PerIP: settings.DefaultRatePerIP, LoginPerIP: settings.DefaultRateLoginPerIP, FailedPerIP: settings.DefaultRateFailedPerIP},
		maxFail: settings.DefaultClientAuthMaxFailures, maxFailIP: settings.DefaultClientAuthMaxFailuresPerIP, window: settings.DefaultClientAuthWindow,
	}
	metricsToken := "metrics-token-0123456789abcdef0123456789"
	file := writeConfig(t, `
audit: off
audit_retention: 2160h
rate_limit_token_per_client: 20
rate_limit_introspect_per_client: 0.5
rate_limit_per_ip: off
rate_limit_login_per_ip: 0
client_auth_max_failures: 5
client_auth_max_failures_per_ip: 50
client_auth_window: 30m
metrics_token: `+metricsToken+`
`)
	fromFile := limits{auditOff: true, retention: 2160 * time.Hour,
		rates:   authz.RateLimits{TokenPerClient: 20, IntrospectPerClient: 0.5, PerIP: -1, LoginPerIP: -1, FailedPerIP: settings.DefaultRateFailedPerIP},
		maxFail: 5, maxFailIP: 50, window: 30 * time.Minute, metricsTokenSet: 1, metricsTokenLen: len(metricsToken)}
	env := map[string]string{
		"IDVAUTH_AUDIT":                            "ON",
		"IDVAUTH_AUDIT_RETENTION":                  "90d",
		"IDVAUTH_RATE_LIMIT_TOKEN_PER_CLIENT":      "7",
		"IDVAUTH_RATE_LIMIT_INTROSPECT_PER_CLIENT": "Off",
		"IDVAUTH_RATE_LIMIT_PER_IP":                "250.5",
		"IDVAUTH_RATE_LIMIT_LOGIN_PER_IP":          "2",
		"IDVAUTH_CLIENT_AUTH_MAX_FAILURES":         "3",
		"IDVAUTH_CLIENT_AUTH_MAX_FAILURES_PER_IP":  "30",
		"IDVAUTH_CLIENT_AUTH_WINDOW":               "1h",
		"IDVAUTH_METRICS_TOKEN":                    metricsToken + "-env",
	}
	fromEnv := limits{retention: 90 * 24 * time.Hour,
		rates:   authz.RateLimits{TokenPerClient: 7, IntrospectPerClient: -1, PerIP: 250.5, LoginPerIP: 2, FailedPerIP: settings.DefaultRateFailedPerIP},
		maxFail: 3, maxFailIP: 30, window: time.Hour, metricsTokenSet: 1, metricsTokenLen: len(metricsToken) + 4}
	flags := []string{"--audit", "off", "--audit-retention", "0", "--rate-limit-token-per-client", "0",
		"--rate-limit-introspect-per-client", "1e3", "--rate-limit-per-ip", "off", "--rate-limit-login-per-ip", "0.25",
		"--client-auth-max-failures", "10", "--client-auth-max-failures-per-ip", "100", "--client-auth-window", "5m"}
	fromFlags := limits{auditOff: true,
		rates:   authz.RateLimits{TokenPerClient: -1, IntrospectPerClient: 1000, PerIP: -1, LoginPerIP: 0.25, FailedPerIP: settings.DefaultRateFailedPerIP},
		maxFail: 10, maxFailIP: 100, window: 5 * time.Minute, metricsTokenSet: 1, metricsTokenLen: len(metricsToken) + 4}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want limits
	}{
		{"defaults", nil, []string{"--dev"}, def},
		{"file", nil, []string{"--dev", "--config", file}, fromFile},
		{"env beats file", env, []string{"--dev", "--config", file}, fromEnv},
		{"flag beats env", env, append([]string{"--dev", "--config", file}, flags...), fromFlags},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc, err := loadServe(t, tt.env, tt.args...)
			if err != nil {
				t.Fatalf("loadServeConfig(%q) = %v", tt.args, err)
			}
			if g := got(sc); g != tt.want {
				t.Errorf("settings = %+v\nwant %+v", g, tt.want)
			}
		})
	}
	// The metrics token has no flag: it would show in ps.
	root := newRootCmd(envOf(nil))
	serve, _, _ := root.Find([]string{"serve"})
	if serve.Flags().Lookup("metrics-token") != nil {
		t.Error("serve has a --metrics-token flag; the token belongs in the environment or the file")
	}
}

// TestSettingsAuditAndLimitsErrors checks that a bad value stops start-up
// with a message naming the env variable and an example.
func TestSettingsAuditAndLimitsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"audit", map[string]string{"IDVAUTH_AUDIT": "maybe"}, nil, `IDVAUTH_AUDIT: "maybe" is neither on nor off (example: IDVAUTH_AUDIT=off)`},
		{"audit flag", nil, []string{"--audit", "disabled"}, `--audit: "disabled" is neither on nor off`},
		{"retention", map[string]string{"IDVAUTH_AUDIT_RETENTION": "3 months"}, nil,
			`IDVAUTH_AUDIT_RETENTION: "3 months" is not a retention period (examples: 2160h or 90d for 90 days, 0 to keep everything)`},
		{"negative retention", map[string]string{"IDVAUTH_AUDIT_RETENTION": "-1h"}, nil, `IDVAUTH_AUDIT_RETENTION: "-1h" is not a retention period`},
		{"retention without janitor", map[string]string{"IDVAUTH_AUDIT_RETENTION": "2160h", "IDVAUTH_JANITOR_INTERVAL": "0"}, nil,
			`IDVAUTH_AUDIT_RETENTION: "2160h" needs the janitor`},
		{"rate not a number", map[string]string{"IDVAUTH_RATE_LIMIT_TOKEN_PER_CLIENT": "fast"}, nil,
			`IDVAUTH_RATE_LIMIT_TOKEN_PER_CLIENT: "fast" is not a rate in requests per second (examples: 50, 0.5, off)`},
		{"rate negative", map[string]string{"IDVAUTH_RATE_LIMIT_PER_IP": "-5"}, nil, `IDVAUTH_RATE_LIMIT_PER_IP: "-5" is not a rate`},
		{"rate NaN", nil, []string{"--rate-limit-login-per-ip", "NaN"}, `--rate-limit-login-per-ip: "NaN" is not a rate`},
		{"rate infinite", map[string]string{"IDVAUTH_RATE_LIMIT_INTROSPECT_PER_CLIENT": "+Inf"}, nil, `IDVAUTH_RATE_LIMIT_INTROSPECT_PER_CLIENT: "+Inf" is not a rate`},
		{"rate with unit", map[string]string{"IDVAUTH_RATE_LIMIT_PER_IP": "100/s"}, nil, `IDVAUTH_RATE_LIMIT_PER_IP: "100/s" is not a rate`},
		{"max failures zero", map[string]string{"IDVAUTH_CLIENT_AUTH_MAX_FAILURES": "0"}, nil,
			`IDVAUTH_CLIENT_AUTH_MAX_FAILURES: "0" must be at least 1 (example: IDVAUTH_CLIENT_AUTH_MAX_FAILURES=20)`},
		{"max failures not a number", map[string]string{"IDVAUTH_CLIENT_AUTH_MAX_FAILURES_PER_IP": "lots"}, nil,
			`IDVAUTH_CLIENT_AUTH_MAX_FAILURES_PER_IP: "lots" is not a whole number`},
		{"window", map[string]string{"IDVAUTH_CLIENT_AUTH_WINDOW": "15"}, nil, `IDVAUTH_CLIENT_AUTH_WINDOW: "15" is not a duration (examples: 5m, 90s, 1h)`},
		{"window too short", nil, []string{"--client-auth-window", "10ms"}, `--client-auth-window: "10ms" must be at least 1s (example: IDVAUTH_CLIENT_AUTH_WINDOW=15m)`},
		{"metrics token short", map[string]string{"IDVAUTH_METRICS_TOKEN": "scrape-me"}, nil,
			"IDVAUTH_METRICS_TOKEN: the metrics bearer token must be at least 32 characters (e.g. openssl rand -hex 32)"},
		{"metrics token is the admin token", map[string]string{"IDVAUTH_METRICS_TOKEN": adminToken, "IDVAUTH_ADMIN_TOKEN": adminToken}, nil,
			"IDVAUTH_METRICS_TOKEN: must not be the admin token"},
		{"metrics token is the admin token, both in the file", nil,
			[]string{"--config", writeConfig(t, "admin_token: "+adminToken+"\nmetrics_token: "+adminToken+"\n")},
			"IDVAUTH_METRICS_TOKEN: must not be the admin token"},
		{"metrics token in the file is the admin token flag", nil,
			[]string{"--admin-token", adminToken, "--config", writeConfig(t, "metrics_token: "+adminToken+"\n")},
			"IDVAUTH_METRICS_TOKEN: must not be the admin token"},
		{"metrics token in the env is the admin token in the file", map[string]string{"IDVAUTH_METRICS_TOKEN": adminToken},
			[]string{"--config", writeConfig(t, "admin_token: "+adminToken+"\n")},
			"IDVAUTH_METRICS_TOKEN: must not be the admin token"},
		{"metrics token is a secret", map[string]string{"IDVAUTH_METRICS_TOKEN": adminToken, "IDVAUTH_SECRETS": "another-secret-0123456789abcdef0123," + adminToken}, nil,
			"IDVAUTH_METRICS_TOKEN: must not be one of IDVAUTH_SECRETS"},
		{"metrics token in the file is a secret in the file", nil,
			[]string{"--config", writeConfig(t, "secrets: ["+adminToken+"]\nmetrics_token: "+adminToken+"\n")},
			"IDVAUTH_METRICS_TOKEN: must not be one of IDVAUTH_SECRETS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := loadServe(t, tt.env, append([]string{"--dev"}, tt.args...)...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("loadServeConfig = %v, want an error with %q", err, tt.want)
			}
			args := append([]string{"serve", "--dev", "--public-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, tt.args...)
			code, out, errOut := cli(t, tt.env, args...)
			if code == 0 || out != "" || !strings.HasPrefix(errOut, "Error: ") || !strings.Contains(errOut, tt.want) {
				t.Errorf("idvauth %s = exit %d, stdout %q, stderr %q; want non-zero, no banner, %q", strings.Join(args, " "), code, redact(out), errOut, tt.want)
			}
			if strings.Contains(errOut, adminToken) {
				t.Error("the error shows the admin token")
			}
		})
	}
}

// TestSettingsAuditCommit checks IDVAUTH_AUDIT_COMMIT: durable by default,
// fast on request, anything else named in the error.
func TestSettingsAuditCommit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  map[string]string
		args []string
		fast bool
	}{{nil, nil, false}, {map[string]string{"IDVAUTH_AUDIT_COMMIT": "fast"}, nil, true}, {nil, []string{"--audit-commit", "Durable"}, false}} {
		sc, err := loadServe(t, tt.env, append([]string{"--dev"}, tt.args...)...)
		if err != nil || sc.authz.AuditFastCommit != tt.fast {
			t.Errorf("env %v args %v: AuditFastCommit = %v, %v; want %v", tt.env, tt.args, sc.authz.AuditFastCommit, err, tt.fast)
		}
	}
	if _, err := loadServe(t, nil, "--dev", "--audit-commit", "sometimes"); err == nil || !strings.Contains(err.Error(), `--audit-commit: "sometimes" must be durable or fast`) {
		t.Errorf("--audit-commit sometimes: %v, want an error naming the setting", err)
	}
}

// TestSettingsErrorNamesSource checks that a bad value is blamed on where
// it came from: the config file's line, the flag, or the env variable.
func TestSettingsErrorNamesSource(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, "issuer: http://file.example\n\naccess_token_ttl: 5 minutes\n")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"file", nil, []string{"--config", file}, file + `:3: access_token_ttl: "5 minutes" is not a duration`},
		{"flag", nil, []string{"--access-token-ttl", "5 minutes"}, `--access-token-ttl: "5 minutes" is not a duration`},
		{"env", map[string]string{"IDVAUTH_ACCESS_TOKEN_TTL": "5 minutes"}, nil, `IDVAUTH_ACCESS_TOKEN_TTL: "5 minutes" is not a duration`},
		{"flag over file", nil, []string{"--config", file, "--access-token-ttl", "later"}, `--access-token-ttl: "later"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadServe(t, tt.env, append([]string{"--dev"}, tt.args...)...)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("loadServeConfig = %v, want an error starting %q", err, tt.want)
			}
		})
	}
}

// TestSettingsFileKeys: every setting is read from the config file key
// that its env name gives (IDVAUTH_ACCESS_TOKEN_TTL: access_token_ttl),
// which error messages and the example config rely on; list settings take
// a YAML list, the others a single value.
func TestSettingsFileKeys(t *testing.T) {
	t.Parallel()
	noEnv := func(string) (string, bool) { return "", false }
	for _, s := range allSettings {
		value, want := s.FileKey()+": probe\n", "probe"
		if schema.IsList(s) {
			value, want = s.FileKey()+": [probe, two]\n", "probe,two"
		}
		cmd := &cobra.Command{}
		cmd.Flags().String("config", writeConfig(t, value), "")
		r, err := newResolver(cmd, noEnv)
		if err != nil {
			t.Fatalf("%s: %v", s.FileKey(), err)
		}
		if got, set := r.Get(s); got != want || !set {
			t.Errorf("setting %s reads %q (set %v) from a file that says %q", s.Env, got, set, value)
		}
	}
}

// TestSettingsMFA checks IDVAUTH_MFA: optional by default, required from
// the flag, the environment or the config file, anything else named in
// the error.
func TestSettingsMFA(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, nil, "optional"},
		{map[string]string{"IDVAUTH_MFA": "required"}, nil, "required"},
		{nil, []string{"--mfa", "Required"}, "required"},
		{map[string]string{"IDVAUTH_MFA": "required"}, []string{"--mfa", "optional"}, "optional"},
	} {
		sc, err := loadServe(t, tt.env, append([]string{"--dev"}, tt.args...)...)
		if err != nil || sc.authz.MFA != tt.want {
			t.Errorf("env %v args %v: MFA = %q, %v; want %q", tt.env, tt.args, sc.authz.MFA, err, tt.want)
		}
	}
	if _, err := loadServe(t, nil, "--dev", "--mfa", "sometimes"); err == nil || !strings.Contains(err.Error(), `IDVAUTH_MFA: "sometimes" must be optional or required`) {
		t.Errorf("--mfa sometimes: %v, want an error naming the setting", err)
	}
}
