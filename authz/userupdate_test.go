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

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

// TestAdminPatchUser: PATCH /admin/users/{id} changes the fields given;
// a username or email another person has is 409, bad values and bodies
// 400/415, an unknown person 404, and none of them changes anything. The
// audit entry names the changed fields only.
func TestAdminPatchUser(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, user, _ := mfaServer(t, cfg)
		other := ts.createUser(t, "grace")
		path := "/admin/users/" + user.ID

		got := adminCall[adminapi.UserJSON](t, ts, "PATCH", path, map[string]string{"name": "Ada Lovelace", "email": "ada@analytical.example"}, 200)
		if got.Name != "Ada Lovelace" || got.Email != "ada@analytical.example" || got.Username != "ada" {
			t.Fatalf("PATCH = %+v", got)
		}
		if got := adminCall[adminapi.UserJSON](t, ts, "GET", path, nil, 200); got.Name != "Ada Lovelace" {
			t.Fatalf("GET after PATCH = %+v", got)
		}
		got = adminCall[adminapi.UserJSON](t, ts, "PATCH", path, map[string]string{"username": "Countess"}, 200)
		if got.Username != "countess" {
			t.Fatalf("username = %q, want it normalized to countess", got.Username)
		}
		// A change goes down sealed, like a new person: no column of any
		// table holds the new values in plain text.
		for _, v := range []string{"Ada Lovelace", "ada@analytical.example", "countess"} {
			if where := ts.findText(t, v); where != "" {
				t.Errorf("%q, set by PATCH, is in plain text in %s", v, where)
			}
		}
		if ts.findText(t, ts.passwordHash(t, user.ID)) == "" {
			t.Fatal("the search does not find the password hash: it would prove nothing")
		}

		cases := []struct {
			name, ctype, body string
			want              int
		}{
			{"username taken", "application/json", `{"username":"grace"}`, 409},
			{"email taken", "application/json", `{"email":"GRACE@example.com"}`, 409},
			{"bad email", "application/json", `{"email":"not an address"}`, 400},
			{"bad username", "application/json", `{"username":"has space"}`, 400},
			{"empty username", "application/json", `{"username":""}`, 400},
			{"control in name", "application/json", `{"name":"a\u0007b"}`, 400},
			{"long name", "application/json", `{"name":"` + strings.Repeat("n", 201) + `"}`, 400},
			{"nothing", "application/json", `{}`, 400},
			{"unknown field", "application/json", `{"password":"x"}`, 400},
			{"not json", "application/json", `{"name":`, 400},
			{"two values", "application/json", `{"name":"x"}{"name":"y"}`, 400},
			{"wrong type", "application/json", `{"name":1}`, 400},
			{"form", "application/x-www-form-urlencoded", `name=x`, 415},
			{"too large", "application/json", `{"name":"` + strings.Repeat("n", 70<<10) + `"}`, 413},
		}
		for _, tc := range cases {
			if st, body := ts.adminDo(t, "PATCH", path, tc.ctype, tc.body); st != tc.want {
				t.Errorf("%s: PATCH = %d %s, want %d", tc.name, st, body, tc.want)
			}
		}
		if st, _ := ts.adminJSON(t, "PATCH", "/admin/users/u_nosuch", map[string]string{"name": "x"}); st != 404 {
			t.Errorf("PATCH unknown = %d, want 404", st)
		}
		if got := adminCall[adminapi.UserJSON](t, ts, "GET", path, nil, 200); got.Name != "Ada Lovelace" || got.Username != "countess" || got.Email != "ada@analytical.example" {
			t.Errorf("refused PATCHes changed the person: %+v", got)
		}
		if got := adminCall[adminapi.UserJSON](t, ts, "GET", "/admin/users/"+other.ID, nil, 200); got.Username != "grace" {
			t.Errorf("the other person changed: %+v", got)
		}

		var fields []string
		for _, e := range ts.auditAll(t, url.Values{"type": {adminapi.EventUserUpdated}}) {
			fields = append(fields, e.Details["fields"])
			b, _ := json.Marshal(e)
			if strings.Contains(string(b), "Lovelace") || strings.Contains(string(b), "analytical") || strings.Contains(string(b), "countess") {
				t.Errorf("audit entry holds a value: %s", b)
			}
		}
		if strings.Join(fields, "|") != "name,email|username" {
			t.Errorf("audited fields = %q, want name,email|username", fields)
		}
	})
}

var resetLinkPath = regexp.MustCompile(`^http://[^/]+(/account/password-reset\?token=[A-Za-z0-9_-]+)$`)

// TestAdminPasswordReset: an operator's reset link lets the person set a
// new password once, under the policy; then every browser session and
// refresh token of theirs ends. A used, superseded or expired link is a
// clear page; nothing is stored but a digest.
func TestAdminPasswordReset(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, user, c := mfaServer(t, cfg)
		signedIn := newBrowser(t)
		rt := signedIn.grant(ts, c).RefreshToken

		issue := func() string {
			t.Helper()
			got := adminCall[adminapi.PasswordResetLink](t, ts, "POST", "/admin/users/"+user.ID+"/password-reset", nil, 200)
			m := resetLinkPath.FindStringSubmatch(got.Link)
			if m == nil || got.UserID != user.ID || time.Unix(got.ExpiresAt, 0).Sub(clk.Now()) > 30*time.Minute+time.Second {
				t.Fatalf("reset = %+v, want a link valid 30 minutes", got)
			}
			return ts.Public + m[1]
		}
		first, second := issue(), issue()

		b := newBrowser(t)
		p := b.get(first)
		f := p.formAt(t, "/account/password-reset")
		if p.status != 200 || p.header.Get("Content-Security-Policy") == "" || p.header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("reset page = %d, headers %v", p.status, p.header)
		}
		if weak := b.submit(ts.Public, f, url.Values{"new_password": {"password1234"}}); weak.status != 400 {
			t.Errorf("weak password = %d, want 400", weak.status)
		}
		if bad := b.submit(ts.Public, f, url.Values{"new_password": {newTestPassword}, "token": {"AAAA"}}); bad.status != http.StatusGone {
			t.Errorf("forged token = %d, want 410", bad.status)
		}
		if _, st, _ := tokenRefresh(t, ts, c, rt); st != 200 {
			t.Fatalf("refused resets ended the refresh token: %d", st)
		}
		rt = signedIn.grant(ts, c).RefreshToken
		done := b.submit(ts.Public, f, url.Values{"new_password": {newTestPassword}})
		if done.status != 200 || !strings.Contains(done.body, "Your password is set") {
			t.Fatalf("reset = %d:\n%s", done.status, done.body)
		}
		if _, st, _ := tokenRefresh(t, ts, c, rt); st != http.StatusBadRequest {
			t.Errorf("refresh after a reset = %d, want 400", st)
		}
		if !signedIn.signedOut(ts) {
			t.Error("a browser session outlived the reset")
		}
		newBrowser(t).accountSignIn(ts, clk, "ada", newTestPassword, "")

		// Used, and superseded by the change: both refused with a page.
		for name, link := range map[string]string{"used": first, "superseded": second} {
			if got := newBrowser(t).get(link); got.status != http.StatusGone || !strings.Contains(got.body, "does not work any more") {
				t.Errorf("%s link = %d, want 410 with a page", name, got.status)
			}
		}
		if again := b.submit(ts.Public, f, url.Values{"new_password": {"yet another passphrase 7"}}); again.status != http.StatusGone {
			t.Errorf("second use = %d, want 410", again.status)
		}

		// Expiry, on the injected clock.
		third := issue()
		clk.Add(31 * time.Minute)
		if got := newBrowser(t).get(third); got.status != http.StatusGone {
			t.Errorf("expired link = %d, want 410", got.status)
		}

		if st, _ := ts.adminJSON(t, "POST", "/admin/users/u_nosuch/password-reset", nil); st != 404 {
			t.Errorf("reset of an unknown person = %d, want 404", st)
		}
		if st, _ := ts.adminJSON(t, "GET", "/admin/users/"+user.ID+"/password-reset", nil); st != 405 {
			t.Errorf("GET password-reset = %d, want 405", st)
		}
		for _, e := range ts.auditAll(t, url.Values{"subject": {user.ID}}) {
			b, _ := json.Marshal(e)
			if strings.Contains(html.UnescapeString(string(b)), "token=") {
				t.Errorf("audit holds a link: %s", b)
			}
		}
		if n := len(auditDetails(t, ts, adminapi.EventPasswordResetIssued)); n != 3 {
			t.Errorf("%d %s entries, want 3", n, adminapi.EventPasswordResetIssued)
		}
	})
}
