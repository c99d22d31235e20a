package seal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/keys"
	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/memory"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// TestMain ends the run with one line when PostgreSQL tests skipped.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const (
	secretA = "first-secret-0123456789abcdefghijklmnop"
	secretB = "second-secret-0123456789abcdefghijklmno"
)

// backends runs fn on a new memory store and on a fresh PostgreSQL
// schema.
func backends(t *testing.T, fn func(t *testing.T, raw storage.Store)) {
	t.Run("memory", func(t *testing.T) { fn(t, memory.New()) })
	t.Run("postgres", func(t *testing.T) { fn(t, pgtest.Open(t)) })
}

func newStore(t testing.TB, raw storage.Store, secrets ...string) *Store {
	t.Helper()
	kp, err := NewLocal(secrets, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), Config{Store: raw, Keys: kp, Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var seq int

func person(name string) storage.User {
	seq++
	t := time.Now().UTC().Truncate(time.Second)
	return storage.User{ID: fmt.Sprintf("u_%s_%d_%d", name, seq, time.Now().UnixNano()), Username: fmt.Sprintf("%s.%d", name, seq),
		Name: "Person " + strings.ToUpper(name), Email: fmt.Sprintf("%s.%d@Example.org", name, seq),
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", CreatedAt: t, UpdatedAt: t}
}

func create(t testing.TB, s storage.UserStore, u storage.User) {
	t.Helper()
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s) = %v", u.ID, err)
	}
}

// wantReadable checks that s returns u in the clear by ID, by username
// and in the list.
func wantReadable(t testing.TB, s *Store, u storage.User) {
	t.Helper()
	ctx := context.Background()
	for what, get := range map[string]func() (storage.User, error){
		"GetUser":           func() (storage.User, error) { return s.GetUser(ctx, u.ID) },
		"GetUserByUsername": func() (storage.User, error) { return s.GetUserByUsername(ctx, u.Username) },
	} {
		got, err := get()
		if err != nil || got.ID != u.ID || got.Username != u.Username || got.Name != u.Name || got.Email != u.Email ||
			got.PasswordHash != u.PasswordHash || got.Sealed != nil {
			t.Errorf("%s(%s) = %+v, %v; want %+v in the clear", what, u.ID, got, err, u)
		}
	}
	list, err := s.ListUsers(ctx)
	if err != nil || !slices.ContainsFunc(list, func(g storage.User) bool { return g.ID == u.ID && g.Email == u.Email }) {
		t.Errorf("ListUsers = %v; want %s in the clear among them", err, u.ID)
	}
}

// dump copies every user row out of the backend, as a database dump
// would: the sealed profiles with their wrapped data keys.
func dump(t testing.TB, raw storage.Store) map[string]storage.User {
	t.Helper()
	us, err := raw.ListUsersByID(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]storage.User{}
	for _, u := range us {
		out[u.ID] = u
	}
	return out
}

func TestSealedRoundTrip(t *testing.T) {
	backends(t, func(t *testing.T, raw storage.Store) {
		ctx := context.Background()
		s := newStore(t, raw, secretA)
		a, b := person("ada"), person("bob")
		create(t, s, a)
		create(t, s, b)
		wantReadable(t, s, a)
		wantReadable(t, s, b)
		if err := s.CreateUser(ctx, func() storage.User { u := person("ada"); u.Username = a.Username; return u }()); !errors.Is(err, storage.ErrAlreadyExists) {
			t.Errorf("CreateUser with a taken username = %v, want ErrAlreadyExists", err)
		}
		rows := dump(t, raw)
		ra := rows[a.ID]
		if ra.Sealed == nil || ra.Username != "" || ra.Name != "" || ra.Email != "" {
			t.Fatalf("the backend holds %+v, want only the sealed profile", ra)
		}
		for _, v := range []string{a.Username, a.Name, a.Email, strings.ToLower(a.Email)} {
			if strings.Contains(fmt.Sprintf("%s", *ra.Sealed), v) {
				t.Errorf("the sealed profile holds %q in the clear", v)
			}
		}
		// The e-mail index is case-folded; the username's is over the
		// username as stored.
		if ix := blindIndex(s.index[0], "email", strings.ToUpper(a.Email)); !bytes.Equal(ix, ra.Sealed.EmailIndex) {
			t.Error("the e-mail index depends on the case of the address")
		}
		// Each ciphertext is bound to its person and field: moved onto
		// another field or person, it does not open.
		for what, move := range map[string]func(u *storage.User){
			"name into email":           func(u *storage.User) { u.Sealed.Email = u.Sealed.Name },
			"bob's name into ada's":     func(u *storage.User) { u.Sealed.Name = rows[b.ID].Sealed.Name },
			"bob's data key into ada's": func(u *storage.User) { u.Sealed.Key = rows[b.ID].Sealed.Key },
		} {
			u := rows[a.ID]
			p := *u.Sealed
			u.Sealed = &p
			move(&u)
			if _, _, err := s.open(ctx, u); !errors.Is(err, ErrSealed) {
				t.Errorf("open with %s = %v, want ErrSealed", what, err)
			}
		}
		// Another secret opens nothing, and is refused at once.
		wantRefused(t, raw, secretB)
		wantNotFoundErr(t, errOf(s.GetUserByUsername(ctx, "nobody")), "GetUserByUsername(nobody)")
	})
}

// wantRefused checks that a Store over raw under secrets is refused: they
// open no data key.
func wantRefused(t testing.TB, raw storage.Store, secrets ...string) {
	t.Helper()
	kp, err := NewLocal(secrets, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), Config{Store: raw, Keys: kp, Secrets: secrets}); !errors.Is(err, ErrSealed) ||
		!strings.Contains(err.Error(), "IDVAUTH_SECRETS") {
		t.Errorf("New under secrets that open no data key = %v, want ErrSealed naming IDVAUTH_SECRETS", err)
	}
}

func errOf[T any](_ T, err error) error { return err }

func wantNotFoundErr(t testing.TB, err error, what string) {
	t.Helper()
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("%s = %v, want ErrNotFound", what, err)
	}
}

// TestErasureShredsDumps erases a person and opens a copy of the rows
// taken before: the data key is gone from the database, so a copy of
// the profiles without it (a backup that keeps person_keys apart) opens
// nothing; a copy with it opens until the secret that wrapped it is
// retired (rewrap, then drop the old secret), after which it opens
// nothing either. The others stay readable all along.
func TestErasureShredsDumps(t *testing.T) {
	backends(t, func(t *testing.T, raw storage.Store) {
		ctx := context.Background()
		s := newStore(t, raw, secretA)
		a, b := person("erased"), person("kept")
		create(t, s, a)
		create(t, s, b)
		before := dump(t, raw)
		if err := s.DeleteUser(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		wantNotFoundErr(t, errOf(s.GetUserByUsername(ctx, a.Username)), "GetUserByUsername(erased)")

		// The profile copied before, with the data key as the database
		// holds it now: there is none.
		old := before[a.ID]
		noKey := old
		p := *old.Sealed
		p.Key, p.KEK = nil, ""
		noKey.Sealed = &p
		if _, _, err := s.open(ctx, noKey); !errors.Is(err, ErrSealed) {
			t.Errorf("open(erased profile, current keys) = %v, want ErrSealed", err)
		}
		if _, err := raw.GetUser(ctx, a.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the erased row is still there: %v", err)
		}
		// The full copy, wrapped key included, opens under the secret of
		// the time: that is why the secret is retired after erasures.
		if got, _, err := s.open(ctx, old); err != nil || got.Email != a.Email {
			t.Fatalf("open(full copy, old secret) = %v; the test below would prove nothing", err)
		}
		rotated := newStore(t, raw, secretB, secretA)
		if pr, err := rotated.Rewrap(ctx, 1); err != nil || pr.Changed != 1 {
			t.Fatalf("Rewrap = %+v, %v; want the one person left rewrapped", pr, err)
		}
		current := newStore(t, raw, secretB)
		if _, _, err := current.open(ctx, old); !errors.Is(err, ErrSealed) {
			t.Errorf("open(full copy) with the old secret retired = %v, want ErrSealed", err)
		}
		wantReadable(t, current, b)
	})
}

// TestRewrap rotates the secrets: after Rewrap under "B,A", every person
// reads and is found under "B" alone, and a second Rewrap has nothing to
// do.
func TestRewrap(t *testing.T) {
	backends(t, func(t *testing.T, raw storage.Store) {
		ctx := context.Background()
		s := newStore(t, raw, secretA)
		var people []storage.User
		for i := range 5 {
			u := person(fmt.Sprint("rw", i))
			create(t, s, u)
			people = append(people, u)
		}
		rotated := newStore(t, raw, secretB, secretA)
		wantReadable(t, rotated, people[0]) // before the rewrap, through the old index
		pr, err := rotated.Rewrap(ctx, 2)
		if err != nil || pr.Changed != len(people) {
			t.Fatalf("Rewrap = %+v, %v; want %d rewrapped", pr, err, len(people))
		}
		for _, u := range dump(t, raw) {
			if u.Sealed.KEK != rotated.keys.Current() {
				t.Errorf("%s wrapped under %s, want %s", u.ID, u.Sealed.KEK, rotated.keys.Current())
			}
		}
		if pr, err := rotated.Rewrap(ctx, 2); err != nil || pr.Changed != 0 {
			t.Errorf("second Rewrap = %+v, %v; want nothing to do", pr, err)
		}
		current := newStore(t, raw, secretB)
		for _, u := range people {
			wantReadable(t, current, u)
		}
		wantRefused(t, raw, secretA) // the retired secret alone
	})
}

// interrupting cancels ctx after n calls of SealUser, as a stopped
// `migrate seal` would be.
type interrupting struct {
	storage.Store
	n      int
	cancel context.CancelFunc
}

func (i *interrupting) SealUser(ctx context.Context, old, u storage.User) error {
	if i.n--; i.n < 0 {
		i.cancel()
	}
	return i.Store.SealUser(ctx, old, u)
}

// TestSealPlainResumable seals rows written before sealing, stops midway,
// reads both forms while half done, and finishes on a second run.
func TestSealPlainResumable(t *testing.T) {
	backends(t, func(t *testing.T, raw storage.Store) {
		ctx := context.Background()
		var people []storage.User
		for i := range 9 {
			u := person(fmt.Sprint("plain", i))
			create(t, raw, u) // plain, as before migration 019
			people = append(people, u)
		}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		half := newStore(t, &interrupting{Store: raw, n: 4, cancel: cancel}, secretA)
		if _, err := half.SealPlain(cctx, 2); !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted SealPlain = %v, want context.Canceled", err)
		}
		left, err := raw.CountPlainUsers(ctx)
		if err != nil || left == 0 || left == len(people) {
			t.Fatalf("after the interruption %d of %d plain (%v): want some sealed, some not", left, len(people), err)
		}
		// Half sealed: a server reads both forms, and refuses a plain
		// row's username to a new person.
		s := newStore(t, raw, secretA)
		for _, u := range people {
			wantReadable(t, s, u)
		}
		for _, u := range people[len(people)-1:] {
			dup := person("dup")
			dup.Username = u.Username
			if err := s.CreateUser(ctx, dup); !errors.Is(err, storage.ErrAlreadyExists) {
				t.Errorf("CreateUser with the username of %s while half sealed = %v, want ErrAlreadyExists", u.ID, err)
			}
		}
		pr, err := s.SealPlain(ctx, 2)
		if err != nil || pr.Changed != left || pr.Left != 0 {
			t.Fatalf("second SealPlain = %+v, %v; want %d sealed, none left", pr, err, left)
		}
		for _, u := range dump(t, raw) {
			if u.Sealed == nil || u.Username != "" {
				t.Errorf("%s still plain after the second run", u.ID)
			}
		}
		for _, u := range people {
			wantReadable(t, s, u)
		}
		if pr, err := s.SealPlain(ctx, 2); err != nil || pr.Changed != 0 {
			t.Errorf("third SealPlain = %+v, %v; want nothing to do", pr, err)
		}
	})
}

// legacySealer seals factor secrets the way authz/mfa did before sealing:
// under the secrets directly, bound to the person and the factor.
func legacySealer(t testing.TB) (seal func(userID, factorID string, b []byte) []byte, open func(userID, factorID string, b []byte) ([]byte, error)) {
	ks, err := keys.NewSealer([]string{secretA}, nil)
	if err != nil {
		t.Fatal(err)
	}
	aad := func(u, f string) []byte { return []byte(u + "/" + f) }
	return func(u, f string, b []byte) []byte {
			out, err := ks.Seal(b, aad(u, f))
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, func(u, f string, b []byte) ([]byte, error) {
			out, _, err := ks.Open(b, aad(u, f))
			return out, err
		}
}

func factorOf(u storage.User, secret string) storage.Factor {
	return storage.Factor{ID: "f_" + u.ID, UserID: u.ID, Kind: storage.FactorTOTP, Secret: []byte(secret),
		CreatedAt: time.Now().UTC().Truncate(time.Second)}
}

func wantFactorSecret(t testing.TB, s storage.FactorStore, userID, want string) {
	t.Helper()
	fs, err := s.ListFactors(context.Background(), userID)
	if err != nil || len(fs) != 1 || string(fs[0].Secret) != want {
		t.Errorf("ListFactors(%s) = %+v, %v; want the secret in the clear", userID, fs, err)
	}
}

// TestFactorSecretsSealed checks that a factor secret goes down sealed
// under the person's data key (bound to the person and the factor), comes
// back in the clear, and that a copy of it made before erasure opens
// with nothing once the person is erased.
func TestFactorSecretsSealed(t *testing.T) {
	backends(t, func(t *testing.T, raw storage.Store) {
		ctx := context.Background()
		s := newStore(t, raw, secretA)
		u := person("totp")
		create(t, s, u)
		const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
		f := factorOf(u, secret)
		if err := s.CreateFactor(ctx, f); err != nil {
			t.Fatal(err)
		}
		fs, err := raw.ListFactors(ctx, u.ID)
		if err != nil || len(fs) != 1 || fs[0].Secret[0] != factorVersion || bytes.Contains(fs[0].Secret, []byte(secret)) {
			t.Fatalf("the backend holds %+v (%v); want the secret sealed", fs, err)
		}
		stored := fs[0]
		wantFactorSecret(t, s, u.ID, secret)
		// Moved onto another factor ID, it does not open.
		moved := stored
		moved.ID = "f_other"
		if err := raw.CreateFactor(ctx, storage.Factor{ID: moved.ID, UserID: u.ID, Kind: "other", Secret: moved.Secret, CreatedAt: moved.CreatedAt}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ListFactors(ctx, u.ID); !errors.Is(err, ErrSealed) {
			t.Errorf("ListFactors with a secret moved to another factor = %v, want ErrSealed", err)
		}
		dek, err := s.dataKey(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.dataKey(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the data key after erasure: %v, want none", err)
		}
		// The copy opens only with the data key, which is gone.
		aead, _ := gcm(dek)
		if b, err := aead.Open(nil, stored.Secret[1:1+nonceLen], stored.Secret[1+nonceLen:], factorAAD(u.ID, stored.ID)); err != nil || string(b) != secret {
			t.Errorf("the copy does not open with the erased data key (%v): the check above proves nothing", err)
		}
	})
}

// TestSealPlainSealsLegacyFactors reads a factor secret stored before
// sealing (under the secrets directly) and moves it under the person's
// data key: afterwards it reads without the old form's opener.
func TestSealPlainSealsLegacyFactors(t *testing.T) {
	backends(t, func(t *testing.T, raw storage.Store) {
		ctx := context.Background()
		sealLegacy, openLegacy := legacySealer(t)
		u := person("legacy")
		create(t, raw, u)
		const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
		f := factorOf(u, "")
		f.Secret = sealLegacy(u.ID, f.ID, []byte(secret))
		if err := raw.CreateFactor(ctx, f); err != nil {
			t.Fatal(err)
		}
		kp, _ := NewLocal([]string{secretA}, nil)
		s, err := New(ctx, Config{Store: raw, Keys: kp, Secrets: []string{secretA}, OpenLegacyFactor: openLegacy})
		if err != nil {
			t.Fatal(err)
		}
		wantFactorSecret(t, s, u.ID, secret)
		pr, err := s.SealPlain(ctx, 10)
		if err != nil || pr.Changed != 1 || pr.Factors != 1 {
			t.Fatalf("SealPlain = %+v, %v; want one person and one factor sealed", pr, err)
		}
		without := newStore(t, raw, secretA) // no opener of the old form
		wantFactorSecret(t, without, u.ID, secret)
		wantReadable(t, without, u)
		if pr, err := s.SealPlain(ctx, 10); err != nil || pr.Changed != 0 || pr.Factors != 0 {
			t.Errorf("second SealPlain = %+v, %v; want nothing to do", pr, err)
		}
	})
}

// TestSealProfile seals a changed profile under the person's own data
// key, as an update of the profile would store it through SealUser.
func TestSealProfile(t *testing.T) {
	backends(t, func(t *testing.T, raw storage.Store) {
		ctx := context.Background()
		s := newStore(t, raw, secretA)
		u := person("moves")
		create(t, s, u)
		before := dump(t, raw)[u.ID]
		changed := u
		changed.Name, changed.Email, changed.Username = "Moved Person", "moved@example.org", "moved.person"
		su, err := s.SealProfile(ctx, changed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(su.Sealed.Key, before.Sealed.Key) || su.Username != "" {
			t.Fatalf("SealProfile = %+v; want the fields sealed under the same data key", su)
		}
		if err := raw.SealUser(ctx, before, su); err != nil {
			t.Fatal(err)
		}
		wantReadable(t, s, changed)
		wantNotFoundErr(t, errOf(s.GetUserByUsername(ctx, u.Username)), "GetUserByUsername(old username)")
		wantNotFoundErr(t, errOf(s.SealProfile(ctx, person("nobody"))), "SealProfile(no such person)")
	})
}
