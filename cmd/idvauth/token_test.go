package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// demoSecret returns the client_secret the banner printed for clientID.
func demoSecret(t testing.TB, d *devServer, clientID string) string {
	t.Helper()
	m := regexp.MustCompile(`client_id ` + regexp.QuoteMeta(clientID) + ` +client_secret (\S+)`).FindStringSubmatch(d.banner)
	if m == nil {
		t.Fatalf("banner shows no secret for %s", clientID)
	}
	return m[1]
}

// TestTokenAndIntrospect gets tokens with `idvauth token` with each way a
// client authenticates (secret, private_key_jwt, mTLS) and checks them
// with `idvauth introspect` and --decode.
func TestTokenAndIntrospect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, srv := filepath.Join(dir, "ca"), filepath.Join(dir, "server")
	mustCLI(t, nil, "certs", "ca", "--out", ca)
	mustCLI(t, nil, "certs", "server", "--ca", ca, "--host", "127.0.0.1", "--out", srv)
	mustCLI(t, nil, "certs", "client", "--ca", ca, "--cn", "kyc-backend", "--out", filepath.Join(dir, "kyc-backend"))
	mustCLI(t, nil, "certs", "client", "--self-signed", "--cn", "kyc-self", "--out", filepath.Join(dir, "kyc-self"))
	d := startDev(t, nil, "--admin-token", adminToken, "--tls-cert", filepath.Join(srv, "server.crt"), "--tls-key", filepath.Join(srv, "server.key"),
		"--tls-client-ca", filepath.Join(ca, "ca.crt"))
	admin := map[string]string{"IDVAUTH_ADMIN_URL": d.adminURL, "IDVAUTH_ADMIN_TOKEN": adminToken}
	mustCLI(t, admin, "clients", "create", "--id", "kyc-backend", "--auth-method", "tls_client_auth", "--tls-subject-dn", "CN=kyc-backend", "--scope", "identity.verify")
	mustCLI(t, admin, "clients", "create", "--id", "kyc-jwt", "--auth-method", "private_key_jwt",
		"--jwks-file", filepath.Join(dir, "kyc-self", "client.jwks.json"), "--scope", "identity.verify")

	server := []string{"--issuer", d.issuer, "--cacert", filepath.Join(ca, "ca.crt")}
	rsEnv := map[string]string{"IDVAUTH_CLIENT_ID": "demo-resource-server", "IDVAUTH_CLIENT_SECRET": demoSecret(t, d, "demo-resource-server")}
	introspect := func(t *testing.T, token string) map[string]any {
		t.Helper()
		var m map[string]any
		decodeJSON(t, "introspect -o json", mustCLI(t, rsEnv, append([]string{"introspect", "-o", "json", token}, server...)...), &m)
		return m
	}
	for _, tt := range []struct {
		name     string
		env      map[string]string
		args     []string
		clientID string
	}{
		{"client secret", map[string]string{"IDVAUTH_CLIENT_SECRET": demoSecret(t, d, "demo-service")}, []string{"--client-id", "demo-service"}, "demo-service"},
		{"private_key_jwt", nil, []string{"--client-id", "kyc-jwt", "--key", filepath.Join(dir, "kyc-self", "client.key")}, "kyc-jwt"},
		{"mTLS", nil, []string{"--client-id", "kyc-backend", "--cert", filepath.Join(dir, "kyc-backend", "client.crt"),
			"--cert-key", filepath.Join(dir, "kyc-backend", "client.key")}, "kyc-backend"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"token", "--scope", "identity.verify"}, server...), tt.args...)
			token := strings.TrimSpace(mustCLI(t, tt.env, args...))
			if strings.Count(token, ".") != 2 {
				t.Fatalf("idvauth token printed %q, want the access token alone", redact(token))
			}
			if m := introspect(t, token); m["active"] != true || m["client_id"] != tt.clientID || m["token_type"] != "Bearer" {
				t.Errorf("introspect = active %v, client_id %v, token_type %v; want active %s Bearer", m["active"], m["client_id"], m["token_type"], tt.clientID)
			}

			var resp struct {
				AccessToken string         `json:"access_token"`
				TokenType   string         `json:"token_type"`
				ExpiresIn   int            `json:"expires_in"`
				Header      map[string]any `json:"header"`
				Claims      map[string]any `json:"claims"`
			}
			decodeJSON(t, "token --decode -o json", mustCLI(t, tt.env, append(args, "--decode", "-o", "json")...), &resp)
			if resp.TokenType != "Bearer" || resp.ExpiresIn <= 0 || resp.Header["kid"] == nil || resp.Claims["iss"] != d.issuer || resp.Claims["client_id"] != tt.clientID {
				t.Errorf("token --decode -o json: token_type %q, expires_in %d, header %v, iss %v, client_id %v",
					resp.TokenType, resp.ExpiresIn, resp.Header, resp.Claims["iss"], resp.Claims["client_id"])
			}
			if _, bound := resp.Claims["cnf"]; bound != (tt.name == "mTLS") {
				t.Errorf("token --decode: cnf claim present %t, want it only for the mTLS client", bound)
			}
			text := mustCLI(t, tt.env, append(args, "--decode")...)
			if !strings.HasPrefix(text, "header\n{\n") || !strings.Contains(text, "\nclaims\n{\n") || !strings.Contains(text, `"client_id": "`+tt.clientID+`"`) {
				t.Errorf("token --decode = %q, want the header and claims indented", redact(text))
			}
		})
	}

	// A revoked-looking token: introspect says inactive, exit 0; the table
	// form shows it.
	if out := mustCLI(t, rsEnv, append([]string{"introspect", "not-a-token"}, server...)...); !strings.HasPrefix(out, "active  false\n") {
		t.Errorf("introspect of garbage = %q, want active false", out)
	}
	// From stdin, out of ps.
	token := strings.TrimSpace(mustCLI(t, map[string]string{"IDVAUTH_CLIENT_SECRET": demoSecret(t, d, "demo-service")},
		append([]string{"token", "--client-id", "demo-service"}, server...)...))
	code, out, errOut := cliStdin(t, rsEnv, token+"\n", append([]string{"introspect", "-"}, server...)...)
	if code != 0 || !regexp.MustCompile(`(?m)^active +true\n(.*\n)*client_id +demo-service$`).MatchString(out) {
		t.Errorf("introspect - = exit %d, %q, %q; want the token read from stdin, active", code, redact(out), errOut)
	}

	// Refusals: exit 1 with the server's OAuth error, or 2 for a usage error.
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"wrong secret", map[string]string{"IDVAUTH_CLIENT_SECRET": "wrong"}, []string{"--client-id", "demo-service"}, 1, "invalid_client"},
		{"wrong key", nil, []string{"--client-id", "kyc-jwt", "--key", filepath.Join(dir, "kyc-backend", "client.key")}, 1, "invalid_client"},
		{"public key", nil, []string{"--client-id", "kyc-jwt", "--key", filepath.Join(dir, "kyc-self", "client.jwks.json")}, 1, "neither a PEM private key nor a JWK"},
		{"no trust", nil, []string{"--issuer", d.issuer, "--client-id", "x", "--client-secret", "y", "--cacert", ""}, 1, "certificate"},
		{"no client", nil, nil, 2, "give the client's --client-id"},
		{"two ways", map[string]string{"IDVAUTH_CLIENT_SECRET": "s"}, []string{"--client-id", "kyc-jwt", "--key", filepath.Join(dir, "kyc-self", "client.key")}, 2, "give one way to authenticate"},
		{"cert without key", nil, []string{"--client-id", "kyc-backend", "--cert", filepath.Join(dir, "kyc-backend", "client.crt")}, 2, "--cert and --cert-key go together"},
	} {
		args := append(append([]string{"token"}, server...), tt.args...)
		code, out, errOut := cli(t, tt.env, args...)
		if code != tt.code || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("idvauth token (%s) = exit %d, stdout %q, stderr %q; want %d and %q", tt.name, code, redact(out), errOut, tt.code, tt.want)
		}
	}
}
