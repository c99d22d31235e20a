package memory

import (
	"context"
	"fmt"

	"github.com/idvauth/idvauth/storage"
)

// UpdateUser implements storage.UserStore.
func (s *userStore) UpdateUser(_ context.Context, u storage.User) error {
	if !storable(u.ID, u.Username, u.Name, u.Email, u.PasswordHash) {
		return fmt.Errorf("memory: update user %q: text the store cannot keep: %w", u.ID, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[u.ID]
	if !ok {
		return fmt.Errorf("memory: update user %q: %w", u.ID, storage.ErrNotFound)
	}
	if other, ok := s.usernames[u.Username]; ok && other != u.ID {
		return fmt.Errorf("memory: update user %q: username taken: %w", u.ID, storage.ErrAlreadyExists)
	}
	u.CreatedAt = old.CreatedAt
	delete(s.usernames, old.Username)
	s.users[u.ID] = u
	s.usernames[u.Username] = u.ID
	return nil
}
