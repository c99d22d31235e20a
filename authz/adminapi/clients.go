package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
)

// ClientJSON is a client as the admin API shows and takes it, with RFC
// 7591 names. ClientSecret is set only in the answers to create and
// rotate-secret.
type ClientJSON struct {
	ClientID                string          `json:"client_id"`
	ClientSecret            string          `json:"client_secret,omitempty"`
	ClientName              string          `json:"client_name"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	RedirectURIs            []string        `json:"redirect_uris"`
	Scope                   string          `json:"scope"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	TLSClientAuthSubjectDN  string          `json:"tls_client_auth_subject_dn,omitempty"`
	TLSClientAuthSANDNS     string          `json:"tls_client_auth_san_dns,omitempty"`
	TLSClientAuthSANURI     string          `json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANIP      string          `json:"tls_client_auth_san_ip,omitempty"`
	TLSClientAuthSANEmail   string          `json:"tls_client_auth_san_email,omitempty"`
	// TLSClientCertificateBoundAccessTokens: RFC 8705 section 3.4.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens"`
	// TokenEndpointAudienceAllowed lets a private_key_jwt client's
	// assertions name the token endpoint URL as aud besides the issuer
	// identifier (RFC 7523 compatibility; off by default, as
	// draft-ietf-oauth-rfc7523bis asks).
	TokenEndpointAudienceAllowed bool     `json:"token_endpoint_audience_allowed"`
	Audience                     []string `json:"audience"`
	AccessTokenTTL               int64    `json:"access_token_ttl"`
	IntrospectionAllowed         bool     `json:"introspection_allowed"`
	// IntrospectionAudiences are the audiences of the tokens the client
	// may see active at the introspection endpoint; empty means its
	// audience, or without one the server's default audience.
	IntrospectionAudiences   []string `json:"introspection_audiences"`
	IDTokenSignedResponseAlg string   `json:"id_token_signed_response_alg,omitempty"`
	// DefaultACRValues are the acr values asked for when a sign-in
	// request names none (OpenID Connect Registration); RequireMFA makes
	// every sign-in for the client use a second factor.
	DefaultACRValues      []string `json:"default_acr_values"`
	RequireMFA            bool     `json:"require_mfa"`
	ClientIDIssuedAt      int64    `json:"client_id_issued_at,omitempty"`
	ClientSecretExpiresAt int64    `json:"client_secret_expires_at"`
	UpdatedAt             int64    `json:"updated_at,omitempty"`

	// RequirePKCE: the client must send an S256 code_challenge (RFC 9700
	// section 2.1.1); the server always sets it in its answers, and nil
	// in a request means true. Only a confidential client may have false.
	RequirePKCE *bool `json:"require_pkce,omitempty"`
	// RequirePushedAuthorizationRequests: RFC 9126 section 6.
	RequirePushedAuthorizationRequests bool `json:"require_pushed_authorization_requests"`

	// PostLogoutRedirectURIs are where RP-initiated logout may send the
	// person back (OpenID Connect RP-Initiated Logout 1.0), matched
	// exactly. BackchannelLogoutURI receives logout tokens and
	// BackchannelLogoutSessionRequired says the client needs their sid
	// (OpenID Connect Back-Channel Logout 1.0).
	PostLogoutRedirectURIs           []string `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI             string   `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool     `json:"backchannel_logout_session_required"`
	// DPoPBoundAccessTokens: every token request must carry a DPoP proof
	// (RFC 9449 section 5.2).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens"`
	// Profile: "fapi2" holds the client to the FAPI 2.0 Security Profile;
	// empty for none (the server's profile may still apply).
	Profile string `json:"profile,omitempty"`
}

// ClientList is the answer of GET /admin/clients.
type ClientList struct {
	Clients []ClientJSON `json:"clients"`
}

// ClientMetadata is the body of POST /admin/clients and PUT
// /admin/clients/{id}: ClientJSON without the fields the server sets,
// which it refuses as unknown.
type ClientMetadata struct {
	ClientID                string          `json:"client_id,omitempty"`
	ClientName              string          `json:"client_name"`
	GrantTypes              []string        `json:"grant_types,omitzero"` // nil: the default; empty: none
	ResponseTypes           []string        `json:"response_types,omitempty"`
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	Scope                   string          `json:"scope"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	TLSClientAuthSubjectDN  string          `json:"tls_client_auth_subject_dn,omitempty"`
	TLSClientAuthSANDNS     string          `json:"tls_client_auth_san_dns,omitempty"`
	TLSClientAuthSANURI     string          `json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANIP      string          `json:"tls_client_auth_san_ip,omitempty"`
	TLSClientAuthSANEmail   string          `json:"tls_client_auth_san_email,omitempty"`

	TLSClientCertificateBoundAccessTokens bool     `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	TokenEndpointAudienceAllowed          bool     `json:"token_endpoint_audience_allowed,omitempty"`
	Audience                              []string `json:"audience"`
	AccessTokenTTL                        int64    `json:"access_token_ttl"`
	IntrospectionAllowed                  bool     `json:"introspection_allowed"`
	IntrospectionAudiences                []string `json:"introspection_audiences,omitempty"`
	IDTokenSignedResponseAlg              string   `json:"id_token_signed_response_alg,omitempty"`
	DefaultACRValues                      []string `json:"default_acr_values,omitempty"`
	RequireMFA                            bool     `json:"require_mfa,omitempty"`
	RequirePKCE                           *bool    `json:"require_pkce,omitempty"` // nil: true
	RequirePushedAuthorizationRequests    bool     `json:"require_pushed_authorization_requests,omitempty"`
	PostLogoutRedirectURIs                []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI                  string   `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired      bool     `json:"backchannel_logout_session_required,omitempty"`
	DPoPBoundAccessTokens                 bool     `json:"dpop_bound_access_tokens,omitempty"`
	Profile                               string   `json:"profile,omitempty"`
}

// Metadata is what of c a create or update request sends.
func (c ClientJSON) Metadata() ClientMetadata {
	audience := c.Audience
	if audience == nil {
		audience = []string{}
	}
	return ClientMetadata{
		ClientID:                              c.ClientID,
		ClientName:                            c.ClientName,
		GrantTypes:                            c.GrantTypes,
		ResponseTypes:                         c.ResponseTypes,
		RedirectURIs:                          c.RedirectURIs,
		Scope:                                 c.Scope,
		TokenEndpointAuthMethod:               c.TokenEndpointAuthMethod,
		JWKS:                                  c.JWKS,
		JWKSURI:                               c.JWKSURI,
		TLSClientAuthSubjectDN:                c.TLSClientAuthSubjectDN,
		TLSClientAuthSANDNS:                   c.TLSClientAuthSANDNS,
		TLSClientAuthSANURI:                   c.TLSClientAuthSANURI,
		TLSClientAuthSANIP:                    c.TLSClientAuthSANIP,
		TLSClientAuthSANEmail:                 c.TLSClientAuthSANEmail,
		TLSClientCertificateBoundAccessTokens: c.TLSClientCertificateBoundAccessTokens,
		TokenEndpointAudienceAllowed:          c.TokenEndpointAudienceAllowed,
		Audience:                              audience,
		AccessTokenTTL:                        c.AccessTokenTTL,
		IntrospectionAllowed:                  c.IntrospectionAllowed,
		IntrospectionAudiences:                c.IntrospectionAudiences,
		IDTokenSignedResponseAlg:              c.IDTokenSignedResponseAlg,
		DefaultACRValues:                      c.DefaultACRValues,
		RequireMFA:                            c.RequireMFA,
		RequirePKCE:                           c.RequirePKCE,
		RequirePushedAuthorizationRequests:    c.RequirePushedAuthorizationRequests,
		PostLogoutRedirectURIs:                c.PostLogoutRedirectURIs,
		BackchannelLogoutURI:                  c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:      c.BackchannelLogoutSessionRequired,
		DPoPBoundAccessTokens:                 c.DPoPBoundAccessTokens,
		Profile:                               c.Profile,
	}
}

// CreateClient registers in with POST /admin/clients and returns the new
// client, with its secret if it has one (shown this once). The fields
// the server sets (ClientSecret, ClientIDIssuedAt, ClientSecretExpiresAt,
// UpdatedAt) are not sent. An empty ClientID asks the server to generate
// one; nil GrantTypes asks for the default (client_credentials), empty
// ones for none.
func (c *Client) CreateClient(ctx context.Context, in ClientJSON) (ClientJSON, []byte, error) {
	return call[ClientJSON](ctx, c, http.MethodPost, "/admin/clients", nil, in.Metadata())
}

// ListClients returns every client (GET /admin/clients), never their
// secrets.
func (c *Client) ListClients(ctx context.Context) (ClientList, []byte, error) {
	return call[ClientList](ctx, c, http.MethodGet, "/admin/clients", nil, nil)
}

// GetClient returns one client (GET /admin/clients/{id}), never its
// secret.
func (c *Client) GetClient(ctx context.Context, id string) (ClientJSON, []byte, error) {
	return call[ClientJSON](ctx, c, http.MethodGet, route("clients", id), nil, nil)
}

// UpdateClient replaces the metadata of client id with that of in (PUT
// /admin/clients/{id}), as CreateClient sends it, and returns the
// client. Its secret does not change.
func (c *Client) UpdateClient(ctx context.Context, id string, in ClientJSON) (ClientJSON, []byte, error) {
	return call[ClientJSON](ctx, c, http.MethodPut, route("clients", id), nil, in.Metadata())
}

// DeleteClient deletes client id (DELETE /admin/clients/{id}); its tokens
// stop working at once.
func (c *Client) DeleteClient(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, route("clients", id), nil, nil)
	return err
}

// RotateClientSecret gives client id a new secret (POST
// /admin/clients/{id}/secret) and returns the client with it, shown this
// once. The old secret stops working at once.
func (c *Client) RotateClientSecret(ctx context.Context, id string) (ClientJSON, []byte, error) {
	return call[ClientJSON](ctx, c, http.MethodPost, route("clients", id, "/secret"), nil, nil)
}

// Grant types a client may register (grant_types) and the token endpoint
// serves.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// Grants lists the grant types, in the order discovery names them.
func Grants() []string {
	return []string{GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken}
}
