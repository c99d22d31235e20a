package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// keyStore is the storage.KeyStore part of Store.
type keyStore struct{ pool *pgxpool.Pool }

// CreateKey implements storage.KeyStore.
func (s *keyStore) CreateKey(ctx context.Context, k storage.Key) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (id, alg, state, sealed, public_jwk, created_at, activated_at, retired_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.Alg, k.State, k.Sealed, k.PublicJWK, k.CreatedAt, pgconv.NullTime(k.ActivatedAt), pgconv.NullTime(k.RetiredAt))
	return pgconv.MapErr("create key", err)
}

// UpdateKeys implements storage.KeyStore in one transaction: each change
// is a conditional update, and the partial unique indexes refuse a second
// next or active key of an algorithm.
func (s *keyStore) UpdateKeys(ctx context.Context, at time.Time, changes ...storage.KeyChange) error {
	for _, ch := range changes {
		if !pgconv.TextOK(ch.ID) {
			return fmt.Errorf("postgres: update key: %w", storage.ErrNotFound)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, ch := range changes {
			tag, err := tx.Exec(ctx, `UPDATE signing_keys SET state = $3,
				activated_at = CASE WHEN $3 = 'active' THEN $4 ELSE activated_at END,
				retired_at = CASE WHEN $3 = 'retired' OR ($3 = 'removed' AND retired_at IS NULL) THEN $4 ELSE retired_at END
				WHERE id = $1 AND state = $2`, ch.ID, ch.From, ch.To, at)
			if err != nil {
				return pgconv.MapErr("update key", err)
			}
			if tag.RowsAffected() == 1 {
				continue
			}
			var state string
			if err := tx.QueryRow(ctx, `SELECT state FROM signing_keys WHERE id = $1`, ch.ID).Scan(&state); err != nil {
				return pgconv.MapErr("update key", err)
			}
			return fmt.Errorf("postgres: update key %q: it is %s, not %s: %w", ch.ID, state, ch.From, storage.ErrConflict)
		}
		return nil
	})
	return err
}

// SetKeySealed implements storage.KeyStore.
func (s *keyStore) SetKeySealed(ctx context.Context, id string, sealed []byte) error {
	if !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: set sealed key: %w", storage.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE signing_keys SET sealed = $2 WHERE id = $1`, id, sealed)
	return pgconv.Affected("set sealed key", tag, err)
}

// ListKeys implements storage.KeyStore.
func (s *keyStore) ListKeys(ctx context.Context) ([]storage.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, alg, state, sealed, public_jwk, created_at, activated_at, retired_at
		FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, pgconv.MapErr("list keys", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Key, error) {
		var k storage.Key
		var act, ret *time.Time
		err := r.Scan(&k.ID, &k.Alg, &k.State, &k.Sealed, &k.PublicJWK, &k.CreatedAt, &act, &ret)
		k.CreatedAt = k.CreatedAt.UTC()
		if act != nil {
			k.ActivatedAt = act.UTC()
		}
		if ret != nil {
			k.RetiredAt = ret.UTC()
		}
		return k, err
	})
	return out, pgconv.MapErr("list keys", err)
}
