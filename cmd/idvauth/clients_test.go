package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/operators"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

// TestClientsLifecycle drives every clients subcommand against a running
// `serve --dev` and checks the result with real OAuth clients.
func TestClientsLifecycle(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	id := "kyc-backend-" + randHex(t)

	// create: table output with the secret, once.
	out := mustCLI(t, env, "clients", "create", "--id", id, "--name", "KYC backend", "--scope", "identity.verify identity.read_status")
	rows := tableRows(out)
	secret := rows["client_secret"]
	if secret == "" || !strings.Contains(out, secret+"  (shown once: store it now)") {
		t.Fatalf("clients create printed no client_secret row with the shown-once note:\n%s", redact(out))
	}
	if n := strings.Count(out, secret); n != 1 {
		t.Errorf("clients create printed the secret %d times, want once", n)
	}
	wantRows := map[string]string{
		"client_id":                  id,
		"client_name":                "KYC backend",
		"grant_types":                "client_credentials",
		"scope":                      "identity.verify identity.read_status",
		"audience":                   "-",
		"token_endpoint_auth_method": "client_secret_basic",
		"access_token_ttl":           "default",
		"introspection_allowed":      "false",
	}
	for k, v := range wantRows {
		if rows[k] != v {
			t.Errorf("clients create: %s = %q, want %q", k, rows[k], v)
		}
	}
	if _, ok := rows["created"]; !ok {
		t.Error("clients create: no created row")
	}
	if _, err := ccToken(t, d, id, secret, "identity.verify"); err != nil {
		t.Fatalf("token for the new client: %v", err)
	}

	// create -o json: a resource server that may introspect, as in the
	// command's example; the server generates its id.
	var rs adminapi.ClientJSON
	out = mustCLI(t, env, "clients", "create", "--name", "IDV API", "--grant-type", "", "--introspection-allowed", "-o", "json")
	decodeJSON(t, "clients create -o json", out, &rs)
	if rs.ClientID == "" || rs.ClientSecret == "" || len(rs.GrantTypes) != 0 || !rs.IntrospectionAllowed {
		t.Fatalf("clients create -o json = client_id %q, secret set %t, grant_types %q, introspection_allowed %t; "+
			"want a generated id, a secret, no grant types, introspection allowed",
			rs.ClientID, rs.ClientSecret != "", rs.GrantTypes, rs.IntrospectionAllowed)
	}
	tok, err := ccToken(t, d, id, secret, "identity.verify")
	if err != nil {
		t.Fatal(err)
	}
	if got := introspect(t, d, rs.ClientID, rs.ClientSecret, tok.AccessToken); got["active"] != true || got["client_id"] != id {
		t.Errorf("introspection by the new resource server: active %v, client_id %v; want true, %s", got["active"], got["client_id"], id)
	}

	// list: the table and -o json.
	out = mustCLI(t, env, "clients", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if header := strings.Fields(lines[0]); !slices.Equal(header, []string{"CLIENT_ID", "NAME", "GRANT_TYPES", "SCOPE", "AUDIENCE", "INTROSPECT", "TTL"}) {
		t.Errorf("clients list header = %q", lines[0])
	}
	listed := map[string][]string{}
	for _, l := range lines[1:] {
		cells := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1)
		listed[cells[0]] = cells
	}
	if want := []string{id, "KYC backend", "client_credentials", "identity.verify identity.read_status", "-", "false", "default"}; !slices.Equal(listed[id], want) {
		t.Errorf("clients list row of %s = %q, want %q", id, listed[id], want)
	}
	if want := []string{rs.ClientID, "IDV API", "-", "-", "-", "true", "default"}; !slices.Equal(listed[rs.ClientID], want) {
		t.Errorf("clients list row of %s = %q, want %q", rs.ClientID, listed[rs.ClientID], want)
	}
	for _, demo := range []string{authz.DemoServiceID, authz.DemoResourceServerID, authz.DemoWebID} {
		if listed[demo] == nil {
			t.Errorf("clients list lacks %s", demo)
		}
	}
	if len(listed) != 7 || listed[operators.CLIClientID] == nil || listed[operators.ConsoleClientID] == nil {
		t.Errorf("clients list has %d clients, want 7 (three demo, two built in, two created)", len(listed))
	}
	out = mustCLI(t, env, "clients", "list", "-o", "json")
	var l adminapi.ClientList
	decodeJSON(t, "clients list -o json", out, &l)
	if len(l.Clients) != 7 {
		t.Errorf("clients list -o json has %d clients, want 7", len(l.Clients))
	}
	if strings.Contains(out, "client_secret\"") || strings.Contains(out, secret) {
		t.Error("clients list -o json shows a client secret")
	}

	// get: the table without the secret, and -o json.
	out = mustCLI(t, env, "clients", "get", id)
	rows = tableRows(out)
	if _, ok := rows["client_secret"]; ok || strings.Contains(out, secret) {
		t.Error("clients get shows the client secret")
	}
	for k, v := range wantRows {
		if rows[k] != v {
			t.Errorf("clients get: %s = %q, want %q", k, rows[k], v)
		}
	}
	got := getClient(t, env, id)
	if got.ClientID != id || got.ClientName != "KYC backend" || got.Scope != "identity.verify identity.read_status" || got.ClientSecret != "" {
		t.Errorf("clients get -o json = %s %q %q (secret set %t), want %s, KYC backend, both scopes, no secret",
			got.ClientID, got.ClientName, got.Scope, got.ClientSecret != "", id)
	}

	// update: only the flags given change.
	out = mustCLI(t, env, "clients", "update", id, "--scope", "identity.read_status", "--access-token-ttl", "2m")
	if rows := tableRows(out); rows["scope"] != "identity.read_status" || rows["access_token_ttl"] != "2m0s" {
		t.Errorf("clients update printed scope %q, ttl %q; want identity.read_status, 2m0s", rows["scope"], rows["access_token_ttl"])
	}
	got = getClient(t, env, id)
	if got.Scope != "identity.read_status" || got.AccessTokenTTL != 120 || got.ClientName != "KYC backend" || !slices.Equal(got.GrantTypes, []string{"client_credentials"}) {
		t.Errorf("after update: scope %q, ttl %d, name %q, grant_types %q; want identity.read_status, 120, KYC backend unchanged, client_credentials unchanged",
			got.Scope, got.AccessTokenTTL, got.ClientName, got.GrantTypes)
	}
	if _, err := ccToken(t, d, id, secret, "identity.verify"); oauthErrorCode(err) != "invalid_scope" {
		t.Errorf("token for a scope taken away = %v, want invalid_scope", err)
	}
	if _, err := ccToken(t, d, id, secret, "identity.read_status"); err != nil {
		t.Errorf("token for the scope kept: %v", err)
	}

	// rotate-secret: a new secret, the old one stops working.
	var rotated adminapi.ClientJSON
	decodeJSON(t, "clients rotate-secret -o json", mustCLI(t, env, "clients", "rotate-secret", id, "-o", "json"), &rotated)
	if rotated.ClientID != id || rotated.ClientSecret == "" || rotated.ClientSecret == secret {
		t.Fatalf("rotate-secret -o json = client_id %q, new secret set %t, same as old %t; want %s with a new secret",
			rotated.ClientID, rotated.ClientSecret != "", rotated.ClientSecret == secret, id)
	}
	if _, err := ccToken(t, d, id, secret, "identity.read_status"); oauthErrorCode(err) != "invalid_client" {
		t.Errorf("token with the old secret after rotation = %v, want invalid_client", err)
	}
	if _, err := ccToken(t, d, id, rotated.ClientSecret, "identity.read_status"); err != nil {
		t.Errorf("token with the new secret: %v", err)
	}
	out = mustCLI(t, env, "clients", "rotate-secret", rs.ClientID)
	rsSecret := tableRows(out)["client_secret"]
	if rsSecret == "" || rsSecret == rs.ClientSecret || !strings.Contains(out, rsSecret+"  (shown once: store it now)") {
		t.Fatalf("clients rotate-secret (table) shows no new secret with the shown-once note:\n%s", redact(out))
	}

	// delete: then get fails with a clear message and the client is gone.
	if code, _, errOut := cli(t, env, "clients", "delete", id); code != clikit.ExitUsage || !strings.Contains(errOut, "add --yes to confirm") {
		t.Errorf("clients delete without a terminal or --yes = exit %d, stderr %q; want 2 and a refusal", code, errOut)
	}
	if out := mustCLI(t, env, "clients", "delete", id, "--yes"); out != "client "+id+" deleted\n" {
		t.Errorf("clients delete printed %q, want %q", out, "client "+id+" deleted\n")
	}
	code, out, errOut := cli(t, env, "clients", "get", id)
	wantErr := "Error: no client \"" + id + "\": admin API: not_found: No such resource. (HTTP 404)\n"
	if code == 0 || out != "" || errOut != wantErr {
		t.Errorf("clients get of a deleted client = exit %d, stdout %q, stderr %q; want non-zero, nothing, %q", code, out, errOut, wantErr)
	}
	if code, _, errOut := cli(t, env, "clients", "delete", id, "--yes"); code == 0 || errOut != wantErr {
		t.Errorf("clients delete twice = exit %d, stderr %q; want non-zero, %q", code, errOut, wantErr)
	}
	if _, err := ccToken(t, d, id, rotated.ClientSecret, "identity.read_status"); oauthErrorCode(err) != "invalid_client" {
		t.Errorf("token for a deleted client = %v, want invalid_client", err)
	}
	if got := introspect(t, d, rs.ClientID, rsSecret, tok.AccessToken); got["active"] != false {
		t.Errorf("introspection of a deleted client's token: active %v, want false", got["active"])
	}
	out = mustCLI(t, env, "clients", "delete", rs.ClientID, "--yes", "-o", "json")
	var del map[string]string
	decodeJSON(t, "clients delete -o json", out, &del)
	if del["deleted"] != rs.ClientID {
		t.Errorf("clients delete -o json = %s, want {\"deleted\":%q}", out, rs.ClientID)
	}
}

// TestClientsAdminToken checks the admin token: a wrong one is refused with
// a message saying so, and --admin-token beats IDVAUTH_ADMIN_TOKEN.
// TestClientsIntrospectionAudiences: --introspection-audience registers
// the audiences a resource server introspects, get shows them, and the
// server answers active only for tokens of those audiences.
func TestClientsIntrospectionAudiences(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	rsID, svcID := "status-api-"+randHex(t), "kyc-"+randHex(t)
	rs := decodeClient(t, mustCLI(t, env, "clients", "create", "--id", rsID, "--grant-type", "", "--introspection-allowed",
		"--introspection-audience", "api-a", "--introspection-audience", "api-b", "-o", "json"))
	if got := tableRows(mustCLI(t, env, "clients", "get", rsID))["introspection_audiences"]; got != "api-a api-b" {
		t.Errorf("clients get: introspection_audiences = %q, want %q", got, "api-a api-b")
	}
	if got := getClient(t, env, rsID).IntrospectionAudiences; !slices.Equal(got, []string{"api-a", "api-b"}) {
		t.Errorf("clients get -o json: introspection_audiences = %q, want [api-a api-b]", got)
	}
	svc := decodeClient(t, mustCLI(t, env, "clients", "create", "--id", svcID, "--scope", "identity.verify", "--audience", "api-b", "-o", "json"))
	tok, err := ccToken(t, d, svcID, svc.ClientSecret, "identity.verify")
	if err != nil {
		t.Fatal(err)
	}
	if got := introspect(t, d, rsID, rs.ClientSecret, tok.AccessToken); got["active"] != true {
		t.Errorf("introspection of a token for api-b by %s = %v, want active", rsID, got)
	}
	mustCLI(t, env, "clients", "update", rsID, "--introspection-audience", "api-a")
	if got := introspect(t, d, rsID, rs.ClientSecret, tok.AccessToken); len(got) != 1 || got["active"] != false {
		t.Errorf("introspection of a token for api-b by %s, now for api-a only = %v, want exactly active false", rsID, got)
	}
	// Not introspecting any more: the audiences go too.
	mustCLI(t, env, "clients", "update", rsID, "--introspection-allowed=false")
	if got := getClient(t, env, rsID); got.IntrospectionAllowed || len(got.IntrospectionAudiences) != 0 {
		t.Errorf("after --introspection-allowed=false: introspection_allowed %t, introspection_audiences %q; want false, none",
			got.IntrospectionAllowed, got.IntrospectionAudiences)
	}
}

// decodeClient decodes the -o json output of a clients command.
func decodeClient(t testing.TB, out string) adminapi.ClientJSON {
	t.Helper()
	var c adminapi.ClientJSON
	decodeJSON(t, "clients -o json", out, &c)
	return c
}

func TestClientsAdminToken(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	const wrong = "wrong-admin-token-0123456789abcdef01234567"
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": wrong, "IDVAUTH_ADMIN_URL": d.adminURL}
	for _, args := range [][]string{
		{"clients", "list"},
		{"clients", "get", authz.DemoServiceID},
		{"clients", "create", "--name", "x"},
		{"clients", "rotate-secret", authz.DemoServiceID},
		{"clients", "delete", authz.DemoServiceID, "--yes"},
	} {
		code, out, errOut := cli(t, env, args...)
		want := "Error: admin API: unauthorized: A valid admin bearer token is required: an access token of this server for the admin API, or the break-glass token. (HTTP 401)\n"
		if code == 0 || out != "" || errOut != want {
			t.Errorf("idvauth %s with a wrong admin token = exit %d, stdout %q, stderr %q; want non-zero, nothing, %q",
				strings.Join(args, " "), code, redact(out), redact(errOut), want)
		}
	}
	// The refused calls changed nothing, and the flag beats the env.
	out := mustCLI(t, env, "clients", "list", "--admin-token", adminToken)
	if !strings.Contains(out, "\n"+authz.DemoServiceID+" ") || strings.Count(out, "\n") != 6 {
		t.Errorf("clients list --admin-token (right) with a wrong env token = %q, want the three demo and two built-in clients", out)
	}
	// And --admin-url beats IDVAUTH_ADMIN_URL.
	bad := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": "http://" + freeAddr(t)}
	mustCLI(t, bad, "clients", "list", "--admin-url", d.adminURL)
}

// TestClientsClientErrors checks the errors the CLI finds before or
// without a server.
func TestClientsClientErrors(t *testing.T) {
	t.Parallel()
	unreachable := "http://" + freeAddr(t)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{
			name: "unreachable admin API",
			env:  map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": unreachable},
			args: []string{"clients", "list"},
			want: []string{"Error: cannot reach the admin API at " + unreachable + ": ", "connection refused"},
		},
		{
			name: "no admin token",
			env:  map[string]string{"IDVAUTH_ADMIN_URL": unreachable},
			args: []string{"clients", "list"},
			want: []string{"Error: no admin token: set IDVAUTH_ADMIN_TOKEN"},
		},
		{
			// Durations on the command line, as everywhere else.
			name: "ttl without unit",
			env:  map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": unreachable},
			args: []string{"clients", "update", "kyc", "--access-token-ttl", "120"},
			want: []string{`Error: invalid argument "120" for "--access-token-ttl" flag: time: missing unit in duration "120"`},
		},
		{
			name: "ttl not whole seconds",
			env:  map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": unreachable},
			args: []string{"clients", "create", "--name", "x", "--access-token-ttl", "1500ms"},
			want: []string{`Error: --access-token-ttl: 1.5s is not a whole number of seconds`},
		},
		{
			name: "admin URL not http",
			env:  map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken},
			args: []string{"clients", "list", "--admin-url", "ftp://127.0.0.1:8081"},
			want: []string{`Error: --admin-url: "ftp://127.0.0.1:8081" is not an http(s) URL`},
		},
		{
			name: "admin URL without host",
			env:  map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": "127.0.0.1:8081"},
			args: []string{"clients", "list"},
			want: []string{"is not an http(s) URL"},
		},
		{
			name: "unknown output format",
			env:  map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": unreachable},
			args: []string{"clients", "list", "-o", "yaml"},
			want: []string{`Error: --output must be table or json, not "yaml"`},
		},
		{
			name: "get without an id",
			args: []string{"clients", "get"},
			want: []string{"Error: accepts 1 arg(s), received 0"},
		},
		{
			name: "unknown flag",
			args: []string{"clients", "create", "--colour", "red"},
			want: []string{"Error: unknown flag: --colour"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := cli(t, tt.env, tt.args...)
			if code == 0 || out != "" {
				t.Errorf("idvauth %s = exit %d, stdout %q; want non-zero and nothing", strings.Join(tt.args, " "), code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("idvauth %s: stderr %q lacks %q", strings.Join(tt.args, " "), errOut, w)
				}
			}
			if strings.Contains(errOut, adminToken) {
				t.Error("stderr shows the admin token")
			}
			if strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr has %d lines, want one clear message:\n%s", strings.Count(errOut, "\n"), errOut)
			}
		})
	}
}

// tableRows parses the two-column "key  value" table of create, get,
// update and rotate-secret.
func tableRows(out string) map[string]string {
	rows := map[string]string{}
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		cells := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1)
		if len(cells) >= 2 {
			rows[cells[0]] = cells[1]
		} else {
			rows[cells[0]] = ""
		}
	}
	return rows
}

// getClient runs `clients get ID -o json`.
func getClient(t testing.TB, env map[string]string, id string) adminapi.ClientJSON {
	t.Helper()
	var c adminapi.ClientJSON
	decodeJSON(t, "clients get -o json", mustCLI(t, env, "clients", "get", id, "-o", "json"), &c)
	return c
}

// ccToken gets a client-credentials token from the dev server's token
// endpoint with golang.org/x/oauth2.
func ccToken(t testing.TB, d *devServer, id, secret, scope string) (*oauth2.Token, error) {
	t.Helper()
	cc := clientcredentials.Config{
		ClientID: id, ClientSecret: secret, TokenURL: d.publicURL + "/oauth2/token",
		Scopes: []string{scope}, AuthStyle: oauth2.AuthStyleInHeader,
	}
	return cc.Token(t.Context())
}

// oauthErrorCode is the RFC 6749 error code of a token endpoint refusal,
// or "" if err is not one.
func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// introspect calls the introspection endpoint as client id.
func introspect(t testing.TB, d *devServer, id, secret, token string) map[string]any {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, d.publicURL+"/oauth2/introspect",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect as %s = HTTP %d, %v", id, resp.StatusCode, err)
	}
	return out
}

// randHex returns 12 random hex digits for unique client ids.
func randHex(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// TestClientsWebApp registers a web app and a public mobile app from the
// CLI, and updates the web app without losing its redirect URIs.
func TestClientsWebApp(t *testing.T) {
	t.Parallel()
	d := startDev(t, nil, "--admin-token", adminToken)
	env := map[string]string{"IDVAUTH_ADMIN_URL": d.adminURL, "IDVAUTH_ADMIN_TOKEN": adminToken}
	out := mustCLI(t, env, "clients", "create", "--id", "web", "--name", "Onboarding web", "--grant-type", "authorization_code",
		"--grant-type", "refresh_token", "--redirect-uri", "https://onboarding.example/callback", "--id-token-alg", "ES256",
		"--scope", "openid profile offline_access identity.verify", "-o", "json")
	var c adminapi.ClientJSON
	decodeJSON(t, "clients create (web)", out, &c)
	if c.ClientSecret == "" || len(c.RedirectURIs) != 1 || c.IDTokenSignedResponseAlg != "ES256" {
		t.Fatalf("web app = %+v", c)
	}
	mustCLI(t, env, "clients", "update", "web", "--name", "Onboarding")
	decodeJSON(t, "clients get", mustCLI(t, env, "clients", "get", "web", "-o", "json"), &c)
	if c.ClientName != "Onboarding" || len(c.RedirectURIs) != 1 || c.RedirectURIs[0] != "https://onboarding.example/callback" || c.IDTokenSignedResponseAlg != "ES256" {
		t.Errorf("after update = %+v, want the redirect URI and ID token alg kept", c)
	}
	out = mustCLI(t, env, "clients", "create", "--id", "ios", "--auth-method", "none", "--grant-type", "authorization_code",
		"--redirect-uri", "com.example.onboarding:/callback", "--scope", "openid")
	if strings.Contains(out, "client_secret") || !strings.Contains(out, "com.example.onboarding:/callback") {
		t.Errorf("public client create = %q, want no secret and its redirect URI", out)
	}
	code, _, errOut := cli(t, env, "clients", "rotate-secret", "ios")
	if code == 0 || !strings.Contains(errOut, "public client") {
		t.Errorf("rotate-secret of a public client = exit %d, %q", code, errOut)
	}
	code, _, errOut = cli(t, env, "clients", "create", "--redirect-uri", "http://evil.example/cb")
	if code == 0 || !strings.Contains(errOut, "loopback") {
		t.Errorf("http redirect URI = exit %d, %q; want refused with the reason", code, errOut)
	}
}

// TestClientsStepUp: --require-mfa and --default-acr-value register a
// client's step-up, get shows them, update changes them, and an
// unsupported value is refused.
func TestClientsStepUp(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	id := "web-" + randHex(t)
	c := decodeClient(t, mustCLI(t, env, "clients", "create", "--id", id, "--grant-type", "authorization_code",
		"--redirect-uri", "https://app.example/cb", "--scope", "openid", "--require-mfa", "--default-acr-value", "urn:idvauth:acr:mfa", "-o", "json"))
	if !c.RequireMFA || !slices.Equal(c.DefaultACRValues, []string{"urn:idvauth:acr:mfa"}) {
		t.Errorf("clients create = require_mfa %t, default_acr_values %q", c.RequireMFA, c.DefaultACRValues)
	}
	if rows := tableRows(mustCLI(t, env, "clients", "get", id)); rows["require_mfa"] != "true" || rows["default_acr_values"] != "urn:idvauth:acr:mfa" {
		t.Errorf("clients get = %q, want require_mfa and default_acr_values shown", rows)
	}
	mustCLI(t, env, "clients", "update", id, "--require-mfa=false", "--default-acr-value", "")
	if got := getClient(t, env, id); got.RequireMFA || len(got.DefaultACRValues) != 0 {
		t.Errorf("after update: require_mfa %t, default_acr_values %q; want false, none", got.RequireMFA, got.DefaultACRValues)
	}
	if code, _, errOut := cli(t, env, "clients", "update", id, "--default-acr-value", "urn:other"); code == 0 || !strings.Contains(errOut, "default_acr_values") {
		t.Errorf("an unsupported acr value = exit %d, stderr %q; want refused, naming default_acr_values", code, errOut)
	}
}
