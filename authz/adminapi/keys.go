package adminapi

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
