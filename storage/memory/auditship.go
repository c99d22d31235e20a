package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// auditShipStore is the storage.AuditShipStore part of Store.
type auditShipStore struct {
	mu    sync.Mutex
	sinks map[string]shipState
}

type shipState struct {
	shipped int64
	holder  string
	until   time.Time
}

// LeaseAuditShip implements storage.AuditShipStore.
func (s *auditShipStore) LeaseAuditShip(_ context.Context, sink, holder string, now, until time.Time) (bool, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sinks == nil {
		s.sinks = make(map[string]shipState)
	}
	st := s.sinks[sink]
	if st.holder != holder && now.Before(st.until) {
		return false, st.shipped, nil
	}
	st.holder, st.until = holder, until
	s.sinks[sink] = st
	return true, st.shipped, nil
}

// AdvanceAuditShip implements storage.AuditShipStore.
func (s *auditShipStore) AdvanceAuditShip(_ context.Context, sink, holder string, now time.Time, seq int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sinks[sink]
	if !ok || st.holder != holder || !now.Before(st.until) || seq <= st.shipped {
		return fmt.Errorf("memory: advance audit shipping of %q: %w", sink, storage.ErrConflict)
	}
	st.shipped = seq
	s.sinks[sink] = st
	return nil
}
