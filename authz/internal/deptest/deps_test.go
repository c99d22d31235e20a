package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rules is the dependency table of docs/design.md. from and except name
// importers by patterns relative to the module root: "storage" is that
// package, "storage/..." is it and every package under it, "..." is every
// package of the module.
var rules = []rule{
	{
		name:   "nothing imports cmd",
		from:   []string{"..."},
		except: []string{"cmd/idvauth", "cmd/idvauth/internal/..."},
		scope:  withTests,
		forbid: mod("cmd/..."),
		reason: "commands are the top of the graph: they turn flags and environment into a config, call a package and print; code that another package needs belongs in a package",
	},
	{
		name:   "a command's internal packages serve that command only",
		from:   []string{"cmd/idvauth", "cmd/idvauth/internal/..."},
		scope:  withTests,
		forbid: allOf(mod("cmd/..."), not(mod("cmd/idvauth/internal/..."))),
		reason: "cmd/idvauth/internal holds the CLI's own machinery (how settings are resolved from flags, env and the config file, what its commands share) and commands of its own; the command and these packages may use it, and nothing else may",
	},
	{
		name:   "nothing imports deploy",
		from:   []string{"..."},
		scope:  withTests,
		forbid: mod("deploy/..."),
		reason: "deploy holds the deployment files and the tests that hold them to the server; it has no code for anything to use",
	},
	{
		name:   "storage: standard library only",
		from:   []string{"storage"},
		scope:  transitive,
		forbid: nonStd,
		reason: "the store interfaces are the contract between authz and every backend, and whatever they import both sides inherit: pgx, fosite and zap stay out",
	},
	{
		name:   "scopes: standard library only",
		from:   []string{"scopes/..."},
		scope:  transitive,
		forbid: nonStd,
		reason: "scopes is policy over plain data (scope names, consent texts, which client may be granted which scope) and needs no library",
	},
	{
		name:   "scopes: no HTTP, no I/O",
		from:   []string{"scopes/..."},
		scope:  direct,
		forbid: pkgs("net/...", "os/...", "io/fs", "database/..."),
		reason: "scopes serves nothing and reads nothing: its callers parse requests and load settings, and hand it strings",
	},
	{
		name:   "templates, migrations: standard library only",
		from:   []string{"templates/...", "migrations/..."},
		scope:  transitive,
		forbid: nonStd,
		reason: "they are embedded files (html/template pages, SQL) and the little code that reads them with embed; authz and storage/postgres use them, never the other way round",
	},
	{
		name:   "storage, keys: no HTTP",
		from:   []string{"storage/...", "keys/..."},
		scope:  transitive,
		forbid: pkgs("net/http/..."),
		reason: "the store and the key ring know records, keys and bytes, not requests; HTTP belongs to authz, the only package that serves it",
	},
	{
		name:   "storage, keys: no fosite",
		from:   []string{"storage/...", "keys/..."},
		scope:  transitive,
		forbid: pkgs("github.com/ory/fosite/..."),
		reason: "fosite stays in authz, behind its one adapter to storage records; nothing below authz depends on the protocol engine's types",
	},
	{
		name:   "storage, keys: no zap",
		from:   []string{"storage/...", "keys/..."},
		scope:  transitive,
		forbid: pkgs("go.uber.org/zap/..."),
		reason: "they return errors and report through callbacks in their Config; authz owns the logger and decides what is logged, so that no secret reaches a log by a path it does not see",
	},
	{
		name:   "keys: go-jose and storage only",
		from:   []string{"keys/..."},
		scope:  transitive,
		forbid: not(anyOf(std, mod("storage", "keys/..."), pkgs("github.com/go-jose/go-jose/v4/..."))),
		reason: "the key ring is crypto/* and go-jose over the storage.KeyStore interface; which backend holds the keys is authz's choice, and any other library here would reach every user of keys",
	},
	{
		name:   "storage: the bottom layer",
		from:   []string{"storage/..."},
		scope:  withTests,
		forbid: allOf(mod("..."), not(mod("storage/...", "migrations"))),
		reason: "the store and its backends keep records and know nothing of keys, scopes, pages or the server; storage/postgres reads the embedded migrations, and that is all",
	},
	{
		name:   "nothing below authz imports authz",
		from:   []string{"keys/...", "scopes/...", "storage/...", "templates/...", "migrations/..."},
		scope:  withTests,
		forbid: mod("authz/..."),
		reason: "dependencies point down from authz, which assembles these packages; they must build, and be tested, without it",
	},
	{
		name:   "no way back to the assembly",
		from:   []string{"authz/..."},
		except: []string{"authz"},
		scope:  transitive,
		forbid: mod("authz"),
		reason: "authz.New is the one assembly point and imports the authz/* packages; one that reached back into authz, even through another package, would make a cycle or a second place that wires the server",
	},
	{
		name:   "internal leaves stay below the handlers",
		from:   []string{"authz/internal/..."},
		scope:  withTests,
		forbid: mod("authz/clientauth/...", "authz/login/...", "authz/admin/...", "authz/adminapi/..."),
		reason: "authz/internal holds leaves with no server state, used by every authz/* package; a leaf that imported one of those packages would tie the others to it, and could not be used by it",
	},
	{
		name:   "internal stays in its tree",
		from:   []string{"..."},
		scope:  withTests,
		forbid: hiddenInternal,
		reason: "an internal package is a helper of the tree rooted at its parent (authz/<x>/internal/... belongs to authz/<x>/...); one that several trees need moves up to authz/internal",
	},
}

// roots are the trees the table places. A package outside all of them is
// one no rule was written for.
var roots = []string{"cmd/...", "deploy/...", "authz/...", "storage/...", "keys/...", "scopes/...", "templates/...", "migrations/..."}

const unplaced = "every package has a place"

func TestDeps(t *testing.T) {
	g := loadGraph(t)
	for _, v := range check(g, rules) {
		t.Error(v)
	}
	// A rule whose pattern matches nothing has stopped guarding anything,
	// most likely because a package moved: fail rather than pass quietly.
	for _, r := range rules {
		for _, pat := range slices.Concat(r.from, r.except) {
			if !slices.ContainsFunc(g.main, func(p string) bool { return g.matches(p, pat) }) {
				t.Errorf("rule %q: pattern %q matches no package of the module; update the rule and docs/design.md", r.name, pat)
			}
		}
	}
}

// TestRulesFire checks the rules against made-up import graphs, so that
// each one is seen to fail when it should, and to name what it must.
func TestRulesFire(t *testing.T) {
	const mp = "example.com/idv"
	m := func(p string) string { return mp + "/" + p }
	// clean is a graph of the intended shape; each case adds to it.
	clean := map[string][]string{
		m("cmd/idvauth"):                {m("authz"), m("authz/adminapi"), "github.com/spf13/cobra", "net/http"},
		m("authz"):                      {m("authz/clientauth"), m("authz/login"), m("storage"), m("storage/postgres"), m("keys"), m("scopes"), m("templates"), "github.com/ory/fosite", "go.uber.org/zap"},
		m("authz/clientauth"):           {m("authz/internal/certs"), m("storage"), "net/http"},
		m("authz/login"):                {m("templates")},
		m("authz/login/internal/form"):  {"net/url"},
		m("authz/adminapi"):             {"net/http", "encoding/json"},
		m("authz/internal/certs"):       {"crypto/x509"},
		m("authz/internal/harness"):     {"testing"},
		m("keys"):                       {m("storage"), "github.com/go-jose/go-jose/v4", "crypto/ecdsa"},
		m("scopes"):                     {"strings"},
		m("storage"):                    {"context", "time"},
		m("storage/memory"):             {m("storage"), "sync"},
		m("storage/postgres"):           {m("storage"), m("migrations"), "github.com/jackc/pgx/v5"},
		m("storage/storagetest"):        {m("storage"), "testing"},
		m("templates"):                  {"embed", "html/template"},
		m("migrations"):                 {"embed"},
		"github.com/go-jose/go-jose/v4": {"crypto", "encoding/json"},
		"github.com/jackc/pgx/v5":       {"net", "github.com/jackc/puddle/v2"},
		"github.com/jackc/puddle/v2":    {"sync"},
		"net/http":                      {"net", "crypto/tls"},
		"expvar":                        {"net/http"},
		"github.com/ory/fosite":         {"net/http", "github.com/ory/x"},
		"github.com/ory/x":              {"net/http/httptrace"},
	}
	tests := []struct {
		name      string
		imports   map[string][]string // added to clean's imports
		testOnly  map[string][]string // test imports
		want      []string            // names of the rules that fire
		wantInMsg []string            // text that some message holds
	}{
		{name: "the intended shape"},
		{name: "an internal leaf imports authz", imports: map[string][]string{m("authz/internal/harness"): {m("authz")}}, want: []string{"no way back to the assembly"}},
		{name: "an internal leaf imports a handler package", imports: map[string][]string{m("authz/internal/harness"): {m("authz/adminapi")}}, want: []string{"internal leaves stay below the handlers"}},
		{name: "a package uses its own internal", imports: map[string][]string{m("authz/login"): {m("authz/login/internal/form")}}},
		{
			name:    "storage imports pgx",
			imports: map[string][]string{m("storage"): {"github.com/jackc/pgx/v5"}},
			// keys, which imports storage, would then depend on pgx too.
			want:      []string{"storage: standard library only", "keys: go-jose and storage only"},
			wantInMsg: []string{m("storage") + " imports github.com/jackc/pgx/v5:"},
		},
		{
			name:      "keys reaches net/http through the standard library",
			imports:   map[string][]string{m("keys"): {"expvar"}},
			want:      []string{"storage, keys: no HTTP"},
			wantInMsg: []string{m("keys") + " imports net/http (via " + m("keys") + " → expvar → net/http)", "HTTP belongs to authz"},
		},
		{
			name:    "a backend logs",
			imports: map[string][]string{m("storage/postgres"): {"go.uber.org/zap"}},
			want:    []string{"storage, keys: no zap"},
		},
		{
			name:    "keys speaks fosite: one line per rule",
			imports: map[string][]string{m("keys"): {"github.com/ory/fosite"}},
			want:    []string{"storage, keys: no fosite", "keys: go-jose and storage only", "storage, keys: no HTTP"},
		},
		{
			name:    "a backend speaks fosite",
			imports: map[string][]string{m("storage/memory"): {"github.com/ory/fosite"}},
			want:    []string{"storage, keys: no fosite", "storage, keys: no HTTP"},
		},
		{
			name:      "keys picks a backend",
			imports:   map[string][]string{m("keys"): {m("storage/postgres")}},
			want:      []string{"keys: go-jose and storage only"},
			wantInMsg: []string{m("keys") + " imports " + m("storage/postgres") + ":"},
		},
		{
			name:     "a keys test drives the server",
			testOnly: map[string][]string{m("keys"): {m("authz")}},
			want:     []string{"nothing below authz imports authz"},
		},
		{
			name:    "a backend reads the key ring",
			imports: map[string][]string{m("storage/memory"): {m("keys")}},
			want:    []string{"storage: the bottom layer"},
		},
		{
			name:     "a backend test runs a command",
			testOnly: map[string][]string{m("storage/postgres"): {m("cmd/idvauth")}},
			want:     []string{"nothing imports cmd", "storage: the bottom layer"},
		},
		{
			name:    "templates import the key ring",
			imports: map[string][]string{m("templates"): {m("keys")}},
			want:    []string{"templates, migrations: standard library only"},
		},
		{
			name:    "scopes reads a file",
			imports: map[string][]string{m("scopes"): {"os"}},
			want:    []string{"scopes: no HTTP, no I/O"},
		},
		{
			name:    "a handler package reaches back into authz",
			imports: map[string][]string{m("authz/login"): {m("authz")}},
			want:    []string{"no way back to the assembly"},
		},
		{
			name:      "a handler package reaches authz through a leaf",
			imports:   map[string][]string{m("authz/clientauth"): {m("authz/internal/harness")}, m("authz/internal/harness"): {m("authz")}},
			want:      []string{"no way back to the assembly", "no way back to the assembly"},
			wantInMsg: []string{"(via " + m("authz/clientauth") + " → " + m("authz/internal/harness") + " → " + m("authz") + ")"},
		},
		{
			name:      "a sibling's internal package",
			imports:   map[string][]string{m("authz/clientauth"): {m("authz/login/internal/form")}},
			want:      []string{"internal stays in its tree"},
			wantInMsg: []string{m("authz/clientauth") + " imports " + m("authz/login/internal/form") + ":"},
		},
		{
			name:    "a package outside the table",
			imports: map[string][]string{m("util"): {"strings"}},
			want:    []string{unplaced},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &graph{module: mp, pkgs: make(map[string]*pkg)}
			add := func(path string) *pkg {
				p := g.pkgs[path]
				if p == nil {
					p = &pkg{ImportPath: path}
					g.pkgs[path] = p
					if _, ok := g.rel(path); ok {
						g.main = append(g.main, path)
					}
				}
				return p
			}
			for path, imps := range clean {
				add(path).Imports = slices.Clone(imps)
			}
			for path, imps := range tt.imports {
				p := add(path)
				p.Imports = append(p.Imports, imps...)
			}
			for path, imps := range tt.testOnly {
				add(path).XTestImports = imps
			}
			slices.Sort(g.main)
			var got, msgs []string
			for _, v := range check(g, rules) {
				got = append(got, v.rule)
				msgs = append(msgs, v.String())
			}
			for _, s := range tt.wantInMsg {
				if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, s) }) {
					t.Errorf("no message holds %q; messages:\n%s", s, strings.Join(msgs, "\n"))
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("rules fired = %q, want %q", got, want)
			}
		})
	}
}

// scope is which imports of a package a rule looks at.
type scope int

const (
	// direct: the package's own imports, not its tests'.
	direct scope = iota
	// withTests: the package's imports and those of its tests, internal
	// and external.
	withTests
	// transitive: everything the package's non-test build depends on.
	// A forbidden package is reported with the path it arrives by, once
	// per direct import of the package.
	transitive
)

// A rule forbids some imports to some packages, for a reason.
type rule struct {
	name         string
	from, except []string
	scope        scope
	forbid       pred
	reason       string
}

// pred reports whether from may not import to.
type pred func(g *graph, from, to string) bool

// mod matches packages of the module by patterns relative to its root.
func mod(patterns ...string) pred {
	return func(g *graph, _, to string) bool {
		return slices.ContainsFunc(patterns, func(pat string) bool { return g.matches(to, pat) })
	}
}

// pkgs matches packages by import path patterns.
func pkgs(patterns ...string) pred {
	return func(_ *graph, _, to string) bool {
		return slices.ContainsFunc(patterns, func(pat string) bool { return match(to, pat) })
	}
}

// std matches the standard library: paths outside the module whose first
// element has no dot, as the go command decides (cgo's "C" among them:
// package net imports it).
func std(g *graph, _, to string) bool {
	if _, ok := g.rel(to); ok {
		return false
	}
	first, _, _ := strings.Cut(to, "/")
	return !strings.Contains(first, ".")
}

// nonStd matches everything outside the standard library.
var nonStd = not(std)

func not(p pred) pred {
	return func(g *graph, from, to string) bool { return !p(g, from, to) }
}

func anyOf(ps ...pred) pred {
	return func(g *graph, from, to string) bool {
		return slices.ContainsFunc(ps, func(p pred) bool { return p(g, from, to) })
	}
}

func allOf(ps ...pred) pred {
	return func(g *graph, from, to string) bool {
		return !slices.ContainsFunc(ps, func(p pred) bool { return !p(g, from, to) })
	}
}

// hiddenInternal matches a package of the module below an "internal"
// element whose parent tree from is not in, as the go command decides.
func hiddenInternal(g *graph, from, to string) bool {
	if _, ok := g.rel(to); !ok {
		return false
	}
	elems := strings.Split(to, "/")
	for i, e := range elems {
		if e == "internal" && !match(from, strings.Join(elems[:i], "/")+"/...") {
			return true
		}
	}
	return false
}

// match reports whether path matches pattern: pattern itself, or, for
// "x/...", x and everything under it; "..." matches everything.
func match(path, pattern string) bool {
	if pattern == "..." {
		return true
	}
	if dir, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == dir || strings.HasPrefix(path, dir+"/")
	}
	return path == pattern
}

// graph is the import graph go list reported.
type graph struct {
	module string          // the module path
	pkgs   map[string]*pkg // every package listed, by import path
	main   []string        // the module's packages, sorted
}

// pkg is what we read of go list -json.
type pkg struct {
	ImportPath string
	Module     *struct {
		Path string
		Main bool
	}
	Imports      []string
	TestImports  []string
	XTestImports []string
	Error        *struct{ Err string }
	DepsErrors   []*struct{ Err string }
}

// rel returns path relative to the module root ("." for the root), or
// false if path is not in the module.
func (g *graph) rel(path string) (string, bool) {
	if path == g.module {
		return ".", true
	}
	r, ok := strings.CutPrefix(path, g.module+"/")
	return r, ok
}

// matches reports whether path is in the module and matches pattern,
// which is relative to the module root.
func (g *graph) matches(path, pattern string) bool {
	r, ok := g.rel(path)
	return ok && match(r, pattern)
}

// violation is an import a rule forbids.
type violation struct {
	from, to string
	via      []string // from, ..., to when to arrives indirectly
	test     bool     // only a test imports to
	rule     string
	reason   string
}

func (v violation) String() string {
	if v.to == "" {
		return fmt.Sprintf("%s: %s: %s", v.from, v.rule, v.reason)
	}
	s := v.from + " imports " + v.to
	if len(v.via) > 2 {
		s += " (via " + strings.Join(v.via, " → ") + ")"
	}
	if v.test {
		s += " in a test"
	}
	return fmt.Sprintf("%s: %s: %s", s, v.rule, v.reason)
}

// check returns every violation of rules in g, importer by importer.
func check(g *graph, rules []rule) []violation {
	var vs []violation
	for _, from := range g.main {
		rel, _ := g.rel(from)
		if !slices.ContainsFunc(roots, func(pat string) bool { return match(rel, pat) }) {
			vs = append(vs, violation{from: from, rule: unplaced,
				reason: "it is outside every tree of the dependency table (" + strings.Join(roots, ", ") + "); give it a place in the table, here and in docs/design.md"})
		}
		p := g.pkgs[from]
		for _, r := range rules {
			in := func(pat string) bool { return match(rel, pat) }
			if !slices.ContainsFunc(r.from, in) || slices.ContainsFunc(r.except, in) {
				continue
			}
			add := func(to string, via []string, test bool) {
				vs = append(vs, violation{from: from, to: to, via: via, test: test, rule: r.name, reason: r.reason})
			}
			switch r.scope {
			case direct, withTests:
				seen := map[string]bool{from: true} // an external test imports its package
				for i, imps := range [][]string{p.Imports, p.TestImports, p.XTestImports} {
					if i > 0 && r.scope == direct {
						break
					}
					for _, to := range imps {
						if !seen[to] && r.forbid(g, from, to) {
							add(to, nil, i > 0)
						}
						seen[to] = true
					}
				}
			case transitive:
				// Breadth first, so each path shown is a shortest one;
				// a forbidden package is reported and not entered, and
				// only once per direct import it arrives by, since that
				// import is what to change.
				parent := map[string]string{from: ""}
				reported := make(map[string]bool)
				queue := []string{from}
				for len(queue) > 0 {
					cur := queue[0]
					queue = queue[1:]
					q := g.pkgs[cur]
					if q == nil {
						continue
					}
					for _, to := range q.Imports {
						if _, ok := parent[to]; ok {
							continue
						}
						parent[to] = cur
						if !r.forbid(g, from, to) {
							queue = append(queue, to)
							continue
						}
						via := []string{to}
						for n := cur; n != ""; n = parent[n] {
							via = append(via, n)
						}
						slices.Reverse(via)
						if !reported[via[1]] {
							reported[via[1]] = true
							add(to, via, false)
						}
					}
				}
			}
		}
	}
	return vs
}

// loadGraph lists the module's packages and everything they depend on.
func loadGraph(t *testing.T) *graph {
	t.Helper()
	root := moduleRoot(t)
	touchTree(t, root)
	cmd := exec.CommandContext(t.Context(), "go", "list", "-e", "-deps", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	g := &graph{pkgs: make(map[string]*pkg)}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list: decode: %v", err)
		}
		g.pkgs[p.ImportPath] = p
		if p.Module == nil || !p.Module.Main {
			continue
		}
		g.module = p.Module.Path
		g.main = append(g.main, p.ImportPath)
		// An import go list could not resolve (a missing package, a
		// forbidden internal one, a cycle) leaves the graph incomplete.
		if p.Error != nil {
			t.Errorf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		for _, e := range p.DepsErrors {
			t.Errorf("go list: %s: dependency: %s", p.ImportPath, e.Err)
		}
	}
	if len(g.main) == 0 {
		t.Fatalf("go list listed no package of the module in %s", root)
	}
	slices.Sort(g.main)
	return g
}

// moduleRoot returns the directory of the go.mod that holds this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("go env GOMOD: not in a module")
	}
	return filepath.Dir(gomod)
}

// touchTree opens every directory that may hold a package, and reads the
// environment go list depends on. go test caches a passing result under
// the files and variables the test consulted, and what go list reads is
// invisible to it: without this, an import added anywhere would leave the
// cached PASS standing. Opening a directory makes the cache key cover the
// names, sizes and times of its files.
func touchTree(t *testing.T, root string) {
	t.Helper()
	for _, v := range []string{"GOFLAGS", "GOOS", "GOARCH", "CGO_ENABLED", "GOEXPERIMENT", "GOWORK"} {
		os.Getenv(v)
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root {
			// The directories the go command ignores.
			if n := d.Name(); strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || n == "testdata" || n == "vendor" {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
}
