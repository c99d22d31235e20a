package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite idvauth.example.yaml from the settings table")

// exampleFile is idvauth.example.yaml at the repository's root.
var exampleFile = filepath.Join("..", "..", "idvauth.example.yaml")

// TestExampleConfig checks that idvauth.example.yaml is what the settings
// table makes (-update rewrites it), that it names every setting and every
// config file key, and that it loads, uncommented, as the defaults.
func TestExampleConfig(t *testing.T) {
	t.Parallel()
	want := exampleConfig()
	if *update {
		if err := os.WriteFile(exampleFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the settings table: run go test ./cmd/idvauth -run TestExampleConfig -update", exampleFile)
	}
	// Every config file key is a setting of the table (scopes aside), so
	// a setting added to fileConfig but not to allSettings fails here.
	var keys []string
	for _, s := range allSettings {
		keys = append(keys, s.FileKey())
		if !strings.Contains(string(want), "\n# env "+s.Env) {
			t.Errorf("example lacks the env name %s", s.Env)
		}
	}
	for _, k := range schema.Keys() {
		if k != "scopes" && !slices.Contains(keys, k) {
			t.Errorf("config file key %s is not in allSettings: add its setting there", k)
		}
	}
	// Uncommented, the example is a valid config file of the defaults.
	uncommented := regexp.MustCompile(`(?m)^#([a-z0-9_]+: )`).ReplaceAllString(string(want), "$1")
	path := writeConfig(t, uncommented)
	var checked struct {
		OK       bool             `json:"ok"`
		Settings []checkedSetting `json:"settings"`
	}
	decodeJSON(t, "config check of the example", mustCLI(t, nil, "config", "check", "--dev", "--config", path, "-o", "json"), &checked)
	sc, err := loadServe(t, nil, "--dev", "--config", path)
	if err != nil {
		t.Fatalf("the uncommented example does not load: %v", err)
	}
	def, err := loadServe(t, nil, "--dev")
	if err != nil {
		t.Fatal(err)
	}
	if sc.authz.AccessTokenTTL != def.authz.AccessTokenTTL || sc.authz.Issuer != def.authz.Issuer || sc.authz.RateLimits != def.authz.RateLimits || sc.authz.AuditDisabled {
		t.Errorf("the uncommented example is not the defaults: %+v", sc.authz)
	}
	for _, c := range checked.Settings {
		if c.Value != "" && c.Value != "[REDACTED]" && !strings.HasPrefix(c.Source, "file "+path+":") {
			t.Errorf("config check: %s from %q, want the example file", c.Key, c.Source)
		}
	}
}

// TestConfigCheck checks config check's sources, redaction and exit codes.
func TestConfigCheck(t *testing.T) {
	t.Parallel()
	const secret = "test-secret-0123456789abcdef0123456789abcdef"
	file := writeConfig(t, "issuer: https://auth.example.com\n\naccess_token_ttl: 10m\nsecrets: ["+secret+"]\n")
	env := map[string]string{"IDVAUTH_ADMIN_TOKEN": adminToken, "IDVAUTH_DATABASE_URL": "postgres://idvauth:pa55word@db:5432/idvauth",
		"IDVAUTH_PERSON_KEYS_DATABASE_URL": "postgres://keys:k3ysword@keys:5432/keys"}
	code, out, errOut := cli(t, env, "config", "check", "--config", file, "--log-level", "warn")
	if code != 0 {
		t.Fatalf("config check = exit %d, stderr %q", code, redact(errOut))
	}
	for _, leak := range []string{secret, adminToken, "pa55word", "k3ysword"} {
		if strings.Contains(out, leak) {
			t.Errorf("config check prints a secret:\n%s", redact(out))
		}
	}
	for _, want := range []string{
		`(?m)^issuer +https://auth\.example\.com +file ` + regexp.QuoteMeta(file) + `:1$`,
		`(?m)^access_token_ttl +10m +file ` + regexp.QuoteMeta(file) + `:3$`,
		`(?m)^secrets +\[REDACTED\] +file `,
		`(?m)^admin_token +\[REDACTED\] +env IDVAUTH_ADMIN_TOKEN$`,
		`(?m)^database_url +postgres://idvauth:xxxxx@db:5432/idvauth +env IDVAUTH_DATABASE_URL$`,
		`(?m)^person_keys_database_url +postgres://keys:xxxxx@keys:5432/keys +env IDVAUTH_PERSON_KEYS_DATABASE_URL$`,
		`(?m)^log_level +warn +flag --log-level$`,
		`(?m)^code_ttl +1m0s +default$`,
		`(?m)^settings OK$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("config check output lacks %s:\n%s", want, out)
		}
	}
	var js struct {
		OK       bool             `json:"ok"`
		Settings []checkedSetting `json:"settings"`
	}
	decodeJSON(t, "config check -o json", mustCLI(t, env, "config", "check", "--config", file, "-o", "json"), &js)
	if !js.OK || len(js.Settings) != len(allSettings) {
		t.Errorf("config check -o json: ok %t, %d settings; want ok and %d", js.OK, len(js.Settings), len(allSettings))
	}
	b, _ := json.Marshal(js)
	if bytes.Contains(b, []byte(secret)) {
		t.Error("config check -o json prints a secret")
	}

	// Problems: exit 1, the problem named, nothing on stdout.
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad value in the file", env, []string{"--config", writeConfig(t, "access_token_ttl: soon\n")}, `:1: access_token_ttl: "soon" is not a duration`},
		{"unknown key", env, []string{"--config", writeConfig(t, "public_adr: x\n")}, `unknown key "public_adr" (did you mean public_addr?)`},
		{"missing settings", nil, nil, "cannot start without these settings"},
		{"limits", env, []string{"--config", file, "--access-token-ttl", "2h"}, "access"},
		{"TLS files", env, []string{"--config", file, "--tls-cert", file, "--tls-key", file}, "IDVAUTH_TLS_CERT"},
	} {
		code, out, errOut := cli(t, tt.env, append([]string{"config", "check"}, tt.args...)...)
		if code != 1 || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("config check (%s) = exit %d, stdout %q, stderr %q; want 1 and %q", tt.name, code, redact(out), redact(errOut), tt.want)
		}
	}
}
