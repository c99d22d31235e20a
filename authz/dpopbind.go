package authz

import (
	"context"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/dpop"
	"github.com/idvauth/idvauth/authz/fapi"
	"github.com/idvauth/idvauth/storage"
)

// bindProof checks the DPoP proof of a token request (RFC 9449) against
// its grant and binds the access token, and the grant from here on, to
// the proof's key (see dpop.Verifier.Bind); a FAPI 2.0 client's tokens
// must be bound to a key or a certificate.
func (s *Server) bindProof(ctx context.Context, w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, gt string) error {
	s.dpop.OfferNonce(w, r)
	sess, ok := ar.GetSession().(*session)
	c, cok := ar.GetClient().(*clientauth.Client)
	if !ok || !cok {
		return fosite.ErrServerError.WithDebug("unexpected session or client type")
	}
	jkt, err := s.dpop.Bind(ctx, r, s.cfg.Issuer+"/oauth2/token", dpop.Grant{
		Type: gt, Bound: sess.DPoPJKT, Public: c.IsPublic(), Kept: fapi.Binds(s.cfg.Profile, c), Required: c.Rec.DPoPBoundAccessTokens,
	})
	if err == nil && jkt == "" && sess.CertThumbprint == "" && fapi.Binds(s.cfg.Profile, c) {
		err = fapi.ErrUnbound
	}
	sess.DPoPJKT = jkt
	return err
}

// boundKey is the DPoP key thumbprint a token's session binds it to; ""
// if none.
func boundKey(ar fosite.Requester) string {
	if sess, ok := ar.GetSession().(*session); ok {
		return sess.DPoPJKT
	}
	return ""
}

// newDPoP returns the proof verifier of cfg: used proofs are remembered
// in the used-assertion records of store, in a namespace of their own;
// with DPoPNonce, nonces are keyed from every secret (dpop.NonceKeys).
func newDPoP(cfg Config, store storage.Store) (v *dpop.Verifier, err error) {
	vc := dpop.Config{Now: cfg.Now, Log: cfg.Logger, Replay: func(ctx context.Context, jkt, jti string, exp time.Time) error {
		return store.UseAssertion(ctx, "dpop:"+jkt, jti, exp)
	}}
	if cfg.DPoPNonce {
		keys, err := dpop.NonceKeys(cfg.Secrets)
		if err == nil {
			vc.Nonces, err = dpop.NewNonces(keys, 0)
		}
		if err != nil {
			return nil, err
		}
	}
	return dpop.New(vc)
}
