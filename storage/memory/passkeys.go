package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// passkeyStore is the storage.PasskeyStore part of Store, in the tables
// people live in, so that deleting a person deletes their passkeys under
// the same lock.
type passkeyStore struct{ *tables }

func clonePasskey(p storage.Passkey) storage.Passkey {
	p.CredentialID = slices.Clone(p.CredentialID)
	p.UserHandle = slices.Clone(p.UserHandle)
	p.Credential = slices.Clone(p.Credential)
	return p
}

// CreatePasskey implements storage.PasskeyStore.
func (s *passkeyStore) CreatePasskey(_ context.Context, p storage.Passkey) error {
	if !storable(p.UserID) {
		return fmt.Errorf("memory: create passkey: %w", storage.ErrNotFound)
	}
	if !storable(p.ID, p.Name) {
		return fmt.Errorf("memory: create passkey of user %q: text the store cannot keep: %w", p.UserID, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[p.UserID]; !ok {
		return fmt.Errorf("memory: create passkey of user %q: no such user: %w", p.UserID, storage.ErrNotFound)
	}
	if _, ok := s.passkeys[p.ID]; ok {
		return fmt.Errorf("memory: create passkey of user %q: %w", p.UserID, storage.ErrAlreadyExists)
	}
	for _, q := range s.passkeys {
		if bytes.Equal(q.CredentialID, p.CredentialID) {
			return fmt.Errorf("memory: create passkey of user %q: credential ID taken: %w", p.UserID, storage.ErrAlreadyExists)
		}
	}
	s.passkeys[p.ID] = clonePasskey(p)
	return nil
}

// ListPasskeys implements storage.PasskeyStore.
func (s *passkeyStore) ListPasskeys(_ context.Context, userID string) ([]storage.Passkey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := matching(s.passkeys, func(p storage.Passkey) bool { return p.UserID == userID }, clonePasskey,
		func(a, b storage.Passkey) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
		})
	if out == nil {
		out = []storage.Passkey{}
	}
	return out, nil
}

// GetPasskey implements storage.PasskeyStore.
func (s *passkeyStore) GetPasskey(_ context.Context, credentialID []byte) (storage.Passkey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, p := range s.passkeys {
		if bytes.Equal(p.CredentialID, credentialID) {
			return clonePasskey(p), nil
		}
	}
	return storage.Passkey{}, fmt.Errorf("memory: get passkey: %w", storage.ErrNotFound)
}

// UsePasskey implements storage.PasskeyStore: the check and the set
// happen under one lock.
func (s *passkeyStore) UsePasskey(_ context.Context, userID, id string, signCount int64, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys[id]
	if !ok || p.UserID != userID {
		return fmt.Errorf("memory: use passkey of user %q: %w", userID, storage.ErrNotFound)
	}
	if signCount <= p.SignCount && (signCount != 0 || p.SignCount != 0) {
		return fmt.Errorf("memory: use passkey of user %q: counter did not go forward: %w", userID, storage.ErrConflict)
	}
	p.SignCount, p.LastUsedAt = signCount, now
	s.passkeys[id] = p
	return nil
}

// RenamePasskey implements storage.PasskeyStore.
func (s *passkeyStore) RenamePasskey(_ context.Context, userID, id, name string) error {
	if !storable(name) {
		return fmt.Errorf("memory: rename passkey of user %q: text the store cannot keep: %w", userID, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys[id]
	if !ok || p.UserID != userID {
		return fmt.Errorf("memory: rename passkey of user %q: %w", userID, storage.ErrNotFound)
	}
	p.Name = name
	s.passkeys[id] = p
	return nil
}

// DeletePasskey implements storage.PasskeyStore.
func (s *passkeyStore) DeletePasskey(_ context.Context, userID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys[id]
	if !ok || p.UserID != userID {
		return fmt.Errorf("memory: delete passkey of user %q: %w", userID, storage.ErrNotFound)
	}
	delete(s.passkeys, id)
	return nil
}

// deletePasskeysLocked removes the passkeys of userID and returns how
// many. The caller holds the lock.
func (t *tables) deletePasskeysLocked(userID string) int {
	n := len(t.passkeys)
	maps.DeleteFunc(t.passkeys, func(_ string, p storage.Passkey) bool { return p.UserID == userID })
	return n - len(t.passkeys)
}
