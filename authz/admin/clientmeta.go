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
	"github.com/idvauth/idvauth/authz/internal/outbound"
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
func (h *Handler) validAuthMetadata(in clientInput, c *storage.Client) *web.Error {
	if err := h.validKeys(in, c); err != nil {
		return err
	}
	if in.TokenEndpointAudienceAllowed && c.TokenEndpointAuthMethod != clientauth.MethodPrivateKeyJWT {
		return invalidMetadata("token_endpoint_audience_allowed is for private_key_jwt clients")
	}
	c.TokenEndpointAudienceAllowed = in.TokenEndpointAudienceAllowed
	return validCertSubject(in, c)
}

// validKeys checks jwks and jwks_uri and copies them into c; a JSON null
// jwks counts as absent.
func (h *Handler) validKeys(in clientInput, c *storage.Client) *web.Error {
	rawJWKS := bytes.TrimSpace(in.JWKS)
	if bytes.Equal(rawJWKS, []byte("null")) {
		rawJWKS = nil
	}
	if err := keysFit(c.TokenEndpointAuthMethod, len(rawJWKS) > 0, in.JWKSURI != ""); err != nil {
		return err
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
		if err := validJWKSURI(in.JWKSURI, h.cfg.Outbound); err != nil {
			return invalidMetadata(fmt.Sprintf("jwks_uri: %q: %v", web.Truncate(in.JWKSURI, 80), err))
		}
		c.JWKSURI = in.JWKSURI
	}
	return nil
}

// keysFit checks that a client of method has a key set (jwks) or its URL
// (jwks_uri) exactly when it authenticates with a key, and not both.
func keysFit(method string, hasJWKS, hasURI bool) *web.Error {
	switch {
	case hasJWKS && hasURI:
		return invalidMetadata("jwks and jwks_uri must not both be given (RFC 7591 section 2)")
	case clientauth.KeyMethod(method) && !hasJWKS && !hasURI:
		return invalidMetadata(fmt.Sprintf("token_endpoint_auth_method %s needs jwks or jwks_uri", method))
	case !clientauth.KeyMethod(method) && (hasJWKS || hasURI):
		return invalidMetadata(fmt.Sprintf("jwks and jwks_uri are for %s and %s clients", clientauth.MethodPrivateKeyJWT, clientauth.MethodSelfSignedTLS))
	}
	return nil
}

// validCertSubject checks the certificate subject of a client (exactly one
// value for tls_client_auth, none for other methods) and copies it into c
// in canonical form, along with tls_client_certificate_bound_access_tokens.
func validCertSubject(in clientInput, c *storage.Client) *web.Error {
	a := storage.TLSClientAuth{
		SubjectDN: in.TLSClientAuthSubjectDN, SANDNS: in.TLSClientAuthSANDNS, SANURI: in.TLSClientAuthSANURI,
		SANIP: in.TLSClientAuthSANIP, SANEmail: in.TLSClientAuthSANEmail,
	}
	n := 0
	for _, v := range subjectValues(a) {
		if v != "" {
			n++
		}
	}
	switch method := c.TokenEndpointAuthMethod; {
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

// subjectValues are the fields of a: the subject DN and each kind of
// subject alternative name.
func subjectValues(a storage.TLSClientAuth) []string {
	return []string{a.SubjectDN, a.SANDNS, a.SANURI, a.SANIP, a.SANEmail}
}

// validJWKSURI checks a jwks_uri: https, or http on a loopback host
// (for local tests: nothing on the network can intercept it); no user
// info or fragment; not an internal IP address that policy does not
// allow (a host name is checked each time it is fetched).
func validJWKSURI(raw string, policy outbound.Policy) error {
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
	return policy.CheckHost(u.Hostname())
}

// validSubject checks the registered certificate subject and puts the
// subject DN and IP address in canonical form.
func validSubject(a *storage.TLSClientAuth) error {
	for _, v := range subjectValues(*a) {
		if !printable(v, maxSubjectLen) {
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
		if !dnsName(a.SANDNS) {
			return errors.New("tls_client_auth_san_dns must be a DNS name without wildcards")
		}
	case a.SANURI != "":
		if !absoluteURI(a.SANURI) {
			return errors.New("tls_client_auth_san_uri must be an absolute URI")
		}
	case a.SANIP != "":
		ip, err := netip.ParseAddr(a.SANIP)
		if err != nil || ip.Zone() != "" {
			return errors.New("tls_client_auth_san_ip must be an IPv4 or IPv6 address")
		}
		a.SANIP = ip.Unmap().String()
	case a.SANEmail != "":
		if !emailAddress(a.SANEmail) {
			return errors.New("tls_client_auth_san_email must be an email address")
		}
	}
	return nil
}

// dnsName reports whether s can be a DNS name in a certificate: no
// wildcard, no leading or trailing dot, nothing of a URL.
func dnsName(s string) bool {
	return !strings.ContainsAny(s, " /:@*") && !strings.HasPrefix(s, ".") && !strings.HasSuffix(s, ".")
}

// absoluteURI reports whether s is an absolute URI without spaces.
func absoluteURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && !strings.Contains(s, " ")
}

// emailAddress reports whether s is a bare email address, without a
// display name or angle brackets.
func emailAddress(s string) bool {
	addr, err := mail.ParseAddress(s)
	return err == nil && addr.Address == s
}
