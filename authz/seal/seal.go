package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage"
)

// ErrSealed is returned (wrapped) when a sealed profile cannot be opened:
// its data key is gone or no configured key-encryption key unwraps it.
var ErrSealed = errors.New("the sealed profile cannot be opened")

const (
	fieldVersion = 1
	nonceLen     = 12
	dekLen       = 32
)

// Config says what a Store wraps and with which keys.
type Config struct {
	// Store is the backend; required.
	Store storage.Store
	// Keys wraps the data keys; required.
	Keys KeyProvider
	// Vault keeps the wrapped data keys of people sealed from now on, apart
	// from Store (see vault.go); nil: they are kept in Store, and a copy of
	// Store taken before an erasure keeps the erased person's key.
	Vault storage.PersonKeyStore
	// Secrets are IDVAUTH_SECRETS: they derive the blind-index keys, the
	// first for what is written, every one for lookups; required.
	Secrets []string
	// Rand supplies data keys and nonces; crypto/rand.Reader if nil.
	Rand io.Reader
	// CloseVault, if set, is called by Close: Vault was opened for this
	// Store.
	CloseVault func()
	// OpenLegacyFactor opens a factor secret stored before sealing
	// (sealed by authz/mfa under IDVAUTH_SECRETS directly); nil: such
	// secrets are an error.
	OpenLegacyFactor func(userID, factorID string, sealed []byte) ([]byte, error)
}

// Store is a storage.Store whose people are sealed at rest; every method
// it does not declare goes to the backend unchanged. Safe for concurrent
// use.
type Store struct {
	storage.Store
	keys   KeyProvider
	vault  storage.PersonKeyStore
	closeV func()
	index  [][]byte // blind-index keys, the first secret's first
	rand   io.Reader
	legacy func(userID, factorID string, sealed []byte) ([]byte, error)
	// plainLeft is whether the backend held plain rows when New looked:
	// while it does, a username is looked up in both forms.
	plainLeft atomic.Bool
}

// New wraps cfg.Store. It counts the rows not sealed yet, so that it
// looks them up too while there are any.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Store == nil || cfg.Keys == nil || len(cfg.Secrets) == 0 {
		return nil, errors.New("seal: a store, a key provider and secrets are required")
	}
	s := &Store{Store: cfg.Store, keys: cfg.Keys, vault: cfg.Vault, closeV: cfg.CloseVault, rand: cfg.Rand, legacy: cfg.OpenLegacyFactor}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	for _, sec := range cfg.Secrets {
		k, err := keys.DeriveKey(sec, "idvauth person blind index v1")
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		s.index = append(s.index, k)
	}
	n, err := cfg.Store.CountPlainUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	s.plainLeft.Store(n > 0)
	if err := s.checkVault(ctx); err != nil {
		return nil, err
	}
	if err := s.checkKeys(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close implements storage.Store: the backend, and the vault if it was
// opened for s.
func (s *Store) Close() {
	s.Store.Close()
	s.CloseVault()
}

// CloseVault closes the vault if it was opened for s, and nothing else.
func (s *Store) CloseVault() {
	if s.closeV != nil {
		s.closeV()
	}
}

// checkVault refuses a store whose rows name a person-key store when none
// is configured, or when the configured one holds no key at all: a wrong
// or new, empty database, in which every person would be as if erased.
func (s *Store) checkVault(ctx context.Context) error {
	_, elsewhere, err := s.Store.CountKeyPlaces(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("seal: %w", err)
	case elsewhere == 0:
		return nil
	case s.vault == nil:
		return fmt.Errorf("seal: %d people's data keys are in a person-key store, and none is configured "+
			"(set IDVAUTH_PERSON_KEYS_DATABASE_URL)", elsewhere)
	}
	n, err := s.vault.CountPersonKeys(ctx)
	if err != nil {
		return fmt.Errorf("seal: count the keys in the person-key store: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("seal: %d people's data keys are in a person-key store, and the configured one holds none "+
			"(is IDVAUTH_PERSON_KEYS_DATABASE_URL the right database?)", elsewhere)
	}
	return nil
}

// checkKeys opens the first sealed profile among the first people by ID,
// if any: wrong secrets are refused at start, not at each sign-in (and
// migrate seal does not seal anyone under them beside people sealed
// under the right ones). A person whose key is gone from the vault
// (erased, their row back from a restored backup of the main store)
// proves nothing and is passed over; but if the vault holds the key of
// none of them, it is the wrong person-key store, and is refused.
func (s *Store) checkKeys(ctx context.Context) error {
	page, err := s.Store.ListUsersByID(ctx, "", 100)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	missing := 0
	for _, u := range page {
		if u.Sealed == nil {
			continue
		}
		_, _, err := s.open(ctx, u)
		if err == nil {
			return nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("seal: no configured secret opens the people's data keys (is IDVAUTH_SECRETS right?): %w", err)
		}
		missing++
	}
	if missing > 0 {
		return fmt.Errorf("seal: the person-key store holds the data key of none of the %d people sampled "+
			"(is IDVAUTH_PERSON_KEYS_DATABASE_URL the right database?)", missing)
	}
	return nil
}

// blindIndex is the keyed hash of a field's value under key. Usernames
// are hashed as stored (callers normalise them: login.NormalizeUsername);
// e-mail addresses trimmed and case-folded.
func blindIndex(key []byte, field, value string) []byte {
	if field == "email" {
		value = strings.ToLower(strings.TrimSpace(value))
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(field))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// indexes returns the field's blind index under every secret, the
// first secret's first.
func (s *Store) indexes(field, value string) [][]byte {
	out := make([][]byte, len(s.index))
	for i, k := range s.index {
		out[i] = blindIndex(k, field, value)
	}
	return out
}

func keyAAD(userID string) []byte { return []byte("idvauth person key v1\x00" + userID) }

func fieldAAD(userID, field string) []byte {
	return []byte("idvauth person field v1\x00" + userID + "\x00" + field)
}

func gcm(dek []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(dek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal returns u with its profile sealed under dek; at says where the
// wrapped dek is kept (the profile's Key, KEK and KeyRef).
func (s *Store) seal(u storage.User, dek []byte, at storage.Profile) (storage.User, error) {
	aead, err := gcm(dek)
	if err != nil {
		return storage.User{}, fmt.Errorf("seal: %w", err)
	}
	p := &storage.Profile{Key: at.Key, KEK: at.KEK, KeyRef: at.KeyRef,
		UsernameIndex: blindIndex(s.index[0], "username", u.Username), EmailIndex: blindIndex(s.index[0], "email", u.Email)}
	for _, f := range []struct {
		name, value string
		out         *[]byte
	}{{"username", u.Username, &p.Username}, {"name", u.Name, &p.Name}, {"email", u.Email, &p.Email}} {
		b := make([]byte, 1+nonceLen, 1+nonceLen+len(f.value)+aead.Overhead())
		b[0] = fieldVersion
		if _, err := io.ReadFull(s.rand, b[1:]); err != nil {
			return storage.User{}, fmt.Errorf("seal: nonce: %w", err)
		}
		*f.out = aead.Seal(b, b[1:], []byte(f.value), fieldAAD(u.ID, f.name))
	}
	u.Username, u.Name, u.Email, u.Sealed = "", "", "", p
	return u, nil
}

// sealNew seals u (a new person, or one stored in plain text) under a
// new data key. With a vault the key is created there first; if the vault
// has a key of u already (a concurrent step sealing u, or one that was
// interrupted), u is sealed under that key instead, so that every row
// written for u names the one key there.
func (s *Store) sealNew(ctx context.Context, u storage.User) (storage.User, error) {
	dek := make([]byte, dekLen)
	if _, err := io.ReadFull(s.rand, dek); err != nil {
		return storage.User{}, fmt.Errorf("seal: data key: %w", err)
	}
	wrapped, kek, err := s.keys.Wrap(ctx, dek, keyAAD(u.ID))
	if err != nil {
		return storage.User{}, fmt.Errorf("seal: wrap the data key of user %q: %w", u.ID, err)
	}
	if s.vault == nil {
		return s.seal(u, dek, storage.Profile{Key: wrapped, KEK: kek})
	}
	switch err := s.vault.CreatePersonKey(ctx, storage.PersonKey{UserID: u.ID, Wrapped: wrapped, KEK: kek}); {
	case errors.Is(err, storage.ErrAlreadyExists):
		if dek, err = s.vaultKey(ctx, u.ID); err != nil {
			return storage.User{}, err
		}
	case err != nil:
		return storage.User{}, fmt.Errorf("seal: store the data key of user %q: %w", u.ID, err)
	}
	return s.seal(u, dek, storage.Profile{KeyRef: vaultRef})
}

// open returns u with its profile in the clear (u as is if it is plain)
// and its data key.
func (s *Store) open(ctx context.Context, u storage.User) (storage.User, []byte, error) {
	p := u.Sealed
	if p == nil {
		return u, nil, nil
	}
	wrapped, kek, err := s.wrappedKey(ctx, u.ID, p)
	if err != nil {
		return storage.User{}, nil, err
	}
	dek, err := s.keys.Unwrap(ctx, wrapped, kek, keyAAD(u.ID))
	if err != nil {
		return storage.User{}, nil, fmt.Errorf("seal: user %q: unwrap the data key: %w: %w", u.ID, ErrSealed, err)
	}
	aead, err := gcm(dek)
	if err != nil {
		return storage.User{}, nil, fmt.Errorf("seal: %w", err)
	}
	for _, f := range []struct {
		name string
		in   []byte
		out  *string
	}{{"username", p.Username, &u.Username}, {"name", p.Name, &u.Name}, {"email", p.Email, &u.Email}} {
		if len(f.in) < 1+nonceLen || f.in[0] != fieldVersion {
			return storage.User{}, nil, fmt.Errorf("seal: user %q: field %s is malformed: %w", u.ID, f.name, ErrSealed)
		}
		b, err := aead.Open(nil, f.in[1:1+nonceLen], f.in[1+nonceLen:], fieldAAD(u.ID, f.name))
		if err != nil {
			return storage.User{}, nil, fmt.Errorf("seal: user %q: field %s fails authentication: %w", u.ID, f.name, ErrSealed)
		}
		*f.out = string(b)
	}
	u.Sealed = nil
	return u, dek, nil
}

func (s *Store) openUser(ctx context.Context, u storage.User, err error) (storage.User, error) {
	if err != nil {
		return storage.User{}, err
	}
	u, _, err = s.open(ctx, u)
	return u, err
}

// CreateUser implements storage.UserStore: u goes down sealed under a new
// data key. While plain rows remain, or several secrets are configured
// (a rotation), a username taken in the other form is refused here; the
// unique index refuses the rest.
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	if s.plainLeft.Load() || len(s.index) > 1 {
		switch _, err := s.GetUserByUsername(ctx, u.Username); {
		case err == nil:
			return fmt.Errorf("seal: create user %q: username taken: %w", u.ID, storage.ErrAlreadyExists)
		case !errors.Is(err, storage.ErrNotFound):
			return err
		}
	}
	su, err := s.sealNew(ctx, u)
	if err != nil {
		return err
	}
	if err := s.Store.CreateUser(ctx, su); err != nil {
		s.dropNewKey(ctx, su.ID)
		return err
	}
	return nil
}

// GetUser implements storage.UserStore.
func (s *Store) GetUser(ctx context.Context, id string) (storage.User, error) {
	u, err := s.Store.GetUser(ctx, id)
	return s.openUser(ctx, u, err)
}

// GetUserByUsername implements storage.UserStore through the blind index
// (one read), and the plain column while plain rows remain.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (storage.User, error) {
	u, err := s.Store.GetUserByIndex(ctx, s.indexes("username", username))
	if errors.Is(err, storage.ErrNotFound) && s.plainLeft.Load() {
		u, err = s.Store.GetUserByUsername(ctx, username)
	}
	return s.openUser(ctx, u, err)
}

// ListUsers implements storage.UserStore, ordered by username. People
// whose key is gone from the vault (see checkKeys) are left out, as
// GetUser finds them not.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	all, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	us := all[:0]
	for _, u := range all {
		switch u, _, err := s.open(ctx, u); {
		case err == nil:
			us = append(us, u)
		case !errors.Is(err, storage.ErrNotFound):
			return nil, err
		}
	}
	slices.SortFunc(us, func(a, b storage.User) int { return strings.Compare(a.Username, b.Username) })
	return us, nil
}

// UpdateUser implements storage.UserStore: u's profile goes down sealed
// under the person's data key (a new one for a person still stored in
// plain text). While plain rows remain, or several secrets are configured,
// a username another person holds in the other form is refused here; the
// unique index refuses the rest.
func (s *Store) UpdateUser(ctx context.Context, u storage.User) error {
	if s.plainLeft.Load() || len(s.index) > 1 {
		switch other, err := s.GetUserByUsername(ctx, u.Username); {
		case err == nil && other.ID != u.ID:
			return fmt.Errorf("seal: update user %q: username taken: %w", u.ID, storage.ErrAlreadyExists)
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return err
		}
	}
	su, err := s.SealProfile(ctx, u)
	if err != nil {
		return err
	}
	err = s.Store.UpdateUser(ctx, su)
	if errors.Is(err, storage.ErrNotFound) {
		s.dropNewKey(ctx, u.ID) // erased meanwhile: the key SealProfile stored goes too
	}
	return err
}

// SealProfile returns u with its profile (Username, Name, Email) sealed
// under the person's data key as stored (a new data key if the person is
// stored in plain text): what a change of the profile writes to the
// backend, whose wrapped key and sealed fields it then replaces together.
// With a vault, a key still in the main store is stored in the vault
// first and the profile names it there: the write, which is not
// conditional, then cannot put back in the main store a key that a
// concurrent MoveKeys moved after the read. ErrNotFound if there is no
// such person.
func (s *Store) SealProfile(ctx context.Context, u storage.User) (storage.User, error) {
	cur, err := s.Store.GetUser(ctx, u.ID)
	if err != nil {
		return storage.User{}, err
	}
	if cur.Sealed == nil {
		return s.sealNew(ctx, u)
	}
	_, dek, err := s.open(ctx, cur)
	if err != nil {
		return storage.User{}, err
	}
	p := cur.Sealed
	if p.KeyRef != "" || s.vault == nil {
		return s.seal(u, dek, storage.Profile{Key: p.Key, KEK: p.KEK, KeyRef: p.KeyRef})
	}
	err = s.vault.CreatePersonKey(ctx, storage.PersonKey{UserID: u.ID, Wrapped: p.Key, KEK: p.KEK})
	if errors.Is(err, storage.ErrAlreadyExists) {
		err = s.sameKey(ctx, u.ID, dek) // a concurrent MoveKeys stored it
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("seal: move the data key of user %q to the person-key store: %w", u.ID, err)
	}
	return s.seal(u, dek, storage.Profile{KeyRef: vaultRef})
}
