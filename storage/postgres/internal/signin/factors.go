// Package signin is the part of the PostgreSQL store that people's sign-in
// uses beyond their account: second factors, passkeys, browser sessions
// and their logout.
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

// Factors is the storage.FactorStore part of Store. Errors name people
// by their opaque ID only, never a secret or a digest.
type Factors struct{ Pool *pgxpool.Pool }

const factorCols = `id, user_id, kind, name, secret, counter, created_at, last_used_at`

func scanFactor(row pgx.Row) (storage.Factor, error) {
	var f storage.Factor
	var kind string
	var used *time.Time
	err := row.Scan(&f.ID, &f.UserID, &kind, &f.Name, &f.Secret, &f.Counter, &f.CreatedAt, &used)
	f.Kind, f.CreatedAt = storage.FactorKind(kind), f.CreatedAt.UTC()
	if used != nil {
		f.LastUsedAt = used.UTC()
	}
	return f, err
}

// CreateFactor implements storage.FactorStore. The foreign key refuses a
// missing user; the primary key and the partial unique index a taken ID
// and a second authenticator app.
func (s *Factors) CreateFactor(ctx context.Context, f storage.Factor) error {
	if !pgconv.TextOK(f.UserID) {
		return fmt.Errorf("postgres: create factor: %w", storage.ErrNotFound)
	}
	op := fmt.Sprintf("create factor of user %q", f.UserID)
	if !pgconv.TextOK(f.ID) || !pgconv.TextOK(f.Name) || !pgconv.TextOK(string(f.Kind)) {
		return fmt.Errorf("postgres: %s: text PostgreSQL cannot store: %w", op, storage.ErrConflict)
	}
	var used *time.Time
	if !f.LastUsedAt.IsZero() {
		used = &f.LastUsedAt
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO factors (`+factorCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		f.ID, f.UserID, string(f.Kind), f.Name, pgconv.NonNilBytes(f.Secret), f.Counter, f.CreatedAt, used)
	return pgconv.MapErr(op, err)
}

// ListFactors implements storage.FactorStore.
func (s *Factors) ListFactors(ctx context.Context, userID string) ([]storage.Factor, error) {
	if !pgconv.TextOK(userID) {
		return []storage.Factor{}, nil
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+factorCols+` FROM factors WHERE user_id = $1 ORDER BY created_at, id COLLATE "C"`, userID)
	if err != nil {
		return nil, pgconv.MapErr("list factors", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Factor, error) { return scanFactor(r) })
	if err == nil && out == nil {
		out = []storage.Factor{}
	}
	return out, pgconv.MapErr("list factors", err)
}

// AdvanceFactor implements storage.FactorStore with one conditional
// UPDATE: the row lock makes concurrent calls with one counter queue, and
// the second sees the first's counter and changes nothing.
func (s *Factors) AdvanceFactor(ctx context.Context, userID, id string, counter int64, now time.Time) error {
	op := fmt.Sprintf("advance factor of user %q", userID)
	if !pgconv.TextOK(userID) || !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	var advanced bool
	err := s.Pool.QueryRow(ctx, `WITH f AS (SELECT counter FROM factors WHERE id = $1 AND user_id = $2),
		u AS (UPDATE factors SET counter = $3, last_used_at = $4 WHERE id = $1 AND user_id = $2 AND counter < $3 RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u) FROM f`, id, userID, counter, now).Scan(&advanced)
	if err != nil {
		return pgconv.MapErr(op, err) // no row: no such factor
	}
	if !advanced {
		return fmt.Errorf("postgres: %s: counter not greater: %w", op, storage.ErrConflict)
	}
	return nil
}

// DeleteFactors implements storage.FactorStore in one transaction, with
// the passkeys.
func (s *Factors) DeleteFactors(ctx context.Context, userID string) (int, error) {
	if !pgconv.TextOK(userID) {
		return 0, nil
	}
	var n int
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM factors WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		if tag, err = tx.Exec(ctx, `DELETE FROM passkeys WHERE user_id = $1`, userID); err != nil {
			return err
		}
		n += int(tag.RowsAffected())
		_, err = tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID)
		return err
	})
	return n, pgconv.MapErr(fmt.Sprintf("delete factors of user %q", userID), err)
}

// SetRecoveryCodes implements storage.FactorStore in one transaction; the
// foreign key refuses a missing user.
func (s *Factors) SetRecoveryCodes(ctx context.Context, userID string, digests [][]byte, now time.Time) error {
	op := fmt.Sprintf("set recovery codes of user %q", userID)
	if !pgconv.TextOK(userID) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if len(digests) == 0 {
			// Still refuse a missing user, as the insert would.
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, userID).Scan(&ok); err != nil || ok {
				return err
			}
			return pgx.ErrNoRows
		}
		_, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, digest, created_at)
			SELECT $1, d, $3 FROM unnest($2::bytea[]) AS d`, userID, digests, now)
		return err
	})
	return pgconv.MapErr(op, err)
}

// UseRecoveryCode implements storage.FactorStore with one conditional
// UPDATE: of concurrent calls, the first to lock the row sets used_at and
// the others find it set.
func (s *Factors) UseRecoveryCode(ctx context.Context, userID string, digest []byte, now time.Time) error {
	op := fmt.Sprintf("use recovery code of user %q", userID)
	if !pgconv.TextOK(userID) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	tag, err := s.Pool.Exec(ctx, `UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND digest = $2 AND used_at IS NULL`,
		userID, pgconv.NonNilBytes(digest), now)
	return pgconv.Affected(op, tag, err)
}

// RecoveryCodesLeft implements storage.FactorStore.
func (s *Factors) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	if !pgconv.TextOK(userID) {
		return 0, nil
	}
	var n int
	err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n)
	return n, pgconv.MapErr("count recovery codes", err)
}
