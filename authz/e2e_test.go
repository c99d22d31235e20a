package authz_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// testServer is a server started by startHarness, with the requests
// the tests make of it as methods.
type testServer struct{ *harnessServer }

// startServer starts a server for the test with startHarness; o, at
// most one, says which demo clients it has (none: its own).
func startServer(t testing.TB, cfg authz.Config, o ...serverOptions) *testServer {
	t.Helper()
	return &testServer{startHarness(t, cfg, o...)}
}

// countTokens returns how many token records the server's store holds.
func (ts *testServer) countTokens(t testing.TB) int {
	t.Helper()
	if m, ok := ts.Store.(*memory.Store); ok {
		_, n := m.Len()
		return n
	}
	return pgtest.CountTokens(t, ts.DatabaseURL)
}

// ccConfig is the x/oauth2 client-credentials config of a client.
func (ts *testServer) ccConfig(c adminapi.ClientJSON, scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: ts.Public + "/oauth2/token",
		Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader,
	}
}

// post sends a form POST with Basic auth (skipped when id is "") and
// returns status, headers and body.
func post(t testing.TB, u, id, sec string, form url.Values) (int, http.Header, []byte) {
	t.Helper()
	return do(t, formRequest(t, u, id, sec, form))
}

// formRequest is a form POST to u with Basic auth (none when id is "").
func formRequest(t testing.TB, u, id, sec string, form url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec))
	}
	return req
}

// do sends req with http.DefaultClient and returns status, headers and
// body.
func do(t testing.TB, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	return doWith(t, http.DefaultClient, req)
}

// doWith is do with hc.
func doWith(t testing.TB, hc *http.Client, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// accessToken reads access_token from a token response.
func accessToken(t testing.TB, body []byte) string {
	t.Helper()
	var v struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.AccessToken == "" {
		t.Fatalf("no access_token in %s (%v)", body, err)
	}
	return v.AccessToken
}

// introspect introspects tok as the demo resource server and returns the
// decoded answer and its raw body.
func (ts *testServer) introspect(t testing.TB, tok string) (map[string]any, string) {
	t.Helper()
	rs := ts.Demo.ResourceServer
	code, h, body := post(t, ts.Public+"/oauth2/introspect", rs.ClientID, rs.ClientSecret, url.Values{"token": {tok}})
	if code != http.StatusOK {
		t.Fatalf("introspect: status %d: %s", code, body)
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("introspect: Cache-Control = %q, want no-store", cc)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("introspect: %v: %s", err, body)
	}
	return m, strings.TrimSpace(string(body))
}

func (ts *testServer) requireInactive(t testing.TB, tok string) {
	t.Helper()
	if _, raw := ts.introspect(t, tok); raw != `{"active":false}` {
		t.Fatalf("introspect = %s, want exactly {\"active\":false}", raw)
	}
}

func (ts *testServer) jwks(t testing.TB) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(ts.Public + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("JWKS Cache-Control = %q, want a max-age", cc)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}

type atClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// verify checks tok with go-jose against the served JWKS as a resource
// server would, and returns its claims.
func (ts *testServer) verify(t testing.TB, tok string, alg jose.SignatureAlgorithm) atClaims {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("parse access token: %v", err)
	}
	h := parsed.Headers[0]
	if typ := h.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
		t.Errorf("typ = %v, want at+jwt", typ)
	}
	set := ts.jwks(t)
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("JWKS has %d keys with kid %q, want 1", len(keys), h.KeyID)
	}
	var c atClaims
	if err := parsed.Claims(keys[0].Key, &c); err != nil {
		t.Fatalf("verify access token against the JWKS: %v", err)
	}
	return c
}

func TestClientCredentialsEndToEnd(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		ctx := context.Background()
		tok, err := ts.ccConfig(ts.Demo.Service, "identity.verify").Token(ctx)
		if err != nil {
			t.Fatalf("client credentials: %v", err)
		}
		// As in introspection answers: one spelling (fosite writes "bearer").
		if tok.TokenType != "Bearer" {
			t.Errorf("token_type = %q, want Bearer", tok.TokenType)
		}
		if got := tok.Extra("scope"); got != "identity.verify" {
			t.Errorf("scope in token response = %v, want identity.verify", got)
		}
		start := time.Now()
		c := ts.verify(t, tok.AccessToken, jose.ES256)
		err = c.ValidateWithLeeway(jwt.Expected{Issuer: ts.Public, AnyAudience: jwt.Audience{"idv-api"}, Time: start}, 0)
		if err != nil {
			t.Errorf("claims: %v", err)
		}
		if c.ClientID != "demo-service" || c.Subject != "demo-service" || c.Scope != "identity.verify" || c.ID == "" {
			t.Errorf("claims = client_id %q sub %q scope %q jti %q", c.ClientID, c.Subject, c.Scope, c.ID)
		}
		if life := c.Expiry.Time().Sub(c.IssuedAt.Time()); life != 5*time.Minute {
			t.Errorf("lifetime = %s, want 5m", life)
		}
		if len(c.Audience) != 1 || c.Audience[0] != "idv-api" {
			t.Errorf("aud = %v, want [idv-api] (the default audience)", c.Audience)
		}

		m, _ := ts.introspect(t, tok.AccessToken)
		if m["active"] != true || m["scope"] != "identity.verify" || m["client_id"] != "demo-service" || m["sub"] != "demo-service" ||
			m["exp"] != float64(c.Expiry.Time().Unix()) || m["jti"] != c.ID || m["iss"] != ts.Public {
			t.Errorf("introspection = %v", m)
		}

		code, h, body := post(t, ts.Public+"/oauth2/revoke", "demo-service", ts.Demo.Service.ClientSecret, url.Values{"token": {tok.AccessToken}})
		if code != http.StatusOK || h.Get("Cache-Control") != "no-store" {
			t.Fatalf("revoke: status %d cache %q: %s", code, h.Get("Cache-Control"), body)
		}
		ts.requireInactive(t, tok.AccessToken)
	})
}

func TestTokenResponseHeadersAndPostAuth(t *testing.T) {
	ts := startServer(t, authz.Config{})
	c, err := ts.Srv.CreateClient(context.Background(), adminapi.ClientJSON{
		ClientName: "post client", Scope: "identity.read_status", TokenEndpointAuthMethod: "client_secret_post",
		Audience: []string{"idv-api", "billing"},
	})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}
	code, h, body := post(t, ts.Public+"/oauth2/token", "", "", form)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	if h.Get("Cache-Control") != "no-store" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Errorf("headers Cache-Control %q Content-Type %q", h.Get("Cache-Control"), h.Get("Content-Type"))
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	_ = json.Unmarshal(body, &tr)
	cl := ts.verify(t, tr.AccessToken, jose.ES256)
	if strings.Join(cl.Audience, " ") != "idv-api billing" {
		t.Errorf("aud = %v, want every registered audience", cl.Audience)
	}
	if tr.Scope != "" || cl.Scope != "" {
		t.Errorf("no scope requested, got scope %q / claim %q", tr.Scope, cl.Scope)
	}
	// Naming one registered audience gives only that one, by audience or
	// by RFC 8707 resource.
	for _, param := range []string{"audience", "resource"} {
		form.Set(param, "billing")
		code, _, body = post(t, ts.Public+"/oauth2/token", "", "", form)
		form.Del(param)
		if code != http.StatusOK {
			t.Fatalf("%s=billing: status %d: %s", param, code, body)
		}
		_ = json.Unmarshal(body, &tr)
		if cl := ts.verify(t, tr.AccessToken, jose.ES256); strings.Join(cl.Audience, " ") != "billing" {
			t.Errorf("%s=billing: aud = %v, want [billing]", param, cl.Audience)
		}
	}
}

func TestClientTokenLifetimeAndRS256(t *testing.T) {
	ts := startServer(t, authz.Config{AccessTokenAlg: "RS256", MaxAccessTokenTTL: 30 * time.Minute})
	c, err := ts.Srv.CreateClient(context.Background(), adminapi.ClientJSON{Scope: "identity.verify", AccessTokenTTL: 60})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.ccConfig(c, "identity.verify").Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cl := ts.verify(t, tok.AccessToken, jose.RS256)
	if life := cl.Expiry.Time().Sub(cl.IssuedAt.Time()); life != time.Minute {
		t.Errorf("lifetime = %s, want the client's 60s", life)
	}
	if m, _ := ts.introspect(t, tok.AccessToken); m["active"] != true {
		t.Errorf("RS256 token introspects %v", m)
	}
	// A ttl above the server's maximum is refused at registration.
	if _, err := ts.Srv.CreateClient(context.Background(), adminapi.ClientJSON{AccessTokenTTL: 3600}); err == nil {
		t.Error("CreateClient with access_token_ttl above the maximum succeeded")
	}
}

// oauthErr decodes an RFC 6749 error body.
func oauthErr(t testing.TB, body []byte) (code, desc string) {
	t.Helper()
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %q", err, body)
	}
	return e.Error, e.Description
}

func TestTokenEndpointRefusals(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		svc := ts.Demo.Service
		ctx := context.Background()
		noGrant, err := ts.Srv.CreateClient(ctx, adminapi.ClientJSON{ClientName: "resource server", GrantTypes: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		verifyOnly, err := ts.Srv.CreateClient(ctx, adminapi.ClientJSON{Scope: "identity.verify", Audience: []string{"idv-api"}})
		if err != nil {
			t.Fatal(err)
		}
		cc := func(extra string) string { return "grant_type=client_credentials" + extra }
		tests := []struct {
			name        string
			id, secret  string
			contentType string
			method      string
			path        string
			body        string
			wantStatus  int
			wantError   string
		}{
			{name: "wrong secret", id: svc.ClientID, secret: "wrong", body: cc(""), wantStatus: 401, wantError: "invalid_client"},
			{name: "unknown client", id: "nobody", secret: "x", body: cc(""), wantStatus: 401, wantError: "invalid_client"},
			{name: "no credentials", body: cc(""), wantStatus: 401, wantError: "invalid_client"},
			{name: "disallowed scope", id: verifyOnly.ClientID, secret: verifyOnly.ClientSecret, body: cc("&scope=identity.read_status"), wantStatus: 400, wantError: "invalid_scope"},
			{name: "unknown scope", id: svc.ClientID, secret: svc.ClientSecret, body: cc("&scope=admin"), wantStatus: 400, wantError: "invalid_scope"},
			{name: "grant not registered", id: noGrant.ClientID, secret: noGrant.ClientSecret, body: cc(""), wantStatus: 400, wantError: "unauthorized_client"},
			{name: "unsupported grant", id: svc.ClientID, secret: svc.ClientSecret, body: "grant_type=password&username=a&password=b", wantStatus: 400, wantError: "unsupported_grant_type"},
			{name: "missing grant", id: svc.ClientID, secret: svc.ClientSecret, body: "scope=identity.verify", wantStatus: 400, wantError: "invalid_request"},
			{name: "audience not registered", id: verifyOnly.ClientID, secret: verifyOnly.ClientSecret, body: cc("&audience=other-api"), wantStatus: 400, wantError: "invalid_target"},
			{name: "resource not registered", id: verifyOnly.ClientID, secret: verifyOnly.ClientSecret, body: cc("&resource=https%3A%2F%2Fevil.example"), wantStatus: 400, wantError: "invalid_target"},
			{name: "audience and resource", id: verifyOnly.ClientID, secret: verifyOnly.ClientSecret, body: cc("&audience=idv-api&resource=idv-api"), wantStatus: 400, wantError: "invalid_request"},
			{name: "wrong auth method", id: "", body: cc("&client_id=" + svc.ClientID + "&client_secret=" + svc.ClientSecret), wantStatus: 401, wantError: "invalid_client"},
			{name: "basic and body secret", id: svc.ClientID, secret: svc.ClientSecret, body: cc("&client_secret=" + svc.ClientSecret), wantStatus: 400, wantError: "invalid_request"},
			{name: "duplicate parameter", id: svc.ClientID, secret: svc.ClientSecret, body: cc("&grant_type=client_credentials"), wantStatus: 400, wantError: "invalid_request"},
			{name: "duplicate scope", id: svc.ClientID, secret: svc.ClientSecret, body: cc("&scope=identity.verify&scope=identity.read_status"), wantStatus: 400, wantError: "invalid_request"},
			{name: "1 MB body", id: svc.ClientID, secret: svc.ClientSecret, body: cc("&pad=" + strings.Repeat("a", 1<<20)), wantStatus: 413, wantError: "invalid_request"},
			{name: "JSON content type", id: svc.ClientID, secret: svc.ClientSecret, contentType: "application/json", body: `{"grant_type":"client_credentials"}`, wantStatus: 400, wantError: "invalid_request"},
			{name: "multipart content type", id: svc.ClientID, secret: svc.ClientSecret, contentType: "multipart/form-data; boundary=x", body: "--x--", wantStatus: 400, wantError: "invalid_request"},
			{name: "no content type", id: svc.ClientID, secret: svc.ClientSecret, contentType: "-", body: cc(""), wantStatus: 400, wantError: "invalid_request"},
			{name: "GET", id: svc.ClientID, secret: svc.ClientSecret, method: http.MethodGet, wantStatus: 405, wantError: "invalid_request"},
			{name: "query parameters", id: svc.ClientID, secret: svc.ClientSecret, path: "/oauth2/token?grant_type=client_credentials", body: cc(""), wantStatus: 400, wantError: "invalid_request"},
			{name: "bad form encoding", id: svc.ClientID, secret: svc.ClientSecret, body: "grant_type=%zz", wantStatus: 400, wantError: "invalid_request"},
			{name: "NUL in client id", id: "demo\x00service", secret: "x", body: cc(""), wantStatus: 401, wantError: "invalid_client"},
			{name: "invalid UTF-8 scope", id: svc.ClientID, secret: svc.ClientSecret, body: cc("&scope=%ff%fe"), wantStatus: 400, wantError: "invalid_scope"},
			{name: "long client id", id: strings.Repeat("a", 20000), secret: "x", body: cc(""), wantStatus: 401, wantError: "invalid_client"},
		}
		tokensBefore := ts.countTokens(t)
		var unknownDesc, wrongDesc string
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				method, path, ct := tt.method, tt.path, tt.contentType
				if method == "" {
					method = http.MethodPost
				}
				if path == "" {
					path = "/oauth2/token"
				}
				req, _ := http.NewRequest(method, ts.Public+path, strings.NewReader(tt.body))
				switch ct {
				case "":
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				case "-":
				default:
					req.Header.Set("Content-Type", ct)
				}
				if tt.id != "" {
					req.SetBasicAuth(url.QueryEscape(tt.id), url.QueryEscape(tt.secret))
				}
				code, h, body := do(t, req)
				if code != tt.wantStatus {
					t.Fatalf("status = %d, want %d: %s", code, tt.wantStatus, body)
				}
				gotErr, desc := oauthErr(t, body)
				if gotErr != tt.wantError {
					t.Errorf("error = %q, want %q (%s)", gotErr, tt.wantError, desc)
				}
				if h.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", h.Get("Cache-Control"))
				}
				if strings.Contains(string(body), "access_token") {
					t.Errorf("refusal contains an access token: %s", body)
				}
				switch tt.name {
				case "unknown client":
					unknownDesc = desc
				case "wrong secret":
					wrongDesc = desc
				}
			})
		}
		if unknownDesc != wrongDesc {
			t.Errorf("unknown client and wrong secret answer differently: %q vs %q", unknownDesc, wrongDesc)
		}
		if tokensAfter := ts.countTokens(t); tokensAfter != tokensBefore {
			t.Errorf("refused requests stored %d tokens", tokensAfter-tokensBefore)
		}
	})
}

func TestIntrospection(t *testing.T) {
	backends(t, testIntrospection)
}

func testIntrospection(t *testing.T, cfg authz.Config) {
	clock := testutil.NewClock(time.Now())
	cfg.Now = clock.Now
	ts := startServer(t, cfg)
	ctx := context.Background()
	tok, err := ts.ccConfig(ts.Demo.Service, "identity.verify", "identity.read_status").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := tok.AccessToken
	parts := strings.Split(at, ".")
	other := startServer(t, authz.Config{})
	foreign, err := other.ccConfig(other.Demo.Service, "identity.verify").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)/2] == 'A' {
			b[len(b)/2] = 'B'
		} else {
			b[len(b)/2] = 'A'
		}
		return string(b)
	}
	rs := ts.Demo.ResourceServer
	t.Run("inactive answers", func(t *testing.T) {
		for name, token := range map[string]string{
			"garbage":            "garbage",
			"empty":              "",
			"tampered payload":   parts[0] + "." + flip(parts[1]) + "." + parts[2],
			"tampered signature": parts[0] + "." + parts[1] + "." + flip(parts[2]),
			"alg none":           "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + ".",
			"other server's key": foreign.AccessToken,
			"signature only":     parts[2],
			"NUL bytes":          at[:20] + "\x00" + at[21:],
			"invalid UTF-8":      "\xff\xfe" + at,
			"huge":               strings.Repeat(at, 20),
		} {
			t.Run(name, func(t *testing.T) { ts.requireInactive(t, token) })
		}
	})
	t.Run("scope parameter", func(t *testing.T) {
		for sc, want := range map[string]bool{"identity.verify": true, "identity.verify identity.read_status": true, "other": false} {
			code, _, body := post(t, ts.Public+"/oauth2/introspect", rs.ClientID, rs.ClientSecret, url.Values{"token": {at}, "scope": {sc}})
			if code != 200 || strings.Contains(string(body), `"active":true`) != want {
				t.Errorf("scope %q: %d %s, want active=%v", sc, code, body, want)
			}
		}
	})
	t.Run("caller must be an introspecting client", func(t *testing.T) {
		svc := ts.Demo.Service
		for name, creds := range map[string][2]string{
			"no credentials":           {"", ""},
			"non-introspecting client": {svc.ClientID, svc.ClientSecret},
			"wrong secret":             {rs.ClientID, "nope"},
			"unknown client":           {"nobody", "nope"},
		} {
			code, _, body := post(t, ts.Public+"/oauth2/introspect", creds[0], creds[1], url.Values{"token": {at}})
			if code != http.StatusUnauthorized || strings.Contains(string(body), "active") {
				t.Errorf("%s: status %d body %s, want 401 without an answer", name, code, body)
			}
		}
		// A bearer token is not a way in.
		req, _ := http.NewRequest(http.MethodPost, ts.Public+"/oauth2/introspect", strings.NewReader("token="+url.QueryEscape(at)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+at)
		if code, _, body := do(t, req); code != http.StatusUnauthorized {
			t.Errorf("bearer caller: status %d %s, want 401", code, body)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for name, form := range map[string]url.Values{
			"missing token":   {"token_type_hint": {"access_token"}},
			"duplicate token": {"token": {at, at}},
			"1 MB body":       {"token": {at}, "pad": {strings.Repeat("x", 1<<20)}},
		} {
			code, _, body := post(t, ts.Public+"/oauth2/introspect", rs.ClientID, rs.ClientSecret, form)
			if code/100 != 4 || strings.Contains(string(body), "active") {
				t.Errorf("%s: status %d body %s, want a 4xx error", name, code, body)
			}
			oauthErr(t, body)
		}
	})
	t.Run("expired", func(t *testing.T) {
		clock.Advance(5*time.Minute + time.Second)
		ts.requireInactive(t, at)
	})
}

func TestRevocation(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		ctx := context.Background()
		a, err := ts.ccConfig(ts.Demo.Service, "identity.verify").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		other, err := ts.Srv.CreateClient(ctx, adminapi.ClientJSON{Scope: "identity.verify"})
		if err != nil {
			t.Fatal(err)
		}
		// Another client's revocation is answered 200 (RFC 7009) and changes nothing.
		code, _, body := post(t, ts.Public+"/oauth2/revoke", other.ClientID, other.ClientSecret, url.Values{"token": {a.AccessToken}})
		if code != http.StatusOK {
			t.Fatalf("foreign revoke: %d %s", code, body)
		}
		if m, _ := ts.introspect(t, a.AccessToken); m["active"] != true {
			t.Fatalf("another client revoked the token: %v", m)
		}
		for name, tc := range map[string]struct {
			id, sec string
			form    url.Values
			want    int
		}{
			"no credentials": {"", "", url.Values{"token": {a.AccessToken}}, 401},
			"wrong secret":   {ts.Demo.Service.ClientID, "x", url.Values{"token": {a.AccessToken}}, 401},
			"missing token":  {ts.Demo.Service.ClientID, ts.Demo.Service.ClientSecret, url.Values{"token_type_hint": {"access_token"}}, 400},
			"duplicate":      {ts.Demo.Service.ClientID, ts.Demo.Service.ClientSecret, url.Values{"token": {a.AccessToken, "x"}}, 400},
		} {
			code, _, body := post(t, ts.Public+"/oauth2/revoke", tc.id, tc.sec, tc.form)
			if code != tc.want {
				t.Errorf("%s: status %d %s, want %d", name, code, body, tc.want)
			}
			oauthErr(t, body)
		}
		if m, _ := ts.introspect(t, a.AccessToken); m["active"] != true {
			t.Fatalf("a refused revocation revoked the token: %v", m)
		}
		// Unknown and garbage tokens: 200, nothing happens.
		for _, tok := range []string{"garbage", "a.b.c"} {
			if code, _, body := post(t, ts.Public+"/oauth2/revoke", ts.Demo.Service.ClientID, ts.Demo.Service.ClientSecret, url.Values{"token": {tok}}); code != 200 {
				t.Errorf("revoke %q: %d %s, want 200", tok, code, body)
			}
		}
		// The owner revokes: inactive.
		if code, _, body := post(t, ts.Public+"/oauth2/revoke", ts.Demo.Service.ClientID, ts.Demo.Service.ClientSecret, url.Values{"token": {a.AccessToken}, "token_type_hint": {"access_token"}}); code != 200 {
			t.Fatalf("revoke: %d %s", code, body)
		}
		ts.requireInactive(t, a.AccessToken)
	})
}

func TestDeletedClientTokensInactive(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		ctx := context.Background()
		c, err := ts.Srv.CreateClient(ctx, adminapi.ClientJSON{Scope: "identity.verify"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.ccConfig(c, "identity.verify").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := ts.introspect(t, tok.AccessToken); m["active"] != true {
			t.Fatalf("fresh token inactive: %v", m)
		}
		if code, body := ts.adminDo(t, http.MethodDelete, "/admin/clients/"+c.ClientID, "", ""); code != http.StatusNoContent {
			t.Fatalf("delete: %d %s", code, body)
		}
		ts.requireInactive(t, tok.AccessToken)
		if _, err := ts.ccConfig(c, "identity.verify").Token(ctx); err == nil {
			t.Fatal("a deleted client got a token")
		}
	})
}

func TestDiscoveryAndHealth(t *testing.T) {
	ts := startServer(t, authz.Config{})
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		resp, err := http.Get(ts.Public + p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", p, resp.StatusCode, err)
		}
		if m["issuer"] != ts.Public || m["token_endpoint"] != ts.Public+"/oauth2/token" ||
			m["introspection_endpoint"] != ts.Public+"/oauth2/introspect" || m["revocation_endpoint"] != ts.Public+"/oauth2/revoke" ||
			m["jwks_uri"] != ts.Public+"/.well-known/jwks.json" {
			t.Errorf("%s = %v", p, m)
		}
		if g, _ := json.Marshal(m["grant_types_supported"]); string(g) != `["client_credentials","authorization_code","refresh_token"]` {
			t.Errorf("grant_types_supported = %s, want only what works", g)
		}
		for k, want := range map[string]string{
			"response_types_supported":                         `["code"]`,
			"response_modes_supported":                         `["query"]`,
			"code_challenge_methods_supported":                 `["S256"]`,
			"authorization_response_iss_parameter_supported":   `true`,
			"request_parameter_supported":                      `false`,
			"id_token_signing_alg_values_supported":            `["RS256","ES256","PS256"]`,
			"token_endpoint_auth_methods_supported":            `["client_secret_basic","client_secret_post","private_key_jwt","none"]`,
			"token_endpoint_auth_signing_alg_values_supported": `["ES256","RS256","PS256","EdDSA"]`,
		} {
			if g, _ := json.Marshal(m[k]); string(g) != want {
				t.Errorf("%s = %s, want %s", k, g, want)
			}
		}
		// Every advertised endpoint exists.
		for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "introspection_endpoint", "revocation_endpoint", "jwks_uri",
			"pushed_authorization_request_endpoint"} {
			u, _ := m[k].(string)
			if !strings.HasPrefix(u, ts.Public+"/") {
				t.Errorf("%s = %q, not on this server", k, u)
				continue
			}
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				t.Errorf("%s %s answers 404", k, u)
			}
		}
	}
	for _, p := range []string{"/health/live", "/health/ready"} {
		resp, err := http.Get(ts.Public + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s = %d", p, resp.StatusCode)
		}
	}
	// ETag round trip on the JWKS.
	resp, err := http.Get(ts.Public + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, ts.Public+"/.well-known/jwks.json", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	if code, _, _ := do(t, req); code != http.StatusNotModified || resp.Header.Get("ETag") == "" {
		t.Errorf("If-None-Match: %d (etag %q), want 304", code, resp.Header.Get("ETag"))
	}
	if code, _, body := do(t, mustReq(t, http.MethodGet, ts.Public+"/nope")); code != 404 {
		t.Errorf("unknown path: %d %s", code, body)
	}
}

func mustReq(t testing.TB, method, u string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// failingStore fails Ping, as a store whose database is down.
type failingStore struct{ *memory.Store }

func (failingStore) Ping(context.Context) error { return errors.New("database down") }

func TestReadyReportsStoreFailure(t *testing.T) {
	ts := startServer(t, authz.Config{Store: failingStore{memory.New()}})
	code, _, body := do(t, mustReq(t, http.MethodGet, ts.Public+"/health/ready"))
	if code != http.StatusServiceUnavailable || strings.Contains(string(body), "database down") {
		t.Errorf("ready = %d %s, want 503 without detail", code, body)
	}
	if code, _, _ := do(t, mustReq(t, http.MethodGet, ts.Public+"/health/live")); code != 200 {
		t.Errorf("live = %d, want 200", code)
	}
}

func TestGracefulShutdownFinishesInFlightRequest(t *testing.T) {
	ts := startServer(t, authz.Config{})
	svc := ts.Demo.Service
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.Public, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "grant_type=client_credentials&scope=identity.verify"
	req, _ := http.NewRequest(http.MethodPost, ts.Public+"/oauth2/token", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(svc.ClientID, svc.ClientSecret)
	// Send the headers and half the body, so the request is in flight.
	pr, pw := io.Pipe()
	req.Body = pr
	req.ContentLength = int64(len(body))
	go func() { _ = req.Write(conn) }()
	if _, err := pw.Write([]byte(body[:10])); err != nil {
		t.Fatal(err)
	}
	// Wait until the server has the request (a health call on another
	// connection proves it is still serving), then stop it.
	if code, _, _ := do(t, mustReq(t, http.MethodGet, ts.Public+"/health/live")); code != 200 {
		t.Fatal("server not serving")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- ts.Stop() }()
	// New connections are refused once shutdown has begun.
	testutil.Eventually(t, 10*time.Second, "the listener refusing connections after shutdown began", func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(ts.Public, "http://"), time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) before the in-flight request finished", err)
	default:
	}
	if _, err := pw.Write([]byte(body[10:])); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "access_token") {
		t.Fatalf("in-flight request: %d %s", resp.StatusCode, b)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestJanitorDeletesExpiredTokens(t *testing.T) {
	backends(t, testJanitor)
}

func testJanitor(t *testing.T, cfg authz.Config) {
	clock := testutil.NewClock(time.Now())
	cfg.Now, cfg.JanitorBatch = clock.Now, 2
	ts := startServer(t, cfg)
	for i := 0; i < 5; i++ {
		if _, err := ts.ccConfig(ts.Demo.Service, "identity.verify").Token(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := ts.Srv.Janitor(context.Background()); err != nil || n != 0 {
		t.Fatalf("Janitor before expiry = %d, %v, want 0", n, err)
	}
	clock.Advance(6 * time.Minute)
	if n, err := ts.Srv.Janitor(context.Background()); err != nil || n != 5 {
		t.Fatalf("Janitor after expiry = %d, %v, want 5", n, err)
	}
	if tokens := ts.countTokens(t); tokens != 0 {
		t.Fatalf("%d tokens left", tokens)
	}
}
