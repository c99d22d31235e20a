// Package logouttest is the part of the storage contract about logout:
// the logout fields of a client, the grants of browser sessions and the
// back-channel logout outbox; storagetest.Run runs it with the rest.
package logouttest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/storagetest/internal/fixture"

	"github.com/idvauth/idvauth/storage"
)

// Tests are the contract tests of LogoutStore; each takes a fresh, empty
// store.
var Tests = []struct {
	Name string
	Fn   func(t *testing.T, s storage.Store)
}{
	{"ClientLogoutFields", testClientLogoutFields},
	{"SessionGrants", testSessionGrants},
	{"EndBrowserSession", testEndBrowserSession},
	{"ConcurrentEndOneWins", testConcurrentEndOneWins},
	{"ExpireBrowserSession", testExpireBrowserSession},
	{"ListExpiredBrowserSessions", testListExpiredBrowserSessions},
	{"ReplaceBrowserSession", testReplaceBrowserSession},
	{"ConcurrentReplaceAndEnd", testConcurrentReplaceAndEnd},
	{"LogoutDeliveries", testLogoutDeliveries},
	{"ConcurrentClaimOneWins", testConcurrentClaimOneWins},
}

func testClientLogoutFields(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := mustCreateClient(t, s, "logout", func(c *storage.Client) {
		c.PostLogoutRedirectURIs = []string{"https://rp.example/bye", "https://rp.example/bye?x=1"}
		c.BackchannelLogoutURI = "https://rp.example/backchannel"
		c.BackchannelLogoutSessionRequired = true
	})
	wantLogoutFields(t, s, c)
	c.PostLogoutRedirectURIs, c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = nil, "", false
	if err := s.UpdateClient(ctx, c); err != nil {
		t.Fatalf("UpdateClient = %v", err)
	}
	wantLogoutFields(t, s, c)
}

func wantLogoutFields(t *testing.T, s storage.Store, want storage.Client) {
	t.Helper()
	got, err := s.GetClient(context.Background(), want.ID)
	if err != nil {
		t.Fatalf("GetClient = %v", err)
	}
	if len(got.PostLogoutRedirectURIs) != 0 || len(want.PostLogoutRedirectURIs) != 0 {
		if !reflect.DeepEqual(got.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs) {
			t.Errorf("PostLogoutRedirectURIs = %q, want %q", got.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs)
		}
	}
	if got.BackchannelLogoutURI != want.BackchannelLogoutURI || got.BackchannelLogoutSessionRequired != want.BackchannelLogoutSessionRequired {
		t.Errorf("back-channel logout = %q %t, want %q %t", got.BackchannelLogoutURI, got.BackchannelLogoutSessionRequired,
			want.BackchannelLogoutURI, want.BackchannelLogoutSessionRequired)
	}
}

func mustCreateClient(t testing.TB, s storage.Store, name string, edit ...func(*storage.Client)) storage.Client {
	t.Helper()
	at := fixture.Now()
	c := storage.Client{ID: fixture.ID(name), Name: name, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		RedirectURIs: []string{"https://rp.example/cb"}, Scopes: []string{"openid"}, TokenEndpointAuthMethod: "client_secret_basic",
		SecretHash: make([]byte, 32), CreatedAt: at, UpdatedAt: at}
	for _, e := range edit {
		e(&c)
	}
	if err := s.CreateClient(context.Background(), c); err != nil {
		t.Fatalf("CreateClient = %v", err)
	}
	return c
}

func mustCreateSession(t testing.TB, s storage.Store) storage.BrowserSession {
	t.Helper()
	at := fixture.Now()
	u := storage.User{ID: fixture.ID("user"), Username: fixture.ID("person"), PasswordHash: "x", CreatedAt: at, UpdatedAt: at}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser = %v", err)
	}
	bs := storage.BrowserSession{ID: fixture.ID("bs"), UserID: u.ID, AuthTime: at, ExpiresAt: at.Add(time.Hour)}
	if err := s.CreateBrowserSession(context.Background(), bs); err != nil {
		t.Fatalf("CreateBrowserSession = %v", err)
	}
	return bs
}

func mustCreateToken(t testing.TB, s storage.Store, clientID, requestID string, kind storage.TokenKind) storage.Token {
	t.Helper()
	at := fixture.Now()
	tok := storage.Token{Kind: kind, Signature: fixture.ID("sig"), RequestID: requestID, ClientID: clientID, Subject: "sub",
		Scopes: []string{"openid"}, Audience: []string{"idv-api"}, IssuedAt: at, ExpiresAt: at.Add(time.Hour)}
	if err := s.CreateToken(context.Background(), tok); err != nil {
		t.Fatalf("CreateToken = %v", err)
	}
	return tok
}

// grantFixture is a person signed in to one browser session, with a client.
func grantFixture(t *testing.T, s storage.Store) (storage.BrowserSession, storage.Client) {
	t.Helper()
	return mustCreateSession(t, s), mustCreateClient(t, s, "rp")
}

func mustAddGrant(t testing.TB, s storage.Store, bs storage.BrowserSession, clientID string, at time.Time) storage.SessionGrant {
	t.Helper()
	g := storage.SessionGrant{SessionID: bs.ID, RequestID: fixture.ID("req"), ClientID: clientID, SID: fixture.ID("sid"), CreatedAt: at}
	if err := s.AddSessionGrant(context.Background(), g); err != nil {
		t.Fatalf("AddSessionGrant = %v", err)
	}
	return g
}

func testSessionGrants(t *testing.T, s storage.Store) {
	ctx := context.Background()
	bs, c := grantFixture(t, s)
	other := mustCreateClient(t, s, "rp2")
	at := fixture.Now()
	g1 := mustAddGrant(t, s, bs, c.ID, at)
	g2 := mustAddGrant(t, s, bs, other.ID, at.Add(time.Second))
	fixture.WantNotFound(t, s.AddSessionGrant(ctx, storage.SessionGrant{SessionID: "no-such-session", RequestID: fixture.ID("req"), ClientID: c.ID, SID: "x", CreatedAt: at}), "AddSessionGrant(unknown session)")
	fixture.WantNotFound(t, s.AddSessionGrant(ctx, storage.SessionGrant{SessionID: bs.ID, RequestID: fixture.ID("req"), ClientID: "no-such-client", SID: "x", CreatedAt: at}), "AddSessionGrant(unknown client)")
	if err := s.AddSessionGrant(ctx, g1); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("AddSessionGrant(again) = %v, want ErrAlreadyExists", err)
	}
	wantGrants(t, s, bs.ID, g1, g2)
	// The grants go with their client and with their session.
	if err := s.DeleteClient(ctx, other.ID); err != nil {
		t.Fatalf("DeleteClient = %v", err)
	}
	wantGrants(t, s, bs.ID, g1)
	if err := s.DeleteBrowserSession(ctx, bs.ID); err != nil {
		t.Fatalf("DeleteBrowserSession = %v", err)
	}
	wantGrants(t, s, bs.ID)
}

func wantGrants(t testing.TB, s storage.Store, sessionID string, want ...storage.SessionGrant) {
	t.Helper()
	got, err := s.ListSessionGrants(context.Background(), sessionID)
	if err != nil {
		t.Fatalf("ListSessionGrants = %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("ListSessionGrants = %d grants, want %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].CreatedAt.Equal(want[i].CreatedAt) {
			t.Errorf("grant created at %v, want %v", got[i].CreatedAt, want[i].CreatedAt)
		}
		got[i].CreatedAt, want[i].CreatedAt = time.Time{}, time.Time{}
		if got[i] != want[i] {
			t.Errorf("grant = %+v, want %+v", got[i], want[i])
		}
	}
}

func testEndBrowserSession(t *testing.T, s storage.Store) {
	ctx := context.Background()
	bs, c := grantFixture(t, s)
	g := mustAddGrant(t, s, bs, c.ID, fixture.Now())
	var revoked, kept []storage.Token
	for _, kind := range []storage.TokenKind{storage.AccessToken, storage.RefreshToken} {
		revoked = append(revoked, mustCreateToken(t, s, c.ID, g.RequestID, kind))
		kept = append(kept, mustCreateToken(t, s, c.ID, fixture.ID("req"), kind)) // another grant, not of this session
	}
	d := storage.LogoutDelivery{ID: fixture.ID("dl"), ClientID: c.ID, Subject: bs.UserID, SID: g.SID, NextAttempt: fixture.Now(), CreatedAt: fixture.Now()}
	fixture.WantNotFound(t, s.EndBrowserSession(ctx, "no-such-session", []storage.LogoutDelivery{d}), "EndBrowserSession(unknown)")
	if got := claimAll(t, s); len(got) != 0 {
		t.Fatalf("after a failed EndBrowserSession %d deliveries are queued, want none", len(got))
	}
	if err := s.EndBrowserSession(ctx, bs.ID, []storage.LogoutDelivery{d}); err != nil {
		t.Fatalf("EndBrowserSession = %v", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetBrowserSession(ctx, bs.ID)), "GetBrowserSession after the end")
	wantGrants(t, s, bs.ID)
	for _, tok := range revoked {
		fixture.WantNotFound(t, fixture.ErrOf(s.GetToken(ctx, tok.Kind, tok.Signature)), "GetToken("+string(tok.Kind)+" of the session)")
	}
	for _, tok := range kept {
		if _, err := s.GetToken(ctx, tok.Kind, tok.Signature); err != nil {
			t.Errorf("GetToken(%s of another grant) = %v, want it kept", tok.Kind, err)
		}
	}
	got := claimAll(t, s)
	if len(got) != 1 || got[0].ID != d.ID || got[0].ClientID != c.ID || got[0].Subject != bs.UserID || got[0].SID != g.SID {
		t.Fatalf("queued deliveries = %+v, want %+v", got, d)
	}
	fixture.WantNotFound(t, s.EndBrowserSession(ctx, bs.ID, nil), "EndBrowserSession(again)")
}

// claimAll claims every delivery due in the next hour.
func claimAll(t testing.TB, s storage.Store) []storage.LogoutDelivery {
	t.Helper()
	got, err := s.ClaimLogoutDeliveries(context.Background(), fixture.Now().Add(time.Hour), time.Minute, 100)
	if err != nil {
		t.Fatalf("ClaimLogoutDeliveries = %v", err)
	}
	return got
}

// testConcurrentEndOneWins: two logouts of one session race; one ends it,
// and its deliveries alone are queued.
func testConcurrentEndOneWins(t *testing.T, s storage.Store) {
	bs, c := grantFixture(t, s)
	mustAddGrant(t, s, bs, c.ID, fixture.Now())
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := storage.LogoutDelivery{ID: fixture.ID("dl"), ClientID: c.ID, Subject: bs.UserID, SID: "sid", NextAttempt: fixture.Now(), CreatedAt: fixture.Now()}
			errs[i] = s.EndBrowserSession(context.Background(), bs.ID, []storage.LogoutDelivery{d})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, storage.ErrNotFound):
			t.Errorf("EndBrowserSession = %v, want nil or ErrNotFound", err)
		}
	}
	if got := claimAll(t, s); won != 1 || len(got) != 1 {
		t.Errorf("%d of %d logouts won and %d deliveries are queued, want 1 and 1", won, n, len(got))
	}
}

func testLogoutDeliveries(t *testing.T, s storage.Store) {
	ctx := context.Background()
	bs, c := grantFixture(t, s)
	at := fixture.Now()
	soon := storage.LogoutDelivery{ID: fixture.ID("dl"), ClientID: c.ID, Subject: bs.UserID, SID: "sid-1", NextAttempt: at, CreatedAt: at}
	later := storage.LogoutDelivery{ID: fixture.ID("dl"), ClientID: c.ID, Subject: bs.UserID, SID: "sid-2", NextAttempt: at.Add(time.Hour), CreatedAt: at}
	if err := s.EndBrowserSession(ctx, bs.ID, []storage.LogoutDelivery{soon, later}); err != nil {
		t.Fatalf("EndBrowserSession = %v", err)
	}
	got, err := s.ClaimLogoutDeliveries(ctx, at, time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].ID != soon.ID || !got[0].NextAttempt.Equal(at.Add(time.Minute)) {
		t.Fatalf("ClaimLogoutDeliveries(now) = %+v, %v; want only %s, leased for a minute", got, err, soon.ID)
	}
	// Leased: not claimed again before the lease ends.
	if got, _ := s.ClaimLogoutDeliveries(ctx, at.Add(30*time.Second), time.Minute, 10); len(got) != 0 {
		t.Errorf("ClaimLogoutDeliveries within the lease = %+v, want none", got)
	}
	if err := s.RetryLogoutDelivery(ctx, soon.ID, 1, at.Add(2*time.Hour)); err != nil {
		t.Fatalf("RetryLogoutDelivery = %v", err)
	}
	got, err = s.ClaimLogoutDeliveries(ctx, at.Add(3*time.Hour), time.Minute, 1)
	if err != nil || len(got) != 1 || got[0].ID != later.ID {
		t.Fatalf("ClaimLogoutDeliveries(limit 1) = %+v, %v; want the earliest due, %s", got, err, later.ID)
	}
	got, _ = s.ClaimLogoutDeliveries(ctx, at.Add(3*time.Hour), time.Minute, 10)
	if len(got) != 1 || got[0].ID != soon.ID || got[0].Attempts != 1 || got[0].SID != "sid-1" {
		t.Fatalf("ClaimLogoutDeliveries after the retry = %+v, want %s with 1 attempt", got, soon.ID)
	}
	for _, d := range []storage.LogoutDelivery{soon, later} {
		if err := s.FinishLogoutDelivery(ctx, d.ID); err != nil {
			t.Fatalf("FinishLogoutDelivery = %v", err)
		}
	}
	fixture.WantNotFound(t, s.FinishLogoutDelivery(ctx, soon.ID), fmt.Sprintf("FinishLogoutDelivery(%s) again", soon.ID))
	fixture.WantNotFound(t, s.RetryLogoutDelivery(ctx, soon.ID, 2, at), fmt.Sprintf("RetryLogoutDelivery(%s) finished", soon.ID))
	if got := claimAll(t, s); len(got) != 0 {
		t.Errorf("deliveries left after finishing = %+v, want none", got)
	}
}

// testConcurrentClaimOneWins: replicas claiming at once get each delivery
// exactly once.
func testConcurrentClaimOneWins(t *testing.T, s storage.Store) {
	bs, c := grantFixture(t, s)
	at := fixture.Now()
	var ds []storage.LogoutDelivery
	for range 20 {
		ds = append(ds, storage.LogoutDelivery{ID: fixture.ID("dl"), ClientID: c.ID, Subject: bs.UserID, SID: "sid", NextAttempt: at, CreatedAt: at})
	}
	if err := s.EndBrowserSession(context.Background(), bs.ID, ds); err != nil {
		t.Fatalf("EndBrowserSession = %v", err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			got, err := s.ClaimLogoutDeliveries(context.Background(), at, time.Minute, 5)
			if err != nil {
				t.Errorf("ClaimLogoutDeliveries = %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, d := range got {
				seen[d.ID]++
			}
		})
	}
	wg.Wait()
	if len(seen) != 20 {
		t.Errorf("%d of 20 deliveries claimed, want all", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %s claimed %d times, want once", id, n)
		}
	}
}

// sessionOf creates a browser session of user u expiring at exp.
func sessionOf(t testing.TB, s storage.Store, u storage.User, exp time.Time) storage.BrowserSession {
	t.Helper()
	bs := storage.BrowserSession{ID: fixture.ID("bs"), UserID: u.ID, AuthTime: exp.Add(-time.Hour), ExpiresAt: exp, AMR: []string{"pwd"}, Device: "Firefox on Linux"}
	if err := s.CreateBrowserSession(context.Background(), bs); err != nil {
		t.Fatalf("CreateBrowserSession = %v", err)
	}
	return bs
}

// testExpireBrowserSession: an expired session goes with its grants and
// its deliveries are queued, but the grants' tokens stay (offline
// access outlives the session).
func testExpireBrowserSession(t *testing.T, s storage.Store) {
	ctx := context.Background()
	bs, c := grantFixture(t, s)
	g := mustAddGrant(t, s, bs, c.ID, fixture.Now())
	var kept []storage.Token
	for _, kind := range []storage.TokenKind{storage.AccessToken, storage.RefreshToken} {
		kept = append(kept, mustCreateToken(t, s, c.ID, g.RequestID, kind))
	}
	d := storage.LogoutDelivery{ID: fixture.ID("dl"), ClientID: c.ID, Subject: bs.UserID, SID: g.SID, NextAttempt: fixture.Now(), CreatedAt: fixture.Now()}
	fixture.WantNotFound(t, s.ExpireBrowserSession(ctx, "no-such-session", []storage.LogoutDelivery{d}), "ExpireBrowserSession(unknown)")
	if got := claimAll(t, s); len(got) != 0 {
		t.Fatalf("after a failed ExpireBrowserSession %d deliveries are queued, want none", len(got))
	}
	if err := s.ExpireBrowserSession(ctx, bs.ID, []storage.LogoutDelivery{d}); err != nil {
		t.Fatalf("ExpireBrowserSession = %v", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetBrowserSession(ctx, bs.ID)), "GetBrowserSession after expiry")
	wantGrants(t, s, bs.ID)
	for _, tok := range kept {
		if _, err := s.GetToken(ctx, tok.Kind, tok.Signature); err != nil {
			t.Errorf("GetToken(%s of the expired session) = %v, want it kept", tok.Kind, err)
		}
	}
	if got := claimAll(t, s); len(got) != 1 || got[0].ID != d.ID || got[0].SID != g.SID {
		t.Fatalf("queued deliveries = %+v, want %+v", got, d)
	}
	fixture.WantNotFound(t, s.ExpireBrowserSession(ctx, bs.ID, nil), "ExpireBrowserSession(again)")
}

// testListExpiredBrowserSessions: only sessions expired before the time
// and with grants, earliest expiry first, at most limit.
func testListExpiredBrowserSessions(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u := fixture.MustCreateUser(t, s, "expiry")
	c := mustCreateClient(t, s, "rp")
	now := fixture.Now()
	late := sessionOf(t, s, u, now.Add(-time.Minute))
	early := sessionOf(t, s, u, now.Add(-time.Hour))
	bare := sessionOf(t, s, u, now.Add(-2*time.Hour)) // no grant: not listed
	live := sessionOf(t, s, u, now.Add(time.Hour))
	atNow := sessionOf(t, s, u, now) // not before now
	for _, bs := range []storage.BrowserSession{late, early, live, atNow} {
		mustAddGrant(t, s, bs, c.ID, now)
	}
	got, err := s.ListExpiredBrowserSessions(ctx, now, 10)
	if err != nil || len(got) != 2 || got[0].ID != early.ID || got[1].ID != late.ID {
		t.Fatalf("ListExpiredBrowserSessions = %+v, %v; want %s then %s", got, err, early.ID, late.ID)
	}
	if got[0].UserID != u.ID || !got[0].ExpiresAt.Equal(early.ExpiresAt) || got[0].Device != early.Device || !reflect.DeepEqual(got[0].AMR, early.AMR) {
		t.Errorf("listed session = %+v, want %+v", got[0], early)
	}
	if got, err := s.ListExpiredBrowserSessions(ctx, now, 1); err != nil || len(got) != 1 || got[0].ID != early.ID {
		t.Errorf("ListExpiredBrowserSessions(limit 1) = %+v, %v; want %s", got, err, early.ID)
	}
	if got, err := s.ListExpiredBrowserSessions(ctx, now.Add(-3*time.Hour), 10); err != nil || len(got) != 0 {
		t.Errorf("ListExpiredBrowserSessions(before all) = %+v, %v; want none", got, err)
	}
	// DeleteExpired leaves the expired sessions with grants to
	// ExpireBrowserSession; the one without goes.
	if _, err := s.DeleteExpired(ctx, now, 100); err != nil {
		t.Fatalf("DeleteExpired = %v", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetBrowserSession(ctx, bare.ID)), "GetBrowserSession(expired, no grant) after DeleteExpired")
	for _, bs := range []storage.BrowserSession{early, late} {
		if _, err := s.GetBrowserSession(ctx, bs.ID); err != nil {
			t.Errorf("GetBrowserSession(expired with grants) after DeleteExpired = %v, want it kept", err)
		}
	}
	if got, err := s.ListExpiredBrowserSessions(ctx, now, 10); err != nil || len(got) != 2 {
		t.Errorf("ListExpiredBrowserSessions after DeleteExpired = %d, %v; want 2", len(got), err)
	}
}

// testReplaceBrowserSession: the grants move to the new session of the
// same person with their SID; the old session goes; refusals change
// nothing.
func testReplaceBrowserSession(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u := fixture.MustCreateUser(t, s, "again")
	other := fixture.MustCreateUser(t, s, "other")
	c := mustCreateClient(t, s, "rp")
	now := fixture.Now()
	old := sessionOf(t, s, u, now.Add(time.Hour))
	g1 := mustAddGrant(t, s, old, c.ID, now)
	g2 := mustAddGrant(t, s, old, c.ID, now.Add(time.Second))
	tok := mustCreateToken(t, s, c.ID, g1.RequestID, storage.RefreshToken)
	next := storage.BrowserSession{ID: fixture.ID("bs"), UserID: u.ID, AuthTime: now, ExpiresAt: now.Add(2 * time.Hour), AMR: []string{"pwd", "otp"}, Device: "Chrome on Mac"}

	// Refusals: nothing changes.
	if err := s.ReplaceBrowserSession(ctx, old.ID, storage.BrowserSession{ID: fixture.ID("bs"), UserID: other.ID, AuthTime: now, ExpiresAt: now.Add(time.Hour)}); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("ReplaceBrowserSession(another person's) = %v, want ErrConflict", err)
	}
	if err := s.ReplaceBrowserSession(ctx, old.ID, storage.BrowserSession{ID: old.ID, UserID: u.ID, AuthTime: now, ExpiresAt: now.Add(time.Hour)}); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("ReplaceBrowserSession(existing ID) = %v, want ErrAlreadyExists", err)
	}
	fixture.WantNotFound(t, s.ReplaceBrowserSession(ctx, old.ID, storage.BrowserSession{ID: fixture.ID("bs"), UserID: "no-such-user", AuthTime: now, ExpiresAt: now.Add(time.Hour)}), "ReplaceBrowserSession(unknown user)")
	wantGrants(t, s, old.ID, g1, g2)
	if sessions, err := s.ListBrowserSessions(ctx, other.ID); err != nil || len(sessions) != 0 {
		t.Fatalf("sessions of the other person after a refused replace = %d, %v; want none", len(sessions), err)
	}

	if err := s.ReplaceBrowserSession(ctx, old.ID, next); err != nil {
		t.Fatalf("ReplaceBrowserSession = %v", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetBrowserSession(ctx, old.ID)), "GetBrowserSession(replaced)")
	got, err := s.GetBrowserSession(ctx, next.ID)
	if err != nil || got.UserID != u.ID || !got.ExpiresAt.Equal(next.ExpiresAt) || got.Device != next.Device || !reflect.DeepEqual(got.AMR, next.AMR) {
		t.Fatalf("GetBrowserSession(new) = %+v, %v; want %+v", got, err, next)
	}
	wantGrants(t, s, old.ID)
	g1.SessionID, g2.SessionID = next.ID, next.ID
	wantGrants(t, s, next.ID, g1, g2)
	if _, err := s.GetToken(ctx, tok.Kind, tok.Signature); err != nil {
		t.Errorf("GetToken(refresh token of a moved grant) = %v, want it kept", err)
	}
	// Ending the new session revokes the moved grants' tokens.
	if err := s.EndBrowserSession(ctx, next.ID, nil); err != nil {
		t.Fatalf("EndBrowserSession = %v", err)
	}
	fixture.WantNotFound(t, fixture.ErrOf(s.GetToken(ctx, tok.Kind, tok.Signature)), "GetToken(refresh token after the new session ended)")

	// No old session: only the new one is created.
	fresh := storage.BrowserSession{ID: fixture.ID("bs"), UserID: u.ID, AuthTime: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.ReplaceBrowserSession(ctx, "no-such-session", fresh); err != nil {
		t.Fatalf("ReplaceBrowserSession(no old session) = %v", err)
	}
	if _, err := s.GetBrowserSession(ctx, fresh.ID); err != nil {
		t.Errorf("GetBrowserSession(fresh) = %v", err)
	}
	wantGrants(t, s, fresh.ID)
}

// testConcurrentReplaceAndEnd: a sign-in that replaces a session races
// its logout; either the logout ends the old session (and the new one
// has no grant) or the grants move (and the logout finds nothing), never
// both, never neither.
func testConcurrentReplaceAndEnd(t *testing.T, s storage.Store) {
	ctx := context.Background()
	u := fixture.MustCreateUser(t, s, "race")
	c := mustCreateClient(t, s, "rp")
	now := fixture.Now()
	for range 5 {
		old := sessionOf(t, s, u, now.Add(time.Hour))
		mustAddGrant(t, s, old, c.ID, now)
		next := storage.BrowserSession{ID: fixture.ID("bs"), UserID: u.ID, AuthTime: now, ExpiresAt: now.Add(time.Hour)}
		var endErr, replaceErr error
		var wg sync.WaitGroup
		wg.Go(func() { endErr = s.EndBrowserSession(ctx, old.ID, nil) })
		wg.Go(func() { replaceErr = s.ReplaceBrowserSession(ctx, old.ID, next) })
		wg.Wait()
		if replaceErr != nil && !errors.Is(replaceErr, storage.ErrConflict) {
			t.Fatalf("ReplaceBrowserSession = %v", replaceErr)
		}
		if replaceErr != nil {
			continue // serialization conflict: the caller retries
		}
		moved, err := s.ListSessionGrants(ctx, next.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case endErr == nil && len(moved) != 0:
			t.Errorf("the logout ended the old session and %d grants moved too", len(moved))
		case errors.Is(endErr, storage.ErrNotFound) && len(moved) != 1:
			t.Errorf("the logout found no session but %d grants moved, want 1", len(moved))
		case endErr != nil && !errors.Is(endErr, storage.ErrNotFound):
			t.Errorf("EndBrowserSession = %v", endErr)
		}
	}
}
