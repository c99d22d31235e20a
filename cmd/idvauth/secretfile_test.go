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
