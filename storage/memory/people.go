package memory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/idvauth/idvauth/storage"
)

// cloneUser copies u with its sealed profile, so that callers never share
// the store's byte slices.
func cloneUser(u storage.User) storage.User {
	if u.Sealed != nil {
		p := *u.Sealed
		for _, b := range []*[]byte{&p.Key, &p.UsernameIndex, &p.EmailIndex, &p.Username, &p.Name, &p.Email} {
			*b = bytes.Clone(*b)
		}
		u.Sealed = &p
	}
	return u
}

// claimUsernameLocked records u's username (plain) or username index
// (sealed); storage.ErrAlreadyExists if another user holds it. The
// caller holds the write lock.
func (s *userStore) claimUsernameLocked(u storage.User) error {
	m, k := s.usernames, u.Username
	if u.Sealed != nil {
		m, k = s.indexes, string(u.Sealed.UsernameIndex)
	}
	if id, ok := m[k]; ok && id != u.ID {
		return fmt.Errorf("username taken: %w", storage.ErrAlreadyExists)
	}
	m[k] = u.ID
	return nil
}

// releaseUsernameLocked forgets what claimUsernameLocked recorded for u.
func (s *userStore) releaseUsernameLocked(u storage.User) {
	if u.Sealed != nil {
		delete(s.indexes, string(u.Sealed.UsernameIndex))
	} else {
		delete(s.usernames, u.Username)
	}
}

// GetUserByIndex implements storage.PersonStore.
func (s *userStore) GetUserByIndex(_ context.Context, indexes [][]byte) (storage.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, ix := range indexes {
		if id, ok := s.indexes[string(ix)]; ok {
			return cloneUser(s.users[id]), nil
		}
	}
	return storage.User{}, fmt.Errorf("memory: get user by index: %w", storage.ErrNotFound)
}

// ListUsersByID implements storage.PersonStore.
func (s *userStore) ListUsersByID(_ context.Context, after string, limit int) ([]storage.User, error) {
	s.mu.RLock()
	out := matching(s.users, func(u storage.User) bool { return u.ID > after }, cloneUser,
		func(a, b storage.User) int { return strings.Compare(a.ID, b.ID) })
	s.mu.RUnlock()
	if len(out) > limit {
		out = out[:max(limit, 0)]
	}
	if out == nil {
		out = []storage.User{}
	}
	return out, nil
}

// CountPlainUsers implements storage.PersonStore.
func (s *userStore) CountPlainUsers(context.Context) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, u := range s.users {
		if u.Sealed == nil {
			n++
		}
	}
	return n, nil
}

// SealUser implements storage.PersonStore under one lock.
func (s *userStore) SealUser(_ context.Context, old, u storage.User) error {
	if u.Sealed == nil || !storable(u.Sealed.KEK) {
		return fmt.Errorf("memory: seal user %q: no sealed profile: %w", u.ID, storage.ErrConflict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.users[u.ID]
	if !ok {
		return fmt.Errorf("memory: seal user %q: %w", u.ID, storage.ErrNotFound)
	}
	if !sameProfile(cur, old) {
		return fmt.Errorf("memory: seal user %q: the profile changed: %w", u.ID, storage.ErrConflict)
	}
	s.releaseUsernameLocked(cur)
	next := cloneUser(u)
	if err := s.claimUsernameLocked(next); err != nil {
		_ = s.claimUsernameLocked(cur) // it was ours a moment ago
		return fmt.Errorf("memory: seal user %q: %w", u.ID, err)
	}
	cur.Username, cur.Name, cur.Email, cur.Sealed = "", "", "", next.Sealed
	s.users[u.ID] = cur
	return nil
}

// sameProfile reports whether the stored user cur still holds old's
// profile: the plain fields, or the sealed fields and the wrapped data key
// or the reference to a key elsewhere. The sealed fields count for a key
// kept here too: a profile change made meanwhile keeps the key.
func sameProfile(cur, old storage.User) bool {
	if (cur.Sealed == nil) != (old.Sealed == nil) {
		return false
	}
	if cur.Sealed == nil {
		return cur.Username == old.Username && cur.Name == old.Name && cur.Email == old.Email
	}
	c, o := cur.Sealed, old.Sealed
	if !slices.Equal(c.Username, o.Username) || !slices.Equal(c.Name, o.Name) || !slices.Equal(c.Email, o.Email) {
		return false
	}
	if o.KeyRef != "" {
		return c.KeyRef == o.KeyRef
	}
	return c.KeyRef == "" && slices.Equal(c.Key, o.Key) && c.KEK == o.KEK
}

// CountKeyPlaces implements storage.PersonStore.
func (s *userStore) CountKeyPlaces(context.Context) (here, elsewhere int, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, u := range s.users {
		switch {
		case u.Sealed == nil:
		case u.Sealed.KeyRef != "":
			elsewhere++
		default:
			here++
		}
	}
	return here, elsewhere, nil
}

// SetFactorSecret implements storage.PersonStore under one lock.
func (s *userStore) SetFactorSecret(_ context.Context, userID, id string, old, secret []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.factors[id]
	if !ok || f.UserID != userID {
		return fmt.Errorf("memory: set factor secret of user %q: %w", userID, storage.ErrNotFound)
	}
	if !bytes.Equal(f.Secret, old) {
		return fmt.Errorf("memory: set factor secret of user %q: the secret changed: %w", userID, storage.ErrConflict)
	}
	f.Secret = bytes.Clone(secret)
	s.factors[id] = f
	return nil
}
