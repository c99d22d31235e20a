package persontest

import (
	"context"
	"errors"
	"testing"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"
)

// vaulted returns p as it is kept when its key is in a person-key store:
// a reference, no key.
func vaulted(p *storage.Profile) *storage.Profile {
	q := *p
	q.Key, q.KEK, q.KeyRef = nil, "", "vault"
	return &q
}

func wantKeyPlaces(t *testing.T, s storage.Store, here, elsewhere int) {
	t.Helper()
	if h, e, err := s.CountKeyPlaces(context.Background()); err != nil || h != here || e != elsewhere {
		t.Errorf("CountKeyPlaces = %d here, %d elsewhere, %v; want %d, %d", h, e, err, here, elsewhere)
	}
}

// testKeyElsewhere: a sealed user whose key is in a person-key store is
// kept with its reference and no key, created, updated and read back so;
// SealUser moves a key out of the store, and a later SealUser of such a
// user is conditional on its sealed fields.
func testKeyElsewhere(t *testing.T, s storage.Store) {
	ctx := context.Background()
	fixture.MustCreateUser(t, s, "plain") // counts in neither place
	out := newSealedUser()
	out.Sealed = vaulted(out.Sealed)
	if err := s.CreateUser(ctx, out); err != nil {
		t.Fatalf("CreateUser(key elsewhere) = %v", err)
	}
	got, err := s.GetUser(ctx, out.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalSealed(t, got, out)
	in := newSealedUser()
	if err := s.CreateUser(ctx, in); err != nil {
		t.Fatal(err)
	}
	wantKeyPlaces(t, s, 1, 1)

	// The move: from the key in the store to a reference.
	moved := in
	moved.Sealed = vaulted(in.Sealed)
	stale := in
	stale.Sealed = newProfile()
	if err := s.SealUser(ctx, stale, moved); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("SealUser(move) from a stale key = %v, want ErrConflict", err)
	}
	if err := s.SealUser(ctx, in, moved); err != nil {
		t.Fatalf("SealUser(move) = %v", err)
	}
	got, _ = s.GetUser(ctx, in.ID)
	equalSealed(t, got, moved)
	wantKeyPlaces(t, s, 0, 2)
	if err := s.SealUser(ctx, in, moved); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("SealUser(move) of a user moved already = %v, want ErrConflict", err)
	}

	// New blind indexes for a user whose key is elsewhere: conditional on
	// the sealed fields it was read with.
	reindexed := moved
	reindexed.Sealed = vaulted(newProfile())
	reindexed.Sealed.Username, reindexed.Sealed.Name, reindexed.Sealed.Email = moved.Sealed.Username, moved.Sealed.Name, moved.Sealed.Email
	changed := moved
	changed.Sealed = vaulted(newProfile())
	if err := s.UpdateUser(ctx, changed); err != nil {
		t.Fatalf("UpdateUser(key elsewhere) = %v", err)
	}
	if err := s.SealUser(ctx, moved, reindexed); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("SealUser from fields changed meanwhile = %v, want ErrConflict", err)
	}
	if err := s.SealUser(ctx, changed, reindexed); err != nil {
		t.Errorf("SealUser(new indexes) = %v", err)
	}
	got, _ = s.GetUser(ctx, in.ID)
	equalSealed(t, got, reindexed)

	// Back into the store (a server without a person-key store updates a
	// profile it cannot know is elsewhere only in the form it read).
	back := reindexed
	back.Sealed = newProfile()
	if err := s.UpdateUser(ctx, back); err != nil {
		t.Fatalf("UpdateUser(key in the store) = %v", err)
	}
	got, _ = s.GetUser(ctx, in.ID)
	equalSealed(t, got, back)
	wantKeyPlaces(t, s, 1, 1)
}
