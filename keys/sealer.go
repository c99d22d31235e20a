package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// MinSecretLen is the shortest secret NewSealer accepts. Secrets are used
// as key material directly (through HKDF), so they must carry real entropy:
// 32 random characters or more.
const MinSecretLen = 32

// ErrNoSecret is returned (wrapped) when none of the configured secrets can
// decrypt a sealed value: the secrets are wrong or the data was changed.
var ErrNoSecret = errors.New("no configured secret can decrypt this key")

const (
	sealVersion = 1
	fpLen       = 8
	nonceLen    = 12
)

// Sealer encrypts private keys at rest with AES-256-GCM. The first secret
// encrypts; every secret decrypts, so secrets can be rotated. A Sealer is
// safe for concurrent use.
type Sealer struct {
	aeads []cipher.AEAD
	fps   [][]byte // fingerprints of the derived keys, same order
	rand  io.Reader
}

// NewSealer derives one AES-256 key per secret with HKDF-SHA256. random
// supplies nonces; crypto/rand.Reader if nil.
func NewSealer(secrets []string, random io.Reader) (*Sealer, error) {
	return NewSealerFor("idvauth key encryption v1", secrets, random)
}

// NewSealerFor is NewSealer with keys derived for another purpose (the
// HKDF info label): a Sealer for one purpose cannot open what a Sealer
// for another sealed, even under the same secrets.
func NewSealerFor(purpose string, secrets []string, random io.Reader) (*Sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("keys: no secret configured")
	}
	if random == nil {
		random = rand.Reader
	}
	s := &Sealer{rand: random}
	for i, sec := range secrets {
		if len(sec) < MinSecretLen {
			return nil, fmt.Errorf("keys: secret %d is %d characters long; use at least %d random characters", i+1, len(sec), MinSecretLen)
		}
		key, err := DeriveKey(sec, purpose)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("keys: cipher: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keys: gcm: %w", err)
		}
		fp := sha256.Sum256(append([]byte("idvauth key fingerprint v1"), key...))
		s.aeads = append(s.aeads, aead)
		s.fps = append(s.fps, fp[:fpLen])
	}
	return s, nil
}

// DeriveKey derives a 256-bit key for purpose (an HKDF info label) from
// one secret of IDVAUTH_SECRETS with HKDF-SHA256.
func DeriveKey(secret, purpose string) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, []byte(secret), []byte("idvauth"), purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("keys: derive key: %w", err)
	}
	return key, nil
}

// KeyID names the key Seal uses now (the first secret's derived key) by
// its fingerprint, in hex; it tells nothing about the key.
func (s *Sealer) KeyID() string { return hex.EncodeToString(s.fps[0]) }

// Seal encrypts plaintext under the first secret, binding it to aad (the
// key ID, so a sealed key cannot be swapped onto another record).
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, 1+fpLen+nonceLen, 1+fpLen+nonceLen+len(plaintext)+16)
	out[0] = sealVersion
	copy(out[1:], s.fps[0])
	nonce := out[1+fpLen : 1+fpLen+nonceLen]
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return nil, fmt.Errorf("keys: nonce: %w", err)
	}
	return s.aeads[0].Seal(out, nonce, plaintext, aad), nil
}

// Open decrypts what Seal produced under any configured secret. It also
// reports whether the value was sealed under the first secret.
func (s *Sealer) Open(sealed, aad []byte) (plaintext []byte, current bool, err error) {
	if len(sealed) < 1+fpLen+nonceLen+16 || sealed[0] != sealVersion {
		return nil, false, fmt.Errorf("keys: sealed value is malformed: %w", ErrNoSecret)
	}
	fp := sealed[1 : 1+fpLen]
	nonce := sealed[1+fpLen : 1+fpLen+nonceLen]
	for i, aead := range s.aeads {
		if subtle.ConstantTimeCompare(fp, s.fps[i]) != 1 {
			continue
		}
		pt, err := aead.Open(nil, nonce, sealed[1+fpLen+nonceLen:], aad)
		if err != nil {
			return nil, false, fmt.Errorf("keys: sealed value fails authentication: %w", ErrNoSecret)
		}
		return pt, i == 0, nil
	}
	return nil, false, ErrNoSecret
}
