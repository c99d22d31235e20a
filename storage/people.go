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
	// row of its own), and deleting the person destroys them.
	Key []byte
	KEK string
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
	// SealUser replaces the stored profile of u.ID with u.Sealed (the
	// plain fields become empty), in one step and only if the row still
	// holds old's profile: the same plain Username, Name and
	// Email when old.Sealed is nil, else the same wrapped Key. ErrConflict
	// if it changed, ErrNotFound if there is no such user,
	// ErrAlreadyExists if the username index is taken.
	SealUser(ctx context.Context, old, u User) error
	// SetFactorSecret replaces the Secret of the user's factor id with
	// secret, only if it still is old; ErrConflict if it changed,
	// ErrNotFound if there is no such factor of that user.
	SetFactorSecret(ctx context.Context, userID, id string, old, secret []byte) error
}
