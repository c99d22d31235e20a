package postgres

import (
	"context"
	"fmt"

	"github.com/idvauth/idvauth/storage"
)

// UpdateUser implements storage.UserStore: one UPDATE, so the unique
// username index refuses a username another person has.
func (s *userStore) UpdateUser(ctx context.Context, u storage.User) error {
	if !textOK(u.ID) || !textOK(u.Username) || !textOK(u.Name) || !textOK(u.Email) || !textOK(u.PasswordHash) {
		return fmt.Errorf("postgres: update user %q: text PostgreSQL cannot store: %w", u.ID, storage.ErrConflict)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE users SET username = $2, name = $3, email = $4, password_hash = $5, updated_at = $6 WHERE id = $1`,
		u.ID, u.Username, u.Name, u.Email, u.PasswordHash, u.UpdatedAt)
	return affected(fmt.Sprintf("update user %q", u.ID), tag, err)
}
