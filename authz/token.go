package authz

import (
	"net/http"
	"strings"

	"github.com/ory/fosite"
)

// supportedGrants are the grant types the token endpoint serves.
var supportedGrants = []string{"client_credentials"}

// handleToken serves /oauth2/token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if oe := readForm(w, r, "audience", "resource"); oe != nil {
		oe.write(w)
		return
	}
	form := r.PostForm
	if gt := form.Get("grant_type"); gt != "" && !contains(supportedGrants, gt) {
		s.writeTokenError(w, r, nil, fosite.ErrUnsupportedGrantType.WithHintf("The grant type '%s' is not supported by this server.", safeParam(gt)))
		return
	}
	// RFC 8707 resource indicators name the audience too; a request may
	// use one parameter or the other, not both.
	if res := form["resource"]; len(res) > 0 {
		if form.Has("audience") {
			s.writeTokenError(w, r, nil, fosite.ErrInvalidRequest.WithHint("Use either 'audience' or 'resource', not both."))
			return
		}
		form["audience"] = res
	}
	for _, a := range form["audience"] {
		for _, v := range strings.Fields(a) {
			if validAudience(v) != nil {
				s.writeTokenError(w, r, nil, errInvalidTarget.WithHint("An audience or resource value is malformed."))
				return
			}
		}
	}

	sess := &session{}
	ar, err := s.provider.NewAccessRequest(ctx, r, sess)
	if err != nil {
		s.writeTokenError(w, r, ar, err)
		return
	}
	c := ar.GetClient()
	sess.Subject = c.GetID()
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc) // each was checked against the client by the grant handler
	}
	aud := ar.GetRequestedAudience()
	if len(aud) == 0 {
		aud = c.GetAudience()
	}
	for _, a := range aud {
		ar.GrantAudience(a)
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.writeTokenError(w, r, ar, err)
		return
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

func (s *Server) writeTokenError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	s.logFosite(r.Context(), "token", err)
	if fosite.ErrorToRFC6749Error(err).CodeField == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="idvauth"`)
	}
	s.provider.WriteAccessError(r.Context(), w, ar, err)
}
