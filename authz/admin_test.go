package authz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/settings"
)

// adminDo makes an admin API call with the admin token and returns status
// and body.
func (ts *testServer) adminDo(t testing.TB, method, path, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.Admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	code, _, b := do(t, req)
	return code, b
}

// adminJSON is adminDo with in as a JSON body (none if nil).
func (ts *testServer) adminJSON(t testing.TB, method, path string, in any) (int, []byte) {
	t.Helper()
	if in == nil {
		return ts.adminDo(t, method, path, "", "")
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return ts.adminDo(t, method, path, "application/json", string(b))
}

// adminCall is adminJSON that fails unless the answer has status want,
// and decodes it.
func adminCall[T any](t testing.TB, ts *testServer, method, path string, in any, want int) T {
	t.Helper()
	code, body := ts.adminJSON(t, method, path, in)
	if code != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, code, body, want)
	}
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, body)
	}
	return v
}

func (ts *testServer) listClients(t testing.TB) string {
	t.Helper()
	code, b := ts.adminDo(t, http.MethodGet, "/admin/clients", "", "")
	if code != 200 {
		t.Fatalf("list: %d %s", code, b)
	}
	return string(b)
}

func TestAdminClientLifecycle(t *testing.T) {
	backends(t, testAdminClientLifecycle)
}

func testAdminClientLifecycle(t *testing.T, cfg authz.Config) {
	ts := startServer(t, cfg)
	code, b := ts.adminDo(t, http.MethodPost, "/admin/clients", "application/json",
		`{"client_id":"kyc-backend","client_name":"KYC backend","scope":"identity.verify","audience":["idv-api"],"access_token_ttl":120}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, b)
	}
	var c adminapi.ClientJSON
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.ClientID != "kyc-backend" || len(c.ClientSecret) < 43 || c.TokenEndpointAuthMethod != "client_secret_basic" ||
		strings.Join(c.GrantTypes, ",") != "client_credentials" || c.AccessTokenTTL != 120 {
		t.Fatalf("created client = %+v", c)
	}
	if strings.Contains(ts.listClients(t), c.ClientSecret) || strings.Contains(ts.listClients(t), "client_secret\"") {
		t.Fatal("list shows a secret")
	}
	code, b = ts.adminDo(t, http.MethodGet, "/admin/clients/kyc-backend", "", "")
	if code != 200 || strings.Contains(string(b), "client_secret\"") {
		t.Fatalf("get: %d %s", code, b)
	}
	if _, err := ts.ccConfig(c, "identity.verify").Token(context.Background()); err != nil {
		t.Fatalf("token with the new client: %v", err)
	}

	// Update: scope and name change, the secret does not.
	code, b = ts.adminDo(t, http.MethodPut, "/admin/clients/kyc-backend", "application/json",
		`{"client_name":"KYC backend v2","scope":"identity.read_status"}`)
	if code != 200 || !strings.Contains(string(b), `"KYC backend v2"`) || !strings.Contains(string(b), `"identity.read_status"`) {
		t.Fatalf("update: %d %s", code, b)
	}
	if _, err := ts.ccConfig(c, "identity.verify").Token(context.Background()); err == nil {
		t.Fatal("scope removed by update still granted")
	}
	if _, err := ts.ccConfig(c, "identity.read_status").Token(context.Background()); err != nil {
		t.Fatalf("secret changed by update: %v", err)
	}

	// Rotate: the old secret stops working, the new one works.
	code, b = ts.adminDo(t, http.MethodPost, "/admin/clients/kyc-backend/secret", "", "")
	if code != 200 {
		t.Fatalf("rotate: %d %s", code, b)
	}
	var rotated adminapi.ClientJSON
	_ = json.Unmarshal(b, &rotated)
	if rotated.ClientSecret == "" || rotated.ClientSecret == c.ClientSecret {
		t.Fatalf("rotate gave secret %q", rotated.ClientSecret)
	}
	if _, err := ts.ccConfig(c, "identity.read_status").Token(context.Background()); err == nil {
		t.Fatal("old secret works after rotation")
	}
	if _, err := ts.ccConfig(rotated, "identity.read_status").Token(context.Background()); err != nil {
		t.Fatalf("new secret: %v", err)
	}

	if code, b = ts.adminDo(t, http.MethodDelete, "/admin/clients/kyc-backend", "", ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, b)
	}
	if code, _ = ts.adminDo(t, http.MethodGet, "/admin/clients/kyc-backend", "", ""); code != http.StatusNotFound {
		t.Fatalf("get after delete: %d", code)
	}
	code, b = ts.adminDo(t, http.MethodGet, "/admin/keys", "", "")
	if code != 200 || !strings.Contains(string(b), `"ES256"`) || !strings.Contains(string(b), `"RS256"`) || strings.Contains(string(b), `"d"`) {
		t.Fatalf("keys: %d %s", code, b)
	}
}

func TestAdminRefusals(t *testing.T) {
	backends(t, testAdminRefusals)
}

func testAdminRefusals(t *testing.T, cfg authz.Config) {
	ts := startServer(t, cfg)
	before := ts.listClients(t)
	const js = "application/json"
	tests := []struct {
		name         string
		method, path string
		ct, body     string
		token        string // "" = the right one
		want         int
		wantErr      string
	}{
		{"no token", "GET", "/admin/clients", "", "", "-", 401, "unauthorized"},
		{"wrong token", "GET", "/admin/clients", "", "", "wrong", 401, "unauthorized"},
		{"unknown field", "POST", "/admin/clients", js, `{"client_name":"x","is_admin":true}`, "", 400, "invalid_request"},
		{"client_secret given", "POST", "/admin/clients", js, `{"client_secret":"mine"}`, "", 400, "invalid_request"},
		{"bad JSON", "POST", "/admin/clients", js, `{"client_name":`, "", 400, "invalid_request"},
		{"two values", "POST", "/admin/clients", js, `{} {}`, "", 400, "invalid_request"},
		{"wrong type", "POST", "/admin/clients", js, `{"scope":["identity.verify"]}`, "", 400, "invalid_request"},
		{"wrong content type", "POST", "/admin/clients", "text/plain", `{}`, "", 415, "invalid_request"},
		{"too large", "POST", "/admin/clients", js, `{"client_name":"` + strings.Repeat("a", 70<<10) + `"}`, "", 413, "invalid_request"},
		{"unknown scope", "POST", "/admin/clients", js, `{"scope":"identity.verify admin"}`, "", 400, "invalid_client_metadata"},
		{"bad client_id", "POST", "/admin/clients", js, `{"client_id":"../etc"}`, "", 400, "invalid_client_metadata"},
		{"NUL in client_id", "POST", "/admin/clients", js, `{"client_id":"a\u0000b"}`, "", 400, "invalid_client_metadata"},
		{"client_id like a person's", "POST", "/admin/clients", js, `{"client_id":"u_3mJr7AoUXx2Wqd9KvYg5Tw"}`, "", 400, "invalid_client_metadata"},
		{"long name", "POST", "/admin/clients", js, `{"client_name":"` + strings.Repeat("n", 300) + `"}`, "", 400, "invalid_client_metadata"},
		{"control char in name", "POST", "/admin/clients", js, `{"client_name":"a\u0007b"}`, "", 400, "invalid_client_metadata"},
		{"unsupported grant", "POST", "/admin/clients", js, `{"grant_types":["password"]}`, "", 400, "invalid_client_metadata"},
		{"unsupported auth method", "POST", "/admin/clients", js, `{"token_endpoint_auth_method":"none"}`, "", 400, "invalid_client_metadata"},
		{"redirect uris for client credentials", "POST", "/admin/clients", js, `{"grant_types":["client_credentials"],"redirect_uris":["https://app.example/cb"]}`, "", 400, "invalid_client_metadata"},
		{"http redirect", "POST", "/admin/clients", js, `{"redirect_uris":["http://app.example/cb"]}`, "", 400, "invalid_client_metadata"},
		{"redirect with fragment", "POST", "/admin/clients", js, `{"redirect_uris":["https://app.example/cb#x"]}`, "", 400, "invalid_client_metadata"},
		{"wildcard redirect", "POST", "/admin/clients", js, `{"redirect_uris":["https://*.example.com/cb"]}`, "", 400, "invalid_client_metadata"},
		{"relative redirect", "POST", "/admin/clients", js, `{"redirect_uris":["/cb"]}`, "", 400, "invalid_client_metadata"},
		{"redirect with user info", "POST", "/admin/clients", js, `{"redirect_uris":["https://u:p@app.example/cb"]}`, "", 400, "invalid_client_metadata"},
		{"private scheme for confidential client", "POST", "/admin/clients", js, `{"redirect_uris":["com.example.app:/cb"]}`, "", 400, "invalid_client_metadata"},
		{"code grant without redirect", "POST", "/admin/clients", js, `{"grant_types":["authorization_code"]}`, "", 400, "invalid_client_metadata"},
		{"refresh without code", "POST", "/admin/clients", js, `{"grant_types":["client_credentials","refresh_token"]}`, "", 400, "invalid_client_metadata"},
		{"implicit response type", "POST", "/admin/clients", js, `{"redirect_uris":["https://app.example/cb"],"response_types":["token"]}`, "", 400, "invalid_client_metadata"},
		{"public client introspecting", "POST", "/admin/clients", js, `{"token_endpoint_auth_method":"none","redirect_uris":["https://app.example/cb"],"introspection_allowed":true}`, "", 400, "invalid_client_metadata"},
		{"HS256 ID tokens", "POST", "/admin/clients", js, `{"redirect_uris":["https://app.example/cb"],"id_token_signed_response_alg":"HS256"}`, "", 400, "invalid_client_metadata"},
		{"offline_access without refresh grant", "POST", "/admin/clients", js, `{"redirect_uris":["https://app.example/cb"],"scope":"openid offline_access"}`, "", 400, "invalid_client_metadata"},
		{"audience with space", "POST", "/admin/clients", js, `{"audience":["a b"]}`, "", 400, "invalid_client_metadata"},
		{"duplicate audience", "POST", "/admin/clients", js, `{"audience":["a","a"]}`, "", 400, "invalid_client_metadata"},
		{"introspection audiences without introspection", "POST", "/admin/clients", js, `{"introspection_audiences":["api"]}`, "", 400, "invalid_client_metadata"},
		{"introspection audience with space", "POST", "/admin/clients", js, `{"introspection_allowed":true,"introspection_audiences":["a b"]}`, "", 400, "invalid_client_metadata"},
		{"duplicate introspection audience", "POST", "/admin/clients", js, `{"introspection_allowed":true,"introspection_audiences":["a","a"]}`, "", 400, "invalid_client_metadata"},
		{"too many introspection audiences", "POST", "/admin/clients", js, `{"introspection_allowed":true,"introspection_audiences":[` + manyAudiences(21) + `]}`, "", 400, "invalid_client_metadata"},
		{"negative ttl", "POST", "/admin/clients", js, `{"access_token_ttl":-1}`, "", 400, "invalid_client_metadata"},
		{"ttl over max", "POST", "/admin/clients", js, `{"access_token_ttl":999999}`, "", 400, "invalid_client_metadata"},
		{"duplicate id", "POST", "/admin/clients", js, `{"client_id":"demo-service"}`, "", 409, "already_exists"},
		{"get unknown", "GET", "/admin/clients/nobody", "", "", "", 404, "not_found"},
		{"update unknown", "PUT", "/admin/clients/nobody", js, `{}`, "", 404, "not_found"},
		{"update id mismatch", "PUT", "/admin/clients/demo-service", js, `{"client_id":"other"}`, "", 400, "invalid_client_metadata"},
		{"update bad scope", "PUT", "/admin/clients/demo-service", js, `{"scope":"nope"}`, "", 400, "invalid_client_metadata"},
		{"update introspection audiences without introspection", "PUT", "/admin/clients/demo-service", js, `{"scope":"identity.verify","introspection_audiences":["api"]}`, "", 400, "invalid_client_metadata"},
		{"update duplicate introspection audience", "PUT", "/admin/clients/demo-resource-server", js, `{"grant_types":[],"introspection_allowed":true,"introspection_audiences":["a","a"]}`, "", 400, "invalid_client_metadata"},
		{"delete unknown", "DELETE", "/admin/clients/nobody", "", "", "", 404, "not_found"},
		{"rotate unknown", "POST", "/admin/clients/nobody/secret", "", "", "", 404, "not_found"},
		{"wrong method", "PATCH", "/admin/clients", js, `{}`, "", 405, "method_not_allowed"},
		{"wrong method on secret", "GET", "/admin/clients/demo-service/secret", "", "", "", 405, "method_not_allowed"},
		{"unknown path", "GET", "/admin/nope", "", "", "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.Admin+tt.path, strings.NewReader(tt.body))
			switch tt.token {
			case "":
				req.Header.Set("Authorization", "Bearer "+testAdminToken)
			case "-":
			default:
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			code, _, b := do(t, req)
			if code != tt.want {
				t.Fatalf("status = %d, want %d: %s", code, tt.want, b)
			}
			if got, desc := oauthErr(t, b); got != tt.wantErr || desc == "" {
				t.Errorf("error = %q (%q), want %q with a description", got, desc, tt.wantErr)
			}
		})
	}
	if after := ts.listClients(t); after != before {
		t.Errorf("refused admin requests changed the clients:\nbefore %s\nafter  %s", before, after)
	}
}

// manyAudiences is n distinct audience values as a JSON array's items.
func manyAudiences(n int) string {
	vals := make([]string, n)
	for i := range vals {
		vals[i] = fmt.Sprintf(`"api-%d"`, i)
	}
	return strings.Join(vals, ",")
}

// TestLogsHoldNoSecrets drives every flow with debug logging and fails if
// a secret, token or the admin token reaches the log.
func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestLogsHoldNoSecrets(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	ts := startServer(t, authz.Config{Logger: zap.New(core), Argon2: settings.Argon2{Time: 1, MemoryKiB: 64, Threads: 1}})
	ctx := context.Background()
	svc, rs := ts.Demo.Service, ts.Demo.ResourceServer

	// The person-facing flow: a failed and a good login, consent, code,
	// refresh, reuse, userinfo, logout.
	user := ts.createUser(t, "logcheck")
	web := ts.createWebClient(t, adminapi.ClientJSON{})
	br := newBrowser(t)
	v := oauth2.GenerateVerifier()
	nonce := randomString(20)
	p := br.follow(ts.Public, br.get(authURL(web, "state-logs-0001", v, nonce)))
	p = br.submit(ts.Public, p.onlyForm(t), url.Values{"username": {"logcheck"}, "password": {"a wrong password 123"}})
	p = br.submit(ts.Public, p.onlyForm(t), url.Values{"username": {"logcheck"}, "password": {testPassword}})
	p = br.submit(ts.Public, p.onlyForm(t), url.Values{"decision": {"allow"}})
	code := redirectedToClient(t, p, redirectURI).query.Get("code")
	first := ts.redeemOK(t, web, code, v)
	st, body := ts.refresh(t, web, first.RefreshToken)
	second := decodeTokens(t, st, body)
	req, _ := http.NewRequest("GET", ts.Public+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+second.AccessToken)
	do(t, req)
	ts.refresh(t, web, first.RefreshToken) // reuse
	ts.redeem(t, web, code, v)             // reuse
	var cookies []string
	for _, ck := range br.client.Jar.Cookies(mustURL(t, ts.Public)) {
		cookies = append(cookies, ck.Value)
	}
	lp := br.get(ts.Public + "/logout")
	br.submit(ts.Public, lp.onlyForm(t), nil)
	tok, err := ts.ccConfig(svc, "identity.verify").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ts.introspect(t, tok.AccessToken)
	post(t, ts.Public+"/oauth2/token", svc.ClientID, "wrong-"+svc.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
	post(t, ts.Public+"/oauth2/introspect", svc.ClientID, svc.ClientSecret, url.Values{"token": {tok.AccessToken}})
	post(t, ts.Public+"/oauth2/revoke", svc.ClientID, svc.ClientSecret, url.Values{"token": {tok.AccessToken}})
	_, b := ts.adminDo(t, http.MethodPost, "/admin/clients", "application/json", `{"client_name":"x"}`)
	var created adminapi.ClientJSON
	_ = json.Unmarshal(b, &created)
	_, b = ts.adminDo(t, http.MethodPost, "/admin/clients/"+created.ClientID+"/secret", "", "")
	var rotated adminapi.ClientJSON
	_ = json.Unmarshal(b, &rotated)
	ts.adminDo(t, http.MethodGet, "/admin/clients", "", "")
	// private_key_jwt: a good assertion, its replay, one signed by
	// another key; a registration with a private key.
	jk := mustKey(t, jose.ES256)
	ts.createClient(t, map[string]any{"client_id": "logs-jwt", "token_endpoint_auth_method": "private_key_jwt",
		"jwks": json.RawMessage(jwksJSON(t, pub(jk)))})
	assertion := signAssertion(t, jk, assertionClaims("logs-jwt", ts.Public))
	badAssertion := signAssertion(t, mustKey(t, jose.ES256), assertionClaims("logs-jwt", ts.Public))
	for _, a := range []string{assertion, assertion, badAssertion} {
		post(t, ts.Public+"/oauth2/token", "", "", assertionForm(a))
	}
	privJWKS := jwksJSON(t, jk)
	ts.adminDo(t, http.MethodPost, "/admin/clients", "application/json", `{"token_endpoint_auth_method":"private_key_jwt","jwks":`+privJWKS+`}`)
	var privJWK struct {
		Keys []struct {
			D string `json:"d"`
		} `json:"keys"`
	}
	_ = json.Unmarshal([]byte(privJWKS), &privJWK)
	if logs.Len() == 0 {
		t.Fatal("no logs observed: the test would prove nothing")
	}
	secrets := []string{svc.ClientSecret, rs.ClientSecret, tok.AccessToken, testAdminToken, testSecret, created.ClientSecret, rotated.ClientSecret,
		web.ClientSecret, testPassword, "a wrong password 123", code, v, nonce, first.AccessToken, first.RefreshToken, first.IDToken,
		second.AccessToken, second.RefreshToken, "logcheck@example.com", user.Name, "logcheck"}
	secrets = append(secrets, cookies...)
	secrets = append(secrets, assertion, strings.Split(assertion, ".")[2], badAssertion, privJWK.Keys[0].D)
	if len(cookies) < 2 {
		t.Fatalf("the browser holds %d cookies, want the session and CSRF ones", len(cookies))
	}
	// Parts of the token (its signature identifies it in storage) count too.
	secrets = append(secrets, strings.Split(tok.AccessToken, ".")[2])
	for _, e := range logs.All() {
		var buf bytes.Buffer
		buf.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			buf.WriteString(" " + k + "=")
			jb, _ := json.Marshal(v)
			buf.Write(jb)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(buf.String(), s) {
				t.Fatalf("log entry %q contains a secret or token", e.Message)
			}
		}
	}
}
