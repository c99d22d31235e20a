package main

import (
	"strings"
	"testing"

	"github.com/idvauth/idvauth/authz/adminapi"
)

// TestUsersUpdateAndPasswordReset: users update changes only the flags
// given, refuses a taken username and a call without flags; users
// password-reset prints a link to the reset page, as text and -o json.
func TestUsersUpdateAndPasswordReset(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	name := "ada-" + randHex(t)
	_, out, _ := cliStdin(t, env, "analytical engine "+randHex(t)+"\n", "users", "create", "--username", name, "--name", "Ada", "--email", name+"@example.com", "-o", "json")
	var u adminapi.UserJSON
	decodeJSON(t, "users create -o json", out, &u)

	var got adminapi.UserJSON
	decodeJSON(t, "users update -o json", mustCLI(t, env, "users", "update", name, "--name", "Ada King", "-o", "json"), &got)
	if got.ID != u.ID || got.Name != "Ada King" || got.Email != u.Email || got.Username != name {
		t.Errorf("users update --name = %+v, want only the name changed", got)
	}
	if out := mustCLI(t, env, "users", "update", u.ID, "--email", ""); !strings.Contains(out, u.ID) {
		t.Errorf("users update --email '' = %q", out)
	}
	if code, _, errOut := cli(t, env, "users", "update", u.ID, "--username", "demo"); code == 0 || !strings.Contains(errOut, "HTTP 409") {
		t.Errorf("users update to a taken username = exit %d, %q; want a 409", code, errOut)
	}
	if code, _, errOut := cli(t, env, "users", "update", u.ID); code == 0 || !strings.Contains(errOut, "nothing to change") {
		t.Errorf("users update without flags = exit %d, %q", code, errOut)
	}

	if out := mustCLI(t, env, "users", "password-reset", name); !strings.Contains(out, "/account/password-reset?token=") || !strings.Contains(out, "usable once until") {
		t.Errorf("users password-reset = %q", out)
	}
	var l adminapi.PasswordResetLink
	decodeJSON(t, "users password-reset -o json", mustCLI(t, env, "users", "password-reset", u.ID, "-o", "json"), &l)
	if l.UserID != u.ID || !strings.Contains(l.Link, "/account/password-reset?token=") || l.ExpiresAt == 0 {
		t.Errorf("users password-reset -o json = %+v", l)
	}
}
