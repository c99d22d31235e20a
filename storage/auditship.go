package storage

import (
	"context"
	"time"
)

// AuditShipStore keeps the progress of shipping the audit trail to
// outside collectors (sinks): per sink, the Seq of the last entry it
// acknowledged, and a lease so that one replica ships at a time.
type AuditShipStore interface {
	// LeaseAuditShip gives the lease of sink to holder until until, if it
	// is free, expired at now, or held by holder already; it returns
	// whether holder has it and the sink's shipped Seq (0 for a new
	// sink).
	LeaseAuditShip(ctx context.Context, sink, holder string, now, until time.Time) (held bool, shipped int64, err error)
	// AdvanceAuditShip records that sink acknowledged every entry up to
	// seq, if holder still holds the lease at now and seq is past the
	// recorded Seq; ErrConflict otherwise (the lease was lost: another
	// replica ships now).
	AdvanceAuditShip(ctx context.Context, sink, holder string, now time.Time, seq int64) error
}
