package adminapi

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Events of API keys.
const (
	EventAPIKeyCreated = "api_key.created"
	EventAPIKeyRotated = "api_key.rotated"
	EventAPIKeyRevoked = "api_key.revoked"
)

// APIKeyJSON is an API key as the admin API shows it. Key, the key itself,
// is in the answer that made it and nowhere else: it is not stored.
type APIKeyJSON struct {
	ID       string `json:"id"`
	ClientID string `json:"client_id"`
	Name     string `json:"name"`
	Key      string `json:"key,omitempty"`
	// Scope and Audience bound what the key can do; an empty audience is
	// the client's.
	Scope    string   `json:"scope"`
	Audience []string `json:"audience"`
	// Networks are the CIDR ranges the key may be used from; empty: any.
	Networks   []string   `json:"networks"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// ReplacedBy names the key a rotation replaced this one with; this
	// one then works until ExpiresAt, the end of its grace period.
	ReplacedBy string `json:"replaced_by,omitempty"`
}

// APIKeyList is the answer of GET /admin/clients/{id}/api-keys.
type APIKeyList struct {
	APIKeys []APIKeyJSON `json:"api_keys"`
}

// APIKeyCreate is the body of POST /admin/clients/{id}/api-keys.
type APIKeyCreate struct {
	Name string `json:"name"`
	// Scope defaults to the client's whole scope.
	Scope    string   `json:"scope,omitempty"`
	Audience []string `json:"audience,omitempty"`
	// ExpiresIn is the key's lifetime in seconds; the server's default
	// (90 days) if zero.
	ExpiresIn int64    `json:"expires_in,omitempty"`
	Networks  []string `json:"networks,omitempty"`
}

// APIKeyRotate is the body of POST /admin/clients/{id}/api-keys/{key}/rotate.
type APIKeyRotate struct {
	// GracePeriod is how long, in seconds, the old key keeps working; 24
	// hours if absent, at once if 0.
	GracePeriod *int64 `json:"grace_period,omitempty"`
}

// CreateAPIKey makes an API key of client clientID (POST
// /admin/clients/{id}/api-keys); the answer holds the key, this once.
func (c *Client) CreateAPIKey(ctx context.Context, clientID string, in APIKeyCreate) (APIKeyJSON, []byte, error) {
	return call[APIKeyJSON](ctx, c, http.MethodPost, route("clients", clientID, "/api-keys"), nil, in)
}

// ListAPIKeys lists the API keys of client clientID, never the keys.
func (c *Client) ListAPIKeys(ctx context.Context, clientID string) (APIKeyList, []byte, error) {
	return call[APIKeyList](ctx, c, http.MethodGet, route("clients", clientID, "/api-keys"), nil, nil)
}

// RevokeAPIKey revokes the API key keyID of client clientID at once.
func (c *Client) RevokeAPIKey(ctx context.Context, clientID, keyID string) error {
	_, err := c.do(ctx, http.MethodDelete, route("clients", clientID, "/api-keys/", url.PathEscape(keyID)), nil, nil)
	return err
}

// RotateAPIKey makes a new key like keyID and returns it (shown this
// once); the old one works for the grace period more.
func (c *Client) RotateAPIKey(ctx context.Context, clientID, keyID string, in APIKeyRotate) (APIKeyJSON, []byte, error) {
	return call[APIKeyJSON](ctx, c, http.MethodPost, route("clients", clientID, "/api-keys/", url.PathEscape(keyID), "/rotate"), nil, in)
}
