package authz

import (
	"time"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/storage"
)

// client adapts a storage.Client to fosite. It is built per request from
// the store's record and never modified.
type client struct {
	rec storage.Client
	// audience is the registered audience, or the server's default
	// audience for a client that registered none.
	audience fosite.Arguments
	// maxTTL caps the client's own access token lifetime.
	maxTTL time.Duration
	// certThumb is the x5t#S256 of the certificate the client presented
	// on this request, if any.
	certThumb string
}

var (
	_ fosite.Client                         = (*client)(nil)
	_ fosite.ClientWithCustomTokenLifespans = (*client)(nil)
)

func (c *client) GetID() string                      { return c.rec.ID }
func (c *client) GetHashedSecret() []byte            { return c.rec.SecretHash }
func (c *client) GetRedirectURIs() []string          { return c.rec.RedirectURIs }
func (c *client) GetGrantTypes() fosite.Arguments    { return c.rec.GrantTypes }
func (c *client) GetResponseTypes() fosite.Arguments { return c.rec.ResponseTypes }
func (c *client) GetScopes() fosite.Arguments        { return c.rec.Scopes }
func (c *client) IsPublic() bool                     { return c.rec.TokenEndpointAuthMethod == "none" }
func (c *client) GetAudience() fosite.Arguments      { return c.audience }

// GetEffectiveLifespan applies the client's access_token_ttl, capped by the
// server's maximum.
func (c *client) GetEffectiveLifespan(_ fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	if tt == fosite.AccessToken && c.rec.AccessTokenTTL > 0 {
		return min(c.rec.AccessTokenTTL, c.maxTTL)
	}
	return fallback
}
