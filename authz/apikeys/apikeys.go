// Package apikeys makes and checks API keys: long-lived credentials of a
// client for simple server-to-server integrations, used at the token
// endpoint in place of the client's own credentials and introspected
// like tokens by resource servers.
//
// A key reads idvk_<key ID>_<secret>: a fixed prefix that secret scanners
// can look for (ScannerPattern), a public ID of 80 random bits in hex, and
// a secret of 256 random bits, base64url. The store keeps the SHA-256 of
// the secret only.
package apikeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// Prefix starts every key.
const Prefix = "idvk_"

// ScannerPattern is a regular expression that matches a key and nothing
// much else, for secret scanners (GitHub's, gitleaks, trufflehog).
const ScannerPattern = `idvk_[0-9a-f]{20}_[A-Za-z0-9_-]{43}`

// TokenType is the token_type introspection gives a key.
const TokenType = "api_key"

const (
	idBytes     = 10
	secretBytes = 32
)

// Errors of Check. Each is the same invalid key to a caller.
var (
	// ErrInvalid: no such key, a wrong secret, or expired.
	ErrInvalid = errors.New("apikeys: no such key, or a wrong secret, or expired")
	// ErrNetwork: the key may not be used from that address.
	ErrNetwork = errors.New("apikeys: not allowed from this address")
)

// New makes a key: the key as its holder uses it, its ID and the digest
// of its secret.
func New() (key, id string, digest []byte) {
	idRaw, secretRaw := make([]byte, idBytes), make([]byte, secretBytes)
	_, _ = rand.Read(idRaw) // crypto/rand.Read never fails (Go 1.24 and later)
	_, _ = rand.Read(secretRaw)
	id, secret := hex.EncodeToString(idRaw), base64.RawURLEncoding.EncodeToString(secretRaw)
	return Prefix + id + "_" + secret, id, Digest(secret)
}

// Digest is what the store keeps of a secret.
func Digest(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// Looks reports whether s has the form of a key (not whether it is one).
func Looks(s string) bool { return strings.HasPrefix(s, Prefix) }

// Parse splits a key into its ID and secret; ok is false when it does not
// have the form of a key.
func Parse(key string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(key, Prefix)
	if !found || len(rest) != 2*idBytes+1+base64.RawURLEncoding.EncodedLen(secretBytes) || rest[2*idBytes] != '_' {
		return "", "", false
	}
	id, secret = rest[:2*idBytes], rest[2*idBytes+1:]
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return "", "", false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(secret); err != nil {
		return "", "", false
	}
	return id, secret, true
}

// FromHeader returns the key of an "Authorization: Bearer idvk_..."
// header; ok is false when the request carries no such header.
func FromHeader(r *http.Request) (key string, ok bool) {
	scheme, cred, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || !Looks(cred) {
		return "", false
	}
	return cred, true
}

// Store is what a Checker reads and writes.
type Store interface {
	GetAPIKey(ctx context.Context, id string) (storage.APIKey, error)
	TouchAPIKeys(ctx context.Context, used map[string]time.Time) error
}

// Checker checks keys against the store, on every use (a deleted key is
// refused on every replica at once), and records their last use in
// batches. It is safe for concurrent use.
type Checker struct {
	store Store
	now   func() time.Time

	mu   sync.Mutex
	used map[string]time.Time // key ID to last use, not yet stored
}

// NewChecker returns a checker of the keys in store, with clock now.
func NewChecker(store Store, now func() time.Time) *Checker {
	return &Checker{store: store, now: now, used: make(map[string]time.Time)}
}

// dummyDigest is what a secret is compared with when there is no key.
var dummyDigest = Digest("idvauth: no such API key")

// Check returns the stored key named by key if key is right, unexpired
// and, when it lists networks, used from one of them (ip). A key that
// does not parse, is unknown, wrong or expired is ErrInvalid, one used
// from elsewhere ErrNetwork; other errors are the store's.
func (c *Checker) Check(ctx context.Context, key string, ip netip.Addr) (storage.APIKey, error) {
	id, secret, ok := Parse(key)
	if !ok {
		return storage.APIKey{}, ErrInvalid
	}
	k, err := c.store.GetAPIKey(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		subtle.ConstantTimeCompare(dummyDigest, Digest(secret)) // as long as a wrong secret
		return storage.APIKey{}, ErrInvalid
	case err != nil:
		return storage.APIKey{}, err
	}
	if subtle.ConstantTimeCompare(k.Digest, Digest(secret)) != 1 || !c.now().Before(k.ExpiresAt) {
		return storage.APIKey{}, ErrInvalid
	}
	if !Allowed(k.Networks, ip) {
		return storage.APIKey{}, ErrNetwork
	}
	return k, nil
}

// Allowed reports whether ip is in one of networks (CIDR ranges); with no
// networks, every address is.
func Allowed(networks []string, ip netip.Addr) bool {
	if len(networks) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, n := range networks {
		if p, err := netip.ParsePrefix(n); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}

// ParseNetworks checks CIDR ranges and returns them in canonical form.
func ParseNetworks(networks []string) ([]string, error) {
	out := make([]string, 0, len(networks))
	for _, n := range networks {
		p, err := netip.ParsePrefix(strings.TrimSpace(n))
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR range (e.g. 203.0.113.0/24 or 2001:db8::/32)", n)
		}
		out = append(out, p.Masked().String())
	}
	return out, nil
}

// NoteUse records that the key id was used now; Flush stores it.
func (c *Checker) NoteUse(id string) {
	now := c.now()
	c.mu.Lock()
	if len(c.used) < maxPending {
		c.used[id] = now
	}
	c.mu.Unlock()
}

// maxPending bounds the uses held between flushes.
const maxPending = 100_000

// Flush stores the uses noted since the last flush, in one write. Uses
// that could not be stored are kept for the next one.
func (c *Checker) Flush(ctx context.Context) error {
	c.mu.Lock()
	used := c.used
	c.used = make(map[string]time.Time)
	c.mu.Unlock()
	if len(used) == 0 {
		return nil
	}
	if err := c.store.TouchAPIKeys(ctx, used); err != nil {
		c.mu.Lock()
		for id, at := range used {
			if cur, ok := c.used[id]; (!ok || at.After(cur)) && len(c.used) < maxPending {
				c.used[id] = at
			}
		}
		c.mu.Unlock()
		return err
	}
	return nil
}

// Run flushes every interval until ctx is done, then once more, within
// a bounded time, so that a clean shutdown loses no use. Each flush is
// bounded by the interval.
func (c *Checker) Run(ctx context.Context, interval time.Duration, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	flush := func(parent context.Context) {
		fctx, cancel := context.WithTimeout(parent, interval)
		defer cancel()
		if err := c.Flush(fctx); err != nil && onError != nil {
			onError(err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			flush(ctx)
		}
	}
}
