package memory

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// opSessionStore is the storage.OperatorSessionStore part of Store, with
// a lock of its own.
type opSessionStore struct {
	mu       sync.Mutex
	sessions map[string]storage.OperatorSession // by digest
}

func cloneOpSession(s storage.OperatorSession) storage.OperatorSession {
	s.Digest = bytes.Clone(s.Digest)
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = s.CreatedAt.UTC(), s.LastSeenAt.UTC(), s.ExpiresAt.UTC()
	return s
}

// CreateOperatorSession implements storage.OperatorSessionStore.
func (s *opSessionStore) CreateOperatorSession(_ context.Context, os storage.OperatorSession) error {
	if !storable(os.OperatorID) || len(os.Digest) == 0 {
		return fmt.Errorf("memory: create operator session: %w", storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions == nil {
		s.sessions = make(map[string]storage.OperatorSession)
	}
	if _, ok := s.sessions[string(os.Digest)]; ok {
		return fmt.Errorf("memory: create operator session: %w", storage.ErrAlreadyExists)
	}
	s.sessions[string(os.Digest)] = cloneOpSession(os)
	return nil
}

// TouchOperatorSession implements storage.OperatorSessionStore.
func (s *opSessionStore) TouchOperatorSession(_ context.Context, digest []byte, now time.Time, idle time.Duration) (storage.OperatorSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	os, ok := s.sessions[string(digest)]
	if !ok || !now.Before(os.ExpiresAt) || !now.Before(os.LastSeenAt.Add(idle)) {
		return storage.OperatorSession{}, fmt.Errorf("memory: operator session: %w", storage.ErrNotFound)
	}
	os.LastSeenAt = now.UTC()
	s.sessions[string(digest)] = os
	return cloneOpSession(os), nil
}

// DeleteOperatorSession implements storage.OperatorSessionStore.
func (s *opSessionStore) DeleteOperatorSession(_ context.Context, digest []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, string(digest))
	return nil
}

// DeleteOperatorSessions implements storage.OperatorSessionStore.
func (s *opSessionStore) DeleteOperatorSessions(_ context.Context, operatorID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, os := range s.sessions {
		if os.OperatorID == operatorID {
			delete(s.sessions, k)
			n++
		}
	}
	return n, nil
}

// deleteExpired removes at most limit sessions past their absolute end.
func (s *opSessionStore) deleteExpired(before time.Time, limit int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return deleteExpired(s.sessions, before, limit, func(os storage.OperatorSession) time.Time { return os.ExpiresAt })
}
