package authz_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/mfa"
	"github.com/idvauth/idvauth/authz/passkey/passkeytest"
)

// passkeyServer starts a server at http://localhost (passkeys on) with
// the person ada and a web client, and a software authenticator for it.
// The server's clock is cfg.Now if set.
func passkeyServer(t testing.TB, cfg authz.Config) (*testServer, adminapi.UserJSON, webClient, *passkeytest.Authenticator) {
	t.Helper()
	cfg.RateLimits.LoginPerIP = -1
	ts := startServer(t, codeFlowConfig(cfg), serverOptions{Localhost: true})
	return ts, ts.createUser(t, "ada"), ts.createWebClient(t, adminapi.ClientJSON{}), &passkeytest.Authenticator{Origin: ts.Public}
}

// button is a page's passkey button, as webauthn.js reads it.
type button struct{ kind, options, finish, csrf string }

// passkeyButton finds the passkey button of p; ok false if it has none.
func passkeyButton(t testing.TB, p page) (button, bool) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && attr(n, "data-webauthn") != "" {
			return button{attr(n, "data-webauthn"), attr(n, "data-webauthn-options"), attr(n, "data-webauthn-finish"), attr(n, "data-webauthn-csrf")}, true
		}
	}
	return button{}, false
}

// postCredential posts body to the button's finish URL as webauthn.js
// does, with the header and content type given, and returns the status
// and JSON answer.
func (b *browser) postCredential(base, finish, csrf, contentType string, body []byte) (int, map[string]string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+finish, bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// ceremony answers the button of p with the authenticator and posts the
// credential; it returns the status and JSON answer.
func (b *browser) ceremony(ts *testServer, auth *passkeytest.Authenticator, p page) (int, map[string]string) {
	b.t.Helper()
	btn, ok := passkeyButton(b.t, p)
	if !ok {
		b.t.Fatalf("no passkey button on the page (%d):\n%s", p.status, p.body)
	}
	answer := auth.Get
	if btn.kind == "create" {
		answer = auth.Create
	}
	body, err := answer(btn.options)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.postCredential(ts.Public, btn.finish, btn.csrf, "application/json", body)
}

// addPasskey signs b in with ada's password and adds a passkey on
// /account/passkeys.
func (b *browser) addPasskey(ts *testServer, c webClient, auth *passkeytest.Authenticator) {
	b.t.Helper()
	b.signIn(ts, authURL(c, "state-pk-add-0", oauth2.GenerateVerifier(), "nonce-pk-add"), "ada", "allow")
	if code, ans := b.ceremony(ts, auth, b.get(ts.Public+"/account/passkeys")); code != http.StatusOK || ans["redirect"] != "/account/passkeys?done=added" {
		b.t.Fatalf("add a passkey = %d %v", code, ans)
	}
}

// passkeySignIn signs a new browser in with the passkey alone and
// returns the ID token's claims.
func passkeySignIn(t testing.TB, ts *testServer, c webClient, auth *passkeytest.Authenticator) map[string]any {
	t.Helper()
	b := newBrowser(t)
	verifier := oauth2.GenerateVerifier()
	code, ans := b.ceremony(ts, auth, b.get(authURL(c, "state-pk-login", verifier, "nonce-pk-login")))
	if code != http.StatusOK || !strings.HasPrefix(ans["redirect"], "/oauth2/authorize?") {
		t.Fatalf("passkey sign-in = %d %v", code, ans)
	}
	return b.consentAndRedeem(ts, &testClock{}, c, b.follow(ts.Public, b.get(ts.Public+ans["redirect"])), verifier)
}

// TestPasskeyE2E: over loopback on both backends, a passkey added on the
// account page signs a person in alone (acr phr, amr hwk mfa, audited
// with the factor webauthn); the same post again is refused; the page's
// state is bound to its browser.
func TestPasskeyE2E(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, user, c, auth := passkeyServer(t, cfg)
		if acrs, _ := ts.discovery(t)["acr_values_supported"].([]any); !slices.Contains(acrs, any(mfa.ACRPhishingResistant)) {
			t.Errorf("acr_values_supported = %v, want it to hold %s", acrs, mfa.ACRPhishingResistant)
		}
		owner := newBrowser(t)
		owner.addPasskey(ts, c, auth)
		// The account page counts it and links to the passkeys page.
		if p := owner.follow(ts.Public, owner.get(ts.Public+"/account")); !strings.Contains(p.body, `id="passkey-count">1<`) ||
			!strings.Contains(p.body, `href="/account/passkeys"`) {
			t.Errorf("the account page (%d) does not show the one passkey with a link to manage it", p.status)
		}
		claims := passkeySignIn(t, ts, c, auth)
		wantAuthn(t, claims, mfa.ACRPhishingResistant, "hwk", "mfa")
		if amr := claims["amr"].([]any); slices.Contains(amr, any("pwd")) {
			t.Errorf("amr of a passkey alone = %v, want no pwd", amr)
		}

		// The same credential posted twice: the challenge is used once.
		b := newBrowser(t)
		p := b.get(authURL(c, "state-pk-replay", oauth2.GenerateVerifier(), "nonce-pk-replay"))
		btn, _ := passkeyButton(t, p)
		body, err := auth.Get(btn.options)
		if err != nil {
			t.Fatal(err)
		}
		if code, ans := b.postCredential(ts.Public, btn.finish, btn.csrf, "application/json", body); code != http.StatusOK {
			t.Fatalf("first post = %d %v", code, ans)
		}
		jar := b.client.Jar
		u, _ := url.Parse(ts.Public)
		jar.SetCookies(u, []*http.Cookie{{Name: "idvauth_webauthn", Value: cookieValue(p, "idvauth_webauthn"), Path: "/"}})
		if code, ans := b.postCredential(ts.Public, btn.finish, btn.csrf, "application/json", body); code != http.StatusBadRequest {
			t.Errorf("replayed post = %d %v, want 400", code, ans)
		}

		// Another browser cannot finish this browser's ceremony.
		b = newBrowser(t)
		p = b.get(authURL(c, "state-pk-other", oauth2.GenerateVerifier(), "nonce-pk-other"))
		btn, _ = passkeyButton(t, p)
		body, _ = auth.Get(btn.options)
		other := newBrowser(t)
		other.get(authURL(c, "state-pk-other", oauth2.GenerateVerifier(), "nonce-pk-other")) // its own cookies
		if code, ans := other.postCredential(ts.Public, btn.finish, btn.csrf, "application/json", body); code != http.StatusForbidden {
			t.Errorf("post from another browser = %d %v, want 403", code, ans)
		}

		entries := ts.auditAll(t, url.Values{"subject": {user.ID}})
		var added, succeeded bool
		for _, e := range entries {
			added = added || e.Type == "passkey.added"
			succeeded = succeeded || e.Type == adminapi.EventMFASucceeded && e.Details["factor"] == "webauthn"
		}
		if !added || !succeeded {
			t.Errorf("audit: passkey.added %t, login.mfa_succeeded with factor webauthn %t; want both", added, succeeded)
		}
	})
}

// cookieValue is the value p set for the cookie name.
func cookieValue(p page, name string) string {
	for _, v := range p.header.Values("Set-Cookie") {
		if ck, err := http.ParseSetCookie(v); err == nil && ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// TestPasskeyBadInput: every bad post to the ceremony endpoints gets a
// 4xx, and nothing changes: no session, no passkey, nothing audited.
func TestPasskeyBadInput(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, auth := passkeyServer(t, cfg)
		b := newBrowser(t)
		b.addPasskey(ts, c, auth)
		// Reading the trail is audited too: count the rest.
		people := func() []adminapi.AuditEntryJSON {
			return slices.DeleteFunc(ts.auditAll(t, nil), func(e adminapi.AuditEntryJSON) bool { return e.Type == adminapi.EventAdminRequest })
		}
		before := len(people())

		// lb is a signed-out browser on the login page, b the signed-in
		// one on its account page.
		l := newBrowser(t)
		lb, _ := passkeyButton(t, l.get(authURL(c, "state-pk-bad", oauth2.GenerateVerifier(), "nonce-pk-bad")))
		account := b.get(ts.Public + "/account/passkeys")
		ab, _ := passkeyButton(t, account)
		good, err := auth.Get(lb.options)
		if err != nil {
			t.Fatal(err)
		}
		for _, bb := range []struct {
			b   *browser
			btn button
		}{{l, lb}, {b, ab}} {
			btn := bb.btn
			for _, tc := range []struct {
				name, finish, csrf, ct string
				body                   []byte
				want                   int
			}{
				{"wrong content type", btn.finish, btn.csrf, "text/plain", good, http.StatusUnsupportedMediaType},
				{"form content type", btn.finish, btn.csrf, "application/x-www-form-urlencoded", good, http.StatusUnsupportedMediaType},
				{"no CSRF token", btn.finish, "", "application/json", good, http.StatusForbidden},
				{"wrong CSRF token", btn.finish, strings.Repeat("x", 43), "application/json", good, http.StatusForbidden},
				{"not JSON", btn.finish, btn.csrf, "application/json", []byte("{not json"), http.StatusBadRequest},
				{"too large", btn.finish, btn.csrf, "application/json", append(append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), 70<<10)...), '"', '}'), http.StatusBadRequest},
				{"empty object", btn.finish, btn.csrf, "application/json", []byte(`{}`), http.StatusBadRequest},
				{"array", btn.finish, btn.csrf, "application/json", []byte(`[]`), http.StatusBadRequest},
			} {
				if code, ans := bb.b.postCredential(ts.Public, tc.finish, tc.csrf, tc.ct, tc.body); code != tc.want || ans["error"] == "" {
					t.Errorf("%s %s = %d %v, want %d with an error", btn.finish[:12], tc.name, code, ans, tc.want)
				}
			}
		}
		for _, tc := range []struct{ name, finish string }{
			{"no return", "/login/passkey"},
			{"return twice", lb.finish + "&return=x"},
			{"return not a request", "/login/passkey?return=client_id%3Dnobody"},
		} {
			if code, ans := l.postCredential(ts.Public, tc.finish, lb.csrf, "application/json", good); code != http.StatusBadRequest {
				t.Errorf("%s = %d %v, want 400", tc.name, code, ans)
			}
		}
		resp, err := l.client.Get(ts.Public + lb.finish)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET %s = %d, want 405", "/login/passkey", resp.StatusCode)
		}
		// Signed out, the account endpoints refuse.
		out := newBrowser(t)
		out.get(authURL(c, "state-pk-out", oauth2.GenerateVerifier(), "nonce-pk-out"))
		if p := out.get(ts.Public + "/account/passkeys"); p.status != http.StatusUnauthorized {
			t.Errorf("account page signed out = %d, want 401", p.status)
		}
		// Forms: another person's or an unknown passkey, a bad name.
		af := account.forms[0]
		for _, tc := range []struct {
			name, path string
			v          url.Values
			want       int
		}{
			{"rename unknown", "/account/passkeys/rename", url.Values{"id": {"pk_nope"}, "name": {"x"}}, http.StatusNotFound},
			{"remove unknown", "/account/passkeys/remove", url.Values{"id": {"pk_nope"}}, http.StatusNotFound},
			{"rename too long", "/account/passkeys/rename", url.Values{"name": {strings.Repeat("n", 65)}}, http.StatusBadRequest},
			{"rename empty", "/account/passkeys/rename", url.Values{"name": {" "}}, http.StatusBadRequest},
			{"no csrf", "/account/passkeys/remove", url.Values{"csrf": {""}}, http.StatusForbidden},
			{"id twice", "/account/passkeys/remove", url.Values{"id": {af.values.Get("id"), "pk_other"}}, http.StatusBadRequest},
		} {
			v := url.Values{}
			for k, vs := range af.values {
				v[k] = vs
			}
			for k, vs := range tc.v {
				v[k] = vs
			}
			if p := b.post(ts.Public+tc.path, v); p.status != tc.want {
				t.Errorf("%s = %d, want %d", tc.name, p.status, tc.want)
			}
		}
		if p := out.post(ts.Public+"/account/passkeys/remove", af.values); p.status != http.StatusForbidden && p.status != http.StatusUnauthorized {
			t.Errorf("remove from a signed-out browser = %d, want 401 or 403", p.status)
		}

		if after := people(); len(after) != before {
			t.Errorf("bad input added %d audit entries: %+v", len(after)-before, after[before:])
		}
		if p := b.get(ts.Public + "/account/passkeys"); strings.Count(p.body, `name="id"`) != 1 {
			t.Errorf("after bad input the account lists %d passkeys, want 1", strings.Count(p.body, `name="id"`))
		}
		if code, ans := l.postCredential(ts.Public, lb.finish, lb.csrf, "application/json", good); code != http.StatusOK {
			t.Errorf("after the bad posts the good one = %d %v, want 200", code, ans)
		}
	})
}

// TestPasskeyThrottled: refused passkeys count against the account like
// passwords: past the limit even the right one is refused for a while,
// audited as throttled.
func TestPasskeyThrottled(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.LoginMaxFailures, cfg.LoginWindow = 2, time.Minute
		ts, user, c, auth := passkeyServer(t, cfg)
		newBrowser(t).addPasskey(ts, c, auth)
		post := func(tamper bool) int {
			b := newBrowser(t)
			btn, _ := passkeyButton(t, b.get(authURL(c, "state-pk-th", oauth2.GenerateVerifier(), "nonce-pk-th")))
			body, err := auth.Get(btn.options)
			if err != nil {
				t.Fatal(err)
			}
			if tamper {
				var m map[string]any
				_ = json.Unmarshal(body, &m)
				resp := m["response"].(map[string]any)
				resp["signature"] = "MEQCIDfXkq3s2gGq8xw7x1zVq9gqk1p3h3YJr8b9i2s6qk2HAiBqDZ9eJ8tQk3cTg0s4b7R5pQxgZ2e8JmJ1wX6s5h4c3g"
				body, _ = json.Marshal(m)
			}
			code, _ := b.postCredential(ts.Public, btn.finish, btn.csrf, "application/json", body)
			return code
		}
		for i := range 2 {
			if code := post(true); code != http.StatusBadRequest {
				t.Fatalf("bad signature %d = %d, want 400", i+1, code)
			}
		}
		if code := post(false); code != http.StatusTooManyRequests {
			t.Errorf("right passkey past the limit = %d, want 429", code)
		}
		var throttled, refused int
		for _, e := range ts.auditAll(t, url.Values{"type": {adminapi.EventMFAFailed}, "subject": {user.ID}}) {
			switch e.Outcome {
			case "throttled":
				throttled++
			case "refused":
				refused++
			}
		}
		if throttled != 1 || refused != 2 {
			t.Errorf("audit: %d refused, %d throttled; want 2 and 1", refused, throttled)
		}
	})
}

// TestPasskeyAccountRules: passkeys change only within 5 minutes of a
// sign-in (a browser left signed in cannot add one), and under
// IDVAUTH_MFA=required a person's last factor cannot be removed.
func TestPasskeyAccountRules(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		clk := newTestClock()
		cfg.Now = clk.Now
		cfg.MFA = "required"
		ts, _, c, auth := passkeyServer(t, cfg)
		// Required: the first sign-in sets a factor up; here a passkey.
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		p := b.password(ts, authURL(c, "state-pk-rules", verifier, "nonce-pk-rules"))
		code, ans := b.ceremony(ts, auth, p)
		if code != http.StatusOK {
			t.Fatalf("set up a passkey in the flow = %d %v", code, ans)
		}
		wantAuthn(t, b.consentAndRedeem(ts, clk, c, b.follow(ts.Public, b.get(ts.Public+ans["redirect"])), verifier), mfa.ACRPhishingResistant, "pwd", "hwk", "mfa")

		page := b.get(ts.Public + "/account/passkeys")
		form := page.forms[0]
		if p := b.post(ts.Public+"/account/passkeys/remove", form.values); p.status != http.StatusConflict {
			t.Errorf("remove the only factor under required = %d, want 409", p.status)
		}

		// Six minutes on: the page shows no add button, changes are refused.
		clk.Add(6 * time.Minute)
		stale := b.get(ts.Public + "/account/passkeys")
		if _, ok := passkeyButton(t, stale); ok || !strings.Contains(stale.body, "within 5 minutes") {
			t.Errorf("a stale sign-in's page offers to add a passkey or does not say why not")
		}
		if code, ans := b.ceremony(ts, auth, page); code != http.StatusForbidden {
			t.Errorf("add with a stale sign-in = %d %v, want 403", code, ans)
		}
		if p := b.post(ts.Public+"/account/passkeys/rename", url.Values{"csrf": form.values["csrf"], "id": form.values["id"], "name": {"x"}}); p.status != http.StatusForbidden {
			t.Errorf("rename with a stale sign-in = %d, want 403", p.status)
		}
		if n := strings.Count(b.get(ts.Public+"/account/passkeys").body, `name="id"`); n != 1 {
			t.Errorf("the person has %d passkeys, want 1", n)
		}
	})
}

// TestPasswordNeverPassesAPasskey: a person who has a passkey is never
// signed in with their password alone. A session made with the password
// before she set the passkey up does not carry her into an application
// any more (the second step is asked), and the account page's own sign-in
// refuses her password alone (it cannot ask for a passkey). Both let a
// thief of the password in, and add a passkey of their own, before.
func TestPasswordNeverPassesAPasskey(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, auth := passkeyServer(t, cfg)
		owner := newBrowser(t)
		owner.addPasskey(ts, c, auth) // signed in with the password while she had no factor
		p := owner.follow(ts.Public, owner.get(authURL(c, "state-pw-after", oauth2.GenerateVerifier(), "nonce-pw-after")))
		if loc := p.header.Get("Location"); strings.HasPrefix(loc, c.RedirectURIs[0]) {
			t.Fatalf("a password-only session of a person with a passkey went back to the client: %s", loc)
		}
		if _, ok := passkeyButton(t, p); !ok {
			t.Errorf("second step not asked (%d):\n%s", p.status, p.body)
		}

		thief := newBrowser(t)
		a := thief.follow(ts.Public, thief.get(ts.Public+"/account"))
		a = thief.submit(ts.Public, a.formAt(t, "/account/signin"), url.Values{"username": {"ada"}, "password": {testPassword}})
		if a.status == http.StatusSeeOther || !strings.Contains(a.body, "signs in with a passkey") {
			t.Errorf("account sign-in with the password of a passkey person = %d to %q, want the login page saying so", a.status, a.header.Get("Location"))
		}
		if !thief.signedOut(ts) {
			t.Error("the account sign-in made a session from the password alone")
		}
	})
}

// TestPasskeyWithPushedRequest: a passkey sign-in completes a pushed
// authorization request (RFC 9126), whose parameters travel by reference:
// the ceremony's way back resumes the started request, once.
func TestPasskeyWithPushedRequest(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, auth := passkeyServer(t, cfg)
		newBrowser(t).addPasskey(ts, c, auth)
		b := newBrowser(t)
		v := oauth2.GenerateVerifier()
		uri := ts.pushOK(t, c, parParams(c, "state-par-pk", v, "nonce-par-pk"))
		code, ans := b.ceremony(ts, auth, b.get(ts.byReference(c.ClientID, uri)))
		if code != http.StatusOK || !strings.HasPrefix(ans["redirect"], "/oauth2/authorize?") {
			t.Fatalf("passkey sign-in of a pushed request = %d %v", code, ans)
		}
		claims := b.consentAndRedeem(ts, &testClock{}, c, b.follow(ts.Public, b.get(ts.Public+ans["redirect"])), v)
		wantAuthn(t, claims, mfa.ACRPhishingResistant, "hwk", "mfa")
		// The way back again: the request was used up by its code.
		if p := b.get(ts.Public + ans["redirect"]); p.status == http.StatusSeeOther && strings.Contains(p.header.Get("Location"), "code=") {
			t.Errorf("the started request gave a second code: %s", p.header.Get("Location"))
		}
	})
}
