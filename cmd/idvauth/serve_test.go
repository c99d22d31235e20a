package main

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServeDevBanner starts `serve --dev`, runs the curl lines of its
// banner exactly as printed, follows its admin instructions, and stops it
// by cancelling its context.
func TestServeDevBanner(t *testing.T) {
	t.Parallel()
	needTools(t, "the banner's curl lines", "bash", "curl", "sed")
	d := startDev(t, nil)

	for _, want := range []string{"DEVELOPMENT mode (--dev)", "NOTHING PERSISTS", "Never use --dev in production", "never let it listen beyond loopback", "(generated for this run)"} {
		if !strings.Contains(d.banner, want) {
			t.Errorf("banner lacks %q", want)
		}
	}
	// Without --issuer the issuer is where the public listener is, so that
	// discovery and the iss of tokens name this server (port 0 here).
	if d.issuer != d.publicURL {
		t.Errorf("banner: Issuer %s, Public %s; want the same URL when no issuer is set", d.issuer, d.publicURL)
	}
	if strings.HasSuffix(d.publicURL, ":0") || strings.HasSuffix(d.adminURL, ":0") {
		t.Errorf("banner shows the requested port 0, want the bound ports: public %s, admin %s", d.publicURL, d.adminURL)
	}

	runBannerCurls(t, d)

	// The banner's admin instructions: export ... then `idvauth clients list`.
	m := regexp.MustCompile(`(?m)^  export IDVAUTH_ADMIN_TOKEN=(\S+) IDVAUTH_ADMIN_URL=(\S+)$`).FindStringSubmatch(d.banner)
	if m == nil {
		t.Fatalf("banner has no export line for the admin API:\n%s", redact(d.banner))
	}
	if m[2] != d.adminURL {
		t.Errorf("export line: IDVAUTH_ADMIN_URL=%s, want %s", m[2], d.adminURL)
	}
	if !strings.Contains(d.banner, "  idvauth clients list\n") {
		t.Error("banner lacks `idvauth clients list`")
	}
	list := mustCLI(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": m[1], "IDVAUTH_ADMIN_URL": m[2]}, "clients", "list")
	for _, id := range []string{"demo-service", "demo-resource-server"} {
		if !strings.Contains(list, "\n"+id+" ") {
			t.Errorf("clients list lacks %s:\n%s", id, list)
		}
	}

	// Cancelling the context is SIGTERM: a graceful stop and exit 0.
	if code := d.stop(); code != 0 {
		t.Fatalf("serve --dev after cancel = exit %d, want 0; stderr:\n%s", code, redact(d.stderr.String()))
	}
	if !strings.Contains(d.stderr.String(), "idvauth stopped") {
		t.Errorf("stderr lacks the stop log line:\n%s", redact(d.stderr.String()))
	}
	u, _ := url.Parse(d.publicURL)
	if c, err := net.Dial("tcp", u.Host); err == nil {
		c.Close()
		t.Errorf("public listener %s still accepts connections after serve returned", u.Host)
	}
}

// runBannerCurls runs the curl lines of d's banner in bash exactly as
// printed and checks their answers.
func runBannerCurls(t *testing.T, d *devServer) {
	t.Helper()
	// The shell lines of the banner, in order: token, TOKEN=..., introspect,
	// revoke, introspect, JWKS, discovery.
	var lines []string
	for _, l := range strings.Split(d.banner, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "curl ") || strings.HasPrefix(l, "TOKEN=$(curl ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 7 {
		t.Fatalf("banner has %d curl lines, want 7:\n%s", len(lines), redact(strings.Join(lines, "\n")))
	}
	for _, l := range lines {
		if !strings.Contains(l, d.publicURL+"/") {
			t.Errorf("curl line does not call the public URL %s: %s", d.publicURL, redact(l))
		}
	}
	token, setToken, introspect, revoke, introspectAgain, jwks, discovery :=
		lines[0], lines[1], lines[2], lines[3], lines[4], lines[5], lines[6]

	// 1. Get an access token.
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Scope       string `json:"scope"`
	}
	decodeJSON(t, "token curl", bash(t, token), &tok)
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.Scope != "identity.verify" {
		t.Fatalf("token curl: access_token set %t, token_type %q, scope %q; want a bearer token for identity.verify",
			tok.AccessToken != "", tok.TokenType, tok.Scope)
	}
	if iss := jwtClaim(t, tok.AccessToken, "iss"); iss != d.issuer {
		t.Errorf("access token iss = %v, want %s", iss, d.issuer)
	}

	// 2 and 3. Keep one in $TOKEN and introspect it.
	var active struct {
		Active   bool   `json:"active"`
		ClientID string `json:"client_id"`
		Scope    string `json:"scope"`
		Iss      string `json:"iss"`
	}
	decodeJSON(t, "introspect curl", bash(t, setToken+"\n"+introspect), &active)
	if !active.Active || active.ClientID != "demo-service" || active.Scope != "identity.verify" {
		t.Errorf("introspect curl = active %t, client_id %q, scope %q; want active demo-service identity.verify",
			active.Active, active.ClientID, active.Scope)
	}

	// 4. Revoke it, then introspect again.
	out := strings.TrimSpace(bash(t, setToken+"\n"+revoke+"\necho\n"+introspectAgain))
	var inactive map[string]any
	decodeJSON(t, "introspect after revoke", out[strings.LastIndex(out, "\n")+1:], &inactive)
	if inactive["active"] != false {
		t.Errorf("introspect after revoke = %s, want {\"active\":false}", redact(out))
	}

	var keys struct {
		Keys []map[string]any `json:"keys"`
	}
	decodeJSON(t, "JWKS curl", bash(t, jwks), &keys)
	if len(keys.Keys) == 0 {
		t.Error("JWKS curl: no keys")
	}
	for _, k := range keys.Keys {
		if _, ok := k["d"]; ok {
			t.Errorf("JWKS publishes a private key part: kid %v", k["kid"])
		}
	}
	var disc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	decodeJSON(t, "discovery curl", bash(t, discovery), &disc)
	if disc.Issuer != d.issuer || disc.TokenEndpoint != d.publicURL+"/oauth2/token" {
		t.Errorf("discovery: issuer %q, token_endpoint %q; want %s and %s/oauth2/token", disc.Issuer, disc.TokenEndpoint, d.issuer, d.publicURL)
	}

}

// TestServeDevBannerTLS runs the banner's curl lines against a --dev
// server with TLS and a client CA, as in the README's mTLS walk-through:
// they need --cacert, or curl exits 60 and prints nothing.
func TestServeDevBannerTLS(t *testing.T) {
	t.Parallel()
	needTools(t, "the banner's curl lines", "bash", "curl", "sed")
	dir := t.TempDir()
	ca, srv := filepath.Join(dir, "ca"), filepath.Join(dir, "server")
	mustCLI(t, nil, "certs", "ca", "--out", ca)
	mustCLI(t, nil, "certs", "server", "--ca", ca, "--host", "127.0.0.1", "--out", srv)
	for _, tc := range []struct {
		name   string
		args   []string
		cacert string
	}{
		// The CA that signed the server's certificate is the client CA.
		{"client CA", []string{"--tls-client-ca", filepath.Join(ca, "ca.crt")}, filepath.Join(ca, "ca.crt")},
		// No CA known: curl takes the certificate itself as the anchor.
		{"certificate only", nil, filepath.Join(srv, "server.crt")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := startDev(t, nil, append([]string{"--tls-cert", filepath.Join(srv, "server.crt"), "--tls-key", filepath.Join(srv, "server.key")}, tc.args...)...)
			if !strings.HasPrefix(d.publicURL, "https://") {
				t.Fatalf("banner Public = %s, want https://", d.publicURL)
			}
			if want := "curl -s --cacert " + tc.cacert + " "; !strings.Contains(d.banner, want) {
				t.Errorf("banner lacks %q", want)
			}
			runBannerCurls(t, d)
		})
	}
}

// TestServeDevOwnAdminToken checks that an admin token given by env is used
// and never echoed by the banner.
func TestServeDevOwnAdminToken(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken}, "--issuer", "http://localhost:9999")
	if strings.Contains(d.banner, adminToken) || strings.Contains(d.banner, "Admin token") {
		t.Error("banner shows the admin token given by env; it must print only generated ones")
	}
	if !strings.Contains(d.banner, "(with your IDVAUTH_ADMIN_TOKEN set)") {
		t.Error("banner lacks the hint to use your own IDVAUTH_ADMIN_TOKEN")
	}
	// The walk-throughs say to copy the banner's export line: there is one
	// even when the admin token was preset.
	m := regexp.MustCompile(`(?m)^  export IDVAUTH_ADMIN_URL=(\S+)$`).FindStringSubmatch(d.banner)
	if m == nil || m[1] != d.adminURL {
		t.Fatalf("banner has no `export IDVAUTH_ADMIN_URL=%s` line:\n%s", d.adminURL, redact(d.banner))
	}
	// A given issuer is kept, even where it differs from the listener.
	if d.issuer != "http://localhost:9999" {
		t.Errorf("banner Issuer = %s, want the --issuer given, http://localhost:9999", d.issuer)
	}
	mustCLI(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}, "clients", "list")
}

// TestServeRefusesBadSettings checks that serve stops before listening on a
// missing or invalid setting, and names it.
func TestServeRefusesBadSettings(t *testing.T) {
	t.Parallel()
	const secret = "test-secret-0123456789abcdef0123456789abcdef"
	full := func(drop string) map[string]string {
		m := map[string]string{
			"IDVAUTH_DATABASE_URL": "postgres://idvauth@127.0.0.1:1/idvauth",
			"IDVAUTH_SECRETS":      secret,
			"IDVAUTH_ADMIN_TOKEN":  adminToken,
		}
		delete(m, drop)
		return m
	}
	addrs := []string{"--public-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    []string
		notWant []string
	}{
		{
			name: "nothing set",
			env:  nil,
			want: []string{"cannot start without these settings", "IDVAUTH_SECRETS", "IDVAUTH_DATABASE_URL", "idvauth serve --dev"},
			// Optional once an operator exists (TestOperatorsBootstrap).
			notWant: []string{"IDVAUTH_ADMIN_TOKEN"},
		},
		{
			name:    "no database",
			env:     full("IDVAUTH_DATABASE_URL"),
			want:    []string{"cannot start without these settings", "IDVAUTH_DATABASE_URL"},
			notWant: []string{"IDVAUTH_SECRETS", "IDVAUTH_ADMIN_TOKEN"},
		},
		{
			name:    "no secrets",
			env:     full("IDVAUTH_SECRETS"),
			want:    []string{"cannot start without these settings", "IDVAUTH_SECRETS"},
			notWant: []string{"IDVAUTH_DATABASE_URL", "IDVAUTH_ADMIN_TOKEN"},
		},
		{
			name:    "empty env values count as unset",
			env:     map[string]string{"IDVAUTH_DATABASE_URL": "", "IDVAUTH_SECRETS": "", "IDVAUTH_ADMIN_TOKEN": ""},
			want:    []string{"IDVAUTH_SECRETS", "IDVAUTH_DATABASE_URL"},
			notWant: nil,
		},
		{
			name: "short admin token in dev",
			env:  map[string]string{"IDVAUTH_ADMIN_TOKEN": "short"},
			args: []string{"--dev"},
			want: []string{"IDVAUTH_ADMIN_TOKEN", "at least 32 characters"},
		},
		{
			name: "bad duration",
			env:  map[string]string{"IDVAUTH_ACCESS_TOKEN_TTL": "5"},
			args: []string{"--dev"},
			want: []string{`IDVAUTH_ACCESS_TOKEN_TTL: "5" is not a duration`},
		},
		{
			name: "bad count",
			env:  map[string]string{"IDVAUTH_LOGIN_MAX_FAILURES": "five"},
			args: []string{"--dev"},
			want: []string{`IDVAUTH_LOGIN_MAX_FAILURES: "five" is not a whole number`},
		},
		{
			name: "code lifetime too long",
			args: []string{"--dev", "--code-ttl", "1h"},
			want: []string{"authorization code lifetime 1h0m0s must be between 1s and 10m0s"},
		},
		{
			name: "HS256 ID tokens",
			args: []string{"--dev", "--id-token-alg", "HS256"},
			want: []string{`ID token algorithm "HS256" is not supported`},
		},
		{
			name: "argon2 memory too small",
			env:  map[string]string{"IDVAUTH_ARGON2_MEMORY_KIB": "1"},
			args: []string{"--dev"},
			want: []string{"argon2 memory 1 KiB"},
		},
		{
			name: "password hash concurrency too large",
			env:  map[string]string{"IDVAUTH_PASSWORD_HASH_CONCURRENCY": "2000"},
			args: []string{"--dev"},
			want: []string{"password hash concurrency 2000 must be between 1 and 1024"},
		},
		{
			name: "bad log level",
			args: []string{"--dev", "--log-level", "loud"},
			want: []string{`--log-level: "loud" is not a level`},
		},
		{
			name: "unsupported algorithm",
			args: []string{"--dev", "--access-token-alg", "HS256"},
			want: []string{`"HS256" is not supported`},
		},
		{
			name: "arguments",
			args: []string{"--dev", "extra"},
			want: []string{`unknown command "extra"`},
		},
		{
			name: "dev on every interface",
			args: []string{"--dev", "--public-addr", "0.0.0.0:0"},
			want: []string{`--public-addr (IDVAUTH_PUBLIC_ADDR) "0.0.0.0:0" is not a loopback address`, "--dev-allow-remote"},
		},
		{
			name: "dev admin listener on every interface",
			args: []string{"--dev", "--admin-addr", ":0"},
			want: []string{`--admin-addr (IDVAUTH_ADMIN_ADDR) ":0" is not a loopback address`, "--dev-allow-remote"},
		},
		{
			name: "dev on a host name",
			args: []string{"--dev", "--public-addr", "example.org:0"},
			want: []string{`"example.org:0" is not a loopback address`},
		},
		{
			name: "invalid public address",
			args: []string{"--dev", "--public-addr", "127.0.0.1:-1"},
			want: []string{"public listener"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{"serve"}, addrs...), tt.args...)
			code, out, errOut := cli(t, tt.env, args...)
			if code == 0 {
				t.Fatalf("idvauth %s = exit 0, want non-zero", strings.Join(args, " "))
			}
			if strings.Contains(out, "DEVELOPMENT mode") {
				t.Errorf("banner printed although start-up failed")
			}
			if !strings.HasPrefix(errOut, "Error: ") {
				t.Errorf("stderr = %q, want it to start with \"Error: \"", redact(errOut))
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, redact(errOut))
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(errOut, w) {
					t.Errorf("stderr names %q, which was set:\n%s", w, redact(errOut))
				}
			}
			if strings.Contains(errOut, secret) || strings.Contains(errOut, adminToken) {
				t.Error("stderr contains a secret or the admin token")
			}
		})
	}
}

// TestServeDevAllowRemote: with --dev-allow-remote, --dev listens where
// it is told, and its banner says so loudly.
func TestServeDevAllowRemote(t *testing.T) {
	t.Parallel()
	d := startDev(t, nil, "--public-addr", "0.0.0.0:0", "--dev-allow-remote")
	if !strings.Contains(d.banner, "THIS DEMO LISTENS BEYOND LOOPBACK") {
		t.Errorf("banner lacks the warning about listening beyond loopback:\n%s", redact(d.banner))
	}
	if !strings.Contains(d.banner, "never let it listen beyond loopback") {
		t.Error("banner lacks the rule that --dev stays on loopback")
	}
	// Bound to the wildcard, the listener shows as [::]: the banner's URLs
	// name an address that can be dialled.
	if !strings.HasPrefix(d.publicURL, "http://127.0.0.1:") || !strings.HasPrefix(d.issuer, "http://127.0.0.1:") {
		t.Errorf("banner Public %s, Issuer %s; want http://127.0.0.1:PORT for a wildcard listener", d.publicURL, d.issuer)
	}
}

// bash runs script with bash -c and returns its stdout.
func bash(t testing.TB, script string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "bash", "-c", "set -e\n"+script)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("bash -c %s: %v; stderr: %s", redact(script), err, redact(stderr))
	}
	return string(out)
}

// decodeJSON unmarshals s into v or fails the test naming what.
func decodeJSON(t testing.TB, what, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%s: %v in %s", what, err, redact(s))
	}
}

// jwtClaim returns one claim of a JWT's payload, unverified.
func jwtClaim(t testing.TB, jwt, name string) any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("access token has %d parts, want a JWS compact serialization", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("access token payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatalf("access token payload: %v", err)
	}
	return claims[name]
}

// TestServeDevSignIn follows the banner's sign-in instructions as a person
// would: open the printed URL, sign in with the printed credentials, allow,
// and run the curl line of the page landed on.
func TestServeDevSignIn(t *testing.T) {
	t.Parallel()
	needTools(t, "the callback page's curl line", "bash", "curl")
	d := startDev(t, nil)
	m := regexp.MustCompile(`(?m)^  Demo person +username (\S+) +password (\S+)`).FindStringSubmatch(d.banner)
	if m == nil {
		t.Fatalf("banner has no demo person:\n%s", redact(d.banner))
	}
	username, password := m[1], m[2]
	authURL := regexp.MustCompile(`(?m)^  (` + regexp.QuoteMeta(d.publicURL) + `/oauth2/authorize\?\S+)$`).FindStringSubmatch(d.banner)
	if authURL == nil {
		t.Fatalf("banner has no authorize URL on %s:\n%s", d.publicURL, redact(d.banner))
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	get := func(u string) string {
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	hidden := regexp.MustCompile(`<input type="hidden" name="(csrf|return)" value="([^"]*)">`)
	submit := func(page, action string, extra url.Values) string {
		form := url.Values{}
		for _, h := range hidden.FindAllStringSubmatch(page, -1) {
			form.Set(h[1], html.UnescapeString(h[2]))
		}
		if form.Get("csrf") == "" {
			t.Fatalf("no CSRF token on the page:\n%s", page)
		}
		for k, v := range extra {
			form[k] = v
		}
		resp, err := browser.PostForm(d.publicURL+action, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	page := get(authURL[1])
	if !strings.Contains(page, `name="password"`) {
		t.Fatalf("the printed URL does not show the login page:\n%s", page)
	}
	page = submit(page, "/login", url.Values{"username": {username}, "password": {password}})
	if !strings.Contains(page, "Demo web app wants to access your account") {
		t.Fatalf("the printed credentials do not lead to the consent page:\n%s", page)
	}
	page = submit(page, "/consent", url.Values{"decision": {"allow"}})
	i := strings.Index(page, "curl -s -u 'demo-web:")
	if i < 0 {
		t.Fatalf("the callback page has no redeem line:\n%s", redact(page))
	}
	line := strings.SplitN(strings.ReplaceAll(page[i:], "\\\n", ""), "\n", 2)[0]
	var tok struct {
		AccessToken  string `json:"access_token"`
		IDToken      string `json:"id_token"`
		RefreshToken string `json:"refresh_token"`
	}
	decodeJSON(t, "redeem curl", bash(t, line), &tok)
	if tok.AccessToken == "" || tok.IDToken == "" || tok.RefreshToken == "" {
		t.Errorf("redeem curl gave access %t, id %t, refresh %t; want all three", tok.AccessToken != "", tok.IDToken != "", tok.RefreshToken != "")
	}
}

// TestServeIssuerTrailingSlash checks that an issuer given with a trailing
// slash is shown as the tokens carry it: normalised once, at start.
func TestServeIssuerTrailingSlash(t *testing.T) {
	t.Parallel()
	d := startDev(t, nil, "--issuer", "http://localhost:9999/")
	if d.issuer != "http://localhost:9999" {
		t.Errorf("banner Issuer = %s, want http://localhost:9999 (as in the tokens' iss)", d.issuer)
	}
	if strings.Contains(d.stderr.String(), "http://localhost:9999/") {
		t.Errorf("log names the issuer with its slash:\n%s", redact(d.stderr.String()))
	}
}

// TestServeDevLogNoColour checks that --dev logs written to a pipe or file
// carry no ANSI colour codes.
func TestServeDevLogNoColour(t *testing.T) {
	t.Parallel()
	d := startDev(t, nil)
	waitFor(t, "the start log line", d.done, func() bool { return strings.Contains(d.stderr.String(), "idvauth serving") })
	if log := d.stderr.String(); strings.Contains(log, "\x1b[") {
		t.Errorf("dev log written to a buffer has ANSI escape codes: %q", redact(log))
	}
}
