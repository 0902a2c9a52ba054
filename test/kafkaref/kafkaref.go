// Package kafkaref starts Apache Kafka (a single KRaft node: broker and controller in one
// JVM) on this machine, as the reference broker for differential tests and the peer for
// benchmarks. The broker's jars come from Maven Central through the pom.xml beside this
// file, pinned to one version; .ci/run writes their classpath to target/classpath.txt.
//
// Start needs java and that classpath. Without them it skips the test, except under CI
// (CI=true) where it fails: the tests that use it must run there.
package kafkaref

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the Apache Kafka release the pom pins.
const Version = "4.1.1"

// Broker is one running Apache Kafka process.
type Broker struct {
	// Addr is the PLAINTEXT listener, host:port.
	Addr string
	// Dir holds server.properties, the log directory and the process's output (kafka.log).
	Dir string

	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// Option changes the broker's server.properties.
type Option func(props map[string]string)

// WithSetting sets one broker property (for example "flush.messages", "1").
func WithSetting(key, value string) Option {
	return func(p map[string]string) { p[key] = value }
}

// Classpath returns the broker's runtime classpath from target/classpath.txt beside this
// file, or an error that says how to make it.
func Classpath() (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("kafkaref: cannot locate its own directory")
	}
	dir := filepath.Dir(self)
	b, err := os.ReadFile(filepath.Join(dir, "target", "classpath.txt"))
	if err != nil {
		return "", fmt.Errorf("kafkaref: no classpath (run `mvn -B -q dependency:build-classpath -Dmdep.outputFile=target/classpath.txt` in %s; .ci/run does): %w", dir, err)
	}
	cp := strings.TrimSpace(string(b))
	if cp == "" {
		return "", fmt.Errorf("kafkaref: %s/target/classpath.txt is empty", dir)
	}
	return cp, nil
}

// Available reports why Apache Kafka cannot be started here, or nil if it can.
func Available() error {
	if _, err := exec.LookPath("java"); err != nil {
		return fmt.Errorf("kafkaref: java not installed: %w", err)
	}
	_, err := Classpath()
	return err
}

// Start starts Apache Kafka with its defaults (page cache, no fsync per message) except for
// the settings a single node needs (replication factors of 1, no initial rebalance delay) and
// the options, waits until it answers on its listener, and stops it at the test's cleanup.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v; .ci/run must install it", err)
		}
		t.Skip(err)
	}
	b, err := StartIn(t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	return b
}

// StartIn is Start without a testing.TB: the caller owns dir and must call Stop.
func StartIn(dir string, opts ...Option) (*Broker, error) {
	cp, err := Classpath()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cport, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	props := map[string]string{
		"process.roles":                                    "broker,controller",
		"node.id":                                          "1",
		"controller.quorum.voters":                         "1@127.0.0.1:" + strconv.Itoa(cport),
		"listeners":                                        "PLAINTEXT://" + addr + ",CONTROLLER://127.0.0.1:" + strconv.Itoa(cport),
		"advertised.listeners":                             "PLAINTEXT://" + addr,
		"controller.listener.names":                        "CONTROLLER",
		"listener.security.protocol.map":                   "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"inter.broker.listener.name":                       "PLAINTEXT",
		"log.dirs":                                         filepath.Join(dir, "data"),
		"num.partitions":                                   "1",
		"offsets.topic.replication.factor":                 "1",
		"offsets.topic.num.partitions":                     "50",
		"transaction.state.log.replication.factor":         "1",
		"transaction.state.log.min.isr":                    "1",
		"share.coordinator.state.topic.replication.factor": "1",
		"share.coordinator.state.topic.min.isr":            "1",
		"group.initial.rebalance.delay.ms":                 "0",
		"auto.create.topics.enable":                        "true",
	}
	for _, o := range opts {
		o(props)
	}
	var pf bytes.Buffer
	for k, v := range props {
		fmt.Fprintf(&pf, "%s=%s\n", k, v)
	}
	propsPath := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsPath, pf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	java := "java"
	jvm := []string{"-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"}

	// Format the log directory with a fresh cluster id, as kafka-storage.sh format does.
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	// A base64url id may start with '-'; "--cluster-id=ID" keeps the tool's argument parser
	// from reading such an id as an option (one start in 64 failed that way).
	clusterID := base64.RawURLEncoding.EncodeToString(id)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	format := exec.CommandContext(ctx, java, append(append([]string{}, jvm...), "-cp", cp,
		"kafka.tools.StorageTool", "format", "--cluster-id="+clusterID, "-c", propsPath)...)
	if out, err := format.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kafkaref: kafka-storage format: %w\n%s", err, out)
	}

	logf, err := os.Create(filepath.Join(dir, "kafka.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(java, append(append([]string{}, jvm...), "-cp", cp, "kafka.Kafka", propsPath)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("kafkaref: start kafka.Kafka: %w", err)
	}
	b := &Broker{Addr: addr, Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		logf.Close()
		close(b.done)
	}()
	if err := b.awaitReady(2 * time.Minute); err != nil {
		b.Stop()
		return nil, err
	}
	return b, nil
}

// Pid is the JVM's process id (for CPU and memory accounting).
func (b *Broker) Pid() int { return b.cmd.Process.Pid }

// Stop kills the JVM (SIGTERM, then SIGKILL after 20 s) and waits for it.
func (b *Broker) Stop() {
	b.once.Do(func() {
		select {
		case <-b.done:
			return
		default:
		}
		b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(20 * time.Second):
			b.cmd.Process.Kill()
			<-b.done
		}
	})
}

// LogTail returns the last n lines of the broker's output.
func (b *Broker) LogTail(n int) string {
	f, err := os.Open(filepath.Join(b.Dir, "kafka.log"))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// awaitReady waits until the broker accepts a connection and has registered (Kafka answers
// Metadata with brokers only after its controller registered it; a TCP accept is the cheap
// first check, then the caller's client retries its first request).
func (b *Broker) awaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-b.done:
			return fmt.Errorf("kafkaref: kafka exited during start-up:\n%s", b.LogTail(40))
		default:
		}
		c, err := net.DialTimeout("tcp", b.Addr, time.Second)
		if err == nil {
			c.Close()
			if registered(b.Addr) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kafkaref: kafka did not answer on %s within %v:\n%s", b.Addr, timeout, b.LogTail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
