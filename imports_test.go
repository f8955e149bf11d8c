package apigateway_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/mcphub/apigateway"

// leaves are the packages that must stand alone as middleware: none of
// them may import another or gateway, and internal helpers may import none
// of them, so that only gateway composes them.
var leaves = []string{"auth", "limit", "breaker", "proxy", "telemetry"}

func TestLeafPackagesDoNotImportEachOther(t *testing.T) {
	check := func(dir string, forbidden []string) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				for _, leaf := range forbidden {
					if path == module+"/"+leaf || strings.HasPrefix(path, module+"/"+leaf+"/") {
						t.Errorf("%s imports %s", file, path)
					}
				}
			}
		}
	}

	for _, leaf := range leaves {
		others := []string{"gateway"}
		for _, l := range leaves {
			if l != leaf {
				others = append(others, l)
			}
		}
		filepath.WalkDir(leaf, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				check(path, others)
			}
			return nil
		})
	}
	filepath.WalkDir("internal", func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			check(path, append(leaves, "gateway"))
		}
		return nil
	})
}
