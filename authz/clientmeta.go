package authz

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/storage"
)

// Client authentication methods with keys or certificates.
const (
	// authPrivateKeyJWT: a JWT signed with a key of the client's jwks
	// (RFC 7523 section 2.2, OpenID Connect Core section 9).
	authPrivateKeyJWT = "private_key_jwt"
	// authTLS: a certificate from the client CA whose subject is the
	// registered one (RFC 8705 section 2.1).
	authTLS = "tls_client_auth"
	// authSelfSignedTLS: a certificate whose public key is in the
	// client's jwks (RFC 8705 section 2.2).
	authSelfSignedTLS = "self_signed_tls_client_auth"
)

// authMethods are the token_endpoint_auth_method values accepted, in the
// order discovery lists them.
var authMethods = []string{authBasic, authPost, authPrivateKeyJWT, authTLS, authSelfSignedTLS, authNone}

// Limits of key and certificate metadata.
const (
	maxJWKSBytes   = 16 << 10
	maxJWKSKeys    = 10
	maxJWKSURILen  = 2000
	maxSubjectLen  = 1000
	minRSAKeyBits  = 2048
	clientAuthHint = "tls_client_auth needs exactly one of tls_client_auth_subject_dn, tls_client_auth_san_dns, tls_client_auth_san_uri, tls_client_auth_san_ip, tls_client_auth_san_email"
)

// hasSecret reports whether clients of method authenticate with a secret.
func hasSecret(method string) bool { return method == authBasic || method == authPost }

// keyMethod reports whether clients of method authenticate with a key of
// their jwks or jwks_uri.
func keyMethod(method string) bool { return method == authPrivateKeyJWT || method == authSelfSignedTLS }

// certMethod reports whether clients of method authenticate with a TLS
// client certificate.
func certMethod(method string) bool { return method == authTLS || method == authSelfSignedTLS }

// validAuthMetadata checks the key and certificate metadata of a client
// against its (already checked) token_endpoint_auth_method and copies it
// into c.
func validAuthMetadata(in clientInput, c *storage.Client) error {
	method := c.TokenEndpointAuthMethod
	jwks := bytes.TrimSpace(in.JWKS)
	if bytes.Equal(jwks, []byte("null")) {
		jwks = nil
	}
	switch {
	case len(jwks) > 0 && in.JWKSURI != "":
		return invalidMetadata("jwks and jwks_uri must not both be given (RFC 7591 section 2)")
	case keyMethod(method) && len(jwks) == 0 && in.JWKSURI == "":
		return invalidMetadata(fmt.Sprintf("token_endpoint_auth_method %s needs jwks or jwks_uri", method))
	case !keyMethod(method) && (len(jwks) > 0 || in.JWKSURI != ""):
		return invalidMetadata(fmt.Sprintf("jwks and jwks_uri are for %s and %s clients", authPrivateKeyJWT, authSelfSignedTLS))
	}
	if len(jwks) > 0 {
		set, err := parseClientJWKS(jwks)
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
			return invalidMetadata(fmt.Sprintf("jwks_uri: %q: %v", truncate(in.JWKSURI, 80), err))
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
	case method == authTLS && n != 1:
		return invalidMetadata(clientAuthHint)
	case method != authTLS && n > 0:
		return invalidMetadata("tls_client_auth_subject_dn and tls_client_auth_san_* are for tls_client_auth clients")
	}
	if err := validSubject(&a); err != nil {
		return invalidMetadata(err.Error())
	}
	c.TLSClientAuth = a
	c.CertificateBoundAccessTokens = in.TLSClientCertificateBoundAccessTokens
	return nil
}

// parseClientJWKS parses a client's registered JSON Web Key Set: at most
// maxJWKSKeys public signing keys (EC P-256, RSA of 2048 bits or more,
// Ed25519), each with an alg, if it names one, that fits the key.
// Private or symmetric keys are refused: a client registers only what
// verifies its signatures.
func parseClientJWKS(raw []byte) (*jose.JSONWebKeySet, error) {
	if len(raw) > maxJWKSBytes {
		return nil, fmt.Errorf("must be at most %d KiB", maxJWKSBytes>>10)
	}
	var probe struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil || probe.Keys == nil {
		return nil, errors.New(`must be a JSON Web Key Set: {"keys": [...]}`)
	}
	if len(probe.Keys) == 0 || len(probe.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("must hold 1 to %d keys", maxJWKSKeys)
	}
	set := &jose.JSONWebKeySet{}
	kids := map[string]bool{}
	for i, kr := range probe.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(kr); err != nil {
			return nil, fmt.Errorf("key %d is not a valid JSON Web Key (RSA, EC P-256 or Ed25519 public keys)", i)
		}
		if err := checkClientKey(&k); err != nil {
			return nil, fmt.Errorf("key %d: %v", i, err)
		}
		if k.KeyID != "" {
			if kids[k.KeyID] {
				return nil, fmt.Errorf("key %d: kid %q is used twice", i, truncate(k.KeyID, 40))
			}
			kids[k.KeyID] = true
		}
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}

// checkClientKey checks one key of a client's key set.
func checkClientKey(k *jose.JSONWebKey) error {
	if !k.IsPublic() {
		return errors.New("holds a private or symmetric key: register public keys only, and keep the private key with the client")
	}
	if !k.Valid() {
		return errors.New("is not a valid public key")
	}
	if k.Use != "" && k.Use != "sig" {
		return errors.New(`use must be "sig"`)
	}
	if len(k.KeyID) > 256 || !utf8.ValidString(k.KeyID) {
		return errors.New("kid must be at most 256 characters")
	}
	var algs []string
	switch pk := k.Key.(type) {
	case *ecdsa.PublicKey:
		if pk.Curve != elliptic.P256() {
			return errors.New("EC keys must be on P-256 (ES256)")
		}
		algs = []string{string(jose.ES256)}
	case *rsa.PublicKey:
		if pk.N.BitLen() < minRSAKeyBits {
			return fmt.Errorf("RSA keys must have at least %d bits", minRSAKeyBits)
		}
		algs = []string{string(jose.RS256), string(jose.PS256)}
	case ed25519.PublicKey:
		algs = []string{string(jose.EdDSA)}
	default:
		return errors.New("must be an RSA, EC P-256 or Ed25519 public key")
	}
	if k.Algorithm != "" && !contains(algs, k.Algorithm) {
		return fmt.Errorf("alg %q does not fit the key (use %s)", truncate(k.Algorithm, 20), strings.Join(algs, " or "))
	}
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
		dn, err := parseDN(a.SubjectDN)
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

// authMethods lists the client authentication methods that work on this
// server (the certificate methods only when the listener asks for client
// certificates), with none if public is set.
func (s *Server) authMethods(public bool) []string {
	var out []string
	for _, m := range authMethods {
		if certMethod(m) && !s.mtlsEnabled() || m == authNone && !public {
			continue
		}
		out = append(out, m)
	}
	return out
}

func algNames(algs []jose.SignatureAlgorithm) []string {
	out := make([]string, len(algs))
	for i, a := range algs {
		out[i] = string(a)
	}
	return out
}
