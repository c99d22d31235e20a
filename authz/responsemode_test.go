package authz_test

import (
	"net/http"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
)

// TestResponseModeQuery: discovery advertises response_mode=query, so a
// request that says so explicitly gets its code in the query like one
// that does not; what discovery does not list is still refused.
func TestResponseModeQuery(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, b := startCodeFlow(t, cfg)
		verifier := oauth2.GenerateVerifier()
		p := b.signIn(ts, authURL(c, "state-mode-0001", verifier, "nonce-mode-01", oauth2.SetAuthURLParam("response_mode", "query")), "ada", "allow")
		res := redirectedToClient(t, p, redirectURI)
		if res.query.Get("code") == "" || res.query.Get("state") != "state-mode-0001" || res.loc.Fragment != "" {
			t.Fatalf("response_mode=query: redirect %s, want the code and state in the query", res.loc)
		}
		if _, err := c.cfg.Exchange(ctxb(), res.query.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("exchange of the code: %v", err)
		}
		for _, mode := range []string{"fragment", "form_post", "jwt"} {
			// An error at the client, or a page when fosite cannot tell the
			// mode: never a code.
			p := b.get(authURL(c, "state-mode-0002", verifier, "nonce-mode-02", oauth2.SetAuthURLParam("response_mode", mode)))
			if p.status == http.StatusBadRequest && p.header.Get("Location") == "" {
				continue
			}
			if res := redirectedToClient(t, p, redirectURI); res.query.Get("error") == "" || res.query.Get("code") != "" {
				t.Errorf("response_mode=%s: redirect %s, want an error", mode, res.loc)
			}
		}
	})
}
