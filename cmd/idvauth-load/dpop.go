package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// prover makes DPoP proofs (RFC 9449 section 4.2) with one ES256 key: a
// fresh proof per request, with a random jti, iat now, htm POST and htu
// the endpoint's URL. Each worker has its own, so that workers neither
// share a key nor take a lock.
type prover struct {
	key *ecdsa.PrivateKey
	// head is the base64url of the JOSE header (typ dpop+jwt, alg ES256,
	// the public key as jwk), the same for every proof of the key.
	head string
	htu  string
	// jti and sig are reused buffers for the jti's random bytes and the
	// signature's r || s.
	jti [16]byte
	sig [64]byte
}

// newProver returns a prover with a new P-256 key, for proofs sent to htu.
func newProver(htu string) (*prover, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dpop key: %w", err)
	}
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, fmt.Errorf("dpop key: %w", err)
	}
	raw := pub.Bytes() // 0x04 || x || y
	head, err := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": map[string]string{
		"kty": "EC", "crv": "P-256",
		"x": base64.RawURLEncoding.EncodeToString(raw[1:33]), "y": base64.RawURLEncoding.EncodeToString(raw[33:]),
	}})
	if err != nil {
		return nil, fmt.Errorf("dpop header: %w", err)
	}
	return &prover{key: key, head: base64.RawURLEncoding.EncodeToString(head), htu: htu}, nil
}

// proof returns a new proof for a POST to p.htu at now.
func (p *prover) proof(now time.Time) (string, error) {
	if _, err := rand.Read(p.jti[:]); err != nil {
		return "", err
	}
	claims, err := json.Marshal(struct {
		JTI string `json:"jti"`
		HTM string `json:"htm"`
		HTU string `json:"htu"`
		IAT int64  `json:"iat"`
	}{base64.RawURLEncoding.EncodeToString(p.jti[:]), http.MethodPost, p.htu, now.Unix()})
	if err != nil {
		return "", err
	}
	input := p.head + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, p.key, digest[:])
	if err != nil {
		return "", err
	}
	r.FillBytes(p.sig[:32])
	s.FillBytes(p.sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(p.sig[:]), nil
}

var dpopTokenType = []byte(`"token_type":"DPoP"`)

// checkDPoPToken accepts HTTP 200 with an access_token of token_type DPoP:
// a Bearer answer means the server did not bind the token to the proof.
func checkDPoPToken(status int, body []byte) string {
	if kind := checkToken(status, body); kind != "" {
		return kind
	}
	if !bytes.Contains(body, dpopTokenType) {
		return "not_dpop"
	}
	return ""
}

// dpopHeader returns a copy of h for one worker, whose DPoP value the
// worker replaces before each request.
func dpopHeader(h http.Header) http.Header {
	out := h.Clone()
	out["Dpop"] = []string{""}
	return out
}
