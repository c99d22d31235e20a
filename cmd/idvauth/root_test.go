package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/idvauth/idvauth/authz/buildinfo"
	"github.com/idvauth/idvauth/cmd/idvauth/internal/clikit"
)

// allCommands returns cmd and every command below it.
func allCommands(cmd *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{cmd}
	for _, c := range cmd.Commands() {
		out = append(out, allCommands(c)...)
	}
	return out
}

// TestHelp checks that every command documents itself with an example
// that invokes it, and that --help shows it and exits 0.
func TestHelp(t *testing.T) {
	t.Parallel()
	cmds := allCommands(newRootCmd(envOf(nil)))
	if len(cmds) < 14 {
		t.Fatalf("command tree has %d commands, want at least 14 (root, serve, migrate up|status, janitor, clients and its 6, version)", len(cmds))
	}
	for _, c := range cmds {
		path := c.CommandPath()
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			if c.Short == "" || c.Long == "" || c.Example == "" {
				t.Errorf("%s: Short %t, Long %t, Example %t; want all set", path, c.Short != "", c.Long != "", c.Example != "")
			}
			if !strings.Contains(c.Example, path) {
				t.Errorf("%s: Example does not invoke %q:\n%s", path, path, c.Example)
			}
			if c.Flags().Lookup("output") != nil && !strings.Contains(c.Example, "-o json") {
				t.Errorf("%s: has -o but its Example shows no -o json:\n%s", path, c.Example)
			}
			args := append(strings.Fields(path)[1:], "--help")
			code, out, errOut := cli(t, nil, args...)
			if code != 0 || errOut != "" {
				t.Fatalf("idvauth %s = exit %d, stderr %q; want 0 and nothing", strings.Join(args, " "), code, errOut)
			}
			if !strings.Contains(out, "Examples:\n"+c.Example) {
				t.Errorf("idvauth %s does not show the Examples section:\n%s", strings.Join(args, " "), out)
			}
			if !strings.Contains(out, "Usage:\n  "+path) {
				t.Errorf("idvauth %s does not show the usage of %s:\n%s", strings.Join(args, " "), path, out)
			}
		})
	}
}

// TestHelpClientsCreate is the help an operator sees first.
func TestHelpClientsCreate(t *testing.T) {
	t.Parallel()
	code, out, _ := cli(t, nil, "clients", "create", "--help")
	for _, want := range []string{"Examples", "idvauth clients create --name", "--scope", "--admin-url", "--admin-token", "-o, --output"} {
		if !strings.Contains(out, want) {
			t.Errorf("clients create --help lacks %q", want)
		}
	}
	if code != 0 {
		t.Errorf("clients create --help = exit %d, want 0", code)
	}
	// -h is --help; `help clients create` too.
	for _, args := range [][]string{{"clients", "create", "-h"}, {"help", "clients", "create"}} {
		if code, got, _ := cli(t, nil, args...); code != 0 || got != out {
			t.Errorf("idvauth %s = exit %d, same text as --help %t; want 0 and the same text", strings.Join(args, " "), code, got == out)
		}
	}
}

// TestGroupsWithoutSubcommand checks that a command group without a
// subcommand shows its help instead of failing.
func TestGroupsWithoutSubcommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"clients"}, {"migrate"}, {"users"}, {"audit"}} {
		code, out, errOut := cli(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Available Commands:") || errOut != "" {
			t.Errorf("idvauth %s = exit %d, stderr %q, lists commands %t; want 0 and the help", strings.Join(args, " "), code, errOut, strings.Contains(out, "Available Commands:"))
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, errOut := cli(t, nil, "version")
	if code != 0 || errOut != "" {
		t.Fatalf("idvauth version = exit %d, stderr %q; want 0 and nothing", code, errOut)
	}
	if !regexp.MustCompile(`^idvauth \S+ \((commit [0-9a-f]{12}\S*( of \S+)?, )?(built \S+, )?go\S+\)\n$`).MatchString(out) {
		t.Errorf("idvauth version = %q, want \"idvauth VERSION ([commit C, ][built T, ]goX.Y.Z)\\n\"", out)
	}
	if v := buildinfo.Read().Version; v == "" || !strings.Contains(out, " "+v+" ") {
		t.Errorf("idvauth version = %q, want it to show buildinfo.Read().Version = %q", out, v)
	}
	if code, _, errOut := cli(t, nil, "version", "extra"); code != clikit.ExitUsage || !strings.Contains(errOut, `unknown command "extra"`) {
		t.Errorf("idvauth version extra = exit %d, stderr %q; want 2 and unknown command", code, errOut)
	}
	var v buildinfo.Info
	decodeJSON(t, "version -o json", mustCLI(t, nil, "version", "-o", "json"), &v)
	if v.Version != buildinfo.Read().Version || !strings.HasPrefix(v.Go, "go") {
		t.Errorf("version -o json = %+v, want version %q and the Go version", v, buildinfo.Read().Version)
	}
}

func TestVersionLinkTime(t *testing.T) {
	// Not parallel: it sets the package variables that -ldflags -X sets.
	oldV, oldC, oldT := buildinfo.Version, buildinfo.Commit, buildinfo.Time
	buildinfo.Version, buildinfo.Commit, buildinfo.Time = "v1.2.3", "0123456789abcdef0123456789abcdef01234567", "2026-12-03T12:00:00Z"
	t.Cleanup(func() { buildinfo.Version, buildinfo.Commit, buildinfo.Time = oldV, oldC, oldT })
	if _, out, _ := cli(t, nil, "version"); !strings.HasPrefix(out, "idvauth v1.2.3 (commit 0123456789ab") || !strings.Contains(out, "built 2026-12-03T12:00:00Z") {
		t.Errorf("idvauth version with link-time values = %q, want version, commit and build time shown", out)
	}
	var v buildinfo.Info
	decodeJSON(t, "version -o json", mustCLI(t, nil, "version", "-o", "json"), &v)
	if v.Version != "v1.2.3" || v.Commit != buildinfo.Commit || v.BuildTime != buildinfo.Time {
		t.Errorf("version -o json = %+v, want the link-time values", v)
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `Error: unknown command "frobnicate" for "idvauth"`},
		{[]string{"clients", "frobnicate"}, `Error: unknown command "frobnicate" for "idvauth clients"`},
		{[]string{"clients", "lsit"}, "Error: unknown command \"lsit\" for \"idvauth clients\"\n\nDid you mean this?\n\tlist\n"},
		{[]string{"users", "get"}, "Error: accepts 1 arg(s), received 0"},
		{[]string{"clients", "list", "-o", "yaml"}, `Error: --output must be table or json, not "yaml"`},
		{[]string{"certs", "ca"}, `Error: required flag(s) "out" not set`},
		{[]string{"certs", "client", "--cn", "x", "--out", "never-written"}, "Error: give the test CA with --ca DIR, or --self-signed"},
		{[]string{"migrate", "down"}, `Error: unknown command "down" for "idvauth migrate"`},
		{[]string{"audit", "tail"}, `Error: unknown command "tail" for "idvauth audit"`},
		{[]string{"--frobnicate"}, "Error: unknown flag: --frobnicate"},
	}
	for _, tt := range tests {
		code, out, errOut := cli(t, nil, tt.args...)
		if code != clikit.ExitUsage || !strings.HasPrefix(errOut, tt.want) {
			t.Errorf("idvauth %s = exit %d, stderr %q; want 2 (usage) and %q", strings.Join(tt.args, " "), code, errOut, tt.want)
		}
		if out != "" {
			t.Errorf("idvauth %s printed %q on stdout, want nothing", strings.Join(tt.args, " "), out)
		}
	}
}

// TestHelpFlagTexts checks the flag help of the commands that do not call
// the admin API: no admin API wording, no admin flags, no --dev wording,
// and serve's flags typed by what they take.
func TestHelpFlagTexts(t *testing.T) {
	t.Parallel()
	root := newRootCmd(envOf(nil))
	find := func(path ...string) *cobra.Command {
		c, _, err := root.Find(path)
		if err != nil || c.Name() != path[len(path)-1] {
			t.Fatalf("no command %q: %v", path, err)
		}
		return c
	}
	for _, path := range [][]string{{"migrate", "up"}, {"migrate", "status"}, {"janitor"}, {"keys", "reencrypt"}, {"certs", "ca"}, {"certs", "server"}, {"certs", "client"}} {
		c := find(path...)
		if o := c.Flag("output"); o == nil || strings.Contains(o.Usage, "admin API") {
			t.Errorf("%s: -o %v; want one that does not speak of the admin API", c.CommandPath(), o)
		}
		if d := c.Flag("database-url"); d != nil && strings.Contains(d.Usage, "--dev") {
			t.Errorf("%s: --database-url says %q; --dev is serve's", c.CommandPath(), d.Usage)
		}
		for _, f := range []string{"admin-url", "admin-token"} {
			if c.Flag(f) != nil {
				t.Errorf("%s: has --%s, which it does not use", c.CommandPath(), f)
			}
		}
	}
	serve := find("serve")
	for _, tt := range []struct{ flag, typ string }{{"access-token-ttl", "duration"}, {"audit-retention", "duration"}, {"argon2-time", "int"},
		{"rate-limit-per-ip", "rate"}, {"public-addr", "host:port"}, {"trusted-proxies", "cidrs"}, {"tls-cert", "file"}, {"issuer", "url"}} {
		if f := serve.Flag(tt.flag); f == nil || f.Value.Type() != tt.typ {
			t.Errorf("serve --%s: type %v, want %s", tt.flag, f, tt.typ)
		}
	}
}
