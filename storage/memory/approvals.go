package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// The storage.ApprovalStore part of Store lives with the operators, under
// their lock: requests refer to no other record.

func cloneApproval(a storage.Approval) storage.Approval {
	a.Body = bytes.Clone(a.Body)
	a.CreatedAt, a.ExpiresAt, a.DecidedAt = a.CreatedAt.UTC(), a.ExpiresAt.UTC(), a.DecidedAt.UTC()
	return a
}

// CreateApproval implements storage.ApprovalStore.
func (s *operatorStore) CreateApproval(_ context.Context, a storage.Approval) error {
	if !storable(a.ID, a.Action, a.Target, a.Method, a.Path, a.RequestedBy, a.State, a.DecidedBy, a.Result) {
		return fmt.Errorf("memory: create approval %q: text PostgreSQL cannot store: %w", a.ID, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.approvals == nil {
		s.approvals = make(map[string]storage.Approval)
	}
	if _, taken := s.approvals[a.ID]; taken {
		return fmt.Errorf("memory: create approval %q: %w", a.ID, storage.ErrAlreadyExists)
	}
	s.approvals[a.ID] = cloneApproval(a)
	return nil
}

// GetApproval implements storage.ApprovalStore.
func (s *operatorStore) GetApproval(_ context.Context, id string) (storage.Approval, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.approvals[id]
	if !ok {
		return storage.Approval{}, fmt.Errorf("memory: get approval %q: %w", id, storage.ErrNotFound)
	}
	return cloneApproval(a), nil
}

// ListApprovals implements storage.ApprovalStore.
func (s *operatorStore) ListApprovals(_ context.Context, f storage.ApprovalFilter) ([]storage.Approval, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := matching(s.approvals, func(a storage.Approval) bool { return f.State == "" || a.State == f.State }, cloneApproval,
		func(a, b storage.Approval) int {
			return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
		})
	if limit := f.Limit; limit <= 0 || limit > storage.MaxApprovalPage {
		f.Limit = storage.MaxApprovalPage
	}
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	if out == nil {
		out = []storage.Approval{}
	}
	return out, nil
}

// DecideApproval implements storage.ApprovalStore.
func (s *operatorStore) DecideApproval(_ context.Context, id, state, by string, at time.Time) (storage.Approval, error) {
	if !storable(state, by) {
		return storage.Approval{}, fmt.Errorf("memory: decide approval %q: text PostgreSQL cannot store: %w", id, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.approvals[id]
	switch {
	case !ok:
		return storage.Approval{}, fmt.Errorf("memory: decide approval %q: %w", id, storage.ErrNotFound)
	case a.State != storage.ApprovalPending || !a.ExpiresAt.After(at):
		return storage.Approval{}, fmt.Errorf("memory: decide approval %q: %w", id, storage.ErrConflict)
	}
	a.State, a.DecidedBy, a.DecidedAt = state, by, at.UTC().Truncate(time.Microsecond)
	s.approvals[id] = a
	return cloneApproval(a), nil
}

// FinishApproval implements storage.ApprovalStore.
func (s *operatorStore) FinishApproval(_ context.Context, id, state, result string) error {
	if !storable(state, result) {
		return fmt.Errorf("memory: finish approval %q: text PostgreSQL cannot store: %w", id, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.approvals[id]
	switch {
	case !ok:
		return fmt.Errorf("memory: finish approval %q: %w", id, storage.ErrNotFound)
	case a.State != storage.ApprovalApproved:
		return fmt.Errorf("memory: finish approval %q: %w", id, storage.ErrConflict)
	}
	a.State, a.Result = state, result
	s.approvals[id] = a
	return nil
}

// ExpireApprovals implements storage.ApprovalStore.
func (s *operatorStore) ExpireApprovals(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, a := range s.approvals {
		if a.State == storage.ApprovalPending && !a.ExpiresAt.After(now) {
			a.State = storage.ApprovalExpired
			s.approvals[id] = a
			n++
		}
	}
	return n, nil
}
