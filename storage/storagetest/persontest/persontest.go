// Package persontest is the part of the storage contract about sealed
// people (storage.PersonStore and sealed users in UserStore): the store
// keeps the sealed bytes it is given, finds people by blind index only,
// and seals or rewraps a row only if it did not change meanwhile;
// storagetest.Run runs it with the rest.
package persontest

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"

	"github.com/idvauth/idvauth/storage"
)

// Tests are the contract tests of sealed people; each takes a fresh,
// empty store.
var Tests = []struct {
	Name string
	Fn   func(t *testing.T, s storage.Store)
}{
	{"SealedUserCRUD", testSealedUserCRUD},
	{"SealedUsernameIndexUnique", testSealedUsernameIndexUnique},
	{"SealUserOnlyIfUnchanged", testSealUserOnlyIfUnchanged},
	{"ListUsersByIDPages", testListUsersByIDPages},
	{"SetFactorSecretOnlyIfUnchanged", testSetFactorSecret},
	{"KeyElsewhere", testKeyElsewhere},
}

// newProfile returns distinct bytes standing for a sealed profile (the
// store never looks inside).
func newProfile() *storage.Profile {
	b := func(p string) []byte { return []byte(fixture.ID(p)) }
	return &storage.Profile{Key: b("key"), KEK: "local:" + fixture.ID("kek"), UsernameIndex: b("uix"), EmailIndex: b("eix"),
		Username: b("su"), Name: b("sn"), Email: b("se")}
}

func newSealedUser() storage.User {
	u := fixture.NewUser("sealed")
	u.Username, u.Name, u.Email, u.Sealed = "", "", "", newProfile()
	return u
}

func equalSealed(t testing.TB, got, want storage.User) {
	t.Helper()
	if got.Sealed == nil || want.Sealed == nil || !reflect.DeepEqual(*got.Sealed, *want.Sealed) {
		t.Errorf("sealed profile of %s = %+v, want %+v", want.ID, got.Sealed, want.Sealed)
	}
	got.Sealed, want.Sealed = nil, nil
	equalUser(t, got, want)
}

func testSealedUserCRUD(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u := newSealedUser()
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser(sealed) = %v", err)
	}
	got, err := s.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalSealed(t, got, u)
	got, err = s.GetUserByIndex(ctx, [][]byte{[]byte("no such index"), u.Sealed.UsernameIndex})
	if err != nil {
		t.Fatalf("GetUserByIndex = %v", err)
	}
	equalSealed(t, got, u)
	// The bytes handed back are the caller's: changing them changes no
	// stored row.
	got.Sealed.Key[0] ^= 0xff
	if again, _ := s.GetUser(ctx, u.ID); again.Sealed == nil || !bytes.Equal(again.Sealed.Key, u.Sealed.Key) {
		t.Error("GetUser shares the stored bytes with its caller")
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUserByIndex(ctx, [][]byte{u.Sealed.EmailIndex})), "GetUserByIndex(the e-mail index)")
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUserByIndex(ctx, nil)), "GetUserByIndex(none)")
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUserByUsername(ctx, "")), "GetUserByUsername(\"\") of a sealed user")
	if n, err := s.CountPlainUsers(ctx); err != nil || n != 0 {
		t.Errorf("CountPlainUsers = %d, %v; want 0", n, err)
	}
	plain := fixture.MustCreateUser(t, s, "plain")
	if n, err := s.CountPlainUsers(ctx); err != nil || n != 1 {
		t.Errorf("CountPlainUsers = %d, %v; want 1", n, err)
	}
	list, err := s.ListUsers(ctx)
	if err != nil || len(list) != 2 || list[0].ID != plain.ID || list[1].ID != u.ID {
		t.Fatalf("ListUsers = %+v, %v; want the plain user, then the sealed one", list, err)
	}
	equalSealed(t, list[1], u)
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUser(ctx, u.ID)), "GetUser after DeleteUser")
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUserByIndex(ctx, [][]byte{u.Sealed.UsernameIndex})), "GetUserByIndex after DeleteUser")
	// The index is free again.
	u2 := newSealedUser()
	u2.Sealed.UsernameIndex = u.Sealed.UsernameIndex
	if err := s.CreateUser(ctx, u2); err != nil {
		t.Errorf("CreateUser with the index of a deleted user = %v", err)
	}
}

func testSealedUsernameIndexUnique(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a := newSealedUser()
	if err := s.CreateUser(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := newSealedUser()
	b.Sealed.UsernameIndex = a.Sealed.UsernameIndex
	if err := s.CreateUser(ctx, b); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("CreateUser with a taken username index = %v, want ErrAlreadyExists", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUser(ctx, b.ID)), "GetUser of the refused user")
	// E-mail indexes may repeat.
	c := newSealedUser()
	c.Sealed.EmailIndex = a.Sealed.EmailIndex
	if err := s.CreateUser(ctx, c); err != nil {
		t.Errorf("CreateUser with a shared e-mail index = %v", err)
	}
}

func testSealUserOnlyIfUnchanged(t *testing.T, s storage.Store) {
	ctx := context.Background()
	plain := fixture.MustCreateUser(t, s, "toseal")
	sealed := plain
	sealed.Username, sealed.Name, sealed.Email, sealed.Sealed = "", "", "", newProfile()

	stale := plain
	stale.Email = "other@example.org"
	if err := s.SealUser(ctx, stale, sealed); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("SealUser from a stale profile = %v, want ErrConflict", err)
	}
	if got, _ := s.GetUser(ctx, plain.ID); got.Sealed != nil || got.Email != plain.Email {
		t.Fatalf("a refused SealUser changed the row: %+v", got)
	}
	if err := s.SealUser(ctx, plain, sealed); err != nil {
		t.Fatalf("SealUser = %v", err)
	}
	got, err := s.GetUser(ctx, plain.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalSealed(t, got, sealed)
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUserByUsername(ctx, plain.Username)), "GetUserByUsername(plain username) after sealing")
	if _, err := s.GetUserByIndex(ctx, [][]byte{sealed.Sealed.UsernameIndex}); err != nil {
		t.Errorf("GetUserByIndex after sealing = %v", err)
	}
	if err := s.SealUser(ctx, plain, sealed); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("SealUser of a row sealed already = %v, want ErrConflict", err)
	}
	// A plain username is free once its row is sealed.
	again := fixture.NewUser("again")
	again.Username = plain.Username
	if err := s.CreateUser(ctx, again); err != nil {
		t.Errorf("CreateUser with the username of a sealed row = %v", err)
	}

	// Rewrap: from the sealed profile, by its key.
	next := sealed
	next.Sealed = newProfile()
	if err := s.SealUser(ctx, next, next); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("SealUser from an unknown key = %v, want ErrConflict", err)
	}
	if err := s.SealUser(ctx, sealed, next); err != nil {
		t.Fatalf("SealUser (rewrap) = %v", err)
	}
	got, _ = s.GetUser(ctx, plain.ID)
	equalSealed(t, got, next)
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUserByIndex(ctx, [][]byte{sealed.Sealed.UsernameIndex})), "GetUserByIndex(old index) after rewrap")

	other := newSealedUser()
	if err := s.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	taken := next
	taken.Sealed = newProfile()
	taken.Sealed.UsernameIndex = other.Sealed.UsernameIndex
	if err := s.SealUser(ctx, next, taken); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("SealUser onto a taken index = %v, want ErrAlreadyExists", err)
	}
	got, _ = s.GetUser(ctx, plain.ID)
	equalSealed(t, got, next)
	gone := fixture.NewUser("gone")
	gone.Sealed = newProfile()
	fixture.WantNotFound(t, s.SealUser(ctx, fixture.NewUser("gone"), gone), "SealUser of no user")
}

func testListUsersByIDPages(t *testing.T, s storage.Store) {
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 7 {
		u := fixture.NewUser("page")
		if i%2 == 0 {
			u = newSealedUser()
		}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		want[u.ID] = true
	}
	seen, after := map[string]bool{}, ""
	for pages := 0; ; pages++ {
		page, err := s.ListUsersByID(ctx, after, 3)
		if err != nil || pages > 3 {
			t.Fatalf("ListUsersByID(%q, 3) = %v (page %d)", after, err, pages)
		}
		for _, u := range page {
			if seen[u.ID] || u.ID <= after && after != "" {
				t.Errorf("ListUsersByID(%q) returned %s again or out of order", after, u.ID)
			}
			seen[u.ID] = true
		}
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].ID
	}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("pages held %v, want %v", seen, want)
	}
}

func equalUser(t testing.TB, got, want storage.User) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("user times = %v/%v, want %v/%v", got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("user =\n%+v\nwant\n%+v", got, want)
	}
}

func testSetFactorSecret(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u := fixture.MustCreateUser(t, s, "factor")
	f := storage.Factor{ID: fixture.ID("factor"), UserID: u.ID, Kind: storage.FactorTOTP, Secret: []byte{1, 0, 2},
		CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if err := s.CreateFactor(ctx, f); err != nil {
		t.Fatal(err)
	}
	next := []byte{0x81, 0, 9, 9}
	if err := s.SetFactorSecret(ctx, u.ID, f.ID, []byte{1, 0, 3}, next); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("SetFactorSecret from a stale secret = %v, want ErrConflict", err)
	}
	if err := s.SetFactorSecret(ctx, u.ID, f.ID, f.Secret, next); err != nil {
		t.Fatalf("SetFactorSecret = %v", err)
	}
	fs, err := s.ListFactors(ctx, u.ID)
	if err != nil || len(fs) != 1 || !bytes.Equal(fs[0].Secret, next) {
		t.Errorf("ListFactors after SetFactorSecret = %+v, %v; want the new secret", fs, err)
	}
	other := fixture.MustCreateUser(t, s, "other")
	fixture.WantNotFound(t, s.SetFactorSecret(ctx, other.ID, f.ID, next, f.Secret), "SetFactorSecret of another user's factor")
	fixture.WantNotFound(t, s.SetFactorSecret(ctx, u.ID, "no-such-factor", next, f.Secret), "SetFactorSecret of no factor")
}
