package fapi

import (
	"strings"
	"testing"

	"github.com/ory/fosite"

	"github.com/idvauth/idvauth/storage"
)

// TestRegistration: a compliant record passes; each rule broken is
// named.
func TestRegistration(t *testing.T) {
	good := storage.Client{TokenEndpointAuthMethod: "private_key_jwt", RedirectURIs: []string{"https://app.example/cb"}, ResponseTypes: []string{"code"}}
	if err := Registration(good); err != nil {
		t.Fatalf("compliant client: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*storage.Client)
		rule   string
	}{
		{"client_secret_basic", func(c *storage.Client) { c.TokenEndpointAuthMethod = "client_secret_basic" }, "token_endpoint_auth_method"},
		{"client_secret_post", func(c *storage.Client) { c.TokenEndpointAuthMethod = "client_secret_post" }, "token_endpoint_auth_method"},
		{"public", func(c *storage.Client) { c.TokenEndpointAuthMethod = "none" }, "token_endpoint_auth_method"},
		{"token endpoint aud", func(c *storage.Client) { c.TokenEndpointAudienceAllowed = true }, "token_endpoint_audience_allowed"},
		{"no PKCE", func(c *storage.Client) { c.PKCEOptional = true }, "require_pkce"},
		{"response type", func(c *storage.Client) { c.ResponseTypes = []string{"code", "id_token"} }, "response_types"},
		{"http redirect", func(c *storage.Client) { c.RedirectURIs = []string{"http://127.0.0.1/cb"} }, "https"},
		{"RS256 ID tokens", func(c *storage.Client) { c.IDTokenSignedResponseAlg = "RS256" }, "id_token_signed_response_alg"},
	} {
		c := good
		tc.change(&c)
		err := Registration(c)
		if err == nil || !strings.HasPrefix(err.Error(), "FAPI 2.0: ") || !strings.Contains(err.Error(), tc.rule) {
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.rule)
		}
		if rfc := fosite.ErrorToRFC6749Error(CheckClient(c)); rfc.ErrorField != "invalid_client" || !strings.Contains(rfc.HintField, tc.rule) {
			t.Errorf("%s: CheckClient = %v, want invalid_client naming %s", tc.name, rfc, tc.rule)
		}
	}
	for _, m := range AuthMethods() {
		c := good
		c.TokenEndpointAuthMethod = m
		if err := Registration(c); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	if !Applies(Profile, "") || !Applies("", Profile) || Applies("", "") || !ValidProfile("") || ValidProfile("fapi1") {
		t.Error("Applies or ValidProfile is wrong")
	}
}
