package interop

// This file is the only place that knows how a test gets a broker:
//
//   - startBroker: an in-process Samsa broker per test (samsatest).
//   - startProcess: the real `samsa serve` binary, built once per test run,
//     for crash, restart and retention tests that need a process and a disk.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/samsatest"
)

// brokerOpt configures startBroker.
type brokerOpt func(*brokerConfig)

type brokerConfig struct {
	// brokerConfigs are broker-level configs (Kafka names, e.g.
	// "log.cleaner.backoff.ms").
	brokerConfigs map[string]string
}

// withBrokerConfig sets a broker-level config key (Kafka's name) on the
// broker startBroker starts.
func withBrokerConfig(key, value string) brokerOpt {
	return func(c *brokerConfig) {
		if c.brokerConfigs == nil {
			c.brokerConfigs = make(map[string]string)
		}
		c.brokerConfigs[key] = value
	}
}

// brokerUnderTest names what startBroker runs. Tests consult it only
// through knownGap.
const brokerUnderTest = "samsa"

// knownGap skips the rest of a test while startBroker runs kfake, for a
// behaviour kfake (which emulates Kafka 4.x) lacks but Samsa must have.
// Once startBroker runs Samsa, knownGap does nothing and the assertion that
// follows it binds.
func knownGap(t *testing.T, reason string) {
	t.Helper()
	if brokerUnderTest == "kfake" {
		t.Skipf("known kfake gap: %s", reason)
	}
}

// startBroker starts a Samsa broker in-process (samsatest: the real server on a free
// loopback port, data in the test's temp dir) and returns its bootstrap address; stopped via
// t.Cleanup. Every test gets its own broker, so tests may run in parallel and may reuse topic
// names.
func startBroker(t *testing.T, opts ...brokerOpt) string {
	t.Helper()
	var bc brokerConfig
	for _, o := range opts {
		o(&bc)
	}
	sopts := []samsatest.Option{samsatest.WithSetting("auto.create.topics.enable", "true")}
	for k, v := range bc.brokerConfigs {
		sopts = append(sopts, samsatest.WithSetting(k, v))
	}
	return samsatest.Start(t, sopts...).Addr()
}

// ---------------------------------------------------------------------------
// The real binary.

// proc is one running `samsa serve` process. Its methods are called from the
// test goroutine only.
type proc struct {
	t       *testing.T
	dataDir string
	addr    string // Kafka listener, host:port
	http    string // console/admin/metrics listener
	reg     string // schema registry listener
	logPath string // stdout+stderr of the process

	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd.Wait returns
	waitErr error         // valid after done is closed
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
	binaryDir  string // removed by TestMain
)

// samsaBinary returns the path of the samsa binary: $SAMSA_BIN if set, else
// `go build ./cmd/samsa` from the module root, once per test run.
func samsaBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		if p := os.Getenv("SAMSA_BIN"); p != "" {
			binaryPath, binaryErr = filepath.Abs(p)
			return
		}
		root, err := moduleRoot()
		if err != nil {
			binaryErr = err
			return
		}
		if _, err := os.Stat(filepath.Join(root, "cmd", "samsa", "main.go")); err != nil {
			binaryErr = fmt.Errorf("%w: cmd/samsa/main.go: %v", errNoBinary, err)
			return
		}
		binaryDir, err = os.MkdirTemp("", "samsa-interop-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		out := filepath.Join(binaryDir, "samsa")
		cmd := exec.Command("go", "build", "-o", out, "./cmd/samsa")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build ./cmd/samsa: %w\n%s", err, b)
			return
		}
		binaryPath = out
	})
	if errors.Is(binaryErr, errNoBinary) && !inCI() {
		t.Skipf("samsa binary not available yet: %v", binaryErr)
	}
	if binaryErr != nil {
		t.Fatalf("samsa binary: %v", binaryErr)
	}
	return binaryPath
}

// errNoBinary means cmd/samsa does not exist in this checkout yet.
var errNoBinary = errors.New("no cmd/samsa in this checkout")

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("free port: %v", err)
	}
	return port
}

// startProcess runs `samsa serve` on dataDir with fresh ports and returns
// once the Kafka listener answers ApiVersions. extraArgs are appended to the
// command line (e.g. "--config", file). The process is killed at cleanup if
// the test has not stopped it; if the test failed, the tail of its output
// is logged.
func startProcess(t *testing.T, dataDir string, extraArgs ...string) *proc {
	t.Helper()
	return startProcessAt(t, dataDir, "", extraArgs...)
}

// startProcessAt is startProcess with the Kafka listener on addr ("" picks a free port), so a
// restarted broker keeps the address its clients know.
func startProcessAt(t *testing.T, dataDir, addr string, extraArgs ...string) *proc {
	t.Helper()
	bin := samsaBinary(t)
	if addr == "" {
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	}
	p := &proc{
		t:       t,
		dataDir: dataDir,
		addr:    addr,
		http:    net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
		reg:     net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
		done:    make(chan struct{}),
	}
	logFile, err := os.CreateTemp(t.TempDir(), "samsa-*.log")
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	p.logPath = logFile.Name()
	args := append([]string{"serve",
		"--data-dir", dataDir,
		"--kafka-addr", p.addr,
		"--http-addr", p.http,
		"--registry-addr", p.reg,
	}, extraArgs...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = logFile
	p.cmd.Stderr = logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("samsa %s output (tail):\n%s", strings.Join(args, " "), p.logTail(60))
		}
	})
	if err := p.awaitReady(30 * time.Second); err != nil {
		t.Fatalf("samsa serve did not become ready: %v\noutput tail:\n%s", err, p.logTail(60))
	}
	return p
}

// Addr is the Kafka bootstrap address of the process.
func (p *proc) Addr() string { return p.addr }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *proc) Kill() {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("Kill: samsa already exited: %v", p.waitErr)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("SIGKILL: %v", err)
	}
	<-p.done
}

// Stop sends SIGTERM, waits up to 30 s, and fails the test unless the
// process exits with status 0.
func (p *proc) Stop() {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("Stop: samsa already exited: %v", p.waitErr)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("samsa did not exit within 30s of SIGTERM")
	}
	if p.waitErr != nil {
		p.t.Fatalf("samsa exited uncleanly after SIGTERM: %v", p.waitErr)
	}
}

// awaitReady polls until the Kafka port accepts a connection and answers
// an ApiVersions request, the process exits, or timeout passes.
func (p *proc) awaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("process exited: %v", p.waitErr)
		}
		if last = probeAPIVersions(p.addr); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, last)
		}
		select {
		case <-tick.C:
		case <-p.done:
		}
	}
}

// probeAPIVersions sends one ApiVersions v0 request on a fresh connection
// and checks the response decodes, carries no error and lists ApiVersions.
func probeAPIVersions(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	// Request header v1: api key, api version, correlation id, client id.
	body := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(req.Version))
	body = binary.BigEndian.AppendUint32(body, 7)
	body = binary.BigEndian.AppendUint16(body, uint16(len("interop-probe")))
	body = append(body, "interop-probe"...)
	body = req.AppendTo(body)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	if _, err := conn.Write(append(frame, body...)); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<20 {
		return fmt.Errorf("ApiVersions response size %d", n)
	}
	resp := make([]byte, n)
	if _, err := io.ReadFull(r, resp); err != nil {
		return err
	}
	if corr := binary.BigEndian.Uint32(resp); corr != 7 {
		return fmt.Errorf("ApiVersions correlation id %d, want 7", corr)
	}
	kresp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	kresp.Version = 0
	if err := kresp.ReadFrom(resp[4:]); err != nil {
		return fmt.Errorf("decode ApiVersions response: %w", err)
	}
	if kresp.ErrorCode != 0 {
		return fmt.Errorf("ApiVersions error code %d", kresp.ErrorCode)
	}
	for _, k := range kresp.ApiKeys {
		if k.ApiKey == req.Key() {
			return nil
		}
	}
	return errors.New("ApiVersions response does not list ApiVersions")
}

// logTail returns the last n lines of the process output.
func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// writeConfigFile writes a Java-properties broker config file into dir and
// returns its path, for `samsa serve --config FILE`.
func writeConfigFile(t *testing.T, dir string, kv map[string]string) string {
	t.Helper()
	var b strings.Builder
	for _, k := range sortedKeys(kv) {
		fmt.Fprintf(&b, "%s=%s\n", k, kv[k])
	}
	path := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatalf("write config: %v", err)
	}
	return path
}

// inCI reports whether the tests run under CI (env CI=true), where missing
// tools are failures instead of skips.
func inCI() bool { return os.Getenv("CI") == "true" }

// TestMain removes the binary built for process tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}
