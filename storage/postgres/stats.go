package postgres

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolStats are figures of the connection pools (the durable one and the
// one that stores new tokens), summed.
type PoolStats struct {
	// Total, Idle and Acquired are connections now; Max is the cap.
	Total, Idle, Acquired, Max int32
	// AcquireCount counts connection acquisitions; EmptyAcquireCount those
	// that had to wait for a connection.
	AcquireCount, EmptyAcquireCount int64
	// AcquireDuration is the total time spent acquiring connections.
	AcquireDuration time.Duration
}

// PoolStats returns the pools' figures now.
func (s *Store) PoolStats() PoolStats {
	var out PoolStats
	for _, p := range []*pgxpool.Stat{s.pool.Stat(), s.tokenPool.Stat()} {
		out.Total += p.TotalConns()
		out.Idle += p.IdleConns()
		out.Acquired += p.AcquiredConns()
		out.Max += p.MaxConns()
		out.AcquireCount += p.AcquireCount()
		out.EmptyAcquireCount += p.EmptyAcquireCount()
		out.AcquireDuration += p.AcquireDuration()
	}
	return out
}
