package authz_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/testutil"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// parAnswer is the body of a /oauth2/par answer, success or error.
type parAnswer struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int64  `json:"expires_in"`
	Error      string `json:"error"`
	Desc       string `json:"error_description"`
}

// parParams are the authorization request parameters of c with PKCE
// (the verifier's S256 challenge), a nonce and state.
func parParams(c webClient, state, verifier, nonce string) url.Values {
	return url.Values{
		"response_type": {"code"}, "redirect_uri": {c.cfg.RedirectURL}, "scope": {strings.Join(c.cfg.Scopes, " ")},
		"state": {state}, "nonce": {nonce},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}
}

// push posts params to /oauth2/par as c (HTTP Basic) and returns the
// status and the answer.
func (ts *testServer) push(t testing.TB, c webClient, params url.Values) (int, parAnswer) {
	t.Helper()
	st, h, body := post(t, ts.Public+"/oauth2/par", c.ClientID, c.ClientSecret, params)
	var a parAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("/oauth2/par = %d %s: not JSON: %v", st, body, err)
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("/oauth2/par Cache-Control = %q, want no-store", cc)
	}
	return st, a
}

// pushOK pushes params as c and returns the request_uri.
func (ts *testServer) pushOK(t testing.TB, c webClient, params url.Values) string {
	t.Helper()
	st, a := ts.push(t, c, params)
	if st != http.StatusCreated || !strings.HasPrefix(a.RequestURI, "urn:ietf:params:oauth:request_uri:") {
		t.Fatalf("/oauth2/par = %d %+v, want 201 with a request_uri", st, a)
	}
	return a.RequestURI
}

// discovery returns the server's metadata.
func (ts *testServer) discovery(t testing.TB) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.Public+"/.well-known/openid-configuration", nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _, body := do(t, req)
	var meta map[string]any
	if err := json.Unmarshal(body, &meta); err != nil || st != http.StatusOK {
		t.Fatalf("discovery = %d %s (%v)", st, body, err)
	}
	return meta
}

// byReference is the authorization URL of a pushed request.
func (ts *testServer) byReference(clientID, requestURI string, extra ...string) string {
	q := url.Values{"client_id": {clientID}, "request_uri": {requestURI}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return ts.Public + "/oauth2/authorize?" + q.Encode()
}

// TestPushedAuthorizationRequest: a pushed request leads through the
// login and consent pages to a code that x/oauth2 redeems; parameters
// beside client_id and request_uri are ignored; the request_uri is single
// use, at the authorization endpoint and on the pages after the code.
func TestPushedAuthorizationRequest(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, b := startCodeFlow(t, cfg)
		meta := ts.discovery(t)
		if meta["pushed_authorization_request_endpoint"] != ts.Public+"/oauth2/par" || meta["require_pushed_authorization_requests"] != nil {
			t.Errorf("discovery PAR fields = %v, %v", meta["pushed_authorization_request_endpoint"], meta["require_pushed_authorization_requests"])
		}
		before := ts.countTokens(t)
		state, verifier, nonce := randomString(24), oauth2.GenerateVerifier(), randomString(24)
		st, a := ts.push(t, c, parParams(c, state, verifier, nonce))
		if st != http.StatusCreated || a.ExpiresIn != 60 {
			t.Fatalf("/oauth2/par = %d %+v, want 201 with expires_in 60", st, a)
		}
		value := strings.TrimPrefix(a.RequestURI, "urn:ietf:params:oauth:request_uri:")
		if len(value) != 43 || value == a.RequestURI {
			t.Fatalf("request_uri %q: want the URN prefix and 256 bits in base64url", a.RequestURI)
		}
		if n := ts.countTokens(t); n != before+1 {
			t.Errorf("records after a push = %d, want %d", n, before+1)
		}

		// A state and redirect_uri beside the reference are ignored.
		p := b.follow(ts.Public, b.get(ts.byReference(c.ClientID, a.RequestURI, "state", "forged", "redirect_uri", "https://evil.example/cb")))
		if !p.isLogin() {
			t.Fatalf("authorize by reference = %d, want the login page:\n%s", p.status, p.body)
		}
		login := p.onlyForm(t)
		p = b.submit(ts.Public, login, url.Values{"username": {"ada"}, "password": {testPassword}})
		if !p.isConsent() {
			t.Fatalf("after login = %d, want the consent page:\n%s", p.status, p.body)
		}
		p = b.submit(ts.Public, p.onlyForm(t), url.Values{"decision": {"allow"}})
		res := redirectedToClient(t, p, redirectURI)
		if res.query.Get("state") != state || res.query.Get("code") == "" || res.query.Get("iss") != ts.Public {
			t.Fatalf("redirect = %s, want the pushed state %q and a code", res.loc, state)
		}
		tok, err := c.cfg.Exchange(ctxb(), res.query.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		idt, _ := tok.Extra("id_token").(string)
		if claims := ts.verifyIDToken(t, idt, c.ClientID, "RS256"); claims.Nonce != nonce {
			t.Errorf("ID token nonce = %q, want the pushed %q", claims.Nonce, nonce)
		}

		// A pushed prompt=login asks once: the pages after the login do
		// not ask again (the form carries the request by reference).
		uri := ts.pushOK(t, c, func() url.Values {
			q := parParams(c, "state-again-1", verifier, nonce)
			q.Set("prompt", "login consent")
			return q
		}())
		p = b.follow(ts.Public, b.get(ts.byReference(c.ClientID, uri)))
		if !p.isLogin() {
			t.Fatalf("pushed prompt=login for a signed-in person = %d, want the login page", p.status)
		}
		p = b.submit(ts.Public, p.onlyForm(t), url.Values{"username": {"ada"}, "password": {testPassword}})
		if !p.isConsent() || !strings.Contains(p.header.Get("Content-Security-Policy"), "https://app.example") {
			t.Fatalf("after the login = %d (CSP %q), want the consent page with the client's origin in form-action", p.status, p.header.Get("Content-Security-Policy"))
		}
		p = b.submit(ts.Public, p.onlyForm(t), url.Values{"decision": {"allow"}})
		if res := redirectedToClient(t, p, redirectURI); res.query.Get("code") == "" {
			t.Fatalf("pushed prompt=login consent = %s, want a code", res.loc)
		}

		// Reuse at the authorization endpoint: refused, no login page.
		p = b.get(ts.byReference(c.ClientID, a.RequestURI))
		if p.status != http.StatusBadRequest || p.isLogin() || p.header.Get("Location") != "" {
			t.Errorf("second use of the request_uri = %d %s, want 400 and no redirect", p.status, p.header.Get("Location"))
		}
		// Replaying the login page of the finished request: no second code.
		p = b.submit(ts.Public, login, url.Values{"username": {"ada"}, "password": {testPassword}})
		if loc := p.header.Get("Location"); strings.Contains(loc, "code=") {
			t.Errorf("replayed login of a used pushed request = %d %s, want no code", p.status, loc)
		}
	})
}

// TestPushedRequestRefusals: another client's request_uri, an expired
// one, a page's request_uri at the authorization endpoint, REQUIRE_PAR,
// and a confidential client without PKCE at /oauth2/par.
func TestPushedRequestRefusals(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		clock := testutil.NewClock(time.Now())
		cfg.Now = clock.Now
		ts, _, c, b := startCodeFlow(t, cfg)
		other := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Other"})
		v := oauth2.GenerateVerifier()

		uri := ts.pushOK(t, c, parParams(c, "state-a-12345", v, "nonce-a"))
		if p := b.get(ts.byReference(other.ClientID, uri)); p.status != http.StatusBadRequest || p.isLogin() {
			t.Errorf("another client's request_uri = %d, want 400", p.status)
		}
		// ...and not burnt by it: the client it belongs to still uses it.
		if p := b.get(ts.byReference(c.ClientID, uri)); !p.isLogin() {
			t.Errorf("request_uri after another client presented it = %d, want the login page:\n%s", p.status, p.body)
		}
		if p := b.get(ts.byReference(c.ClientID, uri+"x")); p.status != http.StatusBadRequest || p.isLogin() {
			t.Errorf("malformed request_uri = %d, want 400", p.status)
		}

		// The request_uri the login page carries is not a pushed one.
		uri = ts.pushOK(t, c, parParams(c, "state-c-12345", v, "nonce-c"))
		p := b.get(ts.byReference(c.ClientID, uri))
		started, _ := url.ParseQuery(p.onlyForm(t).values.Get("return"))
		if su := started.Get("request_uri"); su == "" || su == uri {
			t.Fatalf("login page carries %q, want a request_uri of its own", p.onlyForm(t).values.Get("return"))
		}
		if p := b.get(ts.byReference(c.ClientID, started.Get("request_uri"))); p.status != http.StatusBadRequest || p.isLogin() {
			t.Errorf("page's request_uri at the authorization endpoint = %d, want 400", p.status)
		}

		// PKCE is required at the PAR endpoint too, unless the client
		// was let off.
		params := parParams(c, "state-d-12345", v, "nonce-d")
		params.Del("code_challenge")
		params.Del("code_challenge_method")
		if st, a := ts.push(t, c, params); st != http.StatusBadRequest || a.Error != "invalid_request" || !strings.Contains(a.Desc, "PKCE") {
			t.Errorf("push without PKCE = %d %+v, want 400 invalid_request naming PKCE", st, a)
		}
		legacy := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Legacy", RequirePKCE: new(false)})
		params = parParams(legacy, "state-f-12345", v, "nonce-f")
		params.Del("code_challenge")
		params.Del("code_challenge_method")
		uri = ts.pushOK(t, legacy, params)
		p = b.signIn(ts, ts.byReference(legacy.ClientID, uri), "ada", "allow")
		code := redirectedToClient(t, p, redirectURI).query.Get("code")
		if _, err := legacy.cfg.Exchange(ctxb(), code); err != nil {
			t.Errorf("require_pkce false client, pushed without PKCE: exchange: %v", err)
		}

		// A client that must push is refused by value.
		strict := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Strict", RequirePushedAuthorizationRequests: true})
		res := redirectedToClient(t, b.get(authURL(strict, "state-g-12345", v, "nonce-g")), redirectURI)
		if res.query.Get("error") != "invalid_request" || res.query.Get("code") != "" {
			t.Errorf("by value for a client that must push = %s, want invalid_request", res.loc)
		}
		uri = ts.pushOK(t, strict, parParams(strict, "state-h-12345", v, "nonce-h"))
		if code := redirectedToClient(t, b.signIn(ts, ts.byReference(strict.ClientID, uri), "ada", "allow"), redirectURI).query.Get("code"); code == "" {
			t.Error("pushed request of a client that must push got no code")
		}

		// Expiry, last: the server's clock runs ahead from here on.
		uri = ts.pushOK(t, c, parParams(c, "state-b-12345", v, "nonce-b"))
		clock.Advance(59 * time.Second)
		p = b.get(ts.byReference(c.ClientID, uri))
		if !p.isConsent() {
			t.Fatalf("request_uri 59 s after its push = %d, want the consent page (the browser is signed in)", p.status)
		}
		uri = ts.pushOK(t, c, parParams(c, "state-i-12345", v, "nonce-i"))
		clock.Advance(61 * time.Second)
		if p := b.get(ts.byReference(c.ClientID, uri)); p.status != http.StatusBadRequest || p.isConsent() {
			t.Errorf("request_uri 61 s after its push = %d, want 400", p.status)
		}
	})
}

// TestRequirePAR: IDVAUTH_REQUIRE_PAR refuses requests by value of every
// client, and discovery says so.
func TestRequirePAR(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.RequirePAR = true
		ts, _, c, b := startCodeFlow(t, cfg)
		if meta := ts.discovery(t); meta["require_pushed_authorization_requests"] != true {
			t.Errorf("discovery require_pushed_authorization_requests = %v, want true", meta["require_pushed_authorization_requests"])
		}
		v := oauth2.GenerateVerifier()
		res := redirectedToClient(t, b.get(authURL(c, "state-byvalue", v, "n")), redirectURI)
		if res.query.Get("error") != "invalid_request" || !strings.Contains(res.query.Get("error_description"), "pushed") {
			t.Fatalf("by value under REQUIRE_PAR = %s, want invalid_request about pushing", res.loc)
		}
		uri := ts.pushOK(t, c, parParams(c, "state-pushed", v, "n"))
		code := redirectedToClient(t, b.signIn(ts, ts.byReference(c.ClientID, uri), "ada", "allow"), redirectURI).query.Get("code")
		if _, err := c.cfg.Exchange(ctxb(), code, oauth2.VerifierOption(v)); err != nil {
			t.Fatalf("exchange under REQUIRE_PAR: %v", err)
		}
	})
}

// TestPARBadInput: malformed pushes are 4xx RFC 6749 errors and store
// nothing.
func TestPARBadInput(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, _ := startCodeFlow(t, cfg)
		two := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Two", RedirectURIs: []string{redirectURI, "https://app.example/other"}})
		v := oauth2.GenerateVerifier()
		good := parParams(c, "state", v, "nonce").Encode()
		req := func(method, ctype, body, id, secret string) *http.Request {
			r, err := http.NewRequest(method, ts.Public+"/oauth2/par", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if ctype != "" {
				r.Header.Set("Content-Type", ctype)
			}
			if id != "" {
				r.SetBasicAuth(id, secret)
			}
			return r
		}
		form := "application/x-www-form-urlencoded"
		noRedirect := parParams(two, "s", v, "n")
		noRedirect.Del("redirect_uri")
		before := ts.countTokens(t)
		for _, tc := range []struct {
			name   string
			req    *http.Request
			status int
			err    string
		}{
			{"GET", req(http.MethodGet, "", "", c.ClientID, c.ClientSecret), http.StatusMethodNotAllowed, "invalid_request"},
			{"JSON", req(http.MethodPost, "application/json", `{"response_type":"code"}`, c.ClientID, c.ClientSecret), http.StatusBadRequest, "invalid_request"},
			{"oversized", req(http.MethodPost, form, good+"&state2="+strings.Repeat("s", 70<<10), c.ClientID, c.ClientSecret), http.StatusRequestEntityTooLarge, "invalid_request"},
			{"duplicate", req(http.MethodPost, form, good+"&scope=openid", c.ClientID, c.ClientSecret), http.StatusBadRequest, "invalid_request"},
			{"query string", req(http.MethodPost, form, good, c.ClientID, c.ClientSecret), http.StatusBadRequest, "invalid_request"},
			{"unknown client", req(http.MethodPost, form, good, "nobody", "secret"), http.StatusUnauthorized, "invalid_client"},
			{"wrong secret", req(http.MethodPost, form, good, c.ClientID, "wrong"), http.StatusUnauthorized, "invalid_client"},
			{"no authentication", req(http.MethodPost, form, good, "", ""), http.StatusUnauthorized, "invalid_client"},
			{"request_uri", req(http.MethodPost, form, good+"&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax", c.ClientID, c.ClientSecret), http.StatusBadRequest, "invalid_request"},
			{"other client_id", req(http.MethodPost, form, good+"&client_id="+two.ClientID, c.ClientID, c.ClientSecret), http.StatusBadRequest, "invalid_request"},
			{"missing redirect_uri of two", req(http.MethodPost, form, noRedirect.Encode(), two.ClientID, two.ClientSecret), http.StatusBadRequest, "invalid_request"},
			{"unregistered redirect_uri", req(http.MethodPost, form, strings.Replace(good, "app.example", "evil.example", 1), c.ClientID, c.ClientSecret), http.StatusBadRequest, "invalid_request"},
			{"response_type token", req(http.MethodPost, form, strings.Replace(good, "response_type=code", "response_type=token", 1), c.ClientID, c.ClientSecret), http.StatusBadRequest, "unsupported_response_type"},
			{"unknown scope", req(http.MethodPost, form, strings.Replace(good, "scope=openid", "scope=admin+openid", 1), c.ClientID, c.ClientSecret), http.StatusBadRequest, "invalid_scope"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.name == "query string" {
					tc.req.URL.RawQuery = "state=x"
				}
				st, _, body := do(t, tc.req)
				var a parAnswer
				if err := json.Unmarshal(body, &a); err != nil || st != tc.status || a.Error != tc.err || a.RequestURI != "" {
					t.Errorf("%s: /oauth2/par = %d %s, want %d %s", tc.name, st, body, tc.status, tc.err)
				}
			})
		}
		if n := ts.countTokens(t); n != before {
			t.Errorf("records after refused pushes = %d, want %d", n, before)
		}
	})
}

// TestPushedRequestAcrossReplicas: a request pushed to one replica starts
// on another, and of concurrent starts on both exactly one gets a page.
func TestPushedRequestAcrossReplicas(t *testing.T) {
	dbURL := pgtest.URL(t)
	a := startServer(t, codeFlowConfig(authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer}))
	b := startServer(t, codeFlowConfig(authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer}), serverOptions{ReplicaOf: a.harnessServer})
	c := a.createWebClient(t, adminapi.ClientJSON{})
	v := oauth2.GenerateVerifier()

	uri := a.pushOK(t, c, parParams(c, "state-replica-1", v, "n"))
	if p := newBrowser(t).get(b.byReference(c.ClientID, uri)); !p.isLogin() {
		t.Fatalf("pushed to A, started on B = %d, want the login page", p.status)
	}
	if p := newBrowser(t).get(a.byReference(c.ClientID, uri)); p.status != http.StatusBadRequest || p.isLogin() {
		t.Fatalf("started on B, again on A = %d, want 400", p.status)
	}

	uri = a.pushOK(t, c, parParams(c, "state-replica-2", v, "n"))
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	pages, refused := 0, 0
	for i := range n {
		srv := a
		if i%2 == 1 {
			srv = b
		}
		wg.Go(func() {
			p := newBrowser(t).get(srv.byReference(c.ClientID, uri))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case p.isLogin():
				pages++
			case p.status == http.StatusBadRequest:
				refused++
			}
		})
	}
	wg.Wait()
	if pages != 1 || refused != n-1 {
		t.Errorf("%d concurrent starts of one request_uri on two replicas: %d login pages, %d refused; want 1 and %d", n, pages, refused, n-1)
	}
}

// TestPARTTLBounds: a request_uri lifetime outside 1s..10m stops New.
func TestPARTTLBounds(t *testing.T) {
	for _, ttl := range []time.Duration{time.Millisecond, 11 * time.Minute} {
		cfg := testConfig(t, authz.Config{PARTTL: ttl}, "http://127.0.0.1:1")
		if _, err := authz.New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "pushed authorization request lifetime") {
			t.Errorf("PARTTL %s: New = %v, want an error about the pushed authorization request lifetime", ttl, err)
		}
	}
}

// TestPARPrivateKeyJWT: a private_key_jwt client pushes with an assertion
// (aud the issuer), as at the token endpoint; a replayed assertion is
// refused there too, and stores nothing.
func TestPARPrivateKeyJWT(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, codeFlowConfig(cfg))
		ts.createUser(t, "ada")
		k := mustKey(t, jose.ES256)
		jc := ts.createClient(t, map[string]any{"client_name": "Signed app", "token_endpoint_auth_method": "private_key_jwt",
			"grant_types": []string{"authorization_code"}, "redirect_uris": []string{redirectURI}, "scope": "openid",
			"jwks": json.RawMessage(jwksJSON(t, pub(k)))})
		c := webClient{ClientJSON: jc, cfg: &oauth2.Config{ClientID: jc.ClientID, RedirectURL: redirectURI, Scopes: []string{"openid"},
			Endpoint: oauth2.Endpoint{AuthURL: ts.Public + "/oauth2/authorize", TokenURL: ts.Public + "/oauth2/token"}}}
		v := oauth2.GenerateVerifier()
		params := parParams(c, "state-jwt-12345", v, "n")
		params.Set("client_assertion_type", jwtBearer)
		params.Set("client_assertion", signAssertion(t, k, assertionClaims(jc.ClientID, ts.Public)))
		st, _, body := post(t, ts.Public+"/oauth2/par", "", "", params)
		var a parAnswer
		if err := json.Unmarshal(body, &a); err != nil || st != http.StatusCreated {
			t.Fatalf("push with private_key_jwt = %d %s", st, body)
		}
		before := ts.countTokens(t)
		if st, _, body := post(t, ts.Public+"/oauth2/par", "", "", params); st != http.StatusUnauthorized || !strings.Contains(string(body), "invalid_client") {
			t.Errorf("push with a replayed assertion = %d %s, want 401 invalid_client", st, body)
		}
		if n := ts.countTokens(t); n != before {
			t.Errorf("records after a refused push = %d, want %d", n, before)
		}
		p := newBrowser(t).signIn(ts, ts.byReference(jc.ClientID, a.RequestURI), "ada", "allow")
		if res := redirectedToClient(t, p, redirectURI); res.query.Get("code") == "" || res.query.Get("state") != "state-jwt-12345" {
			t.Errorf("pushed private_key_jwt request = %s, want a code and the pushed state", res.loc)
		}
	})
}

// TestPushedRequestAudited: each push of an authenticated client is in
// the audit trail, accepted or refused, with the names of the parameters
// and none of their values.
func TestPushedRequestAudited(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, _ := startCodeFlow(t, cfg)
		state, nonce := "state-audited-98765", "nonce-audited-98765"
		ts.pushOK(t, c, parParams(c, state, oauth2.GenerateVerifier(), nonce))
		bad := parParams(c, state, oauth2.GenerateVerifier(), nonce)
		bad.Set("scope", "openid no-such-scope")
		if st, _ := ts.push(t, c, bad); st != http.StatusBadRequest {
			t.Fatalf("push with an unknown scope = %d, want 400", st)
		}
		var got []adminapi.AuditEntryJSON
		for _, e := range ts.auditAll(t, url.Values{"type": {adminapi.EventRequestPushed}}) {
			if e.Type == adminapi.EventRequestPushed {
				got = append(got, e)
			}
		}
		if len(got) != 2 {
			t.Fatalf("push entries = %+v, want 2", got)
		}
		for i, want := range []string{"ok", "invalid_scope"} {
			e := got[i]
			if e.Outcome != want || e.ClientID != c.ClientID || e.Actor != "client:"+c.ClientID || e.IP == "" {
				t.Errorf("push entry %d = %+v, want outcome %s for the client", i, e, want)
			}
			if p := e.Details["params"]; p != "code_challenge code_challenge_method nonce redirect_uri response_type scope state" {
				t.Errorf("push entry %d params = %q, want the names of the pushed parameters", i, p)
			}
			if b, _ := json.Marshal(e); strings.Contains(string(b), state) || strings.Contains(string(b), nonce) || strings.Contains(string(b), c.ClientSecret) {
				t.Errorf("push entry %d holds a pushed value: %s", i, b)
			}
		}
	})
}
