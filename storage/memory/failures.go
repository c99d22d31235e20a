package memory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// failureStore is the storage.FailureStore part of Store. Errors never
// name a key: a caller may derive it from a username.
type failureStore struct{ *tables }

// failureWindow is one fixed window of failures under a key.
type failureWindow struct {
	count      int
	start, end time.Time
}

// errWindow refuses a window that would count nothing.
var errWindow = errors.New("the window must be positive")

// AddFailure implements storage.FailureStore. A window that has ended
// (its end is not after now) restarts at 1.
func (s *failureStore) AddFailure(_ context.Context, key string, now time.Time, window time.Duration) (int, error) {
	if window <= 0 {
		return 0, fmt.Errorf("memory: add failure: %w", errWindow)
	}
	if !storable(key) {
		return 0, fmt.Errorf("memory: add failure: key the store cannot keep: %w", storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.failures[key]
	if ok && now.Before(w.end) {
		w.count++
	} else {
		w = failureWindow{count: 1, start: now, end: now.Add(window)}
	}
	s.failures[key] = w
	return w.count, nil
}

// Failures implements storage.FailureStore.
func (s *failureStore) Failures(_ context.Context, key string, now time.Time) (int, time.Time, error) {
	s.mu.RLock()
	w, ok := s.failures[key]
	s.mu.RUnlock()
	if !ok || !now.Before(w.end) {
		return 0, time.Time{}, nil
	}
	return w.count, w.end, nil
}

// ClearFailures implements storage.FailureStore.
func (s *failureStore) ClearFailures(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failures, key)
	return nil
}

// ReserveAttempt implements storage.FailureStore.
func (s *failureStore) ReserveAttempt(_ context.Context, key string, now time.Time, window time.Duration, limit int) (bool, int, time.Time, error) {
	if window <= 0 {
		return false, 0, time.Time{}, fmt.Errorf("memory: reserve attempt: %w", errWindow)
	}
	if !storable(key) {
		return false, 0, time.Time{}, fmt.Errorf("memory: reserve attempt: key the store cannot keep: %w", storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.failures[key]
	if !ok || !now.Before(w.end) {
		w = failureWindow{start: now, end: now.Add(window)}
	}
	if w.count >= limit {
		return false, w.count, w.end, nil
	}
	w.count++
	s.failures[key] = w
	return true, w.count, w.end, nil
}

// ReleaseAttempt implements storage.FailureStore.
func (s *failureStore) ReleaseAttempt(_ context.Context, key string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.failures[key]; ok && now.Before(w.end) && w.count > 0 {
		w.count--
		s.failures[key] = w
	}
	return nil
}
