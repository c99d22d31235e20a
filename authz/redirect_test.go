package authz_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

// TestErrorsNeverGoToUnregisteredRedirect: a request to a confidential
// client's registered loopback URI on another port is refused with a page
// on every error path, including those fosite finds after taking the URI
// by its own any-port loopback rule, and those of the login and consent
// posts, which parse the request again. Errors of a request to the
// registered URI still go back to it.
func TestErrorsNeverGoToUnregisteredRedirect(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		const registered, other = "http://127.0.0.1/cb", "http://127.0.0.1:45067/cb"
		ts, _, _, _ := startCodeFlow(t, cfg)
		c := ts.createWebClient(t, adminapi.ClientJSON{RedirectURIs: []string{registered}})
		request := func(redirect string, set map[string]string) string {
			q := url.Values{"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {redirect},
				"scope": {"openid"}, "state": {"state-loopback-1"}, "nonce": {"nonce-loopback"},
				"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
			for k, v := range set {
				q.Set(k, v)
			}
			return q.Encode()
		}
		bad := map[string]map[string]string{
			"bad scope":           {"scope": "openid not.a.scope"},
			"short state":         {"state": "abc"},
			"response_type=token": {"response_type": "token"},
			"unknown prompt":      {"prompt": "select_account"},
			"response_mode":       {"response_mode": "fragment"},
		}
		refused := func(t *testing.T, what string, p page) {
			t.Helper()
			if p.status != http.StatusBadRequest || p.header.Get("Location") != "" || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
				t.Fatalf("%s = %d Location %q, want a 400 error page and no redirect", what, p.status, p.header.Get("Location"))
			}
		}
		b := newBrowser(t)
		for name, set := range bad {
			t.Run(name, func(t *testing.T) {
				refused(t, "GET", b.get(ts.Public+"/oauth2/authorize?"+request(other, set)))
				refused(t, "POST", b.post(ts.Public+"/oauth2/authorize", mustQuery(t, request(other, set))))
				// The registered URI gets the error.
				res := redirectedToClient(t, b.get(ts.Public+"/oauth2/authorize?"+request(registered, set)), registered)
				if res.query.Get("error") == "" {
					t.Fatalf("registered URI: redirect without error: %s", res.loc)
				}
			})
		}
		// The login form's post carries the request back: the same rule.
		login := b.follow(ts.Public, b.get(ts.Public+"/oauth2/authorize?"+request(registered, nil))).onlyForm(t)
		for name, set := range bad {
			t.Run("login post/"+name, func(t *testing.T) {
				refused(t, "login post", b.submit(ts.Public, login, url.Values{"return": {request(other, set)}, "username": {"ada"}, "password": {testPassword}}))
			})
		}
		consent := b.submit(ts.Public, login, url.Values{"username": {"ada"}, "password": {testPassword}})
		if !consent.isConsent() {
			t.Fatalf("sign-in = %d, want the consent page:\n%s", consent.status, consent.body)
		}
		for name, set := range bad {
			t.Run("consent post/"+name, func(t *testing.T) {
				refused(t, "consent post", b.submit(ts.Public, consent.onlyForm(t), url.Values{"return": {request(other, set)}, "decision": {"deny"}}))
			})
		}
	})
}

func mustQuery(t testing.TB, raw string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
