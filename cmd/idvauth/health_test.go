package main

import (
	"net/url"
	"strings"
	"testing"
)

// TestHealth checks `idvauth health` against a running server: the
// address from --public-addr (an unspecified host asked on loopback) or
// --url, ready and live, and exit 1 where nothing answers.
func TestHealth(t *testing.T) {
	t.Parallel()
	d := startDev(t, nil)
	u, err := url.Parse(d.publicURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--url", d.publicURL},
		{"--url", d.publicURL, "--live"},
		{"--public-addr", u.Host},
		{"--public-addr", "0.0.0.0:" + u.Port()},
	} {
		if out := mustCLI(t, nil, append([]string{"health"}, args...)...); !strings.HasPrefix(out, "ok: /health/") {
			t.Errorf("health %v printed %q, want ok: /health/...", args, out)
		}
	}
	env := map[string]string{"IDVAUTH_PUBLIC_ADDR": u.Host}
	if out := mustCLI(t, env, "health"); out != "ok: /health/ready answered 200\n" {
		t.Errorf("health with IDVAUTH_PUBLIC_ADDR printed %q", out)
	}
	if code, _, errOut := cli(t, nil, "health", "--url", "http://"+freeAddr(t)); code != 1 || !strings.Contains(errOut, "health:") {
		t.Errorf("health with nothing listening = exit %d, stderr %q; want 1 and a reason", code, errOut)
	}
	if code, _, errOut := cli(t, nil, "health", "--public-addr", "nonsense"); code != 1 || !strings.Contains(errOut, "public address nonsense") {
		t.Errorf("health --public-addr nonsense = exit %d, stderr %q; want 1 naming the address", code, errOut)
	}
}
