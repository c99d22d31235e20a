package authz_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionClaims are the claims of a client assertion for clientID to
// aud, valid for a minute.
func assertionClaims(clientID, aud string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": clientID, "sub": clientID, "aud": aud, "jti": randomString(16),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
}

// signAssertion signs claims with key (private) and its alg and kid.
func signAssertion(t testing.TB, key jose.JSONWebKey, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if key.KeyID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), key.KeyID)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Algorithm), Key: key.Key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// handMadeJWS builds a compact JWS with any header, signed with HMAC-SHA256
// under hmacKey (or with no signature when hmacKey is nil), the way an
// attacker would.
func handMadeJWS(t testing.TB, header, claims map[string]any, hmacKey []byte) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	if hmacKey == nil {
		return in + "."
	}
	m := hmac.New(sha256.New, hmacKey)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// assertionForm is a client_credentials request authenticated by assertion.
func assertionForm(assertion string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"},
		"client_assertion_type": {jwtBearer}, "client_assertion": {assertion}}
}

func (ts *testServer) createClient(t testing.TB, in map[string]any) adminapi.ClientJSON {
	t.Helper()
	return adminCall[adminapi.ClientJSON](t, ts, http.MethodPost, "/admin/clients", in, http.StatusCreated)
}

func TestPrivateKeyJWT(t *testing.T) {
	backends(t, testPrivateKeyJWT)
}

func testPrivateKeyJWT(t *testing.T, cfg authz.Config) {
	// The refusals below are many failures of one client from one
	// address: more than the lock-out allows.
	cfg.ClientAuthMaxFailures, cfg.ClientAuthMaxFailuresPerIP = 1000, 1000
	ts := startServer(t, cfg)
	es, ed, rs := mustKey(t, jose.ES256), mustKey(t, jose.EdDSA), mustKey(t, jose.RS256)
	ps := rs
	ps.Algorithm = string(jose.PS256)
	rsPub := pub(rs)
	rsPub.Algorithm = "" // RS256 and PS256
	ps.KeyID = rsPub.KeyID
	c := ts.createClient(t, map[string]any{"client_id": "jwt-client", "token_endpoint_auth_method": "private_key_jwt",
		"scope": "identity.verify", "jwks": json.RawMessage(jwksJSON(t, pub(es), pub(ed), rsPub))})
	tokenURL := ts.Public + "/oauth2/token"
	issuer := ts.Public

	for _, k := range []jose.JSONWebKey{es, ed, rs, ps} {
		{
			t.Run("ok "+k.Algorithm, func(t *testing.T) {
				a := signAssertion(t, k, assertionClaims(c.ClientID, issuer))
				code, _, b := post(t, tokenURL, "", "", assertionForm(a))
				if code != http.StatusOK {
					t.Fatalf("token with a %s assertion = %d %s, want 200", k.Algorithm, code, b)
				}
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				_ = json.Unmarshal(b, &tok)
				if got := ts.verify(t, tok.AccessToken, jose.ES256); got.ClientID != c.ClientID || got.Subject != c.ClientID {
					t.Errorf("token claims = %+v, want client_id and sub %s", got, c.ClientID)
				}
				code, _, b = post(t, tokenURL, "", "", assertionForm(a))
				if code != http.StatusUnauthorized {
					t.Errorf("replayed assertion = %d %s, want 401", code, b)
				}
			})
		}
	}

	other := mustKey(t, jose.ES256)
	otherSameKid := other
	otherSameKid.KeyID = es.KeyID
	otherNoKid := other
	otherNoKid.KeyID = ""
	esNoKid := es
	esNoKid.KeyID = ""
	ecPubDER, _ := x509.MarshalPKIXPublicKey(es.Public().Key)
	ecPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPubDER})
	rsPubDER, _ := x509.MarshalPKIXPublicKey(rs.Public().Key)
	pubJWK, _ := json.Marshal(pub(es))
	with := func(mod func(m map[string]any)) map[string]any {
		m := assertionClaims(c.ClientID, issuer)
		mod(m)
		return m
	}
	now := time.Now()
	refusals := []struct {
		name      string
		assertion string
		extra     url.Values
		basic     [2]string
		want      int
	}{
		{"no kid, registered key", signAssertion(t, esNoKid, assertionClaims(c.ClientID, issuer)), nil, [2]string{}, 200},
		{"unregistered key", signAssertion(t, other, assertionClaims(c.ClientID, issuer)), nil, [2]string{}, 401},
		{"unregistered key with a registered kid", signAssertion(t, otherSameKid, assertionClaims(c.ClientID, issuer)), nil, [2]string{}, 401},
		{"unregistered key without kid", signAssertion(t, otherNoKid, assertionClaims(c.ClientID, issuer)), nil, [2]string{}, 401},
		{"expired", signAssertion(t, es, with(func(m map[string]any) {
			m["iat"], m["exp"] = now.Add(-3*time.Minute).Unix(), now.Add(-2*time.Minute).Unix()
		})), nil, [2]string{}, 401},
		{"lives too long", signAssertion(t, es, with(func(m map[string]any) { m["exp"] = now.Add(time.Hour).Unix() })), nil, [2]string{}, 401},
		{"exp - iat too long", signAssertion(t, es, with(func(m map[string]any) { m["iat"] = now.Add(-time.Hour).Unix() })), nil, [2]string{}, 401},
		{"issued in the future", signAssertion(t, es, with(func(m map[string]any) { m["iat"] = now.Add(4 * time.Minute).Unix() })), nil, [2]string{}, 401},
		{"not yet valid", signAssertion(t, es, with(func(m map[string]any) { m["nbf"] = now.Add(2 * time.Minute).Unix() })), nil, [2]string{}, 401},
		{"no exp", signAssertion(t, es, with(func(m map[string]any) { delete(m, "exp") })), nil, [2]string{}, 401},
		{"no jti", signAssertion(t, es, with(func(m map[string]any) { delete(m, "jti") })), nil, [2]string{}, 401},
		{"wrong aud", signAssertion(t, es, with(func(m map[string]any) { m["aud"] = "https://other.example" })), nil, [2]string{}, 401},
		// RFC 7523bis: only the issuer identifier, exactly, unless the
		// client's compatibility switch is on (below).
		{"aud token endpoint", signAssertion(t, es, with(func(m map[string]any) { m["aud"] = tokenURL })), nil, [2]string{}, 401},
		{"aud issuer with a slash", signAssertion(t, es, with(func(m map[string]any) { m["aud"] = issuer + "/" })), nil, [2]string{}, 401},
		{"aud issuer and token endpoint", signAssertion(t, es, with(func(m map[string]any) { m["aud"] = []string{issuer, tokenURL} })), nil, [2]string{}, 401},
		{"aud introspection endpoint", signAssertion(t, es, with(func(m map[string]any) { m["aud"] = issuer + "/oauth2/introspect" })), nil, [2]string{}, 401},
		{"two audiences", signAssertion(t, es, with(func(m map[string]any) { m["aud"] = []string{issuer, "https://other.example"} })), nil, [2]string{}, 401},
		{"iss differs from sub", signAssertion(t, es, with(func(m map[string]any) { m["iss"] = "someone-else" })), nil, [2]string{}, 401},
		{"sub of another client", signAssertion(t, es, with(func(m map[string]any) { m["iss"], m["sub"] = "demo-service", "demo-service" })), nil, [2]string{}, 401},
		{"unknown client", signAssertion(t, es, with(func(m map[string]any) { m["iss"], m["sub"] = "nobody", "nobody" })), nil, [2]string{}, 401},
		{"alg none", handMadeJWS(t, map[string]any{"alg": "none"}, assertionClaims(c.ClientID, issuer), nil), nil, [2]string{}, 401},
		{"HS256 with the PEM public key", handMadeJWS(t, map[string]any{"alg": "HS256", "kid": es.KeyID}, assertionClaims(c.ClientID, issuer), ecPubPEM), nil, [2]string{}, 401},
		{"HS256 with the DER public key", handMadeJWS(t, map[string]any{"alg": "HS256"}, assertionClaims(c.ClientID, issuer), rsPubDER), nil, [2]string{}, 401},
		{"HS256 with the JWK", handMadeJWS(t, map[string]any{"alg": "HS256"}, assertionClaims(c.ClientID, issuer), pubJWK), nil, [2]string{}, 401},
		{"ES256 header on the RSA key", handMadeJWS(t, map[string]any{"alg": "ES256", "kid": rs.KeyID}, assertionClaims(c.ClientID, issuer), rsPubDER), nil, [2]string{}, 401},
		{"garbage", "a.b.c", nil, [2]string{}, 401},
		{"JWE-shaped", "a.b.c.d.e", nil, [2]string{}, 401},
		{"wrong assertion type", signAssertion(t, es, assertionClaims(c.ClientID, issuer)), url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}}, [2]string{}, 400},
		{"assertion and Basic secret", signAssertion(t, es, assertionClaims(c.ClientID, issuer)), nil, [2]string{c.ClientID, "secret"}, 400},
		{"assertion and client_secret", signAssertion(t, es, assertionClaims(c.ClientID, issuer)), url.Values{"client_secret": {"secret"}}, [2]string{}, 400},
		{"client_id differs", signAssertion(t, es, assertionClaims(c.ClientID, issuer)), url.Values{"client_id": {"demo-service"}}, [2]string{}, 400},
		{"downgrade: client_id only", "", url.Values{"client_id": {c.ClientID}}, [2]string{}, 401},
		{"downgrade: a secret", "", nil, [2]string{c.ClientID, "guessed-secret"}, 401},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"}}
			if tt.assertion != "" {
				form = assertionForm(tt.assertion)
			}
			for k, v := range tt.extra {
				form[k] = v
			}
			code, _, b := post(t, tokenURL, tt.basic[0], tt.basic[1], form)
			if code != tt.want {
				t.Fatalf("token = %d %s, want %d", code, b, tt.want)
			}
			if code == 401 {
				if e, _ := oauthErr(t, b); e != "invalid_client" {
					t.Errorf("error = %q, want invalid_client", e)
				}
			}
		})
	}

	t.Run("token endpoint audience by the client's switch", func(t *testing.T) {
		k := mustKey(t, jose.ES256)
		in := map[string]any{"client_id": "jwt-compat", "token_endpoint_auth_method": "private_key_jwt",
			"scope": "identity.verify", "jwks": json.RawMessage(jwksJSON(t, pub(k))), "token_endpoint_audience_allowed": true}
		cc := ts.createClient(t, in)
		if !cc.TokenEndpointAudienceAllowed {
			t.Fatalf("created client = %+v, want token_endpoint_audience_allowed", cc)
		}
		for _, tt := range []struct {
			aud  any
			want int
		}{
			{tokenURL, 200}, {issuer, 200}, {issuer + "/", 401}, {issuer + "/oauth2/introspect", 401},
			{[]string{issuer, tokenURL}, 401}, {"https://other.example/oauth2/token", 401},
		} {
			m := assertionClaims(cc.ClientID, issuer)
			m["aud"] = tt.aud
			if code, _, b := post(t, tokenURL, "", "", assertionForm(signAssertion(t, k, m))); code != tt.want {
				t.Errorf("token with aud %v, switch on = %d %s, want %d", tt.aud, code, b, tt.want)
			}
		}
		created := ts.auditAll(t, url.Values{"type": {adminapi.EventClientCreated}, "client_id": {cc.ClientID}})
		if len(created) != 1 || created[0].Details["token_endpoint_audience_allowed"] != "true" {
			t.Errorf("client.created entries = %+v, want one with token_endpoint_audience_allowed true", created)
		}
		in["token_endpoint_audience_allowed"] = false
		if got := adminCall[adminapi.ClientJSON](t, ts, http.MethodPut, "/admin/clients/"+cc.ClientID, in, http.StatusOK); got.TokenEndpointAudienceAllowed {
			t.Fatalf("updated client = %+v, want token_endpoint_audience_allowed off", got)
		}
		if code, _, b := post(t, tokenURL, "", "", assertionForm(signAssertion(t, k, assertionClaims(cc.ClientID, tokenURL)))); code != http.StatusUnauthorized {
			t.Errorf("token with aud token endpoint, switch off = %d %s, want 401", code, b)
		}
		// Only a private_key_jwt client has assertions to relax.
		adminCall[map[string]any](t, ts, http.MethodPost, "/admin/clients", map[string]any{"client_id": "secret-compat",
			"token_endpoint_audience_allowed": true}, http.StatusBadRequest)
	})

	t.Run("secret client sends an assertion", func(t *testing.T) {
		a := signAssertion(t, es, assertionClaims(ts.Demo.Service.ClientID, issuer))
		if code, _, b := post(t, tokenURL, "", "", assertionForm(a)); code != http.StatusUnauthorized {
			t.Errorf("assertion for a client_secret_basic client = %d %s, want 401", code, b)
		}
	})

	t.Run("concurrent replay: one wins", func(t *testing.T) {
		a := signAssertion(t, ed, assertionClaims(c.ClientID, issuer))
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code, _, _ := post(t, tokenURL, "", "", assertionForm(a)); code == http.StatusOK {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 {
			t.Errorf("%d of 8 concurrent uses of one assertion succeeded, want 1", ok.Load())
		}
	})

	t.Run("introspection and revocation", func(t *testing.T) {
		rsKey := mustKey(t, jose.EdDSA)
		rsc := ts.createClient(t, map[string]any{"client_id": "jwt-rs", "token_endpoint_auth_method": "private_key_jwt",
			"grant_types": []string{}, "introspection_allowed": true, "jwks": json.RawMessage(jwksJSON(t, pub(rsKey)))})
		code, _, b := post(t, tokenURL, "", "", assertionForm(signAssertion(t, es, assertionClaims(c.ClientID, issuer))))
		if code != 200 {
			t.Fatalf("token = %d %s", code, b)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(b, &tok)
		form := url.Values{"token": {tok.AccessToken}, "client_assertion_type": {jwtBearer},
			"client_assertion": {signAssertion(t, rsKey, assertionClaims(rsc.ClientID, issuer))}}
		code, _, b = post(t, ts.Public+"/oauth2/introspect", "", "", form)
		var m map[string]any
		if code != 200 || json.Unmarshal(b, &m) != nil || m["active"] != true {
			t.Fatalf("introspect with an assertion = %d %s, want active", code, b)
		}
		code, _, b = post(t, ts.Public+"/oauth2/introspect", "", "", form)
		if code != http.StatusUnauthorized {
			t.Errorf("introspect with a replayed assertion = %d %s, want 401", code, b)
		}
		form = url.Values{"token": {tok.AccessToken}, "client_assertion_type": {jwtBearer},
			"client_assertion": {signAssertion(t, es, assertionClaims(c.ClientID, issuer))}}
		if code, _, b := post(t, ts.Public+"/oauth2/revoke", "", "", form); code != 200 {
			t.Fatalf("revoke with an assertion = %d %s", code, b)
		}
		ts.requireInactive(t, tok.AccessToken)
		// The audit entry names the client the assertion authenticated,
		// though the form named none.
		rv := ts.auditAll(t, url.Values{"type": {adminapi.EventTokenRevoked}})
		if len(rv) != 1 || rv[0].ClientID != c.ClientID || rv[0].Actor != "client:"+c.ClientID {
			t.Errorf("token.revoked entries = %+v, want one by %s", rv, c.ClientID)
		}
	})
}

// TestJWKSURIInternalAddress: without IDVAUTH_ALLOW_PRIVATE_OUTBOUND a
// jwks_uri that names an internal IP address is refused at registration,
// and one whose host name resolves to one is never connected to, so the
// server cannot be made to call its own network (issue 17 item 13).
// (Every other test runs with loopback allowed, testutil's default.)
func TestJWKSURIInternalAddress(t *testing.T) {
	k := mustKey(t, jose.ES256)
	var fetches atomic.Int32
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(jwksJSON(t, pub(k))))
	}))
	t.Cleanup(keys.Close)
	ts := startServer(t, authz.Config{AllowPrivateOutbound: []netip.Prefix{}})
	for _, uri := range []string{keys.URL + "/jwks.json", "https://10.0.0.7/jwks.json", "https://169.254.169.254/latest", "https://[fd00::1]/jwks", "https://100.64.0.1/jwks"} {
		adminCall[map[string]any](t, ts, http.MethodPost, "/admin/clients", map[string]any{"token_endpoint_auth_method": "private_key_jwt",
			"jwks_uri": uri}, http.StatusBadRequest)
	}
	_, port, _ := strings.Cut(strings.TrimPrefix(keys.URL, "http://"), ":")
	c := ts.createClient(t, map[string]any{"client_id": "jwt-rebind", "token_endpoint_auth_method": "private_key_jwt",
		"scope": "identity.verify", "jwks_uri": "http://localhost:" + port + "/jwks.json"})
	a := signAssertion(t, k, assertionClaims(c.ClientID, ts.Public))
	if code, _, b := post(t, ts.Public+"/oauth2/token", "", "", assertionForm(a)); code != http.StatusUnauthorized {
		t.Errorf("token with keys from a jwks_uri on localhost = %d %s, want 401", code, b)
	}
	if n := fetches.Load(); n != 0 {
		t.Errorf("the key server on loopback was reached %d times, want 0", n)
	}
}

// TestPrivateKeyJWTFromJWKSURI: keys come from the client's jwks_uri,
// fetched once and again only for an unknown kid, so that a client can
// add a key without the operator.
func TestPrivateKeyJWTFromJWKSURI(t *testing.T) {
	k1, k2 := mustKey(t, jose.ES256), mustKey(t, jose.EdDSA)
	var mu sync.Mutex
	served := jwksJSON(t, pub(k1))
	var fetches atomic.Int32
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(served))
	}))
	t.Cleanup(keys.Close)
	var skew atomic.Int64 // the server's clock runs this far ahead
	ts := startServer(t, authz.Config{Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	c := ts.createClient(t, map[string]any{"client_id": "jwt-uri", "token_endpoint_auth_method": "private_key_jwt",
		"scope": "identity.verify", "jwks_uri": keys.URL + "/jwks.json"})
	tokenURL := ts.Public + "/oauth2/token"
	for i := range 3 {
		if code, _, b := post(t, tokenURL, "", "", assertionForm(signAssertion(t, k1, assertionClaims(c.ClientID, ts.Public)))); code != 200 {
			t.Fatalf("token %d with a key from jwks_uri = %d %s", i, code, b)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("jwks_uri fetched %d times for 3 assertions with a known kid, want 1", n)
	}
	// A new kid within the refetch interval of the last fetch does not
	// make the server fetch again (a made-up kid cannot make it fetch on
	// every request); after the interval it does, once.
	mu.Lock()
	served = jwksJSON(t, pub(k1), pub(k2))
	mu.Unlock()
	if code, _, b := post(t, tokenURL, "", "", assertionForm(signAssertion(t, k2, assertionClaims(c.ClientID, ts.Public)))); code != 401 {
		t.Fatalf("token with a new kid within the refetch interval = %d %s, want 401", code, b)
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("jwks_uri fetched %d times within the refetch interval, want 1", n)
	}
	skew.Store(int64(31 * time.Second))
	for i := range 2 {
		if code, _, b := post(t, tokenURL, "", "", assertionForm(signAssertion(t, k2, assertionClaims(c.ClientID, ts.Public)))); code != 200 {
			t.Fatalf("token %d with the new key after the refetch interval = %d %s, want 200", i, code, b)
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("jwks_uri fetched %d times, want 2 (one refetch for the new kid)", n)
	}
}

// TestPrivateKeyJWTLockout: failed assertions count towards the client
// lock-out like wrong secrets, so forged assertions cannot be tried
// without end.
func TestPrivateKeyJWTLockout(t *testing.T) {
	ts := startServer(t, authz.Config{ClientAuthMaxFailures: 3, ClientAuthWindow: time.Minute})
	k := mustKey(t, jose.ES256)
	c := ts.createClient(t, map[string]any{"client_id": "jwt-lock", "token_endpoint_auth_method": "private_key_jwt",
		"jwks": json.RawMessage(jwksJSON(t, pub(k)))})
	forger := mustKey(t, jose.ES256)
	for i := range 3 {
		if code, _, b := post(t, ts.Public+"/oauth2/token", "", "", assertionForm(signAssertion(t, forger, assertionClaims(c.ClientID, ts.Public)))); code != 401 {
			t.Fatalf("forged assertion %d = %d %s, want 401", i, code, b)
		}
	}
	code, _, b := post(t, ts.Public+"/oauth2/token", "", "", assertionForm(signAssertion(t, k, assertionClaims(c.ClientID, ts.Public))))
	if code != http.StatusTooManyRequests {
		t.Errorf("good assertion after 3 forged ones = %d %s, want 429 (locked out)", code, b)
	}
}
