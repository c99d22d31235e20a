package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/authz/adminapi"
)

// keyToken asks the dev server for a client_credentials token with an
// API key and returns the status.
func keyToken(t testing.TB, d *devServer, key string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, d.publicURL+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"identity.verify"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAPIKeysCommands drives `clients api-keys` against a running server
// and uses the keys it prints.
func TestAPIKeysCommands(t *testing.T) {
	t.Parallel()
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken})
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}
	id := "keys-" + randHex(t)
	mustCLI(t, env, "clients", "create", "--id", id, "--name", "Keys", "--scope", "identity.verify identity.read_status")

	out := mustCLI(t, env, "clients", "api-keys", "create", id, "--name", "ci pipeline", "--scope", "identity.verify", "--expires-in", "720h")
	rows := tableRows(out)
	key, keyID := rows["key"], rows["id"]
	if !strings.HasPrefix(key, "idvk_") || !strings.Contains(out, "(shown once: store it now)") || keyID == "" {
		t.Fatalf("api-keys create printed no key with the shown-once note:\n%s", redact(out))
	}
	created, _ := time.Parse(time.RFC3339, rows["created_at"])
	expires, _ := time.Parse(time.RFC3339, rows["expires_at"])
	if expires.Sub(created) != 720*time.Hour {
		t.Errorf("--expires-in 720h: created %s, expires %s", rows["created_at"], rows["expires_at"])
	}
	if code := keyToken(t, d, key); code != http.StatusOK {
		t.Fatalf("token with the printed key = %d", code)
	}

	var list adminapi.APIKeyList
	decodeJSON(t, "api-keys list -o json", mustCLI(t, env, "clients", "api-keys", "list", id, "-o", "json"), &list)
	if len(list.APIKeys) != 1 || list.APIKeys[0].ID != keyID || list.APIKeys[0].Key != "" {
		t.Fatalf("api-keys list = %+v, want the one key, without the key", list)
	}
	if out := mustCLI(t, env, "clients", "api-keys", "list", id); strings.Contains(out, key) || !strings.Contains(out, keyID) {
		t.Errorf("api-keys list table shows the key, or not its ID:\n%s", redact(out))
	}

	var next adminapi.APIKeyJSON
	decodeJSON(t, "api-keys rotate", mustCLI(t, env, "clients", "api-keys", "rotate", id, keyID, "--grace", "0s", "-o", "json"), &next)
	if next.Key == "" || next.ID == keyID {
		t.Fatalf("api-keys rotate = %+v, want a new key", next)
	}
	if code := keyToken(t, d, key); code != http.StatusUnauthorized {
		t.Errorf("old key after rotate --grace 0s = %d, want 401", code)
	}
	if code := keyToken(t, d, next.Key); code != http.StatusOK {
		t.Errorf("new key after rotate = %d, want 200", code)
	}
	mustCLI(t, env, "clients", "api-keys", "revoke", id, next.ID)
	if code := keyToken(t, d, next.Key); code != http.StatusUnauthorized {
		t.Errorf("revoked key = %d, want 401", code)
	}

	for _, args := range [][]string{
		{"clients", "api-keys", "create", id},
		{"clients", "api-keys", "create", id, "--name", "x", "--network", "10.0.0.1"},
		{"clients", "api-keys", "create", "no-such-client", "--name", "x"},
		{"clients", "api-keys", "revoke", id, "0000"},
		{"clients", "api-keys", "rotate", id, keyID, "--grace", "-1h"},
	} {
		if code, _, errOut := cli(t, env, args...); code == 0 || errOut == "" {
			t.Errorf("idvauth %s = exit %d, stderr %q; want a failure that says why", strings.Join(args, " "), code, errOut)
		}
	}
}
