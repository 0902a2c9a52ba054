package cli

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	out, _ := mustRun(t, "", "version", "-o", "json")
	var bi buildInfo
	if err := json.Unmarshal([]byte(out), &bi); err != nil {
		t.Fatalf("version -o json %q: %v", out, err)
	}
	if bi.GoVersion != runtime.Version() || bi.Version == "" || bi.Commit == "" || bi.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("version: %+v", bi)
	}
	text, _ := mustRun(t, "", "version")
	if !strings.HasPrefix(text, "samsa "+bi.Version+"\ncommit: "+bi.Commit) || !strings.Contains(text, "go: "+runtime.Version()) {
		t.Fatalf("version text: %q", text)
	}
	flag, _ := mustRun(t, "", "--version")
	if want := readBuildInfo().String() + "\n"; flag != want || !strings.Contains(flag, runtime.Version()) {
		t.Fatalf("--version = %q, want %q", flag, want)
	}

	saved := Version
	Version = "v9.8.7"
	defer func() { Version = saved }()
	if out, _ := mustRun(t, "", "version"); !strings.HasPrefix(out, "samsa v9.8.7\n") {
		t.Fatalf("version with Version set: %q", out)
	}
}
