package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samsa-streaming/samsa/samsatest"
)

func TestTopicLifecycle(t *testing.T) {
	addr := startBroker(t)
	samsa, must := cli(t, addr), mustCLI(t, addr)

	out := must("", "topic", "create", "orders", "--partitions", "3", "--replication-factor", "1", "--config", "retention.ms=60000")
	if !strings.Contains(out, "Created topic orders (3 partitions, replication factor 1)") {
		t.Fatalf("create output: %q", out)
	}

	// Creating it again fails, unless --if-not-exists.
	_, stderr, code := samsa("", "topic", "create", "orders", "--partitions", "3")
	if code != ExitFailure || !strings.HasPrefix(stderr, "samsa: create topic orders: TOPIC_ALREADY_EXISTS") {
		t.Fatalf("duplicate create: code %d, stderr %q", code, stderr)
	}
	if out := must("", "topic", "create", "orders", "--partitions", "3", "--if-not-exists"); !strings.Contains(out, "already exists") {
		t.Fatalf("--if-not-exists output: %q", out)
	}

	// --validate-only creates nothing.
	if out := must("", "topic", "create", "ghost", "--partitions", "2", "--validate-only"); !strings.Contains(out, "not created") {
		t.Fatalf("validate-only output: %q", out)
	}
	must("", "topic", "create", "users", "--partitions", "1")

	out = must("", "topic", "list")
	want := [][]string{{"NAME", "PARTITIONS", "REPLICATION", "INTERNAL"}, {"orders", "3", "1", "false"}, {"users", "1", "1", "false"}}
	if got := fields(out); !equalRows(got, want) {
		t.Fatalf("topic list:\n%s\nwant rows %v", out, want)
	}
	var listed []topicListJSON
	if err := json.Unmarshal([]byte(must("", "topic", "list", "-o", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 2 || listed[0].Name != "orders" || listed[0].Partitions != 3 || listed[0].ReplicationFactor != 1 || listed[1].Name != "users" {
		t.Fatalf("topic list -o json: %+v", listed)
	}

	// Put records in so that describe shows end offsets.
	must("a\nb\nc\nd\n", "produce", "orders", "--partition", "1")
	out = must("", "topic", "describe", "orders")
	if !strings.Contains(out, "Topic: orders") || !strings.Contains(out, "Partitions: 3  Replication: 1") ||
		!strings.Contains(out, "Configs: retention.ms=60000") {
		t.Fatalf("describe header:\n%s", out)
	}
	rows := fields(out)
	var parts [][]string
	for i, r := range rows {
		if len(r) > 0 && r[0] == "PARTITION" {
			parts = rows[i:]
		}
	}
	wantParts := [][]string{
		{"PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE", "LOG-START", "LOG-END"},
		{"0", parts[1][1], parts[1][2], parts[1][1], parts[1][1], "-", "0", "0"},
		{"1", parts[1][1], parts[2][2], parts[1][1], parts[1][1], "-", "0", "4"},
		{"2", parts[1][1], parts[3][2], parts[1][1], parts[1][1], "-", "0", "0"},
	}
	if !equalRows(parts, wantParts) {
		t.Fatalf("describe partitions:\n%s\nwant %v", out, wantParts)
	}
	var described []topicDescribeJSON
	if err := json.Unmarshal([]byte(must("", "topic", "describe", "orders", "-o", "json")), &described); err != nil {
		t.Fatal(err)
	}
	if len(described) != 1 || len(described[0].Partitions) != 3 || described[0].Partitions[1].LogEndOffset != 4 ||
		described[0].Configs["retention.ms"] != "60000" || len(described[0].Configs) != 1 {
		t.Fatalf("describe -o json: %+v", described)
	}

	// Alter: set one config, delete another, add partitions.
	out = must("", "topic", "alter", "orders", "--config", "cleanup.policy=compact", "--delete-config", "retention.ms", "--partitions", "5")
	if !strings.Contains(out, "Altered configs of topic orders") || !strings.Contains(out, "now has 5 partitions") {
		t.Fatalf("alter output: %q", out)
	}
	described = nil
	if err := json.Unmarshal([]byte(must("", "topic", "describe", "orders", "-o", "json")), &described); err != nil {
		t.Fatal(err)
	}
	if d := described[0]; len(d.Partitions) != 5 || d.Configs["cleanup.policy"] != "compact" || d.Configs["retention.ms"] != "" {
		t.Fatalf("after alter: %+v", d)
	}
	if _, stderr, code := samsa("", "topic", "alter", "orders", "--partitions", "2"); code != ExitFailure || !strings.HasPrefix(stderr, "samsa: set partitions of topic orders to 2") {
		t.Fatalf("shrinking partitions: code %d stderr %q", code, stderr)
	}

	// Describe of a missing topic fails but still describes the others.
	out, stderr, code = samsa("", "topic", "describe", "orders", "nope")
	if code != ExitFailure || !strings.Contains(stderr, "topic nope does not exist") || !strings.Contains(out, "Topic: orders") {
		t.Fatalf("describe with missing topic: code %d out %q stderr %q", code, out, stderr)
	}

	// Delete.
	if out := must("", "topic", "delete", "orders", "users"); !strings.Contains(out, "Deleted topic orders.") || !strings.Contains(out, "Deleted topic users.") {
		t.Fatalf("delete output: %q", out)
	}
	if _, stderr, code := samsa("", "topic", "delete", "orders"); code != ExitFailure || !strings.Contains(stderr, "topic orders does not exist") {
		t.Fatalf("second delete: code %d stderr %q", code, stderr)
	}
	must("", "topic", "delete", "orders", "--if-exists")
	if got := fields(must("", "topic", "list")); len(got) != 1 {
		t.Fatalf("topics left after delete: %v", got)
	}
}

// fields splits output into lines of whitespace-separated fields.
func fields(s string) [][]string {
	var out [][]string
	for _, l := range lines(s) {
		out = append(out, strings.Fields(l))
	}
	return out
}

func equalRows(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], " ") != strings.Join(b[i], " ") {
			return false
		}
	}
	return true
}

// TestTopicIDFormat: topic ids print as Kafka's tools print them (URL-safe base64 without
// padding), the same string the broker keeps in its meta.json.
func TestTopicIDFormat(t *testing.T) {
	dir := t.TempDir()
	addr := samsatest.StartIn(t, dir).Addr()
	must := mustCLI(t, addr)
	must("", "topic", "create", "ids", "--partitions", "1")
	var described []topicDescribeJSON
	if err := json.Unmarshal([]byte(must("", "topic", "describe", "ids", "-o", "json")), &described); err != nil {
		t.Fatal(err)
	}
	var listed []topicListJSON
	if err := json.Unmarshal([]byte(must("", "topic", "list", "-o", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Topics []struct{ Name, ID string }
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, tm := range meta.Topics {
		if tm.Name == "ids" {
			want = tm.ID
		}
	}
	if len(want) != 22 || strings.ContainsAny(want, "+/=") {
		t.Fatalf("meta.json id of ids: %q", want)
	}
	if len(described) != 1 || described[0].ID != want || len(listed) != 1 || listed[0].ID != want {
		t.Fatalf("topic ids: describe %+v, list %+v, want %q", described, listed, want)
	}
}
