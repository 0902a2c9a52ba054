package interop

// kafka-python 2.0 (Debian's python3-kafka), one of the older clients the broker must keep
// serving: it negotiates old protocol versions. Driven through
// test/python/kafka_python_interop.py with Debian's /usr/bin/python3; a missing package skips,
// except under CI where it fails.

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

const debianPython = "/usr/bin/python3"

func requireKafkaPython(t *testing.T) {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import kafka").Run(); err != nil {
		if inCI() {
			t.Fatalf("python3-kafka not importable by %s; .ci/run must install it: %v", debianPython, err)
		}
		t.Skipf("python3-kafka not installed: %v", err)
	}
}

func TestKafkaPython(t *testing.T) {
	t.Parallel()
	requireKafkaPython(t)
	addr := startBroker(t)
	script, err := filepath.Abs(filepath.Join("..", "python", "kafka_python_interop.py"))
	if err != nil {
		t.Fatal(err)
	}
	topic, group := uniqueName("kpy"), uniqueName("kpy-group")
	ctx := testCtx(t, 90*time.Second)
	cmd := exec.CommandContext(ctx, debianPython, script, addr, topic, group)
	outb, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("kafka-python script: %v\n%s", err, stderr)
	}
	var out struct {
		RetentionMs *string          `json:"retention_ms"`
		Topics      []string         `json:"topics"`
		Acked       [][2]int64       `json:"acked"`
		Consumed    [][4]any         `json:"consumed"`
		Committed   map[string]int64 `json:"committed"`
	}
	if err := json.Unmarshal(outb, &out); err != nil {
		t.Fatalf("script output %q: %v", outb, err)
	}
	if out.RetentionMs == nil || *out.RetentionMs != "3600000" {
		t.Errorf("describe_configs retention.ms = %v, want 3600000", out.RetentionMs)
	}
	if i := sort.SearchStrings(out.Topics, topic); i == len(out.Topics) || out.Topics[i] != topic {
		t.Errorf("list_topics %v lacks %s", out.Topics, topic)
	}
	if len(out.Acked) != 100 {
		t.Fatalf("%d acks, want 100", len(out.Acked))
	}
	if len(out.Consumed) != 100 {
		t.Fatalf("consumed %d records, want 100", len(out.Consumed))
	}
	// Every acknowledged (partition, offset) is consumed with the value it was sent with.
	byPos := map[string]string{}
	perPart := map[string]int64{}
	for _, c := range out.Consumed {
		key := fmt.Sprintf("%v/%v", c[0], c[1])
		byPos[key] = fmt.Sprint(c[3])
		p := fmt.Sprint(c[0])
		perPart[p]++
	}
	for i, a := range out.Acked {
		key := fmt.Sprintf("%d/%d", a[0], a[1])
		if want := fmt.Sprintf("value-%d", i); byPos[key] != want {
			t.Errorf("record %d acked at %s: consumed %q, want %q", i, key, byPos[key], want)
		}
	}
	// The committed offset of each partition is the number of records consumed from it.
	for p, n := range perPart {
		if out.Committed[p] != n {
			t.Errorf("partition %s: committed %d, consumed %d", p, out.Committed[p], n)
		}
	}
	// The batches are stored as kafka-python sent them: gzip, except that kafka-python (like
	// librdkafka) sends a batch uncompressed when gzip would not make it smaller, which happens
	// to a batch of one short record when the producer's linger splits the stream under load
	// (kafka/record/default_records.py, _maybe_compress).
	_, codecs := readAll(t, addr, topic)
	assertMostlyCodec(t, "gzip", codecs)
}
