package authz_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
)

// TestPagesFormAction: every page limits where forms may post to itself,
// plus, on the login and consent pages (whose posts redirect back to the
// client), the origin of the request's redirect URI.
func TestPagesFormAction(t *testing.T) {
	ts, _, c, b := startCodeFlow(t, authz.Config{InMemory: true})
	formAction := func(p page) string {
		for _, d := range strings.Split(p.header.Get("Content-Security-Policy"), ";") {
			if d = strings.TrimSpace(d); strings.HasPrefix(d, "form-action ") {
				return d
			}
		}
		return ""
	}
	login := b.follow(ts.Public, b.get(authURL(c, "state-csp-00001", oauth2.GenerateVerifier(), "nonce-csp-001")))
	if got, want := formAction(login), "form-action 'self' https://app.example"; !login.isLogin() || got != want {
		t.Fatalf("login page (%d) CSP %q, want %q", login.status, got, want)
	}
	consent := b.submit(ts.Public, login.onlyForm(t), url.Values{"username": {"ada"}, "password": {testPassword}})
	if got, want := formAction(consent), "form-action 'self' https://app.example"; !consent.isConsent() || got != want {
		t.Fatalf("consent page (%d) CSP %q, want %q", consent.status, got, want)
	}
	for _, p := range []page{b.get(ts.Public + "/logout"), b.get(ts.Public + "/oauth2/authorize?client_id=nobody")} {
		if got, want := formAction(p), "form-action 'self'"; got != want || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
			t.Errorf("page (%d) CSP %q, want %q", p.status, got, want)
		}
	}
	if p := b.get(ts.Public + "/logout"); p.status != http.StatusOK {
		t.Errorf("logout page = %d", p.status)
	}
}
