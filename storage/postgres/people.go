package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// GetUserByIndex implements storage.PersonStore: one read of the unique
// username index.
func (s *userStore) GetUserByIndex(ctx context.Context, indexes [][]byte) (storage.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, userSelect+` WHERE u.username_index = ANY($1)`, indexes))
	return u, pgconv.MapErr("get user by index", err)
}

// ListUsersByID implements storage.PersonStore: a keyset page of the
// primary key, in the database's order of IDs (the index's), so that each
// page is one index range scan however large the table.
func (s *userStore) ListUsersByID(ctx context.Context, after string, limit int) ([]storage.User, error) {
	if !pgconv.TextOK(after) {
		return nil, fmt.Errorf("postgres: list users by id: text PostgreSQL cannot store: %w", storage.ErrConflict)
	}
	rows, err := s.pool.Query(ctx, userSelect+` WHERE u.id > $1 ORDER BY u.id LIMIT $2`, after, max(limit, 0))
	if err != nil {
		return nil, pgconv.MapErr("list users by id", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.User, error) { return scanUser(r) })
	return out, pgconv.MapErr("list users by id", err)
}

// CountPlainUsers implements storage.PersonStore.
func (s *userStore) CountPlainUsers(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE username_sealed IS NULL`).Scan(&n)
	return n, pgconv.MapErr("count plain users", err)
}

// CountKeyPlaces implements storage.PersonStore.
func (s *userStore) CountKeyPlaces(ctx context.Context) (here, elsewhere int, err error) {
	err = s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE key_ref IS NULL), count(*) FILTER (WHERE key_ref IS NOT NULL)
		FROM users WHERE username_sealed IS NOT NULL`).Scan(&here, &elsewhere)
	return here, elsewhere, pgconv.MapErr("count key places", err)
}

// sealUserSQL is SealUser's conditional UPDATE: $7 is old's wrapped key
// (NULL for a plain row), $11 old's key reference; for a sealed row, the
// sealed fields must be old's too ($12 to $14), or a profile change made
// meanwhile under the same key would be lost.
const sealUserSQL = `UPDATE users u SET username = NULL, name = NULL, email = NULL,
	username_index = $2, email_index = $3, username_sealed = $4, name_sealed = $5, email_sealed = $6, key_ref = NULLIF($15, '')
	WHERE u.id = $1 AND CASE
		WHEN $11 <> '' THEN u.key_ref = $11 AND u.username_sealed = $12 AND u.name_sealed = $13 AND u.email_sealed = $14
		WHEN $7::bytea IS NULL THEN u.username_sealed IS NULL AND u.username = $8 AND u.name = $9 AND u.email = $10
		ELSE u.key_ref IS NULL AND u.username_sealed = $12 AND u.name_sealed = $13 AND u.email_sealed = $14 AND EXISTS (SELECT 1 FROM person_keys k WHERE k.user_id = u.id AND k.wrapped = $7) END`

// SealUser implements storage.PersonStore in one short transaction that
// locks one row: the conditional UPDATE of the profile, then the data key
// (stored, or deleted when u's key is in the person-key store).
func (s *userStore) SealUser(ctx context.Context, old, u storage.User) error {
	op := fmt.Sprintf("seal user %q", u.ID)
	if u.Sealed == nil || !pgconv.TextOK(u.ID) || !pgconv.TextOK(u.Sealed.KEK) || !pgconv.TextOK(u.Sealed.KeyRef) {
		return fmt.Errorf("postgres: %s: no sealed profile: %w", op, storage.ErrConflict)
	}
	p := u.Sealed
	o := old.Sealed
	if o == nil {
		o = &storage.Profile{}
	}
	changed := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sealUserSQL, u.ID, p.UsernameIndex, p.EmailIndex, p.Username, p.Name, p.Email,
			o.Key, old.Username, old.Name, old.Email, o.KeyRef, o.Username, o.Name, o.Email, p.KeyRef)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		changed = true
		if p.KeyRef != "" {
			_, err = tx.Exec(ctx, `DELETE FROM person_keys WHERE user_id = $1`, u.ID)
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO person_keys (user_id, wrapped, kek) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET wrapped = EXCLUDED.wrapped, kek = EXCLUDED.kek`, u.ID, p.Key, p.KEK)
		return err
	})
	if err != nil || changed {
		return pgconv.MapErr(op, err)
	}
	if _, err := s.GetUser(ctx, u.ID); err != nil {
		return err
	}
	return fmt.Errorf("postgres: %s: the profile changed: %w", op, storage.ErrConflict)
}

// SetFactorSecret implements storage.PersonStore with one conditional
// UPDATE.
func (s *userStore) SetFactorSecret(ctx context.Context, userID, id string, old, secret []byte) error {
	op := fmt.Sprintf("set factor secret of user %q", userID)
	if !pgconv.TextOK(userID) || !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	var set bool
	err := s.pool.QueryRow(ctx, `WITH f AS (SELECT 1 FROM factors WHERE id = $1 AND user_id = $2),
		u AS (UPDATE factors SET secret = $4 WHERE id = $1 AND user_id = $2 AND secret = $3 RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u) FROM f`, id, userID, old, secret).Scan(&set)
	if err != nil {
		return pgconv.MapErr(op, err) // no row: no such factor
	}
	if !set {
		return fmt.Errorf("postgres: %s: the secret changed: %w", op, storage.ErrConflict)
	}
	return nil
}
