package seal

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
	"github.com/idvauth/idvauth/storage/postgres/vault"
)

// vaultBackends runs fn on a memory store with a memory vault, and on a
// fresh PostgreSQL schema with a PostgreSQL vault in a database of its own.
func vaultBackends(t *testing.T, fn func(t *testing.T, raw storage.Store, v storage.PersonKeyStore)) {
	t.Run("memory", func(t *testing.T) { fn(t, memory.New(), memory.NewPersonKeys()) })
	t.Run("postgres", func(t *testing.T) {
		v, err := vault.Open(context.Background(), vault.Config{URL: pgtest.VaultURL(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Close)
		fn(t, pgtest.Open(t), v)
	})
}

func newVaultStore(t testing.TB, raw storage.Store, v storage.PersonKeyStore, secrets ...string) *Store {
	t.Helper()
	kp, err := NewLocal(secrets, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), Config{Store: raw, Keys: kp, Secrets: secrets, Vault: v})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantVaultKeys(t testing.TB, v storage.PersonKeyStore, want int) {
	t.Helper()
	if n, err := v.CountPersonKeys(context.Background()); err != nil || n != want {
		t.Errorf("the vault holds %d keys (%v), want %d", n, err, want)
	}
}

// TestVaultShredsDumps: with a vault, a copy of the main store taken
// before an erasure holds no key; it opens with the current secrets and
// vault before the erasure (so the check can fail) and opens nothing
// after it, without retiring any secret. The others stay readable.
func TestVaultShredsDumps(t *testing.T) {
	vaultBackends(t, func(t *testing.T, raw storage.Store, v storage.PersonKeyStore) {
		ctx := context.Background()
		s := newVaultStore(t, raw, v, secretA)
		a, b := person("erased"), person("kept")
		create(t, s, a)
		create(t, s, b)
		wantReadable(t, s, a)
		wantVaultKeys(t, v, 2)
		// A person the backend refuses (a username taken) leaves no key.
		dup := person("dup")
		dup.Username = b.Username
		if err := s.CreateUser(ctx, dup); !errors.Is(err, storage.ErrAlreadyExists) {
			t.Errorf("CreateUser with a taken username = %v, want ErrAlreadyExists", err)
		}
		wantVaultKeys(t, v, 2)
		before := dump(t, raw)
		old := before[a.ID]
		if old.Sealed == nil || old.Sealed.Key != nil || old.Sealed.KEK != "" || old.Sealed.KeyRef != vaultRef {
			t.Fatalf("the main store keeps %+v; want a sealed profile with a reference and no key", old.Sealed)
		}
		if here, elsewhere, err := raw.CountKeyPlaces(ctx); err != nil || here != 0 || elsewhere != 2 {
			t.Errorf("CountKeyPlaces = %d, %d, %v; want 0 keys in the main store, 2 elsewhere", here, elsewhere, err)
		}
		if got, _, err := s.open(ctx, old); err != nil || got.Email != a.Email {
			t.Fatalf("open(copy) before the erasure = %+v, %v; the check below would prove nothing", got, err)
		}
		if err := s.DeleteUser(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.open(ctx, old); !errors.Is(err, ErrSealed) {
			t.Errorf("open(copy taken before the erasure) with the current secrets and vault = %v, want ErrSealed", err)
		}
		wantVaultKeys(t, v, 1)
		wantReadable(t, s, b)
		wantNotFoundErr(t, errOf(s.GetUserByUsername(ctx, a.Username)), "GetUserByUsername(erased)")
		// A retried erasure finds no row, and still leaves no key.
		wantNotFoundErr(t, s.DeleteUser(ctx, a.ID), "DeleteUser(erased)")

		// The main store restored from the copy: the erased row is back
		// without a key. A server starts on it (the check of the secrets
		// passes over that row), finds the erased person nowhere, and
		// reads the others.
		create(t, raw, old)
		restored := newVaultStore(t, raw, v, secretA)
		wantNotFoundErr(t, errOf(restored.GetUser(ctx, a.ID)), "GetUser(erased, restored row)")
		list, err := restored.ListUsers(ctx)
		if err != nil || len(list) != 1 || list[0].ID != b.ID {
			t.Errorf("ListUsers over the restored rows = %+v, %v; want only %s", list, err, b.ID)
		}
		wantReadable(t, restored, b)
		if err := restored.DeleteUser(ctx, a.ID); err != nil {
			t.Errorf("erasing the restored row again = %v", err)
		}
	})
}

// TestMoveKeys: people sealed without a vault (and one still plain) are
// read by a server with a vault while their keys move, MoveKeys moves
// every key (a second run has nothing to do), and the erasure of a moved
// person then shreds a copy taken after the move.
func TestMoveKeys(t *testing.T) {
	vaultBackends(t, func(t *testing.T, raw storage.Store, v storage.PersonKeyStore) {
		ctx := context.Background()
		before := newStore(t, raw, secretA)
		var people []storage.User
		for i := range 4 {
			u := person(fmt.Sprint("mv", i))
			create(t, before, u)
			people = append(people, u)
		}
		s := newVaultStore(t, raw, v, secretA)
		fresh := person("fresh")
		create(t, s, fresh) // straight into the vault
		for _, u := range append(people, fresh) {
			wantReadable(t, s, u) // both forms
		}
		// An interrupted earlier run left the first person's key in the
		// vault; a key of another data key (which no run makes) is not
		// adopted.
		rows := dump(t, raw)
		k0 := rows[people[0].ID].Sealed
		if err := v.CreatePersonKey(ctx, storage.PersonKey{UserID: people[0].ID, Wrapped: k0.Key, KEK: k0.KEK}); err != nil {
			t.Fatal(err)
		}
		stray, _ := NewLocal([]string{secretA}, nil)
		w, kek, _ := stray.Wrap(ctx, make([]byte, dekLen), keyAAD(people[1].ID))
		if err := v.CreatePersonKey(ctx, storage.PersonKey{UserID: people[1].ID, Wrapped: w, KEK: kek}); err != nil {
			t.Fatal(err)
		}
		pr, err := s.MoveKeys(ctx, 2)
		if err != nil || pr.Changed != len(people)-1 || pr.Skipped != 1 || pr.KeysLeft != 1 {
			t.Fatalf("MoveKeys = %+v, %v; want %d moved, the one with a foreign key in the vault skipped and left", pr, err, len(people)-1)
		}
		wantReadable(t, s, people[1])
		if err := v.DeletePersonKey(ctx, people[1].ID); err != nil {
			t.Fatal(err)
		}
		if pr, err := s.MoveKeys(ctx, 0); err != nil || pr.Changed != 1 || pr.KeysLeft != 0 {
			t.Fatalf("MoveKeys after the stray key went = %+v, %v; want the last one moved, none left", pr, err)
		}
		if pr, err := s.MoveKeys(ctx, 0); err != nil || pr.Changed != 0 {
			t.Errorf("a second MoveKeys = %+v, %v; want nothing to do", pr, err)
		}
		wantVaultKeys(t, v, len(people)+1)
		after := dump(t, raw)
		for _, u := range append(people, fresh) {
			if p := after[u.ID].Sealed; p.Key != nil || p.KeyRef != vaultRef {
				t.Errorf("%s: the main store keeps %+v after the move, want a reference and no key", u.ID, p)
			}
			wantReadable(t, s, u)
		}
		// A server without the vault is refused now: it could read no one.
		kp, _ := NewLocal([]string{secretA}, nil)
		if _, err := New(ctx, Config{Store: raw, Keys: kp, Secrets: []string{secretA}}); err == nil {
			t.Error("New without a vault over keys in a vault succeeded")
		}
		if err := s.DeleteUser(ctx, people[2].ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.open(ctx, after[people[2].ID]); !errors.Is(err, ErrSealed) {
			t.Errorf("open(copy of a moved, erased person) = %v, want ErrSealed", err)
		}
	})
}

// TestRewrapVault: a rotation of the secrets rewraps the keys in the
// vault, and the people then read under the new secret alone.
func TestRewrapVault(t *testing.T) {
	vaultBackends(t, func(t *testing.T, raw storage.Store, v storage.PersonKeyStore) {
		ctx := context.Background()
		s := newVaultStore(t, raw, v, secretA)
		var people []storage.User
		for i := range 3 {
			u := person(fmt.Sprint("rv", i))
			create(t, s, u)
			people = append(people, u)
		}
		rotated := newVaultStore(t, raw, v, secretB, secretA)
		pr, err := rotated.Rewrap(ctx, 2)
		if err != nil || pr.Changed != len(people) {
			t.Fatalf("Rewrap = %+v, %v; want %d rewrapped", pr, err, len(people))
		}
		for _, u := range people {
			k, err := v.GetPersonKey(ctx, u.ID)
			if err != nil || k.KEK != rotated.keys.Current() {
				t.Errorf("%s: vault key %+v, %v; want it under %s", u.ID, k, err, rotated.keys.Current())
			}
		}
		if pr, err := rotated.Rewrap(ctx, 0); err != nil || pr.Changed != 0 {
			t.Errorf("second Rewrap = %+v, %v; want nothing to do", pr, err)
		}
		current := newVaultStore(t, raw, v, secretB)
		for _, u := range people {
			wantReadable(t, current, u)
		}
	})
}

// racingStore deletes the person just before SealUser: a walk finds the
// row gone after it stored the key in the vault.
type racingStore struct{ storage.Store }

func (r racingStore) SealUser(ctx context.Context, old, u storage.User) error {
	if err := r.Store.DeleteUser(ctx, u.ID); err != nil {
		return err
	}
	return r.Store.SealUser(ctx, old, u)
}

// TestMoveRacesErasure: a person erased while their key moves leaves no
// key in the vault.
func TestMoveRacesErasure(t *testing.T) {
	vaultBackends(t, func(t *testing.T, raw storage.Store, v storage.PersonKeyStore) {
		ctx := context.Background()
		u := person("racer")
		create(t, newStore(t, raw, secretA), u)
		s := newVaultStore(t, racingStore{raw}, v, secretA)
		pr, err := s.MoveKeys(ctx, 0)
		if err != nil || pr.Skipped != 1 {
			t.Fatalf("MoveKeys = %+v, %v; want the person skipped", pr, err)
		}
		wantVaultKeys(t, v, 0)
	})
}

// TestSealPlainIntoVault: people stored in plain text are sealed with
// their keys in the vault; one whose key an interrupted run left there
// is sealed under that very key (adopted, not replaced), so that a row a
// concurrent step wrote naming it stays readable.
func TestSealPlainIntoVault(t *testing.T) {
	vaultBackends(t, func(t *testing.T, raw storage.Store, v storage.PersonKeyStore) {
		ctx := context.Background()
		a, b := person("plainA"), person("plainB")
		create(t, raw, a) // plain: straight into the backend
		create(t, raw, b)
		s := newVaultStore(t, raw, v, secretA)
		kp, _ := NewLocal([]string{secretA}, nil)
		w, kek, err := kp.Wrap(ctx, []byte("0123456789abcdef0123456789abcdef"), keyAAD(a.ID))
		if err != nil {
			t.Fatal(err)
		}
		if err := v.CreatePersonKey(ctx, storage.PersonKey{UserID: a.ID, Wrapped: w, KEK: kek}); err != nil {
			t.Fatal(err)
		}
		pr, err := s.SealPlain(ctx, 1)
		if err != nil || pr.Changed != 2 || pr.Left != 0 || pr.KeysLeft != 0 {
			t.Fatalf("SealPlain = %+v, %v; want 2 sealed into the vault", pr, err)
		}
		for _, u := range []storage.User{a, b} {
			wantReadable(t, s, u)
		}
		if k, err := v.GetPersonKey(ctx, a.ID); err != nil || string(k.Wrapped) != string(w) {
			t.Errorf("the key left in the vault was replaced: %v", err)
		}
		wantVaultKeys(t, v, 2)
	})
}
