package deploy_test

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository root, relative to this package.
const root = ".."

// settings are idvauth's environment variables as cmd/idvauth reads them.
type settings struct {
	// env holds every IDVAUTH_* name the CLI reads, with the _FILE
	// variants of the secret settings.
	env map[string]bool
	// defaults are the default values of the settings, by env name.
	defaults map[string]string
}

var envName = regexp.MustCompile(`^IDVAUTH_[A-Z0-9_]+$`)

// readSettings parses cmd/idvauth's sources: every setting{flag, env,
// file, def, usage} literal, each exact IDVAUTH_* string (IDVAUTH_CONFIG),
// and the settings fileSettings lists, which also take a _FILE variable.
// It reads the code rather than a copy, so a renamed setting fails the
// deployment tests.
func readSettings(t testing.TB) settings {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(root, "cmd", "idvauth", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	s := settings{env: map[string]bool{}, defaults: map[string]string{}}
	byVar := map[string]string{} // sPublicAddr -> IDVAUTH_PUBLIC_ADDR
	var fileVars []string
	lit := func(e ast.Expr) (string, bool) {
		b, ok := e.(*ast.BasicLit)
		if !ok || b.Kind != token.STRING {
			return "", false
		}
		v, err := strconv.Unquote(b.Value)
		return v, err == nil
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if v, ok := lit(n); ok && envName.MatchString(v) {
					s.env[v] = true
				}
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if i >= len(n.Values) {
						continue
					}
					switch v := n.Values[i].(type) {
					case *ast.CallExpr: // newSetting(flag, env, def, usage)
						if id, ok := v.Fun.(*ast.Ident); ok && id.Name == "newSetting" && len(v.Args) == 4 {
							env, _ := lit(v.Args[1])
							byVar[name.Name] = env
							if def, ok := lit(v.Args[2]); ok {
								s.defaults[env] = def
							}
						}
					case *ast.CompositeLit:
						if name.Name == "fileSettings" {
							for _, e := range v.Elts {
								switch e := e.(type) {
								case *ast.Ident: // sAdminToken
									fileVars = append(fileVars, e.Name)
								case *ast.SelectorExpr: // sAdminToken.env
									if id, ok := e.X.(*ast.Ident); ok {
										fileVars = append(fileVars, id.Name)
									}
								}
							}
						}
					}
				}
			}
			return true
		})
	}
	if len(byVar) < 20 || len(fileVars) == 0 {
		t.Fatalf("found %d settings and %d file settings in cmd/idvauth: has its settings table changed shape? Update readSettings", len(byVar), len(fileVars))
	}
	for _, v := range fileVars {
		if byVar[v] == "" {
			t.Fatalf("fileSettings names %s, which is not a setting literal", v)
		}
		s.env[byVar[v]+"_FILE"] = true
	}
	return s
}

// port is the port of a host:port setting value.
func port(t testing.TB, hostport string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%q is not host:port: %v", hostport, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// decodeAll decodes every YAML document in path into values of T.
func decodeAll[T any](t testing.TB, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var out []T
	for {
		var v T
		err := dec.Decode(&v)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
}

// checkEnv fails for each name in env that idvauth does not read.
// extra are names of other programs that may appear (GOMEMLIMIT).
func checkEnv(t testing.TB, where string, s settings, env map[string]string, extra ...string) {
	t.Helper()
	for name := range env {
		if !s.env[name] && !slices.Contains(extra, name) {
			t.Errorf("%s: %s is not a setting idvauth reads", where, name)
		}
	}
}
