package memory

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/idvauth/idvauth/storage"
)

// PersonKeys is a storage.PersonKeyStore in memory: the person-key store
// of serve --dev and of tests. It is apart from Store, as a real one is
// apart from the main database.
type PersonKeys struct {
	mu   sync.RWMutex
	keys map[string]storage.PersonKey
}

var _ storage.PersonKeyStore = (*PersonKeys)(nil)

// NewPersonKeys returns an empty person-key store.
func NewPersonKeys() *PersonKeys { return &PersonKeys{keys: map[string]storage.PersonKey{}} }

func clonePersonKey(k storage.PersonKey) storage.PersonKey {
	k.Wrapped = bytes.Clone(k.Wrapped)
	return k
}

// CreatePersonKey implements storage.PersonKeyStore.
func (s *PersonKeys) CreatePersonKey(_ context.Context, k storage.PersonKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.UserID]; ok {
		return fmt.Errorf("memory: create person key of %q: %w", k.UserID, storage.ErrAlreadyExists)
	}
	s.keys[k.UserID] = clonePersonKey(k)
	return nil
}

// GetPersonKey implements storage.PersonKeyStore.
func (s *PersonKeys) GetPersonKey(_ context.Context, userID string) (storage.PersonKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[userID]
	if !ok {
		return storage.PersonKey{}, fmt.Errorf("memory: get person key of %q: %w", userID, storage.ErrNotFound)
	}
	return clonePersonKey(k), nil
}

// ReplacePersonKey implements storage.PersonKeyStore.
func (s *PersonKeys) ReplacePersonKey(_ context.Context, old []byte, k storage.PersonKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.keys[k.UserID]
	switch {
	case !ok:
		return fmt.Errorf("memory: replace person key of %q: %w", k.UserID, storage.ErrNotFound)
	case !bytes.Equal(cur.Wrapped, old):
		return fmt.Errorf("memory: replace person key of %q: the key changed: %w", k.UserID, storage.ErrConflict)
	}
	s.keys[k.UserID] = clonePersonKey(k)
	return nil
}

// DeletePersonKey implements storage.PersonKeyStore.
func (s *PersonKeys) DeletePersonKey(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, userID)
	return nil
}

// CountPersonKeys implements storage.PersonKeyStore.
func (s *PersonKeys) CountPersonKeys(context.Context) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.keys), nil
}
