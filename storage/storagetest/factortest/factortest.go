// Package factortest is the part of the storage contract about people's
// second factors and the methods a browser session was authenticated
// with; storagetest.Run runs it with the rest.
package factortest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"

	"github.com/idvauth/idvauth/storage"
)

// Tests are the contract tests of FactorStore and of a browser session's
// authentication methods; each takes a fresh, empty store.
var Tests = []struct {
	Name string
	Fn   func(t *testing.T, s storage.Store)
}{
	{"Factors", testFactors},
	{"ConcurrentAdvanceFactorOneWins", testConcurrentAdvanceFactorOneWins},
	{"RecoveryCodes", testRecoveryCodes},
	{"ConcurrentRecoveryCodeOneWins", testConcurrentRecoveryCodeOneWins},
	{"DeleteUserDeletesFactors", testDeleteUserDeletesFactors},
	{"BrowserSessionAMR", testBrowserSessionAMR},
	{"Passkeys", testPasskeys},
	{"PasskeyCounter", testPasskeyCounter},
	{"ConcurrentUsePasskeyOneWins", testConcurrentUsePasskeyOneWins},
	{"DeleteFactorsAndUserDeletePasskeys", testDeletePasskeys},
}

func newFactor(userID string) storage.Factor {
	return storage.Factor{ID: fixture.ID("factor"), UserID: userID, Kind: storage.FactorTOTP, Name: "phone",
		Secret: []byte{1, 2, 3, 0, 255}, Counter: 0, CreatedAt: fixture.Now()}
}

func mustCreateFactor(t testing.TB, s storage.Store, f storage.Factor) {
	t.Helper()
	if err := s.CreateFactor(context.Background(), f); err != nil {
		t.Fatalf("CreateFactor = %v", err)
	}
}

func wantFactors(t testing.TB, s storage.Store, userID string, want ...storage.Factor) {
	t.Helper()
	got, err := s.ListFactors(context.Background(), userID)
	if err != nil {
		t.Fatalf("ListFactors = %v", err)
	}
	if got == nil || len(got) != len(want) {
		t.Fatalf("ListFactors = %+v, want %d factors (never nil)", got, len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.CreatedAt.Equal(w.CreatedAt) || !g.LastUsedAt.Equal(w.LastUsedAt) {
			t.Errorf("factor %d times = %v/%v, want %v/%v", i, g.CreatedAt, g.LastUsedAt, w.CreatedAt, w.LastUsedAt)
		}
		g.CreatedAt, g.LastUsedAt, w.CreatedAt, w.LastUsedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("factor %d =\n%+v\nwant\n%+v", i, g, w)
		}
	}
}

// testFactors: a factor round-trips, is one per ID and one TOTP per
// person, needs its user, and its counter only goes up.
func testFactors(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u, v := fixture.MustCreateUser(t, s, "u"), fixture.MustCreateUser(t, s, "v")
	wantFactors(t, s, u.ID)
	f := newFactor(u.ID)
	mustCreateFactor(t, s, f)
	given := f.Secret
	f.Secret = bytes.Clone(given)
	given[0] = 9 // the store kept a copy
	wantFactors(t, s, u.ID, f)

	sameID := newFactor(v.ID)
	sameID.ID = f.ID
	if err := s.CreateFactor(ctx, sameID); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("CreateFactor(taken ID) = %v, want ErrAlreadyExists", err)
	}
	if err := s.CreateFactor(ctx, newFactor(u.ID)); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("CreateFactor(second TOTP) = %v, want ErrAlreadyExists", err)
	}
	if err := s.CreateFactor(ctx, newFactor(fixture.ID("ghost"))); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("CreateFactor(missing user) = %v, want ErrNotFound", err)
	}
	if err := s.CreateFactor(ctx, storage.Factor{ID: fixture.ID("f"), UserID: v.ID, Kind: storage.FactorTOTP, Name: "a\x00b", CreatedAt: fixture.Now()}); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateFactor(NUL in name) = %v, want ErrConflict", err)
	}
	wantFactors(t, s, v.ID)

	t1 := fixture.Now().Add(time.Minute)
	if err := s.AdvanceFactor(ctx, u.ID, f.ID, 100, t1); err != nil {
		t.Fatalf("AdvanceFactor(100) = %v", err)
	}
	f.Counter, f.LastUsedAt = 100, t1
	wantFactors(t, s, u.ID, f)
	for _, c := range []int64{100, 99, -1} {
		if err := s.AdvanceFactor(ctx, u.ID, f.ID, c, t1.Add(time.Second)); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("AdvanceFactor(%d after 100) = %v, want ErrConflict", c, err)
		}
	}
	wantFactors(t, s, u.ID, f)
	fixture.WantNotFound(t, s.AdvanceFactor(ctx, v.ID, f.ID, 200, t1), "AdvanceFactor(another user's factor)")
	fixture.WantNotFound(t, s.AdvanceFactor(ctx, u.ID, fixture.ID("nofactor"), 200, t1), "AdvanceFactor(unknown factor)")
	fixture.WantNotFound(t, s.AdvanceFactor(ctx, "a\x00b", "\xff", 200, t1), "AdvanceFactor(odd IDs)")

	other := newFactor(v.ID)
	mustCreateFactor(t, s, other)
	if n, err := s.DeleteFactors(ctx, u.ID); n != 1 || err != nil {
		t.Errorf("DeleteFactors = %d, %v; want 1, nil", n, err)
	}
	wantFactors(t, s, u.ID)
	wantFactors(t, s, v.ID, other)
	if n, err := s.DeleteFactors(ctx, u.ID); n != 0 || err != nil {
		t.Errorf("DeleteFactors(none left) = %d, %v; want 0, nil", n, err)
	}
	// A TOTP factor may be enrolled again once the old one is gone.
	mustCreateFactor(t, s, newFactor(u.ID))
}

// testConcurrentAdvanceFactorOneWins: of concurrent advances to one
// counter (one TOTP code sent many times at once), exactly one succeeds.
func testConcurrentAdvanceFactorOneWins(t *testing.T, s storage.Store) {
	u := fixture.MustCreateUser(t, s, "u")
	f := newFactor(u.ID)
	mustCreateFactor(t, s, f)
	const n = 16
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			switch err := s.AdvanceFactor(context.Background(), u.ID, f.ID, 5, fixture.Now()); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, storage.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("AdvanceFactor = %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != n-1 {
		t.Errorf("%d concurrent AdvanceFactor: %d won, %d conflicted; want 1 and %d", n, wins.Load(), conflicts.Load(), n-1)
	}
}

func digests(codes ...string) [][]byte {
	var out [][]byte
	for _, c := range codes {
		d := sha256.Sum256([]byte(c))
		out = append(out, d[:])
	}
	return out
}

func wantCodesLeft(t testing.TB, s storage.Store, userID string, want int) {
	t.Helper()
	if n, err := s.RecoveryCodesLeft(context.Background(), userID); n != want || err != nil {
		t.Errorf("RecoveryCodesLeft = %d, %v; want %d", n, err, want)
	}
}

// testRecoveryCodes: codes are per person, each usable once, and a new
// set replaces the old.
func testRecoveryCodes(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u, v := fixture.MustCreateUser(t, s, "u"), fixture.MustCreateUser(t, s, "v")
	old := digests("a", "b", "c")
	if err := s.SetRecoveryCodes(ctx, u.ID, old, fixture.Now()); err != nil {
		t.Fatalf("SetRecoveryCodes = %v", err)
	}
	wantCodesLeft(t, s, u.ID, 3)
	wantCodesLeft(t, s, v.ID, 0)
	if err := s.UseRecoveryCode(ctx, u.ID, old[1], fixture.Now()); err != nil {
		t.Fatalf("UseRecoveryCode = %v", err)
	}
	wantCodesLeft(t, s, u.ID, 2)
	fixture.WantNotFound(t, s.UseRecoveryCode(ctx, u.ID, old[1], fixture.Now()), "UseRecoveryCode(used)")
	fixture.WantNotFound(t, s.UseRecoveryCode(ctx, v.ID, old[0], fixture.Now()), "UseRecoveryCode(another person's)")
	fixture.WantNotFound(t, s.UseRecoveryCode(ctx, u.ID, bytes.Repeat([]byte{0}, 32), fixture.Now()), "UseRecoveryCode(unknown)")
	fixture.WantNotFound(t, s.UseRecoveryCode(ctx, u.ID, nil, fixture.Now()), "UseRecoveryCode(empty)")

	fresh := digests("d", "e")
	if err := s.SetRecoveryCodes(ctx, u.ID, fresh, fixture.Now()); err != nil {
		t.Fatalf("SetRecoveryCodes(again) = %v", err)
	}
	wantCodesLeft(t, s, u.ID, 2)
	fixture.WantNotFound(t, s.UseRecoveryCode(ctx, u.ID, old[0], fixture.Now()), "UseRecoveryCode(replaced)")
	wantKept(t, s.UseRecoveryCode(ctx, u.ID, fresh[0], fixture.Now()), "UseRecoveryCode(new)")

	for _, ghost := range []string{fixture.ID("ghost"), "a\x00b"} {
		fixture.WantNotFound(t, s.SetRecoveryCodes(ctx, ghost, digests("x"), fixture.Now()), "SetRecoveryCodes(missing user)")
		fixture.WantNotFound(t, s.SetRecoveryCodes(ctx, ghost, nil, fixture.Now()), "SetRecoveryCodes(missing user, no codes)")
	}
	if n, err := s.DeleteFactors(ctx, u.ID); n != 0 || err != nil {
		t.Errorf("DeleteFactors = %d, %v; want 0 factors", n, err)
	}
	wantCodesLeft(t, s, u.ID, 0)
}

// testConcurrentRecoveryCodeOneWins: one recovery code sent many times at
// once is accepted once.
func testConcurrentRecoveryCodeOneWins(t *testing.T, s storage.Store) {
	u := fixture.MustCreateUser(t, s, "u")
	d := digests("only")
	if err := s.SetRecoveryCodes(context.Background(), u.ID, d, fixture.Now()); err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			switch err := s.UseRecoveryCode(context.Background(), u.ID, d[0], fixture.Now()); {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, storage.ErrNotFound):
				t.Errorf("UseRecoveryCode = %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent UseRecoveryCode: %d won, want 1", n, wins.Load())
	}
}

// testDeleteUserDeletesFactors: erasing a person erases their factors and
// recovery codes, and only theirs.
func testDeleteUserDeletesFactors(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u, v := fixture.MustCreateUser(t, s, "u"), fixture.MustCreateUser(t, s, "v")
	fu, fv := newFactor(u.ID), newFactor(v.ID)
	mustCreateFactor(t, s, fu)
	mustCreateFactor(t, s, fv)
	for _, p := range []string{u.ID, v.ID} {
		if err := s.SetRecoveryCodes(ctx, p, digests(p+"1", p+"2"), fixture.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatalf("DeleteUser = %v", err)
	}
	wantFactors(t, s, u.ID)
	wantCodesLeft(t, s, u.ID, 0)
	fixture.WantNotFound(t, s.AdvanceFactor(ctx, u.ID, fu.ID, 1, fixture.Now()), "AdvanceFactor(erased person's)")
	wantFactors(t, s, v.ID, fv)
	wantCodesLeft(t, s, v.ID, 2)
	// The same ID, were it made again, starts with nothing.
	again := u
	if err := s.CreateUser(ctx, again); err != nil {
		t.Fatal(err)
	}
	wantFactors(t, s, u.ID)
	wantCodesLeft(t, s, u.ID, 0)
}

// testBrowserSessionAMR: a session keeps the methods it was authenticated
// with.
func testBrowserSessionAMR(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u := fixture.MustCreateUser(t, s, "u")
	for _, amr := range [][]string{{"pwd", "otp", "mfa"}, {"pwd"}, nil} {
		bs := storage.BrowserSession{ID: fixture.ID("bs"), UserID: u.ID, AuthTime: fixture.Now(), ExpiresAt: fixture.Now().Add(time.Hour), AMR: amr}
		if err := s.CreateBrowserSession(ctx, bs); err != nil {
			t.Fatalf("CreateBrowserSession = %v", err)
		}
		got, err := s.GetBrowserSession(ctx, bs.ID)
		if err != nil || !reflect.DeepEqual(got.AMR, amr) && len(got.AMR)+len(amr) > 0 {
			t.Errorf("GetBrowserSession AMR = %q, %v; want %q", got.AMR, err, amr)
		}
		list, err := s.ListBrowserSessions(ctx, u.ID)
		if err != nil || len(list) == 0 {
			t.Fatalf("ListBrowserSessions = %v, %v", list, err)
		}
	}
	bad := storage.BrowserSession{ID: fixture.ID("bs"), UserID: u.ID, AuthTime: fixture.Now(), ExpiresAt: fixture.Now().Add(time.Hour), AMR: []string{"a\x00"}}
	if err := s.CreateBrowserSession(ctx, bad); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateBrowserSession(NUL in amr) = %v, want ErrConflict", err)
	}
}

// wantKept checks that err, the answer about what, is nil.
func wantKept(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Errorf("%s = %v, want it kept", what, err)
	}
}
