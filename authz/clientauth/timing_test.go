package clientauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
)

// TestFailuresCompareASecret: a request whose secret is never checked
// against a client's digest (an unknown client, or a client of another
// method) still compares it, with a dummy digest, so that it takes as
// long as a wrong secret and the time does not tell which client IDs
// exist (issue 17 item 10).
func TestFailuresCompareASecret(t *testing.T) {
	store := memory.New()
	sum := sha256.Sum256([]byte("right"))
	now := time.Now()
	for _, c := range []storage.Client{
		{ID: "known", Name: "known", SecretHash: sum[:], TokenEndpointAuthMethod: MethodBasic, CreatedAt: now, UpdatedAt: now},
		{ID: "jwt", Name: "jwt", TokenEndpointAuthMethod: MethodPrivateKeyJWT, JWKS: []byte(`{"keys":[]}`), CreatedAt: now, UpdatedAt: now},
	} {
		if err := store.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	a, err := New(Config{Store: store, Audit: audit.New(audit.Config{Disabled: true}), Issuer: "https://idv.example",
		MaxFailures: 1000, MaxFailuresPerIP: 1000, Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var compared [][]byte
	a.compare = func(hash []byte, secret string) error {
		compared = append(compared, hash)
		return compareSecret(hash, secret)
	}
	for _, tt := range []struct {
		name, id string
		want     []byte // the digest compared with
	}{
		{"wrong secret", "known", sum[:]},
		{"unknown client", "nobody", dummyDigest[:]},
		{"client of another method", "jwt", dummyDigest[:]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			compared = nil
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(""))
			r.SetBasicAuth(tt.id, "wrong")
			if _, err := a.Authenticate(t.Context(), r, url.Values{}); err == nil {
				t.Fatal("Authenticate = nil error, want invalid_client")
			}
			if len(compared) != 1 || !bytes.Equal(compared[0], tt.want) {
				t.Errorf("compared the secret with %x, want once with %x", compared, tt.want)
			}
		})
	}
}

// TestFailedAssertionsVerifyASignature: an assertion of an unknown client,
// or of a client of another method, is verified against a dummy key, so
// that it fails as slowly as a forged one of a private_key_jwt client.
func TestFailedAssertionsVerifyASignature(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1"}}})
	store := memory.New()
	sum := sha256.Sum256([]byte("right"))
	now := time.Now()
	for _, c := range []storage.Client{
		{ID: "secret", Name: "secret", SecretHash: sum[:], TokenEndpointAuthMethod: MethodBasic, CreatedAt: now, UpdatedAt: now},
		{ID: "jwt", Name: "jwt", TokenEndpointAuthMethod: MethodPrivateKeyJWT, JWKS: set, CreatedAt: now, UpdatedAt: now},
	} {
		if err := store.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	a, err := New(Config{Store: store, Audit: audit.New(audit.Config{Disabled: true}), Issuer: "https://idv.example",
		MaxFailures: 1000, MaxFailuresPerIP: 1000, Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var used []*jose.JSONWebKeySet
	a.verifyAssertion = func(p *parsedAssertion, set *jose.JSONWebKeySet) (assertionClaims, error) {
		used = append(used, set)
		return p.verify(set)
	}
	// Signed with a key no client has: a forgery.
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: forger}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, id string
		dummy    bool
	}{
		{"private_key_jwt client", "jwt", false},
		{"unknown client", "nobody", true},
		{"client of another method", "secret", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			used = nil
			raw, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: tt.id, Subject: tt.id, ID: tt.name, Audience: jwt.Audience{"https://idv.example"},
				Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(""))
			form := url.Values{"client_assertion_type": {JWTBearerAssertion}, "client_assertion": {raw}}
			if _, err := a.Authenticate(t.Context(), r, form); err == nil {
				t.Fatal("Authenticate(forged assertion) = nil error, want invalid_client")
			}
			if len(used) != 1 || (used[0] == a.dummyKeys) != tt.dummy {
				t.Errorf("verified with %d key sets (dummy: %t), want one, dummy %t", len(used), len(used) == 1 && used[0] == a.dummyKeys, tt.dummy)
			}
		})
	}
	// Each dummy key fits its algorithms.
	for _, alg := range assertionAlgs {
		n := 0
		for _, k := range a.dummyKeys.Keys {
			if keyFitsAlg(k, string(alg)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d dummy keys fit %s, want 1", n, alg)
		}
	}
}
