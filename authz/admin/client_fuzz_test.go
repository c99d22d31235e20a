package admin

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/idvauth/idvauth/authz/adminapi"
)

// FuzzClientJSON: the admin API's client JSON, decoded as POST
// /admin/clients decodes it and validated, never panics; what is accepted
// keeps to the registration rules, and its stored form, shown and sent
// back, is accepted again as the same record.
func FuzzClientJSON(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"client_name":"KYC backend","scope":"identity.verify identity.read_status"}`,
		`{"grant_types":["authorization_code","refresh_token"],"redirect_uris":["https://app.example/cb"],"scope":"openid offline_access"}`,
		`{"token_endpoint_auth_method":"none","grant_types":["authorization_code"],"redirect_uris":["com.example.app:/cb","http://127.0.0.1/cb"]}`,
		`{"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"CN=backend,O=Example"}`,
		`{"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://keys.example/jwks.json"}`,
		`{"grant_types":[],"introspection_allowed":true,"audience":["idv-api","other"]}`,
		`{"grant_types":[],"introspection_allowed":true,"introspection_audiences":["api-a","api-b"]}`,
		`{"introspection_audiences":["api-a"]}`,
		`{"access_token_ttl":3600,"id_token_signed_response_alg":"ES256"}`,
		`{"grant_types":["password"]}`, `{"redirect_uris":["https://*.example/cb"]}`, `{"access_token_ttl":-1}`, `[]`, `null`, `{"scope":"`,
	} {
		f.Add([]byte(s))
	}
	h := testHandler(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var in clientInput
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if dec.Decode(&in) != nil {
			return
		}
		c, err := h.validClient(in)
		if err != nil {
			return
		}
		if !utf8.ValidString(c.Name) || len(c.Name) > maxNameLen {
			t.Fatalf("accepted client_name %q", c.Name)
		}
		for _, g := range c.GrantTypes {
			if !slices.Contains(adminapi.Grants(), g) {
				t.Fatalf("accepted grant type %q", g)
			}
		}
		public := c.TokenEndpointAuthMethod == "none"
		for _, u := range c.RedirectURIs {
			if validRedirectURI(u, public) != nil {
				t.Fatalf("accepted redirect URI %q", u)
			}
		}
		if len(c.IntrospectionAudiences) > 0 && !c.IntrospectionAllowed {
			t.Fatalf("accepted introspection_audiences %q without introspection_allowed", c.IntrospectionAudiences)
		}
		if c.AccessTokenTTL < 0 || c.AccessTokenTTL > h.cfg.MaxAccessTokenTTL {
			t.Fatalf("accepted access_token_ttl %s", c.AccessTokenTTL)
		}
		// Shown and sent back, the record is accepted as itself.
		shown := clientJSON(c)
		var again clientInput
		raw, _ := json.Marshal(shown)
		if err := json.Unmarshal(raw, &again); err != nil {
			t.Fatalf("the shown client does not decode: %v", err)
		}
		c2, err := h.validClient(again)
		if err != nil {
			t.Fatalf("the shown client %s is refused: %v", raw, err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the client:\n%+v\n%+v", c, c2)
		}
	})
}
