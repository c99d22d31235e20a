// Package memory is an in-memory storage.Store for `serve --dev` and fast
// tests. Nothing survives the process. It is safe for concurrent use.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/idvauth/idvauth/storage"
)

type tokenKey struct {
	kind storage.TokenKind
	sig  string
}

// Store is an in-memory storage.Store. The zero value is not usable; call
// New.
type Store struct {
	mu        sync.RWMutex
	clients   map[string]storage.Client
	tokens    map[tokenKey]storage.Token
	keys      []storage.Key
	users     map[string]storage.User
	usernames map[string]string // username to user ID
	consents  map[consentKey]storage.Consent
	sessions  map[string]storage.BrowserSession
	failures  map[string]failureWindow
	used      map[assertionKey]time.Time

	auditMu sync.Mutex
	audit   auditLog
}

type assertionKey struct{ client, jti string }

var _ storage.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		clients:   make(map[string]storage.Client),
		tokens:    make(map[tokenKey]storage.Token),
		users:     make(map[string]storage.User),
		usernames: make(map[string]string),
		consents:  make(map[consentKey]storage.Consent),
		sessions:  make(map[string]storage.BrowserSession),
		failures:  make(map[string]failureWindow),
		used:      make(map[assertionKey]time.Time),
	}
}

// Ping always succeeds.
func (s *Store) Ping(context.Context) error { return nil }

// Close does nothing.
func (s *Store) Close() {}

func cloneClient(c storage.Client) storage.Client {
	c.SecretHash = slices.Clone(c.SecretHash)
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.ResponseTypes = slices.Clone(c.ResponseTypes)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.Scopes = slices.Clone(c.Scopes)
	c.Audience = slices.Clone(c.Audience)
	c.JWKS = slices.Clone(c.JWKS)
	return c
}

func cloneToken(t storage.Token) storage.Token {
	t.Scopes = slices.Clone(t.Scopes)
	t.Audience = slices.Clone(t.Audience)
	t.Session = slices.Clone(t.Session)
	if len(t.Session) == 0 {
		t.Session = nil
	}
	return t
}

func cloneKey(k storage.Key) storage.Key {
	k.Sealed = slices.Clone(k.Sealed)
	k.PublicJWK = slices.Clone(k.PublicJWK)
	return k
}

// CreateClient implements storage.ClientStore.
func (s *Store) CreateClient(_ context.Context, c storage.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return fmt.Errorf("memory: create client %q: %w", c.ID, storage.ErrAlreadyExists)
	}
	s.clients[c.ID] = cloneClient(c)
	return nil
}

// GetClient implements storage.ClientStore.
func (s *Store) GetClient(_ context.Context, id string) (storage.Client, error) {
	s.mu.RLock()
	c, ok := s.clients[id]
	s.mu.RUnlock()
	if !ok {
		return storage.Client{}, fmt.Errorf("memory: get client %q: %w", id, storage.ErrNotFound)
	}
	return cloneClient(c), nil
}

// ListClients implements storage.ClientStore.
func (s *Store) ListClients(context.Context) ([]storage.Client, error) {
	s.mu.RLock()
	out := make([]storage.Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, cloneClient(c))
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// UpdateClient implements storage.ClientStore.
func (s *Store) UpdateClient(_ context.Context, c storage.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.clients[c.ID]
	if !ok {
		return fmt.Errorf("memory: update client %q: %w", c.ID, storage.ErrNotFound)
	}
	c = cloneClient(c)
	c.SecretHash = old.SecretHash
	c.CreatedAt = old.CreatedAt
	s.clients[c.ID] = c
	return nil
}

// SetClientSecret implements storage.ClientStore.
func (s *Store) SetClientSecret(_ context.Context, id string, hash []byte, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return fmt.Errorf("memory: set client secret %q: %w", id, storage.ErrNotFound)
	}
	c.SecretHash = slices.Clone(hash)
	c.UpdatedAt = now
	s.clients[id] = c
	return nil
}

// DeleteClient implements storage.ClientStore.
func (s *Store) DeleteClient(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[id]; !ok {
		return fmt.Errorf("memory: delete client %q: %w", id, storage.ErrNotFound)
	}
	delete(s.clients, id)
	for k, t := range s.tokens {
		if t.ClientID == id {
			delete(s.tokens, k)
		}
	}
	for k := range s.consents {
		if k.client == id {
			delete(s.consents, k)
		}
	}
	return nil
}

// CreateToken implements storage.TokenStore.
func (s *Store) CreateToken(_ context.Context, t storage.Token) error {
	k := tokenKey{t.Kind, t.Signature}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[t.ClientID]; !ok {
		return fmt.Errorf("memory: create token of client %q: %w", t.ClientID, storage.ErrNotFound)
	}
	if _, ok := s.tokens[k]; ok {
		return fmt.Errorf("memory: create %s: %w", t.Kind, storage.ErrAlreadyExists)
	}
	s.tokens[k] = cloneToken(t)
	return nil
}

// GetToken implements storage.TokenStore.
func (s *Store) GetToken(_ context.Context, kind storage.TokenKind, sig string) (storage.Token, error) {
	s.mu.RLock()
	t, ok := s.tokens[tokenKey{kind, sig}]
	s.mu.RUnlock()
	if !ok {
		return storage.Token{}, fmt.Errorf("memory: get %s: %w", kind, storage.ErrNotFound)
	}
	return cloneToken(t), nil
}

// ConsumeToken implements storage.TokenStore.
func (s *Store) ConsumeToken(_ context.Context, kind storage.TokenKind, sig string, now time.Time) (storage.Token, error) {
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
func (s *Store) DeleteToken(_ context.Context, kind storage.TokenKind, sig string) error {
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
func (s *Store) RevokeRequest(_ context.Context, kind storage.TokenKind, requestID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.tokens {
		if t.Kind == kind && t.RequestID == requestID {
			delete(s.tokens, k)
		}
	}
	return nil
}

// ListTokensBySubject implements storage.TokenStore.
func (s *Store) ListTokensBySubject(_ context.Context, subject string) ([]storage.Token, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []storage.Token
	for _, t := range s.tokens {
		if t.Subject == subject {
			out = append(out, cloneToken(t))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].IssuedAt.Equal(out[j].IssuedAt) {
			return out[i].IssuedAt.Before(out[j].IssuedAt)
		}
		return out[i].Kind < out[j].Kind || out[i].Kind == out[j].Kind && out[i].Signature < out[j].Signature
	})
	return out, nil
}

// DeleteExpired implements storage.TokenStore: at most limit each of
// token records, browser sessions and failure windows.
func (s *Store) DeleteExpired(_ context.Context, before time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return deleteExpired(s.tokens, before, limit, func(t storage.Token) time.Time { return t.ExpiresAt }) +
		deleteExpired(s.sessions, before, limit, func(bs storage.BrowserSession) time.Time { return bs.ExpiresAt }) +
		deleteExpired(s.failures, before, limit, func(w failureWindow) time.Time { return w.end }) +
		deleteExpired(s.used, before, limit, func(t time.Time) time.Time { return t }), nil
}

// UseAssertion implements storage.AssertionStore.
func (s *Store) UseAssertion(_ context.Context, clientID, jti string, expires time.Time) error {
	k := assertionKey{clientID, jti}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.used[k]; ok {
		return fmt.Errorf("memory: use assertion of client %q: %w", clientID, storage.ErrAlreadyExists)
	}
	s.used[k] = expires
	return nil
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

// CreateKey implements storage.KeyStore.
func (s *Store) CreateKey(_ context.Context, k storage.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.keys {
		if old.ID == k.ID {
			return fmt.Errorf("memory: create key %q: %w", k.ID, storage.ErrAlreadyExists)
		}
	}
	if err := uniqueState(s.keys, k, -1); err != nil {
		return err
	}
	s.keys = append(s.keys, cloneKey(k))
	return nil
}

// uniqueState refuses k if it would be a second next or active key of its
// algorithm (ignoring s.keys[skip]).
func uniqueState(keys []storage.Key, k storage.Key, skip int) error {
	if k.State != storage.KeyNext && k.State != storage.KeyActive {
		return nil
	}
	for i, o := range keys {
		if i != skip && o.Alg == k.Alg && o.State == k.State {
			return fmt.Errorf("memory: key %q: a second %s %s key: %w", k.ID, k.State, k.Alg, storage.ErrAlreadyExists)
		}
	}
	return nil
}

// UpdateKeys implements storage.KeyStore.
func (s *Store) UpdateKeys(_ context.Context, at time.Time, changes ...storage.KeyChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]storage.Key, len(s.keys))
	copy(keys, s.keys)
	for _, ch := range changes {
		i := slices.IndexFunc(keys, func(k storage.Key) bool { return k.ID == ch.ID })
		if i < 0 {
			return fmt.Errorf("memory: update key %q: %w", ch.ID, storage.ErrNotFound)
		}
		k := keys[i]
		if k.State != ch.From {
			return fmt.Errorf("memory: update key %q: it is %s, not %s: %w", ch.ID, k.State, ch.From, storage.ErrConflict)
		}
		k.State = ch.To
		switch {
		case ch.To == storage.KeyActive:
			k.ActivatedAt = at
		case ch.To == storage.KeyRetired, ch.To == storage.KeyRemoved && k.RetiredAt.IsZero():
			k.RetiredAt = at
		}
		if err := uniqueState(keys, k, i); err != nil {
			return err
		}
		keys[i] = k
	}
	s.keys = keys
	return nil
}

// SetKeySealed implements storage.KeyStore.
func (s *Store) SetKeySealed(_ context.Context, id string, sealed []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.keys, func(k storage.Key) bool { return k.ID == id })
	if i < 0 {
		return fmt.Errorf("memory: set sealed key %q: %w", id, storage.ErrNotFound)
	}
	s.keys[i].Sealed = slices.Clone(sealed)
	return nil
}

// ListKeys implements storage.KeyStore.
func (s *Store) ListKeys(context.Context) ([]storage.Key, error) {
	s.mu.RLock()
	out := make([]storage.Key, len(s.keys))
	for i, k := range s.keys {
		out[i] = cloneKey(k)
	}
	s.mu.RUnlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Len returns the number of clients and token records held, for tests and
// diagnostics.
func (s *Store) Len() (clients, tokens int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.clients), len(s.tokens)
}
