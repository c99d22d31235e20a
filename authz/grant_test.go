package authz_test

import (
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/internal/testutil"
)

// redemptionForm is the form that redeems code for c with verifier.
func redemptionForm(c webClient, code, verifier string) url.Values {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}}
	if c.TokenEndpointAuthMethod == "none" {
		form.Set("client_id", c.ClientID)
	}
	return form
}

// postAs posts form to the token endpoint as c: with Basic auth unless c
// is public.
func (ts *testServer) postAs(t testing.TB, c webClient, form url.Values) (int, []byte) {
	t.Helper()
	id := c.ClientID
	if c.TokenEndpointAuthMethod == "none" {
		id = ""
	}
	st, _, body := post(t, ts.Public+"/oauth2/token", id, c.ClientSecret, form)
	return st, body
}

// TestRefusedRedemptionUsesUpCode: a redemption refused after the client
// authenticated (a wrong verifier, another redirect_uri, another client)
// uses the code up, so that the right redemption after it fails too (RFC
// 9700 section 4.8); a failed client authentication does not.
func TestRefusedRedemptionUsesUpCode(t *testing.T) {
	testutil.Backends(t, func(t *testing.T, cfg authz.Config) {
		ts, _, c, b := startCodeFlow(t, cfg)
		other := ts.createWebClient(t, authz.ClientJSON{ClientName: "Other"})
		public := ts.createWebClient(t, authz.ClientJSON{ClientName: "Public", TokenEndpointAuthMethod: "none",
			RedirectURIs: []string{"http://127.0.0.1:49152/cb"}})
		v := oauth2.GenerateVerifier()
		for _, tt := range []struct {
			name   string
			client webClient
			// attempt is the refused request, as client.
			attempt func(c webClient, code string) (int, []byte)
		}{
			{"wrong verifier", c, func(c webClient, code string) (int, []byte) {
				return ts.postAs(t, c, redemptionForm(c, code, oauth2.GenerateVerifier()))
			}},
			{"no verifier", c, func(c webClient, code string) (int, []byte) {
				form := redemptionForm(c, code, "")
				form.Del("code_verifier")
				return ts.postAs(t, c, form)
			}},
			{"malformed verifier", c, func(c webClient, code string) (int, []byte) {
				return ts.postAs(t, c, redemptionForm(c, code, "short"))
			}},
			{"other redirect_uri", c, func(c webClient, code string) (int, []byte) {
				form := redemptionForm(c, code, v)
				form.Set("redirect_uri", "https://app.example/other")
				return ts.postAs(t, c, form)
			}},
			{"other client", c, func(_ webClient, code string) (int, []byte) {
				return ts.postAs(t, other, redemptionForm(other, code, v))
			}},
			{"public client, wrong verifier", public, func(c webClient, code string) (int, []byte) {
				return ts.postAs(t, c, redemptionForm(c, code, oauth2.GenerateVerifier()))
			}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				code := newCode(t, ts, b, tt.client, v)
				if st, body := tt.attempt(tt.client, code); st != http.StatusBadRequest {
					t.Fatalf("refused attempt = %d %s, want 400", st, body)
				}
				st, body := ts.redeem(t, tt.client, code, v)
				if e, _ := oauthErr(t, body); st != http.StatusBadRequest || e != "invalid_grant" {
					t.Fatalf("right redemption after a refused one = %d (error %q), want 400 invalid_grant", st, e)
				}
			})
		}

		t.Run("wrong client secret keeps the code", func(t *testing.T) {
			code := newCode(t, ts, b, c, v)
			wrong := c
			wrong.ClientSecret = "not-the-secret"
			if st, body := ts.postAs(t, wrong, redemptionForm(c, code, v)); st != http.StatusUnauthorized {
				t.Fatalf("wrong secret = %d %s, want 401", st, body)
			}
			ts.redeemOK(t, c, code, v)
		})

		t.Run("refused attempt after the redemption revokes its tokens", func(t *testing.T) {
			code := newCode(t, ts, b, c, v)
			tok := ts.redeemOK(t, c, code, v)
			if st, body := ts.postAs(t, c, redemptionForm(c, code, oauth2.GenerateVerifier())); st != http.StatusBadRequest {
				t.Fatalf("wrong verifier after the redemption = %d %s, want 400", st, body)
			}
			ts.requireInactive(t, tok.AccessToken)
			if st, body := ts.refresh(t, c, tok.RefreshToken); st != http.StatusBadRequest {
				t.Errorf("refresh token of the code = %d %s, want 400", st, body)
			}
		})
	})
}
