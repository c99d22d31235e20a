package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
	"github.com/idvauth/idvauth/storage/storagetest"
)

func TestContract(t *testing.T) {
	pgtest.BaseURL(t)
	storagetest.Run(t, func(t testing.TB) storage.Store { return pgtest.Open(t) })
}

func TestOpenRefusesSchemaBehind(t *testing.T) {
	u := pgtest.Schema(t)
	_, err := postgres.Open(context.Background(), postgres.Config{URL: u})
	if !errors.Is(err, postgres.ErrSchemaBehind) {
		t.Fatalf("Open on an empty schema = %v, want ErrSchemaBehind", err)
	}
	st, err := postgres.Status(context.Background(), u)
	if err != nil || len(st) == 0 || st[0].Applied {
		t.Fatalf("Status before migrating = %+v, %v", st, err)
	}
}

func TestConcurrentMigrate(t *testing.T) {
	u := pgtest.Schema(t)
	latest, err := postgres.Latest()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 5)
	tos := make([]int32, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, tos[i], errs[i] = postgres.Migrate(context.Background(), u)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || tos[i] != latest {
			t.Errorf("migrator %d: to %d, %v; want %d", i, tos[i], err, latest)
		}
	}
	st, err := postgres.Status(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st {
		if !m.Applied {
			t.Errorf("migration %d %s not applied", m.Version, m.Name)
		}
	}
	s, err := postgres.Open(context.Background(), postgres.Config{URL: u})
	if err != nil {
		t.Fatalf("Open after migrating: %v", err)
	}
	s.Close()
}

func TestOpenBadURL(t *testing.T) {
	_, err := postgres.Open(context.Background(), postgres.Config{URL: "postgres://user:hunter2@127.0.0.1:1/x?connect_timeout=1"})
	if err == nil {
		t.Fatal("Open of an unreachable database succeeded")
	}
	if got := err.Error(); strings.Contains(got, "hunter2") {
		t.Fatalf("error shows the password: %s", got)
	}
	if _, err := postgres.Open(context.Background(), postgres.Config{URL: "postgres://%zz"}); err == nil {
		t.Fatal("Open of a malformed URL succeeded")
	}
}

// TestClientCacheFollowsOtherReplicas: a change made through one store
// reaches another store's cache through NOTIFY, long before the TTL.
func TestClientCacheFollowsOtherReplicas(t *testing.T) {
	ctx := context.Background()
	a, b := twoCachingReplicas(t)
	c := storage.Client{ID: "cached", Name: "c", SecretHash: []byte{1}, TokenEndpointAuthMethod: "client_secret_basic",
		CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := a.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	// The cache TTL is 1h: a change seen in b came through NOTIFY.
	// Fill b's cache (once its listener runs, reads are cached).
	waitFor(t, "the first read", func() bool { _, err := b.GetClient(ctx, "cached"); return err == nil })
	if err := a.SetClientSecret(ctx, "cached", []byte{2}, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the secret change to reach the other store", func() bool {
		g, _ := b.GetClient(ctx, "cached")
		return len(g.SecretHash) == 1 && g.SecretHash[0] == 2
	})
	if err := a.DeleteClient(ctx, "cached"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion to reach the other store", func() bool {
		_, err := b.GetClient(ctx, "cached")
		return errors.Is(err, storage.ErrNotFound)
	})
}

// TestClientCacheRemembersUnknown: an unknown client ID is cached too, so
// that it costs no query where a known one costs none (issue 17: client
// IDs told apart by timing), and creating that client, through this store
// or another replica, makes it usable at once, long before the TTL.
func TestClientCacheRemembersUnknown(t *testing.T) {
	ctx := context.Background()
	a, b := twoCachingReplicas(t)
	client := func(id string) storage.Client {
		return storage.Client{ID: id, Name: id, SecretHash: []byte{1}, TokenEndpointAuthMethod: "client_secret_basic",
			CreatedAt: time.Now(), UpdatedAt: time.Now()}
	}
	// Once a's listener runs, a miss is cached.
	waitFor(t, "an unknown ID to be cached", func() bool {
		_, err := a.GetClient(ctx, "later")
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetClient(unknown) = %v, want ErrNotFound", err)
		}
		return postgres.CachedUnknown(a, "later")
	})
	if _, err := a.GetClient(ctx, "later"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetClient(cached unknown) = %v, want ErrNotFound", err)
	}
	if err := b.CreateClient(ctx, client("later")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the creation on the other replica to reach the cache", func() bool {
		_, err := a.GetClient(ctx, "later")
		return err == nil
	})

	waitFor(t, "another unknown ID to be cached", func() bool {
		_, _ = a.GetClient(ctx, "mine")
		return postgres.CachedUnknown(a, "mine")
	})
	if err := a.CreateClient(ctx, client("mine")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetClient(ctx, "mine"); err != nil {
		t.Errorf("GetClient right after this store created it = %v, want the client", err)
	}
}

// twoCachingReplicas opens two stores on one fresh database, each caching
// clients for an hour, closed when the test ends.
func twoCachingReplicas(t *testing.T) (a, b *postgres.Store) {
	t.Helper()
	u := pgtest.URL(t)
	open := func() *postgres.Store {
		s, err := postgres.Open(context.Background(), postgres.Config{URL: u, ClientCacheTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	return open(), open()
}
