package clientauth

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/authz/internal/audit"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// lockoutStores are the backends the lock-out tests run on: the failure
// counters are shared by every replica through the store.
func lockoutStores(t *testing.T, run func(t *testing.T, store storage.Store)) {
	t.Run("memory", func(t *testing.T) { run(t, memory.New()) })
	t.Run("postgres", func(t *testing.T) { run(t, pgtest.Open(t)) })
}

// TestConcurrentSecretsAnsweredAtMostTheLimit sends 21 authentications of
// one client at once through two replicas, 20 with wrong secrets and one
// with the right one, against a limit of 5, with every secret check held
// until all 21 have started: at most 5 attempts may be answered as wrong,
// the rest get 429 (issue 17 item 2), and the right secret is let through
// only if fewer than 5 failures were counted when it was checked.
func TestConcurrentSecretsAnsweredAtMostTheLimit(t *testing.T) {
	lockoutStores(t, func(t *testing.T, store storage.Store) {
		const n, limit = 21, 5
		sum := sha256.Sum256([]byte("right secret"))
		now := time.Now()
		if err := store.CreateClient(t.Context(), storage.Client{ID: "svc", Name: "svc", SecretHash: sum[:],
			TokenEndpointAuthMethod: MethodBasic, GrantTypes: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		var started sync.WaitGroup
		started.Add(n)
		replicas := make([]*Authenticator, 2)
		for i := range replicas {
			a, err := New(Config{Store: store, Audit: audit.New(audit.Config{Disabled: true}), Issuer: "https://idv.example",
				MaxFailures: limit, MaxFailuresPerIP: 1000, Window: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			a.compare = func(hash []byte, secret string) error {
				started.Done()
				started.Wait() // every attempt is past the look at the counters
				return compareSecret(hash, secret)
			}
			replicas[i] = a
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			secret := "wrong secret " + strings.Repeat("x", i)
			if i == n/2 {
				secret = "right secret"
			}
			wg.Go(func() {
				r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
				r.SetBasicAuth("svc", secret)
				_, errs[i] = replicas[i%2].Authenticate(t.Context(), r, url.Values{})
			})
		}
		wg.Wait()
		wrong, limited, admitted := 0, 0, 0
		for _, err := range errs {
			var rfc *fosite.RFC6749Error
			switch {
			case err == nil:
				admitted++
			case errors.Is(err, fosite.ErrInvalidClient):
				wrong++
			case errors.As(err, &rfc) && rfc.CodeField == http.StatusTooManyRequests:
				limited++
			default:
				t.Errorf("an attempt failed with %v", err)
			}
		}
		if wrong > limit || wrong+limited+admitted != n || admitted > 1 {
			t.Fatalf("%d of %d concurrent attempts answered wrong, %d 429, %d admitted; want at most %d wrong", wrong, n, limited, admitted, limit)
		}
		// Past the limit the right secret is refused too, on both replicas.
		for _, a := range replicas {
			a.compare = compareSecret
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
			r.SetBasicAuth("svc", "right secret")
			if _, err := a.Authenticate(t.Context(), r, url.Values{}); err == nil {
				t.Error("the right secret was let through after the limit of failures")
			}
		}
	})
}

// TestRightSecretCheckedAfterTheLimitIsRefused: a right secret whose check
// ends after concurrent wrong ones have reached the limit is refused with
// 429, though its look at the counters, before the check, found none.
func TestRightSecretCheckedAfterTheLimitIsRefused(t *testing.T) {
	lockoutStores(t, func(t *testing.T, store storage.Store) {
		const limit = 3
		sum := sha256.Sum256([]byte("right secret"))
		now := time.Now()
		if err := store.CreateClient(t.Context(), storage.Client{ID: "svc", Name: "svc", SecretHash: sum[:],
			TokenEndpointAuthMethod: MethodBasic, GrantTypes: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		a, err := New(Config{Store: store, Audit: audit.New(audit.Config{Disabled: true}), Issuer: "https://idv.example",
			MaxFailures: limit, MaxFailuresPerIP: 1000, Window: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		checking, proceed := make(chan struct{}), make(chan struct{})
		a.compare = func(hash []byte, secret string) error {
			if secret == "right secret" {
				close(checking)
				<-proceed
			}
			return compareSecret(hash, secret)
		}
		attempt := func(secret string) error {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
			r.SetBasicAuth("svc", secret)
			_, err := a.Authenticate(t.Context(), r, url.Values{})
			return err
		}
		done := make(chan error)
		go func() { done <- attempt("right secret") }()
		<-checking
		for i := range limit {
			if err := attempt("wrong " + strings.Repeat("x", i)); !errors.Is(err, fosite.ErrInvalidClient) {
				t.Fatalf("wrong secret %d: %v, want invalid_client", i+1, err)
			}
		}
		close(proceed)
		err = <-done
		var rfc *fosite.RFC6749Error
		if !errors.As(err, &rfc) || rfc.CodeField != http.StatusTooManyRequests {
			t.Fatalf("the right secret checked after the limit: %v, want 429", err)
		}
	})
}
