package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/idvauth/idvauth/storage"
)

// userStore is the storage.UserStore part of Store: people, their
// consents and their browser sessions. Errors name people by their opaque
// ID only: never a username, an email or a session digest.
type userStore struct{ *tables }

type consentKey struct {
	user, client string
}

func cloneConsent(c storage.Consent) storage.Consent {
	c.Scopes = slices.Clone(c.Scopes)
	return c
}

func cloneSession(bs storage.BrowserSession) storage.BrowserSession {
	bs.AMR = slices.Clone(bs.AMR)
	return bs
}

// CreateUser implements storage.UserStore.
func (s *userStore) CreateUser(_ context.Context, u storage.User) error {
	if !storable(u.ID, u.Username, u.Name, u.Email, u.PasswordHash) {
		return fmt.Errorf("memory: create user %q: text the store cannot keep: %w", u.ID, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; ok {
		return fmt.Errorf("memory: create user %q: %w", u.ID, storage.ErrAlreadyExists)
	}
	if err := s.claimUsernameLocked(u); err != nil {
		return fmt.Errorf("memory: create user %q: %w", u.ID, err)
	}
	s.users[u.ID] = cloneUser(u)
	return nil
}

// GetUser implements storage.UserStore.
func (s *userStore) GetUser(_ context.Context, id string) (storage.User, error) {
	u, ok := lookup(&s.mu, s.users, id)
	if !ok {
		return storage.User{}, fmt.Errorf("memory: get user %q: %w", id, storage.ErrNotFound)
	}
	return cloneUser(u), nil
}

// GetUserByUsername implements storage.UserStore.
func (s *userStore) GetUserByUsername(_ context.Context, username string) (storage.User, error) {
	s.mu.RLock()
	id, ok := s.usernames[username]
	u := cloneUser(s.users[id])
	s.mu.RUnlock()
	if !ok {
		return storage.User{}, fmt.Errorf("memory: get user by username: %w", storage.ErrNotFound)
	}
	return u, nil
}

// ListUsers implements storage.UserStore.
func (s *userStore) ListUsers(context.Context) ([]storage.User, error) {
	s.mu.RLock()
	out := make([]storage.User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, cloneUser(u))
	}
	s.mu.RUnlock()
	// Sealed rows (no plain username) after the plain ones, by ID, as in
	// the PostgreSQL backend.
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Sealed == nil) != (b.Sealed == nil) {
			return a.Sealed == nil
		}
		return cmp.Or(strings.Compare(a.Username, b.Username), strings.Compare(a.ID, b.ID)) < 0
	})
	return out, nil
}

// DeleteUser implements storage.UserStore.
func (s *userStore) DeleteUser(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("memory: delete user %q: %w", id, storage.ErrNotFound)
	}
	delete(s.users, id)
	s.releaseUsernameLocked(u)
	maps.DeleteFunc(s.consents, func(k consentKey, _ storage.Consent) bool { return k.user == id })
	maps.DeleteFunc(s.sessions, func(_ string, bs storage.BrowserSession) bool { return bs.UserID == id })
	s.dropOrphanGrants()
	maps.DeleteFunc(s.tokens, func(_ tokenKey, t storage.Token) bool { return t.Subject == id })
	s.deleteFactorsLocked(id)
	return nil
}

// SaveConsent implements storage.UserStore.
func (s *userStore) SaveConsent(_ context.Context, c storage.Consent) error {
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
func (s *userStore) GetConsent(_ context.Context, userID, clientID string) (storage.Consent, error) {
	c, ok := lookup(&s.mu, s.consents, consentKey{userID, clientID})
	if !ok {
		return storage.Consent{}, fmt.Errorf("memory: get consent of user %q to client %q: %w", userID, clientID, storage.ErrNotFound)
	}
	return cloneConsent(c), nil
}

// ListConsents implements storage.UserStore.
func (s *userStore) ListConsents(_ context.Context, userID string) ([]storage.Consent, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := matching(s.consents, func(c storage.Consent) bool { return c.UserID == userID }, cloneConsent,
		func(a, b storage.Consent) int { return strings.Compare(a.ClientID, b.ClientID) })
	if out == nil {
		out = []storage.Consent{}
	}
	return out, nil
}

// DeleteConsents implements storage.UserStore: the consents and the
// tokens go under one lock.
func (s *userStore) DeleteConsents(_ context.Context, userID, clientID string) (storage.Withdrawal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var w storage.Withdrawal
	for k := range s.consents {
		if k.user == userID && (clientID == "" || k.client == clientID) {
			delete(s.consents, k)
			w.Consents++
		}
	}
	if _, ok := s.users[userID]; !ok {
		return w, nil
	}
	maps.DeleteFunc(s.tokens, func(_ tokenKey, t storage.Token) bool {
		if t.Subject != userID || (clientID != "" && t.ClientID != clientID) {
			return false
		}
		if countsAsGrant(t) {
			w.Tokens++
		}
		return true
	})
	return w, nil
}

// countsAsGrant is whether revoking t counts in a storage.Withdrawal: an
// access token, refresh token or authorization code not yet used up.
func countsAsGrant(t storage.Token) bool {
	switch t.Kind {
	case storage.AccessToken, storage.RefreshToken, storage.AuthorizeCode:
		return t.ConsumedAt.IsZero()
	}
	return false
}

// CreateBrowserSession implements storage.UserStore.
func (s *userStore) CreateBrowserSession(_ context.Context, bs storage.BrowserSession) error {
	// Checks in the order the PostgreSQL backend makes them.
	if !storable(bs.UserID) {
		return fmt.Errorf("memory: create browser session: %w", storage.ErrNotFound)
	}
	if !storable(bs.ID) || !storable(bs.AMR...) {
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
	s.sessions[bs.ID] = cloneSession(bs)
	return nil
}

// GetBrowserSession implements storage.UserStore.
func (s *userStore) GetBrowserSession(_ context.Context, id string) (storage.BrowserSession, error) {
	bs, ok := lookup(&s.mu, s.sessions, id)
	if !ok {
		return storage.BrowserSession{}, fmt.Errorf("memory: get browser session: %w", storage.ErrNotFound)
	}
	return cloneSession(bs), nil
}

// DeleteBrowserSession implements storage.UserStore.
func (s *userStore) DeleteBrowserSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[id]; !ok {
		return fmt.Errorf("memory: delete browser session: %w", storage.ErrNotFound)
	}
	delete(s.sessions, id)
	delete(s.grants, id)
	return nil
}

// ListBrowserSessions implements storage.UserStore.
func (s *userStore) ListBrowserSessions(_ context.Context, userID string) ([]storage.BrowserSession, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return matching(s.sessions, func(bs storage.BrowserSession) bool { return bs.UserID == userID }, cloneSession,
		func(a, b storage.BrowserSession) int {
			return cmp.Or(a.AuthTime.Compare(b.AuthTime), strings.Compare(a.ID, b.ID))
		}), nil
}
