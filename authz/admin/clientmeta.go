package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/internal/certs"
	"github.com/idvauth/idvauth/authz/internal/jwks"
	"github.com/idvauth/idvauth/authz/internal/web"
	"github.com/idvauth/idvauth/storage"
)

// Limits of key and certificate metadata.
const (
	maxJWKSURILen  = 2000
	maxSubjectLen  = 1000
	clientAuthHint = "tls_client_auth needs exactly one of tls_client_auth_subject_dn, tls_client_auth_san_dns, tls_client_auth_san_uri, tls_client_auth_san_ip, tls_client_auth_san_email"
)

// validAuthMetadata checks the key and certificate metadata of a client
// against its (already checked) token_endpoint_auth_method and copies it
// into c.
func validAuthMetadata(in clientInput, c *storage.Client) *web.Error {
	method := c.TokenEndpointAuthMethod
	rawJWKS := bytes.TrimSpace(in.JWKS)
	if bytes.Equal(rawJWKS, []byte("null")) {
		rawJWKS = nil
	}
	switch {
	case len(rawJWKS) > 0 && in.JWKSURI != "":
		return invalidMetadata("jwks and jwks_uri must not both be given (RFC 7591 section 2)")
	case clientauth.KeyMethod(method) && len(rawJWKS) == 0 && in.JWKSURI == "":
		return invalidMetadata(fmt.Sprintf("token_endpoint_auth_method %s needs jwks or jwks_uri", method))
	case !clientauth.KeyMethod(method) && (len(rawJWKS) > 0 || in.JWKSURI != ""):
		return invalidMetadata(fmt.Sprintf("jwks and jwks_uri are for %s and %s clients", clientauth.MethodPrivateKeyJWT, clientauth.MethodSelfSignedTLS))
	}
	if len(rawJWKS) > 0 {
		set, err := jwks.Parse(rawJWKS)
		if err != nil {
			return invalidMetadata("jwks: " + err.Error())
		}
		// Stored compact, as the client's keys and nothing else.
		if c.JWKS, err = json.Marshal(set); err != nil {
			return invalidMetadata("jwks: cannot be encoded again")
		}
	}
	if in.JWKSURI != "" {
		if err := validJWKSURI(in.JWKSURI); err != nil {
			return invalidMetadata(fmt.Sprintf("jwks_uri: %q: %v", web.Truncate(in.JWKSURI, 80), err))
		}
		c.JWKSURI = in.JWKSURI
	}
	a := storage.TLSClientAuth{
		SubjectDN: in.TLSClientAuthSubjectDN, SANDNS: in.TLSClientAuthSANDNS, SANURI: in.TLSClientAuthSANURI,
		SANIP: in.TLSClientAuthSANIP, SANEmail: in.TLSClientAuthSANEmail,
	}
	n := 0
	for _, v := range []string{a.SubjectDN, a.SANDNS, a.SANURI, a.SANIP, a.SANEmail} {
		if v != "" {
			n++
		}
	}
	switch {
	case method == clientauth.MethodTLS && n != 1:
		return invalidMetadata(clientAuthHint)
	case method != clientauth.MethodTLS && n > 0:
		return invalidMetadata("tls_client_auth_subject_dn and tls_client_auth_san_* are for tls_client_auth clients")
	}
	if err := validSubject(&a); err != nil {
		return invalidMetadata(err.Error())
	}
	c.TLSClientAuth = a
	c.CertificateBoundAccessTokens = in.TLSClientCertificateBoundAccessTokens
	return nil
}

// validJWKSURI checks a jwks_uri: https, or http on a loopback host
// (for local tests: nothing on the network can intercept it); no user
// info or fragment.
func validJWKSURI(raw string) error {
	if len(raw) > maxJWKSURILen || !utf8.ValidString(raw) || strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("must be at most %d characters without spaces or control characters", maxJWKSURILen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("must be an absolute URL")
	}
	switch {
	case u.User != nil:
		return errors.New("must not hold user information")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not have a fragment")
	case u.Scheme == "https":
	case u.Scheme == "http" && fosite.IsLocalhost(u):
	default:
		return errors.New("must use https (http only on a loopback host)")
	}
	return nil
}

// validSubject checks the registered certificate subject and puts the
// subject DN and IP address in canonical form.
func validSubject(a *storage.TLSClientAuth) error {
	for _, v := range []string{a.SubjectDN, a.SANDNS, a.SANURI, a.SANIP, a.SANEmail} {
		if len(v) > maxSubjectLen || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return fmt.Errorf("tls_client_auth_* values must be at most %d printable characters", maxSubjectLen)
		}
	}
	switch {
	case a.SubjectDN != "":
		dn, err := certs.ParseDN(a.SubjectDN)
		if err != nil {
			return fmt.Errorf("tls_client_auth_subject_dn: %v (RFC 4514, e.g. CN=backend,O=Example,C=DE)", err)
		}
		a.SubjectDN = dn.String()
	case a.SANDNS != "":
		if strings.ContainsAny(a.SANDNS, " /:@*") || strings.HasPrefix(a.SANDNS, ".") || strings.HasSuffix(a.SANDNS, ".") {
			return errors.New("tls_client_auth_san_dns must be a DNS name without wildcards")
		}
	case a.SANURI != "":
		if u, err := url.Parse(a.SANURI); err != nil || !u.IsAbs() || strings.Contains(a.SANURI, " ") {
			return errors.New("tls_client_auth_san_uri must be an absolute URI")
		}
	case a.SANIP != "":
		ip, err := netip.ParseAddr(a.SANIP)
		if err != nil || ip.Zone() != "" {
			return errors.New("tls_client_auth_san_ip must be an IPv4 or IPv6 address")
		}
		a.SANIP = ip.Unmap().String()
	case a.SANEmail != "":
		if addr, err := mail.ParseAddress(a.SANEmail); err != nil || addr.Address != a.SANEmail {
			return errors.New("tls_client_auth_san_email must be an email address")
		}
	}
	return nil
}
