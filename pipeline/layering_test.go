package pipeline

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPipelineImportsNoIO keeps the core pure: its non-test files import
// the standard library and shopstream's tiny pure helpers (internal/clock,
// internal/lru)
// only, never Kafka, ClickHouse, HTTP servers, configuration or a connector.
func TestPipelineImportsNoIO(t *testing.T) {
	allowed := map[string]bool{
		"github.com/shopstream/shopstream/internal/clock": true,
		"github.com/shopstream/shopstream/internal/lru":   true,
	}
	forbiddenStd := []string{"net/http", "database/sql", "os/exec"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			switch {
			case allowed[path]:
			case strings.Contains(first, "."):
				t.Errorf("%s imports %s: pipeline may import the standard library and internal/{clock,lru} only", name, path)
			default:
				for _, f := range forbiddenStd {
					if path == f || strings.HasPrefix(path, f+"/") {
						t.Errorf("%s imports %s: I/O belongs in connectors/", name, path)
					}
				}
			}
		}
	}
}
