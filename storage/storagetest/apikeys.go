package storagetest

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"

	"github.com/idvauth/idvauth/storage"
)

// apiKeyTests are the contract tests of storage.APIKeyStore.
var apiKeyTests = []struct {
	name string
	fn   func(t *testing.T, s storage.Store)
}{
	{"APIKeyLifecycle", testAPIKeyLifecycle},
	{"APIKeyRotation", testAPIKeyRotation},
	{"ConcurrentAPIKeyRotationsOneWins", testConcurrentAPIKeyRotationsOneWins},
	{"APIKeyGoesWithClient", testAPIKeyGoesWithClient},
}

func newAPIKey(clientID, name string) storage.APIKey {
	t := fixture.Now()
	return storage.APIKey{
		ID: fixture.ID("k"), ClientID: clientID, Name: name, Digest: bytes.Repeat([]byte{9}, 32),
		Scopes: []string{"identity.verify"}, Audience: []string{"idv-api"}, Networks: []string{"192.0.2.0/24"},
		CreatedAt: t, ExpiresAt: t.Add(90 * 24 * time.Hour),
	}
}

// testAPIKeyLifecycle: create, get, list (oldest first), touch (only
// forward), delete (only by its client), the janitor after expiry, and
// odd values refused alike.
func testAPIKeyLifecycle(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c, other := mustCreateClient(t, s, "keys"), mustCreateClient(t, s, "other")
	k := newAPIKey(c.ID, "ci")
	if err := s.CreateAPIKey(ctx, k); err != nil {
		t.Fatalf("CreateAPIKey = %v", err)
	}
	if err := s.CreateAPIKey(ctx, k); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("CreateAPIKey(same ID) = %v, want ErrAlreadyExists", err)
	}
	if err := s.CreateAPIKey(ctx, newAPIKey("no-such-client", "x")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("CreateAPIKey(unknown client) = %v, want ErrNotFound", err)
	}
	got, err := s.GetAPIKey(ctx, k.ID)
	if err != nil || !reflect.DeepEqual(got, k) {
		t.Fatalf("GetAPIKey = %+v, %v; want %+v", got, err, k)
	}
	later := newAPIKey(c.ID, "later")
	later.CreatedAt = k.CreatedAt.Add(time.Second)
	later.Networks = nil
	if err := s.CreateAPIKey(ctx, later); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListAPIKeys(ctx, c.ID)
	if err != nil || len(list) != 2 || list[0].ID != k.ID || list[1].ID != later.ID || len(list[1].Networks) != 0 {
		t.Fatalf("ListAPIKeys = %+v, %v; want [%s %s]", list, err, k.ID, later.ID)
	}
	if list, err := s.ListAPIKeys(ctx, other.ID); err != nil || len(list) != 0 {
		t.Fatalf("ListAPIKeys(other client) = %+v, %v; want none", list, err)
	}
	used := k.CreatedAt.Add(time.Minute)
	if err := s.TouchAPIKeys(ctx, map[string]time.Time{k.ID: used, "gone": used}); err != nil {
		t.Fatalf("TouchAPIKeys = %v", err)
	}
	if err := s.TouchAPIKeys(ctx, map[string]time.Time{k.ID: used.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetAPIKey(ctx, k.ID); !got.LastUsedAt.Equal(used) {
		t.Errorf("LastUsedAt = %v, want %v (never moved back)", got.LastUsedAt, used)
	}
	if err := s.DeleteAPIKey(ctx, other.ID, k.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("DeleteAPIKey(another client's key) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAPIKey(ctx, c.ID, k.ID); err != nil {
		t.Fatalf("DeleteAPIKey = %v", err)
	}
	if _, err := s.GetAPIKey(ctx, k.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetAPIKey(deleted) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAPIKey(ctx, c.ID, k.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("DeleteAPIKey(again) = %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteExpired(ctx, later.ExpiresAt.Add(time.Second), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAPIKey(ctx, later.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetAPIKey(expired, after the janitor) = %v, want ErrNotFound", err)
	}
	for _, odd := range []string{"", "nul\x00byte", "\xff\xfe"} {
		if _, err := s.GetAPIKey(ctx, odd); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetAPIKey(%q) = %v, want ErrNotFound", odd, err)
		}
		bad := newAPIKey(c.ID, odd)
		if err := s.CreateAPIKey(ctx, bad); odd != "" && !errors.Is(err, storage.ErrConflict) {
			t.Errorf("CreateAPIKey(name %q) = %v, want ErrConflict", odd, err)
		}
	}
}

// testAPIKeyRotation: a rotation adds the new key and shortens the old
// one's life, never lengthens it; an old key is rotated once.
func testAPIKeyRotation(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "rotate")
	old := newAPIKey(c.ID, "ci")
	if err := s.CreateAPIKey(ctx, old); err != nil {
		t.Fatal(err)
	}
	next := newAPIKey(c.ID, "ci")
	grace := old.CreatedAt.Add(24 * time.Hour)
	if err := s.RotateAPIKey(ctx, old.ID, grace, next); err != nil {
		t.Fatalf("RotateAPIKey = %v", err)
	}
	got, err := s.GetAPIKey(ctx, old.ID)
	if err != nil || !got.ExpiresAt.Equal(grace) || got.ReplacedBy != next.ID {
		t.Fatalf("old key after rotation = %+v, %v; want expiring %v, replaced by %s", got, err, grace, next.ID)
	}
	if _, err := s.GetAPIKey(ctx, next.ID); err != nil {
		t.Fatalf("GetAPIKey(new) = %v", err)
	}
	if err := s.RotateAPIKey(ctx, old.ID, grace, newAPIKey(c.ID, "ci")); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("RotateAPIKey(again) = %v, want ErrConflict", err)
	}
	// A grace longer than the key's life does not lengthen it.
	third := newAPIKey(c.ID, "ci")
	if err := s.RotateAPIKey(ctx, next.ID, next.ExpiresAt.Add(time.Hour), third); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetAPIKey(ctx, next.ID); !got.ExpiresAt.Equal(next.ExpiresAt) {
		t.Errorf("rotated with a long grace: expires %v, want unchanged %v", got.ExpiresAt, next.ExpiresAt)
	}
	other := mustCreateClient(t, s, "other")
	stray := newAPIKey(other.ID, "x")
	if err := s.RotateAPIKey(ctx, third.ID, grace, stray); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("RotateAPIKey(key of another client) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetAPIKey(ctx, stray.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a refused rotation stored its new key: %v", err)
	}
}

// testConcurrentAPIKeyRotationsOneWins: of concurrent rotations of one
// key exactly one stores its new key.
func testConcurrentAPIKeyRotationsOneWins(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "race")
	old := newAPIKey(c.ID, "ci")
	if err := s.CreateAPIKey(ctx, old); err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = s.RotateAPIKey(ctx, old.ID, old.CreatedAt.Add(time.Hour), newAPIKey(c.ID, "ci")) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("a concurrent rotation failed with %v, want ErrConflict", err)
		}
	}
	list, _ := s.ListAPIKeys(ctx, c.ID)
	if won != 1 || len(list) != 2 {
		t.Fatalf("%d of %d concurrent rotations won, %d keys stored; want 1 and 2", won, n, len(list))
	}
}

// testAPIKeyGoesWithClient: deleting a client deletes its keys.
func testAPIKeyGoesWithClient(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "gone")
	k := newAPIKey(c.ID, "ci")
	if err := s.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAPIKey(ctx, k.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetAPIKey(key of a deleted client) = %v, want ErrNotFound", err)
	}
}
