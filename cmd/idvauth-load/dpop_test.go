package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// dpopServer is a token endpoint that checks each request's DPoP proof as
// RFC 9449 section 4.3 asks (signature by the embedded key, typ, alg,
// htm, htu, iat, a jti not seen before) and remembers the keys it saw.
type dpopServer struct {
	t      testing.TB
	url    string
	bearer bool // answer Bearer tokens, as a server that ignored the proof

	mu   sync.Mutex
	jtis map[string]bool
	keys map[string]int // x coordinate -> proofs
}

func newDPoPServer(t testing.TB, bearer bool) *dpopServer {
	d := &dpopServer{t: t, bearer: bearer, jtis: map[string]bool{}, keys: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(d.token))
	t.Cleanup(srv.Close)
	d.url = srv.URL
	return d
}

func (d *dpopServer) token(w http.ResponseWriter, r *http.Request) {
	if !authorized(r, testClientID, testClientSecret) {
		writeAnswer(w, http.StatusUnauthorized, `{"error":"invalid_client"}`)
		return
	}
	x, err := d.check(r.Header.Get("DPoP"), d.url+"/oauth2/token")
	if err != nil {
		d.t.Errorf("proof: %v", err)
		writeAnswer(w, http.StatusBadRequest, `{"error":"invalid_dpop_proof"}`)
		return
	}
	d.mu.Lock()
	d.keys[x]++
	d.mu.Unlock()
	typ := "DPoP"
	if d.bearer {
		typ = "Bearer"
	}
	writeAnswer(w, http.StatusOK, fmt.Sprintf(`{"access_token":"tok","token_type":%q,"expires_in":300}`, typ))
}

// check verifies proof for a POST to htu and returns its key's x.
func (d *dpopServer) check(proof, htu string) (string, error) {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return "", errors.New("not a compact JWS")
	}
	var head struct {
		Typ, Alg string
		JWK      struct{ Kty, Crv, X, Y string }
	}
	var claims struct {
		JTI, HTM, HTU string
		IAT           int64
	}
	if err := decodePart(parts[0], &head); err != nil {
		return "", err
	}
	if err := decodePart(parts[1], &claims); err != nil {
		return "", err
	}
	if head.Typ != "dpop+jwt" || head.Alg != "ES256" || head.JWK.Kty != "EC" || head.JWK.Crv != "P-256" {
		return "", fmt.Errorf("header %+v", head)
	}
	xb, _ := base64.RawURLEncoding.DecodeString(head.JWK.X)
	yb, _ := base64.RawURLEncoding.DecodeString(head.JWK.Y)
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, xb...), yb...))
	if err != nil {
		return "", fmt.Errorf("jwk: %w", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if len(sig) != 64 || !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return "", errors.New("signature does not verify")
	}
	if claims.HTM != http.MethodPost || claims.HTU != htu || claims.JTI == "" {
		return "", fmt.Errorf("claims %+v, want htm POST, htu %s, a jti", claims, htu)
	}
	if age := time.Since(time.Unix(claims.IAT, 0)); age < -time.Minute || age > time.Minute {
		return "", fmt.Errorf("iat %d is %v away", claims.IAT, age)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.jtis[claims.JTI] {
		return "", errors.New("jti used twice")
	}
	d.jtis[claims.JTI] = true
	return head.JWK.X, nil
}

func decodePart(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// TestDPoPMode: with -dpop each request carries a fresh proof that
// verifies, every worker proves with a key of its own, and a Bearer
// answer counts as an error (the server did not bind the token).
func TestDPoPMode(t *testing.T) {
	d := newDPoPServer(t, false)
	r, out, err := runJSON(t, []string{"-target", d.url, "-dpop", "-workers", "4", "-requests", "100", "-client-id", testClientID},
		env(map[string]string{envClientSecret: testClientSecret}))
	if err != nil || r.OK != 100 || r.Errors != 0 {
		t.Fatalf("run = %v, report %+v; want 100 ok", err, r)
	}
	if len(d.jtis) != 100 {
		t.Errorf("distinct jtis = %d, want 100 (a fresh proof per request)", len(d.jtis))
	}
	if len(d.keys) != 4 {
		t.Errorf("distinct keys = %d, want one per worker (4)", len(d.keys))
	}
	assertNoSecrets(t, out)

	b := newDPoPServer(t, true)
	r, _, err = runJSON(t, []string{"-target", b.url, "-dpop", "-workers", "2", "-requests", "10", "-client-id", testClientID},
		env(map[string]string{envClientSecret: testClientSecret}))
	if !errors.Is(err, errNoSuccess) || r.ErrorKinds["not_dpop"] != 10 {
		t.Errorf("Bearer answers to -dpop = %v, kinds %v; want 10 not_dpop and no success", err, r.ErrorKinds)
	}
}
