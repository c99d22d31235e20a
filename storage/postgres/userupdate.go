package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// UpdateUser implements storage.UserStore: the row (and, for a sealed
// profile, the person's wrapped data key, or its removal when the key is
// in the person-key store) in one transaction, so the
// unique username column or index refuses a username another person has.
// A sealed profile clears the plain columns.
func (s *userStore) UpdateUser(ctx context.Context, u storage.User) error {
	if !pgconv.TextOK(u.ID) || !pgconv.TextOK(u.Username) || !pgconv.TextOK(u.Name) || !pgconv.TextOK(u.Email) || !pgconv.TextOK(u.PasswordHash) ||
		(u.Sealed != nil && (!pgconv.TextOK(u.Sealed.KEK) || !pgconv.TextOK(u.Sealed.KeyRef))) {
		return fmt.Errorf("postgres: update user %q: text PostgreSQL cannot store: %w", u.ID, storage.ErrConflict)
	}
	op := fmt.Sprintf("update user %q", u.ID)
	if u.Sealed == nil {
		tag, err := s.pool.Exec(ctx, `UPDATE users SET username = $2, name = $3, email = $4, password_hash = $5, updated_at = $6 WHERE id = $1`,
			u.ID, u.Username, u.Name, u.Email, u.PasswordHash, u.UpdatedAt)
		return pgconv.Affected(op, tag, err)
	}
	p := u.Sealed
	return pgconv.MapErr(op, pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET username = NULL, name = NULL, email = NULL, password_hash = $2, updated_at = $3,
			username_index = $4, email_index = $5, username_sealed = $6, name_sealed = $7, email_sealed = $8, key_ref = NULLIF($9, '')
			WHERE id = $1`, u.ID, u.PasswordHash, u.UpdatedAt, p.UsernameIndex, p.EmailIndex, p.Username, p.Name, p.Email, p.KeyRef)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		if p.KeyRef != "" { // the key is in the person-key store: none here
			_, err = tx.Exec(ctx, `DELETE FROM person_keys WHERE user_id = $1`, u.ID)
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO person_keys (user_id, wrapped, kek) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET wrapped = EXCLUDED.wrapped, kek = EXCLUDED.kek`, u.ID, p.Key, p.KEK)
		return err
	}))
}
