// Package fapi holds the rules of the FAPI 2.0 Security Profile that
// idvauth enforces when the server (IDVAUTH_PROFILE=fapi2) or a client
// ("profile": "fapi2") asks for it: what a client may register, and what
// each endpoint refuses. Each rule's error names it, so that whoever
// reads the refusal knows which rule to follow.
//
// Enforced: pushed authorization requests; PKCE S256; confidential
// clients authenticated with private_key_jwt or mTLS only; client
// assertions with the issuer alone as aud; sender-constrained access
// tokens (DPoP or mTLS); response_type code; redirect URIs https;
// authorization codes valid at most MaxCodeTTL; ID tokens signed with
// ES256 or PS256 (RS256 is refused); refresh tokens sender-constrained and
// not rotated (KeepsRefresh).
// The RFC 9207 iss response parameter is sent to every client already.
// Where idvauth terminates TLS, TLS 1.2 is served with TLS12CipherSuites
// only.
package fapi

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/storage"
)

// Profile is the name of the FAPI 2.0 Security Profile in settings and
// client metadata.
const Profile = "fapi2"

// MaxCodeTTL is the longest an authorization code lives under the
// profile (FAPI 2.0 section 5.3.2.1).
const MaxCodeTTL = time.Minute

// IDTokenAlg is the ID token algorithm of the profile's clients that
// register none, or one the profile refuses.
const IDTokenAlg = "ES256"

// IDTokenAlgs are the ID token algorithms the profile allows (FAPI 2.0
// section 5.4.1: PS256 or ES256).
func IDTokenAlgs() []string { return []string{"ES256", "PS256"} }

// IDTokenAlgOf is the ID token algorithm of a client bound by the profile
// that registered alg: alg if the profile allows it, else IDTokenAlg.
func IDTokenAlgOf(alg string) string {
	if slices.Contains(IDTokenAlgs(), alg) {
		return alg
	}
	return IDTokenAlg
}

// TLS12CipherSuites are the only TLS 1.2 cipher suites a listener that
// idvauth terminates offers under the profile (FAPI 2.0 section 5.2.1:
// those recommended by BCP 195, RFC 9325 section 4.2): ECDHE with
// AES-GCM, for RSA and ECDSA certificates. The DHE_RSA suites the RFC
// also lists are not implemented by Go's TLS; CHACHA20_POLY1305, which
// idvauth offers otherwise, is not on the list. TLS 1.3 suites are all
// allowed.
func TLS12CipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	}
}

// AuthMethods are the token_endpoint_auth_method values the profile
// allows.
func AuthMethods() []string {
	return []string{"private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth"}
}

// ValidProfile reports whether p is a profile name idvauth knows ("" is
// none).
func ValidProfile(p string) bool { return p == "" || p == Profile }

// Applies reports whether the profile binds a client whose profile is
// clientProfile on a server whose profile is serverProfile.
func Applies(serverProfile, clientProfile string) bool {
	return serverProfile == Profile || clientProfile == Profile
}

// Registration returns the first rule of the profile that the client
// record c breaks, as an error that names it; nil if none.
func Registration(c storage.Client) error {
	if !slices.Contains(AuthMethods(), c.TokenEndpointAuthMethod) {
		return errors.New("FAPI 2.0: token_endpoint_auth_method must be private_key_jwt, tls_client_auth or self_signed_tls_client_auth (confidential clients only; client_secret_* and none are refused)")
	}
	if c.TokenEndpointAudienceAllowed {
		return errors.New("FAPI 2.0: client assertions must name the issuer alone as aud: token_endpoint_audience_allowed must be false")
	}
	if c.PKCEOptional {
		return errors.New("FAPI 2.0: PKCE (S256) is required: require_pkce cannot be false")
	}
	if len(c.ResponseTypes) > 0 && !slices.Equal(c.ResponseTypes, []string{"code"}) {
		return errors.New("FAPI 2.0: response_types must be [\"code\"]")
	}
	for _, u := range c.RedirectURIs {
		if p, err := url.Parse(u); err != nil || p.Scheme != "https" {
			return errors.New("FAPI 2.0: redirect_uris must be https")
		}
	}
	if c.IDTokenSignedResponseAlg != "" && !slices.Contains(IDTokenAlgs(), c.IDTokenSignedResponseAlg) {
		return errors.New("FAPI 2.0: id_token_signed_response_alg must be ES256 or PS256 (RS256 is refused)")
	}
	return nil
}

// Runtime refusals, for clients registered before the server's profile
// was switched on, and for requests.
var (
	ErrPARRequired = fosite.ErrInvalidRequest.WithHint("FAPI 2.0: authorization requests must be pushed to the pushed_authorization_request_endpoint first (RFC 9126).")
	ErrPKCE        = fosite.ErrInvalidRequest.WithHint("FAPI 2.0: PKCE with code_challenge_method S256 is required.")
	ErrUnbound     = fosite.ErrInvalidRequest.WithHint("FAPI 2.0: access tokens must be sender-constrained: send a DPoP proof, or connect with the client's TLS certificate (mTLS).")
)

// CheckClient returns the refusal of a client authenticated at an
// endpoint under the profile whose registration breaks one of its rules
// (a client registered before the server's profile was switched on):
// invalid_client naming the rule; nil if it complies.
func CheckClient(c storage.Client) error {
	if err := Registration(c); err != nil {
		return fosite.ErrInvalidClient.WithHint(err.Error())
	}
	return nil
}

// Binds reports whether the profile binds the client fc on a server whose
// profile is serverProfile.
func Binds(serverProfile string, fc fosite.Client) bool {
	c, ok := fc.(*clientauth.Client)
	return ok && Applies(serverProfile, c.Rec.Profile)
}

// KeepsRefresh returns whether the profile, on a server whose profile is
// serverProfile, keeps the refresh tokens of a client: they are not
// rotated (section 5.3.2.1: refresh token rotation only in extraordinary
// circumstances), and stay bound to the grant's DPoP key or certificate.
func KeepsRefresh(serverProfile string) func(c fosite.Client) bool {
	return func(c fosite.Client) bool { return Binds(serverProfile, c) }
}

// AuthenticateFunc authenticates the client of a request, as
// clientauth.Authenticator.Authenticate does.
type AuthenticateFunc = func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error)

// Authenticate is next with the profile's rules for the clients it binds
// on a server whose profile is serverProfile: one registered against
// them (before the server's profile was switched on) is refused,
// invalid_client naming the rule.
func Authenticate(serverProfile string, next AuthenticateFunc) AuthenticateFunc {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		fc, err := next(ctx, r, form)
		if err != nil || !Binds(serverProfile, fc) {
			return fc, err
		}
		if err := CheckClient(fc.(*clientauth.Client).Rec); err != nil {
			return nil, err
		}
		return fc, nil
	}
}

// OnlyAuthMethods is methods without those the profile does not allow,
// for the server metadata.
func OnlyAuthMethods(methods []string) []string {
	return slices.DeleteFunc(slices.Clone(methods), func(m string) bool { return !slices.Contains(AuthMethods(), m) })
}
