package authz

import (
	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/clientauth"
)

// bindCertificate decides the certificate binding (RFC 8705 section 3)
// of the tokens a token request issues, before they are issued: a client
// that authenticated with a certificate, or registered
// tls_client_certificate_bound_access_tokens, gets tokens bound to the
// certificate it presented; a public client's refresh token stays bound
// to the certificate its grant began with.
func bindCertificate(ar fosite.AccessRequester, sess *session, grant string) error {
	c, ok := ar.GetClient().(*clientauth.Client)
	if !ok {
		return nil
	}
	if grant == grantRefreshToken && c.IsPublic() && sess.CertThumbprint != "" && sess.CertThumbprint != c.CertThumb {
		return fosite.ErrInvalidGrant.WithHint("The refresh token is bound to another client certificate.")
	}
	if !clientauth.CertMethod(c.Rec.TokenEndpointAuthMethod) && !c.Rec.CertificateBoundAccessTokens {
		sess.CertThumbprint = ""
		return nil
	}
	if c.CertThumb == "" {
		return fosite.ErrInvalidRequest.WithHint("This client's tokens are bound to its TLS client certificate: connect with it.")
	}
	sess.CertThumbprint = c.CertThumb
	return nil
}
