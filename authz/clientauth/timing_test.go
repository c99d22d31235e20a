package clientauth

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

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
