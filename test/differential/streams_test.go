package differential

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/test/kafkaref"
)

// TestStreamsOracle runs the same Kafka Streams apps (test/java's StreamsOracleTest: a word
// count with a repartition topic and a windowed count, both exactly_once_v2) with the same
// input against Apache Kafka and against Samsa, and compares what they wrote: for every key
// (a word, or a user and window), every value in the order it was written. With no record
// cache, each input record yields one update, so equal histories mean equal final values and
// per-window results, and neither broker lost or duplicated an update.
func TestStreamsOracle(t *testing.T) {
	mvn, project := requireJavaProject(t)
	kb := kafkaref.Start(t)
	sb := samsatest.Start(t)
	// Both runs use the same timestamps: a recent base, so retention keeps the input.
	base := time.Now().Add(-2*time.Minute).UnixMilli() / 10_000 * 10_000

	outs := map[string]string{}
	for _, side := range []struct{ name, addr string }{{"kafka", kb.Addr}, {"samsa", sb.Addr()}} {
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		cmd := exec.CommandContext(ctx, mvn, "-o", "-B", "test", "-Dtest=StreamsOracleTest", "-Dsurefire.failIfNoSpecifiedTests=false")
		cmd.Dir = project
		cmd.Env = append(os.Environ(), "SAMSA_BOOTSTRAP="+side.addr, "STREAMS_ORACLE_OUT="+dir, fmt.Sprintf("STREAMS_ORACLE_BASE=%d", base))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Fatalf("StreamsOracleTest against %s: %v\n%s", side.name, err, tail(out.String(), 80))
		}
		if !strings.Contains(out.String(), "Tests run: 2, Failures: 0, Errors: 0, Skipped: 0") {
			t.Fatalf("StreamsOracleTest against %s did not run both apps:\n%s", side.name, tail(out.String(), 40))
		}
		for _, app := range []string{"wordcount", "windowed"} {
			b, err := os.ReadFile(filepath.Join(dir, app+".txt"))
			if err != nil {
				t.Fatalf("%s: %v", side.name, err)
			}
			outs[side.name+"/"+app] = string(b)
		}
	}
	for _, app := range []string{"wordcount", "windowed"} {
		k, s := outs["kafka/"+app], outs["samsa/"+app]
		if strings.Count(k, "\n") < 4 {
			t.Fatalf("%s: Apache Kafka's output has too few keys:\n%s", app, k)
		}
		if k != s {
			t.Errorf("%s: Samsa's output differs from Apache Kafka's:\n%s", app, lineDiff(k, s))
		} else {
			t.Logf("%s: %d keys, identical on both brokers", app, strings.Count(k, "\n"))
		}
	}
}

// streamsOracleNote ends docs/compatibility.md (writeTable): what TestStreamsOracle compares.
const streamsOracleNote = `
## Kafka Streams

TestStreamsOracle (test/differential/streams_test.go) runs the same Kafka Streams 4.1.1 apps
with the same input against Apache Kafka and against Samsa: a word count (a repartition
topic, a changelog) and a 10-second windowed count, both with ` + "`processing.guarantee=exactly_once_v2`" + `
and no record cache. It compares, for every key (a word; a user and window), every value the
output topic holds in offset order, read with read_committed: the final counts, the
per-window results and the absence of lost or duplicated updates. They are identical.
`

// requireJavaProject returns mvn and a private copy of test/java (so that this test's Maven
// runs do not share target/ with test/interop's), compiled offline. Without java, mvn or the
// project's artifacts it skips, except under CI.
func requireJavaProject(t *testing.T) (mvn, dir string) {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	for _, tool := range []string{"java", "mvn"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip("%s not installed", tool)
		}
	}
	mvn, _ = exec.LookPath("mvn")
	src, err := filepath.Abs(filepath.Join("..", "java"))
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "src"), os.DirFS(filepath.Join(src, "src"))); err != nil {
		t.Fatal(err)
	}
	pom, err := os.ReadFile(filepath.Join(src, "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pom.xml"), pom, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mvn, "-o", "-q", "-B", "test-compile")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		skip("test/java does not build offline (.ci/run runs mvn dependency:go-offline): %v\n%s", err, out)
	}
	return mvn, dir
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lineDiff lists the lines only one side has.
func lineDiff(kafka, samsa string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	k, s := in(kafka), in(samsa)
	var b strings.Builder
	for _, l := range strings.Split(kafka, "\n") {
		if !s[l] {
			fmt.Fprintf(&b, "  kafka only: %s\n", l)
		}
	}
	for _, l := range strings.Split(samsa, "\n") {
		if !k[l] {
			fmt.Fprintf(&b, "  samsa only: %s\n", l)
		}
	}
	return b.String()
}
