package dpop

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/internal/web"
)

// NonceKeys derives a nonce key from each of the server's secrets (HKDF,
// an info string of its own), so that every replica with the same
// secrets makes and accepts the same nonces.
func NonceKeys(secrets []string) ([][]byte, error) {
	var keys [][]byte
	for _, sec := range secrets {
		k, err := hkdf.Key(sha256.New, []byte(sec), []byte("idvauth"), "idvauth dpop nonce v1", 32)
		if err != nil {
			return nil, fmt.Errorf("dpop: derive nonce key: %w", err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// OfferNonce hands the current server nonce to a request that carries a
// proof, when nonces are on (RFC 9449 section 8).
func (v *Verifier) OfferNonce(w http.ResponseWriter, r *http.Request) {
	if n := v.Nonce(); n != "" && Present(r) {
		w.Header().Set(NonceHeader, n)
	}
}

// CheckEndpoint checks the proof that a request to htu, an endpoint of
// the server that takes no bound token (introspection, revocation), may
// carry: none, or a good one, passes; a bad one is answered, 400
// invalid_dpop_proof or use_dpop_nonce, and false returned.
func (v *Verifier) CheckEndpoint(w http.ResponseWriter, r *http.Request, htu string) bool {
	if !Present(r) {
		return true
	}
	v.OfferNonce(w, r)
	_, err := v.Check(r.Context(), r, htu)
	if err == nil {
		return true
	}
	if rfc := fosite.ErrorToRFC6749Error(err); rfc.CodeField == http.StatusBadRequest {
		web.WriteError(w, http.StatusBadRequest, rfc.ErrorField, rfc.GetDescription())
	} else {
		web.LogFosite(r.Context(), v.cfg.Log, "dpop", err)
		web.WriteUnavailable(w, "The DPoP proof could not be checked; retry.")
	}
	return false
}

// Access checks how the request r to the resource at htu presents its
// active access token tok, whose cnf.jkt is jkt (CheckAccess); if not ok,
// it has answered.
func (v *Verifier) Access(w http.ResponseWriter, r *http.Request, htu, scheme, tok, jkt string) bool {
	v.OfferNonce(w, r)
	err := v.CheckAccess(r.Context(), r, htu, scheme, tok, jkt)
	var re *ResourceError
	switch {
	case err == nil:
		return true
	case errors.As(err, &re):
		re.Write(w)
	default:
		web.LogFosite(r.Context(), v.cfg.Log, "dpop", err)
		web.WriteUnavailable(w, "The DPoP proof could not be checked; retry.")
	}
	return false
}

// ReadAccessToken returns the scheme and the access token of a request to
// a resource endpoint. Without one it answers 401 with a Bearer and a
// DPoP challenge; with an Authorization header of another form, 400; in
// both cases ok is false.
func ReadAccessToken(w http.ResponseWriter, r *http.Request) (scheme, tok string, ok bool) {
	if scheme, tok, ok = AccessToken(r); ok {
		return scheme, tok, true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="idvauth"`)
	w.Header().Add("WWW-Authenticate", Challenge("", ""))
	if r.Header.Get("Authorization") == "" {
		web.WriteError(w, http.StatusUnauthorized, "invalid_token", "An access token is required.")
	} else {
		web.WriteError(w, http.StatusBadRequest, "invalid_request", "Send the access token as Authorization: Bearer, or DPoP with a DPoP proof.")
	}
	return "", "", false
}
