// Package approvaltest is the part of the storage contract about the
// four-eyes requests (storage.ApprovalStore); storagetest.Run runs it with
// the rest.
package approvaltest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"
)

// Tests are the contract tests of storage.ApprovalStore; each takes a
// fresh, empty store.
var Tests = []struct {
	Name string
	Fn   func(t *testing.T, s storage.Store)
}{
	{"ApprovalCRUD", testApprovalCRUD},
	{"ApprovalDecideOnce", testApprovalDecideOnce},
	{"ApprovalExpiry", testApprovalExpiry},
	{"ApprovalFinish", testApprovalFinish},
	{"ConcurrentApprovalOneWins", testConcurrentApprovalOneWins},
}

func newApproval(action string, created time.Time) storage.Approval {
	return storage.Approval{
		ID: fixture.ID("req"), Action: action, Target: fixture.ID("c"), Method: "DELETE", Path: "/admin/clients/c1",
		Body: []byte(`{"revoke_tokens":true}`), RequestedBy: "operator:" + fixture.ID("op"),
		CreatedAt: created, ExpiresAt: created.Add(24 * time.Hour), State: storage.ApprovalPending,
	}
}

func mustCreate(t *testing.T, s storage.Store, a storage.Approval) {
	t.Helper()
	if err := s.CreateApproval(context.Background(), a); err != nil {
		t.Fatalf("CreateApproval(%s) = %v", a.ID, err)
	}
}

// testApprovalCRUD: create, get, list newest first and by state, a
// duplicate ID and odd text refused, unknown IDs not found.
func testApprovalCRUD(t *testing.T, s storage.Store) {
	ctx := context.Background()
	now := fixture.Now()
	old, mid, young := newApproval("user.erase", now.Add(-2*time.Hour)), newApproval("client.delete", now.Add(-time.Hour)), newApproval("key.retire", now)
	mid.Body = nil
	for _, a := range []storage.Approval{mid, old, young} {
		mustCreate(t, s, a)
	}
	got, err := s.GetApproval(ctx, old.ID)
	if err != nil || !reflect.DeepEqual(got, old) {
		t.Fatalf("GetApproval = %+v, %v; want %+v", got, err, old)
	}
	if got, err := s.GetApproval(ctx, mid.ID); err != nil || got.Body != nil {
		t.Fatalf("GetApproval(no body) = %+v, %v; want a nil body", got, err)
	}
	list, err := s.ListApprovals(ctx, storage.ApprovalFilter{})
	if err != nil || len(list) != 3 || list[0].ID != young.ID || list[1].ID != mid.ID || list[2].ID != old.ID {
		t.Fatalf("ListApprovals = %+v, %v; want young, mid, old", list, err)
	}
	if list, err := s.ListApprovals(ctx, storage.ApprovalFilter{Limit: 2}); err != nil || len(list) != 2 || list[0].ID != young.ID {
		t.Fatalf("ListApprovals(limit 2) = %+v, %v; want young, mid", list, err)
	}
	if _, err := s.DecideApproval(ctx, mid.ID, storage.ApprovalRejected, "operator:op2", now); err != nil {
		t.Fatal(err)
	}
	for state, want := range map[string]int{storage.ApprovalPending: 2, storage.ApprovalRejected: 1, storage.ApprovalApproved: 0, "nul\x00": 0} {
		if list, err := s.ListApprovals(ctx, storage.ApprovalFilter{State: state}); err != nil || len(list) != want {
			t.Errorf("ListApprovals(%q) = %d, %v; want %d", state, len(list), err, want)
		}
	}
	dup := newApproval("user.erase", now)
	dup.ID = old.ID
	if err := s.CreateApproval(ctx, dup); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("CreateApproval(duplicate) = %v, want ErrAlreadyExists", err)
	}
	odd := newApproval("user.erase", now)
	odd.Target = "nul\x00"
	if err := s.CreateApproval(ctx, odd); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateApproval(NUL in target) = %v, want ErrConflict", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetApproval(ctx, "req-none")), "GetApproval(unknown)")
	fixture.WantNotFound(t, fixture.ErrOf(s.GetApproval(ctx, "nul\x00")), "GetApproval(NUL)")
	fixture.WantNotFound(t, fixture.ErrOf(s.DecideApproval(ctx, "req-none", storage.ApprovalApproved, "operator:x", now)), "DecideApproval(unknown)")
	fixture.WantNotFound(t, s.FinishApproval(ctx, "req-none", storage.ApprovalFailed, "404"), "FinishApproval(unknown)")
}

// testApprovalDecideOnce: a decision records who and when; a decided
// request cannot be decided again, whatever the new decision.
func testApprovalDecideOnce(t *testing.T, s storage.Store) {
	ctx := context.Background()
	now := fixture.Now()
	a := newApproval("user.erase", now)
	mustCreate(t, s, a)
	got, err := s.DecideApproval(ctx, a.ID, storage.ApprovalApproved, "operator:op2", now.Add(time.Minute))
	want := a
	want.State, want.DecidedBy, want.DecidedAt = storage.ApprovalApproved, "operator:op2", now.Add(time.Minute)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecideApproval = %+v, %v; want %+v", got, err, want)
	}
	if stored, err := s.GetApproval(ctx, a.ID); err != nil || !reflect.DeepEqual(stored, want) {
		t.Fatalf("GetApproval after the decision = %+v, %v; want %+v", stored, err, want)
	}
	for _, state := range []string{storage.ApprovalApproved, storage.ApprovalRejected} {
		if _, err := s.DecideApproval(ctx, a.ID, state, "operator:op3", now.Add(2*time.Minute)); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("DecideApproval(%s) again = %v, want ErrConflict", state, err)
		}
	}
	if stored, _ := s.GetApproval(ctx, a.ID); stored.DecidedBy != "operator:op2" {
		t.Errorf("DecidedBy after a refused second decision = %q, want operator:op2", stored.DecidedBy)
	}
}

// testApprovalExpiry: a request cannot be decided from its expiry on;
// ExpireApprovals marks the pending ones that expired, and only them.
func testApprovalExpiry(t *testing.T, s storage.Store) {
	ctx := context.Background()
	now := fixture.Now()
	stale, fresh, done := newApproval("user.erase", now.Add(-25*time.Hour)), newApproval("user.erase", now), newApproval("client.delete", now.Add(-30*time.Hour))
	for _, a := range []storage.Approval{stale, fresh, done} {
		mustCreate(t, s, a)
	}
	if _, err := s.DecideApproval(ctx, done.ID, storage.ApprovalRejected, "operator:op2", now.Add(-29*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DecideApproval(ctx, stale.ID, storage.ApprovalApproved, "operator:op2", stale.ExpiresAt); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("DecideApproval at expiry = %v, want ErrConflict", err)
	}
	n, err := s.ExpireApprovals(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("ExpireApprovals = %d, %v; want 1", n, err)
	}
	for id, want := range map[string]string{stale.ID: storage.ApprovalExpired, fresh.ID: storage.ApprovalPending, done.ID: storage.ApprovalRejected} {
		if got, err := s.GetApproval(ctx, id); err != nil || got.State != want {
			t.Errorf("GetApproval(%s).State = %q, %v; want %q", id, got.State, err, want)
		}
	}
	if _, err := s.DecideApproval(ctx, stale.ID, storage.ApprovalApproved, "operator:op2", now.Add(-24*time.Hour)); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("DecideApproval(expired) = %v, want ErrConflict", err)
	}
	if n, err := s.ExpireApprovals(ctx, now); err != nil || n != 0 {
		t.Errorf("ExpireApprovals again = %d, %v; want 0", n, err)
	}
}

// testApprovalFinish: the outcome of an approved request's action is
// kept once; a pending or rejected request has none.
func testApprovalFinish(t *testing.T, s storage.Store) {
	ctx := context.Background()
	now := fixture.Now()
	a, b := newApproval("client.delete", now), newApproval("client.delete", now)
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	if err := s.FinishApproval(ctx, a.ID, storage.ApprovalFailed, "404 not_found"); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("FinishApproval(pending) = %v, want ErrConflict", err)
	}
	if _, err := s.DecideApproval(ctx, a.ID, storage.ApprovalApproved, "operator:op2", now); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishApproval(ctx, a.ID, storage.ApprovalFailed, "404 not_found"); err != nil {
		t.Fatalf("FinishApproval = %v", err)
	}
	if got, err := s.GetApproval(ctx, a.ID); err != nil || got.State != storage.ApprovalFailed || got.Result != "404 not_found" {
		t.Fatalf("GetApproval = %+v, %v; want failed with its result", got, err)
	}
	if err := s.FinishApproval(ctx, a.ID, storage.ApprovalApproved, "200"); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("FinishApproval(failed) = %v, want ErrConflict", err)
	}
	if _, err := s.DecideApproval(ctx, b.ID, storage.ApprovalApproved, "operator:op2", now); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishApproval(ctx, b.ID, storage.ApprovalApproved, "204"); err != nil {
		t.Fatalf("FinishApproval(done) = %v", err)
	}
	if got, _ := s.GetApproval(ctx, b.ID); got.State != storage.ApprovalApproved || got.Result != "204" {
		t.Errorf("GetApproval = %+v; want approved with result 204", got)
	}
}

// testConcurrentApprovalOneWins: of concurrent decisions on one request
// exactly one wins, so that its action runs once.
func testConcurrentApprovalOneWins(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a := newApproval("user.erase", fixture.Now())
	mustCreate(t, s, a)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			state := storage.ApprovalApproved
			if i%2 == 1 {
				state = storage.ApprovalRejected
			}
			_, err := s.DecideApproval(ctx, a.ID, state, "operator:op2", fixture.Now())
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, storage.ErrConflict):
				t.Errorf("DecideApproval = %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent decisions won, want 1", wins.Load())
	}
}
