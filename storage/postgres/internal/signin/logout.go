package signin

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres/internal/pgconv"
)

// Logout implements storage.LogoutStore: session_grants (deleted
// with their browser session or client by the foreign keys) and the
// logout_deliveries outbox.
type Logout struct{ Pool *pgxpool.Pool }

// AddSessionGrant implements storage.LogoutStore.
func (s Logout) AddSessionGrant(ctx context.Context, g storage.SessionGrant) error {
	if !pgconv.TextOK(g.SessionID) || !pgconv.TextOK(g.ClientID) {
		return fmt.Errorf("postgres: add session grant: %w", storage.ErrNotFound)
	}
	if !pgconv.TextOK(g.RequestID) || !pgconv.TextOK(g.SID) {
		return fmt.Errorf("postgres: add session grant: text PostgreSQL cannot store: %w", storage.ErrConflict)
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO session_grants (session_id, request_id, client_id, sid, created_at) VALUES ($1, $2, $3, $4, $5)`,
		g.SessionID, g.RequestID, g.ClientID, g.SID, g.CreatedAt)
	return pgconv.MapErr("add session grant", err)
}

// ListSessionGrants implements storage.LogoutStore.
func (s Logout) ListSessionGrants(ctx context.Context, sessionID string) ([]storage.SessionGrant, error) {
	if !pgconv.TextOK(sessionID) {
		return nil, nil
	}
	rows, err := s.Pool.Query(ctx, `SELECT session_id, request_id, client_id, sid, created_at FROM session_grants
		WHERE session_id = $1 ORDER BY created_at, request_id COLLATE "C"`, sessionID)
	if err != nil {
		return nil, pgconv.MapErr("list session grants", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.SessionGrant, error) {
		var g storage.SessionGrant
		err := r.Scan(&g.SessionID, &g.RequestID, &g.ClientID, &g.SID, &g.CreatedAt)
		return g, err
	})
	return out, pgconv.MapErr("list session grants", err)
}

// EndBrowserSession implements storage.LogoutStore in one transaction:
// the grants go first with their tokens (they cascade with the session,
// so their request IDs must be read before it goes), then the session,
// then the deliveries are queued. If the session is already gone (a
// concurrent logout won) everything rolls back: no delivery is queued
// twice.
func (s Logout) EndBrowserSession(ctx context.Context, sessionID string, deliveries []storage.LogoutDelivery) error {
	if !pgconv.TextOK(sessionID) {
		return fmt.Errorf("postgres: end browser session: %w", storage.ErrNotFound)
	}
	for _, d := range deliveries {
		if !pgconv.TextOK(d.ID) || !pgconv.TextOK(d.ClientID) || !pgconv.TextOK(d.Subject) || !pgconv.TextOK(d.SID) {
			return fmt.Errorf("postgres: end browser session: text PostgreSQL cannot store: %w", storage.ErrConflict)
		}
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `WITH g AS (DELETE FROM session_grants WHERE session_id = $1 RETURNING request_id)
			DELETE FROM tokens WHERE kind = ANY($2) AND request_id IN (SELECT request_id FROM g)`,
			sessionID, []string{string(storage.AccessToken), string(storage.RefreshToken)}); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM browser_sessions WHERE id = $1`, sessionID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		for _, d := range deliveries {
			if _, err := tx.Exec(ctx, `INSERT INTO logout_deliveries (id, client_id, subject, sid, attempts, next_attempt_at, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, d.ID, d.ClientID, d.Subject, d.SID, d.Attempts, d.NextAttempt, d.CreatedAt); err != nil {
				return err
			}
		}
		return nil
	})
	return pgconv.MapErr("end browser session", err)
}

// ClaimLogoutDeliveries implements storage.LogoutStore: SKIP LOCKED lets
// replicas claim side by side, each row going to one of them.
func (s Logout) ClaimLogoutDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]storage.LogoutDelivery, error) {
	rows, err := s.Pool.Query(ctx, `UPDATE logout_deliveries d SET next_attempt_at = $2
		FROM (SELECT id FROM logout_deliveries WHERE next_attempt_at <= $1 ORDER BY next_attempt_at, id COLLATE "C" LIMIT $3 FOR UPDATE SKIP LOCKED) due
		WHERE d.id = due.id
		RETURNING d.id, d.client_id, d.subject, d.sid, d.attempts, d.next_attempt_at, d.created_at`, now, now.Add(lease), limit)
	if err != nil {
		return nil, pgconv.MapErr("claim logout deliveries", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.LogoutDelivery, error) {
		var d storage.LogoutDelivery
		err := r.Scan(&d.ID, &d.ClientID, &d.Subject, &d.SID, &d.Attempts, &d.NextAttempt, &d.CreatedAt)
		return d, err
	})
	if err != nil {
		return nil, pgconv.MapErr("claim logout deliveries", err)
	}
	slices.SortFunc(out, func(a, b storage.LogoutDelivery) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RetryLogoutDelivery implements storage.LogoutStore.
func (s Logout) RetryLogoutDelivery(ctx context.Context, id string, attempts int, next time.Time) error {
	if !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: retry logout delivery: %w", storage.ErrNotFound)
	}
	tag, err := s.Pool.Exec(ctx, `UPDATE logout_deliveries SET attempts = $2, next_attempt_at = $3 WHERE id = $1`, id, attempts, next)
	return pgconv.Affected("retry logout delivery", tag, err)
}

// FinishLogoutDelivery implements storage.LogoutStore.
func (s Logout) FinishLogoutDelivery(ctx context.Context, id string) error {
	if !pgconv.TextOK(id) {
		return fmt.Errorf("postgres: finish logout delivery: %w", storage.ErrNotFound)
	}
	tag, err := s.Pool.Exec(ctx, `DELETE FROM logout_deliveries WHERE id = $1`, id)
	return pgconv.Affected("finish logout delivery", tag, err)
}
