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

// tokenStore is the storage.TokenStore and storage.AssertionStore part of
// Store: token records and used client assertions, and the janitor that
// removes what expired.
type tokenStore struct{ *tables }

type tokenKey struct {
	kind storage.TokenKind
	sig  string
}

type assertionKey struct{ client, jti string }

func cloneToken(t storage.Token) storage.Token {
	t.Scopes = slices.Clone(t.Scopes)
	t.Audience = slices.Clone(t.Audience)
	t.Session = slices.Clone(t.Session)
	if len(t.Session) == 0 {
		t.Session = nil
	}
	return t
}

// CreateToken implements storage.TokenStore.
func (s *tokenStore) CreateToken(_ context.Context, t storage.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addTokenLocked(t)
}

// addTokenLocked stores t unless its client is missing or its key taken;
// s.mu must be held for writing.
func (s *tables) addTokenLocked(t storage.Token) error {
	if _, ok := s.clients[t.ClientID]; !ok {
		return fmt.Errorf("memory: create token of client %q: %w", t.ClientID, storage.ErrNotFound)
	}
	k := tokenKey{t.Kind, t.Signature}
	if _, ok := s.tokens[k]; ok {
		return fmt.Errorf("memory: create %s: %w", t.Kind, storage.ErrAlreadyExists)
	}
	s.tokens[k] = cloneToken(t)
	return nil
}

// GetToken implements storage.TokenStore.
func (s *tokenStore) GetToken(_ context.Context, kind storage.TokenKind, sig string) (storage.Token, error) {
	t, ok := lookup(&s.mu, s.tokens, tokenKey{kind, sig})
	if !ok {
		return storage.Token{}, fmt.Errorf("memory: get %s: %w", kind, storage.ErrNotFound)
	}
	return cloneToken(t), nil
}

// ConsumeToken implements storage.TokenStore.
func (s *tokenStore) ConsumeToken(_ context.Context, kind storage.TokenKind, sig string, now time.Time) (storage.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tokenKey{kind, sig}
	t, ok := s.tokens[k]
	if !ok {
		return storage.Token{}, fmt.Errorf("memory: consume %s: %w", kind, storage.ErrNotFound)
	}
	if !t.ConsumedAt.IsZero() {
		return cloneToken(t), fmt.Errorf("memory: consume %s: already used: %w", kind, storage.ErrConflict)
	}
	t.ConsumedAt = now
	s.tokens[k] = t
	return cloneToken(t), nil
}

// DeleteToken implements storage.TokenStore.
func (s *tokenStore) DeleteToken(_ context.Context, kind storage.TokenKind, sig string) error {
	k := tokenKey{kind, sig}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tokens[k]; !ok {
		return fmt.Errorf("memory: delete %s: %w", kind, storage.ErrNotFound)
	}
	delete(s.tokens, k)
	return nil
}

// RevokeRequest implements storage.TokenStore.
func (s *tokenStore) RevokeRequest(_ context.Context, kind storage.TokenKind, requestID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	maps.DeleteFunc(s.tokens, func(_ tokenKey, t storage.Token) bool { return t.Kind == kind && t.RequestID == requestID })
	return nil
}

// ListTokensBySubject implements storage.TokenStore.
func (s *tokenStore) ListTokensBySubject(_ context.Context, subject string) ([]storage.Token, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return matching(s.tokens, func(t storage.Token) bool { return t.Subject == subject }, cloneToken, func(a, b storage.Token) int {
		return cmp.Or(a.IssuedAt.Compare(b.IssuedAt), strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Signature, b.Signature))
	}), nil
}

// DeleteExpired implements storage.TokenStore: at most limit each of
// token records, browser sessions, failure windows and used assertions.
func (s *tokenStore) DeleteExpired(_ context.Context, before time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.dropOrphanGrants()
	return deleteExpired(s.tokens, before, limit, func(t storage.Token) time.Time { return t.ExpiresAt }) +
		deleteExpired(s.sessions, before, limit, func(bs storage.BrowserSession) time.Time {
			if len(logoutStore{s.tables}.liveGrants(bs.ID)) > 0 {
				return before // kept for ExpireBrowserSession
			}
			return bs.ExpiresAt
		}) +
		deleteExpired(s.failures, before, limit, func(w failureWindow) time.Time { return w.end }) +
		deleteExpired(s.used, before, limit, func(t time.Time) time.Time { return t }) +
		deleteExpired(s.apiKeys, before, limit, func(k storage.APIKey) time.Time { return k.ExpiresAt }), nil
}

// deleteExpired removes at most limit entries of m whose expiry is before
// before, and returns how many it removed.
func deleteExpired[K comparable, V any](m map[K]V, before time.Time, limit int, expiry func(V) time.Time) int {
	n := 0
	for k, v := range m {
		if n >= limit {
			break
		}
		if expiry(v).Before(before) {
			delete(m, k)
			n++
		}
	}
	return n
}

// UseAssertion implements storage.AssertionStore.
func (s *tokenStore) UseAssertion(_ context.Context, clientID, jti string, expires time.Time) error {
	k := assertionKey{clientID, jti}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.used[k]; ok {
		return fmt.Errorf("memory: use assertion of client %q: %w", clientID, storage.ErrAlreadyExists)
	}
	s.used[k] = expires
	return nil
}
