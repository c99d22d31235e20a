package authz

import (
	"crypto/tls"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/clientauth"
)

// tlsConfig is the public listener's TLS configuration: TLS 1.2 at least,
// only AEAD cipher suites with forward secrecy (TLS 1.3 suites are all
// such), the certificate reloaded when its files change; client
// certificates requested, not required, when a client CA is configured,
// and checked per client by authenticateClient.
func (s *Server) tlsConfig() *tls.Config {
	if s.tlsCert == nil {
		return nil
	}
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.tlsCert.Get() },
	}
	if s.clientCAs != nil {
		c.ClientAuth = tls.RequestClientCert
	}
	return c
}

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
