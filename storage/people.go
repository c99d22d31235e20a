package storage

import "context"

// Profile is a person's profile sealed at rest: each personal field
// encrypted under the person's own data key, the data key wrapped by a
// key-encryption key, and keyed blind indexes for the lookups. The store
// keeps the bytes it is given and compares only the indexes; sealing and
// opening happen above it (authz/seal), so that every backend stores the
// same sealed bytes.
type Profile struct {
	// Key is the person's data key, wrapped; KEK names the key-encryption
	// key that wrapped it. The store keeps them apart from the profile (a
	// row of its own), and deleting the person destroys them. Both are
	// empty when KeyRef is set.
	Key []byte
	KEK string
	// KeyRef, when set, says the wrapped data key is not in this store but
	// in a PersonKeyStore, under the person's ID ("vault"): the store then
	// keeps no key of the person at all.
	KeyRef string
	// UsernameIndex is the blind index of the username: unique across
	// people, the only way the store finds a person by username.
	// EmailIndex is the e-mail's (not unique).
	UsernameIndex []byte
	EmailIndex    []byte
	// Username, Name and Email are the sealed fields.
	Username []byte
	Name     []byte
	Email    []byte
}

// PersonStore is what the sealing layer needs beyond UserStore: lookups
// by blind index, and the steps that seal plain rows and rewrap data keys
// online, one person at a time.
type PersonStore interface {
	// GetUserByIndex returns the sealed user whose username index is one
	// of indexes (one per configured secret), or ErrNotFound.
	GetUserByIndex(ctx context.Context, indexes [][]byte) (User, error)
	// ListUsersByID returns up to limit users, plain and sealed, whose ID
	// sorts after after, in that order (the backend's order of IDs: a
	// walk page by page visits every user once).
	ListUsersByID(ctx context.Context, after string, limit int) ([]User, error)
	// CountPlainUsers returns how many users are not sealed yet.
	CountPlainUsers(ctx context.Context) (int, error)
	// CountKeyPlaces returns how many sealed users keep their wrapped data
	// key in this store (Key) and how many name a key elsewhere (KeyRef).
	CountKeyPlaces(ctx context.Context) (here, elsewhere int, err error)
	// SealUser replaces the stored profile of u.ID with u.Sealed (the
	// plain fields become empty), in one step and only if the row still
	// holds old's profile: the same plain Username, Name and Email when
	// old.Sealed is nil; the same wrapped Key when old's key is in the
	// store; the same KeyRef and sealed fields when it is elsewhere. A u
	// whose KeyRef is set leaves no key of the person in the store (the
	// move of a key to a PersonKeyStore). ErrConflict
	// if it changed, ErrNotFound if there is no such user,
	// ErrAlreadyExists if the username index is taken.
	SealUser(ctx context.Context, old, u User) error
	// SetFactorSecret replaces the Secret of the user's factor id with
	// secret, only if it still is old; ErrConflict if it changed,
	// ErrNotFound if there is no such factor of that user.
	SetFactorSecret(ctx context.Context, userID, id string, old, secret []byte) error
}

// PersonKey is a person's data key, wrapped, as a PersonKeyStore keeps it.
type PersonKey struct {
	UserID string
	// Wrapped is the data key wrapped under the key-encryption key KEK
	// names.
	Wrapped []byte
	KEK     string
}

// PersonKeyStore keeps people's wrapped data keys apart from the main
// store (the "vault"): in a database of its own, so that deleting a
// person's key there makes every copy of the main database taken before
// unreadable, however long those copies are kept. Implementations are
// safe for concurrent use.
type PersonKeyStore interface {
	// CreatePersonKey stores k; ErrAlreadyExists if the person has a key.
	CreatePersonKey(ctx context.Context, k PersonKey) error
	// GetPersonKey returns the person's key, or ErrNotFound.
	GetPersonKey(ctx context.Context, userID string) (PersonKey, error)
	// ReplacePersonKey replaces the person's key by k only if its wrapped
	// bytes are still old; ErrConflict if they changed, ErrNotFound if
	// there is no key.
	ReplacePersonKey(ctx context.Context, old []byte, k PersonKey) error
	// DeletePersonKey deletes the person's key; no error if there is none.
	DeletePersonKey(ctx context.Context, userID string) error
	// CountPersonKeys returns how many keys the store holds.
	CountPersonKeys(ctx context.Context) (int, error)
}
