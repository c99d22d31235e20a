package adminapi

import "encoding/json"

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
	TLSClientCertificateBoundAccessTokens bool     `json:"tls_client_certificate_bound_access_tokens"`
	Audience                              []string `json:"audience"`
	AccessTokenTTL                        int64    `json:"access_token_ttl"`
	IntrospectionAllowed                  bool     `json:"introspection_allowed"`
	IDTokenSignedResponseAlg              string   `json:"id_token_signed_response_alg,omitempty"`
	ClientIDIssuedAt                      int64    `json:"client_id_issued_at,omitempty"`
	ClientSecretExpiresAt                 int64    `json:"client_secret_expires_at"`
	UpdatedAt                             int64    `json:"updated_at,omitempty"`
}

// ClientList is the answer of GET /admin/clients.
type ClientList struct {
	Clients []ClientJSON `json:"clients"`
}
