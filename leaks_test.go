package apigateway_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every package with tests ends them with goleak's check, so a test, or the
// code it drives, that leaves a goroutine running fails the normal test run.
func TestEveryTestedPackageChecksForLeaks(t *testing.T) {
	err := filepath.WalkDir(".", func(dir string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); dir != "." && (strings.HasPrefix(name, ".") || name == "testdata" ||
			name == "node_modules") {
			return filepath.SkipDir
		}
		tests, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		if len(tests) == 0 {
			return nil
		}
		for _, file := range tests {
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
			if err != nil {
				return err
			}
			if callsVerifyTestMain(f) {
				return nil
			}
		}
		t.Errorf("%s has tests but no TestMain calling goleak.VerifyTestMain", dir)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// callsVerifyTestMain reports whether f declares a TestMain that calls
// goleak.VerifyTestMain.
func callsVerifyTestMain(f *ast.File) bool {
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "TestMain" || fn.Recv != nil || fn.Body == nil {
			continue
		}
		found := false
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "VerifyTestMain" {
				if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "goleak" {
					found = true
				}
			}
			return !found
		})
		return found
	}
	return false
}
