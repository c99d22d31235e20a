// Package usertest is the part of the storage contract about changing a
// person in place (UserStore.UpdateUser); storagetest.Run runs it with the
// rest.
package usertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"

	"github.com/idvauth/idvauth/storage"
)

// Tests are the contract tests of UpdateUser; each takes a fresh, empty
// store.
var Tests = []struct {
	Name string
	Fn   func(t *testing.T, s storage.Store)
}{
	{"UpdateUser", testUpdateUser},
	{"BrowserSessionDevice", testBrowserSessionDevice},
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

// testUpdateUser: UpdateUser replaces the profile and the password hash,
// keeps the ID and CreatedAt, frees the old username, refuses a username
// another person has (changing nothing) and an unknown ID.
func testUpdateUser(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a := fixture.MustCreateUser(t, s, "upd-a")
	b := fixture.MustCreateUser(t, s, "upd-b")

	want := a
	want.Username, want.Name, want.Email = fixture.ID("renamed"), "Ada Lovelace", "ada@example.net"
	want.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2g"
	want.UpdatedAt = a.UpdatedAt.Add(time.Hour)
	moved := want
	moved.CreatedAt = a.CreatedAt.Add(-time.Hour) // must be ignored
	if err := s.UpdateUser(ctx, moved); err != nil {
		t.Fatalf("UpdateUser() = %v", err)
	}
	got, err := s.GetUser(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalUser(t, got, want)
	if got, err := s.GetUserByUsername(ctx, want.Username); err != nil || got.ID != a.ID {
		t.Errorf("GetUserByUsername(new) = %q, %v, want %q", got.ID, err, a.ID)
	}
	if _, err := s.GetUserByUsername(ctx, a.Username); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetUserByUsername(old) = %v, want ErrNotFound", err)
	}

	// The old username is free again.
	c := fixture.NewUser("upd-c")
	c.Username = a.Username
	if err := s.CreateUser(ctx, c); err != nil {
		t.Errorf("CreateUser(old username) = %v", err)
	}

	taken := want
	taken.Username, taken.Name = b.Username, "Someone else"
	if err := s.UpdateUser(ctx, taken); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("UpdateUser(taken username) = %v, want ErrAlreadyExists", err)
	}
	if got, _ := s.GetUser(ctx, a.ID); got.Name != want.Name || got.Username != want.Username {
		t.Errorf("after a refused update user = %+v, want unchanged", got)
	}

	ghost := fixture.NewUser("upd-ghost")
	if err := s.UpdateUser(ctx, ghost); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UpdateUser(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetUser(ctx, ghost.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UpdateUser(unknown) created it: %v", err)
	}
}

// testBrowserSessionDevice: a session keeps its device summary, read back
// alone and in the person's list.
func testBrowserSessionDevice(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u := fixture.MustCreateUser(t, s, "device")
	at := time.Now().UTC().Truncate(time.Second)
	bs := storage.BrowserSession{ID: fixture.ID("sess"), UserID: u.ID, AuthTime: at, ExpiresAt: at.Add(time.Hour), AMR: []string{"pwd"}, Device: "Firefox on Linux"}
	if err := s.CreateBrowserSession(ctx, bs); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetBrowserSession(ctx, bs.ID)
	if err != nil || got.Device != bs.Device {
		t.Fatalf("GetBrowserSession = %+v, %v; want device %q", got, err, bs.Device)
	}
	list, err := s.ListBrowserSessions(ctx, u.ID)
	if err != nil || len(list) != 1 || list[0].Device != bs.Device {
		t.Fatalf("ListBrowserSessions = %+v, %v; want one with device %q", list, err, bs.Device)
	}
}
