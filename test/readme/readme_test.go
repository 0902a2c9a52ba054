// Package readme runs the shell commands of the repository's README.md against a broker the
// test starts, so that the README cannot break silently.
package readme

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

const goRun = "go run ./cmd/samsa"

// shLines returns the command lines of the README's ```sh blocks, in order.
func shLines(readme []byte) []string {
	var out []string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```sh"):
			in = true
		case strings.HasPrefix(l, "```"):
			in = false
		case in && strings.TrimSpace(l) != "":
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

// withoutComment drops a trailing "# ..." comment (the README's comments follow two spaces).
func withoutComment(l string) string {
	if i := strings.Index(l, "  #"); i >= 0 {
		return strings.TrimSpace(l[:i])
	}
	return l
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// expected output of some README commands: the line's samsa arguments (a substring) → what
// its output must contain.
var expected = map[string][]string{
	"consume orders --group my-group":   {"k1\thello", "k2\tworld"},
	"group describe my-group":           {"my-group", "orders"},
	"schema register payments-value":    {"Registered schema id"},
	"produce payments --value-schema":   {"Produced 1 of 1 records to payments."},
	"consume payments --from-beginning": {`"id":1`, `"amount":9.5`, `"currency":"EUR"`},
	"bench produce --messages":          {"100000 messages"},
	"topic create orders":               {"Created topic orders (3 partitions"},
	"produce orders --key-separator":    {"Produced 2 of 2 records to orders."},
}

// TestReadmeWalkthrough runs every line of README.md's sh blocks that invokes samsa, as
// written, with `go run ./cmd/samsa` replaced by a built binary. The broker the README starts
// with `samsa serve` is started by the test with the README's flags, on free ports instead of
// 9092/8081 (the other commands find it through $SAMSA_BROKERS and $SAMSA_REGISTRY). The only
// lines not run are `make` ones.
func TestReadmeWalkthrough(t *testing.T) {
	root := moduleRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := shLines(readme)
	if len(lines) < 5 {
		t.Fatalf("README.md has %d sh lines; the parser is broken", len(lines))
	}

	bin := filepath.Join(t.TempDir(), "samsa")
	build := exec.Command("go", "build", "-ldflags", "-X github.com/samsa-streaming/samsa/internal/cli.Version=v0.0.0-readme", "-o", bin, "./cmd/samsa")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "--version").Output(); err != nil || !strings.HasPrefix(string(out), "samsa v0.0.0-readme, commit ") {
		t.Fatalf("samsa --version = %q, %v", out, err)
	}

	kafka, registry := freeAddr(t), freeAddr(t)
	env := append(os.Environ(), "SAMSA_BROKERS="+kafka, "SAMSA_REGISTRY=http://"+registry)
	started := false
	ran := 0
	for _, line := range lines {
		cmdline := withoutComment(line)
		if !strings.Contains(cmdline, goRun) {
			if !strings.HasPrefix(cmdline, "make ") {
				t.Errorf("README line %q runs neither samsa nor make: teach this test how to run it", line)
			}
			continue
		}
		samsaArgs := cmdline[strings.Index(cmdline, goRun)+len(goRun):]
		if fields := strings.Fields(samsaArgs); len(fields) > 0 && fields[0] == "serve" {
			if !started {
				startServe(t, bin, fields[1:], kafka, registry, env)
				started = true
			}
			continue
		}
		if !started {
			t.Fatalf("README line %q comes before any samsa serve", line)
		}
		script := strings.ReplaceAll(cmdline, goRun, bin)
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		c := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", script)
		c.Dir, c.Env = root, env
		out, err := c.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("README line %q failed: %v\n%s", line, err, out)
		}
		for key, wants := range expected {
			if strings.Contains(samsaArgs, key) {
				for _, w := range wants {
					if !bytes.Contains(out, []byte(w)) {
						t.Errorf("README line %q: output lacks %q:\n%s", line, w, out)
					}
				}
			}
		}
		ran++
	}
	if !started || ran < 8 {
		t.Fatalf("ran %d README commands (serve started: %v)", ran, started)
	}
}

// startServe runs `samsa serve` with the README's flags, except that --kafka-addr is kafka
// and --data-dir a temporary directory, plus --registry-addr registry; it returns once the
// broker answers and stops it when the test ends.
func startServe(t *testing.T, bin string, args []string, kafka, registry string, env []string) {
	t.Helper()
	var serveArgs []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--kafka-addr", "--data-dir", "--registry-addr":
			i++ // replaced below
		default:
			serveArgs = append(serveArgs, args[i])
		}
	}
	serveArgs = append([]string{"serve"}, append(serveArgs, "--data-dir", t.TempDir(),
		"--kafka-addr", kafka, "--registry-addr", registry, "--http-addr", "127.0.0.1:0", "--log-level", "warn")...)
	cmd := exec.Command(bin, serveArgs...)
	var log syncBuf
	cmd.Stdout, cmd.Stderr, cmd.Env = &log, &log, env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("samsa %s:\n%s", strings.Join(serveArgs, " "), log.String())
		}
	})
	testwait.Until(t, time.Minute, "samsa serve to answer", func() (bool, string) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("samsa serve exited: %v\n%s", err, log.String())
		default:
		}
		out, err := exec.Command(bin, "-b", kafka, "--timeout", "2s", "topic", "list").CombinedOutput()
		if err != nil {
			return false, fmt.Sprintf("%v: %s", err, out)
		}
		return true, ""
	})
}

// syncBuf is a bytes.Buffer safe for a process writing while the test reads.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
