package authz_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/authz"
	"github.com/idvauth/idvauth/authz/adminapi"
)

// TestIntrospectionAudience: a resource server sees active only the
// tokens issued for one of its introspection audiences (by default its
// audience, or else the server's default audience); any other token is
// exactly {"active":false}, audited with the reason.
func TestIntrospectionAudience(t *testing.T) {
	backends(t, testIntrospectionAudience)
}

func testIntrospectionAudience(t *testing.T, cfg authz.Config) {
	ts := startServer(t, cfg)
	tokenFor := func(audience ...string) string {
		t.Helper()
		c := ts.createClient(t, map[string]any{"scope": "identity.verify", "audience": audience})
		tok, err := ts.ccConfig(c, "identity.verify").Token(context.Background())
		if err != nil {
			t.Fatalf("token for %v: %v", audience, err)
		}
		return tok.AccessToken
	}
	resourceServer := func(in map[string]any) adminapi.ClientJSON {
		t.Helper()
		in["grant_types"], in["introspection_allowed"] = []string{}, true
		return ts.createClient(t, in)
	}
	atA, atB, atDefault := tokenFor("api-a"), tokenFor("api-b"), tokenFor()
	svc, err := ts.ccConfig(ts.Demo.Service, "identity.verify").Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rsB := resourceServer(map[string]any{"audience": []string{"api-b"}})
	rsForA := resourceServer(map[string]any{"audience": []string{"api-b"}, "introspection_audiences": []string{"api-x", "api-a"}})
	rsNone := resourceServer(map[string]any{})
	rsDemo := ts.Demo.ResourceServer
	for _, tc := range []struct {
		name   string
		rs     adminapi.ClientJSON
		tok    string
		active bool
	}{
		{"audience api-b, token for api-a", rsB, atA, false},
		{"audience api-b, token for api-b", rsB, atB, true},
		{"introspection audience api-a, token for api-a", rsForA, atA, true},
		{"introspection audiences replace the audience", rsForA, atB, false},
		{"no audience, token of the default audience", rsNone, atDefault, true},
		{"no audience, token for api-a", rsNone, atA, false},
		{"demo resource server, demo service's token", rsDemo, svc.AccessToken, true},
		{"demo resource server, token for api-b", rsDemo, atB, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := post(t, ts.Public+"/oauth2/introspect", tc.rs.ClientID, tc.rs.ClientSecret, url.Values{"token": {tc.tok}})
			raw := strings.TrimSpace(string(body))
			switch {
			case code != http.StatusOK:
				t.Fatalf("introspect = %d %s, want 200", code, raw)
			case !tc.active && raw != `{"active":false}`:
				t.Errorf("introspect = %s, want exactly {\"active\":false}", raw)
			case tc.active && !strings.HasPrefix(raw, `{"active":true,`):
				t.Errorf("introspect = %s, want active", raw)
			}
		})
	}
	entries := ts.auditAll(t, url.Values{"type": {adminapi.EventTokenIntrospected}, "client_id": {rsB.ClientID}})
	if len(entries) != 2 {
		t.Fatalf("introspections by %s = %d entries, want 2", rsB.ClientID, len(entries))
	}
	if d := entries[0].Details; d["active"] != "false" || d["reason"] != "audience" || d["jti"] == "" {
		t.Errorf("audit of the refused introspection = %v, want active false, reason audience and the jti", d)
	}
	if d := entries[1].Details; d["active"] != "true" || d["reason"] != "" {
		t.Errorf("audit of the allowed introspection = %v, want active true", d)
	}
}
