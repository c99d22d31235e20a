package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/authz/adminapi"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

func keyListOf(t *testing.T, out string) adminapi.KeyList {
	t.Helper()
	var kl adminapi.KeyList
	if err := json.Unmarshal([]byte(out), &kl); err != nil {
		t.Fatalf("not a key list: %v\n%s", err, out)
	}
	return kl
}

func activeOf(kl adminapi.KeyList, alg string) string {
	for _, k := range kl.Keys {
		if k.Alg == alg && k.State == "active" {
			return k.KID
		}
	}
	return ""
}

// TestKeysCommands drives keys list, rotate and retire against a running
// `serve --dev`.
func TestKeysCommands(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}

	kl := keyListOf(t, mustCLI(t, env, "keys", "list", "-o", "json"))
	es, rs, ps := activeOf(kl, "ES256"), activeOf(kl, "RS256"), activeOf(kl, "PS256")
	if es == "" || rs == "" || ps == "" || len(kl.Keys) != 6 {
		t.Fatalf("keys list on a new server: %+v, want an active key and a standby per algorithm", kl)
	}
	table := mustCLI(t, env, "keys", "list")
	if !strings.HasPrefix(table, "KID") || !strings.Contains(table, es) || !strings.Contains(table, "active") {
		t.Errorf("keys list table:\n%s", table)
	}

	kl = keyListOf(t, mustCLI(t, env, "keys", "rotate", "--alg", "ES256", "-o", "json"))
	es2 := activeOf(kl, "ES256")
	if es2 == "" || es2 == es || activeOf(kl, "RS256") != rs {
		t.Fatalf("keys rotate --alg ES256: %+v", kl)
	}
	kl = keyListOf(t, mustCLI(t, env, "keys", "retire", "--revoke-tokens", "--yes", "-o", "json", "--", es))
	for _, k := range kl.Keys {
		if k.KID == es && (k.State != "removed" || k.RetiredAt == "") {
			t.Errorf("retired key after --revoke-tokens: %+v", k)
		}
	}
	out := mustCLI(t, env, "keys", "rotate")
	if strings.Contains(out, es2+"  ES256  active") {
		t.Errorf("keys rotate (every algorithm) left %s active:\n%s", es2, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"keys", "rotate", "--alg", "HS256"}, "alg must be one of"},
		{[]string{"keys", "retire", "no-such-kid", "--yes"}, "not_found"},
		{[]string{"keys", "retire", "some-kid"}, "retire signing key some-kid: add --yes to confirm"},
		{[]string{"keys", "retire"}, "accepts 1 arg"},
		{[]string{"keys", "list", "-o", "yaml"}, "yaml"},
	} {
		code, _, stderr := cli(t, env, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "goroutine") {
			t.Errorf("%v: exit %d, stderr %q; want failure mentioning %q", c.args, code, stderr, c.want)
		}
	}
	wrong := map[string]string{"IDVAUTH_ADMIN_TOKEN": strings.Repeat("x", 40), "IDVAUTH_ADMIN_URL": d.adminURL}
	if code, _, stderr := cli(t, wrong, "keys", "rotate"); code == 0 || !strings.Contains(stderr, "401") {
		t.Errorf("keys rotate with a wrong admin token: exit %d, %q", code, stderr)
	}
	if after := keyListOf(t, mustCLI(t, env, "keys", "list", "-o", "json")); len(after.Keys) != 10 {
		t.Errorf("%d keys after two ES256 rotations and one of RS256 and PS256, want 10 (a standby per algorithm besides)", len(after.Keys))
	}
}

// TestKeysReencrypt changes IDVAUTH_SECRETS the documented way: "new,old",
// reencrypt, then "new" alone.
func TestKeysReencrypt(t *testing.T) {
	t.Parallel()
	u := pgtest.URL(t)
	oldSecret, newSecret := strings.Repeat("o", 40), strings.Repeat("n", 40)
	run := func(secrets string) *server {
		env := map[string]string{"IDVAUTH_DATABASE_URL": u, "IDVAUTH_SECRETS": secrets, "IDVAUTH_ADMIN_TOKEN": adminToken}
		return startServe(t, env, "--public-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	}
	s := run(oldSecret)
	waitFor(t, "the server to log that it serves", s.done, func() bool { return strings.Contains(s.stderr.String(), "idvauth serving") })
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	env := map[string]string{"IDVAUTH_DATABASE_URL": u}

	env["IDVAUTH_SECRETS"] = newSecret
	if code, _, stderr := cli(t, env, "keys", "reencrypt"); code == 0 || !strings.Contains(stderr, "IDVAUTH_SECRETS") {
		t.Fatalf("reencrypt with only a new secret: exit %d, %q; want a clear failure", code, stderr)
	}
	env["IDVAUTH_SECRETS"] = newSecret + "," + oldSecret
	var got map[string]int
	if err := json.Unmarshal([]byte(mustCLI(t, env, "keys", "reencrypt", "-o", "json")), &got); err != nil || got["reencrypted"] != 6 {
		t.Fatalf("reencrypt: %v, %v; want 6 keys", got, err)
	}
	if out := mustCLI(t, env, "keys", "reencrypt"); !strings.Contains(out, "re-encrypted 0 keys") {
		t.Errorf("second reencrypt: %q", out)
	}
	// The new secret alone now opens the keys; the old one alone does not.
	s = run(newSecret)
	waitFor(t, "the server to start with the new secret", s.done, func() bool { return strings.Contains(s.stderr.String(), "idvauth serving") })
	if code := s.stop(); code != 0 {
		t.Fatalf("serve with the new secret exited %d", code)
	}
	code, _, stderr := cli(t, map[string]string{"IDVAUTH_DATABASE_URL": u, "IDVAUTH_SECRETS": oldSecret, "IDVAUTH_ADMIN_TOKEN": adminToken},
		"serve", "--public-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(stderr, "IDVAUTH_SECRETS") {
		t.Fatalf("serve with the old secret after reencrypt: exit %d, %s", code, redact(stderr))
	}
	if strings.Contains(stderr, oldSecret) {
		t.Error("the secret appears in the error output")
	}
	delete(env, "IDVAUTH_SECRETS")
	if code, _, stderr := cli(t, env, "keys", "reencrypt"); code == 0 || !strings.Contains(stderr, "no secrets") {
		t.Errorf("reencrypt without secrets: exit %d, %q", code, stderr)
	}
}
