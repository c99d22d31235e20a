// Package vaulttest is the contract of storage.PersonKeyStore, the store
// of people's wrapped data keys apart from the main database. Every
// backend runs it: Run(t, open), where open returns a fresh, empty store.
package vaulttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"
)

// Run runs every contract test, each on a store open returns.
func Run(t *testing.T, open func(t *testing.T) storage.PersonKeyStore) {
	for _, tt := range []struct {
		name string
		fn   func(t *testing.T, s storage.PersonKeyStore)
	}{
		{"CreateGetDelete", testCreateGetDelete},
		{"ReplaceOnlyIfUnchanged", testReplace},
		{"OddText", testOddText},
		{"ConcurrentCreate", testConcurrentCreate},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func newKey() storage.PersonKey {
	return storage.PersonKey{UserID: fixture.ID("u"), Wrapped: []byte(fixture.ID("wrapped")), KEK: "local:" + fixture.ID("kek")}
}

func wantKey(t *testing.T, s storage.PersonKeyStore, want storage.PersonKey) {
	t.Helper()
	got, err := s.GetPersonKey(context.Background(), want.UserID)
	if err != nil || got.UserID != want.UserID || !bytes.Equal(got.Wrapped, want.Wrapped) || got.KEK != want.KEK {
		t.Errorf("GetPersonKey(%s) = %+v, %v; want %+v", want.UserID, got, err, want)
	}
}

func wantCount(t *testing.T, s storage.PersonKeyStore, want int) {
	t.Helper()
	if n, err := s.CountPersonKeys(context.Background()); err != nil || n != want {
		t.Errorf("CountPersonKeys = %d, %v; want %d", n, err, want)
	}
}

func testCreateGetDelete(t *testing.T, s storage.PersonKeyStore) {
	ctx := context.Background()
	a, b := newKey(), newKey()
	for _, k := range []storage.PersonKey{a, b} {
		if err := s.CreatePersonKey(ctx, k); err != nil {
			t.Fatalf("CreatePersonKey: %v", err)
		}
	}
	wantKey(t, s, a)
	wantKey(t, s, b)
	wantCount(t, s, 2)
	again := a
	again.Wrapped = []byte("other")
	if err := s.CreatePersonKey(ctx, again); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("second CreatePersonKey = %v, want ErrAlreadyExists", err)
	}
	wantKey(t, s, a) // unchanged
	// The store keeps its own copy of the bytes.
	got, _ := s.GetPersonKey(ctx, a.UserID)
	got.Wrapped[0] ^= 0xff
	wantKey(t, s, a)

	if err := s.DeletePersonKey(ctx, a.UserID); err != nil {
		t.Fatalf("DeletePersonKey: %v", err)
	}
	if _, err := s.GetPersonKey(ctx, a.UserID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetPersonKey after delete = %v, want ErrNotFound", err)
	}
	if err := s.DeletePersonKey(ctx, a.UserID); err != nil {
		t.Errorf("DeletePersonKey of no key = %v, want nil", err)
	}
	wantKey(t, s, b) // the other person's stays
	wantCount(t, s, 1)
	// A deleted key can be created again (a move of that person retried).
	if err := s.CreatePersonKey(ctx, a); err != nil {
		t.Errorf("CreatePersonKey after delete = %v", err)
	}
}

func testReplace(t *testing.T, s storage.PersonKeyStore) {
	ctx := context.Background()
	k := newKey()
	if err := s.CreatePersonKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	next := storage.PersonKey{UserID: k.UserID, Wrapped: []byte("rewrapped"), KEK: "local:new"}
	if err := s.ReplacePersonKey(ctx, []byte("stale"), next); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("ReplacePersonKey(stale) = %v, want ErrConflict", err)
	}
	wantKey(t, s, k)
	if err := s.ReplacePersonKey(ctx, k.Wrapped, next); err != nil {
		t.Fatalf("ReplacePersonKey = %v", err)
	}
	wantKey(t, s, next)
	if err := s.ReplacePersonKey(ctx, k.Wrapped, k); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("ReplacePersonKey(the old key again) = %v, want ErrConflict", err)
	}
	gone := newKey()
	if err := s.ReplacePersonKey(ctx, gone.Wrapped, gone); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReplacePersonKey(no key) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetPersonKey(ctx, gone.UserID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReplacePersonKey(no key) created one: %v", err)
	}
}

// testOddText: IDs and KEK names no backend can keep are refused or not
// found, never an unmapped error.
func testOddText(t *testing.T, s storage.PersonKeyStore) {
	ctx := context.Background()
	odd := "u_\x00nul"
	if _, err := s.GetPersonKey(ctx, odd); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetPersonKey(NUL) = %v, want ErrNotFound", err)
	}
	if err := s.DeletePersonKey(ctx, odd); err != nil {
		t.Errorf("DeletePersonKey(NUL) = %v, want nil", err)
	}
	k := newKey()
	k.KEK = "local:\x00"
	if err := s.CreatePersonKey(ctx, k); err == nil {
		if _, err := s.GetPersonKey(ctx, k.UserID); err != nil {
			t.Errorf("a key stored with an odd KEK name does not read back: %v", err)
		}
	} else if !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreatePersonKey(NUL KEK) = %v, want ErrConflict or success", err)
	}
}

// testConcurrentCreate: of several creations of one person's key, one
// wins and the others get ErrAlreadyExists.
func testConcurrentCreate(t *testing.T, s storage.PersonKeyStore) {
	ctx := context.Background()
	id := fixture.ID("u")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreatePersonKey(ctx, storage.PersonKey{UserID: id, Wrapped: []byte(fmt.Sprint("w", i)), KEK: "local:k"})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, storage.ErrAlreadyExists):
			t.Errorf("CreatePersonKey = %v, want nil or ErrAlreadyExists", err)
		}
	}
	if won != 1 {
		t.Errorf("%d creations won, want 1", won)
	}
	wantCount(t, s, 1)
}
