package postgres

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolStats are figures of the connection pools (the durable one and the
// one that stores new tokens), summed, and of the change listener.
type PoolStats struct {
	// Total, Idle and Acquired are connections now; Max is the cap.
	Total, Idle, Acquired, Max int32
	// AcquireCount counts connection acquisitions; EmptyAcquireCount those
	// that had to wait for a connection.
	AcquireCount, EmptyAcquireCount int64
	// AcquireDuration is the total time spent acquiring connections.
	AcquireDuration time.Duration
	// Broken counts connections closed for being broken: found dead by
	// a ping before use, or failed (a deadline passed, the network or
	// the server went away) during a statement. Connections closed for
	// their age or idleness are not counted.
	Broken int64
	// ListenerUp is whether the change listener holds a live connection
	// (false when nothing listens), and ListenerLost counts the listener
	// connections lost, to errors or to silence.
	ListenerUp   bool
	ListenerLost int64
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
		open := int64(p.AcquiredConns()) + int64(p.IdleConns())
		out.Broken += max(0, p.NewConnsCount()-open-p.MaxLifetimeDestroyCount()-p.MaxIdleDestroyCount())
	}
	if l := s.listener; l != nil {
		out.ListenerUp, out.ListenerLost = l.Connected(), l.Reconnects()
	}
	return out
}
