// Package janitor deletes what has expired from the store (token records,
// used assertions, sessions) and audit entries past their retention,
// once or on an interval. A store shared by several replicas may let only
// one of them clean at a time; the others delete nothing.
package janitor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Store is what the janitor cleans.
type Store interface {
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
	DropAuditBefore(ctx context.Context, before, now time.Time) (int, error)
}

// Sessions ends the browser sessions that expired with grants, telling
// their clients (back-channel logout); the logout service.
type Sessions interface {
	// EndExpired ends at most limit sessions that expired before
	// before, and returns how many it found.
	EndExpired(ctx context.Context, before time.Time, limit int) (int, error)
}

// Janitor cleans one store. Its zero value is not usable; fill every
// field but Retention and Sessions.
type Janitor struct {
	Store Store
	// Sessions, if set, ends the expired browser sessions with grants
	// first; without it they stay (the store deletes only those without
	// grants) until a janitor with one runs.
	Sessions Sessions
	// Batch is how many rows one delete statement removes at most.
	Batch int
	// Retention is how long audit entries are kept; zero keeps them all.
	Retention time.Duration
	Now       func() time.Time
	Log       *zap.Logger
}

// DeleteExpired ends the expired browser sessions with grants (Sessions),
// then deletes expired records in batches until none is left, and
// returns how many it ended and deleted.
func (j Janitor) DeleteExpired(ctx context.Context) (int, error) {
	now, total := j.Now().UTC(), 0
	// A failure here does not stop the deletes below: the store keeps
	// the sessions with grants for the next pass.
	var sessionsErr error
	for j.Sessions != nil {
		n, err := j.Sessions.EndExpired(ctx, now, j.Batch)
		total += n
		if err != nil {
			sessionsErr = fmt.Errorf("janitor: end expired browser sessions: %w", err)
			break
		}
		if n < j.Batch {
			break
		}
	}
	for {
		n, err := j.Store.DeleteExpired(ctx, now, j.Batch)
		total += n
		if err != nil {
			return total, errors.Join(sessionsErr, fmt.Errorf("janitor: delete expired tokens: %w", err))
		}
		if n < j.Batch {
			return total, sessionsErr
		}
	}
}

// DropOldAudit drops the audit entries older than Retention behind a
// checkpoint entry, and returns how many it dropped; it does nothing when
// Retention is zero.
func (j Janitor) DropOldAudit(ctx context.Context) (int, error) {
	if j.Retention <= 0 {
		return 0, nil
	}
	now := j.Now().UTC()
	n, err := j.Store.DropAuditBefore(ctx, now.Add(-j.Retention), now)
	if err != nil {
		return n, fmt.Errorf("janitor: audit retention: %w", err)
	}
	return n, nil
}

// Run cleans every interval until ctx is done; a negative interval never.
func (j Janitor) Run(ctx context.Context, interval time.Duration) {
	if interval < 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// A pass may take one interval: one stuck on a dead
			// connection is given up, and the next tries again.
			pctx, cancel := context.WithTimeout(ctx, interval)
			j.pass(pctx)
			cancel()
		}
	}
}

// pass runs one round and logs what it did.
func (j Janitor) pass(ctx context.Context) {
	n, err := j.DeleteExpired(ctx)
	if err != nil && ctx.Err() == nil {
		j.Log.Warn("janitor pass failed", zap.Error(err))
	} else if n > 0 {
		j.Log.Debug("janitor deleted expired tokens", zap.Int("count", n))
	}
	if n, err := j.DropOldAudit(ctx); err != nil && ctx.Err() == nil {
		j.Log.Warn("audit retention pass failed", zap.Error(err))
	} else if n > 0 {
		j.Log.Info("audit entries past retention dropped behind a checkpoint", zap.Int("count", n))
	}
}
