package authz_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

// signInAgain signs the browser in again through a prompt=login request
// of c as username, and redeems the code.
func signInAgain(t testing.TB, ts *testServer, b *browser, c webClient, username string) tokenAnswer {
	t.Helper()
	v := oauth2.GenerateVerifier()
	p := b.get(authURL(c, randomString(16), v, randomString(16), oauth2.SetAuthURLParam("prompt", "login")))
	if !p.isLogin() {
		t.Fatalf("prompt=login = %d, want the login page", p.status)
	}
	p = b.submit(ts.Public, p.onlyForm(t), url.Values{"username": {username}, "password": {testPassword}})
	if p.isConsent() {
		p = b.submit(ts.Public, p.onlyForm(t), url.Values{"decision": {"allow"}})
	}
	code := redirectedToClient(t, p, c.RedirectURIs[0]).query.Get("code")
	if code == "" {
		t.Fatal("no code after signing in again")
	}
	return ts.redeemOK(t, c, code, v)
}

// logoutTokenClaims returns the claims of a logout token, unverified
// (verifyLogoutToken verifies it).
func logoutTokenClaims(t testing.TB, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("logout token has %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// logoutEntries returns the outcomes of the logout audit entries about
// subject.
func logoutEntries(t testing.TB, ts *testServer, subject string) []string {
	t.Helper()
	var out []string
	for _, e := range ts.auditAll(t, url.Values{"type": {adminapi.EventLogout}, "subject": {subject}}) {
		out = append(out, e.Outcome)
	}
	return out
}

// TestSignInAgainKeepsGrants: the same person signing in again in the
// same browser (prompt=login) keeps the relying parties of the session
// signed in: no logout token, refresh tokens kept; the next logout
// tells each of them, with the sid its ID token carried, and revokes
// every grant of both sessions. The old session's ID token is still a
// hint of this browser session.
func TestSignInAgainKeepsGrants(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		var skew atomic.Int64
		rp := newRelyingParty(t, false)
		ts, user, _, b := startCodeFlow(t, logoutConfig(cfg, &skew))
		c := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Kept RP", BackchannelLogoutURI: rp.srv.URL, PostLogoutRedirectURIs: []string{signedOutURI}})
		first := signInTokens(t, ts, b, c)
		sid1 := ts.idTokenSID(t, first.IDToken, c.ClientID, time.Now())

		second := signInAgain(t, ts, b, c, "ada")
		sid2 := ts.idTokenSID(t, second.IDToken, c.ClientID, time.Now())
		if sid2 == sid1 {
			t.Fatal("the new session has the sid of the one it replaced")
		}
		if st, body := ts.refresh(t, c, first.RefreshToken); st != http.StatusOK {
			t.Fatalf("refresh with the first session's token after signing in again = %d %s, want 200", st, body)
		} else {
			first.RefreshToken = decodeTokens(t, st, body).RefreshToken
		}
		if got := logoutEntries(t, ts, user.ID); len(got) != 0 {
			t.Errorf("logout audit entries after signing in again = %v, want none", got)
		}

		// The first session's ID token is a hint of this session: logged
		// out at once, without the confirmation page.
		p := b.get(endSession(ts, url.Values{"id_token_hint": {first.IDToken}, "post_logout_redirect_uri": {signedOutURI}, "state": {"s"}}))
		redirectedToClient(t, p, signedOutURI)
		got := map[string]bool{}
		for range 2 {
			raw := rp.next(t)
			sid, _ := logoutTokenClaims(t, raw)["sid"].(string)
			got[ts.verifyLogoutToken(t, raw, c.ClientID, user.ID, sid).SID] = true
		}
		if !got[sid1] || !got[sid2] {
			t.Errorf("logout tokens carried sids %v, want %s (first session) and %s (second)", slices.Collect(maps.Keys(got)), sid1, sid2)
		}
		for _, rt := range []string{first.RefreshToken, second.RefreshToken} {
			if st, body := ts.refresh(t, c, rt); st != http.StatusBadRequest {
				t.Errorf("refresh after logout = %d %s, want 400", st, body)
			}
		}
		if got := logoutEntries(t, ts, user.ID); strings.Join(got, " ") != "ok" {
			t.Errorf("logout audit entries = %v, want one ok", got)
		}
	})
}

// TestSignInAsAnotherPersonEndsSession: another person signing in in the
// same browser ends the first person's session the way logging out does:
// its relying parties get a logout token about the first person, and its
// refresh tokens are revoked; the new person's session starts clean.
func TestSignInAsAnotherPersonEndsSession(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		var skew atomic.Int64
		rp := newRelyingParty(t, false)
		ts, ada, _, b := startCodeFlow(t, logoutConfig(cfg, &skew))
		bob := ts.createUser(t, "bob")
		c := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Shared RP", BackchannelLogoutURI: rp.srv.URL})
		adas := signInTokens(t, ts, b, c)
		sid := ts.idTokenSID(t, adas.IDToken, c.ClientID, time.Now())

		bobs := signInAgain(t, ts, b, c, "bob")
		ts.verifyLogoutToken(t, rp.next(t), c.ClientID, ada.ID, sid)
		if st, body := ts.refresh(t, c, adas.RefreshToken); st != http.StatusBadRequest {
			t.Errorf("refresh with the first person's token after another signed in = %d %s, want 400", st, body)
		}
		ts.requireInactive(t, adas.AccessToken)
		if got := logoutEntries(t, ts, ada.ID); strings.Join(got, " ") != "replaced" {
			t.Errorf("logout audit entries of the first person = %v, want one replaced", got)
		}
		if st, body := ts.refresh(t, c, bobs.RefreshToken); st != http.StatusOK {
			t.Errorf("refresh with the new person's token = %d %s, want 200", st, body)
		}
		// The new session holds only the new person's grant.
		lp := b.get(ts.Public + "/logout")
		if p := b.submit(ts.Public, lp.onlyForm(t), nil); p.status != http.StatusOK {
			t.Fatalf("logout = %d", p.status)
		}
		ts.verifyLogoutToken(t, rp.next(t), c.ClientID, bob.ID, ts.idTokenSID(t, bobs.IDToken, c.ClientID, time.Now()))
		rp.none(t, "after the second person's logout")
	})
}

// TestExpiredSessionBackchannelLogout: when a browser session expires,
// its relying parties get a logout token, from the next sign-in in that
// browser or from the janitor, whichever comes first; the refresh tokens
// stay (offline access outlives the session). The server's clock is set
// back rather than forward: the protocol engine refuses an auth_time
// ahead of the real clock.
func TestExpiredSessionBackchannelLogout(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		var skew atomic.Int64
		cfg.JanitorInterval = -1 // run by hand below
		cfg.SessionTTL = time.Hour
		rp := newRelyingParty(t, false)
		ts, user, _, b := startCodeFlow(t, logoutConfig(cfg, &skew))
		c := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Expiry RP", BackchannelLogoutURI: rp.srv.URL})
		janitor := func() {
			t.Helper()
			if _, err := ts.Srv.Janitor(context.Background()); err != nil {
				t.Fatalf("janitor: %v", err)
			}
		}

		// Expired, and the browser signs in again before the janitor
		// runs: the sign-in tells the relying party.
		skew.Store(int64(-4 * time.Hour))
		tok := signInTokens(t, ts, b, c)
		sid := ts.idTokenSID(t, tok.IDToken, c.ClientID, time.Now().Add(-4*time.Hour))
		skew.Store(int64(-2 * time.Hour))
		tok2 := signInTokens(t, ts, b, c)
		ts.verifyLogoutToken(t, rp.next(t), c.ClientID, user.ID, sid)
		if got := logoutEntries(t, ts, user.ID); strings.Join(got, " ") != "expired" {
			t.Errorf("logout audit entries = %v, want one expired", got)
		}
		if st, body := ts.refresh(t, c, tok.RefreshToken); st != http.StatusOK {
			t.Errorf("refresh after the session expired = %d %s, want 200 (offline access)", st, body)
		}
		janitor()
		if !signedIn(t, b, c) {
			t.Fatal("the janitor ended a live session")
		}
		rp.none(t, "after a janitor pass before expiry")

		// Expired: the janitor tells the relying party.
		sid2 := ts.idTokenSID(t, tok2.IDToken, c.ClientID, time.Now().Add(-2*time.Hour))
		skew.Store(0)
		janitor()
		ts.verifyLogoutToken(t, rp.next(t), c.ClientID, user.ID, sid2)
		if got := logoutEntries(t, ts, user.ID); strings.Join(got, " ") != "expired expired" {
			t.Errorf("logout audit entries = %v, want two expired", got)
		}
		if st, body := ts.refresh(t, c, tok2.RefreshToken); st != http.StatusOK {
			t.Errorf("refresh after the session expired = %d %s, want 200 (offline access)", st, body)
		}
		janitor()
		rp.none(t, "after a second janitor pass")
	})
}

// fmtIf is the JSON text of claims.
func fmtIf(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return string(b)
}

// TestEraseUserBackchannelLogout: erasing or deleting a person tells the
// relying parties of their sessions first; the logout token carries the opaque
// subject and the sid and nothing personal.
func TestEraseUserBackchannelLogout(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		var skew atomic.Int64
		rp := newRelyingParty(t, false)
		ts, user, _, b := startCodeFlow(t, logoutConfig(cfg, &skew))
		c := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Erasure RP", BackchannelLogoutURI: rp.srv.URL})
		tok := signInTokens(t, ts, b, c)
		sid := ts.idTokenSID(t, tok.IDToken, c.ClientID, time.Now())
		other := newBrowser(t) // a second session of the same person
		redirectedToClient(t, other.signIn(ts, authURL(c, randomString(16), oauth2.GenerateVerifier(), randomString(16)), "ada", "allow"), redirectURI)

		if code, body := ts.adminJSON(t, "POST", "/admin/users/"+user.ID+"/erase", nil); code != http.StatusOK {
			t.Fatalf("erase = %d %s", code, body)
		}
		sids := map[string]bool{}
		for range 2 {
			raw := rp.next(t)
			claims := logoutTokenClaims(t, raw)
			got, _ := claims["sid"].(string)
			ts.verifyLogoutToken(t, raw, c.ClientID, user.ID, got)
			sids[got] = true
			if keys := slices.Sorted(maps.Keys(claims)); !slices.Equal(keys, []string{"aud", "events", "exp", "iat", "iss", "jti", "sid", "sub"}) {
				t.Errorf("logout token claims = %v, want only aud events exp iat iss jti sid sub", keys)
			}
			for _, personal := range []string{"ada", "example.com"} {
				if strings.Contains(raw, personal) || strings.Contains(fmtIf(claims), personal) {
					t.Errorf("logout token carries %q", personal)
				}
			}
		}
		if len(sids) != 2 || !sids[sid] {
			t.Errorf("logout tokens carried sids %v, want %s and the second browser's", slices.Collect(maps.Keys(sids)), sid)
		}
		if got := logoutEntries(t, ts, user.ID); strings.Join(got, " ") != "erased erased" {
			t.Errorf("logout audit entries = %v, want two erased (both sessions)", got)
		}
		if st, _ := ts.refresh(t, c, tok.RefreshToken); st != http.StatusBadRequest {
			t.Errorf("refresh after erasure = %d, want 400", st)
		}
		rp.none(t, "after the erasure's delivery")

		// Deleting a person tells their relying parties too.
		bob := ts.createUser(t, "bob")
		bb := newBrowser(t)
		v := oauth2.GenerateVerifier()
		bobs := ts.redeemOK(t, c, redirectedToClient(t, bb.signIn(ts, authURL(c, randomString(16), v, randomString(16)), "bob", "allow"), redirectURI).query.Get("code"), v)
		if code, body := ts.adminJSON(t, "DELETE", "/admin/users/"+bob.ID, nil); code != http.StatusNoContent {
			t.Fatalf("delete = %d %s", code, body)
		}
		ts.verifyLogoutToken(t, rp.next(t), c.ClientID, bob.ID, ts.idTokenSID(t, bobs.IDToken, c.ClientID, time.Now()))
		if got := logoutEntries(t, ts, bob.ID); strings.Join(got, " ") != "deleted" {
			t.Errorf("logout audit entries of a deleted person = %v, want one deleted", got)
		}
		if code, _ := ts.adminJSON(t, "DELETE", "/admin/users/"+bob.ID, nil); code != http.StatusNotFound {
			t.Errorf("deleting a deleted person = %d, want 404", code)
		}
	})
}

// TestBackchannelLogoutSessionRequired: backchannel_logout_session_required
// is stored and echoed, refused without a backchannel_logout_uri, and
// holds for every client: the sid is in every ID token issued from a
// browser session, refreshed ones too, and in every logout token.
func TestBackchannelLogoutSessionRequired(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		var skew atomic.Int64
		rp := newRelyingParty(t, false)
		ts, user, _, b := startCodeFlow(t, logoutConfig(cfg, &skew))
		before := ts.listClients(t)
		code, body := ts.adminJSON(t, "POST", "/admin/clients", map[string]any{"client_name": "No URI", "grant_types": []string{"authorization_code"},
			"redirect_uris": []string{redirectURI}, "scope": "openid", "backchannel_logout_session_required": true})
		if code != http.StatusBadRequest || !strings.Contains(string(body), "backchannel_logout_session_required needs a backchannel_logout_uri") {
			t.Errorf("session required without a URI = %d %s, want 400 naming the rule", code, body)
		}
		if after := ts.listClients(t); after != before {
			t.Error("a refused registration changed the client list")
		}
		c := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Needs sid", BackchannelLogoutURI: rp.srv.URL})
		got := adminCall[adminapi.ClientJSON](t, ts, "PUT", "/admin/clients/"+c.ClientID, map[string]any{"client_name": "Needs sid",
			"grant_types": c.GrantTypes, "redirect_uris": c.RedirectURIs, "scope": c.Scope, "backchannel_logout_uri": rp.srv.URL,
			"backchannel_logout_session_required": true}, http.StatusOK)
		if !got.BackchannelLogoutSessionRequired {
			t.Fatal("the update answer does not echo backchannel_logout_session_required")
		}
		if got := adminCall[adminapi.ClientJSON](t, ts, "GET", "/admin/clients/"+c.ClientID, nil, http.StatusOK); !got.BackchannelLogoutSessionRequired {
			t.Fatal("GET does not echo backchannel_logout_session_required")
		}

		tok := signInTokens(t, ts, b, c)
		sid := ts.idTokenSID(t, tok.IDToken, c.ClientID, time.Now())
		st, body := ts.refresh(t, c, tok.RefreshToken)
		if got := ts.idTokenSID(t, decodeTokens(t, st, body).IDToken, c.ClientID, time.Now()); got != sid {
			t.Errorf("sid of a refreshed ID token = %q, want %q", got, sid)
		}
		lp := b.get(ts.Public + "/logout")
		if p := b.submit(ts.Public, lp.onlyForm(t), nil); p.status != http.StatusOK {
			t.Fatalf("logout = %d", p.status)
		}
		ts.verifyLogoutToken(t, rp.next(t), c.ClientID, user.ID, sid)
	})
}
