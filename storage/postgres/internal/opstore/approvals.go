package opstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// The storage.ApprovalStore part of Store: the four-eyes requests of
// operators. Errors name requests by their ID only.

const approvalCols = `id, action, target, method, path, body, requested_by, created_at, expires_at, state, decided_by, decided_at, result`

func scanApproval(row pgx.Row) (storage.Approval, error) {
	var a storage.Approval
	var decided *time.Time
	err := row.Scan(&a.ID, &a.Action, &a.Target, &a.Method, &a.Path, &a.Body, &a.RequestedBy, &a.CreatedAt, &a.ExpiresAt,
		&a.State, &a.DecidedBy, &decided, &a.Result)
	if decided != nil {
		a.DecidedAt = decided.UTC()
	}
	a.CreatedAt, a.ExpiresAt = a.CreatedAt.UTC(), a.ExpiresAt.UTC()
	return a, err
}

// CreateApproval implements storage.ApprovalStore.
func (s *Store) CreateApproval(ctx context.Context, a storage.Approval) error {
	if !pgconv.AllTextOK([]string{a.ID, a.Action, a.Target, a.Method, a.Path, a.RequestedBy, a.State, a.DecidedBy, a.Result}) {
		return fmt.Errorf("postgres: create approval %q: text PostgreSQL cannot store: %w", a.ID, storage.ErrConflict)
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO approvals (`+approvalCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		a.ID, a.Action, a.Target, a.Method, a.Path, pgconv.NullBytes(a.Body), a.RequestedBy, a.CreatedAt, a.ExpiresAt,
		a.State, a.DecidedBy, pgconv.NullTime(a.DecidedAt), a.Result)
	return pgconv.MapErr(fmt.Sprintf("create approval %q", a.ID), err)
}

// GetApproval implements storage.ApprovalStore: one primary-key read.
func (s *Store) GetApproval(ctx context.Context, id string) (storage.Approval, error) {
	if !pgconv.TextOK(id) {
		return storage.Approval{}, fmt.Errorf("postgres: get approval: %w", storage.ErrNotFound)
	}
	a, err := scanApproval(s.Pool.QueryRow(ctx, `SELECT `+approvalCols+` FROM approvals WHERE id = $1`, id))
	return a, pgconv.MapErr(fmt.Sprintf("get approval %q", id), err)
}

// ListApprovals implements storage.ApprovalStore.
func (s *Store) ListApprovals(ctx context.Context, f storage.ApprovalFilter) ([]storage.Approval, error) {
	if f.Limit <= 0 || f.Limit > storage.MaxApprovalPage {
		f.Limit = storage.MaxApprovalPage
	}
	if !pgconv.TextOK(f.State) {
		return []storage.Approval{}, nil
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+approvalCols+` FROM approvals WHERE ($1 = '' OR state = $1)
		ORDER BY created_at DESC, id DESC LIMIT $2`, f.State, f.Limit)
	if err != nil {
		return nil, pgconv.MapErr("list approvals", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Approval, error) { return scanApproval(row) })
	if err != nil {
		return nil, pgconv.MapErr("list approvals", err)
	}
	if out == nil {
		out = []storage.Approval{}
	}
	return out, nil
}

// DecideApproval implements storage.ApprovalStore: one conditional
// UPDATE, which of concurrent decisions only one makes.
func (s *Store) DecideApproval(ctx context.Context, id, state, by string, at time.Time) (storage.Approval, error) {
	op := fmt.Sprintf("decide approval %q", id)
	if !pgconv.AllTextOK([]string{id, state, by}) {
		return storage.Approval{}, fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	a, err := scanApproval(s.Pool.QueryRow(ctx, `UPDATE approvals SET state = $2, decided_by = $3, decided_at = $4
		WHERE id = $1 AND state = 'pending' AND expires_at > $4 RETURNING `+approvalCols, id, state, by, at))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Approval{}, s.missingOrConflict(ctx, op, id)
	}
	return a, pgconv.MapErr(op, err)
}

// missingOrConflict is the error of a conditional update of approval id
// that changed nothing: ErrNotFound if there is no such request,
// ErrConflict if it is in another state.
func (s *Store) missingOrConflict(ctx context.Context, op, id string) error {
	var one int
	err := s.Pool.QueryRow(ctx, `SELECT 1 FROM approvals WHERE id = $1`, id).Scan(&one)
	if err != nil {
		return pgconv.MapErr(op, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, storage.ErrConflict)
}

// FinishApproval implements storage.ApprovalStore.
func (s *Store) FinishApproval(ctx context.Context, id, state, result string) error {
	op := fmt.Sprintf("finish approval %q", id)
	if !pgconv.AllTextOK([]string{id, state, result}) {
		return fmt.Errorf("postgres: %s: text PostgreSQL cannot store: %w", op, storage.ErrConflict)
	}
	tag, err := s.Pool.Exec(ctx, `UPDATE approvals SET state = $2, result = $3 WHERE id = $1 AND state = 'approved'`, id, state, result)
	if err != nil {
		return pgconv.MapErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return s.missingOrConflict(ctx, op, id)
	}
	return nil
}

// ExpireApprovals implements storage.ApprovalStore.
func (s *Store) ExpireApprovals(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.Pool.Exec(ctx, `UPDATE approvals SET state = 'expired' WHERE state = 'pending' AND expires_at <= $1`, now)
	if err != nil {
		return 0, pgconv.MapErr("expire approvals", err)
	}
	return int(tag.RowsAffected()), nil
}
