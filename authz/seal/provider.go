package seal

import (
	"context"
	"fmt"
	"io"

	"github.com/idvauth/idvauth/keys"
)

// KeyProvider wraps and unwraps people's data keys under a
// key-encryption key (KEK) it holds. Local derives the KEK from
// IDVAUTH_SECRETS; a KMS provider (docs/sealing.md) would call the KMS.
// Implementations are safe for concurrent use.
type KeyProvider interface {
	// Current names the KEK that Wrap uses now; a wrapped key whose KEK
	// name differs is rewrapped by Rewrap.
	Current() string
	// Wrap encrypts dek under the current KEK, bound to aad, and returns
	// it with the name of the KEK used.
	Wrap(ctx context.Context, dek, aad []byte) (wrapped []byte, kek string, err error)
	// Unwrap decrypts what Wrap returned under the KEK named kek, or
	// fails if that KEK is no longer available or aad differs.
	Unwrap(ctx context.Context, wrapped []byte, kek string, aad []byte) ([]byte, error)
}

// Local is the KeyProvider whose KEKs are derived from IDVAUTH_SECRETS
// with HKDF (a purpose label of their own, so they are not the keys that
// seal signing keys): the first secret wraps, every secret unwraps, as
// for signing keys (keys.Sealer).
type Local struct{ s *keys.Sealer }

var _ KeyProvider = (*Local)(nil)

// NewLocal derives the KEKs from secrets; random supplies nonces
// (crypto/rand.Reader if nil).
func NewLocal(secrets []string, random io.Reader) (*Local, error) {
	s, err := keys.NewSealerFor("idvauth person key wrapping v1", secrets, random)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Local{s: s}, nil
}

// Current implements KeyProvider: "local:" and the fingerprint of the
// first secret's KEK.
func (l *Local) Current() string { return "local:" + l.s.KeyID() }

// Wrap implements KeyProvider.
func (l *Local) Wrap(_ context.Context, dek, aad []byte) ([]byte, string, error) {
	w, err := l.s.Seal(dek, aad)
	return w, l.Current(), err
}

// Unwrap implements KeyProvider; the wrapped key names its secret by
// fingerprint, so kek is not needed.
func (l *Local) Unwrap(_ context.Context, wrapped []byte, _ string, aad []byte) ([]byte, error) {
	dek, _, err := l.s.Open(wrapped, aad)
	return dek, err
}
