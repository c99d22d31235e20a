package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// apiKeyStore is the storage.APIKeyStore part of Store.
type apiKeyStore struct{ *tables }

func cloneAPIKey(k storage.APIKey) storage.APIKey {
	k.Digest = slices.Clone(k.Digest)
	k.Scopes = slices.Clone(k.Scopes)
	k.Audience = slices.Clone(k.Audience)
	k.Networks = slices.Clone(k.Networks)
	return k
}

// CreateAPIKey implements storage.APIKeyStore.
func (s *apiKeyStore) CreateAPIKey(_ context.Context, k storage.APIKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createAPIKey(k)
}

// createAPIKey stores k; the caller holds the lock.
func (s *apiKeyStore) createAPIKey(k storage.APIKey) error {
	if !storable(append([]string{k.ID, k.ClientID, k.Name, k.ReplacedBy}, slices.Concat(k.Scopes, k.Audience, k.Networks)...)...) {
		return fmt.Errorf("memory: create API key: text PostgreSQL cannot store: %w", storage.ErrConflict)
	}
	if _, ok := s.clients[k.ClientID]; !ok {
		return fmt.Errorf("memory: create API key of client %q: %w", k.ClientID, storage.ErrNotFound)
	}
	if _, ok := s.apiKeys[k.ID]; ok {
		return fmt.Errorf("memory: create API key %q: %w", k.ID, storage.ErrAlreadyExists)
	}
	k.CreatedAt, k.ExpiresAt = k.CreatedAt.UTC(), k.ExpiresAt.UTC()
	s.apiKeys[k.ID] = cloneAPIKey(k)
	return nil
}

// GetAPIKey implements storage.APIKeyStore.
func (s *apiKeyStore) GetAPIKey(_ context.Context, id string) (storage.APIKey, error) {
	k, ok := lookup(&s.mu, s.apiKeys, id)
	if !ok {
		return storage.APIKey{}, fmt.Errorf("memory: get API key: %w", storage.ErrNotFound)
	}
	return cloneAPIKey(k), nil
}

// ListAPIKeys implements storage.APIKeyStore.
func (s *apiKeyStore) ListAPIKeys(_ context.Context, clientID string) ([]storage.APIKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return matching(s.apiKeys, func(k storage.APIKey) bool { return k.ClientID == clientID }, cloneAPIKey,
		func(a, b storage.APIKey) int { return cmpCreated(a.CreatedAt, b.CreatedAt, a.ID, b.ID) }), nil
}

// cmpCreated orders by creation time, then ID.
func cmpCreated(a, b time.Time, aID, bID string) int {
	if c := a.Compare(b); c != 0 {
		return c
	}
	return strings.Compare(aID, bID)
}

// DeleteAPIKey implements storage.APIKeyStore.
func (s *apiKeyStore) DeleteAPIKey(_ context.Context, clientID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.apiKeys[id]; !ok || k.ClientID != clientID {
		return fmt.Errorf("memory: delete API key %q: %w", id, storage.ErrNotFound)
	}
	delete(s.apiKeys, id)
	return nil
}

// RotateAPIKey implements storage.APIKeyStore.
func (s *apiKeyStore) RotateAPIKey(_ context.Context, old string, oldExpires time.Time, next storage.APIKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.apiKeys[old]
	if !ok || k.ClientID != next.ClientID {
		return fmt.Errorf("memory: rotate API key %q: %w", old, storage.ErrNotFound)
	}
	if k.ReplacedBy != "" {
		return fmt.Errorf("memory: rotate API key %q: already replaced: %w", old, storage.ErrConflict)
	}
	if err := s.createAPIKey(next); err != nil {
		return err
	}
	k.ReplacedBy = next.ID
	if oldExpires.Before(k.ExpiresAt) {
		k.ExpiresAt = oldExpires.UTC()
	}
	s.apiKeys[old] = k
	return nil
}

// TouchAPIKeys implements storage.APIKeyStore.
func (s *apiKeyStore) TouchAPIKeys(_ context.Context, used map[string]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range used {
		if k, ok := s.apiKeys[id]; ok && at.After(k.LastUsedAt) {
			k.LastUsedAt = at.UTC()
			s.apiKeys[id] = k
		}
	}
	return nil
}

// deleteClientAPIKeys removes the keys of a deleted client; the caller
// holds the lock.
func (s *tables) deleteClientAPIKeys(clientID string) {
	maps.DeleteFunc(s.apiKeys, func(_ string, k storage.APIKey) bool { return k.ClientID == clientID })
}
