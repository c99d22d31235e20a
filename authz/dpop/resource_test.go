package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestNonces: a nonce is good in its slot and the next, under any key,
// and not after; a forged or altered one never.
func TestNonces(t *testing.T) {
	k1, k2 := []byte(strings.Repeat("a", 32)), []byte(strings.Repeat("b", 32))
	n, err := NewNonces([][]byte{k1}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	nonce := n.At(now)
	if len(nonce) != 24 || n.At(now.Add(time.Minute)) == nonce {
		t.Errorf("nonce %q: want 24 characters, another in the next slot", nonce)
	}
	for d, want := range map[time.Duration]bool{0: true, 59 * time.Second: true, 2*time.Minute - time.Second: true, 2 * time.Minute: false, -time.Minute: false} {
		if got := n.Valid(nonce, now.Add(d)); got != want {
			t.Errorf("nonce of now valid %s later = %t, want %t", d, got, want)
		}
	}
	for _, bad := range []string{"", "x", nonce + "x", strings.ToUpper(nonce)} {
		if bad != nonce && n.Valid(bad, now) {
			t.Errorf("nonce %q valid", bad)
		}
	}
	rotated, _ := NewNonces([][]byte{k2, k1}, time.Minute)
	other, _ := NewNonces([][]byte{k2}, time.Minute)
	if !rotated.Valid(nonce, now) || other.Valid(nonce, now) {
		t.Error("after rotation the old key's nonce must be valid while the key is listed, and not under another key alone")
	}
	if _, err := NewNonces(nil, 0); err == nil {
		t.Error("NewNonces without a key succeeded")
	}
	if _, err := NewNonces([][]byte{[]byte("short")}, 0); err == nil {
		t.Error("NewNonces with a short key succeeded")
	}
}

// TestCheckAccess: the rules of RFC 9449 section 7 for each pairing of
// scheme and token, and the nonce at a resource.
func TestCheckAccess(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	nonces, _ := NewNonces([][]byte{[]byte(strings.Repeat("k", 32))}, 0)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jkt := thumb(t, key)
	const ui = "https://idp.example/userinfo"
	tok := "the-token"
	sum := sha256.Sum256([]byte(tok))
	ath := base64.RawURLEncoding.EncodeToString(sum[:])
	proof := func(extra map[string]any) string {
		c := goodClaims(now)
		c["htm"], c["htu"], c["ath"], c["jti"] = "GET", ui, ath, base64.RawURLEncoding.EncodeToString([]byte(time.Now().String()))
		for k, v := range extra {
			c[k] = v
		}
		return sign(t, key, jose.ES256, nil, c)
	}
	for _, tc := range []struct {
		name          string
		nonces        bool
		scheme, jkt   string
		proof         string
		code, wantNon string
	}{
		{"bearer as Bearer", false, SchemeBearer, "", "", "", ""},
		{"bound as DPoP", false, SchemeDPoP, jkt, proof(nil), "", ""},
		{"bound as Bearer", false, SchemeBearer, jkt, proof(nil), "invalid_token", ""},
		{"bearer as DPoP", false, SchemeDPoP, "", proof(nil), "invalid_token", ""},
		{"other key", false, SchemeDPoP, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", proof(nil), "invalid_token", ""},
		{"wrong ath", false, SchemeDPoP, jkt, proof(map[string]any{"ath": "x"}), "invalid_dpop_proof", ""},
		{"no nonce", true, SchemeDPoP, jkt, proof(nil), "use_dpop_nonce", nonces.At(now)},
		{"nonce", true, SchemeDPoP, jkt, proof(map[string]any{"nonce": nonces.At(now)}), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Replay: (&memReplay{seen: map[string]bool{}}).use, Now: func() time.Time { return now }}
			if tc.nonces {
				cfg.Nonces = nonces
			}
			v, _ := New(cfg)
			r := httptest.NewRequest(http.MethodGet, ui, nil)
			if tc.proof != "" {
				r.Header.Set(Header, tc.proof)
			}
			err := v.CheckAccess(context.Background(), r, ui, tc.scheme, tok, tc.jkt)
			var re *ResourceError
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("CheckAccess = %v, want nil", err)
			case tc.code != "" && (!errors.As(err, &re) || re.Code != tc.code || re.Nonce != tc.wantNon):
				t.Fatalf("CheckAccess = %v, want %s (nonce %q)", err, tc.code, tc.wantNon)
			case re != nil:
				w := httptest.NewRecorder()
				re.Write(w)
				if ch := w.Header().Get("WWW-Authenticate"); w.Code != http.StatusUnauthorized || !strings.HasPrefix(ch, `DPoP algs="ES256 EdDSA PS256 RS256", error="`+tc.code+`"`) {
					t.Errorf("answer = %d %q", w.Code, ch)
				}
			}
		})
	}
}

// TestAccessToken: the scheme of the Authorization header, without
// regard to case; anything else is no token.
func TestAccessToken(t *testing.T) {
	for h, want := range map[string]string{"Bearer t": "Bearer", "bearer t": "Bearer", "DPoP t": "DPoP", "dpop  t": "DPoP", "Basic t": "", "DPoP ": "", "DPoP": "", "": ""} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		scheme, tok, ok := AccessToken(r)
		if scheme != want || ok != (want != "") || ok && tok != "t" {
			t.Errorf("AccessToken(%q) = %q %q %t, want %q", h, scheme, tok, ok, want)
		}
	}
}

// TestBind: what a token request needs, by grant.
func TestBind(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jkt := thumb(t, key)
	other := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, tc := range []struct {
		name  string
		proof bool
		g     Grant
		want  string // the bound jkt, or "refused"
	}{
		{"bearer", false, Grant{Type: "client_credentials"}, ""},
		{"proof", true, Grant{Type: "client_credentials"}, jkt},
		{"required, none", false, Grant{Type: "client_credentials", Required: true}, "refused"},
		{"bound code, none", false, Grant{Type: "authorization_code", Bound: jkt}, "refused"},
		{"bound code, its key", true, Grant{Type: "authorization_code", Bound: jkt}, jkt},
		{"bound code, another key", true, Grant{Type: "authorization_code", Bound: other}, "refused"},
		{"public refresh, another key", true, Grant{Type: "refresh_token", Bound: other, Public: true}, "refused"},
		{"confidential refresh, another key", true, Grant{Type: "refresh_token", Bound: other}, jkt},
		{"confidential refresh, none", false, Grant{Type: "refresh_token", Bound: other}, "refused"},
		{"kept refresh, another key", true, Grant{Type: "refresh_token", Bound: other, Kept: true}, "refused"},
		{"kept refresh, its key", true, Grant{Type: "refresh_token", Bound: jkt, Kept: true}, jkt},
	} {
		v, _ := New(Config{Replay: (&memReplay{seen: map[string]bool{}}).use, Now: func() time.Time { return now }})
		r := httptest.NewRequest(http.MethodPost, htu, nil)
		if tc.proof {
			r.Header.Set(Header, sign(t, key, jose.ES256, nil, goodClaims(now)))
		}
		got, err := v.Bind(context.Background(), r, htu, tc.g)
		if err != nil {
			got = "refused"
			if !isInvalid(err, "") {
				t.Errorf("%s: %v, want invalid_dpop_proof", tc.name, err)
			}
		}
		if got != tc.want {
			t.Errorf("%s: Bind = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func thumb(t testing.TB, key *ecdsa.PrivateKey) string {
	t.Helper()
	b, err := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
