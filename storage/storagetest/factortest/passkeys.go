package factortest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"

	"github.com/idvauth/idvauth/storage"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func newPasskey(userID string) storage.Passkey {
	return storage.Passkey{ID: fixture.ID("pk"), UserID: userID, CredentialID: randomBytes(32), UserHandle: randomBytes(32),
		Name: "laptop", Credential: []byte(`{"publicKey":"AQID"}`), CreatedAt: fixture.Now()}
}

func mustCreatePasskey(t testing.TB, s storage.Store, p storage.Passkey) {
	t.Helper()
	if err := s.CreatePasskey(context.Background(), p); err != nil {
		t.Fatalf("CreatePasskey = %v", err)
	}
}

func wantPasskeys(t testing.TB, s storage.Store, userID string, want ...storage.Passkey) {
	t.Helper()
	got, err := s.ListPasskeys(context.Background(), userID)
	if err != nil {
		t.Fatalf("ListPasskeys = %v", err)
	}
	if got == nil || len(got) != len(want) {
		t.Fatalf("ListPasskeys = %d passkeys (nil: %t), want %d (never nil)", len(got), got == nil, len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.CreatedAt.Equal(w.CreatedAt) || !g.LastUsedAt.Equal(w.LastUsedAt) {
			t.Errorf("passkey %d times = %v/%v, want %v/%v", i, g.CreatedAt, g.LastUsedAt, w.CreatedAt, w.LastUsedAt)
		}
		g.CreatedAt, g.LastUsedAt, w.CreatedAt, w.LastUsedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("passkey %d =\n%+v\nwant\n%+v", i, g, w)
		}
	}
}

// testPasskeys: a passkey round-trips, is found by its credential ID, is
// one per ID and per credential ID, needs its user, several per person,
// and only its owner renames or deletes it.
func testPasskeys(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u, v := fixture.MustCreateUser(t, s, "u"), fixture.MustCreateUser(t, s, "v")
	wantPasskeys(t, s, u.ID)
	p := newPasskey(u.ID)
	mustCreatePasskey(t, s, p)
	given := p.Credential
	p.Credential = bytes.Clone(given)
	given[0] = 'X' // the store kept a copy
	q := newPasskey(u.ID)
	q.CreatedAt = p.CreatedAt.Add(time.Second)
	q.UserHandle = p.UserHandle
	mustCreatePasskey(t, s, q)
	wantPasskeys(t, s, u.ID, p, q)
	wantPasskeys(t, s, v.ID)

	got, err := s.GetPasskey(ctx, q.CredentialID)
	if err != nil || got.ID != q.ID || got.UserID != u.ID || !bytes.Equal(got.UserHandle, q.UserHandle) {
		t.Errorf("GetPasskey = %+v, %v; want %s", got, err, q.ID)
	}
	_, err = s.GetPasskey(ctx, randomBytes(32))
	fixture.WantNotFound(t, err, "GetPasskey(unknown)")
	_, err = s.GetPasskey(ctx, nil)
	fixture.WantNotFound(t, err, "GetPasskey(empty)")

	sameID := newPasskey(v.ID)
	sameID.ID = p.ID
	if err := s.CreatePasskey(ctx, sameID); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("CreatePasskey(taken ID) = %v, want ErrAlreadyExists", err)
	}
	sameCred := newPasskey(v.ID)
	sameCred.CredentialID = bytes.Clone(p.CredentialID)
	if err := s.CreatePasskey(ctx, sameCred); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("CreatePasskey(taken credential ID) = %v, want ErrAlreadyExists", err)
	}
	fixture.WantNotFound(t, s.CreatePasskey(ctx, newPasskey(fixture.ID("ghost"))), "CreatePasskey(missing user)")
	bad := newPasskey(v.ID)
	bad.Name = "a\x00b"
	if err := s.CreatePasskey(ctx, bad); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreatePasskey(NUL in name) = %v, want ErrConflict", err)
	}
	wantPasskeys(t, s, v.ID)

	wantKept(t, s.RenamePasskey(ctx, u.ID, q.ID, "security key"), "RenamePasskey")
	q.Name = "security key"
	fixture.WantNotFound(t, s.RenamePasskey(ctx, v.ID, q.ID, "mine"), "RenamePasskey(another person's)")
	fixture.WantNotFound(t, s.RenamePasskey(ctx, u.ID, fixture.ID("nopk"), "x"), "RenamePasskey(unknown)")
	if err := s.RenamePasskey(ctx, u.ID, q.ID, "a\x00b"); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("RenamePasskey(NUL) = %v, want ErrConflict", err)
	}
	wantPasskeys(t, s, u.ID, p, q)

	fixture.WantNotFound(t, s.DeletePasskey(ctx, v.ID, p.ID), "DeletePasskey(another person's)")
	wantKept(t, s.DeletePasskey(ctx, u.ID, p.ID), "DeletePasskey")
	fixture.WantNotFound(t, s.DeletePasskey(ctx, u.ID, p.ID), "DeletePasskey(again)")
	fixture.WantNotFound(t, s.DeletePasskey(ctx, "a\x00b", "\xff"), "DeletePasskey(odd IDs)")
	wantPasskeys(t, s, u.ID, q)
}

// testPasskeyCounter: the sign counter only goes forward, but for an
// authenticator without one (0 stays 0); a counter that goes back or
// stays is refused and changes nothing.
func testPasskeyCounter(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u, v := fixture.MustCreateUser(t, s, "u"), fixture.MustCreateUser(t, s, "v")
	zero, p := newPasskey(u.ID), newPasskey(u.ID)
	p.SignCount = 5
	mustCreatePasskey(t, s, zero)
	mustCreatePasskey(t, s, p)

	t1 := fixture.Now().Add(time.Minute)
	wantKept(t, s.UsePasskey(ctx, u.ID, zero.ID, 0, t1), "UsePasskey(0 after 0)")
	zero.LastUsedAt = t1
	wantKept(t, s.UsePasskey(ctx, u.ID, p.ID, 6, t1), "UsePasskey(6 after 5)")
	p.SignCount, p.LastUsedAt = 6, t1
	for _, c := range []int64{6, 5, 0} {
		if err := s.UsePasskey(ctx, u.ID, p.ID, c, t1.Add(time.Second)); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("UsePasskey(%d after 6) = %v, want ErrConflict", c, err)
		}
	}
	fixture.WantNotFound(t, s.UsePasskey(ctx, v.ID, p.ID, 100, t1), "UsePasskey(another person's)")
	fixture.WantNotFound(t, s.UsePasskey(ctx, u.ID, fixture.ID("nopk"), 100, t1), "UsePasskey(unknown)")
	fixture.WantNotFound(t, s.UsePasskey(ctx, "a\x00b", "\xff", 100, t1), "UsePasskey(odd IDs)")
	ps, err := s.ListPasskeys(ctx, u.ID)
	if err != nil || len(ps) != 2 {
		t.Fatalf("ListPasskeys = %d, %v", len(ps), err)
	}
	for _, got := range ps {
		want := p
		if got.ID == zero.ID {
			want = zero
		}
		if got.SignCount != want.SignCount || !got.LastUsedAt.Equal(want.LastUsedAt) {
			t.Errorf("passkey %s: count %d used %v, want %d, %v", got.ID, got.SignCount, got.LastUsedAt, want.SignCount, want.LastUsedAt)
		}
	}
}

// testConcurrentUsePasskeyOneWins: of concurrent uses with one counter
// (one assertion sent many times at once), exactly one succeeds.
func testConcurrentUsePasskeyOneWins(t *testing.T, s storage.Store) {
	u := fixture.MustCreateUser(t, s, "u")
	p := newPasskey(u.ID)
	mustCreatePasskey(t, s, p)
	const n = 16
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			switch err := s.UsePasskey(context.Background(), u.ID, p.ID, 7, fixture.Now()); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, storage.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("UsePasskey = %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != n-1 {
		t.Errorf("%d concurrent UsePasskey: %d won, %d conflicted; want 1 and %d", n, wins.Load(), conflicts.Load(), n-1)
	}
}

// testDeletePasskeys: an MFA reset (DeleteFactors) removes the person's
// passkeys and counts them; deleting the person removes them too; other
// people's stay.
func testDeletePasskeys(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u, v := fixture.MustCreateUser(t, s, "u"), fixture.MustCreateUser(t, s, "v")
	mustCreateFactor(t, s, newFactor(u.ID))
	mustCreatePasskey(t, s, newPasskey(u.ID))
	mustCreatePasskey(t, s, newPasskey(u.ID))
	kept := newPasskey(v.ID)
	mustCreatePasskey(t, s, kept)
	if n, err := s.DeleteFactors(ctx, u.ID); n != 3 || err != nil {
		t.Errorf("DeleteFactors = %d, %v; want 3 (a TOTP factor and two passkeys), nil", n, err)
	}
	wantPasskeys(t, s, u.ID)
	wantPasskeys(t, s, v.ID, kept)
	if err := s.DeleteUser(ctx, v.ID); err != nil {
		t.Fatalf("DeleteUser = %v", err)
	}
	_, err := s.GetPasskey(ctx, kept.CredentialID)
	fixture.WantNotFound(t, err, "GetPasskey(of a deleted person)")
}
