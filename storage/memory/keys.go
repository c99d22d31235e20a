package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// keyStore is the storage.KeyStore part of Store. No other record refers
// to a key, so keys have a lock of their own.
type keyStore struct {
	mu   sync.RWMutex
	keys []storage.Key
}

func cloneKey(k storage.Key) storage.Key {
	k.Sealed = slices.Clone(k.Sealed)
	k.PublicJWK = slices.Clone(k.PublicJWK)
	return k
}

// CreateKey implements storage.KeyStore.
func (s *keyStore) CreateKey(_ context.Context, k storage.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.keys {
		if old.ID == k.ID {
			return fmt.Errorf("memory: create key %q: %w", k.ID, storage.ErrAlreadyExists)
		}
	}
	if err := uniqueState(s.keys, k, -1); err != nil {
		return err
	}
	s.keys = append(s.keys, cloneKey(k))
	return nil
}

// uniqueState refuses k if it would be a second next or active key of its
// algorithm (ignoring keys[skip]).
func uniqueState(keys []storage.Key, k storage.Key, skip int) error {
	if k.State != storage.KeyNext && k.State != storage.KeyActive {
		return nil
	}
	for i, o := range keys {
		if i != skip && o.Alg == k.Alg && o.State == k.State {
			return fmt.Errorf("memory: key %q: a second %s %s key: %w", k.ID, k.State, k.Alg, storage.ErrAlreadyExists)
		}
	}
	return nil
}

// UpdateKeys implements storage.KeyStore.
func (s *keyStore) UpdateKeys(_ context.Context, at time.Time, changes ...storage.KeyChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.Clone(s.keys)
	for _, ch := range changes {
		i := slices.IndexFunc(keys, func(k storage.Key) bool { return k.ID == ch.ID })
		if i < 0 {
			return fmt.Errorf("memory: update key %q: %w", ch.ID, storage.ErrNotFound)
		}
		k := keys[i]
		if k.State != ch.From {
			return fmt.Errorf("memory: update key %q: it is %s, not %s: %w", ch.ID, k.State, ch.From, storage.ErrConflict)
		}
		k.State = ch.To
		switch {
		case ch.To == storage.KeyActive:
			k.ActivatedAt = at
		case ch.To == storage.KeyRetired, ch.To == storage.KeyRemoved && k.RetiredAt.IsZero():
			k.RetiredAt = at
		}
		if err := uniqueState(keys, k, i); err != nil {
			return err
		}
		keys[i] = k
	}
	s.keys = keys
	return nil
}

// SetKeySealed implements storage.KeyStore.
func (s *keyStore) SetKeySealed(_ context.Context, id string, sealed []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.keys, func(k storage.Key) bool { return k.ID == id })
	if i < 0 {
		return fmt.Errorf("memory: set sealed key %q: %w", id, storage.ErrNotFound)
	}
	s.keys[i].Sealed = slices.Clone(sealed)
	return nil
}

// ListKeys implements storage.KeyStore.
func (s *keyStore) ListKeys(context.Context) ([]storage.Key, error) {
	s.mu.RLock()
	out := make([]storage.Key, len(s.keys))
	for i, k := range s.keys {
		out[i] = cloneKey(k)
	}
	s.mu.RUnlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}
