package deploy_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The parts of compose.yaml the tests look at.
type (
	composeFile struct {
		Services map[string]composeService `yaml:"services"`
		Secrets  map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
	}
	composeService struct {
		Build       any               `yaml:"build"`
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Secrets     []string          `yaml:"secrets"`
		Ports       []string          `yaml:"ports"`
		DependsOn   any               `yaml:"depends_on"`
		Networks    any               `yaml:"networks"`
		Volumes     []string          `yaml:"volumes"`
		ReadOnly    bool              `yaml:"read_only"`
	}
)

// condition is the depends_on condition of dep in s ("" if s does not
// depend on it; service_started for the short list form).
func (s composeService) condition(dep string) string {
	switch d := s.DependsOn.(type) {
	case []any:
		if slices.Contains(d, any(dep)) {
			return "service_started"
		}
	case map[string]any:
		if c, ok := d[dep].(map[string]any); ok {
			v, _ := c["condition"].(string)
			return v
		}
	}
	return ""
}

// TestCompose checks compose.yaml: PostgreSQL, a one-shot migrate up that
// the replicas wait for, at least two idvauth replicas that publish no
// port and read real settings and their secrets from mounted files, and
// Caddy in front of every replica's public port and of nothing else.
func TestCompose(t *testing.T) {
	s := readSettings(t)
	files := decodeAll[composeFile](t, filepath.Join(root, "compose.yaml"))
	if len(files) != 1 {
		t.Fatalf("compose.yaml holds %d documents, want 1", len(files))
	}
	cf := files[0]
	publicPort := 0
	var replicas []string
	for name, svc := range cf.Services {
		if svc.Image != "idvauth:local" || len(svc.Command) > 0 {
			continue
		}
		replicas = append(replicas, name)
		env := svc.Environment
		checkEnv(t, name, s, env)
		if len(svc.Ports) > 0 {
			t.Errorf("%s publishes ports %v: only the proxy should", name, svc.Ports)
		}
		if c := svc.condition("migrate"); c != "service_completed_successfully" {
			t.Errorf("%s depends on migrate with %q, want service_completed_successfully", name, c)
		}
		if !svc.ReadOnly {
			t.Errorf("%s: read_only must be true", name)
		}
		p := port(t, env["IDVAUTH_PUBLIC_ADDR"])
		if publicPort != 0 && p != publicPort {
			t.Errorf("replicas listen on different ports: %d, %d", p, publicPort)
		}
		publicPort = p
		if a, ok := env["IDVAUTH_ADMIN_ADDR"]; ok {
			if ap, err := netip.ParseAddrPort(a); err != nil || !ap.Addr().IsLoopback() {
				t.Errorf("%s: IDVAUTH_ADMIN_ADDR %s: the admin listener stays on loopback in compose", name, a)
			}
		}
		if !strings.HasPrefix(env["IDVAUTH_ISSUER"], "https://") {
			t.Errorf("%s: IDVAUTH_ISSUER %q, want https (the proxy ends TLS)", name, env["IDVAUTH_ISSUER"])
		}
		for _, v := range []string{"IDVAUTH_DATABASE_URL", "IDVAUTH_SECRETS", "IDVAUTH_ADMIN_TOKEN"} {
			if _, ok := env[v]; ok {
				t.Errorf("%s sets %s in plain text: use %s_FILE", name, v, v)
			}
			if _, ok := env[v+"_FILE"]; !ok {
				t.Errorf("%s does not set %s_FILE", name, v)
			}
		}
		checkComposeSecrets(t, cf, name, svc)
	}
	slices.Sort(replicas)
	if len(replicas) < 2 {
		t.Fatalf("compose.yaml runs idvauth replicas %v, want at least 2", replicas)
	}

	mig, ok := cf.Services["migrate"]
	if !ok || !slices.Equal(mig.Command, []string{"migrate", "up"}) || mig.Image != "idvauth:local" {
		t.Errorf("compose.yaml has no migrate service running idvauth migrate up: %+v", mig)
	}
	checkEnv(t, "migrate", s, mig.Environment)
	checkComposeSecrets(t, cf, "migrate", mig)
	if c := mig.condition("db"); c != "service_healthy" {
		t.Errorf("migrate depends on db with %q, want service_healthy", c)
	}
	if db := cf.Services["db"]; !strings.HasPrefix(db.Image, "postgres:") || len(db.Ports) > 0 {
		t.Errorf("db = image %q, ports %v: want PostgreSQL, not published", db.Image, db.Ports)
	}

	proxy := cf.Services["proxy"]
	if !slices.Contains(proxy.Ports, "443:443") {
		t.Errorf("proxy publishes %v, want 443:443", proxy.Ports)
	}
	var caddyfile string
	for _, v := range proxy.Volumes {
		if src, dst, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(dst, "/etc/caddy/Caddyfile") {
			caddyfile = src
		}
	}
	b, err := os.ReadFile(filepath.Join(root, caddyfile))
	if caddyfile == "" || err != nil {
		t.Fatalf("proxy mounts no readable Caddyfile (%q): %v", caddyfile, err)
	}
	m := regexp.MustCompile(`(?m)^\s*reverse_proxy\s+([^{\n]+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("Caddyfile has no reverse_proxy line")
	}
	var want []string
	for _, r := range replicas {
		want = append(want, r+":"+strconv.Itoa(publicPort))
	}
	if got := strings.Fields(string(m[1])); !slices.Equal(got, want) {
		t.Errorf("Caddyfile reverse_proxy upstreams = %v, want every replica's public port %v", got, want)
	}
	if strings.Contains(string(b), ":8081") || strings.Contains(string(b), "/admin") {
		t.Error("Caddyfile reaches the admin listener")
	}
	if !strings.Contains(string(b), "health_uri /health/ready") {
		t.Error("Caddyfile does not check the replicas' /health/ready")
	}

	// The proxy's address is the one trusted proxy: the replicas believe
	// its X-Forwarded-For and nobody else's.
	nets, _ := proxy.Networks.(map[string]any)
	var proxyIP string
	for _, n := range nets {
		if m, ok := n.(map[string]any); ok {
			proxyIP, _ = m["ipv4_address"].(string)
		}
	}
	for _, r := range replicas {
		if got := cf.Services[r].Environment["IDVAUTH_TRUSTED_PROXIES"]; proxyIP == "" || got != proxyIP {
			t.Errorf("%s: IDVAUTH_TRUSTED_PROXIES = %q, want the proxy's fixed address %q", r, got, proxyIP)
		}
	}
}

// checkComposeSecrets checks that each *_FILE of svc names a secret it
// mounts (/run/secrets/NAME), declared with a file in the git-ignored
// deploy/compose/secrets.
func checkComposeSecrets(t testing.TB, cf composeFile, name string, svc composeService) {
	t.Helper()
	ignore, err := os.ReadFile(filepath.Join(root, "deploy", "compose", "secrets", ".gitignore"))
	if err != nil || !slices.Contains(strings.Fields(string(ignore)), "*") {
		t.Errorf("deploy/compose/secrets/.gitignore does not ignore everything: %v", err)
	}
	for v, path := range svc.Environment {
		if !strings.HasSuffix(v, "_FILE") {
			continue
		}
		sec, ok := strings.CutPrefix(path, "/run/secrets/")
		if !ok || !slices.Contains(svc.Secrets, sec) {
			t.Errorf("%s: %s=%s is not a secret the service mounts", name, v, path)
			continue
		}
		if f := cf.Secrets[sec].File; !strings.HasPrefix(f, "./deploy/compose/secrets/") {
			t.Errorf("secret %s is the file %q, want one in deploy/compose/secrets", sec, f)
		}
	}
}
