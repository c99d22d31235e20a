package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// names are the variables the tests let SecretFiles read from files.
var names = []string{"IDVAUTH_DATABASE_URL", "IDVAUTH_SECRETS", "IDVAUTH_METRICS_TOKEN"}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// writeSecret writes content to a new file and returns its path.
func writeSecret(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecretFilesRefused checks the refusals of SecretFiles: each names
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
			_, err := SecretFiles(envOf(tc.env), names)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("SecretFiles = %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the file's content", err)
			}
		})
	}
	env, err := SecretFiles(envOf(map[string]string{"IDVAUTH_DATABASE_URL_FILE": writeSecret(t, content+"\r\n"), "IDVAUTH_LOG_LEVEL_FILE": "/nonexistent"}), names)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := env("IDVAUTH_DATABASE_URL"); v != content {
		t.Errorf("IDVAUTH_DATABASE_URL from its file = %q, want the content without the line break", v)
	}
	if v, ok := env("IDVAUTH_LOG_LEVEL"); ok {
		t.Errorf("IDVAUTH_LOG_LEVEL = %q: only the names given are read from files", v)
	}
}
