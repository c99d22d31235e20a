// Package discovery builds the authorization server metadata (RFC 8414,
// OpenID Connect Discovery) that idvauth serves at both well-known paths:
// what every endpoint is, and only what works.
package discovery

import (
	"encoding/json"
	"fmt"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/clientauth"
	"github.com/idvauth/idvauth/authz/dpop"
	"github.com/idvauth/idvauth/authz/fapi"
	"github.com/idvauth/idvauth/authz/login"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/authz/par"
	"github.com/idvauth/idvauth/keys"
)

// metadata is the authorization server metadata (RFC 8414) served at both
// well-known paths. It lists only what works.
type metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthSigningAlgValues  []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthSigningAlgValues     []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	ACRValuesSupported                         []string `json:"acr_values_supported"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	// TLSClientCertificateBoundAccessTokens: RFC 8705 section 3.3. The
	// mTLS endpoints are the ordinary ones (the listener asks for client
	// certificates without requiring them), so there are no
	// mtls_endpoint_aliases.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// RFC 9126 section 5; require_pushed_authorization_requests only when
	// the server requires it of every client.
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests,omitempty"`
	// RFC 9449 section 5.1.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
	// OpenID Connect RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.
	EndSessionEndpoint                string `json:"end_session_endpoint"`
	BackchannelLogoutSupported        bool   `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported bool   `json:"backchannel_logout_session_supported"`
}

// Facts are what the metadata says that depends on the server's
// configuration.
type Facts struct {
	Issuer     string
	Scopes     []string
	IDTokenAlg string // for clients that registered none; the ring's others are offered too
	Profile    string // the server-wide security profile ("fapi2" or "")
	// TokenAuthMethods are the client authentication methods of the token
	// and revocation endpoints; IntrospectionAuthMethods those of
	// introspection (public clients may not introspect).
	TokenAuthMethods, IntrospectionAuthMethods []string
	MTLS                                       bool // client certificates are asked for
	RequirePAR                                 bool // of every client
}

// Build returns the metadata document of f, as served.
func Build(f Facts) ([]byte, error) {
	m := metadata{
		Issuer:                                    f.Issuer,
		AuthorizationEndpoint:                     f.Issuer + "/oauth2/authorize",
		TokenEndpoint:                             f.Issuer + "/oauth2/token",
		UserinfoEndpoint:                          f.Issuer + "/userinfo",
		JWKSURI:                                   f.Issuer + "/.well-known/jwks.json",
		IntrospectionEndpoint:                     f.Issuer + "/oauth2/introspect",
		RevocationEndpoint:                        f.Issuer + "/oauth2/revoke",
		EndSessionEndpoint:                        f.Issuer + login.EndSessionPath,
		BackchannelLogoutSupported:                true,
		BackchannelLogoutSessionSupported:         true,
		ScopesSupported:                           f.Scopes,
		ResponseTypesSupported:                    []string{"code"},
		GrantTypesSupported:                       adminapi.Grants(),
		TokenEndpointAuthMethodsSupported:         f.TokenAuthMethods,
		IntrospectionEndpointAuthMethodsSupported: f.IntrospectionAuthMethods,
		RevocationEndpointAuthMethodsSupported:    f.TokenAuthMethods,
		ResponseModesSupported:                    []string{"query"},
		CodeChallengeMethodsSupported:             []string{"S256"},
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          firstOf(f.IDTokenAlg, keys.Algorithms()),
		ClaimsSupported: []string{"iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "acr", "jti", "sid",
			"name", "preferred_username", "updated_at", "email"},
		ACRValuesSupported:                         mfa.Supported(),
		ClaimsParameterSupported:                   true,
		PromptValuesSupported:                      []string{"none", "login", "consent"},
		TokenEndpointAuthSigningAlgValuesSupported: clientauth.AssertionAlgs(),
		IntrospectionEndpointAuthSigningAlgValues:  clientauth.AssertionAlgs(),
		RevocationEndpointAuthSigningAlgValues:     clientauth.AssertionAlgs(),
		TLSClientCertificateBoundAccessTokens:      f.MTLS,
		AuthorizationResponseIssParameterSupported: true,
		PushedAuthorizationRequestEndpoint:         f.Issuer + par.Path,
		RequirePushedAuthorizationRequests:         f.RequirePAR,
		DPoPSigningAlgValuesSupported:              dpop.Algs(),
	}
	if f.Profile == fapi.Profile {
		// What the profile enforces (authz/fapi).
		m.TokenEndpointAuthMethodsSupported = fapi.OnlyAuthMethods(m.TokenEndpointAuthMethodsSupported)
		m.IntrospectionEndpointAuthMethodsSupported = fapi.OnlyAuthMethods(m.IntrospectionEndpointAuthMethodsSupported)
		m.RevocationEndpointAuthMethodsSupported = fapi.OnlyAuthMethods(m.RevocationEndpointAuthMethodsSupported)
		m.RequirePushedAuthorizationRequests, m.IDTokenSigningAlgValuesSupported = true, firstOf(f.IDTokenAlg, fapi.IDTokenAlgs())
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("discovery: encode: %w", err)
	}
	return append(b, '\n'), nil
}

// firstOf returns algs with alg, the default, moved first (the ring keeps
// a key for each).
func firstOf(alg string, algs []string) []string {
	out := []string{alg}
	for _, a := range algs {
		if a != alg {
			out = append(out, a)
		}
	}
	return out
}
