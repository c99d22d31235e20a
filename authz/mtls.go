package authz

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/internal/certs"
)

// Limits of forwarded client certificates.
const (
	maxCertHeaderLen = 16 << 10
	maxCertChain     = 5
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

// mtlsEnabled reports whether clients can authenticate with certificates:
// a client CA is configured, and certificates arrive in the TLS handshake
// or from a trusted proxy's header.
func (s *Server) mtlsEnabled() bool {
	return s.clientCAs != nil && (s.tlsCert != nil || s.cfg.TLSClientCertHeader != "")
}

// peerCertificates returns the client's certificate chain, leaf first:
// from the trusted proxy's header when the request came from one (the
// header is ignored from anyone else), else from the TLS handshake. None
// is not an error.
func (s *Server) peerCertificates(r *http.Request) ([]*x509.Certificate, error) {
	if h := s.cfg.TLSClientCertHeader; h != "" && s.ips.FromTrustedProxy(r) {
		vals := r.Header.Values(h)
		switch len(vals) {
		case 0:
			return nil, nil
		case 1:
			return certs.ParseForwarded(vals[0])
		default:
			return nil, errors.New("more than one forwarded certificate header")
		}
	}
	if r.TLS != nil && s.clientCAs != nil {
		return r.TLS.PeerCertificates, nil
	}
	return nil, nil
}

// authenticateCertificate checks the certificate of a tls_client_auth or
// self_signed_tls_client_auth client.
func (s *Server) authenticateCertificate(ctx context.Context, c *client, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("no client certificate")
	}
	leaf, now := chain[0], s.now()
	switch c.rec.TokenEndpointAuthMethod {
	case authTLS:
		cas, err := s.clientCAs.Get()
		if err != nil {
			return err
		}
		inter := x509.NewCertPool()
		for _, ic := range chain[1:] {
			inter.AddCert(ic)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: cas, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			return fmt.Errorf("certificate chain: %w", err)
		}
		return matchSubject(leaf, c)
	case authSelfSignedTLS:
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return errors.New("the certificate is expired or not yet valid")
		}
		set, err := s.clientKeys(ctx, c, "")
		if err != nil {
			return err
		}
		pk, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok {
			return errors.New("unsupported certificate key")
		}
		for _, k := range set.Keys {
			if pk.Equal(k.Key) {
				return nil
			}
		}
		return errors.New("the certificate's key is not in the client's jwks")
	}
	return errors.New("not a certificate method")
}

// matchSubject checks the registered RFC 8705 section 2.1.2 subject.
func matchSubject(leaf *x509.Certificate, c *client) error {
	a := c.rec.TLSClientAuth
	switch {
	case a.SubjectDN != "":
		want, err := certs.ParseDN(a.SubjectDN)
		if err != nil {
			return err
		}
		got, err := certs.SubjectDN(leaf.RawSubject)
		if err != nil {
			return err
		}
		if !want.Equal(got) {
			return errors.New("subject DN differs")
		}
		return nil
	case a.SANDNS != "":
		for _, n := range leaf.DNSNames {
			if strings.EqualFold(n, a.SANDNS) {
				return nil
			}
		}
	case a.SANURI != "":
		for _, u := range leaf.URIs {
			if u.String() == a.SANURI {
				return nil
			}
		}
	case a.SANIP != "":
		want, err := netip.ParseAddr(a.SANIP)
		if err != nil {
			return err
		}
		for _, ip := range leaf.IPAddresses {
			if got, ok := netip.AddrFromSlice(ip); ok && got.Unmap() == want {
				return nil
			}
		}
	case a.SANEmail != "":
		for _, e := range leaf.EmailAddresses {
			if e == a.SANEmail {
				return nil
			}
		}
	}
	return errors.New("no subjectAltName matches")
}

// bindCertificate decides the certificate binding (RFC 8705 section 3)
// of the tokens a token request issues, before they are issued: a client
// that authenticated with a certificate, or registered
// tls_client_certificate_bound_access_tokens, gets tokens bound to the
// certificate it presented; a public client's refresh token stays bound
// to the certificate its grant began with.
func bindCertificate(ar fosite.AccessRequester, sess *session, grant string) error {
	c, ok := ar.GetClient().(*client)
	if !ok {
		return nil
	}
	if grant == grantRefreshToken && c.IsPublic() && sess.CertThumbprint != "" && sess.CertThumbprint != c.certThumb {
		return fosite.ErrInvalidGrant.WithHint("The refresh token is bound to another client certificate.")
	}
	if !certMethod(c.rec.TokenEndpointAuthMethod) && !c.rec.CertificateBoundAccessTokens {
		sess.CertThumbprint = ""
		return nil
	}
	if c.certThumb == "" {
		return fosite.ErrInvalidRequest.WithHint("This client's tokens are bound to its TLS client certificate: connect with it.")
	}
	sess.CertThumbprint = c.certThumb
	return nil
}

// stripCertHeader removes the forwarded-certificate header from requests
// that did not come from a trusted proxy, so that nothing behind this
// handler can mistake a client's own header for the proxy's.
func (s *Server) stripCertHeader(next http.Handler) http.Handler {
	h := s.cfg.TLSClientCertHeader
	if h == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header[http.CanonicalHeaderKey(h)]; ok && !s.ips.FromTrustedProxy(r) {
			r.Header.Del(h)
		}
		next.ServeHTTP(w, r)
	})
}
