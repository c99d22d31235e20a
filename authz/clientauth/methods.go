package clientauth

import "slices"

// Client authentication methods (token_endpoint_auth_method values).
const (
	MethodBasic = "client_secret_basic"
	MethodPost  = "client_secret_post"
	// MethodNone is a public client (a browser or mobile app that cannot
	// keep a secret): it names itself with client_id and must use PKCE.
	MethodNone = "none"
	// MethodPrivateKeyJWT: a JWT signed with a key of the client's jwks
	// (RFC 7523 section 2.2, OpenID Connect Core section 9).
	MethodPrivateKeyJWT = "private_key_jwt"
	// MethodTLS: a certificate from the client CA whose subject is the
	// registered one (RFC 8705 section 2.1).
	MethodTLS = "tls_client_auth"
	// MethodSelfSignedTLS: a certificate whose public key is in the
	// client's jwks (RFC 8705 section 2.2).
	MethodSelfSignedTLS = "self_signed_tls_client_auth"
)

// allMethods are the token_endpoint_auth_method values accepted, in the
// order discovery lists them.
var allMethods = []string{MethodBasic, MethodPost, MethodPrivateKeyJWT, MethodTLS, MethodSelfSignedTLS, MethodNone}

// HasSecret reports whether clients of method authenticate with a secret.
func HasSecret(method string) bool { return method == MethodBasic || method == MethodPost }

// KeyMethod reports whether clients of method authenticate with a key of
// their jwks or jwks_uri.
func KeyMethod(method string) bool {
	return method == MethodPrivateKeyJWT || method == MethodSelfSignedTLS
}

// CertMethod reports whether clients of method authenticate with a TLS
// client certificate.
func CertMethod(method string) bool { return method == MethodTLS || method == MethodSelfSignedTLS }

// Methods lists the client authentication methods that work on this
// server, in the order discovery lists them: the certificate methods only
// with mutual TLS, none only for endpoints public clients may use.
func (a *Authenticator) Methods(public bool) []string {
	var out []string
	for _, m := range allMethods {
		if CertMethod(m) && !a.MTLSEnabled() || m == MethodNone && !public {
			continue
		}
		out = append(out, m)
	}
	return out
}

// Supported lists every client authentication method a client may
// register.
func Supported() []string { return slices.Clone(allMethods) }
