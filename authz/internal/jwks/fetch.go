package jwks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/idvauth/idvauth/authz/internal/outbound"
)

// Limits of fetching a client's jwks_uri.
const (
	// fetchTimeout bounds one fetch, connection included.
	fetchTimeout = 5 * time.Second
	// fetchTTL is how long a fetched key set is used before it is fetched
	// again: a client that rotates keys publishes the new one at least
	// this long before it signs with it.
	fetchTTL = 5 * time.Minute
	// staleTTL is how long a key set is still used while its URI
	// fails, so that a short outage of the client's server does not stop
	// its authentication.
	staleTTL = time.Hour
	// refetchInterval: an assertion with an unknown kid makes the set
	// be fetched again, at most this often per URI, so that made-up kids
	// cannot turn the server into a request amplifier.
	refetchInterval = 30 * time.Second
	// maxFetchEntries bounds the cache (one entry per jwks_uri).
	maxFetchEntries = 10000
)

// Fetcher fetches and caches the key sets of clients' jwks_uri. It is
// safe for concurrent use; concurrent misses on one URI share one fetch.
type Fetcher struct {
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*fetchEntry
}

type fetchEntry struct {
	mu        sync.Mutex // held during a fetch
	set       *jose.JSONWebKeySet
	fetchedAt time.Time // of set
	triedAt   time.Time // last fetch attempt
}

// NewFetcher returns a fetcher (whose transport wrap may wrap, for
// tracing) that reads the time from now and
// connects only to addresses policy allows.
func NewFetcher(now func() time.Time, policy outbound.Policy, wrap func(http.RoundTripper) http.RoundTripper) *Fetcher {
	if wrap == nil {
		wrap = func(rt http.RoundTripper) http.RoundTripper { return rt }
	}
	return &Fetcher{
		client: &http.Client{
			Timeout:   fetchTimeout,
			Transport: wrap(policy.Transport(fetchTimeout)),
			// A redirect could lead from https to http or to another host:
			// the registered URI is the only one fetched.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now:     now,
		entries: make(map[string]*fetchEntry),
	}
}

// Get returns the key set published at uri, holding kid if kid is not
// empty and the set has it.
func (f *Fetcher) Get(ctx context.Context, uri, kid string) (*jose.JSONWebKeySet, error) {
	f.mu.Lock()
	e, ok := f.entries[uri]
	if !ok {
		if len(f.entries) >= maxFetchEntries {
			clear(f.entries)
		}
		e = &fetchEntry{}
		f.entries[uri] = e
	}
	f.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := f.now()
	usable := e.set != nil && now.Sub(e.fetchedAt) < staleTTL
	if e.set != nil && now.Sub(e.fetchedAt) < fetchTTL && (kid == "" || HasKid(e.set, kid)) {
		return e.set, nil
	}
	if !e.triedAt.IsZero() && now.Sub(e.triedAt) < refetchInterval {
		if usable {
			return e.set, nil
		}
		return nil, errors.New("jwks_uri failed a moment ago")
	}
	e.triedAt = now
	set, err := f.fetch(ctx, uri)
	if err != nil {
		if usable {
			return e.set, nil
		}
		return nil, err
	}
	e.set, e.fetchedAt = set, now
	return set, nil
}

// HasKid reports whether set holds a key with the ID kid.
func HasKid(set *jose.JSONWebKeySet, kid string) bool {
	for _, k := range set.Keys {
		if k.KeyID == kid {
			return true
		}
	}
	return false
}

// fetch GETs uri and parses the answer as a client key set: 200, at most
// MaxBytes, public keys only.
func (f *Fetcher) fetch(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks_uri: HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: read: %w", err)
	}
	if len(body) > MaxBytes {
		return nil, fmt.Errorf("jwks_uri: the key set is larger than %d KiB", MaxBytes>>10)
	}
	set, err := Parse(body)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	return set, nil
}
