package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage"
	"github.com/idvauth/idvauth/storage/postgres"
	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// TestMigrateSeal seals people written in plain text (as before
// migration 019) with `idvauth migrate seal`, which counts them with
// --status, and has nothing left to do on a second run.
func TestMigrateSeal(t *testing.T) {
	t.Parallel()
	u := pgtest.URL(t)
	st, err := postgres.Open(context.Background(), postgres.Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Now().UTC().Truncate(time.Second)
	for i := range 5 {
		if err := st.CreateUser(context.Background(), storage.User{ID: fmt.Sprint("u_plain_", i), Username: fmt.Sprint("plain", i),
			Name: "Plain Person", Email: "plain@example.org", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
			CreatedAt: at, UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"IDVAUTH_DATABASE_URL": u, "IDVAUTH_SECRETS": strings.Repeat("s", 40)}
	var got map[string]int
	for _, step := range []struct {
		args []string
		want map[string]int
	}{
		{[]string{"migrate", "seal", "--status", "-o", "json"}, map[string]int{"left": 5}},
		{[]string{"migrate", "seal", "--batch", "2", "-o", "json"}, map[string]int{"sealed": 5, "left": 0}},
		{[]string{"migrate", "seal", "-o", "json"}, map[string]int{"sealed": 0, "left": 0}},
	} {
		if err := json.Unmarshal([]byte(mustCLI(t, env, step.args...)), &got); err != nil {
			t.Fatal(err)
		}
		for k, v := range step.want {
			if got[k] != v {
				t.Errorf("%s: %s = %d, want %d (%v)", strings.Join(step.args, " "), k, got[k], v, got)
			}
		}
	}
	if out := mustCLI(t, env, "migrate", "seal", "--status"); !strings.Contains(out, "0 left in plain text") {
		t.Errorf("status line = %q", out)
	}
	// With a person-key store: the same command moves the data keys there.
	vault := pgtest.VaultURL(t)
	for _, step := range []struct {
		args []string
		want map[string]int
	}{
		{[]string{"migrate", "seal", "--status", "-o", "json"}, map[string]int{"left": 0, "keys_left": 5}},
		{[]string{"migrate", "seal", "--batch", "2", "--person-keys-database-url", vault, "-o", "json"}, map[string]int{"sealed": 5, "keys_left": 0}},
		{[]string{"migrate", "seal", "--person-keys-database-url", vault, "-o", "json"}, map[string]int{"sealed": 0, "keys_left": 0}},
	} {
		if err := json.Unmarshal([]byte(mustCLI(t, env, step.args...)), &got); err != nil {
			t.Fatal(err)
		}
		for k, v := range step.want {
			if got[k] != v {
				t.Errorf("%s: %s = %d, want %d (%v)", strings.Join(step.args, " "), k, got[k], v, got)
			}
		}
	}
	delete(env, "IDVAUTH_SECRETS")
	if code, _, stderr := cli(t, env, "migrate", "seal"); code == 0 || !strings.Contains(stderr, "secret") {
		t.Errorf("migrate seal without secrets: exit %d, %q", code, stderr)
	}
}
