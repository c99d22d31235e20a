package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// tokenStore is the storage.TokenStore and storage.AssertionStore part of
// Store: token records and used client assertions, and the janitor that
// removes what expired.
type tokenStore struct {
	pool     *pgxpool.Pool
	inserter *tokenInserter // on the token pool
}

// CreateToken implements storage.TokenStore in one statement, shared with
// concurrent calls (tokenInserter): the foreign key refuses a token of a
// client that no longer exists.
func (s *tokenStore) CreateToken(ctx context.Context, t storage.Token) error {
	if err := checkToken(t); err != nil {
		return err
	}
	return s.inserter.insert(ctx, t)
}

// checkToken refuses a token whose text PostgreSQL cannot store.
func checkToken(t storage.Token) error {
	if !pgconv.TextOK(t.ClientID) {
		return fmt.Errorf("postgres: create token: %w", storage.ErrNotFound)
	}
	if !pgconv.TextOK(t.Signature) || !pgconv.TextOK(t.RequestID) || !pgconv.TextOK(t.Subject) || !pgconv.TextOK(t.KeyID) || !pgconv.TextOK(t.JTI) ||
		!pgconv.AllTextOK(t.Scopes, t.Audience) {
		return fmt.Errorf("postgres: create token: text PostgreSQL cannot store: %w", storage.ErrConflict)
	}
	return nil
}

const tokenCols = `request_id, client_id, subject, scopes, audience, key_id, jti, issued_at, expires_at, session, consumed_at`

// scanToken scans a row of tokenCols into t, after the columns (if any)
// that lead scans into.
func scanToken(row pgx.Row, t *storage.Token, lead ...any) error {
	var consumed *time.Time
	err := row.Scan(append(lead, &t.RequestID, &t.ClientID, &t.Subject, &t.Scopes, &t.Audience, &t.KeyID, &t.JTI,
		&t.IssuedAt, &t.ExpiresAt, &t.Session, &consumed)...)
	t.IssuedAt, t.ExpiresAt = t.IssuedAt.UTC(), t.ExpiresAt.UTC()
	if consumed != nil {
		t.ConsumedAt = consumed.UTC()
	}
	if len(t.Session) == 0 {
		t.Session = nil
	}
	return err
}

// GetToken implements storage.TokenStore: one indexed read.
func (s *tokenStore) GetToken(ctx context.Context, kind storage.TokenKind, sig string) (storage.Token, error) {
	if !pgconv.TextOK(sig) {
		return storage.Token{}, fmt.Errorf("postgres: get token: %w", storage.ErrNotFound)
	}
	t := storage.Token{Kind: kind, Signature: sig}
	err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE signature = $1 AND kind = $2`, sig, string(kind)), &t)
	return t, pgconv.MapErr("get token", err)
}

// ConsumeToken implements storage.TokenStore with a conditional update:
// concurrent callers queue on the row lock, and each one after the first
// finds consumed_at set and updates nothing.
func (s *tokenStore) ConsumeToken(ctx context.Context, kind storage.TokenKind, sig string, now time.Time) (storage.Token, error) {
	if !pgconv.TextOK(sig) {
		return storage.Token{}, fmt.Errorf("postgres: consume token: %w", storage.ErrNotFound)
	}
	t := storage.Token{Kind: kind, Signature: sig}
	err := scanToken(s.pool.QueryRow(ctx, `UPDATE tokens SET consumed_at = $3
		WHERE signature = $1 AND kind = $2 AND consumed_at IS NULL RETURNING `+tokenCols, sig, string(kind), now), &t)
	if !errors.Is(err, pgx.ErrNoRows) {
		return t, pgconv.MapErr("consume token", err)
	}
	t, err = s.GetToken(ctx, kind, sig)
	if err != nil {
		return t, err
	}
	return t, fmt.Errorf("postgres: consume token: already used: %w", storage.ErrConflict)
}

// DeleteToken implements storage.TokenStore.
func (s *tokenStore) DeleteToken(ctx context.Context, kind storage.TokenKind, sig string) error {
	if !pgconv.TextOK(sig) {
		return fmt.Errorf("postgres: delete token: %w", storage.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE signature = $1 AND kind = $2`, sig, string(kind))
	return pgconv.Affected("delete token", tag, err)
}

// RevokeRequest implements storage.TokenStore.
func (s *tokenStore) RevokeRequest(ctx context.Context, kind storage.TokenKind, requestID string) error {
	if !pgconv.TextOK(requestID) {
		return nil
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE request_id = $1 AND kind = $2`, requestID, string(kind))
	return pgconv.MapErr("revoke request", err)
}

// ListTokensBySubject implements storage.TokenStore.
func (s *tokenStore) ListTokensBySubject(ctx context.Context, subject string) ([]storage.Token, error) {
	if !pgconv.TextOK(subject) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT kind, signature, `+tokenCols+` FROM tokens WHERE subject = $1
		ORDER BY issued_at, kind COLLATE "C", signature COLLATE "C"`, subject)
	if err != nil {
		return nil, pgconv.MapErr("list tokens by subject", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Token, error) {
		var t storage.Token
		var kind string
		err := scanToken(r, &t, &kind, &t.Signature)
		t.Kind = storage.TokenKind(kind)
		return t, err
	})
	return out, pgconv.MapErr("list tokens by subject", err)
}

// janitorLockClass and the current schema name form the advisory lock
// that lets one replica at a time delete expired tokens.
const janitorLockClass int32 = 0x69647661 // "idva"

// expiredDeletes remove at most $2 expired rows each: token records,
// browser sessions without grants (those with grants are ended by
// ExpireBrowserSession, which tells their clients), failure windows, used
// assertions, API keys, operators' console sessions. A failure window
// restarted by a concurrent AddFailure is rechecked on its new version
// (the outer window_end condition) and kept.
var expiredDeletes = []string{
	`DELETE FROM tokens WHERE ctid IN (SELECT ctid FROM tokens WHERE expires_at < $1 LIMIT $2)`,
	`DELETE FROM browser_sessions WHERE ctid IN (SELECT ctid FROM browser_sessions s WHERE expires_at < $1
		AND NOT EXISTS (SELECT 1 FROM session_grants g WHERE g.session_id = s.id) LIMIT $2)`,
	`DELETE FROM failures WHERE ctid IN (SELECT ctid FROM failures WHERE window_end < $1 LIMIT $2) AND window_end < $1`,
	`DELETE FROM used_assertions WHERE ctid IN (SELECT ctid FROM used_assertions WHERE expires_at < $1 LIMIT $2)`,
	`DELETE FROM api_keys WHERE ctid IN (SELECT ctid FROM api_keys WHERE expires_at < $1 LIMIT $2)`,
	`DELETE FROM operator_sessions WHERE ctid IN (SELECT ctid FROM operator_sessions WHERE expires_at < $1 LIMIT $2)`,
}

// UseAssertion implements storage.AssertionStore with one insert that
// does nothing on conflict: the primary key lets exactly one of
// concurrent uses add the row. It goes through the durable pool: a
// replayed assertion must stay refused after a crash.
func (s *tokenStore) UseAssertion(ctx context.Context, clientID, jti string, expires time.Time) error {
	if !pgconv.TextOK(clientID) || !pgconv.TextOK(jti) {
		return fmt.Errorf("postgres: use assertion: text PostgreSQL cannot store: %w", storage.ErrConflict)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO used_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (client_id, jti) DO NOTHING`, clientID, jti, expires)
	if err != nil {
		return pgconv.MapErr("use assertion", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: use assertion of client %q: %w", clientID, storage.ErrAlreadyExists)
	}
	return nil
}

// DeleteExpired implements storage.TokenStore. Only one replica cleans at
// a time: if another holds the janitor lock, it deletes nothing.
func (s *tokenStore) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext(current_schema()))`, janitorLockClass).Scan(&locked); err != nil || !locked {
			return err
		}
		for _, q := range expiredDeletes {
			tag, err := tx.Exec(ctx, q, before, limit)
			if err != nil {
				return err
			}
			n += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, pgconv.MapErr("delete expired records", err)
	}
	return n, nil
}
