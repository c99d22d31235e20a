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

// clientStore is the storage.ClientStore part of Store.
type clientStore struct{ *tables }

func cloneClient(c storage.Client) storage.Client {
	c.SecretHash = slices.Clone(c.SecretHash)
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.ResponseTypes = slices.Clone(c.ResponseTypes)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.Scopes = slices.Clone(c.Scopes)
	c.Audience = slices.Clone(c.Audience)
	c.IntrospectionAudiences = slices.Clone(c.IntrospectionAudiences)
	c.DefaultACRValues = slices.Clone(c.DefaultACRValues)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	c.JWKS = slices.Clone(c.JWKS)
	return c
}

// CreateClient implements storage.ClientStore.
func (s *clientStore) CreateClient(_ context.Context, c storage.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return fmt.Errorf("memory: create client %q: %w", c.ID, storage.ErrAlreadyExists)
	}
	s.clients[c.ID] = cloneClient(c)
	return nil
}

// GetClient implements storage.ClientStore.
func (s *clientStore) GetClient(_ context.Context, id string) (storage.Client, error) {
	c, ok := lookup(&s.mu, s.clients, id)
	if !ok {
		return storage.Client{}, fmt.Errorf("memory: get client %q: %w", id, storage.ErrNotFound)
	}
	return cloneClient(c), nil
}

// ListClients implements storage.ClientStore.
func (s *clientStore) ListClients(context.Context) ([]storage.Client, error) {
	s.mu.RLock()
	out := make([]storage.Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, cloneClient(c))
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b storage.Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// UpdateClient implements storage.ClientStore.
func (s *clientStore) UpdateClient(_ context.Context, c storage.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.clients[c.ID]
	if !ok {
		return fmt.Errorf("memory: update client %q: %w", c.ID, storage.ErrNotFound)
	}
	c = cloneClient(c)
	c.SecretHash = old.SecretHash
	c.CreatedAt = old.CreatedAt
	s.clients[c.ID] = c
	return nil
}

// SetClientSecret implements storage.ClientStore.
func (s *clientStore) SetClientSecret(_ context.Context, id string, hash []byte, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return fmt.Errorf("memory: set client secret %q: %w", id, storage.ErrNotFound)
	}
	c.SecretHash = slices.Clone(hash)
	c.UpdatedAt = now
	s.clients[id] = c
	return nil
}

// DeleteClient implements storage.ClientStore: the client goes with its
// tokens and the consents given to it.
func (s *clientStore) DeleteClient(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[id]; !ok {
		return fmt.Errorf("memory: delete client %q: %w", id, storage.ErrNotFound)
	}
	delete(s.clients, id)
	maps.DeleteFunc(s.tokens, func(_ tokenKey, t storage.Token) bool { return t.ClientID == id })
	maps.DeleteFunc(s.consents, func(k consentKey, _ storage.Consent) bool { return k.client == id })
	s.deleteClientAPIKeys(id)
	return nil
}
