package authz_test

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

// TestConfidentialClientNeedsPKCE: a confidential client without PKCE is
// refused before any login (RFC 9700 section 2.1.1), unless registered
// with require_pkce false, which the admin API shows and the audit trail
// records, and which a public client cannot have.
func TestConfidentialClientNeedsPKCE(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, b := startCodeFlow(t, cfg)
		if c.RequirePKCE == nil || !*c.RequirePKCE {
			t.Fatalf("new client require_pkce = %v, want true", c.RequirePKCE)
		}
		res := redirectedToClient(t, b.get(c.cfg.AuthCodeURL("state-nopkce-conf", oauth2.SetAuthURLParam("nonce", "n-1"))), redirectURI)
		if res.query.Get("error") != "invalid_request" || res.query.Get("code") != "" || res.query.Get("state") != "state-nopkce-conf" {
			t.Fatalf("confidential client without PKCE = %s, want error=invalid_request", res.loc)
		}

		legacy := ts.createWebClient(t, adminapi.ClientJSON{ClientName: "Legacy", RequirePKCE: new(false)})
		if legacy.RequirePKCE == nil || *legacy.RequirePKCE {
			t.Fatalf("client registered with require_pkce false shows %v", legacy.RequirePKCE)
		}
		p := b.signIn(ts, legacy.cfg.AuthCodeURL("state-legacy-01", oauth2.SetAuthURLParam("nonce", "n-2")), "ada", "allow")
		code := redirectedToClient(t, p, redirectURI).query.Get("code")
		if code == "" {
			t.Fatalf("require_pkce false client without PKCE got no code: %s", p.header.Get("Location"))
		}
		if _, err := legacy.cfg.Exchange(ctxb(), code); err != nil {
			t.Fatalf("exchange without verifier for a require_pkce false client: %v", err)
		}
		// PKCE, when sent, is still checked for it.
		v := oauth2.GenerateVerifier()
		p = b.signIn(ts, authURL(legacy, "state-legacy-02", v, "n-3"), "ada", "allow")
		code = redirectedToClient(t, p, redirectURI).query.Get("code")
		if _, err := legacy.cfg.Exchange(ctxb(), code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
			t.Error("exchange with the wrong verifier succeeded")
		}

		var found bool
		for _, e := range ts.auditAll(t, nil) {
			if e.Type == adminapi.EventClientCreated && e.ClientID == legacy.ClientID {
				found = e.Details["require_pkce"] == "false"
			}
			if e.Type == adminapi.EventClientCreated && e.ClientID == c.ClientID && e.Details["require_pkce"] != "" {
				t.Errorf("audit entry of a PKCE client = %v, want no require_pkce", e.Details)
			}
		}
		if !found {
			t.Error("no client.created entry with require_pkce false for the legacy client")
		}
		code2, body := ts.adminJSON(t, http.MethodPost, "/admin/clients", map[string]any{"client_name": "App", "token_endpoint_auth_method": "none",
			"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"http://127.0.0.1/cb"}, "require_pkce": false})
		if code2 != http.StatusBadRequest || !strings.Contains(string(body), "require_pkce") {
			t.Errorf("public client with require_pkce false = %d %s, want 400 naming require_pkce", code2, body)
		}
	})
}
