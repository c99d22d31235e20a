package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// factorStore is the storage.FactorStore part of Store: people's second
// factors and recovery codes, in the tables people live in, so that
// deleting a person deletes them under the same lock.
type factorStore struct{ *tables }

// recoveryKey names one recovery code: its user and the digest (as a
// string, to be a map key).
type recoveryKey struct{ user, digest string }

// recoveryCode is a stored recovery code; used is zero while it is not.
type recoveryCode struct{ created, used time.Time }

func cloneFactor(f storage.Factor) storage.Factor {
	f.Secret = slices.Clone(f.Secret)
	return f
}

// CreateFactor implements storage.FactorStore.
func (s *factorStore) CreateFactor(_ context.Context, f storage.Factor) error {
	if !storable(f.UserID) {
		return fmt.Errorf("memory: create factor: %w", storage.ErrNotFound)
	}
	if !storable(f.ID, f.Name, string(f.Kind)) {
		return fmt.Errorf("memory: create factor of user %q: text the store cannot keep: %w", f.UserID, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[f.UserID]; !ok {
		return fmt.Errorf("memory: create factor of user %q: no such user: %w", f.UserID, storage.ErrNotFound)
	}
	if _, ok := s.factors[f.ID]; ok {
		return fmt.Errorf("memory: create factor of user %q: %w", f.UserID, storage.ErrAlreadyExists)
	}
	if f.Kind == storage.FactorTOTP {
		for _, g := range s.factors {
			if g.UserID == f.UserID && g.Kind == storage.FactorTOTP {
				return fmt.Errorf("memory: create factor of user %q: a second authenticator app: %w", f.UserID, storage.ErrAlreadyExists)
			}
		}
	}
	s.factors[f.ID] = cloneFactor(f)
	return nil
}

// ListFactors implements storage.FactorStore.
func (s *factorStore) ListFactors(_ context.Context, userID string) ([]storage.Factor, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := matching(s.factors, func(f storage.Factor) bool { return f.UserID == userID }, cloneFactor,
		func(a, b storage.Factor) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
		})
	if out == nil {
		out = []storage.Factor{}
	}
	return out, nil
}

// AdvanceFactor implements storage.FactorStore: the check and the set
// happen under one lock.
func (s *factorStore) AdvanceFactor(_ context.Context, userID, id string, counter int64, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.factors[id]
	if !ok || f.UserID != userID {
		return fmt.Errorf("memory: advance factor of user %q: %w", userID, storage.ErrNotFound)
	}
	if counter <= f.Counter {
		return fmt.Errorf("memory: advance factor of user %q: counter not greater: %w", userID, storage.ErrConflict)
	}
	f.Counter, f.LastUsedAt = counter, now
	s.factors[id] = f
	return nil
}

// DeleteFactors implements storage.FactorStore.
func (s *factorStore) DeleteFactors(_ context.Context, userID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteFactorsLocked(userID), nil
}

// deleteFactorsLocked removes the factors, passkeys and recovery codes
// of userID and returns how many factors and passkeys it removed. The
// caller holds the lock.
func (t *tables) deleteFactorsLocked(userID string) int {
	n := len(t.factors)
	maps.DeleteFunc(t.factors, func(_ string, f storage.Factor) bool { return f.UserID == userID })
	maps.DeleteFunc(t.recovery, func(k recoveryKey, _ recoveryCode) bool { return k.user == userID })
	return n - len(t.factors) + t.deletePasskeysLocked(userID)
}

// SetRecoveryCodes implements storage.FactorStore.
func (s *factorStore) SetRecoveryCodes(_ context.Context, userID string, digests [][]byte, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[userID]; !ok {
		return fmt.Errorf("memory: set recovery codes of user %q: no such user: %w", userID, storage.ErrNotFound)
	}
	maps.DeleteFunc(s.recovery, func(k recoveryKey, _ recoveryCode) bool { return k.user == userID })
	for _, d := range digests {
		s.recovery[recoveryKey{userID, string(d)}] = recoveryCode{created: now}
	}
	return nil
}

// UseRecoveryCode implements storage.FactorStore.
func (s *factorStore) UseRecoveryCode(_ context.Context, userID string, digest []byte, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := recoveryKey{userID, string(digest)}
	rc, ok := s.recovery[k]
	if !ok || !rc.used.IsZero() {
		return fmt.Errorf("memory: use recovery code of user %q: %w", userID, storage.ErrNotFound)
	}
	rc.used = now
	s.recovery[k] = rc
	return nil
}

// RecoveryCodesLeft implements storage.FactorStore.
func (s *factorStore) RecoveryCodesLeft(_ context.Context, userID string) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for k, rc := range s.recovery {
		if k.user == userID && rc.used.IsZero() {
			n++
		}
	}
	return n, nil
}
