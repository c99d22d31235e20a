package authz_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.uber.org/zap"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// dpopKey is a client's DPoP key: it signs a fresh proof per request.
type dpopKey struct {
	t   testing.TB
	key *ecdsa.PrivateKey
	jkt string
}

func newDPoPKey(t testing.TB) *dpopKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	thumb, err := (&jose.JSONWebKey{Key: k.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{t: t, key: k, jkt: base64.RawURLEncoding.EncodeToString(thumb)}
}

// proof signs a proof for method and u with claims overridden by extra.
func (d *dpopKey) proof(method, u string, extra map[string]any) string {
	d.t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: d.key},
		&jose.SignerOptions{EmbedJWK: true, ExtraHeaders: map[jose.HeaderKey]any{"typ": "dpop+jwt"}})
	if err != nil {
		d.t.Fatal(err)
	}
	c := map[string]any{"jti": randomString(22), "htm": method, "htu": u, "iat": time.Now().Unix()}
	for k, v := range extra {
		c[k] = v
	}
	out, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// RoundTrip adds a fresh proof to each request: how a real client sends
// DPoP through golang.org/x/oauth2.
func (d *dpopKey) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	u := *r.URL
	u.RawQuery = ""
	r.Header.Set("DPoP", d.proof(r.Method, u.String(), nil))
	return http.DefaultTransport.RoundTrip(r)
}

// TestDPoPClientCredentials: x/oauth2 with a DPoP proof per request gets
// a DPoP token bound to its key (cnf.jkt in the JWT and in
// introspection); a replayed proof, and every defect of a proof, is
// invalid_dpop_proof and issues nothing.
func TestDPoPClientCredentials(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		svc := ts.Demo.Service
		d := newDPoPKey(t)
		ctx := context.WithValue(t.Context(), oauth2.HTTPClient, &http.Client{Transport: d})
		tok, err := ts.ccConfig(svc, "identity.verify").Token(ctx)
		if err != nil {
			t.Fatalf("DPoP token: %v", err)
		}
		if tok.TokenType != "DPoP" {
			t.Errorf("token_type = %q, want DPoP", tok.TokenType)
		}
		parsed, err := jwt.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		ts.verify(t, tok.AccessToken, jose.ES256)
		var claims struct {
			Cnf map[string]string `json:"cnf"`
		}
		if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil || claims.Cnf["jkt"] != d.jkt {
			t.Errorf("access token cnf = %v (%v), want jkt %s", claims.Cnf, err, d.jkt)
		}
		m, _ := ts.introspect(t, tok.AccessToken)
		if cnf, _ := m["cnf"].(map[string]any); m["active"] != true || m["token_type"] != "DPoP" || cnf["jkt"] != d.jkt {
			t.Errorf("introspection = %v, want active, token_type DPoP, cnf.jkt %s", m, d.jkt)
		}
		// Without a proof: a Bearer token, no cnf.
		if plain, err := ts.ccConfig(svc, "identity.verify").Token(t.Context()); err != nil || !strings.EqualFold(plain.TokenType, "bearer") {
			t.Errorf("token without a proof = %v, %v; want Bearer", plain, err)
		}

		before := ts.countTokens(t)
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"}}
		tokenURL := ts.Public + "/oauth2/token"
		send := func(proofs ...string) (int, string) {
			req := formRequest(t, tokenURL, svc.ClientID, svc.ClientSecret, form)
			for _, p := range proofs {
				req.Header.Add("DPoP", p)
			}
			st, _, body := do(t, req)
			var e struct {
				Error string `json:"error"`
			}
			_ = json.Unmarshal(body, &e)
			return st, e.Error
		}
		replayed := d.proof(http.MethodPost, tokenURL, nil)
		if st, e := send(replayed); st != http.StatusOK {
			t.Fatalf("first use of a proof = %d %s", st, e)
		}
		before++ // the token just issued
		other := newDPoPKey(t)
		for name, proofs := range map[string][]string{
			"replayed":     {replayed},
			"two headers":  {d.proof(http.MethodPost, tokenURL, nil), d.proof(http.MethodPost, tokenURL, nil)},
			"htm GET":      {d.proof(http.MethodGet, tokenURL, nil)},
			"htu revoke":   {d.proof(http.MethodPost, ts.Public+"/oauth2/revoke", nil)},
			"iat old":      {d.proof(http.MethodPost, tokenURL, map[string]any{"iat": time.Now().Add(-5 * time.Minute).Unix()})},
			"no jti":       {d.proof(http.MethodPost, tokenURL, map[string]any{"jti": ""})},
			"garbage":      {"not-a-proof"},
			"foreign sig":  {spliceSignature(d.proof(http.MethodPost, tokenURL, nil), other.proof(http.MethodPost, tokenURL, nil))},
			"empty header": {""},
		} {
			if st, e := send(proofs...); st != http.StatusBadRequest || e != "invalid_dpop_proof" {
				t.Errorf("%s: token request = %d %s, want 400 invalid_dpop_proof", name, st, e)
			}
		}
		if n := ts.countTokens(t); n != before {
			t.Errorf("records after refused proofs = %d, want %d", n, before)
		}
	})
}

// spliceSignature is proof a with the signature of proof b.
func spliceSignature(a, b string) string {
	return a[:strings.LastIndexByte(a, '.')] + b[strings.LastIndexByte(b, '.'):]
}

// TestDPoPProofReplayAcrossReplicas: a proof used at one replica is
// refused at another that shares the database.
func TestDPoPProofReplayAcrossReplicas(t *testing.T) {
	dbURL := pgtest.URL(t)
	a := startServer(t, authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer})
	b := startServer(t, authz.Config{DatabaseURL: dbURL, Issuer: sharedIssuer}, serverOptions{ReplicaOf: a.harnessServer})
	svc := a.Demo.Service
	proof := newDPoPKey(t).proof(http.MethodPost, sharedIssuer+"/oauth2/token", nil)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"}}
	for i, srv := range []*testServer{a, b} {
		req := formRequest(t, srv.Public+"/oauth2/token", svc.ClientID, svc.ClientSecret, form)
		req.Header.Set("DPoP", proof)
		st, _, body := do(t, req)
		if want := []int{http.StatusOK, http.StatusBadRequest}[i]; st != want || (i == 1 && !strings.Contains(string(body), "invalid_dpop_proof")) {
			t.Errorf("proof at replica %d = %d %s, want %d", i, st, body, want)
		}
	}
}

// BenchmarkTokenHandlerDPoP is BenchmarkTokenHandler with a DPoP proof
// per request (signed beforehand, outside the timer): the difference is
// what checking a proof and remembering its jti cost the server.
func BenchmarkTokenHandlerDPoP(b *testing.B) {
	benchBackends(b, func(b *testing.B, cfg authz.Config) {
		cfg.Logger, cfg.JanitorInterval = zap.NewNop(), -1
		cfg.RateLimits = authz.RateLimits{TokenPerClient: -1, IntrospectPerClient: -1, PerIP: -1}
		ts := startServer(b, cfg)
		h, svc := ts.Srv.PublicHandler(), ts.Demo.Service
		d := newDPoPKey(b)
		proofs := make([]string, b.N)
		for i := range proofs {
			proofs[i] = d.proof(http.MethodPost, ts.Public+"/oauth2/token", nil)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r := tokenRequest(svc)
			r.Header.Set("DPoP", proofs[i])
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}
