package storage

import (
	"context"
	"time"
)

// APIKey is a long-lived credential of a client for simple
// server-to-server integrations. Only a digest of its secret is stored.
type APIKey struct {
	// ID is the public key ID, part of the key a customer holds.
	ID       string
	ClientID string
	// Name says what the key is for; chosen by the operator.
	Name string
	// Digest is the SHA-256 of the key's secret.
	Digest []byte
	// Scopes and Audience bound what the key can do: each a subset of
	// its client's.
	Scopes   []string
	Audience []string
	// Networks, if any, are the CIDR ranges the key may be used from.
	Networks  []string
	CreatedAt time.Time
	ExpiresAt time.Time
	// LastUsedAt is when the key was last used, to within the batching
	// interval of the server; zero if never.
	LastUsedAt time.Time
	// ReplacedBy names the key that replaced this one in a rotation.
	ReplacedBy string
}

// APIKeyStore keeps API keys. A key is gone with its client.
type APIKeyStore interface {
	// CreateAPIKey stores k; ErrNotFound if its client does not exist,
	// ErrAlreadyExists if the ID is taken.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// GetAPIKey returns the key id, or ErrNotFound.
	GetAPIKey(ctx context.Context, id string) (APIKey, error)
	// ListAPIKeys returns the keys of clientID, oldest first.
	ListAPIKeys(ctx context.Context, clientID string) ([]APIKey, error)
	// DeleteAPIKey removes the key id of clientID; ErrNotFound if that
	// client has no such key. Every replica refuses the key at once.
	DeleteAPIKey(ctx context.Context, clientID, id string) error
	// RotateAPIKey stores next and makes the key old of the same client
	// expire at oldExpires (if that is sooner than it would) and name
	// next as its replacement, in one step; ErrNotFound if the client
	// has no key old, ErrConflict if old was already replaced.
	RotateAPIKey(ctx context.Context, old string, oldExpires time.Time, next APIKey) error
	// TouchAPIKeys records when keys were last used: used maps key IDs
	// to times; a time earlier than the one stored, or a key that is
	// gone, is passed over.
	TouchAPIKeys(ctx context.Context, used map[string]time.Time) error
}
