// Package rotation keeps a replica's key ring current: it reloads the keys
// at once when the store reports a change (another replica's step), and
// takes every rotation step that is due on a fixed interval. The store
// decides which replica takes a step; this loop only asks.
package rotation

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/idvauth/idvauth/keys"
)

// Keeper runs the key loop of one replica. Build it with New; it is safe
// for concurrent use.
type Keeper struct {
	ring    *keys.Ring
	log     *zap.Logger
	every   time.Duration
	changed chan struct{}
	// loaded is when the ring last read the store (Unix nanoseconds).
	loaded atomic.Int64
}

// New returns a keeper of ring that takes due steps every interval. Wake
// it with Notify. Each step of Run may take at most one interval: a step
// stuck on a dead connection is given up, and the next one tries again.
func New(ring *keys.Ring, log *zap.Logger, every time.Duration) *Keeper {
	k := &Keeper{ring: ring, log: log, every: every, changed: make(chan struct{}, 1)}
	k.loaded.Store(time.Now().UnixNano()) // the ring was just opened
	return k
}

// SinceLoad is how long ago the ring last read the keys from the store
// (a reload, or a check of due steps). Past a few intervals, the ring may
// miss another replica's rotation: answers that depend on it should not
// be given as certain.
func (k *Keeper) SinceLoad() time.Duration {
	return time.Since(time.Unix(0, k.loaded.Load()))
}

// markLoaded records that the ring read the store now.
func (k *Keeper) markLoaded() { k.loaded.Store(time.Now().UnixNano()) }

// Notify tells the loop that the keys changed in the store; it never
// blocks.
func (k *Keeper) Notify() {
	select {
	case k.changed <- struct{}{}:
	default:
	}
}

// Maintain reloads the signing keys and takes every rotation step that is
// due.
func (k *Keeper) Maintain(ctx context.Context) error {
	before := k.activeKIDs()
	changed, err := k.ring.Maintain(ctx)
	if err != nil {
		return fmt.Errorf("rotation: %w", err)
	}
	k.markLoaded()
	if changed {
		k.logChange("signing keys rotated", before)
	}
	return nil
}

// Reload reads the signing keys again, as after another replica's change.
func (k *Keeper) Reload(ctx context.Context) error {
	before := k.activeKIDs()
	if err := k.ring.Reload(ctx); err != nil {
		return fmt.Errorf("rotation: reload keys: %w", err)
	}
	k.markLoaded()
	k.logChange("signing keys reloaded", before)
	return nil
}

func (k *Keeper) activeKIDs() map[string]string {
	m := make(map[string]string)
	for _, alg := range keys.Algorithms() {
		if key, err := k.ring.Active(alg); err == nil {
			m[alg] = key.ID
		}
	}
	return m
}

// logChange logs the active keys if they differ from before. Key IDs are
// public (they are in the JWKS).
func (k *Keeper) logChange(msg string, before map[string]string) {
	for alg, kid := range k.activeKIDs() {
		if before[alg] != kid {
			k.log.Info(msg, zap.String("alg", alg), zap.String("active_kid", kid), zap.String("previous_kid", before[alg]))
		}
	}
}

// Run keeps the ring current until ctx is done: a reload at once when
// Notify was called, and a reload with any due rotation step every
// interval.
func (k *Keeper) Run(ctx context.Context) {
	t := time.NewTicker(k.every)
	defer t.Stop()
	for {
		var step func(context.Context) error
		select {
		case <-ctx.Done():
			return
		case <-k.changed:
			step = k.Reload
		case <-t.C:
			step = k.Maintain
		}
		sctx, cancel := context.WithTimeout(ctx, k.every)
		err := step(sctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			k.log.Warn("signing keys not refreshed; retrying", zap.Error(err))
		}
	}
}
