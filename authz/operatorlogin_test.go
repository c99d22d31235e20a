package authz_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

// idvauth login's two flows end to end: an operator signed in to the
// console allows the command line, through a loopback redirect with PKCE
// (RFC 8252) and through a device code (RFC 8628); the tokens work at the
// admin API within the role, refresh, and end when the operator is
// disabled.
func TestOperatorLoginFlows(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, clk, _, _ := mfaServer(t, cfg)
		ctx := context.Background()
		b := newBrowser(t)
		op := enrollOperator(t, ts, clk, b, "lena", "auditor")
		codes := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		defer codes.Close()
		conf := &oauth2.Config{ClientID: "idvauth-cli", RedirectURL: codes.URL + "/callback", Endpoint: oauth2.Endpoint{
			AuthURL: ts.Admin + "/console/oauth2/authorize", TokenURL: ts.Admin + "/console/oauth2/token",
			DeviceAuthURL: ts.Admin + "/console/oauth2/device_authorization", AuthStyle: oauth2.AuthStyleInParams}}

		// Loopback: the operator is asked, then the browser goes back to
		// the command line's listener with the code.
		verifier := oauth2.GenerateVerifier()
		p := b.get(conf.AuthCodeURL("state-of-the-cli", oauth2.S256ChallengeOption(verifier)))
		if p.status != http.StatusOK || !strings.Contains(p.body, "lena") {
			t.Fatalf("authorize, signed in: %d\n%s", p.status, p.body)
		}
		p = b.submit(ts.Admin, postForm(t, p, "/console/oauth2/authorize"), url.Values{"decision": {"allow"}})
		loc, err := url.Parse(p.header.Get("Location"))
		if p.status != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), codes.URL+"/callback?") ||
			loc.Query().Get("state") != "state-of-the-cli" || loc.Query().Get("iss") == "" || loc.Query().Get("code") == "" {
			t.Fatalf("allow: %d to %q, want the loopback URI with code, state and iss", p.status, p.header.Get("Location"))
		}
		code := loc.Query().Get("code")
		if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
			t.Fatal("the code was redeemed with another PKCE verifier")
		}
		// A failed redemption burns the code: start again.
		verifier = oauth2.GenerateVerifier()
		p = b.get(conf.AuthCodeURL("state-of-the-cli", oauth2.S256ChallengeOption(verifier)))
		p = b.submit(ts.Admin, postForm(t, p, "/console/oauth2/authorize"), url.Values{"decision": {"allow"}})
		loc, _ = url.Parse(p.header.Get("Location"))
		tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("Exchange = %+v, %v; want an access and a refresh token", tok, err)
		}
		if st, body := ts.bearerDo(t, tok.AccessToken, http.MethodGet, "/admin/audit?limit=1", nil); st != http.StatusOK {
			t.Errorf("auditor's token at /admin/audit = %d %s, want 200", st, body)
		}
		if st, body := ts.bearerDo(t, tok.AccessToken, http.MethodPost, "/admin/clients", map[string]any{"grant_types": []string{"client_credentials"}}); st != http.StatusForbidden {
			t.Errorf("auditor's token creating a client = %d %s, want 403", st, body)
		}
		stale := *tok
		stale.Expiry = time.Now().Add(-time.Minute)
		fresh, err := conf.TokenSource(ctx, &stale).Token()
		if err != nil || fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
			t.Fatalf("refresh = %+v, %v; want new tokens", fresh, err)
		}

		// Device: the operator enters the code on the console's page.
		da, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p = b.get(da.VerificationURIComplete)
		if p.status != http.StatusOK || !strings.Contains(p.body, da.UserCode) {
			t.Fatalf("device page: %d\n%s", p.status, p.body)
		}
		p = b.submit(ts.Admin, postForm(t, p, "/console/device"), nil)
		if p.status != http.StatusOK || !strings.Contains(p.body, "lena") {
			t.Fatalf("device code entered: %d\n%s", p.status, p.body)
		}
		consent := postForm(t, p, "/console/device")
		p = b.submit(ts.Admin, consent, url.Values{"decision": {"allow"}})
		if p.status != http.StatusOK {
			t.Fatalf("device allowed: %d\n%s", p.status, p.body)
		}
		if again := b.submit(ts.Admin, consent, url.Values{"decision": {"allow"}}); again.status != http.StatusBadRequest {
			t.Errorf("the user code allowed twice: %d", again.status)
		}
		da.Interval = 1
		dtok, err := conf.DeviceAccessToken(ctx, da)
		if err != nil {
			t.Fatalf("DeviceAccessToken: %v", err)
		}
		if st, body := ts.bearerDo(t, dtok.AccessToken, http.MethodGet, "/admin/keys", nil); st != http.StatusOK {
			t.Errorf("device token at /admin/keys = %d %s, want 200", st, body)
		}
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {da.DeviceCode}, "client_id": {"idvauth-cli"}}
		if st, _, body := post(t, conf.Endpoint.TokenURL, "", "", form); st != http.StatusBadRequest || !strings.Contains(string(body), "invalid_grant") && !strings.Contains(string(body), "expired_token") {
			t.Errorf("the device code redeemed twice: %d %s", st, body)
		}

		// A reset of the second factor ends the command line's sign-ins
		// at once: a new factor revives nothing.
		if _, _, err := breakGlassAPI(t, ts).ResetOperatorMFA(ctx, op.id); err != nil {
			t.Fatal(err)
		}
		if st, _ := ts.bearerDo(t, dtok.AccessToken, http.MethodGet, "/admin/keys", nil); st != http.StatusUnauthorized {
			t.Errorf("a token after the MFA reset = %d, want 401", st)
		}
		stale = *dtok
		stale.Expiry = time.Now().Add(-time.Minute)
		if _, err := conf.TokenSource(ctx, &stale).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("a refresh after the MFA reset = %v, want invalid_grant", err)
		}

		// Disabled: the tokens and the refresh end at once.
		yes := true
		if _, _, err := breakGlassAPI(t, ts).UpdateOperator(ctx, op.id, adminapi.OperatorUpdate{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
		if st, _ := ts.bearerDo(t, fresh.AccessToken, http.MethodGet, "/admin/audit?limit=1", nil); st != http.StatusUnauthorized {
			t.Errorf("a disabled operator's token = %d, want 401", st)
		}
		stale = *fresh
		stale.Expiry = time.Now().Add(-time.Minute)
		if _, err := conf.TokenSource(ctx, &stale).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("a disabled operator's refresh = %v, want invalid_grant", err)
		}
	})
}
