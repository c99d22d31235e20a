package storagetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"

	"github.com/idvauth/idvauth/storage"
)

// Contract tests of UserStore and FailureStore, and of the ID token
// algorithm of a client.

func newUser(name string) storage.User {
	t := fixture.Now()
	return storage.User{
		ID:           fixture.ID("user"),
		Username:     fixture.ID(name),
		Name:         "Person " + name,
		Email:        name + "@example.org",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		CreatedAt:    t,
		UpdatedAt:    t,
	}
}

func mustCreateUser(t testing.TB, s storage.Store, name string) storage.User {
	t.Helper()
	u := newUser(name)
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s) = %v", u.ID, err)
	}
	return u
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

func equalConsent(t testing.TB, got, want storage.Consent) {
	t.Helper()
	if !got.GrantedAt.Equal(want.GrantedAt) {
		t.Errorf("consent granted at %v, want %v", got.GrantedAt, want.GrantedAt)
	}
	got.GrantedAt, want.GrantedAt = time.Time{}, time.Time{}
	if len(got.Scopes) == 0 && len(want.Scopes) == 0 {
		got.Scopes, want.Scopes = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("consent =\n%+v\nwant\n%+v", got, want)
	}
}

func equalSession(t testing.TB, got, want storage.BrowserSession) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || !got.AuthTime.Equal(want.AuthTime) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("browser session =\n%+v\nwant\n%+v", got, want)
	}
}

func mustSaveConsent(t testing.TB, s storage.Store, c storage.Consent) {
	t.Helper()
	if err := s.SaveConsent(context.Background(), c); err != nil {
		t.Fatalf("SaveConsent(%s, %s) = %v", c.UserID, c.ClientID, err)
	}
}

func mustCreateSession(t testing.TB, s storage.Store, userID string, expires time.Time) storage.BrowserSession {
	t.Helper()
	bs := storage.BrowserSession{ID: fixture.ID("bs"), UserID: userID, AuthTime: expires.Add(-8 * time.Hour), ExpiresAt: expires}
	if err := s.CreateBrowserSession(context.Background(), bs); err != nil {
		t.Fatalf("CreateBrowserSession = %v", err)
	}
	return bs
}

func mustAddFailure(t testing.TB, s storage.Store, key string, at time.Time, window time.Duration, want int) {
	t.Helper()
	if n, err := s.AddFailure(context.Background(), key, at, window); err != nil || n != want {
		t.Fatalf("AddFailure(at %v) = %d, %v; want %d", at, n, err, want)
	}
}

func wantFailures(t testing.TB, s storage.Store, key string, at time.Time, want int, wantEnd time.Time) {
	t.Helper()
	n, end, err := s.Failures(context.Background(), key, at)
	if err != nil || n != want || !end.Equal(wantEnd) {
		t.Errorf("Failures(at %v) = %d, %v, %v; want %d, %v", at, n, end, err, want, wantEnd)
	}
}

func testClientIDTokenAlg(t *testing.T, s storage.Store) {
	ctx := context.Background()
	plain := mustCreateClient(t, s, "default")
	if got, _ := s.GetClient(ctx, plain.ID); got.IDTokenSignedResponseAlg != "" {
		t.Errorf("IDTokenSignedResponseAlg of a client created without one = %q, want empty", got.IDTokenSignedResponseAlg)
	}
	c := newClient("alg")
	c.IDTokenSignedResponseAlg = "ES256"
	mustStoreClient(t, s, c)
	for _, alg := range []string{"RS256", ""} {
		upd := c
		upd.IDTokenSignedResponseAlg = alg
		if err := s.UpdateClient(ctx, upd); err != nil {
			t.Fatalf("UpdateClient(alg %q) = %v", alg, err)
		}
		if got, _ := s.GetClient(ctx, c.ID); got.IDTokenSignedResponseAlg != alg {
			t.Errorf("GetClient after UpdateClient(alg %q): alg %q", alg, got.IDTokenSignedResponseAlg)
		}
		list, err := s.ListClients(ctx)
		if err != nil {
			t.Fatalf("ListClients = %v", err)
		}
		for _, l := range list {
			if l.ID == c.ID && l.IDTokenSignedResponseAlg != alg {
				t.Errorf("ListClients after UpdateClient(alg %q): alg %q", alg, l.IDTokenSignedResponseAlg)
			}
		}
	}
	if err := s.SetClientSecret(ctx, c.ID, []byte("digest"), fixture.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetClient(ctx, plain.ID); got.IDTokenSignedResponseAlg != "" {
		t.Errorf("another client's alg = %q, want empty", got.IDTokenSignedResponseAlg)
	}
}

func testUserCRUD(t *testing.T, s storage.Store) {
	ctx := context.Background()
	// Byte order puts "Zed" before "alice" before "émile"; many
	// collations would not.
	zed, alice, emile := newUser("Zed"), newUser("alice"), newUser("émile")
	for _, u := range []storage.User{emile, zed, alice} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%s) = %v", u.Username, err)
		}
	}
	got, err := s.GetUser(ctx, alice.ID)
	if err != nil {
		t.Fatalf("GetUser = %v", err)
	}
	equalUser(t, got, alice)
	got, err = s.GetUserByUsername(ctx, zed.Username)
	if err != nil {
		t.Fatalf("GetUserByUsername = %v", err)
	}
	equalUser(t, got, zed)

	list, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers = %v", err)
	}
	var names []string
	for _, u := range list {
		names = append(names, u.Username)
	}
	want := []string{zed.Username, alice.Username, emile.Username}
	if !sort.StringsAreSorted(want) {
		t.Fatalf("test usernames %q are not in byte order", want)
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("ListUsers usernames = %q, want %q", names, want)
	}
	for _, u := range list {
		if u.ID == emile.ID {
			equalUser(t, u, emile)
		}
	}

	if err := s.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatalf("DeleteUser = %v", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUser(ctx, alice.ID)), "GetUser after delete")
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUserByUsername(ctx, alice.Username)), "GetUserByUsername after delete")
	if list, _ := s.ListUsers(ctx); len(list) != 2 {
		t.Errorf("ListUsers after delete = %d users, want 2", len(list))
	}
	// The username is free again.
	again := newUser("alice")
	again.Username = alice.Username
	if err := s.CreateUser(ctx, again); err != nil {
		t.Fatalf("CreateUser(username of a deleted user) = %v", err)
	}
	if got, _ := s.GetUserByUsername(ctx, alice.Username); got.ID != again.ID {
		t.Errorf("GetUserByUsername = user %s, want the new user %s", got.ID, again.ID)
	}
}

func testUserNotFound(t *testing.T, s storage.Store) {
	ctx := context.Background()
	missing := newUser("missing")
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUser(ctx, missing.ID)), "GetUser(missing)")
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUserByUsername(ctx, missing.Username)), "GetUserByUsername(missing)")
	fixture.WantNotFound(t, s.DeleteUser(ctx, missing.ID), "DeleteUser(missing)")
	if list, err := s.ListUsers(ctx); err != nil || len(list) != 0 {
		t.Errorf("ListUsers on an empty store = %d, %v", len(list), err)
	}
}

func testUserAlreadyExists(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a := mustCreateUser(t, s, "a")
	sameID := newUser("other")
	sameID.ID = a.ID
	sameName := newUser("other")
	sameName.Username = a.Username
	for name, u := range map[string]storage.User{"duplicate id": sameID, "duplicate username": sameName} {
		if err := s.CreateUser(ctx, u); !errors.Is(err, storage.ErrAlreadyExists) {
			t.Errorf("CreateUser(%s) = %v, want ErrAlreadyExists", name, err)
		}
	}
	got, _ := s.GetUser(ctx, a.ID)
	equalUser(t, got, a)
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUser(ctx, sameName.ID)), "GetUser(refused user)")
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUserByUsername(ctx, sameID.Username)), "GetUserByUsername(refused user)")
	if list, _ := s.ListUsers(ctx); len(list) != 1 {
		t.Errorf("ListUsers = %d users, want 1", len(list))
	}
}

// testUserOddValues: text a backend cannot keep (NUL bytes, invalid
// UTF-8) is refused with ErrConflict and stores nothing; looking such
// values up finds nothing.
func testUserOddValues(t *testing.T, s storage.Store) {
	refuseOddUsers(t, s)
	at := fixture.Now()
	for _, v := range []string{"", "a\x00b", "\xff\xfe", string(make([]byte, 10000)), "' OR 1=1 --", "%", "_"} {
		lookUpOddPeople(t, s, v, at)
	}
	refuseOddConsentsAndSessions(t, s, at)
	// Unicode survives.
	uni := newUser("unicode")
	uni.Username = fixture.ID("zoë-身份")
	uni.Name = "Zoë Ångström — 身份"
	uni.Email = "zoë@exämple.org"
	if err := s.CreateUser(context.Background(), uni); err != nil {
		t.Fatalf("CreateUser(unicode) = %v", err)
	}
	got, err := s.GetUserByUsername(context.Background(), uni.Username)
	if err != nil {
		t.Fatalf("GetUserByUsername(unicode) = %v", err)
	}
	equalUser(t, got, uni)
}

// refuseOddUsers checks that a user with odd text in any field is
// refused.
func refuseOddUsers(t *testing.T, s storage.Store) {
	ctx := context.Background()
	fields := map[string]func(u *storage.User, v string){
		"ID":           func(u *storage.User, v string) { u.ID = v },
		"Username":     func(u *storage.User, v string) { u.Username = v },
		"Name":         func(u *storage.User, v string) { u.Name = v },
		"Email":        func(u *storage.User, v string) { u.Email = v },
		"PasswordHash": func(u *storage.User, v string) { u.PasswordHash = v },
	}
	for _, v := range []string{"a\x00b", "\xff\xfe", "\x00"} {
		for field, set := range fields {
			u := newUser("odd")
			set(&u, v)
			if err := s.CreateUser(ctx, u); !errors.Is(err, storage.ErrConflict) {
				t.Errorf("CreateUser(%s %q) = %v, want ErrConflict", field, v, err)
			}
		}
	}
	if list, err := s.ListUsers(ctx); err != nil || len(list) != 0 {
		t.Errorf("ListUsers after refused creates = %d, %v; want none", len(list), err)
	}
}

// lookUpOddPeople checks that looking up v as a user, consent, browser
// session or failure key finds nothing.
func lookUpOddPeople(t *testing.T, s storage.Store, v string, at time.Time) {
	ctx := context.Background()
	wantEachNotFound(t, v, map[string]error{
		"GetUser":              fixture.ErrOf(s.GetUser(ctx, v)),
		"GetUserByUsername":    fixture.ErrOf(s.GetUserByUsername(ctx, v)),
		"DeleteUser":           s.DeleteUser(ctx, v),
		"GetConsent":           fixture.ErrOf(s.GetConsent(ctx, v, v)),
		"GetBrowserSession":    fixture.ErrOf(s.GetBrowserSession(ctx, v)),
		"DeleteBrowserSession": s.DeleteBrowserSession(ctx, v),
	})
	if l, err := s.ListConsents(ctx, v); err != nil || len(l) != 0 {
		t.Errorf("ListConsents(%.20q) = %d, %v; want none", v, len(l), err)
	}
	if n, err := s.DeleteConsents(ctx, v, v); err != nil || n.Consents != 0 {
		t.Errorf("DeleteConsents(%.20q) = %+v, %v; want none", v, n, err)
	}
	if n, end, err := s.Failures(ctx, v, at); err != nil || n != 0 || !end.IsZero() {
		t.Errorf("Failures(%.20q) = %d, %v, %v; want none", v, n, end, err)
	}
	if err := s.ClearFailures(ctx, v); err != nil {
		t.Errorf("ClearFailures(%.20q) = %v", v, err)
	}
}

// refuseOddConsentsAndSessions checks that failure keys, consents and
// browser sessions with odd text are refused: ErrNotFound for a user that
// cannot exist, ErrConflict for the rest.
func refuseOddConsentsAndSessions(t *testing.T, s storage.Store, at time.Time) {
	ctx := context.Background()
	u := mustCreateUser(t, s, "u")
	c := mustCreateClient(t, s, "c")
	for _, v := range []string{"a\x00b", "\xff\xfe"} {
		if _, err := s.AddFailure(ctx, v, at, time.Minute); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("AddFailure(%q) = %v, want ErrConflict", v, err)
		}
		if err := s.SaveConsent(ctx, storage.Consent{UserID: u.ID, ClientID: c.ID, Scopes: []string{"ok", v}, GrantedAt: at}); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("SaveConsent(scope %q) = %v, want ErrConflict", v, err)
		}
		fixture.WantNotFound(t, s.SaveConsent(ctx, storage.Consent{UserID: v, ClientID: c.ID, GrantedAt: at}), fmt.Sprintf("SaveConsent(user %q)", v))
		fixture.WantNotFound(t, s.CreateBrowserSession(ctx, storage.BrowserSession{ID: fixture.ID("bs"), UserID: v, AuthTime: at, ExpiresAt: at}),
			fmt.Sprintf("CreateBrowserSession(user %q)", v))
		if err := s.CreateBrowserSession(ctx, storage.BrowserSession{ID: v, UserID: u.ID, AuthTime: at, ExpiresAt: at}); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("CreateBrowserSession(id %q) = %v, want ErrConflict", v, err)
		}
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetConsent(ctx, u.ID, c.ID)), "GetConsent(refused consent)")
}

// people is two clients and two users, u and v, each user with consents,
// browser sessions and tokens; tc is a client's own token.
type people struct {
	a, b         storage.Client
	u, v         storage.User
	su1, su2, sv storage.BrowserSession
	tu1, tu2, tv storage.Token
	tc           storage.Token
}

func newPeople(t *testing.T, s storage.Store) people {
	var p people
	p.a, p.b = mustCreateClient(t, s, "a"), mustCreateClient(t, s, "b")
	p.u, p.v = mustCreateUser(t, s, "u"), mustCreateUser(t, s, "v")
	at := fixture.Now()
	for _, c := range []storage.Consent{
		{UserID: p.u.ID, ClientID: p.a.ID, Scopes: []string{"openid"}, GrantedAt: at},
		{UserID: p.u.ID, ClientID: p.b.ID, Scopes: []string{"openid"}, GrantedAt: at},
		{UserID: p.v.ID, ClientID: p.a.ID, Scopes: []string{"openid"}, GrantedAt: at},
	} {
		mustSaveConsent(t, s, c)
	}
	p.su1, p.su2 = mustCreateSession(t, s, p.u.ID, at.Add(time.Hour)), mustCreateSession(t, s, p.u.ID, at.Add(-time.Hour))
	p.sv = mustCreateSession(t, s, p.v.ID, at.Add(time.Hour))
	p.tu1 = newToken(p.a.ID, storage.AccessToken)
	p.tu1.Subject = p.u.ID
	p.tu2 = newToken(p.b.ID, storage.RefreshToken)
	p.tu2.Subject = p.u.ID
	p.tv = newToken(p.a.ID, storage.AccessToken)
	p.tv.Subject = p.v.ID
	p.tc = newToken(p.a.ID, storage.AccessToken) // the client's own: Subject is a.ID
	for _, tok := range []storage.Token{p.tu1, p.tu2, p.tv, p.tc} {
		mustCreateToken(t, s, tok)
	}
	return p
}

// testDeleteUserDeletesEverything: a deleted user's consents, browser
// sessions and tokens go with them; nobody else's do.
func testDeleteUserDeletesEverything(t *testing.T, s storage.Store) {
	ctx := context.Background()
	p := newPeople(t, s)
	if err := s.DeleteUser(ctx, p.u.ID); err != nil {
		t.Fatalf("DeleteUser = %v", err)
	}
	wantUserGone(t, s, p)
	wantOthersKept(t, s, p)
	fixture.WantNotFound(t, s.DeleteUser(ctx, p.u.ID), "DeleteUser twice")
	// An ID that is no user deletes nothing, even tokens with that subject.
	fixture.WantNotFound(t, s.DeleteUser(ctx, p.a.ID), "DeleteUser(a client's ID)")
	wantKept(t, fixture.ErrOf(s.GetToken(ctx, p.tc.Kind, p.tc.Signature)), "token of the subject of DeleteUser(no such user)")
}

// wantUserGone checks that p.u and everything of theirs is gone.
func wantUserGone(t *testing.T, s storage.Store, p people) {
	ctx := context.Background()
	fixture.WantNotFound(t, fixture.ErrOf(s.GetUserByUsername(ctx, p.u.Username)), "GetUserByUsername(deleted)")
	for _, cid := range []string{p.a.ID, p.b.ID} {
		fixture.WantNotFound(t, fixture.ErrOf(s.GetConsent(ctx, p.u.ID, cid)), "consent of a deleted user")
	}
	if l, _ := s.ListConsents(ctx, p.u.ID); len(l) != 0 {
		t.Errorf("ListConsents(deleted user) = %d, want none", len(l))
	}
	for _, bs := range []storage.BrowserSession{p.su1, p.su2} {
		fixture.WantNotFound(t, fixture.ErrOf(s.GetBrowserSession(ctx, bs.ID)), "browser session of a deleted user")
	}
	for _, tok := range []storage.Token{p.tu1, p.tu2} {
		fixture.WantNotFound(t, fixture.ErrOf(s.GetToken(ctx, tok.Kind, tok.Signature)), string(tok.Kind)+" of a deleted user")
	}
}

// wantOthersKept checks that p.v, the clients and everything of theirs
// stay.
func wantOthersKept(t *testing.T, s storage.Store, p people) {
	ctx := context.Background()
	if got, err := s.GetUser(ctx, p.v.ID); err != nil {
		t.Errorf("GetUser(other user) = %v", err)
	} else {
		equalUser(t, got, p.v)
	}
	wantKept(t, fixture.ErrOf(s.GetConsent(ctx, p.v.ID, p.a.ID)), "consent of another user")
	wantKept(t, fixture.ErrOf(s.GetBrowserSession(ctx, p.sv.ID)), "browser session of another user")
	for _, tok := range []storage.Token{p.tv, p.tc} {
		wantKept(t, fixture.ErrOf(s.GetToken(ctx, tok.Kind, tok.Signature)), "token of subject "+tok.Subject)
	}
	for _, cid := range []string{p.a.ID, p.b.ID} {
		wantKept(t, fixture.ErrOf(s.GetClient(ctx, cid)), "GetClient")
	}
}

func testConsents(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a, b := mustCreateClient(t, s, "a"), mustCreateClient(t, s, "b")
	u, w := mustCreateUser(t, s, "u"), mustCreateUser(t, s, "w")
	t0 := fixture.Now()
	saveConsentKeepsCopy(t, s, storage.Consent{UserID: u.ID, ClientID: a.ID, GrantedAt: t0})

	// Saving again replaces: scopes and time.
	replaced := storage.Consent{UserID: u.ID, ClientID: a.ID, Scopes: []string{"openid", "identity.verify", "identity.read_status"},
		GrantedAt: t0.Add(time.Minute)}
	mustSaveConsent(t, s, replaced)
	got, _ := s.GetConsent(ctx, u.ID, a.ID)
	equalConsent(t, got, replaced)

	toB := storage.Consent{UserID: u.ID, ClientID: b.ID, Scopes: []string{"identity.read_status"}, GrantedAt: t0}
	mustSaveConsent(t, s, toB)
	others := storage.Consent{UserID: w.ID, ClientID: a.ID, Scopes: []string{"openid"}, GrantedAt: t0}
	mustSaveConsent(t, s, others)
	list, err := s.ListConsents(ctx, u.ID)
	if err != nil {
		t.Fatalf("ListConsents = %v", err)
	}
	want := []storage.Consent{replaced, toB}
	if b.ID < a.ID {
		want = []storage.Consent{toB, replaced}
	}
	equalList(t, "ListConsents", list, want, equalConsent)

	withdrawConsents(t, s, replaced, b.ID, others)

	// A consent may hold no scopes.
	empty := storage.Consent{UserID: u.ID, ClientID: b.ID, GrantedAt: t0}
	mustSaveConsent(t, s, empty)
	if got, err := s.GetConsent(ctx, u.ID, b.ID); err != nil || len(got.Scopes) != 0 {
		t.Errorf("GetConsent(no scopes) = %+v, %v; want no scopes", got, err)
	}
}

// saveConsentKeepsCopy saves c with two scopes and checks that neither
// changing what it saved nor what it read back changes the stored one.
func saveConsentKeepsCopy(t *testing.T, s storage.Store, c storage.Consent) {
	scopes := []string{"openid", "identity.verify"}
	c.Scopes = scopes
	mustSaveConsent(t, s, c)
	scopes[0] = "changed"
	c.Scopes = []string{"openid", "identity.verify"}
	got, err := s.GetConsent(context.Background(), c.UserID, c.ClientID)
	if err != nil {
		t.Fatalf("GetConsent = %v", err)
	}
	equalConsent(t, got, c)
	got.Scopes[0] = "changed"
	if again, _ := s.GetConsent(context.Background(), c.UserID, c.ClientID); again.Scopes[0] != "openid" {
		t.Error("changing a returned consent changed the stored one")
	}
}

// withdrawConsents withdraws toA, one of two consents of its user (the
// other to client b), then both; others, of another user, stays.
func withdrawConsents(t *testing.T, s storage.Store, toA storage.Consent, b string, others storage.Consent) {
	ctx := context.Background()
	u, a := toA.UserID, toA.ClientID
	if n, err := s.DeleteConsents(ctx, u, a); err != nil || n.Consents != 1 {
		t.Errorf("DeleteConsents(one) = %+v, %v; want 1 consent", n, err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetConsent(ctx, u, a)), "GetConsent after withdrawal")
	if n, err := s.DeleteConsents(ctx, u, a); err != nil || n.Consents != 0 {
		t.Errorf("DeleteConsents(one, again) = %+v, %v; want 0 consents", n, err)
	}
	wantKept(t, fixture.ErrOf(s.GetConsent(ctx, u, b)), "the consent to another client")

	// Withdraw all: the other user's consent stays.
	mustSaveConsent(t, s, toA)
	if n, err := s.DeleteConsents(ctx, u, ""); err != nil || n.Consents != 2 {
		t.Errorf("DeleteConsents(all) = %+v, %v; want 2 consents", n, err)
	}
	if l, err := s.ListConsents(ctx, u); err != nil || len(l) != 0 {
		t.Errorf("ListConsents after withdrawing all = %d, %v; want none", len(l), err)
	}
	if n, err := s.DeleteConsents(ctx, u, ""); err != nil || n.Consents != 0 {
		t.Errorf("DeleteConsents(all, again) = %+v, %v; want 0 consents", n, err)
	}
	got, err := s.GetConsent(ctx, others.UserID, others.ClientID)
	if err != nil {
		t.Fatalf("another user's consent = %v, want it kept", err)
	}
	equalConsent(t, got, others)
}

func testConsentNeedsUserAndClient(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "c")
	u := mustCreateUser(t, s, "u")
	ghostUser, ghostClient := fixture.ID("ghost"), fixture.ID("ghost")
	for name, cons := range map[string]storage.Consent{
		"missing user":   {UserID: ghostUser, ClientID: c.ID, Scopes: []string{"openid"}, GrantedAt: fixture.Now()},
		"missing client": {UserID: u.ID, ClientID: ghostClient, Scopes: []string{"openid"}, GrantedAt: fixture.Now()},
	} {
		if err := s.SaveConsent(ctx, cons); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("SaveConsent(%s) = %v, want ErrNotFound", name, err)
		}
		fixture.WantNotFound(t, fixture.ErrOf(s.GetConsent(ctx, cons.UserID, cons.ClientID)), "GetConsent(refused consent, "+name+")")
	}
	if l, _ := s.ListConsents(ctx, u.ID); len(l) != 0 {
		t.Errorf("ListConsents = %d, want none", len(l))
	}
}

func testDeleteClientDeletesConsents(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a, b := mustCreateClient(t, s, "a"), mustCreateClient(t, s, "b")
	u := mustCreateUser(t, s, "u")
	for _, cid := range []string{a.ID, b.ID} {
		mustSaveConsent(t, s, storage.Consent{UserID: u.ID, ClientID: cid, Scopes: []string{"openid"}, GrantedAt: fixture.Now()})
	}
	if err := s.DeleteClient(ctx, a.ID); err != nil {
		t.Fatalf("DeleteClient = %v", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetConsent(ctx, u.ID, a.ID)), "consent to a deleted client")
	if l, _ := s.ListConsents(ctx, u.ID); len(l) != 1 || l[0].ClientID != b.ID {
		t.Errorf("ListConsents after DeleteClient = %+v, want only the consent to %s", l, b.ID)
	}
	// A client registered again under the ID does not inherit consent.
	again := newClient("a")
	again.ID = a.ID
	if err := s.CreateClient(ctx, again); err != nil {
		t.Fatal(err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetConsent(ctx, u.ID, a.ID)), "consent to a re-registered client")
}

func testBrowserSessions(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s, "u")
	t0 := fixture.Now()
	bs := storage.BrowserSession{ID: fixture.ID("bs"), UserID: u.ID, AuthTime: t0, ExpiresAt: t0.Add(8 * time.Hour)}
	if err := s.CreateBrowserSession(ctx, bs); err != nil {
		t.Fatalf("CreateBrowserSession = %v", err)
	}
	got, err := s.GetBrowserSession(ctx, bs.ID)
	if err != nil {
		t.Fatalf("GetBrowserSession = %v", err)
	}
	equalSession(t, got, bs)

	dup := storage.BrowserSession{ID: bs.ID, UserID: u.ID, AuthTime: t0.Add(time.Hour), ExpiresAt: t0.Add(9 * time.Hour)}
	if err := s.CreateBrowserSession(ctx, dup); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("CreateBrowserSession(duplicate) = %v, want ErrAlreadyExists", err)
	}
	got, _ = s.GetBrowserSession(ctx, bs.ID)
	equalSession(t, got, bs)

	// An expired session is still returned: the caller decides.
	old := mustCreateSession(t, s, u.ID, t0.Add(-time.Hour))
	if got, err := s.GetBrowserSession(ctx, old.ID); err != nil {
		t.Errorf("GetBrowserSession(expired) = %v, want the record", err)
	} else {
		equalSession(t, got, old)
	}

	ghost := storage.BrowserSession{ID: fixture.ID("bs"), UserID: fixture.ID("ghost"), AuthTime: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateBrowserSession(ctx, ghost); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("CreateBrowserSession(missing user) = %v, want ErrNotFound", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetBrowserSession(ctx, ghost.ID)), "GetBrowserSession(refused session)")

	if err := s.DeleteBrowserSession(ctx, bs.ID); err != nil {
		t.Fatalf("DeleteBrowserSession = %v", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetBrowserSession(ctx, bs.ID)), "GetBrowserSession after delete")
	fixture.WantNotFound(t, s.DeleteBrowserSession(ctx, bs.ID), "DeleteBrowserSession twice")
	wantKept(t, fixture.ErrOf(s.GetBrowserSession(ctx, old.ID)), "another session")
}

// testDeleteExpiredSessionsAndFailures: DeleteExpired removes at most
// limit each of expired token records, browser sessions and failure
// windows, and counts them all.
func testDeleteExpiredSessionsAndFailures(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "c")
	u := mustCreateUser(t, s, "u")
	t0 := fixture.Now()
	tok := newToken(c.ID, storage.AccessToken)
	tok.ExpiresAt = t0.Add(-time.Minute)
	mustCreateToken(t, s, tok)
	var expiredSessions []storage.BrowserSession
	var expiredKeys []string
	for i := range 3 {
		expiredSessions = append(expiredSessions, mustCreateSession(t, s, u.ID, t0.Add(-time.Duration(i+1)*time.Minute)))
		key := fixture.ID("fail")
		mustAddFailure(t, s, key, t0.Add(-2*time.Hour), time.Minute, 1)
		expiredKeys = append(expiredKeys, key)
	}
	live := mustCreateSession(t, s, u.ID, t0.Add(time.Hour))
	liveKey := fixture.ID("fail")
	mustAddFailure(t, s, liveKey, t0.Add(-time.Minute), time.Hour, 1)

	// 1 token, 2 sessions, 2 windows; then 1 session, 1 window; then none.
	for i, want := range []int{5, 2, 0} {
		if n, err := s.DeleteExpired(ctx, t0, 2); err != nil || n != want {
			t.Fatalf("DeleteExpired call %d (limit 2) = %d, %v; want %d", i+1, n, err, want)
		}
	}
	for _, bs := range expiredSessions {
		fixture.WantNotFound(t, fixture.ErrOf(s.GetBrowserSession(ctx, bs.ID)), "expired session")
	}
	for _, key := range expiredKeys {
		// Asked about a time inside it, a window still stored would answer.
		wantFailures(t, s, key, t0.Add(-2*time.Hour), 0, time.Time{})
	}
	wantKept(t, fixture.ErrOf(s.GetBrowserSession(ctx, live.ID)), "live session")
	wantFailures(t, s, liveKey, t0, 1, t0.Add(-time.Minute).Add(time.Hour))
}

func testFailures(t *testing.T, s storage.Store) {
	ctx := context.Background()
	key, other := fixture.ID("fail"), fixture.ID("fail")
	t0 := fixture.Now()
	const w = time.Minute
	for i := range 3 {
		mustAddFailure(t, s, key, t0.Add(time.Duration(i)*10*time.Second), w, i+1)
	}
	wantFailures(t, s, key, t0.Add(30*time.Second), 3, t0.Add(w))
	wantFailures(t, s, key, t0.Add(w-time.Second), 3, t0.Add(w))
	// The window holds [start, start+window): at its end it is over.
	wantFailures(t, s, key, t0.Add(w), 0, time.Time{})
	wantFailures(t, s, other, t0, 0, time.Time{})

	// The first failure after the end starts a new window, which is fixed:
	// later failures do not move its end.
	t1 := t0.Add(w)
	mustAddFailure(t, s, key, t1, w, 1)
	wantFailures(t, s, key, t1, 1, t1.Add(w))
	mustAddFailure(t, s, key, t1.Add(30*time.Second), w, 2)
	wantFailures(t, s, key, t1.Add(30*time.Second), 2, t1.Add(w))

	// Keys are counted apart, and cleared apart.
	mustAddFailure(t, s, other, t1, time.Hour, 1)
	if err := s.ClearFailures(ctx, key); err != nil {
		t.Fatalf("ClearFailures = %v", err)
	}
	wantFailures(t, s, key, t1.Add(31*time.Second), 0, time.Time{})
	wantFailures(t, s, other, t1.Add(31*time.Second), 1, t1.Add(time.Hour))
	if err := s.ClearFailures(ctx, key); err != nil {
		t.Errorf("ClearFailures(nothing counted) = %v", err)
	}
	mustAddFailure(t, s, key, t1.Add(32*time.Second), w, 1)

	// A window that would hold nothing is refused, and counts nothing.
	fresh := fixture.ID("fail")
	for _, bad := range []time.Duration{0, -time.Second} {
		if _, err := s.AddFailure(ctx, fresh, t0, bad); err == nil {
			t.Errorf("AddFailure(window %v) succeeded, want an error", bad)
		}
	}
	wantFailures(t, s, fresh, t0, 0, time.Time{})
}

// testConcurrentFailuresCountExactly: failures counted at once, as by
// several replicas, each get their own count: 1 to n, none lost or
// repeated.
func testConcurrentFailuresCountExactly(t *testing.T, s storage.Store) {
	ctx := context.Background()
	key := fixture.ID("fail")
	at := fixture.Now()
	const n = 50
	counts := make([]int, n)
	won, errs := race(n, func(i int) error {
		var err error
		counts[i], err = s.AddFailure(ctx, key, at, time.Hour)
		return err
	})
	if won != n {
		t.Fatalf("%d of %d concurrent AddFailure calls succeeded; errors: %v", won, n, errs)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("sorted counts = %v, want 1 to %d each once", counts, n)
		}
	}
	wantFailures(t, s, key, at, n, at.Add(time.Hour))
}

// testReserveAttempt: reservations count like failures up to the limit,
// a release takes one back, and a new window starts afresh.
func testReserveAttempt(t *testing.T, s storage.Store) {
	ctx := context.Background()
	key := fixture.ID("reserve")
	at := fixture.Now()
	for i := 1; i <= 3; i++ {
		ok, n, end, err := s.ReserveAttempt(ctx, key, at, time.Hour, 3)
		if err != nil || !ok || n != i || !end.Equal(at.Add(time.Hour)) {
			t.Fatalf("ReserveAttempt #%d = %v, %d, %v, %v; want true, %d, %v", i, ok, n, end, err, i, at.Add(time.Hour))
		}
	}
	if ok, n, _, err := s.ReserveAttempt(ctx, key, at, time.Hour, 3); err != nil || ok || n != 3 {
		t.Fatalf("ReserveAttempt past the limit = %v, %d, %v; want false, 3", ok, n, err)
	}
	wantFailures(t, s, key, at, 3, at.Add(time.Hour))
	if err := s.ReleaseAttempt(ctx, key, at); err != nil {
		t.Fatal(err)
	}
	wantFailures(t, s, key, at, 2, at.Add(time.Hour))
	if ok, n, _, err := s.ReserveAttempt(ctx, key, at, time.Hour, 3); err != nil || !ok || n != 3 {
		t.Fatalf("ReserveAttempt after a release = %v, %d, %v; want true, 3", ok, n, err)
	}
	later := at.Add(time.Hour)
	if ok, n, end, err := s.ReserveAttempt(ctx, key, later, time.Hour, 3); err != nil || !ok || n != 1 || !end.Equal(later.Add(time.Hour)) {
		t.Fatalf("ReserveAttempt in a new window = %v, %d, %v, %v; want true, 1, %v", ok, n, end, err, later.Add(time.Hour))
	}
	other := fixture.ID("reserve")
	for range 2 {
		if err := s.ReleaseAttempt(ctx, other, at); err != nil {
			t.Fatalf("ReleaseAttempt of an unknown key: %v", err)
		}
	}
	wantFailures(t, s, other, at, 0, time.Time{})
	if ok, _, _, err := s.ReserveAttempt(ctx, other, at, 0, 3); err == nil || ok {
		t.Fatalf("ReserveAttempt with a zero window = %v, %v; want an error", ok, err)
	}
}

// testConcurrentReservationsStopAtLimit: of many concurrent reservations
// exactly the limit get through.
func testConcurrentReservationsStopAtLimit(t *testing.T, s storage.Store) {
	ctx := context.Background()
	key := fixture.ID("reserve")
	at := fixture.Now()
	const n, limit = 40, 5
	var reserved atomic.Int32
	won, errs := race(n, func(int) error {
		ok, _, _, err := s.ReserveAttempt(ctx, key, at, time.Hour, limit)
		if ok {
			reserved.Add(1)
		}
		return err
	})
	if won != n {
		t.Fatalf("%d of %d concurrent ReserveAttempt calls succeeded; errors: %v", won, n, errs)
	}
	if got := reserved.Load(); got != limit {
		t.Fatalf("%d of %d concurrent reservations got through, want exactly %d", got, n, limit)
	}
	wantFailures(t, s, key, at, limit, at.Add(time.Hour))
}

// testWithdrawConsentRevokesTokens: withdrawing a consent revokes, in the
// same step, every token record of that person and client (counting the
// usable access tokens, refresh tokens and codes); withdrawing all
// revokes those of every client. Nobody else's tokens go, and an ID that
// is no user revokes nothing.
func testWithdrawConsentRevokesTokens(t *testing.T, s storage.Store) {
	ctx := context.Background()
	p := newPeople(t, s)
	ofUA := func(kind storage.TokenKind) storage.Token {
		tok := newToken(p.a.ID, kind)
		tok.Subject, tok.RequestID = p.u.ID, p.tu1.RequestID
		mustCreateToken(t, s, tok)
		return tok
	}
	code, pkce, rotated := ofUA(storage.AuthorizeCode), ofUA(storage.PKCE), ofUA(storage.RefreshToken)
	if _, err := s.ConsumeToken(ctx, rotated.Kind, rotated.Signature, fixture.Now()); err != nil {
		t.Fatalf("ConsumeToken = %v", err)
	}
	withdraw := func(userID, clientID string, want storage.Withdrawal) {
		t.Helper()
		if got, err := s.DeleteConsents(ctx, userID, clientID); err != nil || got != want {
			t.Errorf("DeleteConsents(%s, %q) = %+v, %v; want %+v", userID, clientID, got, err, want)
		}
	}
	// The access token and the code count; the used refresh token and the
	// PKCE record go uncounted.
	withdraw(p.u.ID, p.a.ID, storage.Withdrawal{Consents: 1, Tokens: 2})
	for _, tok := range []storage.Token{p.tu1, code, pkce, rotated} {
		fixture.WantNotFound(t, fixture.ErrOf(s.GetToken(ctx, tok.Kind, tok.Signature)), string(tok.Kind)+" after its consent was withdrawn")
	}
	for _, tok := range []storage.Token{p.tu2, p.tv, p.tc} {
		wantKept(t, fixture.ErrOf(s.GetToken(ctx, tok.Kind, tok.Signature)), "token of another client or subject ("+string(tok.Kind)+")")
	}
	withdraw(p.u.ID, p.a.ID, storage.Withdrawal{})
	// A token that outlived its consent record goes too.
	late := ofUA(storage.AccessToken)
	withdraw(p.u.ID, p.a.ID, storage.Withdrawal{Tokens: 1})
	fixture.WantNotFound(t, fixture.ErrOf(s.GetToken(ctx, late.Kind, late.Signature)), "token without a consent record, after withdrawal")

	// Withdrawing all: the consent to b and its refresh token.
	withdraw(p.u.ID, "", storage.Withdrawal{Consents: 1, Tokens: 1})
	fixture.WantNotFound(t, fixture.ErrOf(s.GetToken(ctx, p.tu2.Kind, p.tu2.Signature)), "refresh token after withdrawing all")
	wantKept(t, fixture.ErrOf(s.GetBrowserSession(ctx, p.su1.ID)), "the person's browser session")
	// An ID that is no user (the subject of a client's own token).
	withdraw(p.a.ID, "", storage.Withdrawal{})
	wantOthersKept(t, s, p)
}
