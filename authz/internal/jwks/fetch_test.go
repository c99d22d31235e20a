package jwks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/idvauth/idvauth/authz/internal/outbound"
)

// loopbackAllowed lets the fetcher reach the test's httptest servers.
var loopbackAllowed = outbound.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}

func TestJWKSFetcher(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1"}}})
	privSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, KeyID: "k1"}}})
	var mu sync.Mutex
	status, body := http.StatusOK, string(pubSet)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/jwks", http.StatusFound)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	set := func(s int, b string) {
		mu.Lock()
		status, body = s, b
		mu.Unlock()
	}
	var clock atomic.Int64
	now := func() time.Time { return time.Unix(1_800_000_000, 0).Add(time.Duration(clock.Load())) }
	advance := func(d time.Duration) { clock.Add(int64(d)) }

	for _, tt := range []struct {
		name, path string
		status     int
		body       string
	}{
		{"HTTP 500", "/jwks", 500, string(pubSet)},
		{"too large", "/jwks", 200, `{"keys":[` + strings.Repeat(" ", MaxBytes) + `]}`},
		{"private key", "/jwks", 200, string(privSet)},
		{"not JSON", "/jwks", 200, "<html>"},
		{"redirect", "/redirect", 200, string(pubSet)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			set(tt.status, tt.body)
			f := NewFetcher(now, loopbackAllowed, nil)
			if got, err := f.Get(t.Context(), srv.URL+tt.path, ""); err == nil {
				t.Errorf("get(%s) = %d keys, want an error", tt.name, len(got.Keys))
			}
		})
	}

	t.Run("cached, stale while failing, then gone", func(t *testing.T) {
		set(http.StatusOK, string(pubSet))
		f := NewFetcher(now, loopbackAllowed, nil)
		uri := srv.URL + "/jwks"
		before := hits.Load()
		for range 3 {
			if got, err := f.Get(t.Context(), uri, "k1"); err != nil || len(got.Keys) != 1 {
				t.Fatalf("get = %v, %v; want the key", got, err)
			}
		}
		if n := hits.Load() - before; n != 1 {
			t.Errorf("3 gets fetched %d times, want 1", n)
		}
		set(http.StatusInternalServerError, "")
		advance(fetchTTL + time.Second)
		if got, err := f.Get(t.Context(), uri, "k1"); err != nil || len(got.Keys) != 1 {
			t.Errorf("get while the URI fails within the stale limit = %v, %v; want the cached key", got, err)
		}
		advance(staleTTL)
		if _, err := f.Get(t.Context(), uri, "k1"); err == nil {
			t.Errorf("get past the stale limit while the URI fails = nil error, want one")
		}
	})
}

// TestJWKSFetcherRefusesInternal: without an allowance the fetcher does
// not connect to an internal address, whether the URI names it or a host
// name resolves to it, and it ignores proxies from the environment.
func TestJWKSFetcherRefusesInternal(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1"}}})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write(pubSet)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	for _, uri := range []string{srv.URL + "/jwks", "http://localhost:" + port + "/jwks", "http://[::ffff:127.0.0.1]:" + port + "/jwks"} {
		t.Run(uri, func(t *testing.T) {
			f := NewFetcher(now, outbound.Policy{}, nil)
			if _, err := f.Get(t.Context(), uri, ""); err == nil || !strings.Contains(err.Error(), "internal address") {
				t.Errorf("get(%s) without an allowance = %v, want an internal address error", uri, err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the internal server was reached %d times, want 0", n)
	}
	if _, err := NewFetcher(now, loopbackAllowed, nil).Get(t.Context(), srv.URL+"/jwks", "k1"); err != nil {
		t.Errorf("get with 127.0.0.0/8 allowed = %v, want the set", err)
	}
}
