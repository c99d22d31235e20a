// Package opsessiontest is the part of the storage contract about
// operators' console sessions; storagetest.Run runs it with the rest.
package opsessiontest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"
)

// Tests are the contract tests of storage.OperatorSessionStore; each
// takes a fresh, empty store.
var Tests = []struct {
	Name string
	Fn   func(t *testing.T, s storage.Store)
}{
	{"OperatorSessionLifetimes", testLifetimes},
	{"OperatorSessionsEnd", testEnd},
	{"ConcurrentTouchOfIdleSession", testConcurrentTouch},
	{"ExpiredOperatorSessionsDeleted", testDeleteExpired},
}

// operator stores an operator for sessions to belong to.
func operator(t *testing.T, s storage.Store) string {
	t.Helper()
	now := fixture.Now()
	o := storage.Operator{ID: fixture.ID("op"), Username: fixture.ID("olive"), Role: "owner", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateOperator(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return o.ID
}

func session(op string, b byte, now time.Time) storage.OperatorSession {
	return storage.OperatorSession{Digest: bytes.Repeat([]byte{b}, 32), OperatorID: op, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(12 * time.Hour)}
}

// testLifetimes: a session is found and renewed while in use, and not
// once idle or expired; a digest is stored once.
func testLifetimes(t *testing.T, s storage.Store) {
	ctx := context.Background()
	op, now := operator(t, s), fixture.Now()
	idle := 30 * time.Minute
	a := session(op, 1, now)
	if err := s.CreateOperatorSession(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOperatorSession(ctx, a); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("second CreateOperatorSession = %v, want ErrAlreadyExists", err)
	}
	// In use every 20 minutes: never idle, for hours.
	at := now
	for i := 0; i < 6; i++ {
		at = at.Add(20 * time.Minute)
		got, err := s.TouchOperatorSession(ctx, a.Digest, at, idle)
		if err != nil || got.OperatorID != op || !got.LastSeenAt.Equal(at) || !got.CreatedAt.Equal(now) || !got.ExpiresAt.Equal(a.ExpiresAt) {
			t.Fatalf("Touch at +%v = %+v, %v", at.Sub(now), got, err)
		}
	}
	// Idle for exactly the idle time: over, and stays over.
	if _, err := s.TouchOperatorSession(ctx, a.Digest, at.Add(idle), idle); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Touch after %v idle = %v, want ErrNotFound", idle, err)
	}
	// Expiry ends a session in use.
	b := session(op, 2, now)
	b.ExpiresAt = now.Add(10 * time.Minute)
	if err := s.CreateOperatorSession(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TouchOperatorSession(ctx, b.Digest, now.Add(9*time.Minute), idle); err != nil {
		t.Fatalf("Touch before expiry = %v", err)
	}
	if _, err := s.TouchOperatorSession(ctx, b.Digest, now.Add(10*time.Minute), idle); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Touch at expiry = %v, want ErrNotFound", err)
	}
	if _, err := s.TouchOperatorSession(ctx, bytes.Repeat([]byte{9}, 32), now, idle); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Touch of an unknown digest = %v, want ErrNotFound", err)
	}
}

// testEnd: one session ends alone; all of an operator's end together,
// and no one else's.
func testEnd(t *testing.T, s storage.Store) {
	ctx := context.Background()
	op, other, now := operator(t, s), operator(t, s), fixture.Now()
	for i, o := range []string{op, op, op, other} {
		if err := s.CreateOperatorSession(ctx, session(o, byte(i+1), now)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteOperatorSession(ctx, session(op, 1, now).Digest); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteOperatorSession(ctx, session(op, 1, now).Digest); err != nil {
		t.Errorf("deleting an ended session = %v, want nil", err)
	}
	if _, err := s.TouchOperatorSession(ctx, session(op, 1, now).Digest, now, time.Hour); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Touch of a deleted session = %v", err)
	}
	if n, err := s.DeleteOperatorSessions(ctx, op); err != nil || n != 2 {
		t.Errorf("DeleteOperatorSessions = %d, %v; want 2", n, err)
	}
	for i := byte(2); i <= 3; i++ {
		if _, err := s.TouchOperatorSession(ctx, session(op, i, now).Digest, now, time.Hour); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Touch of session %d after DeleteOperatorSessions = %v", i, err)
		}
	}
	if _, err := s.TouchOperatorSession(ctx, session(other, 4, now).Digest, now, time.Hour); err != nil {
		t.Errorf("the other operator's session ended too: %v", err)
	}
}

// testConcurrentTouch: touches racing an idle deadline never bring an
// idle session back: each either finds it (before the deadline) or not.
func testConcurrentTouch(t *testing.T, s storage.Store) {
	ctx := context.Background()
	op, now := operator(t, s), fixture.Now()
	a := session(op, 7, now)
	if err := s.CreateOperatorSession(ctx, a); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var found atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.TouchOperatorSession(ctx, a.Digest, now.Add(time.Hour), 30*time.Minute); err == nil {
				found.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := found.Load(); n != 0 {
		t.Errorf("%d touches renewed a session idle for an hour", n)
	}
}

// testDeleteExpired: the janitor's DeleteExpired removes the sessions
// past their absolute end, once, and leaves the others.
func testDeleteExpired(t *testing.T, s storage.Store) {
	ctx := context.Background()
	op, now := operator(t, s), fixture.Now()
	old, live := session(op, 1, now.Add(-13*time.Hour)), session(op, 2, now)
	for _, os := range []storage.OperatorSession{old, live} {
		if err := s.CreateOperatorSession(ctx, os); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DeleteExpired(ctx, now, 100); err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want the one expired session", n, err)
	}
	if n, err := s.DeleteExpired(ctx, now, 100); err != nil || n != 0 {
		t.Errorf("second DeleteExpired = %d, %v; want 0", n, err)
	}
	if _, err := s.TouchOperatorSession(ctx, live.Digest, now.Add(time.Minute), 30*time.Minute); err != nil {
		t.Errorf("live session after DeleteExpired: %v", err)
	}
}
