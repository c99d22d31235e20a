package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idvauth/idvauth/storage/postgres/pgtest"
)

// dockerfile is what the tests read of the Dockerfile.
type dockerfile struct {
	// final is the base image of the last stage.
	final string
	// build is the go build command of the build stage, as words, with
	// the variable assignments before it in env.
	build, buildEnv []string
	// args are the ARG defaults.
	args map[string]string
	// The last stage's USER, HEALTHCHECK CMD, ENTRYPOINT, CMD and ENV,
	// the binary's path in it and its EXPOSEd ports.
	user                   string
	health, entry, command []string
	env                    map[string]string
	binary                 string
	expose                 []string
}

// readDockerfile parses the repository's Dockerfile, joining continued
// lines.
func readDockerfile(t testing.TB) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d := dockerfile{args: map[string]string{}, env: map[string]string{}}
	var lines []string
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || l == "" && cur == "" {
			continue
		}
		if c, ok := strings.CutSuffix(l, "\\"); ok {
			cur += c + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	jsonArray := func(s string) []string {
		var v []string
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("Dockerfile: %q is not an exec-form JSON array: %v", s, err)
		}
		return v
	}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			d.final = strings.Fields(rest)[0]
			d.user, d.health, d.entry, d.command, d.binary, d.expose = "", nil, nil, nil, "", nil
			d.env = map[string]string{}
		case "ARG":
			if k, v, ok := strings.Cut(rest, "="); ok {
				d.args[k] = v
			}
		case "RUN":
			words := shellWords(rest)
			if i := slices.Index(words, "go"); i >= 0 && i+1 < len(words) && words[i+1] == "build" {
				for _, w := range words[:i] {
					if strings.Contains(w, "=") && !strings.HasPrefix(w, "--") {
						d.buildEnv = append(d.buildEnv, w)
					}
				}
				d.build = words[i:]
			}
		case "USER":
			d.user = rest
		case "HEALTHCHECK":
			_, cmd, ok := strings.Cut(rest, "CMD ")
			if !ok {
				t.Fatal("Dockerfile: HEALTHCHECK without CMD")
			}
			d.health = jsonArray(cmd)
		case "ENTRYPOINT":
			d.entry = jsonArray(rest)
		case "CMD":
			d.command = jsonArray(rest)
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				d.env[k] = v
			}
		case "EXPOSE":
			d.expose = strings.Fields(rest)
		case "COPY":
			f := strings.Fields(rest)
			if strings.HasPrefix(f[0], "--from=") && strings.HasSuffix(f[1], "/idvauth") {
				d.binary = f[len(f)-1]
			}
		}
	}
	return d
}

// shellWords splits s into words as sh would for the simple forms the
// Dockerfile uses: blanks separate, double quotes group.
func shellWords(s string) []string {
	var out []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				out = append(out, w.String())
				w.Reset()
			}
			inWord = false
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, w.String())
	}
	return out
}

// TestDockerfile checks the Dockerfile's shape: a static binary on a
// minimal base, a non-root user, a HEALTHCHECK and an ENTRYPOINT that run
// the binary it copies, and the public port it exposes.
func TestDockerfile(t *testing.T) {
	d := readDockerfile(t)
	if !strings.HasPrefix(d.final, "gcr.io/distroless/static") && d.final != "scratch" {
		t.Errorf("final stage is FROM %s, want distroless/static or scratch", d.final)
	}
	if uid, _, _ := strings.Cut(d.user, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("USER %q, want a non-root uid", d.user)
	} else if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: give a numeric uid, so runAsNonRoot can check it", d.user)
	}
	if !slices.Contains(d.buildEnv, "CGO_ENABLED=0") || !slices.Contains(d.build, "-trimpath") {
		t.Errorf("go build = %v %v, want CGO_ENABLED=0 and -trimpath", d.buildEnv, d.build)
	}
	if d.binary == "" || len(d.health) < 2 || d.health[0] != d.binary || d.health[1] != "health" {
		t.Errorf("HEALTHCHECK CMD %v, want [%s health]", d.health, d.binary)
	}
	if len(d.entry) != 1 || d.entry[0] != d.binary || !slices.Equal(d.command, []string{"serve"}) {
		t.Errorf("ENTRYPOINT %v CMD %v, want [%s] [serve]", d.entry, d.command, d.binary)
	}
	s := readSettings(t)
	checkEnv(t, "Dockerfile", s, d.env)
	if p := strconv.Itoa(port(t, d.env["IDVAUTH_PUBLIC_ADDR"])); !slices.Equal(d.expose, []string{p}) {
		t.Errorf("EXPOSE %v, want the public port %s only", d.expose, p)
	}
	if _, ok := d.env["IDVAUTH_ADMIN_ADDR"]; ok {
		t.Error("the image sets IDVAUTH_ADMIN_ADDR: its loopback default keeps the admin API inside the container unless a deployment opens it")
	}
}

// TestImageBinary builds the binary with the Dockerfile's own go build
// line, checks that it is static and carries its build information, and
// runs it as the image would: migrate up and serve with secrets from
// files on PostgreSQL, and serve --dev, each until the Dockerfile's
// HEALTHCHECK command succeeds; then it stops the server with SIGTERM
// and checks that the HEALTHCHECK fails. This is what the container
// runs, tested where no container engine or base image is at hand (see
// TestContainerImage).
func TestImageBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds idvauth: skipped with -short")
	}
	d := readDockerfile(t)
	bin := filepath.Join(t.TempDir(), "idvauth")
	const version = "v0.0.0-deploytest"
	args := slices.Clone(d.build[1:])
	for i, a := range args {
		a = strings.ReplaceAll(a, "${VERSION}", version)
		if i > 0 && args[i-1] == "-o" {
			a = bin
		}
		args[i] = a
	}
	build := exec.Command("go", args...)
	build.Dir = root
	build.Env = append(os.Environ(), d.buildEnv...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	libs, _ := f.ImportedLibraries()
	interp := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
	f.Close()
	if interp || len(libs) > 0 {
		t.Errorf("the binary is dynamically linked (interpreter %v, libraries %v): distroless/static has no libc", interp, libs)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range bi.Settings {
		got[s.Key] = s.Value
	}
	if got["CGO_ENABLED"] != "0" || got["-trimpath"] != "true" {
		t.Errorf("build info CGO_ENABLED=%q -trimpath=%q, want 0 and true", got["CGO_ENABLED"], got["-trimpath"])
	}
	checkNotice(t, bi)
	if out := runBin(t, bin, nil, "version"); !strings.Contains(out, version) {
		t.Errorf("idvauth version = %q, want the VERSION build argument %s", out, version)
	}

	t.Run("postgres", func(t *testing.T) {
		dir := t.TempDir()
		file := func(name, content string) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(content+"\n"), 0o400); err != nil {
				t.Fatal(err)
			}
			return p
		}
		env := map[string]string{
			"IDVAUTH_DATABASE_URL_FILE":  file("database_url", pgtest.Schema(t)),
			"IDVAUTH_SECRETS_FILE":       file("secrets", strings.Repeat("s", 40)),
			"IDVAUTH_ADMIN_TOKEN_FILE":   file("admin_token", strings.Repeat("a", 40)),
			"IDVAUTH_METRICS_TOKEN_FILE": file("metrics_token", strings.Repeat("m", 40)),
		}
		runBin(t, bin, env, "migrate", "up")
		serveImage(t, d, bin, env)
	})
	t.Run("dev", func(t *testing.T) {
		serveImage(t, d, bin, nil, "--dev", "--dev-allow-remote")
	})
}

// runBin runs the binary to completion with only env as its environment
// and returns its standard output; it fails the test on a non-zero exit.
func runBin(t testing.TB, bin string, env map[string]string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = envList(env)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("idvauth %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func envList(m map[string]string) []string {
	out := []string{}
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// serveImage runs the Dockerfile's ENTRYPOINT and CMD (with extra
// arguments; the binary at built) under its ENV plus env, on a free public port and a free
// loopback admin port, until its HEALTHCHECK command succeeds; then stops
// it with SIGTERM, expects exit 0, and expects the HEALTHCHECK to fail.
func serveImage(t *testing.T, d dockerfile, built string, env map[string]string, extra ...string) {
	t.Helper()
	all := map[string]string{}
	for k, v := range d.env {
		all[k] = v
	}
	for k, v := range env {
		all[k] = v
	}
	host, _, err := net.SplitHostPort(all["IDVAUTH_PUBLIC_ADDR"])
	if err != nil {
		t.Fatal(err)
	}
	all["IDVAUTH_PUBLIC_ADDR"] = net.JoinHostPort(host, strconv.Itoa(freePort(t)))
	all["IDVAUTH_ADMIN_ADDR"] = "127.0.0.1:" + strconv.Itoa(freePort(t))

	// The binary is where the test built it, not at the image's path.
	local := func(argv []string) []string {
		out := slices.Clone(argv)
		if out[0] == d.binary {
			out[0] = built
		}
		return out
	}
	argv := append(local(d.entry), append(slices.Clone(d.command), extra...)...)
	srv := exec.Command(argv[0], argv[1:]...)
	srv.Env = envList(all)
	var stderr bytes.Buffer
	srv.Stderr = &stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = srv.Process.Kill()
			<-exited
		}
	})

	health := local(d.health)
	probe := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, health[0], health[1:]...)
		c.Env = envList(all)
		return c.Run()
	}
	// Poll like the HEALTHCHECK's own interval does, until a deadline or
	// until serve exits.
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for err := probe(); err != nil; err = probe() {
		select {
		case werr := <-exited:
			stopped = true
			t.Fatalf("serve exited (%v) before the HEALTHCHECK passed:\n%s", werr, stderr.String())
		case <-deadline:
			t.Fatalf("HEALTHCHECK %v still fails after 60s: %v\n%s", d.health, err, stderr.String())
		case <-tick.C:
		}
	}
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Errorf("serve after SIGTERM: %v, want exit 0\n%s", err, stderr.String())
	}
	stopped = true
	if probe() == nil {
		t.Error("HEALTHCHECK passes with the server stopped")
	}
}

// freePort returns a TCP port nothing listens on.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// checkNotice checks that NOTICE names every module linked into the
// binary that ships a NOTICE file of its own (Apache-2.0 section 4(d)
// asks that its attribution notices travel with the binary).
func checkNotice(t testing.TB, bi *buildinfo.BuildInfo) {
	t.Helper()
	notice, err := os.ReadFile(filepath.Join(root, "NOTICE"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	cache := strings.TrimSpace(string(out))
	for _, m := range bi.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		dir := filepath.Join(cache, escapeModule(m.Path)+"@"+m.Version)
		files, _ := filepath.Glob(filepath.Join(dir, "NOTICE*"))
		if len(files) > 0 && !bytes.Contains(notice, []byte(m.Path)) {
			t.Errorf("%s %s ships %s, but NOTICE does not name it: add its attribution", m.Path, m.Version, filepath.Base(files[0]))
		}
	}
}

// escapeModule is a module path as the module cache spells it: each
// upper-case letter as ! and its lower case.
func escapeModule(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
