package signin

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// Passkeys is the storage.PasskeyStore part of Store. Errors name
// people by their opaque ID only.
type Passkeys struct{ Pool *pgxpool.Pool }

const passkeyCols = `id, user_id, credential_id, user_handle, name, credential, sign_count, created_at, last_used_at`

func scanPasskey(row pgx.Row) (storage.Passkey, error) {
	var p storage.Passkey
	var used *time.Time
	err := row.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.UserHandle, &p.Name, &p.Credential, &p.SignCount, &p.CreatedAt, &used)
	p.CreatedAt = p.CreatedAt.UTC()
	if used != nil {
		p.LastUsedAt = used.UTC()
	}
	return p, err
}

// CreatePasskey implements storage.PasskeyStore. The foreign key refuses
// a missing user; the primary key and the unique credential_id a taken
// ID or credential.
func (s *Passkeys) CreatePasskey(ctx context.Context, p storage.Passkey) error {
	if !pgconv.TextOK(p.UserID) {
		return fmt.Errorf("postgres: create passkey: %w", storage.ErrNotFound)
	}
	op := fmt.Sprintf("create passkey of user %q", p.UserID)
	if !pgconv.TextOK(p.ID) || !pgconv.TextOK(p.Name) {
		return fmt.Errorf("postgres: %s: text PostgreSQL cannot store: %w", op, storage.ErrConflict)
	}
	var used *time.Time
	if !p.LastUsedAt.IsZero() {
		used = &p.LastUsedAt
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO passkeys (`+passkeyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		p.ID, p.UserID, pgconv.NonNilBytes(p.CredentialID), pgconv.NonNilBytes(p.UserHandle), p.Name, pgconv.NonNilBytes(p.Credential), p.SignCount, p.CreatedAt, used)
	return pgconv.MapErr(op, err)
}

// ListPasskeys implements storage.PasskeyStore.
func (s *Passkeys) ListPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error) {
	if !pgconv.TextOK(userID) {
		return []storage.Passkey{}, nil
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+passkeyCols+` FROM passkeys WHERE user_id = $1 ORDER BY created_at, id COLLATE "C"`, userID)
	if err != nil {
		return nil, pgconv.MapErr("list passkeys", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Passkey, error) { return scanPasskey(r) })
	if err == nil && out == nil {
		out = []storage.Passkey{}
	}
	return out, pgconv.MapErr("list passkeys", err)
}

// GetPasskey implements storage.PasskeyStore.
func (s *Passkeys) GetPasskey(ctx context.Context, credentialID []byte) (storage.Passkey, error) {
	p, err := scanPasskey(s.Pool.QueryRow(ctx, `SELECT `+passkeyCols+` FROM passkeys WHERE credential_id = $1`, pgconv.NonNilBytes(credentialID)))
	return p, pgconv.MapErr("get passkey", err)
}

// UsePasskey implements storage.PasskeyStore with one conditional UPDATE:
// the row lock makes concurrent uses queue, and a later one sees the
// counter the first set.
func (s *Passkeys) UsePasskey(ctx context.Context, userID, id string, signCount int64, now time.Time) error {
	op := fmt.Sprintf("use passkey of user %q", userID)
	if !pgconv.TextOK(userID) || !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	var used bool
	err := s.Pool.QueryRow(ctx, `WITH p AS (SELECT 1 FROM passkeys WHERE id = $1 AND user_id = $2),
		u AS (UPDATE passkeys SET sign_count = $3, last_used_at = $4 WHERE id = $1 AND user_id = $2
			AND (sign_count < $3 OR (sign_count = 0 AND $3 = 0)) RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u) FROM p`, id, userID, signCount, now).Scan(&used)
	if err != nil {
		return pgconv.MapErr(op, err) // no row: no such passkey
	}
	if !used {
		return fmt.Errorf("postgres: %s: counter did not go forward: %w", op, storage.ErrConflict)
	}
	return nil
}

// RenamePasskey implements storage.PasskeyStore.
func (s *Passkeys) RenamePasskey(ctx context.Context, userID, id, name string) error {
	op := fmt.Sprintf("rename passkey of user %q", userID)
	if !pgconv.TextOK(userID) || !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	if !pgconv.TextOK(name) {
		return fmt.Errorf("postgres: %s: text PostgreSQL cannot store: %w", op, storage.ErrConflict)
	}
	tag, err := s.Pool.Exec(ctx, `UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2`, id, userID, name)
	return pgconv.Affected(op, tag, err)
}

// DeletePasskey implements storage.PasskeyStore.
func (s *Passkeys) DeletePasskey(ctx context.Context, userID, id string) error {
	op := fmt.Sprintf("delete passkey of user %q", userID)
	if !pgconv.TextOK(userID) || !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	tag, err := s.Pool.Exec(ctx, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, id, userID)
	return pgconv.Affected(op, tag, err)
}
