package authz_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// ath is the access token hash of a proof to a resource.
func ath(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// userinfoCall sends GET /userinfo with the Authorization header auth
// and the DPoP proof (none if "") and returns the status, the headers and
// the error code.
func (ts *testServer) userinfoCall(t testing.TB, auth, proof string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.Public+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	st, h, body := do(t, req)
	var m struct {
		Error string `json:"error"`
		Sub   string `json:"sub"`
	}
	_ = json.Unmarshal(body, &m)
	if st == http.StatusOK && m.Sub == "" {
		t.Errorf("userinfo 200 without sub: %s", body)
	}
	return st, h, m.Error
}

// dpopCodeToken runs the code flow for c with x/oauth2 and proofs of d,
// and returns the DPoP-bound access token.
func dpopCodeToken(t testing.TB, ts *testServer, b *browser, c webClient, d *dpopKey) *oauth2.Token {
	t.Helper()
	v := oauth2.GenerateVerifier()
	code := redirectedToClient(t, b.signIn(ts, authURL(c, randomString(16), v, "n"), "ada", "allow"), redirectURI).query.Get("code")
	tok, err := c.cfg.Exchange(dpopContext(t, d), code, oauth2.VerifierOption(v))
	if err != nil || tok.TokenType != "DPoP" {
		t.Fatalf("DPoP code exchange = %v, %v", tok, err)
	}
	return tok
}

// TestDPoPUserinfo: /userinfo takes a DPoP-bound token with the DPoP
// scheme and a proof of its key for that request (RFC 9449 section 7);
// the token sent as Bearer, a proof without the token's hash, of another
// key, replayed or for another URI, and a bearer token sent with the DPoP
// scheme are each refused with 401 and the DPoP challenge (section 7.1).
func TestDPoPUserinfo(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, b := startCodeFlow(t, cfg)
		d, other := newDPoPKey(t), newDPoPKey(t)
		tok := dpopCodeToken(t, ts, b, c, d).AccessToken
		ui := ts.Public + "/userinfo"
		good := func(k *dpopKey, extra map[string]any) string {
			c := map[string]any{"ath": ath(tok)}
			for key, v := range extra {
				c[key] = v
			}
			return k.proof(http.MethodGet, ui, c)
		}
		if st, _, e := ts.userinfoCall(t, "DPoP "+tok, good(d, nil)); st != http.StatusOK {
			t.Fatalf("userinfo with DPoP and a good proof = %d %s", st, e)
		}
		replayed := good(d, nil)
		if st, _, _ := ts.userinfoCall(t, "dpop "+tok, replayed); st != http.StatusOK {
			t.Fatalf("userinfo with the scheme in lower case = %d", st)
		}
		bearer, err := c.cfg.Exchange(t.Context(), newCode(t, ts, b, c, "v"+strings.Repeat("x", 50)), oauth2.VerifierOption("v"+strings.Repeat("x", 50)))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, auth, proof, code string
		}{
			{"bound token as Bearer", "Bearer " + tok, "", "invalid_token"},
			{"bound token as Bearer with a proof", "Bearer " + tok, good(d, nil), "invalid_token"},
			{"no proof", "DPoP " + tok, "", "invalid_dpop_proof"},
			{"no ath", "DPoP " + tok, d.proof(http.MethodGet, ui, nil), "invalid_dpop_proof"},
			{"ath of another token", "DPoP " + tok, good(d, map[string]any{"ath": ath(tok + "x")}), "invalid_dpop_proof"},
			{"another key", "DPoP " + tok, good(other, nil), "invalid_token"},
			{"replayed", "DPoP " + tok, replayed, "invalid_dpop_proof"},
			{"htm POST", "DPoP " + tok, d.proof(http.MethodPost, ui, map[string]any{"ath": ath(tok)}), "invalid_dpop_proof"},
			{"htu token endpoint", "DPoP " + tok, d.proof(http.MethodGet, ts.Public+"/oauth2/token", map[string]any{"ath": ath(tok)}), "invalid_dpop_proof"},
			{"iat old", "DPoP " + tok, good(d, map[string]any{"iat": time.Now().Add(-10 * time.Minute).Unix()}), "invalid_dpop_proof"},
			{"bearer token with the DPoP scheme", "DPoP " + bearer.AccessToken, d.proof(http.MethodGet, ui, map[string]any{"ath": ath(bearer.AccessToken)}), "invalid_token"},
		} {
			st, h, e := ts.userinfoCall(t, tc.auth, tc.proof)
			ch := h.Get("WWW-Authenticate")
			if st != http.StatusUnauthorized || e != tc.code || !strings.HasPrefix(ch, "DPoP ") ||
				!strings.Contains(ch, `error="`+tc.code+`"`) || !strings.Contains(ch, `algs="ES256 EdDSA PS256 RS256"`) {
				t.Errorf("%s: userinfo = %d %s, challenge %q; want 401 %s with the DPoP challenge", tc.name, st, e, ch, tc.code)
			}
		}
		// A bearer token as Bearer still works; no token at all gets both
		// challenges.
		if st, _, e := ts.userinfoCall(t, "Bearer "+bearer.AccessToken, ""); st != http.StatusOK {
			t.Errorf("bearer token as Bearer = %d %s", st, e)
		}
		st, h, _ := ts.userinfoCall(t, "", "")
		if ch := h.Values("WWW-Authenticate"); st != http.StatusUnauthorized || len(ch) != 2 || !strings.HasPrefix(ch[0], "Bearer") || !strings.HasPrefix(ch[1], "DPoP algs=") {
			t.Errorf("userinfo without a token = %d, challenges %q; want Bearer and DPoP", st, ch)
		}
	})
}

// TestDPoPIntrospectRevoke: a client may send a proof to the
// introspection and revocation endpoints; a good one is accepted, a bad
// one is 400 invalid_dpop_proof and changes nothing.
func TestDPoPIntrospectRevoke(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		svc, rs := ts.Demo.Service, ts.Demo.ResourceServer
		d := newDPoPKey(t)
		tok, err := ts.ccConfig(svc, "identity.verify").Token(dpopContext(t, d))
		if err != nil {
			t.Fatal(err)
		}
		introURL, revokeURL := ts.Public+"/oauth2/introspect", ts.Public+"/oauth2/revoke"
		call := func(u, id, sec, proof string) (int, map[string]any) {
			req := formRequest(t, u, id, sec, url.Values{"token": {tok.AccessToken}})
			req.Header.Set("DPoP", proof)
			st, _, body := do(t, req)
			var m map[string]any
			_ = json.Unmarshal(body, &m)
			return st, m
		}
		if st, m := call(introURL, rs.ClientID, rs.ClientSecret, d.proof(http.MethodPost, introURL, nil)); st != http.StatusOK || m["active"] != true || m["token_type"] != "DPoP" {
			t.Errorf("introspection with a good proof = %d %v", st, m)
		}
		if st, m := call(introURL, rs.ClientID, rs.ClientSecret, d.proof(http.MethodPost, revokeURL, nil)); st != http.StatusBadRequest || m["error"] != "invalid_dpop_proof" {
			t.Errorf("introspection with a proof for revocation = %d %v", st, m)
		}
		if st, m := call(revokeURL, svc.ClientID, svc.ClientSecret, d.proof(http.MethodPost, introURL, nil)); st != http.StatusBadRequest || m["error"] != "invalid_dpop_proof" {
			t.Errorf("revocation with a proof for introspection = %d %v", st, m)
		}
		ts.requireActive(t, tok.AccessToken)
		if st, _ := call(revokeURL, svc.ClientID, svc.ClientSecret, d.proof(http.MethodPost, revokeURL, nil)); st != http.StatusOK {
			t.Errorf("revocation with a good proof = %d", st)
		}
		ts.requireInactive(t, tok.AccessToken)
	})
}

// TestDPoPNonce: with IDVAUTH_DPOP_NONCE on, a proof without the server's
// nonce is refused with use_dpop_nonce and a DPoP-Nonce header, 400 at
// the token endpoint and 401 with the challenge at /userinfo; the nonce
// one replica hands out is good at another (stateless, from the shared
// secrets), and a proof used at one is refused at the other.
func TestDPoPNonce(t *testing.T) {
	dbURL := pgtest.URL(t)
	cfg := codeFlowConfig(authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer, DPoPNonce: true})
	a := startServer(t, cfg)
	r := startServer(t, cfg, serverOptions{ReplicaOf: a.harnessServer})
	if a.discovery(t)["dpop_signing_alg_values_supported"] == nil {
		t.Error("discovery has no dpop_signing_alg_values_supported")
	}
	a.createUser(t, "ada")
	c := a.createWebClient(t, adminapi.ClientJSON{ClientName: "Nonce App"})
	b := newBrowser(t)
	d := newDPoPKey(t)
	tokenURL := sharedIssuer + "/oauth2/token"
	v := oauth2.GenerateVerifier()
	code := redirectedToClient(t, b.signIn(a, authURL(c, "state-nonce-1", v, "n"), "ada", "allow"), redirectURI).query.Get("code")
	redeem := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {v}}
	req := formRequest(t, a.Public+"/oauth2/token", c.ClientID, c.ClientSecret, redeem)
	req.Header.Set("DPoP", d.proof(http.MethodPost, tokenURL, nil))
	st, h, body := do(t, req)
	nonce := h.Get("DPoP-Nonce")
	var answer struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &answer)
	if st != http.StatusBadRequest || answer.Error != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("proof without a nonce = %d %s, DPoP-Nonce %q; want 400 use_dpop_nonce with a nonce", st, answer.Error, nonce)
	}
	for _, bad := range []string{"forged-nonce", nonce + "x"} {
		st, m := r.tokenCall(t, c, redeem, d.proof(http.MethodPost, tokenURL, map[string]any{"nonce": bad}))
		if st != http.StatusBadRequest || m["error"] != "use_dpop_nonce" {
			t.Errorf("proof with nonce %q = %d %v, want use_dpop_nonce", bad, st, m["error"])
		}
	}
	// The other replica takes the first one's nonce; the code was not
	// used up by the refusals.
	st, m := r.tokenCall(t, c, redeem, d.proof(http.MethodPost, tokenURL, map[string]any{"nonce": nonce}))
	tok, _ := m["access_token"].(string)
	if st != http.StatusOK || m["token_type"] != "DPoP" {
		t.Fatalf("redemption with the nonce at the other replica = %d %v", st, m["error"])
	}

	ui := sharedIssuer + "/userinfo"
	st, h, e := a.userinfoCall(t, "DPoP "+tok, d.proof(http.MethodGet, ui, map[string]any{"ath": ath(tok)}))
	if st != http.StatusUnauthorized || e != "use_dpop_nonce" || h.Get("DPoP-Nonce") == "" || !strings.Contains(h.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
		t.Errorf("userinfo proof without a nonce = %d %s (%q, %q), want 401 use_dpop_nonce", st, e, h.Get("DPoP-Nonce"), h.Get("WWW-Authenticate"))
	}
	proof := d.proof(http.MethodGet, ui, map[string]any{"ath": ath(tok), "nonce": h.Get("DPoP-Nonce")})
	if st, _, e := r.userinfoCall(t, "DPoP "+tok, proof); st != http.StatusOK {
		t.Errorf("userinfo with the nonce at the other replica = %d %s", st, e)
	}
	if st, _, e := a.userinfoCall(t, "DPoP "+tok, proof); st != http.StatusUnauthorized || e != "invalid_dpop_proof" {
		t.Errorf("userinfo proof replayed at the first replica = %d %s, want 401 invalid_dpop_proof", st, e)
	}
}
