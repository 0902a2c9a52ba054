package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestClusterStatusSingleNode: one broker shows as a cluster of one, controller itself,
// every partition healthy; -o json carries the same.
func TestClusterStatusSingleNode(t *testing.T) {
	addr := startBroker(t)
	must := mustCLI(t, addr)
	must("", "topic", "create", "health", "--partitions", "2", "--replication-factor", "1")

	var st clusterStatusJSON
	if err := json.Unmarshal([]byte(must("", "cluster", "status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Brokers) != 1 || st.ClusterID == "" || st.Controller != st.Brokers[0].ID || !st.Brokers[0].Controller {
		t.Fatalf("status: %+v", st)
	}
	if st.Topics < 1 || st.Partitions < 2 || len(st.UnderReplicated) != 0 || len(st.Offline) != 0 || len(st.UnderMinISR) != 0 {
		t.Fatalf("a healthy single node: %+v", st)
	}
	out := must("", "cluster", "status")
	for _, want := range []string{"Cluster: " + st.ClusterID, "Brokers: 1", "Under-replicated: 0  Under min ISR: 0  Offline: 0"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status lacks %q:\n%s", want, out)
		}
	}
	rows := fields(out)
	if !equalRows(rows[1:3], [][]string{{"BROKER", "ADDRESS", "RACK", "CONTROLLER"}, {itoa(st.Brokers[0].ID), addr, "-", "yes"}}) {
		t.Fatalf("broker table:\n%s", out)
	}
}

// TestTopicCreateReplicaAssignment: an explicit assignment on the one broker creates the
// partitions it lists; malformed assignments are usage errors; an assignment naming an
// unknown broker is refused by the broker.
func TestTopicCreateReplicaAssignment(t *testing.T) {
	addr := startBroker(t)
	samsa, must := cli(t, addr), mustCLI(t, addr)
	var st clusterStatusJSON
	if err := json.Unmarshal([]byte(must("", "cluster", "status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	id := itoa(st.Brokers[0].ID)
	out := must("", "topic", "create", "pinned", "--replica-assignment", id+","+id+","+id)
	if !strings.Contains(out, "Created topic pinned (3 partitions, replicas "+id+","+id+","+id+")") {
		t.Fatalf("create: %q", out)
	}
	var described []topicDescribeJSON
	if err := json.Unmarshal([]byte(must("", "topic", "describe", "pinned", "-o", "json")), &described); err != nil {
		t.Fatal(err)
	}
	if len(described) != 1 || len(described[0].Partitions) != 3 {
		t.Fatalf("describe: %+v", described)
	}
	for _, p := range described[0].Partitions {
		if len(p.Replicas) != 1 || itoa(p.Replicas[0]) != id || itoa(p.Leader) != id {
			t.Fatalf("partition %+v, want replicas [%s]", p, id)
		}
	}
	for _, bad := range [][]string{
		{"--replica-assignment", "1:x"},
		{"--replica-assignment", "1:1"},
		{"--replica-assignment", "1:2,1"},
		{"--replica-assignment", "1", "--partitions", "2"},
	} {
		_, stderr, code := samsa("", append([]string{"topic", "create", "bad"}, bad...)...)
		if code != ExitUsage || !strings.Contains(stderr, "replica-assignment") {
			t.Fatalf("%v: exit %d, stderr %q", bad, code, stderr)
		}
	}
	_, stderr, code := samsa("", "topic", "create", "nowhere", "--replica-assignment", "4242")
	if code != ExitFailure || !strings.Contains(stderr, "create topic nowhere:") {
		t.Fatalf("unknown broker: exit %d, stderr %q", code, stderr)
	}
}
