// Package auditship ships the audit trail off the host, to a collector
// that people with database access cannot reach: every entry, with its
// seq and hashes, at least once and in order. The collector then holds a
// copy of the chain's head that nobody can move by rewriting the
// database.
//
// One replica ships to a sink at a time, under a lease in the store; the
// store also keeps how far the sink acknowledged, so a restart, or
// another replica taking over, resumes there. While the collector is
// down, shipping backs off and the lag grows; nothing is lost.
package auditship

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/storage"
)

// Sink is where entries go.
type Sink interface {
	// Name identifies the sink in the store and the logs (no
	// credentials in it).
	Name() string
	// Send delivers entries, in Seq order; nil means the collector has
	// them all.
	Send(ctx context.Context, entries []storage.AuditEntry) error
}

// Store is what shipping reads and writes.
type Store interface {
	storage.AuditShipStore
	ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEntry, error)
	AuditHead(ctx context.Context) (int64, []byte, error)
}

// Defaults of Config.
const (
	DefaultInterval   = time.Second
	DefaultLease      = 30 * time.Second
	DefaultBatch      = 500
	DefaultMaxBackoff = time.Minute
)

// Config configures a Shipper. Store and Sink are required.
type Config struct {
	Store Store
	Sink  Sink
	// Interval is how often a caught-up shipper looks for new entries;
	// DefaultInterval if zero.
	Interval time.Duration
	// Lease is how long a replica holds the sink without renewing it:
	// how long another waits to take over from one that stopped.
	// DefaultLease if zero.
	Lease time.Duration
	// Batch is the most entries one Send carries; DefaultBatch if zero.
	Batch int
	// MaxBackoff caps the wait after failures; DefaultMaxBackoff if zero.
	MaxBackoff time.Duration
	// OnLag, if set, is told after each step how many entries the sink
	// is behind the chain's head (when this replica ships).
	OnLag func(entries int64)
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Log receives failures; zap.NewNop if nil.
	Log *zap.Logger
}

// Shipper ships the audit trail to one sink.
type Shipper struct {
	cfg    Config
	holder string
}

// New returns a shipper with cfg.
func New(cfg Config) (*Shipper, error) {
	if cfg.Store == nil || cfg.Sink == nil {
		return nil, errors.New("auditship: a store and a sink are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Batch <= 0 || cfg.Batch > storage.MaxAuditPage {
		cfg.Batch = DefaultBatch
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	return &Shipper{cfg: cfg, holder: hex.EncodeToString(id)}, nil
}

// errNotHolder: another replica ships to the sink now.
var errNotHolder = errors.New("auditship: another replica holds the sink")

// Step ships one batch: it takes (or renews) the lease, reads the entries
// after what the sink acknowledged, sends them and records the new
// position. It returns how many it shipped; zero and nil when there was
// nothing to ship or another replica ships.
func (s *Shipper) Step(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	held, shipped, err := s.cfg.Store.LeaseAuditShip(ctx, s.cfg.Sink.Name(), s.holder, now, now.Add(s.cfg.Lease))
	if err != nil {
		return 0, err
	}
	if !held {
		return 0, errNotHolder
	}
	entries, err := s.cfg.Store.ListAudit(ctx, storage.AuditFilter{AfterSeq: shipped, Limit: s.cfg.Batch})
	if err != nil {
		return 0, err
	}
	if len(entries) > 0 {
		if err := s.cfg.Sink.Send(ctx, entries); err != nil {
			return 0, err
		}
		if err := s.cfg.Store.AdvanceAuditShip(ctx, s.cfg.Sink.Name(), s.holder, s.cfg.Now(), entries[len(entries)-1].Seq); err != nil {
			return 0, err
		}
		shipped = entries[len(entries)-1].Seq
	}
	if s.cfg.OnLag != nil {
		if head, _, err := s.cfg.Store.AuditHead(ctx); err == nil {
			s.cfg.OnLag(max(head-shipped, 0))
		}
	}
	return len(entries), nil
}

// Run ships until ctx is done: at once while there is a backlog, every
// Interval when caught up, and with a doubling wait (up to MaxBackoff)
// after failures. Each step is bounded by the lease, so a stuck collector
// or store cannot hold the lease past it.
func (s *Shipper) Run(ctx context.Context) {
	wait, failures := time.Duration(0), 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		sctx, cancel := context.WithTimeout(ctx, s.cfg.Lease)
		n, err := s.Step(sctx)
		cancel()
		switch {
		case errors.Is(err, errNotHolder):
			failures, wait = 0, s.cfg.Lease/2
		case err != nil:
			failures++
			wait = min(s.cfg.Interval<<min(failures, 16), s.cfg.MaxBackoff)
			if ctx.Err() == nil {
				s.cfg.Log.Warn("audit shipping failed; retrying", zap.String("sink", s.cfg.Sink.Name()),
					zap.Int("failures", failures), zap.Duration("retry_in", wait), zap.Error(err))
			}
		case n == s.cfg.Batch:
			failures, wait = 0, 0 // more to ship
		default:
			failures, wait = 0, s.cfg.Interval
		}
	}
}
