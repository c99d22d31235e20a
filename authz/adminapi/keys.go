package adminapi

import (
	"context"
	"net/http"
)

// KeyJSON is a signing key in the admin API: public metadata only.
type KeyJSON struct {
	KID         string `json:"kid"`
	Alg         string `json:"alg"`
	State       string `json:"state"`
	CreatedAt   string `json:"created_at"`
	ActivatedAt string `json:"activated_at,omitempty"`
	RetiredAt   string `json:"retired_at,omitempty"`
}

// KeyList is the answer of GET /admin/keys and of the rotate and retire
// calls: every key the store holds, removed ones too, oldest first.
type KeyList struct {
	Keys []KeyJSON `json:"keys"`
}

// RotateKeysRequest is the body of POST /admin/keys/rotate.
type RotateKeysRequest struct {
	// Alg names one algorithm; empty rotates every algorithm.
	Alg string `json:"alg,omitempty"`
}

// RetireKeyRequest is the body of POST /admin/keys/{kid}/retire.
type RetireKeyRequest struct {
	RevokeTokens bool `json:"revoke_tokens"`
}

// ListKeys returns every signing key (GET /admin/keys).
func (c *Client) ListKeys(ctx context.Context) (KeyList, []byte, error) {
	return call[KeyList](ctx, c, http.MethodGet, "/admin/keys", nil, nil)
}

// RotateKeys makes a new key sign now (POST /admin/keys/rotate) and
// returns every key.
func (c *Client) RotateKeys(ctx context.Context, in RotateKeysRequest) (KeyList, []byte, error) {
	return call[KeyList](ctx, c, http.MethodPost, "/admin/keys/rotate", nil, in)
}

// RetireKey stops key kid signing (POST /admin/keys/{kid}/retire) and
// returns every key.
func (c *Client) RetireKey(ctx context.Context, kid string, in RetireKeyRequest) (KeyList, []byte, error) {
	return call[KeyList](ctx, c, http.MethodPost, route("keys", kid, "/retire"), nil, in)
}
