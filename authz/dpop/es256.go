package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
)

// parseES256 verifies proof if it has the shape nearly every DPoP proof
// has: a compact JWS whose protected header holds exactly typ dpop+jwt,
// alg ES256 and a P-256 public jwk of exactly kty, crv, x and y (32 bytes
// each). It returns the payload and the key's RFC 7638 thumbprint; ok is
// false, and nothing is decided, for any other shape, which Parse hands
// to go-jose. A proof of that shape whose signature does not verify is
// refused, as go-jose would refuse it.
//
// The path exists for speed: go-jose's general parsing cost about a third
// of a proof's check, as much as the signature itself, on the token
// endpoint's hot path (a FAPI 2.0 client sends a proof with every token
// request). The checks are the same: one key, the signature of the
// header and payload as sent, r and s of 32 bytes each, a point on the
// curve.
func parseES256(proof string) (payload []byte, jkt string, ok bool, err error) {
	head, rest, found := strings.Cut(proof, ".")
	body, sig64, found2 := strings.Cut(rest, ".")
	if !found || !found2 || strings.Contains(sig64, ".") {
		return nil, "", false, nil
	}
	var h map[string]json.RawMessage
	if !decodeJSON(head, &h) || len(h) != 3 || string(h["typ"]) != `"dpop+jwt"` || string(h["alg"]) != `"ES256"` {
		return nil, "", false, nil
	}
	var k map[string]string
	if err := json.Unmarshal(h["jwk"], &k); err != nil || len(k) != 4 || k["kty"] != "EC" || k["crv"] != "P-256" {
		return nil, "", false, nil
	}
	x, errX := base64.RawURLEncoding.DecodeString(k["x"])
	y, errY := base64.RawURLEncoding.DecodeString(k["y"])
	sig, errS := base64.RawURLEncoding.DecodeString(sig64)
	payload, errP := base64.RawURLEncoding.DecodeString(body)
	if errX != nil || errY != nil || errS != nil || errP != nil || len(x) != 32 || len(y) != 32 || len(sig) != 64 {
		return nil, "", false, nil
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, "", false, nil // not on the curve: go-jose says so
	}
	digest := sha256.Sum256([]byte(proof[:len(head)+1+len(body)]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, "", true, ErrInvalidProof.WithHint("The DPoP proof's signature does not verify with its jwk.")
	}
	// RFC 7638: the required members in lexicographic order, no spaces,
	// the coordinates as the key holds them.
	thumb := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + base64.RawURLEncoding.EncodeToString(x) +
		`","y":"` + base64.RawURLEncoding.EncodeToString(y) + `"}`))
	return payload, base64.RawURLEncoding.EncodeToString(thumb[:]), true, nil
}

// decodeJSON decodes the base64url JSON object s into v.
func decodeJSON(s string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && json.Unmarshal(b, v) == nil
}
