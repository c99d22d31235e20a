package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/storage"
)

const htu = "https://idp.example/oauth2/token"

// sign makes a proof with key under alg, headers hdr (typ and jwk by
// default) and claims c.
func sign(t testing.TB, key any, alg jose.SignatureAlgorithm, hdr map[jose.HeaderKey]any, c map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"typ": "dpop+jwt"}, EmbedJWK: true}
	for k, v := range hdr {
		if k == "jwk" {
			opts.EmbedJWK = false
		}
		if v == nil {
			delete(opts.ExtraHeaders, k)
			continue
		}
		opts.ExtraHeaders[k] = v
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(c)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func goodClaims(now time.Time) map[string]any {
	return map[string]any{"jti": base64.RawURLEncoding.EncodeToString([]byte(now.String())), "htm": "POST", "htu": htu, "iat": now.Unix()}
}

// memReplay is a Replay over a map.
type memReplay struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (m *memReplay) use(_ context.Context, jkt, jti string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[jkt+" "+jti] {
		return storage.ErrAlreadyExists
	}
	m.seen[jkt+" "+jti] = true
	return nil
}

// TestCheck: a good proof of each algorithm passes once, with the key's
// RFC 7638 thumbprint; every defect of RFC 9449 section 4.3 is
// invalid_dpop_proof.
func TestCheck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	v, err := New(Config{Replay: (&memReplay{seen: map[string]bool{}}).use, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	check := func(proof string, mutate ...func(*http.Request)) (*Proof, error) {
		r, _ := http.NewRequest(http.MethodPost, htu, nil)
		r.Header.Set(Header, proof)
		for _, m := range mutate {
			m(r)
		}
		return v.Check(context.Background(), r, htu)
	}
	for _, tc := range []struct {
		name string
		key  any
		alg  jose.SignatureAlgorithm
		pub  crypto.PublicKey
	}{
		{"ES256", ec, jose.ES256, ec.Public()}, {"EdDSA", ed, jose.EdDSA, ed.Public()},
		{"PS256", rk, jose.PS256, rk.Public()}, {"RS256", rk, jose.RS256, rk.Public()},
	} {
		c := goodClaims(now)
		c["jti"] = "jti-" + tc.name
		proof := sign(t, tc.key, tc.alg, nil, c)
		p, err := check(proof)
		if err != nil {
			t.Fatalf("%s proof: %v", tc.name, err)
		}
		want, _ := (&jose.JSONWebKey{Key: tc.pub}).Thumbprint(crypto.SHA256)
		if p.JKT != base64.RawURLEncoding.EncodeToString(want) {
			t.Errorf("%s jkt = %s, want the key's thumbprint", tc.name, p.JKT)
		}
		if _, err := check(proof); !isInvalid(err, "used before") {
			t.Errorf("%s proof replayed: %v, want invalid_dpop_proof (used before)", tc.name, err)
		}
	}

	with := func(k string, val any) map[string]any {
		c := goodClaims(now)
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	privJWK := jose.JSONWebKey{Key: ec}
	for _, tc := range []struct {
		name   string
		proof  string
		mutate func(*http.Request)
		hint   string
	}{
		{"not a JWT", "not.a.jwt", nil, "compact JWS"},
		{"HS256", sign(t, []byte("0123456789abcdef0123456789abcdef"), jose.HS256, map[jose.HeaderKey]any{"jwk": nil}, goodClaims(now)), nil, "compact JWS"},
		{"typ JWT", sign(t, ec, jose.ES256, map[jose.HeaderKey]any{"typ": "JWT"}, goodClaims(now)), nil, "typ"},
		{"no typ", sign(t, ec, jose.ES256, map[jose.HeaderKey]any{"typ": nil}, goodClaims(now)), nil, "typ"},
		{"private jwk", sign(t, ec, jose.ES256, map[jose.HeaderKey]any{"jwk": privJWK}, goodClaims(now)), nil, ""},
		{"no jwk", sign(t, ec, jose.ES256, map[jose.HeaderKey]any{"jwk": nil}, goodClaims(now)), nil, "jwk"},
		{"other key's jwk", sign(t, ec, jose.ES256, map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: other.Public()}}, goodClaims(now)), nil, "signature"},
		{"no jti", sign(t, ec, jose.ES256, nil, with("jti", nil)), nil, "jti"},
		{"no htm", sign(t, ec, jose.ES256, nil, with("htm", nil)), nil, "htm"},
		{"no htu", sign(t, ec, jose.ES256, nil, with("htu", nil)), nil, "htu"},
		{"no iat", sign(t, ec, jose.ES256, nil, with("iat", nil)), nil, "iat"},
		{"iat text", sign(t, ec, jose.ES256, nil, with("iat", "now")), nil, "JSON"},
		{"long jti", sign(t, ec, jose.ES256, nil, with("jti", strings.Repeat("j", 257))), nil, "jti"},
		{"htm GET", sign(t, ec, jose.ES256, nil, with("htm", "GET")), nil, "htm"},
		{"htu other path", sign(t, ec, jose.ES256, nil, with("htu", "https://idp.example/oauth2/revoke")), nil, "htu"},
		{"htu other host", sign(t, ec, jose.ES256, nil, with("htu", "https://evil.example/oauth2/token")), nil, "htu"},
		{"htu relative", sign(t, ec, jose.ES256, nil, with("htu", "/oauth2/token")), nil, "htu"},
		{"iat old", sign(t, ec, jose.ES256, nil, with("iat", now.Add(-2*time.Minute).Unix())), nil, "iat"},
		{"iat future", sign(t, ec, jose.ES256, nil, with("iat", now.Add(2*time.Minute).Unix())), nil, "iat"},
		{"two headers", sign(t, ec, jose.ES256, nil, with("jti", "two")), func(r *http.Request) { r.Header.Add(Header, "x") }, "exactly one"},
		{"empty", "", nil, "missing"},
		{"too long", strings.Repeat("a", MaxProofLen+1), nil, "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mut []func(*http.Request)
			if tc.mutate != nil {
				mut = append(mut, tc.mutate)
			}
			if _, err := check(tc.proof, mut...); !isInvalid(err, tc.hint) {
				t.Errorf("Check(%s) = %v, want invalid_dpop_proof with a hint about %q", tc.name, err, tc.hint)
			}
		})
	}
	// query, fragment, case and default port do not matter in htu.
	if _, err := check(sign(t, ec, jose.ES256, nil, with("htu", "HTTPS://IDP.example:443/oauth2/token?x=1#f"))); err != nil {
		t.Errorf("htu with query, upper case and default port: %v", err)
	}
}

func isInvalid(err error, hint string) bool {
	rfc := fosite.ErrorToRFC6749Error(err)
	return err != nil && rfc.ErrorField == "invalid_dpop_proof" && rfc.CodeField == http.StatusBadRequest && strings.Contains(rfc.HintField, hint)
}

// FuzzParse: the proof parser never panics, and what it accepts carries
// every required claim and a thumbprint.
func FuzzParse(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Unix(1_800_000_000, 0)
	f.Add(sign(f, ec, jose.ES256, nil, goodClaims(now)))
	f.Add(sign(f, ec, jose.ES256, map[jose.HeaderKey]any{"typ": "JWT"}, goodClaims(now)))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, proof string) {
		p, err := Parse(proof)
		if err != nil {
			if rfc := fosite.ErrorToRFC6749Error(err); rfc.ErrorField != "invalid_dpop_proof" {
				t.Fatalf("Parse error %v is not invalid_dpop_proof", err)
			}
			return
		}
		if p.JKT == "" || p.JTI == "" || p.HTM == "" || p.HTU == "" {
			t.Fatalf("Parse(%q) = %+v: a required claim is empty", proof, p)
		}
	})
}
