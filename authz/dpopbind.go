package authz

import (
	"context"
	"net/http"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/dpop"
)

// bindProof checks the DPoP proof of a token request (RFC 9449), if it
// carries one, and binds the access token to its key. DPoP is supported
// for client_credentials; a proof with another grant is refused rather
// than ignored, so that no client takes a bearer token for a bound one.
func (s *Server) bindProof(ctx context.Context, r *http.Request, ar fosite.AccessRequester, gt string) error {
	if !dpop.Present(r) {
		return nil
	}
	if gt != grantClientCredentials {
		return dpop.ErrInvalidProof.WithHint("DPoP is supported with the client_credentials grant only.")
	}
	p, err := s.dpop.Check(ctx, r, s.cfg.Issuer+"/oauth2/token")
	if err != nil {
		return err
	}
	if sess, ok := ar.GetSession().(*session); ok {
		sess.DPoPJKT = p.JKT
	}
	return nil
}
