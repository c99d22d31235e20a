// Package jwks parses and checks the JSON Web Key Sets clients register
// (private_key_jwt, self_signed_tls_client_auth), caches their parsed
// form, and fetches and caches the key sets of clients' jwks_uri.
package jwks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/idvauth/idvauth/authz/internal/web"
)

// Limits of a client's key set.
const (
	MaxBytes   = 16 << 10
	MaxKeys    = 10
	MinRSABits = 2048
)

// Parse parses a client's registered JSON Web Key Set: at most
// MaxKeys public signing keys (EC P-256, RSA of 2048 bits or more,
// Ed25519), each with an alg, if it names one, that fits the key.
// Private or symmetric keys are refused: a client registers only what
// verifies its signatures.
func Parse(raw []byte) (*jose.JSONWebKeySet, error) {
	if len(raw) > MaxBytes {
		return nil, fmt.Errorf("must be at most %d KiB", MaxBytes>>10)
	}
	var probe struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil || probe.Keys == nil {
		return nil, errors.New(`must be a JSON Web Key Set: {"keys": [...]}`)
	}
	if len(probe.Keys) == 0 || len(probe.Keys) > MaxKeys {
		return nil, fmt.Errorf("must hold 1 to %d keys", MaxKeys)
	}
	set := &jose.JSONWebKeySet{}
	kids := map[string]bool{}
	for i, kr := range probe.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(kr); err != nil {
			return nil, fmt.Errorf("key %d is not a valid JSON Web Key (RSA, EC P-256 or Ed25519 public keys)", i)
		}
		if err := checkKey(&k); err != nil {
			return nil, fmt.Errorf("key %d: %v", i, err)
		}
		if k.KeyID != "" {
			if kids[k.KeyID] {
				return nil, fmt.Errorf("key %d: kid %q is used twice", i, web.Truncate(k.KeyID, 40))
			}
			kids[k.KeyID] = true
		}
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}

// checkKey checks one key of a client's key set.
func checkKey(k *jose.JSONWebKey) error {
	if !k.IsPublic() {
		return errors.New("holds a private or symmetric key: register public keys only, and keep the private key with the client")
	}
	if !k.Valid() {
		return errors.New("is not a valid public key")
	}
	if k.Use != "" && k.Use != "sig" {
		return errors.New(`use must be "sig"`)
	}
	if len(k.KeyID) > 256 || !utf8.ValidString(k.KeyID) {
		return errors.New("kid must be at most 256 characters")
	}
	var algs []string
	switch pk := k.Key.(type) {
	case *ecdsa.PublicKey:
		if pk.Curve != elliptic.P256() {
			return errors.New("EC keys must be on P-256 (ES256)")
		}
		algs = []string{string(jose.ES256)}
	case *rsa.PublicKey:
		if pk.N.BitLen() < MinRSABits {
			return fmt.Errorf("RSA keys must have at least %d bits", MinRSABits)
		}
		algs = []string{string(jose.RS256), string(jose.PS256)}
	case ed25519.PublicKey:
		algs = []string{string(jose.EdDSA)}
	default:
		return errors.New("must be an RSA, EC P-256 or Ed25519 public key")
	}
	if k.Algorithm != "" && !slices.Contains(algs, k.Algorithm) {
		return fmt.Errorf("alg %q does not fit the key (use %s)", web.Truncate(k.Algorithm, 20), strings.Join(algs, " or "))
	}
	return nil
}

// Cache keeps the parsed key set of each client, keyed by client ID
// and checked against the stored bytes, so that a changed jwks is parsed
// again and an unchanged one never. It is safe for concurrent use.
type Cache struct {
	mu      sync.Mutex
	entries map[string]CacheEntry
}

type CacheEntry struct {
	raw string
	set *jose.JSONWebKeySet
}

// maxCacheEntries bounds the cache; past it, the cache starts over.
const maxCacheEntries = 10000

// Get returns the parsed key set raw of the client clientID.
func (j *Cache) Get(clientID string, raw []byte) (*jose.JSONWebKeySet, error) {
	j.mu.Lock()
	e, ok := j.entries[clientID]
	j.mu.Unlock()
	if ok && e.raw == string(raw) {
		return e.set, nil
	}
	set, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("registered jwks: %w", err)
	}
	j.mu.Lock()
	if j.entries == nil || len(j.entries) >= maxCacheEntries {
		j.entries = make(map[string]CacheEntry)
	}
	j.entries[clientID] = CacheEntry{raw: string(raw), set: set}
	j.mu.Unlock()
	return set, nil
}
