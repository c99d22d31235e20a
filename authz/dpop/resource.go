package dpop

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/internal/web"
)

// Authorization schemes of an access token (RFC 6750, RFC 9449 section 7).
const (
	SchemeBearer = "Bearer"
	SchemeDPoP   = "DPoP"
)

// AccessToken returns the scheme (SchemeBearer or SchemeDPoP, matched
// without regard to case) and the token of r's Authorization header; ok
// is false if there is none or it has another scheme.
func AccessToken(r *http.Request) (scheme, token string, ok bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", "", false
	}
	s, tok, found := strings.Cut(values[0], " ")
	tok = strings.TrimLeft(tok, " ")
	if !found || tok == "" {
		return "", "", false
	}
	switch {
	case strings.EqualFold(s, SchemeBearer):
		return SchemeBearer, tok, true
	case strings.EqualFold(s, SchemeDPoP):
		return SchemeDPoP, tok, true
	}
	return "", "", false
}

// ResourceError is a refusal at a resource endpoint (RFC 9449 section
// 7.1): 401 with a DPoP challenge naming the error and the algorithms.
type ResourceError struct {
	Code        string // invalid_token, invalid_dpop_proof or use_dpop_nonce
	Description string
	// Nonce, if set, goes in the DPoP-Nonce header.
	Nonce string
}

func (e *ResourceError) Error() string { return e.Code + ": " + e.Description }

// Challenge is the WWW-Authenticate value of a DPoP challenge with error
// code and description desc (none if code is "").
func Challenge(code, desc string) string {
	c := `DPoP algs="` + strings.Join(Algs(), " ") + `"`
	if code != "" {
		desc = strings.NewReplacer(`"`, "'", `\`, "").Replace(desc)
		c += `, error="` + code + `", error_description="` + desc + `"`
	}
	return c
}

// Write answers e: 401, the DPoP challenge, the nonce if any, and the
// error as JSON.
func (e *ResourceError) Write(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", Challenge(e.Code, e.Description))
	if e.Nonce != "" {
		w.Header().Set(NonceHeader, e.Nonce)
	}
	web.WriteError(w, http.StatusUnauthorized, e.Code, e.Description)
}

// CheckAccess checks how the request r to the resource at htu presents
// the access token tok, already found active, whose cnf.jkt is jkt ("" if
// it is not DPoP-bound) with scheme (see AccessToken). A bound token must
// come with the DPoP scheme and a proof of its key whose ath is the
// token's hash; a bound token sent as Bearer is refused (section 7.1), and
// so is a bearer token sent with the DPoP scheme. A bearer token as
// Bearer passes (any DPoP header then is ignored, as RFC 6750 knows of
// none). The error is a *ResourceError, or temporarily_unavailable when
// the store cannot say whether the proof was used.
func (v *Verifier) CheckAccess(ctx context.Context, r *http.Request, htu, scheme, tok, jkt string) error {
	switch {
	case jkt == "" && scheme == SchemeBearer:
		return nil
	case jkt == "":
		return &ResourceError{Code: "invalid_token", Description: "The access token is not DPoP-bound: send it as Bearer."}
	case scheme != SchemeDPoP:
		return &ResourceError{Code: "invalid_token", Description: "The access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof."}
	}
	p, err := v.Check(ctx, r, htu)
	if err != nil {
		return v.resourceError(err)
	}
	sum := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare([]byte(p.Ath), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) != 1 {
		return &ResourceError{Code: "invalid_dpop_proof", Description: "The DPoP proof's ath is not the hash of the access token."}
	}
	if subtle.ConstantTimeCompare([]byte(p.JKT), []byte(jkt)) != 1 {
		return &ResourceError{Code: "invalid_token", Description: "The access token is bound to another DPoP key than the proof's."}
	}
	return nil
}

// resourceError turns an error of Check into the answer of a resource
// endpoint; a store failure passes as it is.
func (v *Verifier) resourceError(err error) error {
	rfc := fosite.ErrorToRFC6749Error(err)
	switch rfc.ErrorField {
	case ErrUseNonce.ErrorField:
		return &ResourceError{Code: rfc.ErrorField, Description: rfc.GetDescription(), Nonce: v.Nonce()}
	case ErrInvalidProof.ErrorField:
		return &ResourceError{Code: rfc.ErrorField, Description: rfc.GetDescription()}
	}
	return err
}

// ResourceCheck returns what checks, as CheckAccess, how a request to a
// resource server on base (its scheme, host and port; empty: http:// and
// the request's host) presents its access token, whose cnf.jkt is jkt.
// Its refusals are *web.Error answers with the DPoP challenge (and nonce)
// in their headers; the admin API uses it.
func (v *Verifier) ResourceCheck(base string) func(r *http.Request, scheme, tok, jkt string) error {
	return func(r *http.Request, scheme, tok, jkt string) error {
		b := base
		if b == "" {
			b = "http://" + r.Host
		}
		err := v.CheckAccess(r.Context(), r, b+r.URL.Path, scheme, tok, jkt)
		var re *ResourceError
		switch {
		case errors.As(err, &re):
			h := http.Header{}
			h.Set("WWW-Authenticate", Challenge(re.Code, re.Description))
			if re.Nonce != "" {
				h.Set(NonceHeader, re.Nonce)
			}
			return &web.Error{Status: http.StatusUnauthorized, Code: re.Code, Description: re.Description, Header: h}
		case err != nil:
			return web.NewError(http.StatusServiceUnavailable, "temporarily_unavailable", "The DPoP proof could not be checked; retry.")
		}
		return nil
	}
}
