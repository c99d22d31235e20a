// Package opsessions is the operators' console sessions part of the
// PostgreSQL store.
package opsessions

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// Sessions is the storage.OperatorSessionStore part of the PostgreSQL
// store. Errors name no digest.
type Sessions struct{ Pool *pgxpool.Pool }

// CreateOperatorSession implements storage.OperatorSessionStore.
func (s *Sessions) CreateOperatorSession(ctx context.Context, os storage.OperatorSession) error {
	if !pgconv.TextOK(os.OperatorID) || len(os.Digest) == 0 {
		return fmt.Errorf("postgres: create operator session: %w", storage.ErrConflict)
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO operator_sessions (digest, operator_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		os.Digest, os.OperatorID, os.CreatedAt, os.LastSeenAt, os.ExpiresAt)
	return pgconv.MapErr("create operator session", err)
}

// TouchOperatorSession implements storage.OperatorSessionStore: one
// conditional UPDATE, so that an expired or idle session is never
// renewed.
func (s *Sessions) TouchOperatorSession(ctx context.Context, digest []byte, now time.Time, idle time.Duration) (storage.OperatorSession, error) {
	var os storage.OperatorSession
	err := s.Pool.QueryRow(ctx, `UPDATE operator_sessions SET last_seen_at = $2
		WHERE digest = $1 AND expires_at > $2 AND last_seen_at > $2 - make_interval(secs => $3)
		RETURNING digest, operator_id, created_at, last_seen_at, expires_at`, digest, now, idle.Seconds()).
		Scan(&os.Digest, &os.OperatorID, &os.CreatedAt, &os.LastSeenAt, &os.ExpiresAt)
	os.CreatedAt, os.LastSeenAt, os.ExpiresAt = os.CreatedAt.UTC(), os.LastSeenAt.UTC(), os.ExpiresAt.UTC()
	return os, pgconv.MapErr("operator session", err)
}

// DeleteOperatorSession implements storage.OperatorSessionStore.
func (s *Sessions) DeleteOperatorSession(ctx context.Context, digest []byte) error {
	_, err := s.Pool.Exec(ctx, `DELETE FROM operator_sessions WHERE digest = $1`, digest)
	return pgconv.MapErr("delete operator session", err)
}

// DeleteOperatorSessions implements storage.OperatorSessionStore.
func (s *Sessions) DeleteOperatorSessions(ctx context.Context, operatorID string) (int, error) {
	if !pgconv.TextOK(operatorID) {
		return 0, nil
	}
	tag, err := s.Pool.Exec(ctx, `DELETE FROM operator_sessions WHERE operator_id = $1`, operatorID)
	return int(tag.RowsAffected()), pgconv.MapErr("delete operator sessions", err)
}
