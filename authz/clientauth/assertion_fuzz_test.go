package clientauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// FuzzParseAssertion: the client assertion parser never panics, and what
// it accepts has one signature, an allowed algorithm, iss = sub, a jti
// and an exp.
func FuzzParseAssertion(f *testing.F) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		f.Fatal(err)
	}
	good, err := jwt.Signed(sig).Claims(map[string]any{"iss": "c", "sub": "c", "aud": "https://as", "jti": "j", "exp": 2000000000}).Serialize()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", "a.b.c", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJjIn0.", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
		good + "." + good, good[:len(good)/2]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := parseAssertion(raw)
		if err != nil {
			return
		}
		if len(p.tok.Headers) != 1 || !keyAlgAllowed(p.alg) {
			t.Fatalf("parseAssertion(%q) accepted alg %q with %d signatures", raw, p.alg, len(p.tok.Headers))
		}
		c := p.claims
		if c.Issuer == "" || c.Issuer != c.Subject || c.ID == "" || len(c.ID) > maxJTILen || c.Expiry == nil {
			t.Fatalf("parseAssertion(%q) accepted claims %+v", raw, c)
		}
	})
}

func keyAlgAllowed(alg string) bool {
	for _, a := range assertionAlgs {
		if string(a) == alg {
			return true
		}
	}
	return false
}
