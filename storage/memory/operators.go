package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// operatorStore is the storage.OperatorStore and storage.ApprovalStore
// part of Store, with a lock of its own: no other record refers to an
// operator or a request.
type operatorStore struct {
	mu        sync.RWMutex
	operators map[string]storage.Operator
	usernames map[string]string // username to operator ID
	approvals map[string]storage.Approval
}

func cloneOperator(o storage.Operator) storage.Operator {
	o.TOTPSecret = bytes.Clone(o.TOTPSecret)
	o.EnrollmentDigest = bytes.Clone(o.EnrollmentDigest)
	o.CreatedAt, o.UpdatedAt, o.EnrollmentExpiresAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC(), o.EnrollmentExpiresAt.UTC()
	return o
}

// CreateOperator implements storage.OperatorStore.
func (s *operatorStore) CreateOperator(_ context.Context, o storage.Operator) error {
	if !storable(o.ID, o.Username, o.Role, o.PasswordHash) {
		return fmt.Errorf("memory: create operator %q: text PostgreSQL cannot store: %w", o.ID, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.operators == nil {
		s.operators, s.usernames = make(map[string]storage.Operator), make(map[string]string)
	}
	_, idTaken := s.operators[o.ID]
	_, nameTaken := s.usernames[o.Username]
	if idTaken || nameTaken {
		return fmt.Errorf("memory: create operator %q: %w", o.ID, storage.ErrAlreadyExists)
	}
	s.operators[o.ID] = cloneOperator(o)
	s.usernames[o.Username] = o.ID
	return nil
}

// GetOperator implements storage.OperatorStore.
func (s *operatorStore) GetOperator(_ context.Context, id string) (storage.Operator, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.operators[id]
	if !ok {
		return storage.Operator{}, fmt.Errorf("memory: get operator %q: %w", id, storage.ErrNotFound)
	}
	return cloneOperator(o), nil
}

// GetOperatorByUsername implements storage.OperatorStore.
func (s *operatorStore) GetOperatorByUsername(ctx context.Context, username string) (storage.Operator, error) {
	s.mu.RLock()
	id, ok := s.usernames[username]
	s.mu.RUnlock()
	if !ok {
		return storage.Operator{}, fmt.Errorf("memory: get operator by username: %w", storage.ErrNotFound)
	}
	return s.GetOperator(ctx, id)
}

// ListOperators implements storage.OperatorStore.
func (s *operatorStore) ListOperators(context.Context) ([]storage.Operator, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := matching(s.operators, func(storage.Operator) bool { return true }, cloneOperator,
		func(a, b storage.Operator) int { return cmp.Compare(a.Username, b.Username) })
	if out == nil {
		out = []storage.Operator{}
	}
	return out, nil
}

// SetOperatorCredentials implements storage.OperatorStore.
func (s *operatorStore) SetOperatorCredentials(_ context.Context, id string, c storage.OperatorCredentials, enrollment []byte, now time.Time) error {
	if !storable(c.PasswordHash) {
		return fmt.Errorf("memory: set operator credentials %q: text PostgreSQL cannot store: %w", id, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.operators[id]
	switch {
	case !ok:
		return fmt.Errorf("memory: set operator credentials %q: %w", id, storage.ErrNotFound)
	case len(enrollment) > 0 && (o.Disabled || len(o.TOTPSecret) > 0 || !bytes.Equal(o.EnrollmentDigest, enrollment)):
		return fmt.Errorf("memory: set operator credentials %q: the enrollment has ended: %w", id, storage.ErrConflict)
	}
	o.PasswordHash, o.TOTPSecret, o.TOTPCounter = c.PasswordHash, c.TOTPSecret, c.TOTPCounter
	o.EnrollmentDigest, o.EnrollmentExpiresAt, o.UpdatedAt = c.EnrollmentDigest, c.EnrollmentExpiresAt, now
	s.operators[id] = cloneOperator(o)
	return nil
}

// AdvanceOperatorTOTP implements storage.OperatorStore.
func (s *operatorStore) AdvanceOperatorTOTP(_ context.Context, id string, counter int64, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.operators[id]
	switch {
	case !ok:
		return fmt.Errorf("memory: advance operator %q: %w", id, storage.ErrNotFound)
	case counter <= o.TOTPCounter:
		return fmt.Errorf("memory: advance operator %q: code used already: %w", id, storage.ErrConflict)
	}
	o.TOTPCounter, o.UpdatedAt = counter, now
	s.operators[id] = o
	return nil
}

// SetOperatorAccess implements storage.OperatorStore.
func (s *operatorStore) SetOperatorAccess(_ context.Context, id, role string, disabled bool, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.operators[id]
	if !ok {
		return fmt.Errorf("memory: set operator access %q: %w", id, storage.ErrNotFound)
	}
	owner := role == "owner" && !disabled || o.Role != "owner" || o.Disabled // not the last owner if it was none
	for other, p := range s.operators {
		owner = owner || other != id && p.Role == "owner" && !p.Disabled
	}
	if !owner {
		return fmt.Errorf("memory: set operator access %q: no enabled owner would remain: %w", id, storage.ErrConflict)
	}
	o.Role, o.Disabled, o.UpdatedAt = role, disabled, now
	s.operators[id] = o
	return nil
}

// UseEnrollment implements storage.OperatorStore.
func (s *operatorStore) UseEnrollment(_ context.Context, digest []byte, now time.Time) (storage.Operator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, o := range s.operators {
		if len(digest) > 0 && bytes.Equal(o.EnrollmentDigest, digest) && o.EnrollmentExpiresAt.After(now) {
			o.EnrollmentDigest = storage.UsedEnrollment(digest)
			s.operators[id] = o
			return cloneOperator(o), nil
		}
	}
	return storage.Operator{}, fmt.Errorf("memory: use enrollment: %w", storage.ErrNotFound)
}
