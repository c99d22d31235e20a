package seal

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
	"github.com/idvauth/idvauth/storage/postgres/vault"
)

// TestWrongVaultRefused: a store whose rows name the person-key store is
// refused with an empty person-key store (a new database, or the wrong
// one) and with one that holds other people's keys only, naming the
// setting to check; with its own it starts.
func TestWrongVaultRefused(t *testing.T) {
	run := func(t *testing.T, raw storage.Store, newVault func() storage.PersonKeyStore) {
		ctx := context.Background()
		kp, err := NewLocal([]string{secretA}, nil)
		if err != nil {
			t.Fatal(err)
		}
		own := newVault()
		s := newVaultStore(t, raw, own, secretA)
		create(t, s, person("vaulted"))
		create(t, s, person("vaulted"))

		other := newVault()
		if err := other.CreatePersonKey(ctx, storage.PersonKey{UserID: "u_someone_else", Wrapped: []byte("wrapped"), KEK: "k"}); err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]storage.PersonKeyStore{"empty": newVault(), "another's": other} {
			_, err := New(ctx, Config{Store: raw, Keys: kp, Secrets: []string{secretA}, Vault: v})
			if err == nil || !strings.Contains(err.Error(), "IDVAUTH_PERSON_KEYS_DATABASE_URL") {
				t.Errorf("New with %s person-key store = %v; want it refused, naming IDVAUTH_PERSON_KEYS_DATABASE_URL", name, err)
			}
		}
		if _, err := New(ctx, Config{Store: raw, Keys: kp, Secrets: []string{secretA}, Vault: own}); err != nil {
			t.Errorf("New with its own person-key store = %v", err)
		}
	}
	t.Run("memory", func(t *testing.T) {
		run(t, memory.New(), func() storage.PersonKeyStore { return memory.NewPersonKeys() })
	})
	t.Run("postgres", func(t *testing.T) {
		run(t, pgtest.Open(t), func() storage.PersonKeyStore {
			v, err := vault.Open(context.Background(), vault.Config{URL: pgtest.VaultURL(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(v.Close)
			return v
		})
	})
}

// TestDeleteWithoutVaultRefused: a server without the person-key store
// (started before the keys moved) refuses to delete a person whose key is
// there, rather than delete the row and leave the key behind.
func TestDeleteWithoutVaultRefused(t *testing.T) {
	vaultBackends(t, func(t *testing.T, raw storage.Store, v storage.PersonKeyStore) {
		ctx := context.Background()
		bare := newStore(t, raw, secretA)
		s := newVaultStore(t, raw, v, secretA)
		p := person("vaulted")
		create(t, s, p)
		err := bare.DeleteUser(ctx, p.ID)
		if err == nil || !strings.Contains(err.Error(), "IDVAUTH_PERSON_KEYS_DATABASE_URL") {
			t.Errorf("DeleteUser without the person-key store = %v; want it refused, naming the setting", err)
		}
		wantReadable(t, s, p)
		wantVaultKeys(t, v, 1)
		if err := s.DeleteUser(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		wantVaultKeys(t, v, 0)
	})
}

// TestSealUserKeepsConcurrentUpdate: a move of a key kept in the main
// store (MoveKeys, or Rewrap) read the row before a profile change that
// kept the key; its write is refused, not let undo the change.
func TestSealUserKeepsConcurrentUpdate(t *testing.T) {
	backends(t, func(t *testing.T, raw storage.Store) {
		ctx := context.Background()
		s := newStore(t, raw, secretA)
		p := person("racing")
		create(t, s, p)
		old, err := raw.GetUser(ctx, p.ID)
		if err != nil || old.Sealed == nil || old.Sealed.Key == nil {
			t.Fatalf("the row = %+v, %v; want its key in the main store", old, err)
		}
		changed := p
		changed.Email = "changed@example.org"
		if err := s.UpdateUser(ctx, changed); err != nil {
			t.Fatal(err)
		}
		moved := old
		q := *old.Sealed
		q.Key, q.KEK, q.KeyRef = nil, "", vaultRef
		moved.Sealed = &q
		if err := raw.SealUser(ctx, old, moved); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("SealUser over a profile changed meanwhile = %v; want ErrConflict", err)
		}
		if got, err := s.GetUser(ctx, p.ID); err != nil || got.Email != changed.Email {
			t.Errorf("after the refused move the person reads %+v, %v; want the changed email", got, err)
		}
	})
}

// TestUpdateRacingMoveKeepsKeyInVault: a profile change that read the row
// while its key was in the main store, written after MoveKeys moved the
// key, does not put the key back in the main store (where backups would
// keep it past an erasure); the person stays readable.
func TestUpdateRacingMoveKeepsKeyInVault(t *testing.T) {
	vaultBackends(t, func(t *testing.T, raw storage.Store, v storage.PersonKeyStore) {
		ctx := context.Background()
		p := person("racing")
		create(t, newStore(t, raw, secretA), p) // key in the main store
		s := newVaultStore(t, raw, v, secretA)
		changed := p
		changed.Name = "Changed Name"
		su, err := s.SealProfile(ctx, changed) // the update's read
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.MoveKeys(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if err := raw.UpdateUser(ctx, su); err != nil { // the update's write
			t.Fatal(err)
		}
		if here, _, err := raw.CountKeyPlaces(ctx); err != nil || here != 0 {
			t.Errorf("%d data keys in the main store after the update (%v); want 0", here, err)
		}
		if got, err := s.GetUser(ctx, p.ID); err != nil || got.Name != changed.Name {
			t.Errorf("the person reads %+v, %v; want the changed name", got, err)
		}
		wantVaultKeys(t, v, 1)
	})
}
