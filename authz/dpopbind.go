package authz

import (
	"context"
	"net/http"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/dpop"
)

// bindProof checks the DPoP proof of a token request (RFC 9449) against
// its grant and binds the access token, and the grant from here on, to
// the proof's key (see dpop.Verifier.Bind).
func (s *Server) bindProof(ctx context.Context, r *http.Request, ar fosite.AccessRequester, gt string) error {
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
