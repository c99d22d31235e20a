package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// apiKeyStore is the storage.APIKeyStore part of Store. Keys are never
// cached: a deleted key is refused on every replica at once.
type apiKeyStore struct{ pool *pgxpool.Pool }

const apiKeyColumns = `id, client_id, name, digest, scopes, audience, networks, created_at, expires_at, last_used_at, replaced_by`

func scanAPIKey(row pgx.Row) (storage.APIKey, error) {
	var k storage.APIKey
	var last *time.Time
	if err := row.Scan(&k.ID, &k.ClientID, &k.Name, &k.Digest, &k.Scopes, &k.Audience, &k.Networks,
		&k.CreatedAt, &k.ExpiresAt, &last, &k.ReplacedBy); err != nil {
		return storage.APIKey{}, err
	}
	k.CreatedAt, k.ExpiresAt = k.CreatedAt.UTC(), k.ExpiresAt.UTC()
	if last != nil {
		k.LastUsedAt = last.UTC()
	}
	return k, nil
}

func apiKeyStorable(k storage.APIKey) bool {
	return pgconv.AllTextOK([]string{k.ID, k.ClientID, k.Name, k.ReplacedBy}, k.Scopes, k.Audience, k.Networks)
}

// execer is what a pool and a transaction share.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertAPIKey(ctx context.Context, q execer, k storage.APIKey) error {
	_, err := q.Exec(ctx, `INSERT INTO api_keys (id, client_id, name, digest, scopes, audience, networks, created_at, expires_at, replaced_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		k.ID, k.ClientID, k.Name, k.Digest, pgconv.NonNil(k.Scopes), pgconv.NonNil(k.Audience), pgconv.NonNil(k.Networks), k.CreatedAt, k.ExpiresAt, k.ReplacedBy)
	return pgconv.MapErr("create API key", err)
}

// CreateAPIKey implements storage.APIKeyStore.
func (s *apiKeyStore) CreateAPIKey(ctx context.Context, k storage.APIKey) error {
	if !apiKeyStorable(k) {
		return fmt.Errorf("postgres: create API key: text PostgreSQL cannot store: %w", storage.ErrConflict)
	}
	return insertAPIKey(ctx, s.pool, k)
}

// GetAPIKey implements storage.APIKeyStore.
func (s *apiKeyStore) GetAPIKey(ctx context.Context, id string) (storage.APIKey, error) {
	if !pgconv.TextOK(id) {
		return storage.APIKey{}, fmt.Errorf("postgres: get API key: %w", storage.ErrNotFound)
	}
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	return k, pgconv.MapErr("get API key", err)
}

// ListAPIKeys implements storage.APIKeyStore.
func (s *apiKeyStore) ListAPIKeys(ctx context.Context, clientID string) ([]storage.APIKey, error) {
	if !pgconv.TextOK(clientID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE client_id = $1 ORDER BY created_at, id`, clientID)
	if err != nil {
		return nil, pgconv.MapErr("list API keys", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.APIKey, error) { return scanAPIKey(r) })
	return keys, pgconv.MapErr("list API keys", err)
}

// DeleteAPIKey implements storage.APIKeyStore.
func (s *apiKeyStore) DeleteAPIKey(ctx context.Context, clientID, id string) error {
	if !pgconv.TextOK(clientID) || !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: delete API key: %w", storage.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_keys WHERE id = $1 AND client_id = $2`, id, clientID)
	if err != nil {
		return pgconv.MapErr("delete API key", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete API key %q: %w", id, storage.ErrNotFound)
	}
	return nil
}

// RotateAPIKey implements storage.APIKeyStore in one transaction: the old
// key is marked replaced only if it was not already (the row lock orders
// concurrent rotations: one wins, the others get ErrConflict).
func (s *apiKeyStore) RotateAPIKey(ctx context.Context, old string, oldExpires time.Time, next storage.APIKey) error {
	if !apiKeyStorable(next) || !pgconv.TextOK(old) {
		return fmt.Errorf("postgres: rotate API key: text PostgreSQL cannot store: %w", storage.ErrConflict)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var replacedBy string
		err := tx.QueryRow(ctx, `SELECT replaced_by FROM api_keys WHERE id = $1 AND client_id = $2 FOR UPDATE`, old, next.ClientID).Scan(&replacedBy)
		if err != nil {
			return pgconv.MapErr("rotate API key", err)
		}
		if replacedBy != "" {
			return fmt.Errorf("postgres: rotate API key %q: already replaced: %w", old, storage.ErrConflict)
		}
		if err := insertAPIKey(ctx, tx, next); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE api_keys SET replaced_by = $2, expires_at = LEAST(expires_at, $3) WHERE id = $1`, old, next.ID, oldExpires)
		return pgconv.MapErr("rotate API key", err)
	})
}

// TouchAPIKeys implements storage.APIKeyStore in one statement.
func (s *apiKeyStore) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	ids, times := make([]string, 0, len(used)), make([]time.Time, 0, len(used))
	for id, at := range used {
		if pgconv.TextOK(id) {
			ids, times = append(ids, id), append(times, at)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE api_keys k SET last_used_at = u.at
		FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)
		WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)`, ids, times)
	return pgconv.MapErr("touch API keys", err)
}
