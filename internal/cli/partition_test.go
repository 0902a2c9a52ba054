package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePlan(t *testing.T) {
	ok := `{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1,2,3],"log_dirs":["any","any","any"]},{"topic":"a","partition":1,"replicas":[2]}]}`
	ps, err := parsePlan([]byte(ok))
	if err != nil || len(ps) != 2 || ps[0].Topic != "a" || len(ps[0].Replicas) != 3 || ps[1].Partition != 1 {
		t.Fatalf("parse %s: %+v %v", ok, ps, err)
	}
	for bad, why := range map[string]string{
		`{"version":2,"partitions":[{"topic":"a","partition":0,"replicas":[1]}]}`:                                            "version",
		`{"version":1,"partitions":[]}`:                                                                                      "no partitions",
		`{"version":1,"partitions":[{"topic":"","partition":0,"replicas":[1]}]}`:                                             "without a topic",
		`{"version":1,"partitions":[{"topic":"a","partition":-1,"replicas":[1]}]}`:                                           "negative",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[]}]}`:                                             "no replicas",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}`: "twice",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":["/data"]}]}`:                       "not supported",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":["any","any"]}]}`:                   "log_dirs",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replica":[1]}]}`:                                             "unknown field",
		`not json`: "invalid",
	} {
		if _, err := parsePlan([]byte(bad)); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("parse %s: %v, want an error about %q", bad, err, why)
		}
	}
}

// FuzzParsePlan: no input crashes the plan parser, and an accepted plan names each partition
// once, with replicas.
func FuzzParsePlan(f *testing.F) {
	f.Add([]byte(`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1,2,3]}]}`))
	f.Add([]byte(`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":["any"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := parsePlan(data)
		if err != nil {
			return
		}
		seen := map[partKey]bool{}
		for _, p := range ps {
			k := partKey{p.Topic, p.Partition}
			if seen[k] || len(p.Replicas) == 0 || p.Topic == "" || p.Partition < 0 {
				t.Fatalf("accepted %q: %+v", data, ps)
			}
			seen[k] = true
		}
	})
}

// TestPartitionReassignSingleNode: against one broker, the commands answer as a one-broker
// Kafka cluster would: no move in progress, moving to another broker refused with the
// broker's reason, nothing to balance; decommissioning the only broker is infeasible.
func TestPartitionReassignSingleNode(t *testing.T) {
	addr := startBroker(t)
	samsa, must := cli(t, addr), mustCLI(t, addr)
	must("", "topic", "create", "moves", "--partitions", "2", "--replication-factor", "1")
	if out := must("", "partition", "reassign", "--status"); !strings.Contains(out, "No reassignment in progress.") {
		t.Fatalf("status: %q", out)
	}
	if out := must("", "partition", "reassign", "--status", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("status json: %q", out)
	}
	out, errOut, code := samsa("", "partition", "reassign", "--topic", "moves", "--partition", "0", "--replicas", "77")
	if code != ExitFailure || !strings.Contains(out, "INVALID_REPLICA_ASSIGNMENT") || !strings.Contains(errOut, "1 of 1 partitions refused") {
		t.Fatalf("move to an unknown broker: %d %q %q", code, out, errOut)
	}
	out, _, code = samsa("", "partition", "reassign", "--cancel", "--topic", "moves", "--partition", "1")
	if code != ExitFailure || !strings.Contains(out, "NO_REASSIGNMENT_IN_PROGRESS") {
		t.Fatalf("cancel: %d %q", code, out)
	}
	plan := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(plan, []byte(`{"version":1,"partitions":[{"topic":"moves","partition":0,"replicas":[1,2]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, code := samsa("", "partition", "reassign", "--plan", plan); code != ExitFailure {
		t.Fatalf("a plan naming unknown brokers: exit %d", code)
	}
	if _, _, code := samsa("", "partition", "reassign"); code != ExitUsage {
		t.Fatalf("nothing named: exit %d, want usage", code)
	}
	if out := must("", "partition", "balance"); !strings.Contains(out, "Nothing to move.") {
		t.Fatalf("balance: %q", out)
	}
	if out := must("", "partition", "balance", "-o", "json"); !strings.Contains(out, `"partitions":[]`) {
		t.Fatalf("balance json: %q", out)
	}
	var st clusterStatusJSON
	if err := json.Unmarshal([]byte(must("", "cluster", "status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := samsa("", "broker", "decommission", "99"); code != ExitFailure || !strings.Contains(errOut, "not registered and holds no replica") {
		t.Fatalf("decommission an unknown broker: %d %q", code, errOut)
	}
	if _, errOut, code := samsa("", "broker", "decommission", itoa(st.Brokers[0].ID), "--dry-run"); code != ExitFailure || !strings.Contains(errOut, "infeasible") {
		t.Fatalf("decommission the only broker: %d %q", code, errOut)
	}
}
