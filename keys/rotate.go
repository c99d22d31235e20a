package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// ErrNoSuchKey is returned (wrapped) by Retire for a kid the store does not
// hold.
var ErrNoSuchKey = errors.New("no such key")

// lostRace reports whether err means another replica made the same step
// first: the store refused a second next or active key, or found the key
// no longer in the state the step starts from.
func lostRace(err error) bool {
	return errors.Is(err, storage.ErrAlreadyExists) || errors.Is(err, storage.ErrConflict)
}

// Maintain reloads the keys and takes every rotation step that is due by
// the schedule: publish a standby (next) key where there is none, activate
// it when the active key's period ends, remove retired keys whose tokens
// have all expired. Every replica calls it; the store lets exactly
// one make each step, and the others see the step in the reload. It
// reports whether it changed anything.
func (r *Ring) Maintain(ctx context.Context) (changed bool, err error) {
	if err := r.Reload(ctx); err != nil {
		return false, err
	}
	if err := r.ensureActive(ctx); err != nil {
		return false, err
	}
	sc := r.cfg.Schedule
	now := r.cfg.Now().UTC()
	snap := r.cur.Load()
	step := func(err error) error {
		if err == nil || lostRace(err) {
			changed = true
			return nil
		}
		return err
	}
	if created, err := r.ensureStandby(ctx, false); err != nil {
		return changed, err
	} else if created {
		changed, snap = true, r.cur.Load()
	}
	for _, alg := range algorithms {
		act, next := snap.active[alg], snap.next[alg]
		if sc.Every <= 0 || act == nil || next == nil {
			continue
		}
		due := act.ActivatedAt.Add(sc.Every)
		if !now.Before(due) && !now.Before(next.CreatedAt.Add(sc.PrePublish)) {
			if err := step(r.update(ctx, now, false, promote(act, next)...)); err != nil {
				return changed, fmt.Errorf("keys: activate %s key %s: %w", alg, next.ID, err)
			}
		}
	}
	for _, k := range snap.keys {
		if k.State == StateRetired && !now.Before(k.RetiredAt.Add(sc.Retain)) {
			err := r.update(ctx, now, false, storage.KeyChange{ID: k.ID, From: StateRetired, To: StateRemoved})
			if err := step(err); err != nil {
				return changed, fmt.Errorf("keys: remove key %s: %w", k.ID, err)
			}
		}
	}
	if changed {
		if err := r.Reload(ctx); err != nil {
			return changed, err
		}
		// A promotion used up the standby: publish the next one now.
		_, err = r.ensureStandby(ctx, false)
	}
	return changed, err
}

// promote is the step that makes next the active key of its algorithm and
// retires act (if any), in one change.
func promote(act, next *Key) []storage.KeyChange {
	var ch []storage.KeyChange
	if act != nil {
		ch = append(ch, storage.KeyChange{ID: act.ID, From: StateActive, To: StateRetired})
	}
	return append(ch, storage.KeyChange{ID: next.ID, From: StateNext, To: StateActive})
}

// RotateNow makes a new key sign for alg at once and retires the current
// one (its tokens stay valid until they expire). The new key is the
// standby, published since the last rotation, so that resource servers
// know it already; a new standby is published at once. Only if there is
// no standby (it was withdrawn) does a key sign unannounced, and resource
// servers then fetch the JWKS again when they meet its kid.
func (r *Ring) RotateNow(ctx context.Context, alg string) (*Key, error) {
	if !ValidAlg(alg) {
		return nil, fmt.Errorf("keys: unsupported algorithm %q", alg)
	}
	for attempt := 0; attempt < 3; attempt++ {
		if err := r.Reload(ctx); err != nil {
			return nil, err
		}
		snap := r.cur.Load()
		act, next := snap.active[alg], snap.next[alg]
		if next == nil {
			if _, err := r.create(ctx, alg, StateNext, true); err != nil && !lostRace(err) {
				return nil, err
			}
			continue // load the next key, ours or another replica's
		}
		err := r.update(ctx, r.cfg.Now().UTC(), true, promote(act, next)...)
		if err != nil && !lostRace(err) {
			return nil, fmt.Errorf("keys: activate %s key %s: %w", alg, next.ID, err)
		}
		if err := r.Reload(ctx); err != nil {
			return nil, err
		}
		if err == nil {
			if _, err := r.ensureStandby(ctx, true); err != nil {
				return nil, err
			}
			return r.Active(alg)
		}
		// Another replica changed the keys meanwhile; look again.
	}
	return nil, fmt.Errorf("keys: rotate %s: the keys kept changing under us: %w", alg, storage.ErrConflict)
}

// Retire stops a key signing now: an active key is replaced as by
// RotateNow, a next key is withdrawn. A retired key stays published, so
// its tokens stay valid until they expire, unless revokeTokens: then it is
// removed from the JWKS at once and every token it signed introspects
// inactive. Retiring a retired key again without revokeTokens changes
// nothing.
func (r *Ring) Retire(ctx context.Context, kid string, revokeTokens bool) error {
	if err := r.Reload(ctx); err != nil {
		return err
	}
	rec, ok := r.record(kid)
	if !ok {
		return fmt.Errorf("keys: retire %q: %w", kid, ErrNoSuchKey)
	}
	now := r.cfg.Now().UTC()
	switch rec.State {
	case StateRemoved:
		return nil
	case StateNext:
		if err := r.update(ctx, now, true, storage.KeyChange{ID: kid, From: StateNext, To: StateRemoved}); err != nil {
			return fmt.Errorf("keys: withdraw key %s: %w", kid, err)
		}
		return r.Reload(ctx)
	case StateActive:
		if _, err := r.RotateNow(ctx, rec.Alg); err != nil {
			return err
		}
		if rec, _ = r.record(kid); rec.State != StateRetired {
			return fmt.Errorf("keys: retire key %s: it is %s: %w", kid, rec.State, storage.ErrConflict)
		}
	}
	if !revokeTokens {
		return nil
	}
	if err := r.update(ctx, now, true, storage.KeyChange{ID: kid, From: StateRetired, To: StateRemoved}); err != nil && !lostRace(err) {
		return fmt.Errorf("keys: remove key %s: %w", kid, err)
	}
	return r.Reload(ctx)
}

// update applies changes in the store and reports each to OnChange, with
// requested.
func (r *Ring) update(ctx context.Context, at time.Time, requested bool, changes ...storage.KeyChange) error {
	if err := r.cfg.Store.UpdateKeys(ctx, at, changes...); err != nil {
		return err
	}
	if r.cfg.OnChange != nil {
		for _, ch := range changes {
			rec, _ := r.record(ch.ID)
			r.cfg.OnChange(ctx, rec.Alg, ch, requested)
		}
	}
	return nil
}

// record returns the stored record of kid as of the last reload.
func (r *Ring) record(kid string) (storage.Key, bool) {
	for _, rec := range r.cur.Load().records {
		if rec.ID == kid {
			return rec, true
		}
	}
	return storage.Key{}, false
}

// Records returns every stored key as of the last reload, removed ones
// too, without private parts, oldest first.
func (r *Ring) Records() []storage.Key { return append([]storage.Key(nil), r.cur.Load().records...) }

// Reencrypt seals every key that is not sealed under the first secret
// again under it, so that older secrets can be dropped from
// IDVAUTH_SECRETS. Removed keys are left as they are: they are never
// decrypted again. It returns how many keys it re-encrypted.
func Reencrypt(ctx context.Context, store storage.KeyStore, sealer *Sealer) (int, error) {
	recs, err := store.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("keys: list keys: %w", err)
	}
	n := 0
	for _, rec := range recs {
		if rec.State == StateRemoved {
			continue
		}
		der, current, err := sealer.Open(rec.Sealed, []byte(rec.ID))
		if err != nil {
			return n, fmt.Errorf("keys: key %s: %w (is IDVAUTH_SECRETS right?)", rec.ID, err)
		}
		if current {
			continue
		}
		sealed, err := sealer.Seal(der, []byte(rec.ID))
		if err != nil {
			return n, err
		}
		if err := store.SetKeySealed(ctx, rec.ID, sealed); err != nil {
			return n, fmt.Errorf("keys: store key %s: %w", rec.ID, err)
		}
		n++
	}
	return n, nil
}
