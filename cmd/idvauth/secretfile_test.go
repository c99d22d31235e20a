package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSecret writes content to a new file and returns its path.
func writeSecret(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecretFiles checks that the secret settings are read from the files
// their _FILE variables name, by serve and by the admin commands alike.
func TestSecretFiles(t *testing.T) {
	t.Parallel()
	tokenFile := writeSecret(t, adminToken+"\n")
	d := startDev(t, map[string]string{"IDVAUTH_ADMIN_TOKEN_FILE": tokenFile})
	if strings.Contains(d.banner, adminToken) || strings.Contains(d.banner, "Admin token") {
		t.Error("banner shows an admin token, though one was given in a file")
	}
	// The token from the file, without its line break, is the server's.
	mustCLI(t, map[string]string{"IDVAUTH_ADMIN_TOKEN_FILE": tokenFile, "IDVAUTH_ADMIN_URL": d.adminURL}, "clients", "list")
	mustCLI(t, map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_ADMIN_URL": d.adminURL}, "clients", "list")
	if code, _, _ := cli(t, map[string]string{"IDVAUTH_ADMIN_TOKEN_FILE": writeSecret(t, adminToken+"x"), "IDVAUTH_ADMIN_URL": d.adminURL}, "clients", "list"); code == 0 {
		t.Error("clients list with another token in the file succeeded")
	}
}

// TestSecretFilesRefused checks the refusals of withSecretFiles: each names
// the variable and never the content.
func TestSecretFilesRefused(t *testing.T) {
	t.Parallel()
	const content = "postgres://idvauth:hunter2-hunter2@db/idvauth"
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"both set", map[string]string{"IDVAUTH_DATABASE_URL": content, "IDVAUTH_DATABASE_URL_FILE": writeSecret(t, content)},
			"IDVAUTH_DATABASE_URL and IDVAUTH_DATABASE_URL_FILE are both set"},
		{"missing file", map[string]string{"IDVAUTH_SECRETS_FILE": filepath.Join(t.TempDir(), "nope")}, "IDVAUTH_SECRETS_FILE:"},
		{"empty file", map[string]string{"IDVAUTH_METRICS_TOKEN_FILE": writeSecret(t, "\n")}, "IDVAUTH_METRICS_TOKEN_FILE:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := withSecretFiles(envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("withSecretFiles = %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the file's content", err)
			}
		})
	}
	env, err := withSecretFiles(envOf(map[string]string{"IDVAUTH_DATABASE_URL_FILE": writeSecret(t, content+"\r\n"), "IDVAUTH_LOG_LEVEL_FILE": "/nonexistent"}))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := env("IDVAUTH_DATABASE_URL"); v != content {
		t.Errorf("IDVAUTH_DATABASE_URL from its file = %q, want the content without the line break", v)
	}
	if v, ok := env("IDVAUTH_LOG_LEVEL"); ok {
		t.Errorf("IDVAUTH_LOG_LEVEL = %q: only secret settings are read from files", v)
	}
}
