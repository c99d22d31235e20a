package authz_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/authz/settings"
)

// End-to-end tests of the account page (/account) and of the operators'
// PATCH /admin/users/{id} and password-reset links (issue 19, items 4
// and 5), on both backends.

const newTestPassword = "a brand new passphrase 42"

// formAt returns p's form that posts to action, failing if there is none.
func (p page) formAt(t testing.TB, action string) form {
	t.Helper()
	for _, f := range p.forms {
		if f.action == action {
			return f
		}
	}
	t.Fatalf("page (%d) has no form posting to %s:\n%s", p.status, action, p.body)
	return form{}
}

func (p page) isAccount() bool {
	return p.status == http.StatusOK && strings.Contains(p.body, "<h1>Your account</h1>")
}

// accountSignIn opens /account in b, signs in through the login pages
// with pw (and a TOTP code of secret, if not empty) and returns the
// account page.
func (b *browser) accountSignIn(ts *testServer, clk *testClock, username, pw, secret string) page {
	t := b.t
	t.Helper()
	p := b.follow(ts.Public, b.get(ts.Public+"/account"))
	f := p.formAt(t, "/account/signin")
	p = b.submit(ts.Public, f, url.Values{"username": {username}, "password": {pw}})
	if secret != "" {
		p = b.submit(ts.Public, p.formAt(t, "/account/signin/mfa"), url.Values{"code": {totpCode(t, secret, clk)}})
	}
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/account") {
		t.Fatalf("account sign-in = %d to %q, want 303 to /account:\n%s", p.status, p.header.Get("Location"), p.body)
	}
	p = b.follow(ts.Public, p)
	if !p.isAccount() {
		t.Fatalf("after sign-in = %d, want the account page:\n%s", p.status, p.body)
	}
	return p
}

// grant signs ada in through the web client in b and returns the tokens.
func (b *browser) grant(ts *testServer, c webClient) tokenAnswer {
	v := oauth2.GenerateVerifier()
	return ts.redeemOK(b.t, c, newCode(b.t, ts, b, c, v), v)
}

// signedOut reports whether b's session is gone: /account sends it to
// sign in.
func (b *browser) signedOut(ts *testServer) bool {
	p := b.get(ts.Public + "/account")
	return p.status == http.StatusSeeOther && strings.HasPrefix(p.header.Get("Location"), "/account/signin")
}

func auditDetails(t testing.TB, ts *testServer, typ string) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, e := range ts.auditAll(t, url.Values{"type": {typ}}) {
		out = append(out, e.Details)
	}
	return out
}

// TestAccountPasswordChange: changing the password on /account needs the
// current one and the policy, and ends every other browser session and
// every refresh token of the person; this browser stays signed in.
func TestAccountPasswordChange(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, user, c := mfaServer(t, cfg)
		other := newBrowser(t)
		rt := other.grant(ts, c).RefreshToken
		b := newBrowser(t)
		p := b.accountSignIn(ts, clk, "ada", testPassword, "")
		for _, want := range []string{"Ada ada", "ada@example.com", "Acme Onboarding", "Download my data", "(this browser)"} {
			if !strings.Contains(p.body, want) {
				t.Errorf("account page lacks %q", want)
			}
		}
		change := p.formAt(t, "/account/password/change")

		for _, tc := range []struct {
			name     string
			cur, new string
		}{
			{"wrong current", "not my password 123", newTestPassword},
			{"no current", "", newTestPassword},
			{"weak new", testPassword, "password1234"},
			{"too short", testPassword, "short"},
			{"same as username", testPassword, "adaadaadaada"},
		} {
			got := b.submit(ts.Public, change, url.Values{"current_password": {tc.cur}, "new_password": {tc.new}})
			if got.status != http.StatusBadRequest || !strings.Contains(got.body, `role="alert"`) {
				t.Errorf("%s: change = %d, want 400 with an alert", tc.name, got.status)
			}
		}
		if _, st, _ := tokenRefresh(t, ts, c, rt); st != http.StatusOK {
			t.Fatalf("refused changes ended the refresh token: %d", st)
		}
		rt = other.grant(ts, c).RefreshToken

		p = b.submit(ts.Public, change, url.Values{"current_password": {testPassword}, "new_password": {newTestPassword}})
		if !p.isAccount() || !strings.Contains(p.body, "Your password is changed") {
			t.Fatalf("change = %d, want the page with a notice:\n%s", p.status, p.body)
		}
		if _, st, _ := tokenRefresh(t, ts, c, rt); st != http.StatusBadRequest {
			t.Errorf("refresh after a password change = %d, want 400", st)
		}
		if !other.signedOut(ts) {
			t.Error("the other browser is still signed in")
		}
		if b.signedOut(ts) {
			t.Error("the browser that changed the password was signed out")
		}
		newBrowser(t).accountSignIn(ts, clk, "ada", newTestPassword, "")
		old := newBrowser(t)
		lp := old.follow(ts.Public, old.get(ts.Public+"/account"))
		if got := old.submit(ts.Public, lp.formAt(t, "/account/signin"), url.Values{"username": {"ada"}, "password": {testPassword}}); got.status == http.StatusSeeOther {
			t.Error("the old password still signs in")
		}
		ds := auditDetails(t, ts, adminapi.EventPasswordChanged)
		var ok bool
		for _, d := range ds {
			ok = ok || d["via"] == "account" && d["sessions_ended"] == "1" && d["refresh_grants_revoked"] == "2"
			for _, v := range d {
				if strings.Contains(v, "passphrase") || strings.Contains(v, "staple") {
					t.Errorf("audit holds a password: %v", d)
				}
			}
		}
		if !ok {
			t.Errorf("audit %s = %v, want one with via=account, sessions_ended=1, refresh_grants_revoked=2 (both grants)", adminapi.EventPasswordChanged, ds)
		}
		_ = user
	})
}

func tokenRefresh(t testing.TB, ts *testServer, c webClient, rt string) (tokenAnswer, int, []byte) {
	t.Helper()
	st, body := ts.refresh(t, c, rt)
	var a tokenAnswer
	_ = json.Unmarshal(body, &a)
	return a, st, body
}

var totpURIPattern = regexp.MustCompile(`<code id="totp-uri">([^<]+)</code>`)

// enrollTOTP sets up an authenticator app from the account page p and
// returns its secret and the recovery codes shown.
func (b *browser) enrollTOTP(ts *testServer, clk *testClock, p page) (string, []string) {
	t := b.t
	t.Helper()
	p = b.submit(ts.Public, p.formAt(t, "/account/factors/totp-start"), nil)
	m := totpURIPattern.FindStringSubmatch(p.body)
	if m == nil || !strings.Contains(p.body, "<svg") {
		t.Fatalf("enrollment = %d without the otpauth URI as text and an SVG QR code:\n%s", p.status, p.body)
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil || u.Scheme != "otpauth" {
		t.Fatalf("URI %q: %v", m[1], err)
	}
	secret := u.Query().Get("secret")
	confirm := p.formAt(t, "/account/factors/totp-confirm")
	if bad := b.submit(ts.Public, confirm, url.Values{"code": {"000000"}}); bad.status != http.StatusBadRequest {
		t.Errorf("a wrong enrollment code = %d, want 400", bad.status)
	}
	code, _ := totp.GenerateCode(secret, clk.Now())
	p = b.submit(ts.Public, confirm, url.Values{"code": {code}})
	var codes []string
	for _, c := range recoveryPattern.FindAllStringSubmatch(p.body, -1) {
		codes = append(codes, c[1])
	}
	if p.status != http.StatusOK || len(codes) != 10 {
		t.Fatalf("confirm = %d with %d recovery codes, want 200 and 10:\n%s", p.status, len(codes), p.body)
	}
	clk.Add(30 * time.Second) // the next code is of a new step
	return secret, codes
}

// TestAccountFactors: a person sets up an authenticator app on the
// account page (URI as text and QR code, confirmed by a code), signs in
// with it, makes new recovery codes (the old ones stop working) and
// removes it; under IDVAUTH_MFA=required the last factor stays.
func TestAccountFactors(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, user, _ := mfaServer(t, cfg)
		b := newBrowser(t)
		p := b.accountSignIn(ts, clk, "ada", testPassword, "")
		secret, codes := b.enrollTOTP(ts, clk, p)

		// Signing in again takes the code.
		b2 := newBrowser(t)
		p = b2.accountSignIn(ts, clk, "ada", testPassword, secret)
		if !strings.Contains(p.body, "<strong>on</strong>") || !strings.Contains(p.body, `id="recovery-left">10<`) {
			t.Fatalf("factors section does not show the app and 10 codes:\n%s", p.body)
		}
		p = b2.submit(ts.Public, p.formAt(t, "/account/factors/recovery-regenerate"), nil)
		if fresh := recoveryPattern.FindAllStringSubmatch(p.body, -1); len(fresh) != 10 || fresh[0][1] == codes[0] {
			t.Fatalf("regenerate = %d with %d codes, want 10 new ones", p.status, len(fresh))
		}
		// An old recovery code no longer signs in.
		b3 := newBrowser(t)
		lp := b3.follow(ts.Public, b3.get(ts.Public+"/account"))
		mp := b3.submit(ts.Public, lp.formAt(t, "/account/signin"), url.Values{"username": {"ada"}, "password": {testPassword}})
		if got := b3.submit(ts.Public, mp.formAt(t, "/account/signin/mfa"), url.Values{"code": {codes[0]}}); got.status == http.StatusSeeOther {
			t.Error("a replaced recovery code signed in")
		}

		p = b2.follow(ts.Public, b2.get(ts.Public+"/account"))
		p = b2.submit(ts.Public, p.formAt(t, "/account/factors/totp-remove"), nil)
		if !p.isAccount() || !strings.Contains(p.body, "<strong>off</strong>") {
			t.Fatalf("remove = %d, want the page with the app off:\n%s", p.status, p.body)
		}
		if n := len(auditDetails(t, ts, adminapi.EventFactorRemoved)); n != 1 {
			t.Errorf("%d %s entries, want 1", n, adminapi.EventFactorRemoved)
		}
		_ = user
	})
}

func TestAccountLastFactorUnderMFARequired(t *testing.T) {
	ts, clk, _, _ := mfaServer(t, authz.Config{MFA: settings.MFARequired})
	b := newBrowser(t)
	p := b.accountSignIn(ts, clk, "ada", testPassword, "")
	if !strings.Contains(p.body, "requires a second step") {
		t.Errorf("the page does not say a second step is required:\n%s", p.body)
	}
	b.enrollTOTP(ts, clk, p)
	p = b.follow(ts.Public, b.get(ts.Public+"/account"))
	got := b.submit(ts.Public, p.formAt(t, "/account/factors/totp-remove"), nil)
	if got.status != http.StatusConflict || !strings.Contains(got.body, "cannot be removed") {
		t.Fatalf("removing the last factor = %d, want 409:\n%s", got.status, got.body)
	}
	if p := b.follow(ts.Public, b.get(ts.Public+"/account")); !strings.Contains(p.body, "<strong>on</strong>") {
		t.Error("the factor went although the removal was refused")
	}
}

// TestAccountNeedsRecentSignIn: a password or factor change with a sign-in
// older than 5 minutes sends the browser to sign in again (password, and
// the code if the person has a factor) and back to the section; nothing
// changes until then.
func TestAccountNeedsRecentSignIn(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, _, _ := mfaServer(t, cfg)
		b := newBrowser(t)
		p := b.accountSignIn(ts, clk, "ada", testPassword, "")
		secret, _ := b.enrollTOTP(ts, clk, p)
		p = b.follow(ts.Public, b.get(ts.Public+"/account"))
		clk.Add(6 * time.Minute)
		for _, action := range []string{"/account/password/change", "/account/factors/totp-remove", "/account/factors/recovery-regenerate"} {
			got := b.submit(ts.Public, p.formAt(t, action), url.Values{"current_password": {testPassword}, "new_password": {newTestPassword}})
			if got.status != http.StatusSeeOther || !strings.HasPrefix(got.header.Get("Location"), "/account/signin?return=") {
				t.Errorf("%s with an old sign-in = %d to %q, want 303 to the sign-in", action, got.status, got.header.Get("Location"))
			}
		}
		// Nothing changed: the old password and the factor still sign in.
		newBrowser(t).accountSignIn(ts, clk, "ada", testPassword, secret)
		clk.Add(30 * time.Second)

		// Signing in again leads back to the section, and the change works.
		lp := b.follow(ts.Public, b.get(ts.Public+"/account/signin?return=%2Faccount%23password"))
		mp := b.submit(ts.Public, lp.formAt(t, "/account/signin"), url.Values{"username": {"ada"}, "password": {testPassword}})
		back := b.submit(ts.Public, mp.formAt(t, "/account/signin/mfa"), url.Values{"code": {totpCode(t, secret, clk)}})
		if back.status != http.StatusSeeOther || back.header.Get("Location") != "/account#password" {
			t.Fatalf("re-authentication = %d to %q, want 303 to /account#password", back.status, back.header.Get("Location"))
		}
		p = b.follow(ts.Public, back)
		p = b.submit(ts.Public, p.formAt(t, "/account/password/change"), url.Values{"current_password": {testPassword}, "new_password": {newTestPassword}})
		if !strings.Contains(p.body, "Your password is changed") {
			t.Fatalf("change after re-authentication = %d:\n%s", p.status, p.body)
		}
	})
}

// TestAccountSignInIsNoOpenRedirect: whatever return parameter the sign-in
// gets, it goes back to the account page.
func TestAccountSignInIsNoOpenRedirect(t *testing.T) {
	ts, clk, _, _ := mfaServer(t, authz.Config{})
	for _, ret := range []string{"https://evil.example/", "//evil.example", "/account/../oauth2/authorize", "/account#nosuch", "/\\evil.example", "javascript:alert(1)"} {
		b := newBrowser(t)
		lp := b.get(ts.Public + "/account/signin?return=" + url.QueryEscape(ret))
		got := b.submit(ts.Public, lp.formAt(t, "/account/signin"), url.Values{"username": {"ada"}, "password": {testPassword}})
		if loc := got.header.Get("Location"); got.status != http.StatusSeeOther || loc != "/account" {
			t.Errorf("sign-in with return %q = %d to %q, want 303 to /account", ret, got.status, loc)
		}
		// And the posted return field is checked as well.
		f := lp.formAt(t, "/account/signin")
		f.values.Set("return", ret)
		b2 := newBrowser(t)
		b2.client.Jar = b.client.Jar
		if got := b2.submit(ts.Public, f, url.Values{"username": {"ada"}, "password": {testPassword}}); got.header.Get("Location") != "/account" {
			t.Errorf("posted return %q led to %q", ret, got.header.Get("Location"))
		}
	}
	_ = clk
}

// TestAccountSessionsConsentsAndData: the person lists their browser
// sessions and ends another one, withdraws a client's access (its refresh
// token stops working) and downloads their data.
func TestAccountSessionsConsentsAndData(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, user, c := mfaServer(t, cfg)
		other := newBrowser(t)
		rt := other.grant(ts, c).RefreshToken
		b := newBrowser(t)
		p := b.accountSignIn(ts, clk, "ada", testPassword, "")
		if n := strings.Count(p.body, "signed in with a password"); n != 2 {
			t.Errorf("sessions listed = %d, want 2", n)
		}
		end := p.formAt(t, "/account/sessions/end")
		if bad := b.submit(ts.Public, end, url.Values{"session": {"nosuchref"}}); bad.status != http.StatusBadRequest {
			t.Errorf("ending an unknown session = %d, want 400", bad.status)
		}
		p = b.submit(ts.Public, end, nil)
		if !strings.Contains(p.body, "The session is ended") || !other.signedOut(ts) || b.signedOut(ts) {
			t.Fatalf("end session = %d; other signed out %v:\n%s", p.status, other.signedOut(ts), p.body)
		}

		w := p.formAt(t, "/account/consents/withdraw")
		if w.values.Get("client_id") != c.ClientID {
			t.Fatalf("withdraw form for %q, want %q", w.values.Get("client_id"), c.ClientID)
		}
		if bad := b.submit(ts.Public, w, url.Values{"client_id": {"no-such-client"}}); bad.status != http.StatusBadRequest {
			t.Errorf("withdrawing an unknown client = %d, want 400", bad.status)
		}
		p = b.submit(ts.Public, w, nil)
		if !strings.Contains(p.body, "access is withdrawn") || strings.Contains(p.body, "Acme Onboarding</strong> may use") {
			t.Fatalf("withdraw = %d:\n%s", p.status, p.body)
		}
		if _, st, _ := tokenRefresh(t, ts, c, rt); st != http.StatusBadRequest {
			t.Errorf("refresh after withdrawal = %d, want 400", st)
		}

		dl := b.submit(ts.Public, p.formAt(t, "/account/data/download"), nil)
		var exp adminapi.UserExport
		if err := json.Unmarshal([]byte(dl.body), &exp); err != nil || exp.User.ID != user.ID {
			t.Fatalf("download = %d %v, user %q, want %q", dl.status, err, exp.User.ID, user.ID)
		}
		if cd := dl.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
			t.Errorf("Content-Disposition = %q, want an attachment", cd)
		}
	})
}

// TestAccountBadInput: every post without the CSRF token, with the wrong
// method or content, to an unknown section or action, or too large, is a
// 4xx page and changes nothing.
func TestAccountBadInput(t *testing.T) {
	ts, clk, user, _ := mfaServer(t, authz.Config{})
	b := newBrowser(t)
	p := b.accountSignIn(ts, clk, "ada", testPassword, "")
	change := p.formAt(t, "/account/password/change")
	noCSRF := url.Values{"current_password": {testPassword}, "new_password": {newTestPassword}}
	big := url.Values{"csrf": {change.values.Get("csrf")}, "current_password": {testPassword}, "new_password": {strings.Repeat("x", 40<<10)}}
	cases := []struct {
		name, method, path, ctype, body string
		want                            int
	}{
		{"no csrf", "POST", "/account/password/change", "application/x-www-form-urlencoded", noCSRF.Encode(), 403},
		{"too large", "POST", "/account/password/change", "application/x-www-form-urlencoded", big.Encode(), 400},
		{"GET on an action", "GET", "/account/password/change", "", "", 405},
		{"unknown action", "POST", "/account/password/nothing", "application/x-www-form-urlencoded", "", 404},
		{"unknown section", "POST", "/account/nothing/change", "application/x-www-form-urlencoded", "", 404},
		{"POST the page", "POST", "/account", "application/x-www-form-urlencoded", "", 405},
		{"reset without token", "GET", "/account/password-reset", "", "", 410},
		{"reset garbage token", "GET", "/account/password-reset?token=AAAA", "", "", 410},
		{"reset two tokens", "GET", "/account/password-reset?token=a&token=b", "", "", 410},
		{"field twice", "POST", "/account/password/change", "application/x-www-form-urlencoded",
			"csrf=" + change.values.Get("csrf") + "&current_password=" + url.QueryEscape(testPassword) + "&new_password=" + url.QueryEscape(newTestPassword) + "&new_password=x", 400},
		{"confirm without pending", "POST", "/account/factors/totp-confirm", "application/x-www-form-urlencoded", "csrf=" + change.values.Get("csrf") + "&code=123456", 400},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, ts.Public+tc.path, strings.NewReader(tc.body))
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got := readPage(t, resp)
		if got.status != tc.want || !strings.HasPrefix(got.header.Get("Content-Type"), "text/html") || got.header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: %s %s = %d (%s), want %d with a page under the CSP", tc.name, tc.method, tc.path, got.status, got.header.Get("Content-Type"), tc.want)
		}
	}
	// Nothing changed: the password still signs in, no factor was added.
	newBrowser(t).accountSignIn(ts, clk, "ada", testPassword, "")
	if f := adminCall[adminapi.UserExport](t, ts, "GET", "/admin/users/"+user.ID+"/export", nil, 200); len(f.Factors) != 0 {
		t.Errorf("bad input added factors: %v", f.Factors)
	}
}

// TestAccountEndingASessionEndsItsTokens: a session ended on the account
// page is logged out as at the end-session endpoint: the refresh token of
// the grant made in it stops working at once.
func TestAccountEndingASessionEndsItsTokens(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, _, c := mfaServer(t, cfg)
		other := newBrowser(t)
		rt := other.grant(ts, c).RefreshToken
		b := newBrowser(t)
		p := b.accountSignIn(ts, clk, "ada", testPassword, "")
		b.submit(ts.Public, p.formAt(t, "/account/sessions/end"), nil)
		if !other.signedOut(ts) {
			t.Fatal("the other session was not ended")
		}
		if _, status, _ := tokenRefresh(t, ts, c, rt); status != http.StatusBadRequest {
			t.Errorf("refresh with the ended session's token = %d, want 400", status) // no body: it holds tokens
		}
	})
}
