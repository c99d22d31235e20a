// Package memory is an in-memory storage.Store for `serve --dev` and fast
// tests. Nothing survives the process. It is safe for concurrent use.
package memory

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/idvauth/idvauth/storage"
)

// Store is an in-memory storage.Store. The zero value is not usable; call
// New.
//
// It is made of one part per store interface. The parts whose records
// refer to one another (clients, tokens, people, failure windows) share
// one set of tables under one lock, so that a change across them (a
// client deleted with its tokens and consents) is one step; keys and the
// audit trail have locks of their own.
type Store struct {
	clientStore
	tokenStore
	userStore
	factorStore
	passkeyStore
	*operatorStore
	*opSessionStore
	failureStore
	apiKeyStore
	keyStore
	auditStore
	auditShipStore
	logoutStore
}

var _ storage.Store = (*Store)(nil)

// DeleteExpired implements storage.TokenStore: the token part's records,
// and the operators' console sessions past their absolute end.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	n, err := s.tokenStore.DeleteExpired(ctx, before, limit)
	return n + s.opSessionStore.deleteExpired(before, limit), err
}

// tables are the records of the parts that share a lock.
type tables struct {
	mu        sync.RWMutex
	clients   map[string]storage.Client
	tokens    map[tokenKey]storage.Token
	used      map[assertionKey]time.Time
	users     map[string]storage.User
	usernames map[string]string // username to user ID (plain rows)
	indexes   map[string]string // username blind index to user ID (sealed rows)
	consents  map[consentKey]storage.Consent
	sessions  map[string]storage.BrowserSession
	failures  map[string]failureWindow
	factors   map[string]storage.Factor
	recovery  map[recoveryKey]recoveryCode
	passkeys  map[string]storage.Passkey
	apiKeys   map[string]storage.APIKey
	// grants are each browser session's grants; deliveries the
	// back-channel logout outbox.
	grants     map[string][]storage.SessionGrant
	deliveries map[string]storage.LogoutDelivery
}

// New returns an empty store.
func New() *Store {
	t := &tables{
		clients:    make(map[string]storage.Client),
		tokens:     make(map[tokenKey]storage.Token),
		used:       make(map[assertionKey]time.Time),
		users:      make(map[string]storage.User),
		usernames:  make(map[string]string),
		indexes:    make(map[string]string),
		consents:   make(map[consentKey]storage.Consent),
		sessions:   make(map[string]storage.BrowserSession),
		failures:   make(map[string]failureWindow),
		factors:    make(map[string]storage.Factor),
		recovery:   make(map[recoveryKey]recoveryCode),
		passkeys:   make(map[string]storage.Passkey),
		apiKeys:    make(map[string]storage.APIKey),
		grants:     make(map[string][]storage.SessionGrant),
		deliveries: make(map[string]storage.LogoutDelivery),
	}
	return &Store{
		clientStore:    clientStore{t},
		tokenStore:     tokenStore{t},
		userStore:      userStore{t},
		factorStore:    factorStore{t},
		operatorStore:  &operatorStore{},
		opSessionStore: &opSessionStore{},
		passkeyStore:   passkeyStore{t},
		failureStore:   failureStore{t},
		apiKeyStore:    apiKeyStore{t},
		auditStore:     auditStore{tables: t},
		logoutStore:    logoutStore{t},
	}
}

// Ping always succeeds.
func (s *Store) Ping(context.Context) error { return nil }

// Close does nothing.
func (s *Store) Close() {}

// Len returns the number of clients and token records held, for tests and
// diagnostics.
func (s *Store) Len() (clients, tokens int) {
	t := s.clientStore.tables
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.clients), len(t.tokens)
}

// lookup returns m[k], read under mu.
func lookup[K comparable, V any](mu *sync.RWMutex, m map[K]V, k K) (V, bool) {
	mu.RLock()
	defer mu.RUnlock()
	v, ok := m[k]
	return v, ok
}

// matching returns clone(v), sorted by cmp, for every value v of m that
// match accepts; nil if none does. The caller holds the lock of m.
func matching[K comparable, V any](m map[K]V, match func(V) bool, clone func(V) V, cmp func(a, b V) int) []V {
	var out []V
	for _, v := range m {
		if match(v) {
			out = append(out, clone(v))
		}
	}
	slices.SortFunc(out, cmp)
	return out
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
