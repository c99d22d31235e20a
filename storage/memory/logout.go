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

// logoutStore implements storage.LogoutStore. A session's grants are
// dropped with it (liveGrants ignores those of a session or client that
// is gone, as the PostgreSQL backend's foreign keys delete them).
type logoutStore struct{ *tables }

// liveGrants returns the grants of session id whose session and client
// still exist. The caller holds the lock.
func (s logoutStore) liveGrants(id string) []storage.SessionGrant {
	if _, ok := s.sessions[id]; !ok {
		return nil
	}
	var out []storage.SessionGrant
	for _, g := range s.grants[id] {
		if _, ok := s.clients[g.ClientID]; ok {
			out = append(out, g)
		}
	}
	return out
}

// dropOrphanGrants forgets the grants of sessions that are gone (what the
// foreign key does in PostgreSQL). The caller holds the write lock.
func (t *tables) dropOrphanGrants() {
	maps.DeleteFunc(t.grants, func(id string, _ []storage.SessionGrant) bool {
		_, ok := t.sessions[id]
		return !ok
	})
}

// AddSessionGrant implements storage.LogoutStore.
func (s logoutStore) AddSessionGrant(_ context.Context, g storage.SessionGrant) error {
	if !storable(g.SessionID, g.ClientID) {
		return fmt.Errorf("memory: add session grant: %w", storage.ErrNotFound)
	}
	if !storable(g.RequestID, g.SID) {
		return fmt.Errorf("memory: add session grant: text the store cannot keep: %w", storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, okSession := s.sessions[g.SessionID]
	_, okClient := s.clients[g.ClientID]
	if !okSession || !okClient {
		return fmt.Errorf("memory: add session grant: no such session or client: %w", storage.ErrNotFound)
	}
	live := s.liveGrants(g.SessionID)
	if slices.ContainsFunc(live, func(o storage.SessionGrant) bool { return o.RequestID == g.RequestID }) {
		return fmt.Errorf("memory: add session grant: %w", storage.ErrAlreadyExists)
	}
	s.grants[g.SessionID] = append(live, g)
	return nil
}

// ListSessionGrants implements storage.LogoutStore.
func (s logoutStore) ListSessionGrants(_ context.Context, sessionID string) ([]storage.SessionGrant, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := slices.Clone(s.liveGrants(sessionID))
	slices.SortFunc(out, func(a, b storage.SessionGrant) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.RequestID, b.RequestID))
	})
	return out, nil
}

// EndBrowserSession implements storage.LogoutStore.
func (s logoutStore) EndBrowserSession(_ context.Context, sessionID string, deliveries []storage.LogoutDelivery) error {
	return s.end("end browser session", sessionID, deliveries, true)
}

// ExpireBrowserSession implements storage.LogoutStore.
func (s logoutStore) ExpireBrowserSession(_ context.Context, sessionID string, deliveries []storage.LogoutDelivery) error {
	return s.end("expire browser session", sessionID, deliveries, false)
}

// end deletes a session and its grants, and queues deliveries; revoke
// also deletes the access and refresh tokens of the grants.
func (s logoutStore) end(op, sessionID string, deliveries []storage.LogoutDelivery, revoke bool) error {
	for _, d := range deliveries {
		if !storable(d.ID, d.ClientID, d.Subject, d.SID) {
			return fmt.Errorf("memory: %s: text the store cannot keep: %w", op, storage.ErrConflict)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sessionID]; !ok {
		return fmt.Errorf("memory: %s: %w", op, storage.ErrNotFound)
	}
	for _, d := range deliveries {
		if _, ok := s.deliveries[d.ID]; ok {
			return fmt.Errorf("memory: %s: delivery: %w", op, storage.ErrAlreadyExists)
		}
	}
	for _, g := range s.liveGrants(sessionID) {
		for k, t := range s.tokens {
			if revoke && t.RequestID == g.RequestID && (t.Kind == storage.AccessToken || t.Kind == storage.RefreshToken) {
				delete(s.tokens, k)
			}
		}
	}
	delete(s.grants, sessionID)
	delete(s.sessions, sessionID)
	for _, d := range deliveries {
		s.deliveries[d.ID] = d
	}
	return nil
}

// ListExpiredBrowserSessions implements storage.LogoutStore.
func (s logoutStore) ListExpiredBrowserSessions(_ context.Context, before time.Time, limit int) ([]storage.BrowserSession, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []storage.BrowserSession
	for id, bs := range s.sessions {
		if bs.ExpiresAt.Before(before) && len(s.liveGrants(id)) > 0 {
			out = append(out, cloneSession(bs))
		}
	}
	slices.SortFunc(out, func(a, b storage.BrowserSession) int {
		return cmp.Or(a.ExpiresAt.Compare(b.ExpiresAt), strings.Compare(a.ID, b.ID))
	})
	return out[:min(len(out), max(limit, 0))], nil
}

// ReplaceBrowserSession implements storage.LogoutStore.
func (s logoutStore) ReplaceBrowserSession(_ context.Context, oldID string, bs storage.BrowserSession) error {
	// Checks in the order the PostgreSQL backend makes them.
	if !storable(bs.UserID) {
		return fmt.Errorf("memory: replace browser session: %w", storage.ErrNotFound)
	}
	if !storable(bs.ID) || !storable(bs.AMR...) || !storable(bs.Device) {
		return fmt.Errorf("memory: replace browser session of user %q: text the store cannot keep: %w", bs.UserID, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[bs.ID]; ok {
		return fmt.Errorf("memory: replace browser session of user %q: %w", bs.UserID, storage.ErrAlreadyExists)
	}
	if _, ok := s.users[bs.UserID]; !ok {
		return fmt.Errorf("memory: replace browser session of user %q: no such user: %w", bs.UserID, storage.ErrNotFound)
	}
	old, ok := s.sessions[oldID]
	if ok && old.UserID != bs.UserID {
		return fmt.Errorf("memory: replace browser session of user %q: the old session is another person's: %w", bs.UserID, storage.ErrConflict)
	}
	s.sessions[bs.ID] = cloneSession(bs)
	if !ok {
		return nil
	}
	var moved []storage.SessionGrant
	for _, g := range s.grants[oldID] {
		g.SessionID = bs.ID
		moved = append(moved, g)
	}
	if len(moved) > 0 {
		s.grants[bs.ID] = moved
	}
	delete(s.grants, oldID)
	delete(s.sessions, oldID)
	return nil
}

// ClaimLogoutDeliveries implements storage.LogoutStore.
func (s logoutStore) ClaimLogoutDeliveries(_ context.Context, now time.Time, lease time.Duration, limit int) ([]storage.LogoutDelivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []storage.LogoutDelivery
	for _, d := range s.deliveries {
		if !d.NextAttempt.After(now) {
			due = append(due, d)
		}
	}
	slices.SortFunc(due, func(a, b storage.LogoutDelivery) int {
		return cmp.Or(a.NextAttempt.Compare(b.NextAttempt), strings.Compare(a.ID, b.ID))
	})
	due = due[:min(len(due), max(limit, 0))]
	for i := range due {
		due[i].NextAttempt = now.Add(lease)
		s.deliveries[due[i].ID] = due[i]
	}
	slices.SortFunc(due, func(a, b storage.LogoutDelivery) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return due, nil
}

// RetryLogoutDelivery implements storage.LogoutStore.
func (s logoutStore) RetryLogoutDelivery(_ context.Context, id string, attempts int, next time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deliveries[id]
	if !ok {
		return fmt.Errorf("memory: retry logout delivery: %w", storage.ErrNotFound)
	}
	d.Attempts, d.NextAttempt = attempts, next
	s.deliveries[id] = d
	return nil
}

// FinishLogoutDelivery implements storage.LogoutStore.
func (s logoutStore) FinishLogoutDelivery(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.deliveries[id]; !ok {
		return fmt.Errorf("memory: finish logout delivery: %w", storage.ErrNotFound)
	}
	delete(s.deliveries, id)
	return nil
}
