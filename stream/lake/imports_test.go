package lake

import (
	"go/build"
	"strings"
	"testing"
)

// The lake sink is public and runs with any runner: its code (tests aside) may use the
// stream library and public libraries, never Samsa's internal packages.
func TestImportsNoInternalPackage(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("no imports found")
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(imp, "/internal/") ||
			strings.HasPrefix(imp, "github.com/samsa-streaming/samsa/") && imp != "github.com/samsa-streaming/samsa/stream" {
			t.Errorf("lake imports %s", imp)
		}
	}
}
