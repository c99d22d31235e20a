package jwks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// keys are the test's key pairs, generated once: RSA generation is slow.
type keys struct {
	ec     *ecdsa.PrivateKey
	ec384  *ecdsa.PrivateKey
	rsa    *rsa.PrivateKey
	rsa1k  *rsa.PrivateKey
	ed     ed25519.PrivateKey
	edPub  ed25519.PublicKey
	secret []byte
}

var testKeys = sync.OnceValues(func() (*keys, error) {
	var k keys
	var err error
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		return nil, err
	}
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	// 1024 bits, to be refused: Go generates no smaller RSA keys.
	if k.rsa1k, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
		return nil, err
	}
	if k.edPub, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	k.secret = []byte("0123456789abcdef0123456789abcdef")
	return &k, nil
})

func mustKeys(t testing.TB) *keys {
	t.Helper()
	k, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// set marshals a JSON Web Key Set of ks.
func set(t testing.TB, ks ...jose.JSONWebKey) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParse(t *testing.T) {
	k := mustKeys(t)
	ec := jose.JSONWebKey{Key: &k.ec.PublicKey, KeyID: "ec", Algorithm: "ES256", Use: "sig"}
	rs := jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "rsa", Algorithm: "PS256"}
	ed := jose.JSONWebKey{Key: k.edPub, KeyID: "ed"}
	noKid := jose.JSONWebKey{Key: &k.ec.PublicKey}
	edJSON := strings.TrimSuffix(strings.TrimPrefix(set(t, ed), `{"keys":[`), `]}`)
	many := make([]jose.JSONWebKey, MaxKeys+1)
	for i := range many {
		many[i] = jose.JSONWebKey{Key: k.edPub, KeyID: fmt.Sprint(i)}
	}
	for _, tt := range []struct {
		name, raw string
		keys      int    // accepted: how many
		err       string // refused: part of the error
	}{
		{name: "EC P-256", raw: set(t, ec), keys: 1},
		{name: "RSA 2048", raw: set(t, rs), keys: 1},
		{name: "RSA with RS256", raw: set(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, Algorithm: "RS256"}), keys: 1},
		{name: "Ed25519", raw: set(t, ed), keys: 1},
		{name: "all three", raw: set(t, ec, rs, ed), keys: 3},
		{name: "no kids", raw: set(t, noKid, noKid), keys: 2},
		{name: "MaxKeys", raw: set(t, many[:MaxKeys]...), keys: MaxKeys},
		{name: "unknown members", raw: `{"extra":true,"keys":[` + edJSON + `]}`, keys: 1},
		{name: "too large", raw: `{"keys":[` + strings.Repeat(" ", MaxBytes) + `]}`, err: "at most 16 KiB"},
		{name: "not JSON", raw: `keys`, err: "JSON Web Key Set"},
		{name: "no keys member", raw: `{}`, err: "JSON Web Key Set"},
		{name: "null keys", raw: `{"keys":null}`, err: "JSON Web Key Set"},
		{name: "a key, not a set", raw: edJSON, err: "JSON Web Key Set"},
		{name: "empty", raw: `{"keys":[]}`, err: "1 to 10 keys"},
		{name: "too many", raw: set(t, many...), err: "1 to 10 keys"},
		{name: "not a key", raw: `{"keys":[{"kty":"EC"}]}`, err: "key 0 is not a valid JSON Web Key"},
		{name: "unknown kty", raw: `{"keys":[{"kty":"OKP","crv":"X448","x":"AAAA"}]}`, err: "key 0 is not a valid JSON Web Key"},
		{name: "EC private", raw: set(t, jose.JSONWebKey{Key: k.ec, KeyID: "p"}), err: "private or symmetric"},
		{name: "RSA private", raw: set(t, jose.JSONWebKey{Key: k.rsa, KeyID: "p"}), err: "private or symmetric"},
		{name: "Ed25519 private", raw: set(t, jose.JSONWebKey{Key: k.ed, KeyID: "p"}), err: "private or symmetric"},
		{name: "private after a public one", raw: set(t, ec, jose.JSONWebKey{Key: k.rsa}), err: "key 1: holds a private"},
		{name: "symmetric", raw: set(t, jose.JSONWebKey{Key: k.secret, KeyID: "s"}), err: "private or symmetric"},
		{name: "P-384", raw: set(t, jose.JSONWebKey{Key: &k.ec384.PublicKey}), err: "P-256"},
		{name: "RSA 1024", raw: set(t, jose.JSONWebKey{Key: &k.rsa1k.PublicKey}), err: "at least 2048 bits"},
		{name: "use enc", raw: set(t, jose.JSONWebKey{Key: k.edPub, Use: "enc"}), err: `use must be "sig"`},
		{name: "alg of another key type", raw: set(t, jose.JSONWebKey{Key: &k.ec.PublicKey, Algorithm: "RS256"}), err: `alg "RS256" does not fit`},
		{name: "alg none", raw: set(t, jose.JSONWebKey{Key: k.edPub, Algorithm: "none"}), err: "does not fit"},
		{name: "HMAC alg", raw: set(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, Algorithm: "HS256"}), err: "does not fit"},
		{name: "long kid", raw: set(t, jose.JSONWebKey{Key: k.edPub, KeyID: strings.Repeat("k", 257)}), err: "kid must be at most 256"},
		{name: "kid used twice", raw: set(t, ec, jose.JSONWebKey{Key: k.edPub, KeyID: "ec"}), err: `key 1: kid "ec" is used twice`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.raw))
			in := tt.raw
			if len(in) > 60 {
				in = in[:60] + "…"
			}
			if tt.err == "" {
				if err != nil || len(got.Keys) != tt.keys {
					t.Fatalf("Parse(%s) = %v, %v, want %d keys", in, got, err, tt.keys)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Parse(%s) error = %v, want one with %q", in, err, tt.err)
			}
		})
	}
}

func TestCacheGet(t *testing.T) {
	k := mustKeys(t)
	one := []byte(set(t, jose.JSONWebKey{Key: k.edPub, KeyID: "a"}))
	two := []byte(set(t, jose.JSONWebKey{Key: k.edPub, KeyID: "b"}))
	var c Cache
	first, err := c.Get("c1", one)
	if err != nil {
		t.Fatalf("Get(c1, one) = %v", err)
	}
	if again, err := c.Get("c1", one); err != nil || again != first {
		t.Errorf("Get(c1, one) again = %p, %v, want the cached %p", again, err, first)
	}
	if changed, err := c.Get("c1", two); err != nil || changed == first || changed.Keys[0].KeyID != "b" {
		t.Errorf("Get(c1, two) = %v, %v, want the new set parsed", changed, err)
	}
	if _, err := c.Get("c1", []byte(`{"keys":[]}`)); err == nil || !strings.HasPrefix(err.Error(), "registered jwks: ") {
		t.Errorf(`Get(c1, {"keys":[]}) error = %v, want a "registered jwks: " one`, err)
	}
}
