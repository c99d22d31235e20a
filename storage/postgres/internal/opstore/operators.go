// Package opstore is the operators part of the PostgreSQL store: the
// operators, and their four-eyes requests (approvals).
package opstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// Store is the storage.OperatorStore part of the PostgreSQL store. Errors name
// operators by their opaque ID only, never a username or a digest.
type Store struct{ Pool *pgxpool.Pool }

const operatorCols = `id, username, role, password_hash, disabled, totp_secret, totp_counter, enrollment_digest, enrollment_expires_at, created_at, updated_at`

func scanOperator(row pgx.Row) (storage.Operator, error) {
	var o storage.Operator
	var expires *time.Time
	err := row.Scan(&o.ID, &o.Username, &o.Role, &o.PasswordHash, &o.Disabled, &o.TOTPSecret, &o.TOTPCounter,
		&o.EnrollmentDigest, &expires, &o.CreatedAt, &o.UpdatedAt)
	if expires != nil {
		o.EnrollmentExpiresAt = expires.UTC()
	}
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, err
}

// CreateOperator implements storage.OperatorStore. The primary key and
// the unique username refuse a second operator with either.
func (s *Store) CreateOperator(ctx context.Context, o storage.Operator) error {
	if !pgconv.TextOK(o.ID) || !pgconv.TextOK(o.Username) || !pgconv.TextOK(o.Role) || !pgconv.TextOK(o.PasswordHash) {
		return fmt.Errorf("postgres: create operator %q: text PostgreSQL cannot store: %w", o.ID, storage.ErrConflict)
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO operators (`+operatorCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		o.ID, o.Username, o.Role, o.PasswordHash, o.Disabled, pgconv.NullBytes(o.TOTPSecret), o.TOTPCounter,
		pgconv.NullBytes(o.EnrollmentDigest), pgconv.NullTime(o.EnrollmentExpiresAt), o.CreatedAt, o.UpdatedAt)
	return pgconv.MapErr(fmt.Sprintf("create operator %q", o.ID), err)
}

// GetOperator implements storage.OperatorStore: one primary-key read.
func (s *Store) GetOperator(ctx context.Context, id string) (storage.Operator, error) {
	if !pgconv.TextOK(id) {
		return storage.Operator{}, fmt.Errorf("postgres: get operator: %w", storage.ErrNotFound)
	}
	o, err := scanOperator(s.Pool.QueryRow(ctx, `SELECT `+operatorCols+` FROM operators WHERE id = $1`, id))
	return o, pgconv.MapErr(fmt.Sprintf("get operator %q", id), err)
}

// GetOperatorByUsername implements storage.OperatorStore.
func (s *Store) GetOperatorByUsername(ctx context.Context, username string) (storage.Operator, error) {
	if !pgconv.TextOK(username) {
		return storage.Operator{}, fmt.Errorf("postgres: get operator by username: %w", storage.ErrNotFound)
	}
	o, err := scanOperator(s.Pool.QueryRow(ctx, `SELECT `+operatorCols+` FROM operators WHERE username = $1`, username))
	return o, pgconv.MapErr("get operator by username", err)
}

// ListOperators implements storage.OperatorStore, usernames ordered byte
// by byte as in every backend.
func (s *Store) ListOperators(ctx context.Context) ([]storage.Operator, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+operatorCols+` FROM operators ORDER BY username COLLATE "C"`)
	if err != nil {
		return nil, pgconv.MapErr("list operators", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Operator, error) { return scanOperator(r) })
	if err == nil && out == nil {
		out = []storage.Operator{}
	}
	return out, pgconv.MapErr("list operators", err)
}

// SetOperatorCredentials implements storage.OperatorStore with one
// UPDATE of the credential columns alone, conditional when enrolling.
func (s *Store) SetOperatorCredentials(ctx context.Context, id string, c storage.OperatorCredentials, enrollment []byte, now time.Time) error {
	op := fmt.Sprintf("set operator credentials %q", id)
	if !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	if !pgconv.TextOK(c.PasswordHash) {
		return fmt.Errorf("postgres: %s: text PostgreSQL cannot store: %w", op, storage.ErrConflict)
	}
	q := `UPDATE operators SET password_hash = $2, totp_secret = $3, totp_counter = $4, enrollment_digest = $5,
		enrollment_expires_at = $6, updated_at = $7 WHERE id = $1`
	args := []any{id, c.PasswordHash, pgconv.NullBytes(c.TOTPSecret), c.TOTPCounter,
		pgconv.NullBytes(c.EnrollmentDigest), pgconv.NullTime(c.EnrollmentExpiresAt), now}
	if len(enrollment) > 0 {
		q += ` AND NOT disabled AND totp_secret IS NULL AND enrollment_digest = $8`
		args = append(args, enrollment)
	}
	tag, err := s.Pool.Exec(ctx, q, args...)
	if err != nil {
		return pgconv.MapErr(op, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := s.GetOperator(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("postgres: %s: the enrollment has ended: %w", op, storage.ErrConflict)
}

// UseEnrollment implements storage.OperatorStore with one conditional
// UPDATE: of concurrent calls the row lock lets one clear the digest, and
// the others then find none.
func (s *Store) UseEnrollment(ctx context.Context, digest []byte, now time.Time) (storage.Operator, error) {
	if len(digest) == 0 {
		return storage.Operator{}, fmt.Errorf("postgres: use enrollment: %w", storage.ErrNotFound)
	}
	o, err := scanOperator(s.Pool.QueryRow(ctx, `UPDATE operators SET enrollment_digest = $3
		WHERE enrollment_digest = $1 AND enrollment_expires_at > $2 RETURNING `+operatorCols, digest, now, storage.UsedEnrollment(digest)))
	return o, pgconv.MapErr("use enrollment", err)
}

// AdvanceOperatorTOTP implements storage.OperatorStore with one
// conditional UPDATE: the row lock lets one of concurrent calls raise the
// counter, and the others then find it as high.
func (s *Store) AdvanceOperatorTOTP(ctx context.Context, id string, counter int64, now time.Time) error {
	op := fmt.Sprintf("advance operator %q", id)
	if !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	tag, err := s.Pool.Exec(ctx, `UPDATE operators SET totp_counter = $2, updated_at = $3 WHERE id = $1 AND totp_counter < $2`, id, counter, now)
	if err != nil {
		return pgconv.MapErr(op, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := s.GetOperator(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("postgres: %s: code used already: %w", op, storage.ErrConflict)
}

// SetOperatorAccess implements storage.OperatorStore. The enabled owners'
// rows are locked first: of two transactions that would each leave the
// other owner alone, the second reads the owners again once the first
// commits, and finds none left but the one it changes.
func (s *Store) SetOperatorAccess(ctx context.Context, id, role string, disabled bool, now time.Time) error {
	op := fmt.Sprintf("set operator access %q", id)
	if !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	if !pgconv.TextOK(role) {
		return fmt.Errorf("postgres: %s: text PostgreSQL cannot store: %w", op, storage.ErrConflict)
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM operators WHERE role = 'owner' AND NOT disabled ORDER BY id FOR UPDATE`)
		if err != nil {
			return err
		}
		owners, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		stays := role == "owner" && !disabled
		if slices.Contains(owners, id) && !stays && !slices.ContainsFunc(owners, func(o string) bool { return o != id }) {
			return fmt.Errorf("postgres: %s: no enabled owner would remain: %w", op, storage.ErrConflict)
		}
		tag, err := tx.Exec(ctx, `UPDATE operators SET role = $2, disabled = $3, updated_at = $4 WHERE id = $1`, id, role, disabled, now)
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
		}
		return err
	})
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return pgconv.MapErr(op, err)
}
