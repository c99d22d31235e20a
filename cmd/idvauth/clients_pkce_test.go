package main

import (
	"strings"
	"testing"

	"github.com/idvauth/idvauth/authz/adminapi"
)

// TestClientsRequirePKCE: --require-pkce=false is taken for a confidential
// client and shown, refused for a public one; --require-par is kept.
func TestClientsRequirePKCE(t *testing.T) {
	t.Parallel()
	d := startDev(t, nil, "--admin-token", adminToken)
	env := map[string]string{"IDVAUTH_ADMIN_URL": d.adminURL, "IDVAUTH_ADMIN_TOKEN": adminToken}
	var c adminapi.ClientJSON
	decodeJSON(t, "clients create", mustCLI(t, env, "clients", "create", "--id", "legacy-web", "--grant-type", "authorization_code",
		"--redirect-uri", "https://app.example/cb", "--require-pkce=false", "--require-par", "-o", "json"), &c)
	if c.RequirePKCE == nil || *c.RequirePKCE || !c.RequirePushedAuthorizationRequests {
		t.Fatalf("created client = %+v, want require_pkce false and require_pushed_authorization_requests", c)
	}
	if out := mustCLI(t, env, "clients", "get", "legacy-web"); !strings.Contains(out, "require_pkce") || !strings.Contains(out, "require_pushed_authorization_requests") {
		t.Errorf("clients get = %q, want require_pkce and require_pushed_authorization_requests shown", out)
	}
	mustCLI(t, env, "clients", "update", "legacy-web", "--require-pkce")
	c = adminapi.ClientJSON{}
	decodeJSON(t, "clients get", mustCLI(t, env, "clients", "get", "legacy-web", "-o", "json"), &c)
	if c.RequirePKCE == nil || !*c.RequirePKCE || !c.RequirePushedAuthorizationRequests {
		t.Errorf("after --require-pkce = %+v, want PKCE required and PAR kept", c)
	}
	code, _, errOut := cli(t, env, "clients", "create", "--id", "app", "--auth-method", "none", "--grant-type", "authorization_code",
		"--redirect-uri", "http://127.0.0.1/cb", "--require-pkce=false")
	if code == 0 || !strings.Contains(errOut, "require_pkce") {
		t.Fatalf("public client with --require-pkce=false = exit %d, %q; want refused naming require_pkce", code, errOut)
	}
}
