package authz_test

import (
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/internal/testutil"
)

const fapiSignedOut = "https://bank.example/signed-out"

// fapiGrant is a FAPI 2.0 client's grant: the client (private_key_jwt),
// the DPoP key its tokens are bound to, and the tokens of the code's
// redemption.
type fapiGrant struct {
	c   keyClient
	wc  webClient
	d   *dpopKey
	tok *oauth2.Token
	// meta is the client's registered metadata.
	meta map[string]any
	// now is the clock of the server, if not time.Now: the assertions
	// and proofs of refreshes are made at its time.
	now func() time.Time
}

// claimsAt are the claims of an assertion of g's client to aud, at g's
// clock's time.
func (g fapiGrant) claimsAt(aud string) map[string]any {
	c := assertionClaims(g.c.ClientID, aud)
	if g.now != nil {
		c["iat"], c["exp"] = g.now().Unix(), g.now().Add(time.Minute).Unix()
	}
	return c
}

// proof is a DPoP proof of g's key for a POST to u, at g's clock's time.
func (g fapiGrant) proof(u string) string {
	if g.now == nil {
		return g.d.proof(http.MethodPost, u, nil)
	}
	return g.d.proof(http.MethodPost, u, map[string]any{"iat": g.now().Unix()})
}

// newFAPIGrant registers a FAPI 2.0 client on ts with extra metadata,
// and runs PAR, the sign-in of "ada" (who must exist) in b and the
// code's redemption with a DPoP proof.
func newFAPIGrant(t testing.TB, ts *testServer, b *browser, extra map[string]any) fapiGrant {
	t.Helper()
	return newFAPIGrantWith(t, ts, b, extra, newDPoPKey(t))
}

// newFAPIGrantWith is newFAPIGrant with the proofs of d, or none (a
// bearer grant) if d is nil.
func newFAPIGrantWith(t testing.TB, ts *testServer, b *browser, extra map[string]any, d *dpopKey) fapiGrant {
	t.Helper()
	k := mustKey(t, jose.ES256)
	in := fapiClientMetadata(t, k)
	in["post_logout_redirect_uris"] = []string{fapiSignedOut}
	for key, v := range extra {
		in[key] = v
	}
	jc := ts.createClient(t, in)
	c := webClient{ClientJSON: jc, cfg: &oauth2.Config{ClientID: jc.ClientID, RedirectURL: fapiRedirect, Scopes: []string{"openid", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.Public + "/oauth2/authorize", TokenURL: ts.Public + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}}
	v := oauth2.GenerateVerifier()
	params := parParams(c, randomString(16), v, randomString(16))
	params.Set("client_assertion_type", jwtBearer)
	params.Set("client_assertion", signAssertion(t, k, assertionClaims(jc.ClientID, ts.Public)))
	st, _, body := post(t, ts.Public+"/oauth2/par", "", "", params)
	var a parAnswer
	if err := json.Unmarshal(body, &a); err != nil || st != http.StatusCreated {
		t.Fatalf("push = %d %s", st, body)
	}
	code := redirectedToClient(t, b.signIn(ts, ts.byReference(jc.ClientID, a.RequestURI), "ada", "allow"), fapiRedirect).query.Get("code")
	ctx := t.Context()
	if d != nil {
		ctx = dpopContext(t, d)
	}
	tok, err := c.cfg.Exchange(ctx, code, oauth2.VerifierOption(v),
		oauth2.SetAuthURLParam("client_assertion_type", jwtBearer),
		oauth2.SetAuthURLParam("client_assertion", signAssertion(t, k, assertionClaims(jc.ClientID, ts.Public))))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("redemption = %v, %v; want tokens with a refresh token", tok, err)
	}
	return fapiGrant{c: keyClient{jc, k}, wc: c, d: d, tok: tok, meta: in}
}

// refresh refreshes rt at ts as g's client, with proof in the DPoP header
// unless it is "".
func (g fapiGrant) refresh(t *testing.T, ts *testServer, rt, proof string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_assertion_type": {jwtBearer}, "client_assertion": {signAssertion(t, g.c.key, g.claimsAt(ts.Public))}}
	req := formRequest(t, ts.Public+"/oauth2/token", "", "", form)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	st, _, body := do(t, req)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("refresh answer %d %s: %v", st, body, err)
	}
	return st, m
}

// refreshOK refreshes rt with a proof of g's key and checks the answer:
// a DPoP access token bound to the key, an ID token, and no refresh
// token (the one presented stays).
func (g fapiGrant) refreshOK(t *testing.T, ts *testServer, what string) string {
	t.Helper()
	st, m := g.refresh(t, ts, g.tok.RefreshToken, g.proof(ts.Public+"/oauth2/token"))
	at, _ := m["access_token"].(string)
	if st != http.StatusOK || at == "" || m["token_type"] != "DPoP" {
		t.Fatalf("%s: refresh = %d %v (%v), want 200 with a DPoP token", what, st, m["error"], m["error_description"])
	}
	if jkt := ts.jktOf(t, at); jkt != g.d.jkt {
		t.Errorf("%s: access token cnf.jkt = %q, want the proof's key %q", what, jkt, g.d.jkt)
	}
	if _, ok := m["refresh_token"]; ok {
		t.Errorf("%s: the answer carries a refresh_token; a FAPI 2.0 client's is kept", what)
	}
	if m["id_token"] == nil {
		t.Errorf("%s: no ID token for an openid grant", what)
	}
	return at
}

// wantGrantRefused checks a refresh answer is 400 invalid_grant.
func wantGrantRefused(t *testing.T, what string, st int, m map[string]any) {
	t.Helper()
	if st != http.StatusBadRequest || m["error"] != "invalid_grant" || m["access_token"] != nil {
		t.Errorf("%s = %d %v (%v), want 400 invalid_grant", what, st, m["error"], m["error_description"])
	}
}

// TestFAPI2RefreshKept: under the FAPI 2.0 profile (the server's or the
// client's own) a refresh token is not rotated (FAPI 2.0 section
// 5.3.2.1): the same one refreshes twice, each time a DPoP token bound to
// the proof's key, audited; a refresh with another key's proof or none
// is refused and leaves it usable; a second server on the same store
// uses it too and sees its revocation (RFC 7009) at once; logout ends
// it. A client without the profile on the same server still rotates.
func TestFAPI2RefreshKept(t *testing.T) {
	for _, mode := range []string{"server", "client"} {
		t.Run(mode, func(t *testing.T) {
			backends(t, func(t *testing.T, cfg authz.Config) {
				extra := map[string]any{}
				if mode == "client" {
					extra["profile"] = "fapi2"
				} else {
					cfg.Profile = "fapi2"
				}
				cfg = codeFlowConfig(cfg)
				ts := startServer(t, cfg, serverOptions{NoDemo: true})
				ts.createUser(t, "ada")
				b := newBrowser(t)
				g := newFAPIGrant(t, ts, b, extra)
				tokenURL := ts.Public + "/oauth2/token"

				g.refreshOK(t, ts, "first refresh")
				g.refreshOK(t, ts, "second refresh with the same token")
				st, m := g.refresh(t, ts, g.tok.RefreshToken, newDPoPKey(t).proof(http.MethodPost, tokenURL, nil))
				wantProofRefused(t, "refresh with another key's proof", st, m)
				st, m = g.refresh(t, ts, g.tok.RefreshToken, "")
				wantProofRefused(t, "refresh without a proof", st, m)
				g.refreshOK(t, ts, "refresh after the refused ones")

				issued := 0
				for _, e := range ts.auditAll(t, url.Values{"type": {adminapi.EventTokenIssued}, "client_id": {g.c.ClientID}}) {
					if e.Details["grant"] == "refresh_token" {
						issued++
						if e.Details["refresh_token"] != "" || e.Details["jti"] == "" {
							t.Errorf("refresh audit entry details = %v, want a jti and no refresh token issued", e.Details)
						}
					}
				}
				if issued != 3 {
					t.Errorf("token.issued entries of refreshes = %d, want 3", issued)
				}

				// A second server on the same store: it refreshes with the
				// token, and refuses it as soon as the first revoked it.
				replica := startServer(t, cfg, serverOptions{ReplicaOf: ts.harnessServer, NoDemo: true})
				g.refreshOK(t, replica, "refresh on the second server")
				ts.revoke(t, g.c, g.tok.RefreshToken)
				st, m = g.refresh(t, replica, g.tok.RefreshToken, g.d.proof(http.MethodPost, replica.Public+"/oauth2/token", nil))
				wantGrantRefused(t, "refresh on the second server after revocation on the first", st, m)
				st, m = g.refresh(t, ts, g.tok.RefreshToken, g.d.proof(http.MethodPost, tokenURL, nil))
				wantGrantRefused(t, "refresh after revocation", st, m)

				// Logout ends a kept refresh token too.
				g2 := newFAPIGrant(t, ts, b, extra)
				g2.refreshOK(t, ts, "refresh of a new grant")
				idt, _ := g2.tok.Extra("id_token").(string)
				redirectedToClient(t, b.get(endSession(ts, url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {fapiSignedOut}})), fapiSignedOut)
				st, m = g2.refresh(t, ts, g2.tok.RefreshToken, g2.d.proof(http.MethodPost, tokenURL, nil))
				wantGrantRefused(t, "refresh after logout", st, m)

				if mode == "client" {
					// A client without the profile keeps rotating.
					c := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Plain"})
					v := oauth2.GenerateVerifier()
					first := ts.redeemOK(t, c, newCode(t, ts, b, c, v), v)
					st, body := ts.refresh(t, c, first.RefreshToken)
					if second := decodeTokens(t, st, body); second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
						t.Errorf("a client without the profile got refresh token %q, want a new one", second.RefreshToken)
					}
					if st, body := ts.refresh(t, c, first.RefreshToken); st != http.StatusBadRequest {
						t.Errorf("its rotated refresh token again = %d %s, want 400", st, body)
					}
				}
			})
		})
	}
}

// TestFAPI2RefreshLifetime: a kept refresh token's expiry is not moved by
// its use, each refresh ends the grant's earlier access token, and no
// refresh passes RefreshTokenMaxLifetime from the code's redemption.
func TestFAPI2RefreshLifetime(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		const life = 3 * time.Hour
		clock := testutil.NewClock(time.Now().Truncate(time.Second))
		cfg.Now = clock.Now
		cfg.RefreshTokenTTL, cfg.RefreshTokenMaxLifetime = life, life
		cfg.Profile = "fapi2"
		ts := startServer(t, codeFlowConfig(cfg), serverOptions{NoDemo: true})
		user := ts.createUser(t, "ada")
		start := clock.Now()
		g := newFAPIGrant(t, ts, newBrowser(t), nil)
		g.now = clock.Now
		for range 2 {
			clock.Advance(time.Hour)
			g.refreshOK(t, ts, "refresh within the lifetime")
			if got := ts.usableRefreshRecord(t, user.ID).ExpiresAt; !got.Equal(start.Add(life)) {
				t.Errorf("kept refresh token expires at start+%v, want start+%v", got.Sub(start), life)
			}
		}
		if n := ts.accessTokenRecords(t, user.ID); n != 1 {
			t.Errorf("access token records after two refreshes = %d, want 1: each refresh ends the earlier one", n)
		}
		clock.Advance(time.Hour)
		st, m := g.refresh(t, ts, g.tok.RefreshToken, g.proof(ts.Public+"/oauth2/token"))
		wantGrantRefused(t, "refresh at the end of the lifetime", st, m)
	})
}

// TestFAPI2RefreshKeptCertificate: a FAPI 2.0 client authenticated with
// its TLS certificate (tls_client_auth) refreshes twice with the same
// refresh token, each access token bound to the certificate; another
// certificate of the same client (its subject DN, so it authenticates)
// is refused: the kept refresh token stays bound to the certificate its
// grant began with.
func TestFAPI2RefreshKeptCertificate(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		e := newTLSEnv(t)
		cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSClientCAFile = e.certFile, e.keyFile, e.clientCAFile
		ts := startServer(t, codeFlowConfig(cfg), serverOptions{NoDemo: true})
		ts.createUser(t, "ada")
		jc := ts.createClient(t, map[string]any{"client_name": "Bank", "token_endpoint_auth_method": "tls_client_auth",
			"tls_client_auth_subject_dn": "CN=bank,O=Example", "grant_types": []string{"authorization_code", "refresh_token"},
			"redirect_uris": []string{fapiRedirect}, "scope": "openid offline_access", "profile": "fapi2"})
		subject := pkix.Name{CommonName: "bank", Organization: []string{"Example"}}
		cert := testutil.NewCert(t, testutil.CertOptions{Parent: e.clientCA, Subject: subject})
		renewed := testutil.NewCert(t, testutil.CertOptions{Parent: e.clientCA, Subject: subject})
		c := webClient{ClientJSON: jc, cfg: &oauth2.Config{ClientID: jc.ClientID, RedirectURL: fapiRedirect, Scopes: []string{"openid", "offline_access"}}}
		v := oauth2.GenerateVerifier()
		params := parParams(c, randomString(16), v, randomString(16))
		params.Set("client_id", jc.ClientID)
		st, body := postWith(t, e.httpClient(cert), ts.Public+"/oauth2/par", "", "", params, nil)
		var a parAnswer
		if err := json.Unmarshal(body, &a); err != nil || st != http.StatusCreated {
			t.Fatalf("push = %d %s", st, body)
		}
		br := newBrowser(t)
		br.client.Transport = e.httpClient(nil).Transport
		code := redirectedToClient(t, br.signIn(ts, ts.byReference(jc.ClientID, a.RequestURI), "ada", "allow"), fapiRedirect).query.Get("code")
		tokenURL := ts.Public + "/oauth2/token"
		st, body = postWith(t, e.httpClient(cert), tokenURL, "", "", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {fapiRedirect}, "client_id": {jc.ClientID}, "code_verifier": {v}}, nil)
		first := decodeTokens(t, st, body)
		if first.RefreshToken == "" || ts.cnfOf(t, nil, first.AccessToken) != cert.Thumbprint() {
			t.Fatalf("redemption: refresh token %t, cnf %q; want one, bound to the certificate", first.RefreshToken != "", ts.cnfOf(t, nil, first.AccessToken))
		}
		refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {jc.ClientID}}
		for i := range 2 {
			st, body := postWith(t, e.httpClient(cert), tokenURL, "", "", refresh, nil)
			tok := decodeTokens(t, st, body)
			if tok.RefreshToken != "" || ts.cnfOf(t, nil, tok.AccessToken) != cert.Thumbprint() {
				t.Errorf("refresh %d: refresh_token %t, cnf %q; want none, and the certificate's", i+1, tok.RefreshToken != "", ts.cnfOf(t, nil, tok.AccessToken))
			}
		}
		st, body = postWith(t, e.httpClient(renewed), tokenURL, "", "", refresh, nil)
		if ec, _ := oauthErr(t, body); st != http.StatusBadRequest || ec != "invalid_grant" {
			t.Errorf("refresh with another certificate of the client = %d %q, want 400 invalid_grant", st, ec)
		}
		st, body = postWith(t, e.httpClient(cert), tokenURL, "", "", refresh, nil)
		decodeTokens(t, st, body)
	})
}

// accessTokenRecords counts the access token records in the person's data
// export.
func (ts *testServer) accessTokenRecords(t testing.TB, userID string) int {
	t.Helper()
	code, body := ts.adminJSON(t, http.MethodGet, "/admin/users/"+userID+"/export", nil)
	var export struct {
		Tokens []struct {
			Kind string `json:"kind"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal(body, &export); err != nil || code != http.StatusOK {
		t.Fatalf("export = %d %s", code, body)
	}
	n := 0
	for _, tok := range export.Tokens {
		if tok.Kind == "access_token" {
			n++
		}
	}
	return n
}
