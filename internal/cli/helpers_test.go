package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// testTimeout bounds every command a test runs.
const testTimeout = 60 * time.Second

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// run runs one command line through the cobra root with stdin and returns
// its stdout, stderr and exit code. The environment is empty.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	var out, errb syncBuffer
	code = Run(ctx, args, Streams{
		In: strings.NewReader(stdin), Out: &out, Err: &errb,
		Getenv: func(string) string { return "" },
	})
	return out.String(), errb.String(), code
}

// mustRun is run that fails the test unless the exit code is 0.
func mustRun(t *testing.T, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, code := run(t, stdin, args...)
	if code != ExitOK {
		t.Fatalf("samsa %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout, stderr
}

// cli returns a function running commands against the broker at addr.
func cli(t *testing.T, addr string) func(stdin string, args ...string) (string, string, int) {
	return func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return run(t, stdin, append([]string{"-b", addr, "--timeout", "20s"}, args...)...)
	}
}

// mustCLI is cli that requires exit code 0.
func mustCLI(t *testing.T, addr string) func(stdin string, args ...string) string {
	return func(stdin string, args ...string) string {
		t.Helper()
		out, _ := mustRun(t, stdin, append([]string{"-b", addr, "--timeout", "20s"}, args...)...)
		return out
	}
}

// waitFor polls cond until it holds or the test times out; it is for state
// only observable through the broker (group membership), not a sleep.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, testTimeout, what, testwait.True(cond))
}

// lines splits output into non-empty lines.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
