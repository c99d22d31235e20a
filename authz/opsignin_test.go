package authz_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
)

// noFollow is an HTTP client that shows redirects instead of following
// them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// cliAuthorizeURL is an authorization request of idvauth login to base,
// with a loopback redirect.
func cliAuthorizeURL(base, path string) string {
	c := oauth2.Config{ClientID: "idvauth-cli", RedirectURL: "http://127.0.0.1:51234/callback", Endpoint: oauth2.Endpoint{AuthURL: base + path}}
	return c.AuthCodeURL("state-of-the-test", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
}

// The built-in clients of operators are served on the admin listener
// alone: a person's sign-in never gives them a code, their grants are
// refused at the public token endpoint, and the admin listener's token
// endpoint serves no other client.
func TestOperatorClientsStayOnTheAdminListener(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		get := func(u string) (int, http.Header, string) {
			t.Helper()
			resp, err := noFollow.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b strings.Builder
			_, _ = io.Copy(&b, resp.Body)
			return resp.StatusCode, resp.Header, b.String()
		}
		// At the public authorization endpoint: a page, never a redirect
		// to the loopback URI.
		code, h, _ := get(cliAuthorizeURL(ts.Public, "/oauth2/authorize"))
		if code != http.StatusBadRequest || h.Get("Location") != "" {
			t.Errorf("public authorize with idvauth-cli = %d (Location %q), want 400 and no redirect", code, h.Get("Location"))
		}
		// At the admin listener, someone not signed in goes to the
		// console's sign-in, and comes back to the request.
		u := cliAuthorizeURL(ts.Admin, "/console/oauth2/authorize")
		code, h, _ = get(u)
		loc, _ := url.Parse(h.Get("Location"))
		if code != http.StatusSeeOther || loc == nil || loc.Path != "/console/signin" || !strings.HasPrefix(loc.Query().Get("next"), "/console/oauth2/authorize?") {
			t.Errorf("admin authorize, signed out = %d, Location %q; want 303 to the console's sign-in", code, h.Get("Location"))
		}
		// Another client, or another redirect URI, is refused with a page.
		for _, bad := range []string{
			strings.Replace(u, "client_id=idvauth-cli", "client_id="+ts.Demo.Web.ClientID, 1),
			strings.Replace(u, url.QueryEscape("http://127.0.0.1:51234/callback"), url.QueryEscape("https://evil.example/callback"), 1),
			strings.Replace(u, "client_id=idvauth-cli", "client_id=idvauth-console", 1),
		} {
			if code, h, _ := get(bad); code != http.StatusBadRequest || h.Get("Location") != "" {
				t.Errorf("GET %s = %d (Location %q), want 400 and no redirect", bad, code, h.Get("Location"))
			}
		}
		// The admin listener's token endpoint serves the built-in
		// clients only; the public one refuses them.
		svc := ts.Demo.Service
		code, _, body := post(t, ts.Admin+"/console/oauth2/token", svc.ClientID, svc.ClientSecret, url.Values{"grant_type": {"client_credentials"}})
		if code != http.StatusUnauthorized || !strings.Contains(string(body), "invalid_client") {
			t.Errorf("client_credentials at the admin token endpoint = %d %s, want 401 invalid_client", code, body)
		}
		code, _, body = post(t, ts.Public+"/oauth2/token", "", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {"idvauth-cli"}})
		if code < 400 || code >= 500 || strings.Contains(string(body), "access_token") {
			t.Errorf("idvauth-cli at the public token endpoint = %d %s, want a 4xx", code, body)
		}
	})
}

// The device grant's endpoints before an operator acts: a device code
// for idvauth-cli alone, pending until approved, and nothing for a code
// nobody issued.
func TestDeviceGrantBeforeApproval(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts := startServer(t, cfg)
		da := ts.Admin + "/console/oauth2/device_authorization"
		for _, bad := range []url.Values{
			{"client_id": {ts.Demo.Web.ClientID}},
			{"client_id": {"idvauth-cli"}, "scope": {"identity.verify"}},
			{"client_id": {"idvauth-cli", "idvauth-cli"}},
		} {
			if code, _, body := post(t, da, "", "", bad); code < 400 || code >= 500 || !strings.Contains(string(body), `"error"`) {
				t.Errorf("device authorization %v = %d %s, want a 4xx error", bad, code, body)
			}
		}
		conf := &oauth2.Config{ClientID: "idvauth-cli", Endpoint: oauth2.Endpoint{DeviceAuthURL: da,
			TokenURL: ts.Admin + "/console/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
		resp, err := conf.DeviceAuth(t.Context())
		if err != nil {
			t.Fatalf("DeviceAuth: %v", err)
		}
		if len(resp.UserCode) != 9 || resp.VerificationURI != ts.Admin+"/console/device" || !strings.HasPrefix(resp.VerificationURIComplete, resp.VerificationURI+"?user_code=") ||
			resp.Interval != 5 || time.Until(resp.Expiry) > 10*time.Minute || len(resp.DeviceCode) < 40 {
			t.Errorf("device authorization = %+v", resp)
		}
		poll := func(device string) (int, string) {
			code, _, body := post(t, ts.Admin+"/console/oauth2/token", "", "", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
				"device_code": {device}, "client_id": {"idvauth-cli"}})
			return code, string(body)
		}
		if code, body := poll(resp.DeviceCode); code != http.StatusBadRequest || !strings.Contains(body, "authorization_pending") {
			t.Errorf("poll before approval = %d %s, want authorization_pending", code, body)
		}
		if code, body := poll(resp.DeviceCode + "x"); code != http.StatusBadRequest || !strings.Contains(body, "expired_token") {
			t.Errorf("poll with an unknown code = %d %s, want expired_token", code, body)
		}
		// The device page wants a signed-in operator.
		r, err := noFollow.Get(resp.VerificationURIComplete)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if loc, _ := url.Parse(r.Header.Get("Location")); r.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/console/signin" {
			t.Errorf("device page signed out = %d %q, want the console's sign-in", r.StatusCode, r.Header.Get("Location"))
		}
	})
}
