package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage"
)

// testUpdateUser: UpdateUser replaces the profile and the password hash,
// keeps the ID and CreatedAt, frees the old username, refuses a username
// another person has (changing nothing) and an unknown ID.
func testUpdateUser(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a := mustCreateUser(t, s, "upd-a")
	b := mustCreateUser(t, s, "upd-b")

	want := a
	want.Username, want.Name, want.Email = id("renamed"), "Ada Lovelace", "ada@example.net"
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
	c := newUser("upd-c")
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

	ghost := newUser("upd-ghost")
	if err := s.UpdateUser(ctx, ghost); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UpdateUser(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetUser(ctx, ghost.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UpdateUser(unknown) created it: %v", err)
	}
}
