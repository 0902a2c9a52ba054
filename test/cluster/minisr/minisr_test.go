// Package minisr is the under-replication suite of issue 11, seen by clients and by the
// samsa CLI: four nodes (nodes 1-3 are the controller voters, so two replicas can be down
// without losing the metadata quorum) and a topic on brokers 1, 3 and 4 with
// min.insync.replicas=2. With one replica down acks=all still works; with two down acks=all
// gets NOT_ENOUGH_REPLICAS and nothing is acknowledged, acks=1 still works (Kafka's rule),
// and reads keep working from the remaining replica (up to the high watermark, which does
// not advance below min.insync.replicas); once the nodes return, everything
// converges. `samsa cluster status` and `samsa topic describe` report each state.
package minisr

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBinary()
	os.Exit(code)
}

// The JSON `samsa cluster status -o json` prints (internal/cli/cluster.go).
type partitionHealth struct {
	Topic           string  `json:"topic"`
	Partition       int32   `json:"partition"`
	Leader          int32   `json:"leader"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas"`
	MinISR          int     `json:"min_insync_replicas"`
}

type clusterStatus struct {
	ClusterID  string `json:"cluster_id"`
	Controller int32  `json:"controller"`
	Brokers    []struct {
		ID int32 `json:"id"`
	} `json:"brokers"`
	UnderReplicated []partitionHealth `json:"under_replicated"`
	UnderMinISR     []partitionHealth `json:"under_min_isr"`
	Offline         []partitionHealth `json:"offline"`
}

func samsaCLI(t *testing.T, bin string, seeds []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--brokers", strings.Join(seeds, ","), "--timeout", "20s"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("samsa %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

func status(t *testing.T, bin string, seeds []string) clusterStatus {
	t.Helper()
	var st clusterStatus
	if err := json.Unmarshal([]byte(samsaCLI(t, bin, seeds, "cluster", "status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func find(list []partitionHealth, topic string) *partitionHealth {
	for i := range list {
		if list[i].Topic == topic {
			return &list[i]
		}
	}
	return nil
}

func TestMinInsyncReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a four-node cluster")
	}
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, harness.Options{Nodes: 4, Voters: 3})
	seeds := c.Bootstrap()
	const topic, solo = "guarded", "solo"
	workload.CreateTopicAssigned(t, seeds, topic, [][]int32{{1, 3, 4}}, map[string]string{"min.insync.replicas": "2"})
	workload.CreateTopicAssigned(t, seeds, solo, [][]int32{{4}}, nil)

	st := status(t, bin, seeds)
	if len(st.Brokers) != 4 || st.Controller < 1 || len(st.UnderReplicated) != 0 || len(st.Offline) != 0 {
		t.Fatalf("a healthy cluster: %+v", st)
	}
	var desc []struct {
		Partitions []struct {
			Leader   int32   `json:"leader"`
			Replicas []int32 `json:"replicas"`
			ISR      []int32 `json:"isr"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(samsaCLI(t, bin, seeds, "topic", "describe", topic, "-o", "json")), &desc); err != nil {
		t.Fatal(err)
	}
	if p := desc[0].Partitions[0]; p.Leader != 1 || !slices.Equal(p.Replicas, []int32{1, 3, 4}) || len(p.ISR) != 3 {
		t.Fatalf("topic describe: %+v", desc)
	}

	leader := c.Node(1).KafkaAddr
	var acked []history.Ack
	sent := map[string]bool{}
	produce := func(acks int16, v string) (*int16, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		sent[v] = true
		code, err := workload.ProduceOne(ctx, leader, topic, 0, acks, v)
		if err == nil && *code == 0 {
			acked = append(acked, history.Ack{Topic: topic, Partition: 0, Offset: -1, Value: v})
		}
		return code, err
	}
	mustAck := func(acks int16, v string) {
		t.Helper()
		if code, err := produce(acks, v); err != nil || *code != 0 {
			t.Fatalf("%s with acks=%d: %v %v", v, acks, errorOf(code), err)
		}
	}
	isr := func(want ...int32) {
		t.Helper()
		workload.WaitPartitions(t, seeds, topic, time.Minute, fmt.Sprintf("the ISR is %v", want),
			func(p kadm.PartitionDetail) bool {
				got := slices.Clone(p.ISR)
				slices.Sort(got)
				return p.Leader == 1 && slices.Equal(got, want)
			})
	}
	mustAck(-1, "all-3-up")

	// One replica down: the ISR shrinks to two, acks=all still works.
	c.Node(4).Kill()
	isr(1, 3)
	mustAck(-1, "one-down")
	st = status(t, bin, seeds)
	if p := find(st.UnderReplicated, topic); p == nil || !slices.Equal(p.OfflineReplicas, []int32{4}) || p.MinISR != 2 {
		t.Errorf("cluster status with node 4 down, %s: %+v", topic, st)
	}
	if find(st.UnderMinISR, topic) != nil {
		t.Errorf("%s is not under min ISR with two of three in sync: %+v", topic, st)
	}
	if p := find(st.Offline, solo); p == nil || p.Leader >= 0 {
		t.Errorf("%s, whose only replica is down, is not reported offline: %+v", solo, st)
	}

	// Two replicas down: acks=all is refused with NOT_ENOUGH_REPLICAS, never acknowledged.
	c.Node(3).Kill()
	isr(1)
	for i := range 5 {
		code, err := produce(-1, fmt.Sprintf("two-down-%d", i))
		switch {
		case err != nil:
			t.Errorf("acks=all with two replicas down: %v, want NOT_ENOUGH_REPLICAS", err)
		case *code == 0:
			t.Errorf("acks=all was acknowledged with one in-sync replica of three (min.insync.replicas=2)")
		case *code != kerr.NotEnoughReplicas.Code:
			t.Errorf("acks=all with two replicas down: %v, want NOT_ENOUGH_REPLICAS", errorOf(code))
		}
	}
	// min.insync.replicas binds acks=all only: acks=1 is taken. It stays invisible to readers
	// while the ISR is below min.insync.replicas (the high watermark does not advance then,
	// as with KIP-966's strict min ISR), and shows once the replicas are back.
	if code, err := produce(1, "acks-1-two-down"); err != nil || *code != 0 {
		t.Fatalf("acks=1 with two replicas down: %v %v", errorOf(code), err)
	}
	acks1 := acked[len(acked)-1]
	acked = acked[:len(acked)-1]
	st = status(t, bin, seeds)
	if p := find(st.UnderMinISR, topic); p == nil || !slices.Equal(p.ISR, []int32{1}) {
		t.Errorf("cluster status with nodes 3 and 4 down does not list %s under min ISR: %+v", topic, st)
	}
	// Reads keep working from the remaining replica.
	log := workload.ReadAll(t, seeds, topic)
	if err := history.Check(acked, log, sent).Err(); err != nil {
		t.Fatalf("reading from the last replica: %v", err)
	}

	// Both return: they catch up, rejoin the ISR, and acks=all works again.
	c.Node(3).Start()
	c.Node(4).Start()
	isr(1, 3, 4)
	mustAck(-1, "all-back")
	acked = append(acked, acks1)
	st = status(t, bin, seeds)
	if len(st.UnderReplicated) != 0 || len(st.Offline) != 0 || len(st.UnderMinISR) != 0 {
		t.Errorf("cluster status after the nodes returned: %+v", st)
	}
	log = workload.ReadAll(t, seeds, topic)
	if err := history.Check(acked, log, sent).Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range log {
		if strings.HasPrefix(r.Value, "two-down-") {
			t.Errorf("%s, refused with NOT_ENOUGH_REPLICAS, is in the log at %d", r.Value, r.Offset)
		}
	}
	hws := workload.HighWatermarks(t, seeds, topic)
	dirs := map[int32]string{}
	for _, id := range []int32{1, 3, 4} {
		c.Node(id).Kill()
		dirs[id] = c.Node(id).DataDir
	}
	workload.CompareReplicas(t, dirs, topic, hws)
}

func errorOf(code *int16) error {
	if code == nil {
		return nil
	}
	return kerr.ErrorForCode(*code)
}

// TestReplaceDeadBroker is docs/cluster.md's "How to replace a dead node" for a broker that
// is not a controller voter: node 4 dies with its disk (its data directory is deleted), a
// new machine starts with the same --node-id and flags and an empty directory; it
// registers, copies every partition it is assigned from the leaders, and rejoins the ISRs;
// nothing acknowledged is lost, and its copy matches the others byte for byte.
func TestReplaceDeadBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a four-node cluster")
	}
	c := harness.Start(t, harness.Options{Nodes: 4, Voters: 3})
	seeds := c.Bootstrap()
	const topic = "replaced"
	workload.CreateTopicAssigned(t, seeds, topic, [][]int32{{1, 4, 2}, {4, 2, 3}}, map[string]string{"min.insync.replicas": "2"})
	rec := history.NewRecorder()
	prod := workload.StartFranz(t, workload.Client{Seeds: seeds, Rec: rec}, "franz", topic, 5*time.Millisecond)
	workload.WaitAcked(t, rec, 300, time.Minute)

	dead := c.Node(4)
	dead.Kill()
	if err := os.RemoveAll(dead.DataDir); err != nil {
		t.Fatal(err)
	}
	workload.WaitPartitions(t, seeds, topic, time.Minute, "node 4 leaves every ISR, partition 1 gets another leader",
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && p.Leader != 4 && !slices.Contains(p.ISR, 4) })
	workload.WaitAcked(t, rec, rec.AckedCount()+300, time.Minute)

	dead.Start() // the replacement: same flags, empty data directory
	workload.WaitPartitions(t, seeds, topic, 2*time.Minute, "the replacement is back in every ISR",
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
	workload.WaitAcked(t, rec, rec.AckedCount()+300, time.Minute)
	if err := prod.Stop(); err != nil {
		t.Fatal(err)
	}
	if errs := prod.NonRetriable(); len(errs) > 0 {
		t.Errorf("%s: %v", prod.Summary(), errs)
	}
	acked, _, sent, _ := rec.Snapshot()
	if err := history.Check(acked, workload.ReadAll(t, seeds, topic), sent).Err(); err != nil {
		t.Fatal(err)
	}
	hws := workload.HighWatermarks(t, seeds, topic)
	for p, replicas := range map[int32][]int32{0: {1, 4, 2}, 1: {4, 2, 3}} {
		dirs := map[int32]string{}
		for _, id := range replicas {
			dirs[id] = c.Node(id).DataDir
		}
		for _, n := range c.Nodes {
			if n.Running() {
				n.Kill()
			}
		}
		workload.CompareReplicas(t, dirs, topic, map[int32]int64{p: hws[p]})
	}
}
