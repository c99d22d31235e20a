package jwks

import (
	"crypto"
	"encoding/json"
	"fmt"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzParse: any bytes parse without a panic. A set that is accepted
// holds 1 to MaxKeys keys, all public and valid, no kid twice, and reads
// back the same once marshalled.
func FuzzParse(f *testing.F) {
	k := mustKeys(f)
	ec := jose.JSONWebKey{Key: &k.ec.PublicKey, KeyID: "ec", Algorithm: "ES256", Use: "sig"}
	rs := jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "rsa", Algorithm: "RS256"}
	ed := jose.JSONWebKey{Key: k.edPub, KeyID: "ed", Algorithm: "EdDSA"}
	for _, s := range []string{
		set(f, ec),
		set(f, rs),
		set(f, ed),
		set(f, ec, rs, ed),
		set(f, jose.JSONWebKey{Key: &k.ec.PublicKey}, jose.JSONWebKey{Key: k.edPub}),
		set(f, ec, jose.JSONWebKey{Key: k.edPub, KeyID: "ec"}),
		set(f, jose.JSONWebKey{Key: k.ec, KeyID: "private"}),
		set(f, jose.JSONWebKey{Key: k.rsa}),
		set(f, jose.JSONWebKey{Key: k.ed}),
		set(f, jose.JSONWebKey{Key: k.secret, KeyID: "hmac"}),
		set(f, jose.JSONWebKey{Key: &k.ec384.PublicKey}),
		set(f, jose.JSONWebKey{Key: &k.rsa1k.PublicKey}),
		set(f, jose.JSONWebKey{Key: k.edPub, Use: "enc"}),
		set(f, jose.JSONWebKey{Key: &k.ec.PublicKey, Algorithm: "none"}),
		`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","x":""}]}`,
		`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`,
		`{"keys":[]}`, `{"keys":null}`, `{"keys":{}}`, `{}`, `[]`, `null`, ``, `{"keys":[1,"a",null]}`,
		"\x00\xff{", `{"keys":[{}],"keys":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := Parse(raw)
		if err != nil {
			return
		}
		in := raw
		if len(in) > 200 {
			in = in[:200]
		}
		if n := len(got.Keys); n < 1 || n > MaxKeys {
			t.Fatalf("Parse(%q) = %d keys, want 1 to %d", in, n, MaxKeys)
		}
		kids := map[string]bool{}
		for i, key := range got.Keys {
			if !key.IsPublic() || !key.Valid() {
				t.Fatalf("Parse(%q) key %d: public %v, valid %v, want both", in, i, key.IsPublic(), key.Valid())
			}
			if key.KeyID != "" && kids[key.KeyID] {
				t.Fatalf("Parse(%q) key %d: kid %q twice", in, i, key.KeyID)
			}
			kids[key.KeyID] = true
		}
		out, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("Parse(%q) accepted a set that does not marshal: %v", in, err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) accepted, Parse(%q) = %v, want the set back", in, out, err)
		}
		if d := diff(got, again); d != "" {
			t.Fatalf("Parse(%q), marshalled and parsed again: %s", in, d)
		}
	})
}

// diff describes the first difference between two key sets, "" if none.
func diff(a, b *jose.JSONWebKeySet) string {
	if len(a.Keys) != len(b.Keys) {
		return fmt.Sprintf("%d keys, then %d", len(a.Keys), len(b.Keys))
	}
	for i := range a.Keys {
		x, y := a.Keys[i], b.Keys[i]
		pub, ok := x.Key.(interface{ Equal(crypto.PublicKey) bool })
		switch {
		case x.KeyID != y.KeyID || x.Algorithm != y.Algorithm || x.Use != y.Use:
			return fmt.Sprintf("key %d: kid, alg, use %q %q %q, then %q %q %q", i, x.KeyID, x.Algorithm, x.Use, y.KeyID, y.Algorithm, y.Use)
		case !ok || !pub.Equal(y.Key):
			return fmt.Sprintf("key %d: %T, then another %T", i, x.Key, y.Key)
		case len(x.Certificates) != len(y.Certificates):
			return fmt.Sprintf("key %d: %d certificates, then %d", i, len(x.Certificates), len(y.Certificates))
		}
		for j := range x.Certificates {
			if !x.Certificates[j].Equal(y.Certificates[j]) {
				return fmt.Sprintf("key %d: certificate %d differs", i, j)
			}
		}
	}
	return ""
}
