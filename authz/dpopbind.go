package authz

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/dpop"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// bindProof checks the DPoP proof of a token request (RFC 9449) against
// its grant and binds the access token, and the grant from here on, to
// the proof's key (see dpop.Verifier.Bind).
func (s *Server) bindProof(ctx context.Context, w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, gt string) error {
	s.offerNonce(w, r)
	sess, ok := ar.GetSession().(*session)
	c, cok := ar.GetClient().(*clientauth.Client)
	if !ok || !cok {
		return fosite.ErrServerError.WithDebug("unexpected session or client type")
	}
	jkt, err := s.dpop.Bind(ctx, r, s.cfg.Issuer+"/oauth2/token", dpop.Grant{
		Type: gt, Bound: sess.DPoPJKT, Public: c.IsPublic(), Required: c.Rec.DPoPBoundAccessTokens,
	})
	if err != nil {
		return err
	}
	sess.DPoPJKT = jkt
	return nil
}

// offerNonce hands the current server nonce to a request with a proof,
// when nonces are on (RFC 9449 section 8).
func (s *Server) offerNonce(w http.ResponseWriter, r *http.Request) {
	if n := s.dpop.Nonce(); n != "" && dpop.Present(r) {
		w.Header().Set(dpop.NonceHeader, n)
	}
}

// endpointProof checks the DPoP proof that a request to path, an endpoint
// of the server's own that takes no bound token (introspection,
// revocation), may carry: none, or a good one, passes; a bad one is
// answered, 400 invalid_dpop_proof or use_dpop_nonce, and false returned.
func (s *Server) endpointProof(w http.ResponseWriter, r *http.Request, path string) bool {
	if !dpop.Present(r) {
		return true
	}
	s.offerNonce(w, r)
	_, err := s.dpop.Check(r.Context(), r, s.cfg.Issuer+path)
	if err == nil {
		return true
	}
	if rfc := fosite.ErrorToRFC6749Error(err); rfc.CodeField == http.StatusBadRequest {
		web.WriteError(w, http.StatusBadRequest, rfc.ErrorField, rfc.GetDescription())
	} else {
		web.LogFosite(r.Context(), s.log, "dpop", err)
		web.WriteUnavailable(w, "The DPoP proof could not be checked; retry.")
	}
	return false
}

// resourceAccess checks how a request to the resource endpoint path
// presents its active access token tok (dpop.Verifier.CheckAccess); if
// not ok, it has answered.
func (s *Server) resourceAccess(w http.ResponseWriter, r *http.Request, path, scheme, tok string, sess *session) bool {
	s.offerNonce(w, r)
	err := s.dpop.CheckAccess(r.Context(), r, s.cfg.Issuer+path, scheme, tok, sess.DPoPJKT)
	var re *dpop.ResourceError
	switch {
	case err == nil:
		return true
	case errors.As(err, &re):
		re.Write(w)
	default:
		web.LogFosite(r.Context(), s.log, "dpop", err)
		web.WriteUnavailable(w, "The DPoP proof could not be checked; retry.")
	}
	return false
}

// newDPoP returns the proof verifier of cfg: used proofs are remembered
// in the used-assertion records of store, in a namespace of their own;
// with DPoPNonce, nonces are keyed by keys derived from every secret
// (the first makes them; all are accepted, for rotation).
func newDPoP(cfg Config, store storage.Store) (*dpop.Verifier, error) {
	vc := dpop.Config{Now: cfg.Now, Replay: func(ctx context.Context, jkt, jti string, exp time.Time) error {
		return store.UseAssertion(ctx, "dpop:"+jkt, jti, exp)
	}}
	if cfg.DPoPNonce {
		var keys [][]byte
		for _, sec := range cfg.Secrets {
			k, err := hkdf.Key(sha256.New, []byte(sec), []byte("idvauth"), "idvauth dpop nonce v1", 32)
			if err != nil {
				return nil, fmt.Errorf("authz: derive dpop nonce key: %w", err)
			}
			keys = append(keys, k)
		}
		n, err := dpop.NewNonces(keys, 0)
		if err != nil {
			return nil, fmt.Errorf("authz: %w", err)
		}
		vc.Nonces = n
	}
	v, err := dpop.New(vc)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	return v, nil
}
