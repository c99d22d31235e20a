package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
)

// operatorStore is the storage.OperatorStore part of Store. Errors name
// operators by their opaque ID only, never a username or a digest.
type operatorStore struct{ pool *pgxpool.Pool }

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

// nullBytes is b, or NULL when empty.
func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// CreateOperator implements storage.OperatorStore. The primary key and
// the unique username refuse a second operator with either.
func (s *operatorStore) CreateOperator(ctx context.Context, o storage.Operator) error {
	if !textOK(o.ID) || !textOK(o.Username) || !textOK(o.Role) || !textOK(o.PasswordHash) {
		return fmt.Errorf("postgres: create operator %q: text PostgreSQL cannot store: %w", o.ID, storage.ErrConflict)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO operators (`+operatorCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		o.ID, o.Username, o.Role, o.PasswordHash, o.Disabled, nullBytes(o.TOTPSecret), o.TOTPCounter,
		nullBytes(o.EnrollmentDigest), nullTime(o.EnrollmentExpiresAt), o.CreatedAt, o.UpdatedAt)
	return mapErr(fmt.Sprintf("create operator %q", o.ID), err)
}

// GetOperator implements storage.OperatorStore: one primary-key read.
func (s *operatorStore) GetOperator(ctx context.Context, id string) (storage.Operator, error) {
	if !textOK(id) {
		return storage.Operator{}, fmt.Errorf("postgres: get operator: %w", storage.ErrNotFound)
	}
	o, err := scanOperator(s.pool.QueryRow(ctx, `SELECT `+operatorCols+` FROM operators WHERE id = $1`, id))
	return o, mapErr(fmt.Sprintf("get operator %q", id), err)
}

// GetOperatorByUsername implements storage.OperatorStore.
func (s *operatorStore) GetOperatorByUsername(ctx context.Context, username string) (storage.Operator, error) {
	if !textOK(username) {
		return storage.Operator{}, fmt.Errorf("postgres: get operator by username: %w", storage.ErrNotFound)
	}
	o, err := scanOperator(s.pool.QueryRow(ctx, `SELECT `+operatorCols+` FROM operators WHERE username = $1`, username))
	return o, mapErr("get operator by username", err)
}

// ListOperators implements storage.OperatorStore, usernames ordered byte
// by byte as in every backend.
func (s *operatorStore) ListOperators(ctx context.Context) ([]storage.Operator, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+operatorCols+` FROM operators ORDER BY username COLLATE "C"`)
	if err != nil {
		return nil, mapErr("list operators", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Operator, error) { return scanOperator(r) })
	if err == nil && out == nil {
		out = []storage.Operator{}
	}
	return out, mapErr("list operators", err)
}

// UpdateOperator implements storage.OperatorStore.
func (s *operatorStore) UpdateOperator(ctx context.Context, o storage.Operator) error {
	op := fmt.Sprintf("update operator %q", o.ID)
	if !textOK(o.ID) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	if !textOK(o.Role) || !textOK(o.PasswordHash) {
		return fmt.Errorf("postgres: %s: text PostgreSQL cannot store: %w", op, storage.ErrConflict)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE operators SET role = $2, password_hash = $3, disabled = $4, totp_secret = $5,
		totp_counter = $6, enrollment_digest = $7, enrollment_expires_at = $8, updated_at = $9 WHERE id = $1`,
		o.ID, o.Role, o.PasswordHash, o.Disabled, nullBytes(o.TOTPSecret), o.TOTPCounter,
		nullBytes(o.EnrollmentDigest), nullTime(o.EnrollmentExpiresAt), o.UpdatedAt)
	if err != nil {
		return mapErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	return nil
}

// UseEnrollment implements storage.OperatorStore with one conditional
// UPDATE: of concurrent calls the row lock lets one clear the digest, and
// the others then find none.
func (s *operatorStore) UseEnrollment(ctx context.Context, digest []byte, now time.Time) (storage.Operator, error) {
	if len(digest) == 0 {
		return storage.Operator{}, fmt.Errorf("postgres: use enrollment: %w", storage.ErrNotFound)
	}
	o, err := scanOperator(s.pool.QueryRow(ctx, `UPDATE operators SET enrollment_digest = NULL, enrollment_expires_at = NULL
		WHERE enrollment_digest = $1 AND enrollment_expires_at > $2 RETURNING `+operatorCols, digest, now))
	return o, mapErr("use enrollment", err)
}
