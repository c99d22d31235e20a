package keys

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/idvauth/idvauth/storage/memory"
)

// benchClaims are the claims of an access token as authz issues them.
type benchClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JTI      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
}

var demoClaims = benchClaims{
	Issuer: "http://127.0.0.1:8080", Subject: "demo-service", Audience: []string{"idv-api"},
	Expiry: 1700000300, IssuedAt: 1700000000, JTI: "0123456789abcdefghijkl",
	ClientID: "demo-service", Scope: "identity.verify identity.read_status",
}

// appendClaims encodes c by appending, as authz's access-token strategy
// does: the hand-written path.
func appendClaims(b []byte, c benchClaims) []byte {
	b = append(b, `{"iss":`...)
	b = appendPlainString(b, c.Issuer)
	b = append(b, `,"sub":`...)
	b = appendPlainString(b, c.Subject)
	b = append(b, `,"aud":[`...)
	for i, a := range c.Audience {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPlainString(b, a)
	}
	b = append(b, `],"exp":`...)
	b = strconv.AppendInt(b, c.Expiry, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt, 10)
	b = append(b, `,"jti":`...)
	b = appendPlainString(b, c.JTI)
	b = append(b, `,"client_id":`...)
	b = appendPlainString(b, c.ClientID)
	b = append(b, `,"scope":`...)
	b = appendPlainString(b, c.Scope)
	return append(b, '}')
}

// appendPlainString appends s as a JSON string. It is the fast path of
// authz's appendJSONString (scan, then copy), so it panics on a string that
// would need escaping; the benchmark's strings need none.
func appendPlainString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			panic("appendPlainString: " + strconv.Quote(s) + " needs escaping")
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// goJoseSigner is the go-jose signer equivalent to k.SignJWT(typ, ...):
// header {"alg", "kid", "typ"}.
func goJoseSigner(tb testing.TB, k *Key, typ string) jose.Signer {
	tb.Helper()
	s, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Alg), Key: jose.JSONWebKey{Key: k.signer, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)),
	)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// signGoJose is the go-jose path: claims through encoding/json, then
// go-jose's signer, returning what SignJWT returns.
func signGoJose(s jose.Signer, c benchClaims) (token, signature string, err error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", "", err
	}
	if token, err = jws.CompactSerialize(); err != nil {
		return "", "", err
	}
	return token, SignatureOf(token), nil
}

// TestSignJWTMatchesGoJose checks that the hand-written path (appended
// claims, SignJWT) makes the token go-jose makes with encoding/json
// claims: the same header and payload bytes, a signature go-jose verifies,
// and for RS256, whose signatures are deterministic, the same token.
func TestSignJWTMatchesGoJose(t *testing.T) {
	payload := appendClaims(nil, demoClaims)
	want, err := json.Marshal(demoClaims)
	if err != nil {
		t.Fatal(err)
	}
	if string(payload) != string(want) {
		t.Fatalf("appendClaims = %s, want %s (encoding/json)", payload, want)
	}
	r := openRing(t, memory.New(), secretA)
	for _, alg := range Algorithms() {
		for _, typ := range []string{TypeAccessToken, TypeJWT} {
			t.Run(alg+"/"+typ, func(t *testing.T) {
				k, err := r.Active(alg)
				if err != nil {
					t.Fatal(err)
				}
				hand, handSig, err := k.SignJWT(typ, payload)
				if err != nil {
					t.Fatal(err)
				}
				lib, libSig, err := signGoJose(goJoseSigner(t, k, typ), demoClaims)
				if err != nil {
					t.Fatal(err)
				}
				algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)}
				hj, err := jose.ParseSignedCompact(hand, algs)
				if err != nil {
					t.Fatalf("go-jose cannot parse the hand-written token: %v", err)
				}
				lj, err := jose.ParseSignedCompact(lib, algs)
				if err != nil {
					t.Fatal(err)
				}
				hh, lh := hj.Signatures[0].Header, lj.Signatures[0].Header
				if hh.Algorithm != lh.Algorithm || hh.KeyID != lh.KeyID ||
					hh.ExtraHeaders[jose.HeaderType] != lh.ExtraHeaders[jose.HeaderType] || len(hh.ExtraHeaders) != len(lh.ExtraHeaders) {
					t.Errorf("hand-written header = alg %q kid %q extra %v, go-jose's = alg %q kid %q extra %v",
						hh.Algorithm, hh.KeyID, hh.ExtraHeaders, lh.Algorithm, lh.KeyID, lh.ExtraHeaders)
				}
				hp, lp := strings.Split(hand, "."), strings.Split(lib, ".")
				if hp[0] != lp[0] || hp[1] != lp[1] {
					t.Errorf("hand-written header.payload = %s.%s, go-jose's = %s.%s", hp[0], hp[1], lp[0], lp[1])
				}
				got, err := hj.Verify(k.Public().Key)
				if err != nil {
					t.Fatalf("go-jose verification of the hand-written token: %v", err)
				}
				if string(got) != string(payload) {
					t.Errorf("verified payload = %s, want %s", got, payload)
				}
				if handSig != hp[2] || libSig != lp[2] {
					t.Errorf("signature parts = %q, %q; want the tokens' last parts", handSig, libSig)
				}
				if alg == RS256 && hand != lib {
					t.Errorf("RS256 tokens differ:\nhand-written %s\ngo-jose      %s", hand, lib)
				}
			})
		}
	}
}

// BenchmarkSignJWT compares the hand-written path with go-jose, per
// algorithm:
//
//   - handwritten: claims appended to a reused buffer, then SignJWT;
//   - handwritten-json: claims through encoding/json, then SignJWT;
//   - go-jose: claims through encoding/json, then a go-jose signer made
//     once per key (as a ring would keep it) and CompactSerialize.
//
// handwritten against handwritten-json is the claim encoding's share;
// handwritten-json against go-jose is the signer's.
func BenchmarkSignJWT(b *testing.B) {
	r := openRing(b, memory.New(), secretA)
	for _, alg := range Algorithms() {
		k, err := r.Active(alg)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg+"/handwritten", func(b *testing.B) {
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				buf = appendClaims(buf[:0], demoClaims)
				if _, _, err := k.SignJWT(TypeAccessToken, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/handwritten-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				payload, err := json.Marshal(demoClaims)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := k.SignJWT(TypeAccessToken, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/go-jose", func(b *testing.B) {
			s := goJoseSigner(b, k, TypeAccessToken)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := signGoJose(s, demoClaims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
