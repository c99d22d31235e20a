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

// auditShipStore is the storage.AuditShipStore part of Store.
type auditShipStore struct{ pool *pgxpool.Pool }

// LeaseAuditShip implements storage.AuditShipStore in one upsert: the row
// lock orders replicas that race for a free lease; one gets it.
func (s *auditShipStore) LeaseAuditShip(ctx context.Context, sink, holder string, now, until time.Time) (bool, int64, error) {
	if !pgconv.TextOK(sink) || !pgconv.TextOK(holder) {
		return false, 0, fmt.Errorf("postgres: lease audit shipping: text PostgreSQL cannot store: %w", storage.ErrConflict)
	}
	var got string
	var shipped int64
	err := s.pool.QueryRow(ctx, `INSERT INTO audit_ship (sink, holder, lease_until) VALUES ($1, $2, $4)
		ON CONFLICT (sink) DO UPDATE SET holder = $2, lease_until = $4
			WHERE audit_ship.holder = $2 OR audit_ship.lease_until <= $3
		RETURNING holder, shipped_seq`, sink, holder, now, until).Scan(&got, &shipped)
	switch {
	case err == nil:
		return got == holder, shipped, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return false, 0, pgconv.MapErr("lease audit shipping", err)
	}
	// No row returned: another replica holds the lease.
	if err := s.pool.QueryRow(ctx, `SELECT shipped_seq FROM audit_ship WHERE sink = $1`, sink).Scan(&shipped); err != nil {
		return false, 0, pgconv.MapErr("lease audit shipping", err)
	}
	return false, shipped, nil
}

// AdvanceAuditShip implements storage.AuditShipStore.
func (s *auditShipStore) AdvanceAuditShip(ctx context.Context, sink, holder string, now time.Time, seq int64) error {
	if !pgconv.TextOK(sink) || !pgconv.TextOK(holder) {
		return fmt.Errorf("postgres: advance audit shipping: %w", storage.ErrConflict)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE audit_ship SET shipped_seq = $4
		WHERE sink = $1 AND holder = $2 AND lease_until > $3 AND shipped_seq < $4`, sink, holder, now, seq)
	if err != nil {
		return pgconv.MapErr("advance audit shipping", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: advance audit shipping of %q: lease lost: %w", sink, storage.ErrConflict)
	}
	return nil
}
