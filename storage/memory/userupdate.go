package memory

import (
	"context"
	"fmt"

	"github.com/idvauth/idvauth/storage"
)

// UpdateUser implements storage.UserStore: u replaces the stored person,
// plain or sealed, under one lock.
func (s *userStore) UpdateUser(_ context.Context, u storage.User) error {
	if !storable(u.ID, u.Username, u.Name, u.Email, u.PasswordHash) || (u.Sealed != nil && !storable(u.Sealed.KEK)) {
		return fmt.Errorf("memory: update user %q: text the store cannot keep: %w", u.ID, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[u.ID]
	if !ok {
		return fmt.Errorf("memory: update user %q: %w", u.ID, storage.ErrNotFound)
	}
	s.releaseUsernameLocked(old)
	if err := s.claimUsernameLocked(u); err != nil {
		_ = s.claimUsernameLocked(old) // it was ours a moment ago
		return fmt.Errorf("memory: update user %q: %w", u.ID, err)
	}
	u.CreatedAt = old.CreatedAt
	s.users[u.ID] = cloneUser(u)
	return nil
}
