package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idvauth/idvauth/storage"
)

// Errors name users by their opaque ID only: never a username, an email,
// a session digest or a failure key.

type consentKey struct {
	user, client string
}

// failureWindow is one fixed window of failures under a key.
type failureWindow struct {
	count      int
	start, end time.Time
}

// storable reports whether every v is text the PostgreSQL backend can
// store (valid UTF-8 without NUL bytes). This backend refuses the same
// values, so that both answer alike.
func storable(vs ...string) bool {
	for _, v := range vs {
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return false
		}
	}
	return true
}

func cloneConsent(c storage.Consent) storage.Consent {
	c.Scopes = slices.Clone(c.Scopes)
	return c
}

// CreateUser implements storage.UserStore.
func (s *Store) CreateUser(_ context.Context, u storage.User) error {
	if !storable(u.ID, u.Username, u.Name, u.Email, u.PasswordHash) {
		return fmt.Errorf("memory: create user %q: text the store cannot keep: %w", u.ID, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; ok {
		return fmt.Errorf("memory: create user %q: %w", u.ID, storage.ErrAlreadyExists)
	}
	if _, ok := s.usernames[u.Username]; ok {
		return fmt.Errorf("memory: create user %q: username taken: %w", u.ID, storage.ErrAlreadyExists)
	}
	s.users[u.ID] = u
	s.usernames[u.Username] = u.ID
	return nil
}

// GetUser implements storage.UserStore.
func (s *Store) GetUser(_ context.Context, id string) (storage.User, error) {
	s.mu.RLock()
	u, ok := s.users[id]
	s.mu.RUnlock()
	if !ok {
		return storage.User{}, fmt.Errorf("memory: get user %q: %w", id, storage.ErrNotFound)
	}
	return u, nil
}

// GetUserByUsername implements storage.UserStore.
func (s *Store) GetUserByUsername(_ context.Context, username string) (storage.User, error) {
	s.mu.RLock()
	id, ok := s.usernames[username]
	u := s.users[id]
	s.mu.RUnlock()
	if !ok {
		return storage.User{}, fmt.Errorf("memory: get user by username: %w", storage.ErrNotFound)
	}
	return u, nil
}

// ListUsers implements storage.UserStore.
func (s *Store) ListUsers(context.Context) ([]storage.User, error) {
	s.mu.RLock()
	out := make([]storage.User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out, nil
}

// DeleteUser implements storage.UserStore.
func (s *Store) DeleteUser(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("memory: delete user %q: %w", id, storage.ErrNotFound)
	}
	delete(s.users, id)
	delete(s.usernames, u.Username)
	for k := range s.consents {
		if k.user == id {
			delete(s.consents, k)
		}
	}
	for k, bs := range s.sessions {
		if bs.UserID == id {
			delete(s.sessions, k)
		}
	}
	for k, t := range s.tokens {
		if t.Subject == id {
			delete(s.tokens, k)
		}
	}
	return nil
}

// SaveConsent implements storage.UserStore.
func (s *Store) SaveConsent(_ context.Context, c storage.Consent) error {
	// Checks in the order the PostgreSQL backend makes them.
	if !storable(c.UserID, c.ClientID) {
		return fmt.Errorf("memory: save consent: %w", storage.ErrNotFound)
	}
	if !storable(c.Scopes...) {
		return fmt.Errorf("memory: save consent of user %q to client %q: text the store cannot keep: %w",
			c.UserID, c.ClientID, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[c.UserID]; !ok {
		return fmt.Errorf("memory: save consent of user %q: no such user: %w", c.UserID, storage.ErrNotFound)
	}
	if _, ok := s.clients[c.ClientID]; !ok {
		return fmt.Errorf("memory: save consent to client %q: no such client: %w", c.ClientID, storage.ErrNotFound)
	}
	s.consents[consentKey{c.UserID, c.ClientID}] = cloneConsent(c)
	return nil
}

// GetConsent implements storage.UserStore.
func (s *Store) GetConsent(_ context.Context, userID, clientID string) (storage.Consent, error) {
	s.mu.RLock()
	c, ok := s.consents[consentKey{userID, clientID}]
	s.mu.RUnlock()
	if !ok {
		return storage.Consent{}, fmt.Errorf("memory: get consent of user %q to client %q: %w", userID, clientID, storage.ErrNotFound)
	}
	return cloneConsent(c), nil
}

// ListConsents implements storage.UserStore.
func (s *Store) ListConsents(_ context.Context, userID string) ([]storage.Consent, error) {
	s.mu.RLock()
	out := []storage.Consent{}
	for k, c := range s.consents {
		if k.user == userID {
			out = append(out, cloneConsent(c))
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ClientID < out[j].ClientID })
	return out, nil
}

// DeleteConsents implements storage.UserStore.
func (s *Store) DeleteConsents(_ context.Context, userID, clientID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k := range s.consents {
		if k.user == userID && (clientID == "" || k.client == clientID) {
			delete(s.consents, k)
			n++
		}
	}
	return n, nil
}

// CreateBrowserSession implements storage.UserStore.
func (s *Store) CreateBrowserSession(_ context.Context, bs storage.BrowserSession) error {
	// Checks in the order the PostgreSQL backend makes them.
	if !storable(bs.UserID) {
		return fmt.Errorf("memory: create browser session: %w", storage.ErrNotFound)
	}
	if !storable(bs.ID) {
		return fmt.Errorf("memory: create browser session of user %q: text the store cannot keep: %w", bs.UserID, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[bs.ID]; ok {
		return fmt.Errorf("memory: create browser session of user %q: %w", bs.UserID, storage.ErrAlreadyExists)
	}
	if _, ok := s.users[bs.UserID]; !ok {
		return fmt.Errorf("memory: create browser session of user %q: no such user: %w", bs.UserID, storage.ErrNotFound)
	}
	s.sessions[bs.ID] = bs
	return nil
}

// GetBrowserSession implements storage.UserStore.
func (s *Store) GetBrowserSession(_ context.Context, id string) (storage.BrowserSession, error) {
	s.mu.RLock()
	bs, ok := s.sessions[id]
	s.mu.RUnlock()
	if !ok {
		return storage.BrowserSession{}, fmt.Errorf("memory: get browser session: %w", storage.ErrNotFound)
	}
	return bs, nil
}

// DeleteBrowserSession implements storage.UserStore.
func (s *Store) DeleteBrowserSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[id]; !ok {
		return fmt.Errorf("memory: delete browser session: %w", storage.ErrNotFound)
	}
	delete(s.sessions, id)
	return nil
}

// errWindow refuses a window that would count nothing.
var errWindow = errors.New("the window must be positive")

// ListBrowserSessions implements storage.UserStore.
func (s *Store) ListBrowserSessions(_ context.Context, userID string) ([]storage.BrowserSession, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []storage.BrowserSession
	for _, bs := range s.sessions {
		if bs.UserID == userID {
			out = append(out, bs)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].AuthTime.Equal(out[j].AuthTime) {
			return out[i].AuthTime.Before(out[j].AuthTime)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// AddFailure implements storage.FailureStore. A window that has ended
// (its end is not after now) restarts at 1.
func (s *Store) AddFailure(_ context.Context, key string, now time.Time, window time.Duration) (int, error) {
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
func (s *Store) Failures(_ context.Context, key string, now time.Time) (int, time.Time, error) {
	s.mu.RLock()
	w, ok := s.failures[key]
	s.mu.RUnlock()
	if !ok || !now.Before(w.end) {
		return 0, time.Time{}, nil
	}
	return w.count, w.end, nil
}

// ClearFailures implements storage.FailureStore.
func (s *Store) ClearFailures(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failures, key)
	return nil
}
