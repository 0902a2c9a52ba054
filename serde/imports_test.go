package serde

import (
	"go/build"
	"strings"
	"testing"
)

// serde is public and must run against any Kafka and registry: it may use
// no package of Samsa's own (internal/ or otherwise), only the standard
// library and public libraries.
func TestImportsNoSamsaPackage(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("no imports found")
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "github.com/samsa-streaming/samsa/") || strings.Contains(imp, "/internal/") {
			t.Errorf("serde imports %s", imp)
		}
	}
}
