package javaops

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
	"github.com/samsa-streaming/samsa/test/kafkaref"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

// requireJava returns the classpath of Apache Kafka 4.1.1's jars (kafka_2.13, kafka-tools and
// kafka-clients, resolved by test/kafkaref's pom), or skips the test without java or that
// classpath, except under CI=true, where it fails (.ci/run installs both).
func requireJava(t *testing.T) string {
	t.Helper()
	if err := kafkaref.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v; .ci/run must install it", err)
		}
		t.Skip(err)
	}
	cp, err := kafkaref.Classpath()
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// jvmFlags keep the tools' and the client's own logging to warnings (on standard error).
var jvmFlags = []string{"-Xshare:auto", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"}

// toolFlags start the short-lived tools faster (no optimizing compiler).
var toolFlags = append(slices.Clone(jvmFlags), "-XX:TieredStopAtLevel=1")

// toolResult is one run of a Kafka command-line tool.
type toolResult struct {
	Exit        int
	Out, Stderr string
}

func (r toolResult) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.Exit, r.Out, tailLines(r.Stderr, 40))
}

// runTool runs Kafka's tool mainClass (as bin/kafka-*.sh does) with args and returns its exit
// status and output; it fails the test if the tool does not finish within two minutes.
func runTool(t *testing.T, cp, mainClass string, args ...string) toolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", append(append(slices.Clone(toolFlags), "-cp", cp, mainClass), args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish:\n%s%s", mainClass, args, out.String(), errOut.String())
	}
	res := toolResult{Out: out.String(), Stderr: errOut.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", mainClass, err)
		}
		res.Exit = ee.ExitCode()
	}
	return res
}

// mustTool is runTool that fails the test unless the tool exits 0.
func mustTool(t *testing.T, cp, what, mainClass string, args ...string) toolResult {
	t.Helper()
	r := runTool(t, cp, mainClass, args...)
	if r.Exit != 0 {
		t.Fatalf("%s: %s", what, r)
	}
	return r
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n") + "\n"
}

// javaProducer is JavaProducer.java running: the reference Java producer, acks=all and
// idempotent, reporting each outcome to a history.Recorder and each latency to itself.
type javaProducer struct {
	name   string
	cmd    *exec.Cmd
	stdin  interface{ Close() error }
	done   chan struct{}
	stderr *tailBuffer

	finished atomic.Bool
	stopOnce sync.Once
	stopErr  error
	acked    atomic.Int64
	failed   atomic.Int64

	mu   sync.Mutex
	lat  []sample
	errs []string // failures that are not retriable, and anything unparsable
	seen []string // every failure, for the log
}

// startJavaProducer starts the Java producer named name on topic, one record every interval.
func startJavaProducer(t *testing.T, cp string, seeds []string, topic, name string, interval time.Duration, rec *history.Recorder) *javaProducer {
	t.Helper()
	src, err := filepath.Abs("JavaProducer.java")
	if err != nil {
		t.Fatal(err)
	}
	args := append(slices.Clone(jvmFlags), "-cp", cp, src, strings.Join(seeds, ","), topic, name,
		strconv.FormatInt(interval.Milliseconds(), 10))
	p := &javaProducer{name: name, cmd: exec.Command("java", args...), done: make(chan struct{}), stderr: &tailBuffer{max: 64 << 10}}
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.line(strings.Fields(sc.Text()), topic, rec)
		}
	}()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil && !t.Failed() {
			t.Errorf("java producer %s: %v", name, err)
		}
	})
	return p
}

func (p *javaProducer) line(f []string, topic string, rec *history.Recorder) {
	switch {
	case len(f) == 5 && f[0] == "A":
		part, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		us, err3 := strconv.ParseInt(f[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			p.fail("unparsable line: " + strings.Join(f, " "))
			return
		}
		p.acked.Add(1)
		p.mu.Lock()
		d := time.Duration(us) * time.Microsecond
		p.lat = append(p.lat, sample{sent: time.Now().Add(-d), d: d})
		p.mu.Unlock()
		rec.Acked(history.Ack{Topic: topic, Partition: int32(part), Offset: off, Value: f[3]})
	case len(f) == 4 && f[0] == "E":
		p.failed.Add(1)
		rec.Failed(f[1], f[2])
		p.mu.Lock()
		if len(p.seen) < 1000 {
			p.seen = append(p.seen, f[1]+": "+f[2])
		}
		p.mu.Unlock()
		if f[3] != "1" {
			p.fail(fmt.Sprintf("%s: %s (not retriable)", f[1], f[2]))
		}
	case len(f) == 2 && f[0] == "D":
		n, err := strconv.Atoi(f[1])
		if err != nil {
			p.fail("unparsable line: " + strings.Join(f, " "))
			return
		}
		workload.MarkSentUpTo(rec, p.name, n)
		p.finished.Store(true)
	default:
		p.fail("unexpected line: " + strings.Join(f, " "))
	}
}

func (p *javaProducer) fail(msg string) {
	p.mu.Lock()
	p.errs = append(p.errs, msg)
	p.mu.Unlock()
}

// Stop closes the producer's standard input (its signal to flush and exit) and waits for it:
// an error if it exited badly or without its last line. It may be called more than once.
func (p *javaProducer) Stop() error {
	p.stopOnce.Do(func() {
		p.stdin.Close()
		werr := make(chan error, 1)
		go func() { <-p.done; werr <- p.cmd.Wait() }()
		select {
		case err := <-werr:
			if err != nil || !p.finished.Load() {
				p.stopErr = fmt.Errorf("exited with %v (finished %v)\n%s", err, p.finished.Load(), tailLines(p.stderr.String(), 40))
			}
		case <-time.After(3 * time.Minute):
			p.cmd.Process.Kill()
			p.stopErr = fmt.Errorf("did not exit 3 minutes after its input closed\n%s", tailLines(p.stderr.String(), 40))
		}
	})
	return p.stopErr
}

// NonRetriable returns the failures that were not retriable (and any line it could not read).
func (p *javaProducer) NonRetriable() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.errs)
}

func (p *javaProducer) Summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("Java producer %s: %d acknowledged, %d failed (%d not retriable) %v",
		p.name, p.acked.Load(), p.failed.Load(), len(p.errs), p.seen[:min(5, len(p.seen))])
}

// awaitAcked waits until the producer has n acknowledged records (showing its standard error
// if it does not get there: a JVM or client failure).
func (p *javaProducer) awaitAcked(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	testwait.Until(t, timeout, fmt.Sprintf("the Java producer %s acknowledged %d records", p.name, n), func() (bool, string) {
		got := p.acked.Load()
		return got >= n, fmt.Sprintf("%d acknowledged; its standard error:\n%s", got, tailLines(p.stderr.String(), 30))
	})
}

// latencies returns the acknowledged records' latencies so far.
func (p *javaProducer) latencies() []sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lat)
}

// sample is one acknowledged record: when it was sent and how long its acknowledgement took.
type sample struct {
	sent time.Time
	d    time.Duration
}

// quantiles formats p50/p99/p99.9/max of the latencies of the records sent in [from, to)
// (zero times: no bound).
func quantiles(lat []sample, from, to time.Time) string {
	var s []time.Duration
	for _, x := range lat {
		if (from.IsZero() || !x.sent.Before(from)) && (to.IsZero() || x.sent.Before(to)) {
			s = append(s, x.d)
		}
	}
	if len(s) == 0 {
		return "no records"
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(x float64) time.Duration { return s[min(len(s)-1, int(x*float64(len(s))))].Round(time.Millisecond) }
	return fmt.Sprintf("p50 %v, p99 %v, p99.9 %v, max %v (%d records)", q(0.5), q(0.99), q(0.999), s[len(s)-1].Round(time.Millisecond), len(s))
}

// tailBuffer keeps the last max bytes written (the client's warnings over a long run).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.b = append([]byte(nil), w.b[len(w.b)-w.max:]...)
	}
	return len(p), nil
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
