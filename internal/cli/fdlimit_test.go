//go:build linux

package cli

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childServeEnv, when set, makes TestHelperServeProcess the body of a child process: it
// lowers RLIMIT_NOFILE to the value given and runs `samsa serve` with SAMSA_CHILD_ARGS.
const childServeEnv = "SAMSA_CHILD_NOFILE"

// TestHelperServeProcess is not a test of its own: TestServeSurvivesDescriptorExhaustion runs
// the test binary again with only this function, as a `samsa serve` process with a low
// descriptor limit.
func TestHelperServeProcess(t *testing.T) {
	if os.Getenv(childServeEnv) == "" {
		t.Skip("the child process of TestServeSurvivesDescriptorExhaustion")
	}
	n, err := strconv.ParseUint(os.Getenv(childServeEnv), 10, 64)
	if err != nil {
		os.Stderr.WriteString("bad " + childServeEnv + ": " + err.Error() + "\n")
		os.Exit(3)
	}
	lim := &syscall.Rlimit{Cur: n, Max: n}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, lim); err != nil {
		os.Stderr.WriteString("setrlimit: " + err.Error() + "\n")
		os.Exit(3)
	}
	os.Exit(Main(strings.Split(os.Getenv("SAMSA_CHILD_ARGS"), "\x1f")))
}

// TestServeSurvivesDescriptorExhaustion: a `samsa serve` process limited to 64 descriptors is
// flooded with connections until accept fails with EMFILE; it logs that (not once per
// failure), keeps running, and serves clients again once the flood is gone.
func TestServeSurvivesDescriptorExhaustion(t *testing.T) {
	dir := t.TempDir()
	props := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(props, []byte("offsets.topic.num.partitions=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	args := []string{"serve", "--config", props, "--data-dir", filepath.Join(dir, "data"),
		"--kafka-addr", addr, "--registry-addr", "off", "--http-addr", "off"}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServeProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), childServeEnv+"=64", "SAMSA_CHILD_ARGS="+strings.Join(args, "\x1f"))
	var stderr syncBuffer
	cmd.Stderr, cmd.Stdout = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(testTimeout):
			cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("child output:\n%s", stderr.String())
		}
	}()
	alive := func() bool {
		select {
		case err := <-exited:
			exited <- err
			return false
		default:
			return true
		}
	}
	waitFor(t, "the child broker to serve", func() bool {
		if !alive() {
			t.Fatalf("child exited: %s", stderr.String())
		}
		return strings.Contains(stderr.String(), "samsa is serving")
	})

	// Flood: far more connections than the child has descriptors. The kernel completes the
	// handshakes (the listen backlog), the child accepts until EMFILE.
	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for range 150 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			break // the backlog is full: enough
		}
		flood = append(flood, c)
	}
	const logLine = "accepting connections failed: out of file descriptors"
	waitFor(t, "the child to log running out of descriptors", func() bool {
		if !alive() {
			t.Fatalf("child exited while out of descriptors: %s", stderr.String())
		}
		return strings.Contains(stderr.String(), logLine)
	})
	if !alive() {
		t.Fatalf("child exited after running out of descriptors: %s", stderr.String())
	}
	for _, c := range flood {
		c.Close()
	}
	flood = nil

	// It serves again: a topic, a record, a read.
	waitFor(t, "the child to answer again", func() bool {
		_, _, code := run(t, "", "-b", addr, "--timeout", "2s", "topic", "list")
		return code == ExitOK
	})
	must := mustCLI(t, addr)
	must("", "topic", "create", "after", "--partitions", "1")
	must("still here\n", "produce", "after")
	if got := must("", "consume", "after", "--from-beginning", "--count", "1"); got != "still here\n" {
		t.Fatalf("consumed %q", got)
	}
	if !alive() {
		t.Fatal("child exited")
	}
	// Logged once per interval, not once per failed accept.
	if n := strings.Count(stderr.String(), logLine); n > 3 {
		t.Fatalf("the accept failure was logged %d times", n)
	}
}
