package console

import (
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestImports keeps DESIGN.md's arrows: the console is a client of the broker (Kafka
// protocol) and of the registry (REST). It may use the leaf packages that hold Kafka's
// vocabulary and formats (config, records, metrics) and the public serde, never the broker,
// its coordinators, the log, the registry's internals or the server.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"github.com/samsa-streaming/samsa/internal/config":  true,
		"github.com/samsa-streaming/samsa/internal/records": true,
		"github.com/samsa-streaming/samsa/internal/metrics": true,
		"github.com/samsa-streaming/samsa/serde":            true,
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			if strings.HasPrefix(path, "github.com/samsa-streaming/samsa/") && !allowed[path] {
				t.Errorf("%s imports %s", e.Name(), path)
			}
		}
	}
}
