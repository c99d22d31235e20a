package authz_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/settings"
)

// cheapArgon2 keeps password hashing fast in tests; production parameters
// are the defaults.
var cheapArgon2 = settings.Argon2{Time: 1, MemoryKiB: 64, Threads: 1}

func codeFlowConfig(cfg authz.Config) authz.Config {
	cfg.Argon2 = cheapArgon2
	return cfg
}

// idClaims are the ID token claims the tests check.
type idClaims struct {
	jwt.Claims
	Nonce    string `json:"nonce"`
	AuthTime int64  `json:"auth_time"`
	AZP      string `json:"azp"`
	AtHash   string `json:"at_hash"`
}

// verifyIDToken checks an ID token with go-jose against the published
// JWKS: signature, alg, iss, aud, exp.
func (ts *testServer) verifyIDToken(t testing.TB, raw, clientID string, alg jose.SignatureAlgorithm) idClaims {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("ID token does not parse as %s: %v", alg, err)
	}
	set := ts.jwks(t)
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("ID token kid %q is not published once in the JWKS", tok.Headers[0].KeyID)
	}
	var c idClaims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		t.Fatalf("ID token signature: %v", err)
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: ts.Public, AnyAudience: jwt.Audience{clientID}, Time: time.Now()}, 0); err != nil {
		t.Fatalf("ID token claims: %v (%+v)", err, c)
	}
	if typ, _ := tok.Headers[0].ExtraHeaders["typ"].(string); typ != "JWT" {
		t.Errorf("ID token typ = %q, want JWT", typ)
	}
	return c
}

// authURL is the authorization URL of c with PKCE and a nonce.
func authURL(c webClient, state, verifier, nonce string, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce)}, extra...)
	return c.cfg.AuthCodeURL(state, opts...)
}

// startCodeFlow starts a server for the code flow (codeFlowConfig) with a
// person, "ada", a web client with the default metadata, and a browser.
func startCodeFlow(t testing.TB, cfg authz.Config) (*testServer, adminapi.UserJSON, webClient, *browser) {
	t.Helper()
	ts := startServer(t, codeFlowConfig(cfg))
	user := ts.createUser(t, "ada")
	return ts, user, ts.createWebClient(t, adminapi.ClientJSON{}), newBrowser(t)
}

func TestAuthorizationCodeFlow(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, user, c, b := startCodeFlow(t, cfg)
		state, verifier, nonce := randomString(24), oauth2.GenerateVerifier(), randomString(24)

		// 1. The login page, with the security headers every page sends.
		p := b.follow(ts.Public, b.get(authURL(c, state, verifier, nonce)))
		if p.status != 200 || !p.isLogin() {
			t.Fatalf("authorize without a session = %d, want the login page:\n%s", p.status, p.body)
		}
		for h, want := range map[string]string{
			"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
		} {
			if got := p.header.Get(h); got != want {
				t.Errorf("login page %s = %q, want %q", h, got, want)
			}
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("login page CSP = %q", csp)
		}
		if !strings.Contains(p.body, "Acme Onboarding") {
			t.Error("login page does not name the client")
		}

		// 2. A wrong password shows the page again, with a message.
		beforeLogin := time.Now().Truncate(time.Second)
		login := p.onlyForm(t)
		p = b.submit(ts.Public, login, url.Values{"username": {"ada"}, "password": {"wrong password here"}})
		if !p.isLogin() || !strings.Contains(p.body, "not correct") {
			t.Fatalf("wrong password = %d, want the login page with an error:\n%s", p.status, p.body)
		}

		// 3. The right one leads to the consent page, which lists each
		// scope's description.
		p = b.submit(ts.Public, p.onlyForm(t), url.Values{"username": {"ada"}, "password": {testPassword}})
		if !p.isConsent() {
			t.Fatalf("after login = %d, want the consent page:\n%s", p.status, p.body)
		}
		for _, want := range []string{"Acme Onboarding", "Start identity verifications", "See your email address", "Keep access while you are not signed in"} {
			if !strings.Contains(p.body, want) {
				t.Errorf("consent page lacks %q", want)
			}
		}

		// 4. Allow: back to the client with code, state and iss.
		p = b.submit(ts.Public, p.onlyForm(t), url.Values{"decision": {"allow"}})
		res := redirectedToClient(t, p, redirectURI)
		if res.query.Get("state") != state || res.query.Get("iss") != ts.Public || res.query.Get("code") == "" {
			t.Fatalf("redirect = %s, want code, state %q and iss %q", res.loc, state, ts.Public)
		}

		// 5. The code, redeemed with x/oauth2 and the PKCE verifier.
		tok, err := c.cfg.Exchange(ctxb(), res.query.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token although offline_access was granted")
		}
		rawID, _ := tok.Extra("id_token").(string)
		idc := ts.verifyIDToken(t, rawID, c.ClientID, jose.RS256)
		if idc.Subject != user.ID || idc.Nonce != nonce || idc.AZP != c.ClientID || idc.AtHash == "" {
			t.Errorf("ID token claims = %+v, want sub %s, nonce %s", idc, user.ID, nonce)
		}
		// auth_time is the moment of the login: between the page and the
		// exchange.
		if at := time.Unix(idc.AuthTime, 0); at.Before(beforeLogin) || at.After(time.Now()) {
			t.Errorf("auth_time = %v, want the login time (after %v, not in the future)", at, beforeLogin)
		}
		if strings.Contains(rawID, "ada@example.com") {
			t.Error("personal data in the ID token")
		}
		at := ts.verify(t, tok.AccessToken, jose.ES256)
		if at.Subject != user.ID || at.ClientID != c.ClientID {
			t.Errorf("access token sub/client_id = %s/%s", at.Subject, at.ClientID)
		}
		if m, _ := ts.introspect(t, tok.AccessToken); m["active"] != true || m["sub"] != user.ID {
			t.Errorf("introspection = %v, want active for %s", m, user.ID)
		}

		// 6. userinfo, GET and POST.
		for _, method := range []string{"GET", "POST"} {
			req, _ := http.NewRequest(method, ts.Public+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			code, _, body := do(t, req)
			var ui map[string]any
			if err := json.Unmarshal(body, &ui); err != nil || code != 200 {
				t.Fatalf("userinfo %s = %d %s", method, code, body)
			}
			if ui["sub"] != user.ID || ui["email"] != "ada@example.com" || ui["name"] != "Ada ada" || ui["preferred_username"] != "ada" {
				t.Errorf("userinfo %s = %v", method, ui)
			}
		}
		if reads := ts.auditAll(t, url.Values{"type": {adminapi.EventUserinfoRead}}); len(reads) != 2 || reads[0].Subject != user.ID || reads[0].ClientID != c.ClientID {
			t.Errorf("userinfo.read entries = %+v, want two for %s by %s", reads, user.ID, c.ClientID)
		}

		// 7. A second sign-in: the session and the consent are remembered,
		// so the browser goes straight back with a code.
		p = b.get(authURL(c, "second-state-0001", oauth2.GenerateVerifier(), "nonce-0002-abcdef"))
		res = redirectedToClient(t, p, redirectURI)
		if res.query.Get("code") == "" || res.query.Get("iss") != ts.Public {
			t.Fatalf("second authorize = %s, want a code at once", res.loc)
		}
	})
}

func TestUserinfoRefusals(t *testing.T) {
	ts := startServer(t, codeFlowConfig(authz.Config{}))
	ts.createUser(t, "bea")
	c := ts.createWebClient(t, adminapi.ClientJSON{Scope: "openid identity.verify"})
	b := newBrowser(t)
	verifier := oauth2.GenerateVerifier()
	res := redirectedToClient(t, b.signIn(ts, authURL(c, "state-0001-abcd", verifier, "nonce-0001-abcd"), "bea", "allow"), redirectURI)
	tok, err := c.cfg.Exchange(ctxb(), res.query.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	// Granted openid only: sub, and no profile or email claims.
	req, _ := http.NewRequest("GET", ts.Public+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	code, _, body := do(t, req)
	if code != 200 || strings.Contains(string(body), "email") || strings.Contains(string(body), "name") {
		t.Errorf("userinfo with openid only = %d %s, want sub alone", code, body)
	}
	cc, err := ts.ccConfig(ts.Demo.Service, "identity.verify").Token(ctxb())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, auth string
		want       int
		wantErr    string
	}{
		{"no token", "", 401, "invalid_token"},
		{"garbage", "Bearer nope", 401, "invalid_token"},
		{"basic auth", "Basic YTpi", 400, "invalid_request"},
		{"client credentials token", "Bearer " + cc.AccessToken, 403, "insufficient_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.Public+"/userinfo", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			code, h, body := do(t, req)
			if code != tt.want {
				t.Fatalf("status = %d, want %d: %s", code, tt.want, body)
			}
			if got, _ := oauthErr(t, body); got != tt.wantErr {
				t.Errorf("error = %q, want %q", got, tt.wantErr)
			}
			if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", h.Get("WWW-Authenticate"))
			}
		})
	}
}

// redeem posts a code redemption by hand and returns status and body.
func (ts *testServer) redeem(t testing.TB, c webClient, code, verifier string) (int, []byte) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	id, sec := c.ClientID, c.ClientSecret
	if c.TokenEndpointAuthMethod == "none" {
		form.Set("client_id", c.ClientID)
		id = ""
	}
	st, _, body := post(t, ts.Public+"/oauth2/token", id, sec, form)
	return st, body
}

func (ts *testServer) redeemOK(t testing.TB, c webClient, code, verifier string) tokenAnswer {
	t.Helper()
	st, body := ts.redeem(t, c, code, verifier)
	return decodeTokens(t, st, body)
}

func (ts *testServer) refresh(t testing.TB, c webClient, rt string) (int, []byte) {
	t.Helper()
	st, _, body := post(t, ts.Public+"/oauth2/token", c.ClientID, c.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	return st, body
}

type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

func decodeTokens(t testing.TB, st int, body []byte) tokenAnswer {
	t.Helper()
	var a tokenAnswer
	if err := json.Unmarshal(body, &a); err != nil || st != 200 || a.AccessToken == "" {
		t.Fatalf("token answer = %d %s", st, body)
	}
	return a
}

// newCode runs the flow for a signed-in browser and returns a fresh code.
func newCode(t testing.TB, ts *testServer, b *browser, c webClient, verifier string) string {
	t.Helper()
	p := b.signIn(ts, authURL(c, randomString(16), verifier, randomString(16)), "ada", "allow")
	res := redirectedToClient(t, p, c.RedirectURIs[0])
	code := res.query.Get("code")
	if code == "" {
		t.Fatalf("no code in %s", res.loc)
	}
	return code
}

func TestRefreshRotationAndReuse(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, b := startCodeFlow(t, cfg)
		v := oauth2.GenerateVerifier()
		first := ts.redeemOK(t, c, newCode(t, ts, b, c, v), v)

		// Rotation: every use gives a new refresh token; the old access
		// token stops working.
		st, body := ts.refresh(t, c, first.RefreshToken)
		second := decodeTokens(t, st, body)
		if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
			t.Fatal("refresh did not rotate the refresh token")
		}
		if second.IDToken == "" {
			t.Error("refresh with openid gave no ID token")
		}
		ts.requireInactive(t, first.AccessToken)
		if m, _ := ts.introspect(t, second.AccessToken); m["active"] != true {
			t.Fatalf("new access token = %v, want active", m)
		}
		st, body = ts.refresh(t, c, second.RefreshToken)
		third := decodeTokens(t, st, body)

		// Reuse of a rotated token fails and ends the whole chain.
		st, body = ts.refresh(t, c, first.RefreshToken)
		if code, _ := oauthErr(t, body); st != 400 || code != "invalid_grant" {
			t.Fatalf("reused refresh token = %d %s, want 400 invalid_grant", st, body)
		}
		ts.requireInactive(t, third.AccessToken)
		st, body = ts.refresh(t, c, third.RefreshToken)
		if st != 400 {
			t.Fatalf("newest refresh token after reuse = %d %s, want refused", st, body)
		}
		// Another client cannot use a refresh token either.
		other := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Other"})
		fresh := ts.redeemOK(t, c, newCode(t, ts, b, c, v), v)
		if st, body := ts.refresh(t, other, fresh.RefreshToken); st != 400 {
			t.Errorf("refresh by another client = %d %s, want refused", st, body)
		}
		// And the token has left its client: its grant ends (RFC 9700
		// section 4.14.2), so neither the thief nor the client can use it.
		ts.requireInactive(t, fresh.AccessToken)
		if st, body := ts.refresh(t, c, fresh.RefreshToken); st != 400 {
			t.Errorf("refresh token presented by another client, then by its own = %d %s, want refused", st, body)
		}
	})
}

func TestCodeSingleUseAndPKCE(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, b := startCodeFlow(t, cfg)
		v := oauth2.GenerateVerifier()

		// A second redemption fails and revokes what the first issued.
		code := newCode(t, ts, b, c, v)
		first := ts.redeemOK(t, c, code, v)
		st, body := ts.redeem(t, c, code, v)
		if e, _ := oauthErr(t, body); st != 400 || e != "invalid_grant" {
			t.Fatalf("second redemption = %d %s, want invalid_grant", st, body)
		}
		ts.requireInactive(t, first.AccessToken)
		if st, body := ts.refresh(t, c, first.RefreshToken); st != 400 {
			t.Errorf("refresh token of a reused code = %d %s, want refused", st, body)
		}

		// A wrong verifier fails, and uses the code up: leaving it out
		// afterwards fails (no downgrade), and so does the right one
		// (TestRefusedRedemptionUsesUpCode).
		code = newCode(t, ts, b, c, v)
		if st, body := ts.redeem(t, c, code, oauth2.GenerateVerifier()); st != 400 {
			t.Fatalf("wrong verifier = %d %s, want 400", st, body)
		}
		if st, body := ts.redeem(t, c, code, ""); st != 400 {
			t.Fatalf("missing verifier after a wrong one = %d %s, want 400", st, body)
		}

		// An unknown code, and a code with another redirect_uri.
		if st, body := ts.redeem(t, c, "not-a-code", v); st != 400 {
			t.Errorf("unknown code = %d %s", st, body)
		}
		code = newCode(t, ts, b, c, v)
		st, _, body = post(t, ts.Public+"/oauth2/token", c.ClientID, c.ClientSecret, url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v}, "redirect_uri": {"https://app.example/other"}})
		if st != 400 {
			t.Errorf("code with another redirect_uri = %d %s", st, body)
		}
	})
}

func TestPublicClientNeedsPKCE(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, codeFlowConfig(cfg))
		ts.createUser(t, "ada")
		c := ts.createWebClient(t, adminapi.ClientJSON{TokenEndpointAuthMethod: "none", RedirectURIs: []string{"http://127.0.0.1/cb"}})
		if c.ClientSecret != "" {
			t.Fatal("a public client got a secret")
		}
		b := newBrowser(t)
		// Without PKCE: an error back to the client, before any login.
		p := b.get(c.cfg.AuthCodeURL("state-nopkce-1"))
		res := redirectedToClient(t, p, "http://127.0.0.1/cb")
		if res.query.Get("error") != "invalid_request" || res.query.Get("state") != "state-nopkce-1" || res.query.Get("iss") != ts.Public {
			t.Fatalf("public client without PKCE = %s, want error=invalid_request with state and iss", res.loc)
		}
		// plain is refused too.
		p = b.get(c.cfg.AuthCodeURL("state-plain-01", oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)), oauth2.SetAuthURLParam("code_challenge_method", "plain")))
		if res := redirectedToClient(t, p, "http://127.0.0.1/cb"); res.query.Get("error") != "invalid_request" {
			t.Fatalf("plain PKCE = %s, want invalid_request", res.loc)
		}
		// With S256 it works; the loopback redirect may use any port
		// (RFC 8252), and the code is redeemed without a secret.
		v := oauth2.GenerateVerifier()
		c.cfg.RedirectURL = "http://127.0.0.1:49152/cb"
		c.RedirectURIs = []string{c.cfg.RedirectURL}
		p = b.signIn(ts, authURL(c, "state-s256-001", v, "nonce-s256-001"), "ada", "allow")
		code := redirectedToClient(t, p, "http://127.0.0.1:49152/cb").query.Get("code")
		tok := ts.redeemOK(t, c, code, v)
		if tok.IDToken == "" {
			t.Error("no ID token for the public client")
		}
		// A public client cannot get client credentials.
		st, _, body := post(t, ts.Public+"/oauth2/token", "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}})
		if st < 400 || st >= 500 {
			t.Errorf("client_credentials for a public client = %d %s", st, body)
		}
	})
}

func TestRedirectURIMustMatchExactly(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, codeFlowConfig(cfg))
		c := ts.createWebClient(t, adminapi.ClientJSON{RedirectURIs: []string{"https://app.example/callback", "http://127.0.0.1:8000/cb"}})
		b := newBrowser(t)
		for _, uri := range []string{
			"https://app.example/callback/",
			"https://app.example/callbackx",
			"https://app.example/callback?x=1",
			"https://app.example/callback#frag",
			"https://APP.example/callback",
			"https://app.example:443/callback",
			"http://app.example/callback",
			"https://evil.example/callback",
			"https://app.example.evil.example/callback",
			"http://127.0.0.1:8001/cb", // a confidential client gets no loopback port leeway
			"http://localhost:8000/cb",
		} {
			t.Run(uri, func(t *testing.T) {
				cfg := *c.cfg
				cfg.RedirectURL = uri
				p := b.get(cfg.AuthCodeURL("state-redirect-1", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
				if p.status != http.StatusBadRequest || p.header.Get("Location") != "" || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
					t.Fatalf("redirect_uri %q = %d Location %q, want a 400 error page and no redirect", uri, p.status, p.header.Get("Location"))
				}
			})
		}
		t.Run("unknown client", func(t *testing.T) {
			p := b.get(ts.Public + "/oauth2/authorize?response_type=code&client_id=nobody&redirect_uri=" + url.QueryEscape("https://evil.example/cb") + "&state=abcdefgh")
			if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
				t.Fatalf("unknown client = %d Location %q, want an error page", p.status, p.header.Get("Location"))
			}
		})
	})
}

func TestPromptNoneAndLogin(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, b := startCodeFlow(t, cfg)
		v := oauth2.GenerateVerifier()
		none := oauth2.SetAuthURLParam("prompt", "none")

		// No session: login_required, with state and iss, no page.
		res := redirectedToClient(t, b.get(authURL(c, "state-none-001", v, "nonce-none-01", none)), redirectURI)
		if res.query.Get("error") != "login_required" || res.query.Get("state") != "state-none-001" || res.query.Get("iss") != ts.Public {
			t.Fatalf("prompt=none without a session = %s", res.loc)
		}
		// Signed in, but no consent yet: consent_required.
		p := b.follow(ts.Public, b.get(authURL(c, "state-login-01", v, "nonce-login-1")))
		p = b.submit(ts.Public, p.onlyForm(t), url.Values{"username": {"ada"}, "password": {testPassword}})
		if !p.isConsent() {
			t.Fatalf("want the consent page, got %d", p.status)
		}
		res = redirectedToClient(t, b.get(authURL(c, "state-none-002", v, "nonce-none-02", none)), redirectURI)
		if res.query.Get("error") != "consent_required" {
			t.Fatalf("prompt=none without consent = %s", res.loc)
		}
		// Consent given: prompt=none now gets a code silently.
		redirectedToClient(t, b.submit(ts.Public, p.onlyForm(t), url.Values{"decision": {"allow"}}), redirectURI)
		res = redirectedToClient(t, b.get(authURL(c, "state-none-003", v, "nonce-none-03", none)), redirectURI)
		if res.query.Get("code") == "" {
			t.Fatalf("prompt=none with session and consent = %s, want a code", res.loc)
		}
		// prompt=login asks for the password again even with a session,
		// then goes straight back (consent is remembered).
		p = b.get(authURL(c, "state-login-02", v, "nonce-login-2", oauth2.SetAuthURLParam("prompt", "login")))
		if !p.isLogin() {
			t.Fatalf("prompt=login with a session = %d, want the login page", p.status)
		}
		p = b.submit(ts.Public, p.onlyForm(t), url.Values{"username": {"ada"}, "password": {testPassword}})
		if res := redirectedToClient(t, p, redirectURI); res.query.Get("code") == "" {
			t.Fatalf("after prompt=login = %s, want a code", res.loc)
		}
		// prompt=consent shows the consent page again; Deny answers
		// access_denied.
		p = b.get(authURL(c, "state-cons-001", v, "nonce-cons-01", oauth2.SetAuthURLParam("prompt", "consent")))
		if !p.isConsent() {
			t.Fatalf("prompt=consent = %d, want the consent page", p.status)
		}
		res = redirectedToClient(t, b.submit(ts.Public, p.onlyForm(t), url.Values{"decision": {"deny"}}), redirectURI)
		if res.query.Get("error") != "access_denied" || res.query.Get("state") != "state-cons-001" {
			t.Fatalf("deny = %s, want access_denied", res.loc)
		}
		// Bad prompt values are refused.
		res = redirectedToClient(t, b.get(authURL(c, "state-bad-0001", v, "nonce-bad-001", oauth2.SetAuthURLParam("prompt", "none login"))), redirectURI)
		if res.query.Get("error") != "invalid_request" {
			t.Fatalf("prompt=none login = %s, want invalid_request", res.loc)
		}
	})
}

func TestConsentRememberedAndWithdrawn(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, user, c, b := startCodeFlow(t, cfg)
		v := oauth2.GenerateVerifier()
		narrow := oauth2.SetAuthURLParam("scope", "openid identity.verify")
		redirectedToClient(t, b.signIn(ts, authURL(c, "state-000001", v, "nonce-000001", narrow), "ada", "allow"), redirectURI)
		// Remembered for the same or fewer scopes...
		redirectedToClient(t, b.get(authURL(c, "state-000002", v, "nonce-000002", oauth2.SetAuthURLParam("scope", "openid"))), redirectURI)
		// ...but more scopes ask again.
		if p := b.get(authURL(c, "state-000003", v, "nonce-000003")); !p.isConsent() {
			t.Fatalf("more scopes = %d, want the consent page", p.status)
		}
		// Withdrawn through the admin API: asked again.
		code, body := ts.adminJSON(t, "DELETE", "/admin/users/"+user.ID+"/consents", nil)
		if code != 200 || !strings.Contains(string(body), `"withdrawn": 1`) {
			t.Fatalf("withdraw = %d %s", code, body)
		}
		if p := b.get(authURL(c, "state-000004", v, "nonce-000004", narrow)); !p.isConsent() {
			t.Fatalf("after withdrawal = %d, want the consent page", p.status)
		}
		if code, _ := ts.adminJSON(t, "DELETE", "/admin/users/nobody/consents", nil); code != 404 {
			t.Errorf("withdraw for an unknown user = %d, want 404", code)
		}
	})
}

func TestCSRFAndLogout(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, user, c, b := startCodeFlow(t, cfg)
		v := oauth2.GenerateVerifier()
		p := b.follow(ts.Public, b.get(authURL(c, "state-csrf-01", v, "nonce-csrf-01")))
		f := p.onlyForm(t)

		// Without the token, with a wrong one, and from a browser without
		// the cookie: refused, and nobody is signed in.
		for name, tc := range map[string]struct {
			b     *browser
			extra url.Values
		}{
			"no token":    {b, url.Values{"csrf": {""}}},
			"wrong token": {b, url.Values{"csrf": {randomString(43)}}},
			"no cookie":   {newBrowser(t), nil},
		} {
			extra := url.Values{"username": {"ada"}, "password": {testPassword}}
			for k, v := range tc.extra {
				extra[k] = v
			}
			p := tc.b.submit(ts.Public, f, extra)
			if p.status != http.StatusForbidden {
				t.Errorf("%s: login post = %d, want 403", name, p.status)
			}
		}
		if p := b.get(authURL(c, "state-csrf-02", v, "nonce-csrf-02")); !p.isLogin() {
			t.Fatal("a refused login post signed the browser in")
		}

		// Signed in; logout (a CSRF-protected post) ends the session.
		redirectedToClient(t, b.signIn(ts, authURL(c, "state-csrf-03", v, "nonce-csrf-03"), "ada", "allow"), redirectURI)
		lp := b.get(ts.Public + "/logout")
		if st := b.post(ts.Public+"/logout", url.Values{"csrf": {"forged"}}).status; st != http.StatusForbidden {
			t.Errorf("logout without the CSRF token = %d, want 403", st)
		}
		redirectedToClient(t, b.get(authURL(c, "state-csrf-04", v, "nonce-csrf-04")), redirectURI) // still signed in
		if p := b.submit(ts.Public, lp.onlyForm(t), nil); p.status != 200 || !strings.Contains(p.body, "signed out") {
			t.Fatalf("logout = %d %s", p.status, p.body)
		}
		if p := b.get(authURL(c, "state-csrf-05", v, "nonce-csrf-05")); !p.isLogin() {
			t.Fatalf("after logout = %d, want the login page", p.status)
		}

		// Deleting the person ends their session and their tokens.
		redirectedToClient(t, b.signIn(ts, authURL(c, "state-csrf-06", v, "nonce-csrf-06"), "ada", "allow"), redirectURI)
		tok := ts.redeemOK(t, c, newCode(t, ts, b, c, v), v)
		if code, body := ts.adminJSON(t, "DELETE", "/admin/users/"+user.ID, nil); code != 204 {
			t.Fatalf("delete user = %d %s", code, body)
		}
		ts.requireInactive(t, tok.AccessToken)
		if st, body := ts.refresh(t, c, tok.RefreshToken); st != 400 {
			t.Errorf("refresh after the user was deleted = %d %s", st, body)
		}
		if p := b.get(authURL(c, "state-csrf-07", v, "nonce-csrf-07")); !p.isLogin() {
			t.Fatalf("after deleting the user = %d, want the login page", p.status)
		}
	})
}

func TestLoginThrottling(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg = codeFlowConfig(cfg)
		cfg.LoginMaxFailures = 3
		cfg.LoginMaxFailuresPerIP = 8
		ts := startServer(t, cfg)
		ts.createUser(t, "ada")
		ts.createUser(t, "bea")
		c := ts.createWebClient(t, adminapi.ClientJSON{})
		b := newBrowser(t)
		v := oauth2.GenerateVerifier()
		login := b.follow(ts.Public, b.get(authURL(c, "state-thr-001", v, "nonce-thr-001"))).onlyForm(t)
		attempt := func(user, pw string) page {
			return b.submit(ts.Public, login, url.Values{"username": {user}, "password": {pw}})
		}
		// A known and an unknown username fail alike, up to the limit.
		for i := 0; i < 3; i++ {
			pk, pu := attempt("ada", "wrong password "+randomString(4)), attempt("nobody", "wrong password "+randomString(4))
			if pk.status != pu.status || !strings.Contains(pk.body, "not correct") || !strings.Contains(pu.body, "not correct") {
				t.Fatalf("failure %d: known user %d, unknown user %d; want the same answer", i+1, pk.status, pu.status)
			}
		}
		// At the limit even the right password is refused, for known and
		// unknown usernames alike, with 429 and Retry-After.
		for _, user := range []string{"ada", "nobody"} {
			p := attempt(user, testPassword)
			ra, err := strconv.Atoi(p.header.Get("Retry-After"))
			if p.status != http.StatusTooManyRequests || err != nil || ra < 1 || ra > int(settings.DefaultLoginWindow/time.Second) {
				t.Fatalf("%s after 3 failures = %d Retry-After %q, want 429 and a delay within the window", user, p.status, p.header.Get("Retry-After"))
			}
			if !strings.Contains(p.body, "Too many") || p.isLogin() {
				t.Errorf("%s: the 429 page does not say why", user)
			}
		}
		// Another account from the same address is not locked...
		if p := attempt("bea", testPassword); !p.isConsent() {
			t.Fatalf("another account = %d, want signed in", p.status)
		}
		// ...until the address reaches its own limit (8 failures).
		attempt("carl", "wrong password 1")
		attempt("carl", "wrong password 2")
		if p := attempt("bea", testPassword); p.status != http.StatusTooManyRequests {
			t.Fatalf("after 8 failures from one address = %d, want 429", p.status)
		}
	})
}

// TestConcurrentReuseRevokesAll races several redemptions of one code,
// then several rotations of one refresh token: at most one of each may
// succeed, and since the rest are reuse, whatever was issued ends up
// inactive.
func TestConcurrentReuseRevokesAll(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, b := startCodeFlow(t, cfg)
		v := oauth2.GenerateVerifier()
		const n = 8
		race := func(call func() (int, []byte)) []tokenAnswer {
			var wg sync.WaitGroup
			results := make(chan tokenAnswer, n)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if st, body := call(); st == 200 {
						results <- decodeTokens(t, st, body)
					}
				}()
			}
			wg.Wait()
			close(results)
			var out []tokenAnswer
			for r := range results {
				out = append(out, r)
			}
			return out
		}
		code := newCode(t, ts, b, c, v)
		won := race(func() (int, []byte) { return ts.redeem(t, c, code, v) })
		if len(won) > 1 {
			t.Fatalf("%d concurrent redemptions of one code succeeded, want at most 1", len(won))
		}
		for _, tok := range won {
			ts.requireInactive(t, tok.AccessToken)
			if st, body := ts.refresh(t, c, tok.RefreshToken); st != 400 {
				t.Errorf("refresh token of a raced code = %d %s, want refused", st, body)
			}
		}

		first := ts.redeemOK(t, c, newCode(t, ts, b, c, v), v)
		won = race(func() (int, []byte) { return ts.refresh(t, c, first.RefreshToken) })
		if len(won) > 1 {
			t.Fatalf("%d concurrent rotations of one refresh token succeeded, want at most 1", len(won))
		}
		for _, tok := range append(won, first) {
			ts.requireInactive(t, tok.AccessToken)
			if st, body := ts.refresh(t, c, tok.RefreshToken); st != 400 {
				t.Errorf("refresh token of a raced chain = %d %s, want refused", st, body)
			}
		}
	})
}

// TestDemoSignIn follows what `serve --dev` prints: the authorize URL, the
// demo person's credentials, and the dev callback page that shows how to
// redeem the code. Seeding twice (a restart on one database) works too.
func TestDemoSignIn(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg = codeFlowConfig(cfg)
		cfg.Dev = true
		ts := startServer(t, cfg)
		d, err := ts.Srv.SeedDemo(ctxb())
		if err != nil {
			t.Fatalf("second SeedDemo: %v", err)
		}
		b := newBrowser(t)
		p := b.follow(ts.Public, b.get(d.AuthorizeURL))
		if !p.isLogin() {
			t.Fatalf("demo authorize URL = %d, want the login page", p.status)
		}
		p = b.submit(ts.Public, p.onlyForm(t), url.Values{"username": {authz.DemoUsername}, "password": {d.Password}})
		if !p.isConsent() {
			t.Fatalf("demo login = %d, want the consent page:\n%s", p.status, p.body)
		}
		p = b.follow(ts.Public, b.submit(ts.Public, p.onlyForm(t), url.Values{"decision": {"allow"}}))
		if p.status != 200 || !strings.Contains(p.body, "curl -s -u 'demo-web:"+d.Web.ClientSecret+"'") {
			t.Fatalf("dev callback = %d:\n%s", p.status, p.body)
		}
		var code string
		for _, line := range strings.Split(p.body, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "code" {
				code = f[1]
			}
		}
		web := webClient{ClientJSON: d.Web}
		tok := ts.redeemOK(t, web, code, d.Verifier)
		if tok.IDToken == "" || tok.RefreshToken == "" {
			t.Errorf("demo tokens = %+v, want ID and refresh tokens", tok)
		}
	})
}

func TestAdminUsers(t *testing.T) {
	ts := startServer(t, codeFlowConfig(authz.Config{}))
	ada := ts.createUser(t, "ada")
	code, body := ts.adminJSON(t, "GET", "/admin/users/"+ada.ID, nil)
	if code != 200 || strings.Contains(string(body), "password") || strings.Contains(string(body), "argon2") {
		t.Fatalf("get user = %d %s, want it without any password", code, body)
	}
	_, before := ts.adminJSON(t, "GET", "/admin/users", nil)
	tests := []struct {
		name     string
		method   string
		path     string
		body     any
		want     int
		wantErr  string
		wantDesc string
	}{
		{"short password", "POST", "/admin/users", adminapi.UserInput{Username: "bea", Password: "abc"}, 400, "weak_password", "at least 12"},
		{"common password", "POST", "/admin/users", adminapi.UserInput{Username: "bea", Password: "Password1234!"}, 400, "weak_password", "breach"},
		{"repeated password", "POST", "/admin/users", adminapi.UserInput{Username: "bea", Password: "passwordpassword"}, 400, "weak_password", "breach"},
		{"keyboard sequence", "POST", "/admin/users", adminapi.UserInput{Username: "bea", Password: "qwertyuiopasdf"}, 400, "weak_password", "sequence"},
		{"few characters", "POST", "/admin/users", adminapi.UserInput{Username: "bea", Password: "abababababababab"}, 400, "weak_password", "too few"},
		{"password holds username", "POST", "/admin/users", adminapi.UserInput{Username: "beatrice", Password: "beatrice-likes-tea-42"}, 400, "weak_password", "username"},
		{"password holds email", "POST", "/admin/users", adminapi.UserInput{Username: "bea", Password: "my mail is trice99 ok", Email: "trice99@example.com"}, 400, "weak_password", "email"},
		{"no password", "POST", "/admin/users", adminapi.UserInput{Username: "bea"}, 400, "invalid_request", "password"},
		{"username with space", "POST", "/admin/users", adminapi.UserInput{Username: "bea trice", Password: testPassword}, 400, "invalid_request", "username"},
		{"username path", "POST", "/admin/users", adminapi.UserInput{Username: "../x", Password: testPassword}, 400, "invalid_request", "username"},
		{"bad email", "POST", "/admin/users", adminapi.UserInput{Username: "bea", Password: testPassword, Email: "not-an-email"}, 400, "invalid_request", "email"},
		{"email with name", "POST", "/admin/users", adminapi.UserInput{Username: "bea", Password: testPassword, Email: "Bea <bea@example.com>"}, 400, "invalid_request", "email"},
		{"control character in name", "POST", "/admin/users", adminapi.UserInput{Username: "bea", Password: testPassword, Name: "Bea\u0007"}, 400, "invalid_request", "name"},
		{"unknown field", "POST", "/admin/users", map[string]any{"username": "bea", "password": testPassword, "is_admin": true}, 400, "invalid_request", "is_admin"},
		{"password hash given", "POST", "/admin/users", map[string]any{"username": "bea", "password_hash": "$argon2id$..."}, 400, "invalid_request", "password_hash"},
		{"duplicate username", "POST", "/admin/users", adminapi.UserInput{Username: "ada", Password: testPassword}, 409, "already_exists", "username"},
		{"duplicate in other case", "POST", "/admin/users", adminapi.UserInput{Username: "ADA", Password: testPassword}, 409, "already_exists", "username"},
		{"get unknown", "GET", "/admin/users/nobody", nil, 404, "not_found", ""},
		{"delete unknown", "DELETE", "/admin/users/nobody", nil, 404, "not_found", ""},
		{"wrong method", "PATCH", "/admin/users", nil, 405, "method_not_allowed", ""},
		{"wrong method on consents", "GET", "/admin/users/" + ada.ID + "/consents", nil, 405, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := ts.adminJSON(t, tt.method, tt.path, tt.body)
			if code != tt.want {
				t.Fatalf("status = %d, want %d: %s", code, tt.want, body)
			}
			got, desc := oauthErr(t, body)
			if got != tt.wantErr || desc == "" || !strings.Contains(desc, tt.wantDesc) {
				t.Errorf("error = %q (%q), want %q mentioning %q", got, desc, tt.wantErr, tt.wantDesc)
			}
			if strings.Contains(string(body), testPassword) {
				t.Error("the answer echoes the password")
			}
		})
	}
	if _, after := ts.adminJSON(t, "GET", "/admin/users", nil); !bytes.Equal(after, before) {
		t.Errorf("refused requests changed the users:\nbefore %s\nafter  %s", before, after)
	}
}
