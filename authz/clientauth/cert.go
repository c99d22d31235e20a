package clientauth

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/idvauth/idvauth/authz/internal/certs"
)

// mtlsEnabled reports whether clients can authenticate with certificates:
// a client CA is configured, and certificates arrive in the TLS handshake
// or from a trusted proxy's header.
func (a *Authenticator) MTLSEnabled() bool {
	return a.cfg.ClientCAs != nil && (a.cfg.TLS || a.cfg.CertHeader != "")
}

// peerCertificates returns the client's certificate chain, leaf first:
// from the trusted proxy's header when the request came from one (the
// header is ignored from anyone else), else from the TLS handshake. None
// is not an error.
func (a *Authenticator) PeerCertificates(r *http.Request) ([]*x509.Certificate, error) {
	if h := a.cfg.CertHeader; h != "" && a.cfg.IPs.FromTrustedProxy(r) {
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
	if r.TLS != nil && a.cfg.ClientCAs != nil {
		return r.TLS.PeerCertificates, nil
	}
	return nil, nil
}

// authenticateCertificate checks the certificate of a tls_client_auth or
// self_signed_tls_client_auth client.
func (a *Authenticator) authenticateCertificate(ctx context.Context, c *Client, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("no client certificate")
	}
	leaf, now := chain[0], a.now()
	switch c.Rec.TokenEndpointAuthMethod {
	case MethodTLS:
		cas, err := a.cfg.ClientCAs.Get()
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
	case MethodSelfSignedTLS:
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return errors.New("the certificate is expired or not yet valid")
		}
		set, err := a.clientKeys(ctx, c, "")
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
func matchSubject(leaf *x509.Certificate, c *Client) error {
	a := c.Rec.TLSClientAuth
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

// stripCertHeader removes the forwarded-certificate header from requests
// that did not come from a trusted proxy, so that nothing behind this
// handler can mistake a client's own header for the proxy'a.
func (a *Authenticator) StripCertHeader(next http.Handler) http.Handler {
	h := a.cfg.CertHeader
	if h == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header[http.CanonicalHeaderKey(h)]; ok && !a.cfg.IPs.FromTrustedProxy(r) {
			r.Header.Del(h)
		}
		next.ServeHTTP(w, r)
	})
}
