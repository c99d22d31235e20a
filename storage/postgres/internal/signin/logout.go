package signin

import (
	"cmp"
	"context"
	"errors"
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
	return s.end(ctx, "end browser session", sessionID, deliveries, true)
}

// ExpireBrowserSession implements storage.LogoutStore as EndBrowserSession
// does, the tokens left alone.
func (s Logout) ExpireBrowserSession(ctx context.Context, sessionID string, deliveries []storage.LogoutDelivery) error {
	return s.end(ctx, "expire browser session", sessionID, deliveries, false)
}

func (s Logout) end(ctx context.Context, op, sessionID string, deliveries []storage.LogoutDelivery, revoke bool) error {
	if !pgconv.TextOK(sessionID) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	for _, d := range deliveries {
		if !pgconv.TextOK(d.ID) || !pgconv.TextOK(d.ClientID) || !pgconv.TextOK(d.Subject) || !pgconv.TextOK(d.SID) {
			return fmt.Errorf("postgres: %s: text PostgreSQL cannot store: %w", op, storage.ErrConflict)
		}
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		kinds := []string{string(storage.AccessToken), string(storage.RefreshToken)}
		if !revoke {
			kinds = []string{}
		}
		if _, err := tx.Exec(ctx, `WITH g AS (DELETE FROM session_grants WHERE session_id = $1 RETURNING request_id)
			DELETE FROM tokens WHERE kind = ANY($2) AND request_id IN (SELECT request_id FROM g)`, sessionID, kinds); err != nil {
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
	return pgconv.MapErr(op, err)
}

// ListExpiredBrowserSessions implements storage.LogoutStore (through the
// index on expires_at; the grants are looked up by their primary key).
func (s Logout) ListExpiredBrowserSessions(ctx context.Context, before time.Time, limit int) ([]storage.BrowserSession, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, user_id, auth_time, expires_at, amr, device FROM browser_sessions s
		WHERE expires_at < $1 AND EXISTS (SELECT 1 FROM session_grants g WHERE g.session_id = s.id)
		ORDER BY expires_at, id COLLATE "C" LIMIT $2`, before, max(limit, 0))
	if err != nil {
		return nil, pgconv.MapErr("list expired browser sessions", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.BrowserSession, error) {
		var bs storage.BrowserSession
		err := r.Scan(&bs.ID, &bs.UserID, &bs.AuthTime, &bs.ExpiresAt, &bs.AMR, &bs.Device)
		if len(bs.AMR) == 0 {
			bs.AMR = nil
		}
		bs.AuthTime, bs.ExpiresAt = bs.AuthTime.UTC(), bs.ExpiresAt.UTC()
		return bs, err
	})
	return out, pgconv.MapErr("list expired browser sessions", err)
}

// ReplaceBrowserSession implements storage.LogoutStore in one
// transaction: the new session, the grants moved to it, the old one gone.
func (s Logout) ReplaceBrowserSession(ctx context.Context, oldID string, bs storage.BrowserSession) error {
	if !pgconv.TextOK(bs.UserID) {
		return fmt.Errorf("postgres: replace browser session: %w", storage.ErrNotFound)
	}
	op := fmt.Sprintf("replace browser session of user %q", bs.UserID)
	if !pgconv.TextOK(bs.ID) || !pgconv.TextOK(bs.Device) || !pgconv.AllTextOK(bs.AMR) {
		return fmt.Errorf("postgres: %s: text PostgreSQL cannot store: %w", op, storage.ErrConflict)
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO browser_sessions (id, user_id, auth_time, expires_at, amr, device) VALUES ($1, $2, $3, $4, $5, $6)`,
			bs.ID, bs.UserID, bs.AuthTime, bs.ExpiresAt, pgconv.NonNil(bs.AMR), bs.Device); err != nil {
			return err
		}
		if !pgconv.TextOK(oldID) {
			return nil
		}
		// Locks are taken in the order EndBrowserSession takes them, the
		// grants before the session, so that the two never deadlock: a
		// logout that ran first leaves no grant to move and no session
		// to delete; one that runs after finds the session gone.
		var owner string
		err := tx.QueryRow(ctx, `SELECT user_id FROM browser_sessions WHERE id = $1`, oldID).Scan(&owner)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return err
		case owner != bs.UserID:
			return errOtherPerson
		}
		if _, err := tx.Exec(ctx, `UPDATE session_grants SET session_id = $2 WHERE session_id = $1`, oldID, bs.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM browser_sessions WHERE id = $1`, oldID)
		return err
	})
	if errors.Is(err, errOtherPerson) {
		return fmt.Errorf("postgres: %s: the old session is another person's: %w", op, storage.ErrConflict)
	}
	return pgconv.MapErr(op, err)
}

// errOtherPerson rolls back a ReplaceBrowserSession whose old session is
// another person's.
var errOtherPerson = errors.New("old session of another person")

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
