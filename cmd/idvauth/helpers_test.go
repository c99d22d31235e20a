package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer that a running command and the test may use
// at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// envOf returns a lookupEnv that sees only m, never the real environment.
func envOf(m map[string]string) lookupEnv {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// secretLike matches anything long enough to be a secret, an admin token
// or a JWT segment.
var secretLike = regexp.MustCompile(`[A-Za-z0-9_-]{32,}`)

// redact blanks secret-like strings so that failure messages never print
// client secrets, admin tokens or access tokens.
func redact(s string) string { return secretLike.ReplaceAllString(s, "[REDACTED]") }

// cli runs the CLI once to completion, with nothing on stdin, and returns
// its exit code and output.
func cli(t testing.TB, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return cliStdin(t, env, "", args...)
}

// cliStdin is cli with stdin as the command's standard input (a pipe, not a
// terminal).
func cliStdin(t testing.TB, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	if _, ok := env["IDVAUTH_CREDENTIALS"]; !ok && (len(args) == 0 || args[0] != "config") {
		// Never the credentials of whoever runs the tests ('config
		// check' reports where each setting came from: not changed).
		env = maps.Clone(env)
		if env == nil {
			env = map[string]string{}
		}
		env["IDVAUTH_CREDENTIALS"] = filepath.Join(t.TempDir(), "credentials.json")
	}
	code = run(t.Context(), args, envOf(env), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustCLI runs the CLI and fails the test unless it exits 0.
func mustCLI(t testing.TB, env map[string]string, args ...string) string {
	t.Helper()
	code, out, errOut := cli(t, env, args...)
	if code != 0 {
		t.Fatalf("idvauth %s = exit %d, want 0; stderr:\n%s", redact(strings.Join(args, " ")), code, redact(errOut))
	}
	return out
}

// waitFor polls cond until it is true, done is closed (the command
// returned early) or the deadline passes.
func waitFor(t testing.TB, what string, done <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-done:
			if cond() {
				return
			}
			t.Fatalf("command returned before %s", what)
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// server is `idvauth serve` running in a goroutine of the test.
type server struct {
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan struct{}
	code           int // valid once done is closed
}

// startServe runs `idvauth serve args...` until stop or the end of the
// test; the test fails if it does not exit 0 then.
func startServe(t testing.TB, env map[string]string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s := &server{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.code = run(ctx, append([]string{"serve"}, args...), envOf(env), strings.NewReader(""), s.stdout, s.stderr)
	}()
	t.Cleanup(func() {
		if code := s.stop(); code != 0 {
			t.Errorf("serve exited %d after cancel, want 0; stderr:\n%s", code, redact(s.stderr.String()))
		}
	})
	return s
}

// stop cancels the server's context and waits for run to return its code.
func (s *server) stop() int {
	s.cancel()
	<-s.done
	return s.code
}

// devServer is a running `serve --dev` and what its banner says.
type devServer struct {
	*server
	banner    string
	issuer    string
	publicURL string
	adminURL  string
}

var bannerBar = strings.Repeat("=", 78)

// startDev runs `idvauth serve --dev` on loopback port 0 and waits for its
// banner.
func startDev(t testing.TB, env map[string]string, args ...string) *devServer {
	t.Helper()
	args = append([]string{"--dev", "--public-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, args...)
	s := startServe(t, env, args...)
	// The banner is complete when its closing bar is out.
	waitFor(t, "the --dev banner", s.done, func() bool { return strings.Count(s.stdout.String(), bannerBar) >= 3 })
	d := &devServer{server: s, banner: s.stdout.String()}
	d.issuer = bannerField(t, d.banner, "Issuer")
	d.publicURL = bannerField(t, d.banner, "Public")
	d.adminURL = bannerField(t, d.banner, "Admin API")
	return d
}

// bannerField returns the value of a "  Name   value" line of the banner.
func bannerField(t testing.TB, banner, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + ` +(\S+)`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("banner has no %q line:\n%s", name, redact(banner))
	}
	return m[1]
}

// freeAddr returns a loopback address that nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// adminToken is a fixed admin token for tests that pass their own.
const adminToken = "test-admin-token-0123456789abcdef0123456789"

// unavailable skips a test that needs something this machine lacks, with
// a message saying what; under CI=true it fails instead, since .ci/run
// installs everything the tests need.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: .ci/run must provide it)", msg)
	}
	t.Skip(msg)
}

// needTools calls unavailable unless every tool is on PATH.
func needTools(t testing.TB, why string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "%s need %s on PATH: %v", why, tool, err)
		}
	}
}
