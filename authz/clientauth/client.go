package clientauth

import (
	"slices"
	"time"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/storage"
)

// Client adapts a storage.Client to fosite. It is built per request from
// the store's record (LoadClient) and not shared between requests.
type Client struct {
	// Rec is the stored client.
	Rec storage.Client
	// Audience is the registered audience, or the server's default
	// audience for a client that registered none.
	Audience fosite.Arguments
	// MaxTTL caps the client's own access token lifetime.
	MaxTTL time.Duration
	// CertThumb is the x5t#S256 of the certificate the client presented
	// on this request, if any.
	CertThumb string
	// APIKeyID names the API key the client authenticated with on this
	// request, if it did.
	APIKeyID string
}

// withAPIKey narrows c to what the API key k may do: the client_credentials
// grant, and the key's scopes and audience, as far as the client still
// has them.
func (c *Client) withAPIKey(k storage.APIKey) *Client {
	n := *c
	n.APIKeyID = k.ID
	n.Rec.GrantTypes = intersect([]string{"client_credentials"}, c.Rec.GrantTypes)
	n.Rec.ResponseTypes, n.Rec.RedirectURIs = nil, nil
	n.Rec.Scopes = intersect(k.Scopes, c.Rec.Scopes)
	if len(k.Audience) > 0 {
		n.Audience = intersect(k.Audience, c.Audience)
	}
	return &n
}

// intersect returns the values of a that b holds too, in a's order.
func intersect(a, b []string) []string {
	out := []string{}
	for _, v := range a {
		if slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

var (
	_ fosite.Client                         = (*Client)(nil)
	_ fosite.ClientWithCustomTokenLifespans = (*Client)(nil)
)

func (c *Client) GetID() string                      { return c.Rec.ID }
func (c *Client) GetHashedSecret() []byte            { return c.Rec.SecretHash }
func (c *Client) GetRedirectURIs() []string          { return c.Rec.RedirectURIs }
func (c *Client) GetGrantTypes() fosite.Arguments    { return c.Rec.GrantTypes }
func (c *Client) GetResponseTypes() fosite.Arguments { return c.Rec.ResponseTypes }
func (c *Client) GetScopes() fosite.Arguments        { return c.Rec.Scopes }
func (c *Client) IsPublic() bool                     { return c.Rec.TokenEndpointAuthMethod == "none" }
func (c *Client) GetAudience() fosite.Arguments      { return c.Audience }

// IntrospectionAudiences are the audiences of the tokens the client may
// see active when it introspects: its registered introspection
// audiences, or else its (effective) Audience.
func (c *Client) IntrospectionAudiences() []string {
	if len(c.Rec.IntrospectionAudiences) > 0 {
		return c.Rec.IntrospectionAudiences
	}
	return c.Audience
}

// GetEffectiveLifespan applies the client's access_token_ttl, capped by the
// server's maximum.
func (c *Client) GetEffectiveLifespan(_ fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	if tt == fosite.AccessToken && c.Rec.AccessTokenTTL > 0 {
		return min(c.Rec.AccessTokenTTL, c.MaxTTL)
	}
	return fallback
}

// BindCertificate decides the certificate binding (RFC 8705 section 3)
// of the tokens a token request ar issues, before they are issued, and
// returns the thumbprint they are bound to ("": none). bound is the
// binding of the grant so far; refresh says ar is a refresh, kept that
// the grant's refresh token is not rotated (a FAPI 2.0 client's). A client
// that authenticated with a certificate, or registered
// tls_client_certificate_bound_access_tokens, gets tokens bound to the
// certificate it presented; a public client's refresh token, and a kept
// one, stays bound to the certificate its grant began with.
func BindCertificate(ar fosite.AccessRequester, bound string, refresh, kept bool) (string, error) {
	c, ok := ar.GetClient().(*Client)
	if !ok {
		return bound, nil
	}
	if refresh && (c.IsPublic() || kept) && bound != "" && bound != c.CertThumb {
		return bound, fosite.ErrInvalidGrant.WithHint("The refresh token is bound to another client certificate.")
	}
	if !CertMethod(c.Rec.TokenEndpointAuthMethod) && !c.Rec.CertificateBoundAccessTokens {
		return "", nil
	}
	if c.CertThumb == "" {
		return bound, fosite.ErrInvalidRequest.WithHint("This client's tokens are bound to its TLS client certificate: connect with it.")
	}
	return c.CertThumb, nil
}
