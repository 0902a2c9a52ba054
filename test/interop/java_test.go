package interop

// The reference Java client (kafka-clients), Kafka Streams and Kafka's own command-line
// tools, driven through the Maven project in test/java (JUnit 5). Needs java and mvn, and
// the project's pinned artifacts in the local Maven repository (.ci/run resolves them with
// `mvn dependency:go-offline`); missing any of those skips, except under CI where it fails.

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// requireMaven returns the mvn binary and the test/java directory, with the project's
// dependencies resolvable offline.
func requireMaven(t *testing.T) (mvn, dir string) {
	t.Helper()
	requireTool(t, "java")
	mvn = requireTool(t, "mvn")
	dir, err := filepath.Abs(filepath.Join("..", "java"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// test-compile offline proves every pinned artifact is in the local repository.
	cmd := exec.CommandContext(ctx, mvn, "-o", "-q", "-B", "test-compile")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		if inCI() {
			t.Fatalf("test/java does not build offline; .ci/run must run mvn dependency:go-offline there: %v\n%s", err, out)
		}
		t.Skipf("test/java does not build offline (run mvn dependency:go-offline in %s): %v", dir, err)
	}
	return mvn, dir
}

// surefireSummary matches Surefire's closing count line.
var surefireSummary = regexp.MustCompile(`Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)\s*$`)

// TestJavaClient runs every JUnit class in test/java against one broker started here:
// KafkaProducer with every codec, idempotence and transactions (commit, abort, fencing);
// KafkaConsumer with the cooperative-sticky assignor, static membership, seek by timestamp and
// read_committed; KafkaConsumer with group.protocol=consumer (KIP-848: server-side assignment,
// incremental moves, static rejoin), and rolled from the classic protocol to it and back (online
// upgrade and downgrade, mixed groups); KafkaShareConsumer (KIP-932 share groups: lock timeouts,
// release on close, rejection to the dead-letter topic, growing delivery counts, the share group
// admin calls); the AdminClient calls Samsa serves and their errors; Kafka Streams word count
// and windowed count with exactly_once_v2; and kafka-topics, kafka-console-producer/consumer,
// kafka-consumer-groups (describe, reset with dry run), kafka-producer/consumer-perf-test,
// kafka-transactions and kafka-reassign-partitions (generate, execute, verify). Each JUnit test
// asserts what it names; this test fails if any fails or if none ran.
func TestJavaClient(t *testing.T) {
	t.Parallel()
	mvn, dir := requireMaven(t)
	addr := startBroker(t)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mvn, "-o", "-B", "test")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SAMSA_BOOTSTRAP="+addr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	reports := surefireReports(t, filepath.Join(dir, "target", "surefire-reports"))
	if err != nil {
		t.Fatalf("mvn test: %v\n%s\n%s", err, tail(out.String(), 120), reports)
	}
	var summary []string
	for _, line := range strings.Split(out.String(), "\n") {
		if m := surefireSummary.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			summary = m
		}
	}
	if summary == nil || summary[1] == "0" {
		t.Fatalf("mvn test ran no JUnit test:\n%s", tail(out.String(), 60))
	}
	if summary[2] != "0" || summary[3] != "0" {
		t.Fatalf("JUnit failures: %s\n%s", summary[0], reports)
	}
	t.Logf("JUnit: %s", summary[0])
}

// surefireReports returns the text reports of failed JUnit classes (all of them if none failed
// is not knowable from the names, so every report that mentions a failure).
func surefireReports(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if bytes.Contains(data, []byte("FAILURE")) || bytes.Contains(data, []byte("ERROR")) {
			b.WriteString("== " + filepath.Base(f) + "\n")
			b.WriteString(tail(string(data), 80))
			b.WriteString("\n")
		}
	}
	return b.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
