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

// failureStore is the storage.FailureStore part of Store. Errors never
// name a key: a caller may derive it from a username.
type failureStore struct{ pool *pgxpool.Pool }

// errWindow refuses a window that would count nothing.
var errWindow = errors.New("the window must be positive")

// AddFailure implements storage.FailureStore in one upsert: concurrent
// callers, on any replica, queue on the row lock and each sees the count
// its own failure made. A window that has ended (window_end <= now)
// restarts at 1.
func (s *failureStore) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	if window <= 0 {
		return 0, fmt.Errorf("postgres: add failure: %w", errWindow)
	}
	if !pgconv.TextOK(key) {
		return 0, fmt.Errorf("postgres: add failure: key PostgreSQL cannot store: %w", storage.ErrConflict)
	}
	var n int
	err := s.pool.QueryRow(ctx, `INSERT INTO failures AS f (key, count, window_start, window_end) VALUES ($1, 1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN f.window_end <= $2 THEN 1 ELSE f.count + 1 END,
			window_start = CASE WHEN f.window_end <= $2 THEN $2 ELSE f.window_start END,
			window_end = CASE WHEN f.window_end <= $2 THEN $3 ELSE f.window_end END
		RETURNING count`, key, now, now.Add(window)).Scan(&n)
	if err != nil {
		return 0, pgconv.MapErr("add failure", err)
	}
	return n, nil
}

// Failures implements storage.FailureStore.
func (s *failureStore) Failures(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	if !pgconv.TextOK(key) {
		return 0, time.Time{}, nil
	}
	var n int
	var end time.Time
	err := s.pool.QueryRow(ctx, `SELECT count, window_end FROM failures WHERE key = $1 AND window_end > $2`, key, now).Scan(&n, &end)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, pgconv.MapErr("read failures", err)
	}
	return n, end.UTC(), nil
}

// ClearFailures implements storage.FailureStore.
func (s *failureStore) ClearFailures(ctx context.Context, key string) error {
	if !pgconv.TextOK(key) {
		return nil
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM failures WHERE key = $1`, key)
	return pgconv.MapErr("clear failures", err)
}

// ReserveAttempt implements storage.FailureStore in one conditional
// upsert: the row lock orders concurrent callers on every replica, and
// the WHERE refuses the one that would pass limit. A refused caller reads
// the count that refused it.
func (s *failureStore) ReserveAttempt(ctx context.Context, key string, now time.Time, window time.Duration, limit int) (bool, int, time.Time, error) {
	if window <= 0 {
		return false, 0, time.Time{}, fmt.Errorf("postgres: reserve attempt: %w", errWindow)
	}
	if !pgconv.TextOK(key) {
		return false, 0, time.Time{}, fmt.Errorf("postgres: reserve attempt: key PostgreSQL cannot store: %w", storage.ErrConflict)
	}
	if limit < 1 {
		n, end, err := s.Failures(ctx, key, now)
		return false, n, end, err
	}
	var n int
	var end time.Time
	err := s.pool.QueryRow(ctx, `INSERT INTO failures AS f (key, count, window_start, window_end) VALUES ($1, 1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET
			count = CASE WHEN f.window_end <= $2 THEN 1 ELSE f.count + 1 END,
			window_start = CASE WHEN f.window_end <= $2 THEN $2 ELSE f.window_start END,
			window_end = CASE WHEN f.window_end <= $2 THEN $3 ELSE f.window_end END
		WHERE f.window_end <= $2 OR f.count < $4
		RETURNING count, window_end`, key, now, now.Add(window), limit).Scan(&n, &end)
	if errors.Is(err, pgx.ErrNoRows) {
		n, end, err := s.Failures(ctx, key, now)
		return false, n, end, err
	}
	if err != nil {
		return false, 0, time.Time{}, pgconv.MapErr("reserve attempt", err)
	}
	return true, n, end.UTC(), nil
}

// ReleaseAttempt implements storage.FailureStore.
func (s *failureStore) ReleaseAttempt(ctx context.Context, key string, now time.Time) error {
	if !pgconv.TextOK(key) {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE failures SET count = count - 1 WHERE key = $1 AND window_end > $2 AND count > 0`, key, now)
	return pgconv.MapErr("release attempt", err)
}
