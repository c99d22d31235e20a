// Package operatortest is the part of the storage contract about
// operators; storagetest.Run runs it with the rest.
package operatortest

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"

	"github.com/idvauth/idvauth/storage"
)

// Tests are the contract tests of storage.OperatorStore; each takes a
// fresh, empty store.
var Tests = []struct {
	Name string
	Fn   func(t *testing.T, s storage.Store)
}{
	{"OperatorCRUD", testOperatorCRUD},
	{"OperatorsApartFromUsers", testOperatorsApartFromUsers},
	{"EnrollmentSingleUse", testEnrollmentSingleUse},
	{"ConcurrentEnrollmentOneWins", testConcurrentEnrollmentOneWins},
	{"ConcurrentTOTPOneWins", testConcurrentTOTPOneWins},
	{"LastOwnerRace", testLastOwnerRace},
	{"EnrollingOnlyWhileEnrollmentLasts", testEnrolling},
}

func newOperator(name, role string) storage.Operator {
	t := fixture.Now()
	return storage.Operator{
		ID: fixture.ID("op"), Username: fixture.ID(name), Role: role,
		EnrollmentDigest: bytes.Repeat([]byte{byte(len(name))}, 32), EnrollmentExpiresAt: t.Add(30 * time.Minute),
		CreatedAt: t, UpdatedAt: t,
	}
}

// testOperatorCRUD: create, get by ID and username, list by username,
// update (all but username and creation time), duplicates and odd values
// refused alike, unknown IDs not found.
func testOperatorCRUD(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a, b := newOperator("b-ann", "owner"), newOperator("a-bob", "auditor")
	b.EnrollmentDigest = bytes.Repeat([]byte{2}, 32)
	for _, o := range []storage.Operator{a, b} {
		if err := s.CreateOperator(ctx, o); err != nil {
			t.Fatalf("CreateOperator(%s) = %v", o.ID, err)
		}
	}
	got, err := s.GetOperator(ctx, a.ID)
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("GetOperator = %+v, %v; want %+v", got, err, a)
	}
	if got, err := s.GetOperatorByUsername(ctx, b.Username); err != nil || got.ID != b.ID {
		t.Fatalf("GetOperatorByUsername = %+v, %v; want %s", got, err, b.ID)
	}
	list, err := s.ListOperators(ctx)
	if err != nil || len(list) != 2 || list[0].ID != b.ID || list[1].ID != a.ID {
		t.Fatalf("ListOperators = %+v, %v; want b then a", list, err)
	}
	dupID, dupName := newOperator("c", "admin"), newOperator("d", "admin")
	dupID.ID, dupName.Username = a.ID, a.Username
	for _, o := range []storage.Operator{dupID, dupName} {
		if err := s.CreateOperator(ctx, o); !errors.Is(err, storage.ErrAlreadyExists) {
			t.Errorf("CreateOperator(duplicate) = %v, want ErrAlreadyExists", err)
		}
	}
	odd := newOperator("e", "admin")
	odd.Username = "nul\x00"
	if err := s.CreateOperator(ctx, odd); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateOperator(NUL in username) = %v, want ErrConflict", err)
	}

	// Access and credentials change apart: neither undoes the other.
	at := a.UpdatedAt.Add(time.Minute)
	if err := s.SetOperatorAccess(ctx, b.ID, "support", true, at); err != nil {
		t.Fatalf("SetOperatorAccess = %v", err)
	}
	creds := storage.OperatorCredentials{PasswordHash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", TOTPSecret: []byte("sealed"), TOTPCounter: 42}
	if err := s.SetOperatorCredentials(ctx, b.ID, creds, nil, at.Add(time.Minute)); err != nil {
		t.Fatalf("SetOperatorCredentials = %v", err)
	}
	want := b
	want.Role, want.Disabled, want.PasswordHash, want.TOTPSecret, want.TOTPCounter = "support", true, creds.PasswordHash, creds.TOTPSecret, 42
	want.EnrollmentDigest, want.EnrollmentExpiresAt, want.UpdatedAt = nil, time.Time{}, at.Add(time.Minute)
	if got, err := s.GetOperator(ctx, b.ID); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("GetOperator after update = %+v, %v; want %+v", got, err, want)
	}
	missing := newOperator("f", "admin")
	if err := s.SetOperatorCredentials(ctx, missing.ID, creds, nil, at); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SetOperatorCredentials(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.SetOperatorCredentials(ctx, a.ID, storage.OperatorCredentials{PasswordHash: "nul\x00"}, nil, at); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("SetOperatorCredentials(NUL in hash) = %v, want ErrConflict", err)
	}
	for _, id := range []string{missing.ID, "", "bad\xff"} {
		if _, err := s.GetOperator(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetOperator(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := s.GetOperatorByUsername(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetOperatorByUsername(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

// testOperatorsApartFromUsers: a person and an operator with one username
// and one ID are two records; neither store sees the other's.
func testOperatorsApartFromUsers(t *testing.T, s storage.Store) {
	ctx := context.Background()
	o := newOperator("shared", "owner")
	u := storage.User{ID: o.ID, Username: o.Username, PasswordHash: "x", CreatedAt: fixture.Now(), UpdatedAt: fixture.Now()}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser = %v", err)
	}
	if _, err := s.GetOperator(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetOperator(a person's ID) = %v, want ErrNotFound", err)
	}
	if err := s.CreateOperator(ctx, o); err != nil {
		t.Fatalf("CreateOperator(a person's username and ID) = %v", err)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetOperator(ctx, o.ID); err != nil {
		t.Fatalf("GetOperator after the person's deletion = %v", err)
	}
	if users, err := s.ListUsers(ctx); err != nil || len(users) != 0 {
		t.Fatalf("ListUsers = %v, %v; want none (operators are not people)", users, err)
	}
}

// testEnrollmentSingleUse: an enrollment token is used once, not after it
// expired, and not with another digest.
func testEnrollmentSingleUse(t *testing.T, s storage.Store) {
	ctx := context.Background()
	o := newOperator("enrol", "owner")
	if err := s.CreateOperator(ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseEnrollment(ctx, o.EnrollmentDigest, o.EnrollmentExpiresAt); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("UseEnrollment at expiry = %v, want ErrNotFound", err)
	}
	if _, err := s.UseEnrollment(ctx, bytes.Repeat([]byte{1}, 32), fixture.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("UseEnrollment(other digest) = %v, want ErrNotFound", err)
	}
	got, err := s.UseEnrollment(ctx, o.EnrollmentDigest, fixture.Now())
	if err != nil || got.ID != o.ID || got.EnrollmentPending() || !bytes.Equal(got.EnrollmentDigest, storage.UsedEnrollment(o.EnrollmentDigest)) ||
		!got.EnrollmentExpiresAt.Equal(o.EnrollmentExpiresAt) {
		t.Fatalf("UseEnrollment = %+v, %v; want %s with the link used", got, err, o.ID)
	}
	if _, err := s.UseEnrollment(ctx, o.EnrollmentDigest, fixture.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("UseEnrollment again = %v, want ErrNotFound", err)
	}
	if _, err := s.UseEnrollment(ctx, nil, fixture.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("UseEnrollment(nil) = %v, want ErrNotFound", err)
	}
}

// testConcurrentEnrollmentOneWins: of concurrent uses of one enrollment
// token exactly one succeeds.
func testConcurrentEnrollmentOneWins(t *testing.T, s storage.Store) {
	ctx := context.Background()
	o := newOperator("race", "owner")
	if err := s.CreateOperator(ctx, o); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UseEnrollment(ctx, o.EnrollmentDigest, fixture.Now())
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, storage.ErrNotFound):
				t.Errorf("UseEnrollment = %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent uses succeeded, want 1", wins.Load())
	}
}

// testConcurrentTOTPOneWins: of concurrent sign-ins with one code exactly
// one advances the counter; it changes nothing else of the operator (a
// concurrent disable stays), and no lower step is taken after.
func testConcurrentTOTPOneWins(t *testing.T, s storage.Store) {
	ctx := context.Background()
	o := newOperator("totp", "admin")
	o.TOTPCounter = 100
	if err := s.CreateOperator(ctx, o); err != nil {
		t.Fatal(err)
	}
	disabled := o
	disabled.Disabled = true
	if err := s.SetOperatorAccess(ctx, o.ID, o.Role, true, o.UpdatedAt); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.AdvanceOperatorTOTP(ctx, o.ID, 101, fixture.Now())
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, storage.ErrConflict):
				t.Errorf("AdvanceOperatorTOTP = %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent advances succeeded, want 1", wins.Load())
	}
	got, err := s.GetOperator(ctx, o.ID)
	if err != nil || got.TOTPCounter != 101 || !got.Disabled || got.Role != "admin" {
		t.Fatalf("after the advance = %+v, %v; want counter 101, still disabled", got, err)
	}
	if err := s.AdvanceOperatorTOTP(ctx, o.ID, 100, fixture.Now()); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("an older step = %v, want ErrConflict", err)
	}
	if err := s.AdvanceOperatorTOTP(ctx, "op_none", 5, fixture.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("an unknown operator = %v, want ErrNotFound", err)
	}
}

// testLastOwnerRace: two owners demoting each other at once leave one
// owner; an operator's access change touches nothing else.
func testLastOwnerRace(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a, b := newOperator("owner-a", "owner"), newOperator("owner-bb", "owner") // names of other lengths: other enrollment digests
	a.TOTPCounter = 7
	for _, o := range []storage.Operator{a, b} {
		if err := s.CreateOperator(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 5 {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for _, id := range []string{a.ID, b.ID} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.SetOperatorAccess(ctx, id, "admin", false, fixture.Now())
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, storage.ErrConflict):
					t.Errorf("SetOperatorAccess = %v", err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d demotions succeeded, want 1", round, wins.Load())
		}
		for _, id := range []string{a.ID, b.ID} {
			if err := s.SetOperatorAccess(ctx, id, "owner", false, fixture.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := s.GetOperator(ctx, a.ID)
	if err != nil || got.TOTPCounter != 7 || got.Role != "owner" || got.Disabled {
		t.Fatalf("after the changes = %+v, %v", got, err)
	}
	if err := s.SetOperatorAccess(ctx, "op_none", "owner", false, fixture.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("an unknown operator = %v, want ErrNotFound", err)
	}
}

// testEnrolling: the end of an enrollment sets the credentials only of an
// enabled operator with no second factor whose used link is still the
// last one: an operator disabled, enrolled, or sent a new link meanwhile
// is refused and keeps what it has, even once the new link is used too.
func testEnrolling(t *testing.T, s storage.Store) {
	ctx := context.Background()
	now := fixture.Now()
	creds := storage.OperatorCredentials{PasswordHash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", TOTPSecret: []byte("sealed"), TOTPCounter: 7}
	use := func(o storage.Operator, digest []byte) []byte {
		t.Helper()
		got, err := s.UseEnrollment(ctx, digest, now)
		if err != nil {
			t.Fatal(err)
		}
		if got.EnrollmentPending() || !bytes.Equal(got.EnrollmentDigest, storage.UsedEnrollment(digest)) {
			t.Fatalf("after UseEnrollment: digest %x, want the used marker", got.EnrollmentDigest)
		}
		return got.EnrollmentDigest
	}
	n := byte(100)
	fresh := func(name string) (storage.Operator, []byte) {
		o := newOperator(name, "admin")
		n++
		o.EnrollmentDigest = bytes.Repeat([]byte{n}, 32) // one link each
		if err := s.CreateOperator(ctx, o); err != nil {
			t.Fatal(err)
		}
		return o, use(o, o.EnrollmentDigest)
	}
	ok, used := fresh("enrolls")
	if err := s.SetOperatorCredentials(ctx, ok.ID, creds, used, now); err != nil {
		t.Fatalf("enrolling = %v", err)
	}
	if got, _ := s.GetOperator(ctx, ok.ID); len(got.EnrollmentDigest) != 0 || got.PasswordHash != creds.PasswordHash {
		t.Errorf("after enrolling: %+v", got)
	}
	// Enrolled now: a second enrollment from an older copy is refused.
	if err := s.SetOperatorCredentials(ctx, ok.ID, storage.OperatorCredentials{PasswordHash: "other"}, used, now); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("enrolling twice = %v, want ErrConflict", err)
	}
	if got, _ := s.GetOperator(ctx, ok.ID); got.PasswordHash != creds.PasswordHash {
		t.Errorf("second enrollment changed the password hash")
	}
	gone, goneUsed := fresh("disabled-meanwhile")
	if err := s.SetOperatorAccess(ctx, gone.ID, "admin", true, now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOperatorCredentials(ctx, gone.ID, creds, goneUsed, now); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("enrolling a disabled operator = %v, want ErrConflict", err)
	}
	if got, _ := s.GetOperator(ctx, gone.ID); !got.Disabled || len(got.TOTPSecret) != 0 {
		t.Errorf("refused enrollment changed the operator: %+v", got)
	}
	// A used link L1 (its holder keeps the enrollment going), then a new
	// link L2, used by the real operator: L1's enrollment stays refused.
	relinked, stale := fresh("new-link-meanwhile")
	l2 := bytes.Repeat([]byte{9}, 32)
	if err := s.SetOperatorCredentials(ctx, relinked.ID, storage.OperatorCredentials{EnrollmentDigest: l2,
		EnrollmentExpiresAt: now.Add(time.Hour)}, nil, now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOperatorCredentials(ctx, relinked.ID, creds, stale, now); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("enrolling with a newer link pending = %v, want ErrConflict", err)
	}
	current := use(relinked, l2)
	if err := s.SetOperatorCredentials(ctx, relinked.ID, creds, stale, now); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("enrolling from the older link once the newer one is used = %v, want ErrConflict", err)
	}
	if err := s.SetOperatorCredentials(ctx, relinked.ID, creds, current, now); err != nil {
		t.Errorf("enrolling from the newer link = %v", err)
	}
}
