package keys

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/idvauth/idvauth/storage"
)

// Config configures a Ring. Store and Sealer are required.
type Config struct {
	// Store keeps the keys; the ring reads it on Open and Reload and adds
	// keys to it.
	Store storage.KeyStore
	// Sealer encrypts private keys before they reach the store.
	Sealer *Sealer
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
	// Rand is the source of key material and of signature nonces;
	// crypto/rand.Reader if nil. Since Go 1.26, crypto/ecdsa and
	// crypto/rsa use it only under GODEBUG=cryptocustomrand=1 and
	// otherwise always draw from a secure source of their own; tests
	// that need deterministic keys use testing/cryptotest.SetGlobalRandom.
	// RS256 signatures (PKCS #1 v1.5) need no randomness.
	Rand io.Reader
	// Generate makes the private key of a new key of alg; nil: a fresh
	// one from Rand. Tests that start many servers hand out keys made
	// once (an RSA key takes a fifth of a second to make).
	Generate func(alg string) (crypto.Signer, error)
	// Schedule is when Maintain rotates keys; no automatic rotation if
	// its Every is zero.
	Schedule Schedule
	// OnChange, if set, is called after this ring changed a key in the
	// store: created it (From is "") or moved it between states.
	// requested says the step was asked for (RotateNow, Retire) rather
	// than taken on schedule. Steps another replica took are not reported
	// here. It must not block long: it runs inside the step.
	OnChange func(ctx context.Context, alg string, ch storage.KeyChange, requested bool)
}

// Schedule is the automatic rotation timeline of each algorithm's keys:
//
//	created (next) --PrePublish--> active --Every--> retired --Retain--> removed
//
// A next key is published PrePublish before the active key has signed for
// Every, and becomes active when both have passed; so every resource server
// whose JWKS cache is younger than PrePublish already knows it. A retired
// key stays published for Retain, long enough for every token it signed
// to expire.
type Schedule struct {
	// Every is how long a key signs.
	Every time.Duration
	// PrePublish is how long a key is published before it signs: at
	// least the JWKS cache lifetime plus the longest a replica may take
	// to see a new key.
	PrePublish time.Duration
	// Retain is how long a retired key stays published: at least the
	// longest token lifetime plus clock skew and replica lag.
	Retain time.Duration
}

// Validate checks that the schedule is one keys can follow.
func (sc Schedule) Validate() error {
	if sc.Every < 0 || sc.PrePublish < 0 || sc.Retain < 0 {
		return errors.New("keys: negative rotation period")
	}
	if sc.Every > 0 && sc.Every <= sc.PrePublish {
		return fmt.Errorf("keys: rotation interval %v must be longer than the pre-publication period %v", sc.Every, sc.PrePublish)
	}
	return nil
}

// Ring is the set of published keys with one active signer per algorithm.
// Reads (Active, Verify, JWKS) take no lock: they use an immutable snapshot
// that Reload swaps atomically. A Ring is safe for concurrent use.
type Ring struct {
	cfg Config
	cur atomic.Pointer[snapshot]
	// mu guards swapping in a snapshot, never a read of the store: a
	// reload stuck on a dead connection must not stall the others.
	// reads numbers the store reads; the snapshot of an older read never
	// replaces that of a newer one.
	mu      sync.Mutex
	reads   atomic.Uint64
	swapped uint64 // the read number of cur; guarded by mu
	algs    []jose.SignatureAlgorithm
}

type snapshot struct {
	byKID  map[string]*Key
	active map[string]*Key
	next   map[string]*Key
	// records is every stored key, removed ones too, without their
	// sealed private parts.
	records []storage.Key
	keys    []*Key // published, in JWKS order
	jwks    []byte
	etag    string
}

// ErrUnknownKey is returned (wrapped) by Verify for a token whose kid is not
// a published key.
var ErrUnknownKey = errors.New("unknown signing key")

// Open loads the keys from the store, decrypts them, and creates an active
// key for every algorithm that has none. A key that none of the secrets
// can decrypt is an error: the ring never silently replaces keys.
func Open(ctx context.Context, cfg Config) (*Ring, error) {
	if cfg.Store == nil || cfg.Sealer == nil {
		return nil, errors.New("keys: Open needs a Store and a Sealer")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Generate == nil {
		cfg.Generate = func(alg string) (crypto.Signer, error) { return generate(alg, cfg.Rand) }
	}
	if err := cfg.Schedule.Validate(); err != nil {
		return nil, err
	}
	r := &Ring{cfg: cfg, algs: []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256}}
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	if err := r.ensureActive(ctx); err != nil {
		return nil, err
	}
	if _, err := r.ensureStandby(ctx, false); err != nil {
		return nil, err
	}
	return r, nil
}

// ensureStandby publishes a next key for every algorithm that has none:
// the standby that the next rotation, scheduled or asked for, promotes.
// Published from the start, it is in every resource server's cached JWKS
// long before it signs, so that even an emergency rotation breaks no
// verification. Replicas racing to create one leave one. It reports
// whether it created a key; requested is passed to OnChange.
func (r *Ring) ensureStandby(ctx context.Context, requested bool) (bool, error) {
	created := false
	for _, alg := range algorithms {
		if r.cur.Load().next[alg] != nil {
			continue
		}
		if _, err := r.create(ctx, alg, StateNext, requested); err != nil && !lostRace(err) {
			return created, err
		}
		created = true
	}
	if created {
		return true, r.Reload(ctx)
	}
	return false, nil
}

// ensureActive creates an active key for every algorithm that has none.
// Replicas starting together on an empty store may all try; the store
// keeps one, and the others load it.
func (r *Ring) ensureActive(ctx context.Context) error {
	created := false
	for _, alg := range algorithms {
		if r.cur.Load().active[alg] != nil {
			continue
		}
		if _, err := r.create(ctx, alg, StateActive, false); err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
			return err
		}
		created = true
	}
	if created {
		if err := r.Reload(ctx); err != nil {
			return err
		}
		for _, alg := range algorithms {
			if r.cur.Load().active[alg] == nil {
				return fmt.Errorf("keys: no active %s key after creating one", alg)
			}
		}
	}
	return nil
}

// create generates, seals and stores a new key for alg in state (next or
// active), and returns its kid; requested is passed to OnChange.
// ErrAlreadyExists (wrapped) if the
// algorithm already has a key in that state.
func (r *Ring) create(ctx context.Context, alg, state string, requested bool) (string, error) {
	priv, err := r.cfg.Generate(alg)
	if err != nil {
		return "", fmt.Errorf("keys: generate %s key: %w", alg, err)
	}
	k, err := newKey(alg, priv, r.cfg.Rand)
	if err != nil {
		return "", err
	}
	der, err := k.marshalPrivate()
	if err != nil {
		return "", fmt.Errorf("keys: encode %s key: %w", alg, err)
	}
	sealed, err := r.cfg.Sealer.Seal(der, []byte(k.ID))
	if err != nil {
		return "", err
	}
	pub, err := json.Marshal(k.public)
	if err != nil {
		return "", fmt.Errorf("keys: encode public key: %w", err)
	}
	now := r.cfg.Now().UTC()
	rec := storage.Key{ID: k.ID, Alg: alg, State: state, Sealed: sealed, PublicJWK: pub, CreatedAt: now}
	if state == StateActive {
		rec.ActivatedAt = now
	}
	if err := r.cfg.Store.CreateKey(ctx, rec); err != nil {
		return "", fmt.Errorf("keys: store %s key: %w", alg, err)
	}
	if r.cfg.OnChange != nil {
		r.cfg.OnChange(ctx, alg, storage.KeyChange{ID: k.ID, To: state}, requested)
	}
	return k.ID, nil
}

// Reload reads the keys from the store and swaps in a new snapshot. The
// store is read without a lock, so concurrent reloads each wait only for
// their own read (bounded by their ctx); the newest read wins the swap.
func (r *Ring) Reload(ctx context.Context) error {
	read := r.reads.Add(1)
	recs, err := r.cfg.Store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list keys: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if read < r.swapped {
		return nil // a newer read has been swapped in already
	}
	old := r.cur.Load()
	s := &snapshot{byKID: make(map[string]*Key), active: make(map[string]*Key), next: make(map[string]*Key)}
	for _, rec := range recs {
		public := rec
		public.Sealed = nil
		s.records = append(s.records, public)
		if rec.State != StateNext && rec.State != StateActive && rec.State != StateRetired {
			continue // removed from publication
		}
		k, err := r.load(old, rec)
		if err != nil {
			return err
		}
		s.byKID[k.ID] = k
		s.keys = append(s.keys, k)
		if k.State == StateNext {
			if cur := s.next[k.Alg]; cur == nil || k.CreatedAt.Before(cur.CreatedAt) {
				s.next[k.Alg] = k
			}
		}
		if k.State != StateActive {
			continue
		}
		// Every replica picks the same key if several are active: the
		// earliest activated, then the smallest kid.
		if cur := s.active[k.Alg]; cur == nil || k.ActivatedAt.Before(cur.ActivatedAt) ||
			(k.ActivatedAt.Equal(cur.ActivatedAt) && k.ID < cur.ID) {
			s.active[k.Alg] = k
		}
	}
	sort.SliceStable(s.keys, func(i, j int) bool {
		if s.keys[i].Alg != s.keys[j].Alg {
			return s.keys[i].Alg < s.keys[j].Alg
		}
		return s.keys[i].CreatedAt.Before(s.keys[j].CreatedAt)
	})
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(s.keys))}
	for _, k := range s.keys {
		set.Keys = append(set.Keys, k.public)
	}
	if s.jwks, err = json.Marshal(set); err != nil {
		return fmt.Errorf("keys: encode JWKS: %w", err)
	}
	sum := sha256.Sum256(s.jwks)
	s.etag = `"` + b64.EncodeToString(sum[:12]) + `"`
	r.cur.Store(s)
	r.swapped = read
	return nil
}

// load turns a stored key into a Key, reusing the decrypted key of the
// previous snapshot when the record is unchanged.
func (r *Ring) load(old *snapshot, rec storage.Key) (*Key, error) {
	if !ValidAlg(rec.Alg) {
		return nil, fmt.Errorf("keys: key %s has unsupported algorithm %q", rec.ID, rec.Alg)
	}
	var k *Key
	if old != nil {
		if prev := old.byKID[rec.ID]; prev != nil {
			c := *prev
			k = &c
		}
	}
	if k == nil {
		der, _, err := r.cfg.Sealer.Open(rec.Sealed, []byte(rec.ID))
		if err != nil {
			return nil, fmt.Errorf("keys: key %s: %w (is IDVAUTH_SECRETS right?)", rec.ID, err)
		}
		priv, err := parsePrivate(der)
		if err != nil {
			return nil, fmt.Errorf("keys: key %s: decode: %w", rec.ID, err)
		}
		if k, err = newKey(rec.Alg, priv, r.cfg.Rand); err != nil {
			return nil, err
		}
		if k.ID != rec.ID {
			return nil, fmt.Errorf("keys: key %s does not match its stored id", rec.ID)
		}
	}
	k.State, k.CreatedAt, k.ActivatedAt, k.RetiredAt = rec.State, rec.CreatedAt, rec.ActivatedAt, rec.RetiredAt
	return k, nil
}

// Active returns the key that signs with alg now.
func (r *Ring) Active(alg string) (*Key, error) {
	if k := r.cur.Load().active[alg]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("keys: no active %s key", alg)
}

// Keys returns the published keys in JWKS order.
func (r *Ring) Keys() []*Key { return append([]*Key(nil), r.cur.Load().keys...) }

// Publishes reports whether the key kid is published now, so that tokens
// it signed still verify.
func (r *Ring) Publishes(kid string) bool { return r.cur.Load().byKID[kid] != nil }

// JWKS returns the JSON Web Key Set of the published keys (public parts
// only) and its entity tag. The caller must not modify the bytes.
func (r *Ring) JWKS() (body []byte, etag string) {
	s := r.cur.Load()
	return s.jwks, s.etag
}

// Verify checks a compact JWS against the published keys: the kid must name
// a published key, the alg must be that key's algorithm, the typ must be
// typ, and the signature must verify. It returns the payload, the key, and
// the signature part of the token.
func (r *Ring) Verify(token, typ string) (payload []byte, key *Key, signature string, err error) {
	jws, err := jose.ParseSignedCompact(token, r.algs)
	if err != nil {
		return nil, nil, "", fmt.Errorf("keys: parse: %w", err)
	}
	h := jws.Signatures[0].Header
	k := r.cur.Load().byKID[h.KeyID]
	if k == nil {
		return nil, nil, "", ErrUnknownKey
	}
	if h.Algorithm != k.Alg {
		return nil, nil, "", fmt.Errorf("keys: token alg %q does not match key alg %q", h.Algorithm, k.Alg)
	}
	if t, _ := h.ExtraHeaders[jose.HeaderType].(string); t != typ {
		return nil, nil, "", fmt.Errorf("keys: token typ %q, want %q", t, typ)
	}
	payload, err = jws.Verify(k.signer.Public())
	if err != nil {
		return nil, nil, "", fmt.Errorf("keys: verify: %w", err)
	}
	dot := lastDot(token)
	return payload, k, token[dot+1:], nil
}

// RecordKey is the key under which the record of the JWT token is kept:
// the SHA-256 of its signature part, base64url. Not the signature itself:
// our claims are serialised deterministically, so a copy of the token
// table that held the signature beside the claims could rebuild every
// live token. It does not verify anything.
func RecordKey(token string) string {
	sum := sha256.Sum256([]byte(SignatureOf(token)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SignatureOf returns the signature part of a compact JWS, or "" if token
// has no signature part. It does not verify anything.
func SignatureOf(token string) string {
	if d := lastDot(token); d >= 0 {
		return token[d+1:]
	}
	return ""
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}
