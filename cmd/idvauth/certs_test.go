package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idvauth/idvauth/cmd/idvauth/internal/certscmd"
)

// TestCerts makes a CA, a server and two client certificates, checks the
// files, their modes and chains, and that nothing is overwritten.
func TestCerts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := func(s ...string) string { return filepath.Join(append([]string{dir}, s...)...) }
	mustCLI(t, nil, "certs", "ca", "--out", p("ca"))
	mustCLI(t, nil, "certs", "server", "--ca", p("ca"), "--host", "127.0.0.1", "--host", "localhost", "--out", p("server"))
	var out certscmd.Issued
	if err := json.Unmarshal([]byte(mustCLI(t, nil, "certs", "client", "--ca", p("ca"), "--cn", "kyc-backend", "--org", "Example",
		"--dns", "kyc.example", "--out", p("client"), "-o", "json")), &out); err != nil {
		t.Fatal(err)
	}
	if out.SubjectDN != "CN=kyc-backend,O=Example" || out.Thumbprint == "" || out.JWKS == "" {
		t.Errorf("certs client -o json = %+v", out)
	}
	mustCLI(t, nil, "certs", "client", "--self-signed", "--cn", "kyc-self", "--out", p("self"))
	for _, k := range []string{p("ca", "ca.key"), p("server", "server.key"), p("client", "client.key"), p("self", "client.key")} {
		fi, err := os.Stat(k)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode of %s = %v, want 0600", k, fi.Mode().Perm())
		}
	}
	caPEM, err := os.ReadFile(p("ca", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	for _, c := range []struct {
		dir, base string
		usage     x509.ExtKeyUsage
		name      string
	}{{"server", "server", x509.ExtKeyUsageServerAuth, "127.0.0.1"}, {"client", "client", x509.ExtKeyUsageClientAuth, ""}} {
		pair, err := tls.LoadX509KeyPair(p(c.dir, c.base+".crt"), p(c.dir, c.base+".key"))
		if err != nil {
			t.Fatalf("LoadX509KeyPair(%s) = %v", c.dir, err)
		}
		leaf, _ := x509.ParseCertificate(pair.Certificate[0])
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: c.name, KeyUsages: []x509.ExtKeyUsage{c.usage}}); err != nil {
			t.Errorf("%s certificate does not verify against the CA: %v", c.dir, err)
		}
	}
	code, _, errOut := cli(t, nil, "certs", "ca", "--out", p("ca"))
	if code == 0 || !strings.Contains(errOut, "not overwritten") {
		t.Errorf("certs ca into an existing CA = exit %d, %q; want refused", code, errOut)
	}
	code, _, errOut = cli(t, nil, "certs", "client", "--cn", "x", "--out", p("x"))
	if code == 0 || !strings.Contains(errOut, "--ca") {
		t.Errorf("certs client without --ca = exit %d, %q", code, errOut)
	}
	if b, _ := os.ReadFile(p("client", "client.jwks.json")); strings.Contains(string(b), `"d"`) {
		t.Errorf("client.jwks.json holds the private key")
	}
}

// TestCertsWarnsInRepository checks that certs warns when it writes keys
// into a git repository that does not ignore them, and only then.
func TestCertsWarnsInRepository(t *testing.T) {
	t.Parallel()
	needTools(t, "the git-ignore check", "git")
	repo := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(repo, ".gitignore"), []byte("pki/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		out  string
		warn bool
	}{
		{filepath.Join(repo, "keys", "ca"), true},
		{filepath.Join(repo, "pki", "ca"), false},
		{filepath.Join(t.TempDir(), "ca"), false},
	} {
		code, _, errOut := cli(t, nil, "certs", "ca", "--out", tt.out)
		if code != 0 {
			t.Fatalf("certs ca --out %s = exit %d, %q", tt.out, code, errOut)
		}
		if got := strings.Contains(errOut, "warning: "+tt.out+" is inside the git repository"); got != tt.warn {
			t.Errorf("certs ca --out %s: warned %t, want %t; stderr %q", tt.out, got, tt.warn, errOut)
		}
	}
}
