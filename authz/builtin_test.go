package authz_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

// The built-in clients of the admin plane exist on every server, public
// and key-less, and no admin call changes, deletes or gives them keys.
func TestBuiltinClients(t *testing.T) {
	backends(t, func(t *testing.T, cfg authz.Config) {
		cfg.AdminURL = "https://admin.example.test:9443"
		ts := startServer(t, cfg)
		cli := adminCall[adminapi.ClientJSON](t, ts, http.MethodGet, "/admin/clients/idvauth-cli", nil, http.StatusOK)
		if cli.TokenEndpointAuthMethod != "none" || !slices.Equal(cli.RedirectURIs, []string{"http://127.0.0.1/callback", "http://[::1]/callback"}) ||
			!slices.Contains(cli.GrantTypes, "authorization_code") || cli.ClientSecret != "" {
			t.Errorf("idvauth-cli = %+v, want a public loopback client of the code grant", cli)
		}
		console := adminCall[adminapi.ClientJSON](t, ts, http.MethodGet, "/admin/clients/idvauth-console", nil, http.StatusOK)
		if !slices.Equal(console.RedirectURIs, []string{"https://admin.example.test:9443/console/callback"}) {
			t.Errorf("idvauth-console redirect_uris = %v, want the console callback on the admin URL", console.RedirectURIs)
		}
		before := ts.adminState(t)
		for _, c := range []struct {
			method, path string
			body         any
			want         int
		}{
			{http.MethodPut, "/admin/clients/idvauth-cli", map[string]any{"grant_types": []string{"client_credentials"}, "scope": "identity.verify"}, http.StatusForbidden},
			{http.MethodDelete, "/admin/clients/idvauth-console", nil, http.StatusForbidden},
			{http.MethodPost, "/admin/clients/idvauth-cli/secret", nil, http.StatusForbidden},
			{http.MethodPost, "/admin/clients/idvauth-cli/api-keys", map[string]any{"name": "k", "scope": "identity.verify"}, http.StatusForbidden},
			{http.MethodPost, "/admin/clients", map[string]any{"client_id": "idvauth-mine", "grant_types": []string{"client_credentials"}, "scope": "identity.verify"}, http.StatusBadRequest},
		} {
			code, body := ts.adminJSON(t, c.method, c.path, c.body)
			if code != c.want {
				t.Errorf("%s %s = %d %s, want %d", c.method, c.path, code, body, c.want)
			}
			var e struct{ Error string }
			if json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Errorf("%s %s answered %s, want a JSON error", c.method, c.path, body)
			}
		}
		if after := ts.adminState(t); after != before {
			t.Errorf("refused calls changed the state:\nbefore %s\nafter  %s", before, after)
		}
	})
}
