package deptest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Limits of the code's shape: past them a package, a type or a function
// has become too much to read as one (docs/design.md).
const (
	maxPackageLines = 3000
	maxTypeMethods  = 40
	maxFuncLines    = 80
)

// TestShape checks the module's non-test Go code against the limits:
// non-test lines per package, methods declared per type, lines per
// function. A function that is mostly one table literal may go past the
// function limit; none does today.
func TestShape(t *testing.T) {
	root := moduleRoot(t)
	lines := map[string]int{}
	methods := map[string]int{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(p))
		lines[dir] += strings.Count(string(src), "\n")
		f, err := parser.ParseFile(fset, p, src, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			name := fd.Name.Name
			if recv := receiverType(fd); recv != "" {
				methods[dir+"."+recv]++
				name = recv + "." + name
			}
			if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > maxFuncLines {
				t.Errorf("%s: %s is %d lines, more than %d: split it into named steps", rel, name, n, maxFuncLines)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir, n := range lines {
		if n > maxPackageLines {
			t.Errorf("package %s has %d non-test lines, more than %d: give a responsibility a package of its own", dir, n, maxPackageLines)
		}
	}
	for typ, n := range methods {
		if n > maxTypeMethods {
			t.Errorf("type %s declares %d methods, more than %d: split its responsibilities", typ, n, maxTypeMethods)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no Go file found under %s", root)
	}
}

// receiverType is the name of fd's receiver type, or "" for a function.
func receiverType(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return ""
	}
	t := fd.Recv.List[0].Type
	if st, ok := t.(*ast.StarExpr); ok {
		t = st.X
	}
	switch x := t.(type) {
	case *ast.IndexExpr:
		t = x.X
	case *ast.IndexListExpr:
		t = x.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name
	}
	return fmt.Sprint(t)
}
