package javaops

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/history"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

// Kafka 4.1.1's tool main classes (what bin/kafka-*.sh run).
const (
	topicsTool   = "org.apache.kafka.tools.TopicCommand"
	reassignTool = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
	electionTool = "org.apache.kafka.tools.LeaderElectionCommand"
	logDirsTool  = "org.apache.kafka.tools.LogDirsCommand"
	quorumTool   = "org.apache.kafka.tools.MetadataQuorumCommand"
)

// plan is the reassignment JSON kafka-reassign-partitions reads and prints.
type plan struct {
	Version    int            `json:"version"`
	Partitions []planReplicas `json:"partitions"`
}

type planReplicas struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs,omitempty"`
}

// TestKafkaToolsOnCluster drives a four-node cluster (three voters) with Apache Kafka's own
// command-line tools while the reference Java producer writes with acks=all:
//
//  1. kafka-topics --create places a topic with RF 3 on brokers 1-3;
//  2. kafka-reassign-partitions --generate proposes moving it onto brokers 2-4, --execute
//     starts the move, --verify reports it until every partition is complete; Metadata and
//     ListPartitionReassignments agree (replicas as planned, full ISRs, nothing moving);
//  3. a second move whose new replica is down (killed) stays in progress (--verify says so,
//     ListPartitionReassignments lists it) and kafka-reassign-partitions --cancel puts the
//     partition back on its original replicas;
//  4. a broker restarted with SIGTERM gives up its leaderships (automatic rebalancing is
//     off); kafka-leader-election --election-type PREFERRED gives them back;
//  5. kafka-topics --describe shows the leaders and ISRs Metadata shows, across brokers;
//     kafka-log-dirs --describe lists on each broker exactly its replicas;
//     kafka-metadata-quorum cannot describe the quorum (Samsa's metadata quorum is etcd,
//     not KRaft: DescribeQuorum is not served) and says so.
//
// Every record the producer was told is acknowledged is read back: none lost or duplicated.
func TestKafkaToolsOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a four-node cluster")
	}
	cp := requireJava(t)
	props := filepath.Join(t.TempDir(), "server.properties")
	// Leadership stays where a restart left it until kafka-leader-election moves it.
	if err := os.WriteFile(props, []byte("auto.leader.rebalance.enable=false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, harness.Options{Nodes: 4, ExtraArgs: func(int32) []string { return []string{"--config", props} }})
	seeds := c.Bootstrap()
	bs := strings.Join(seeds, ",")
	dir := t.TempDir()
	const topic = "tools"

	// 1. kafka-topics --create with an explicit placement on brokers 1-3.
	r := mustTool(t, cp, "kafka-topics --create", topicsTool, "--bootstrap-server", bs, "--create", "--topic", topic,
		"--replica-assignment", "1:2:3,2:3:1,3:1:2", "--config", "min.insync.replicas=2")
	if !strings.Contains(r.Out, "Created topic "+topic) {
		t.Fatalf("kafka-topics --create: %s", r)
	}
	workload.WaitPartitions(t, seeds, topic, time.Minute, "every partition led, full ISR",
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
	rec := history.NewRecorder()
	producer := startJavaProducer(t, cp, seeds, topic, "java", 5*time.Millisecond, rec)
	producer.awaitAcked(t, 200, 2*time.Minute)

	// 2. --generate, --execute, --verify: every replica on broker 1 moves to broker 4.
	topicsJSON := filepath.Join(dir, "topics.json")
	writeFile(t, topicsJSON, `{"version":1,"topics":[{"topic":"`+topic+`"}]}`)
	r = mustTool(t, cp, "kafka-reassign-partitions --generate", reassignTool, "--bootstrap-server", bs, "--generate",
		"--topics-to-move-json-file", topicsJSON, "--broker-list", "2,3,4")
	current := planAfter(t, r.Out, "Current partition replica assignment")
	proposed := planAfter(t, r.Out, "Proposed partition reassignment configuration")
	t.Logf("kafka-reassign-partitions --generate:\n%s", r.Out)
	if len(current.Partitions) != 3 || len(proposed.Partitions) != 3 {
		t.Fatalf("--generate: want 3 partitions in each plan:\n%s", r.Out)
	}
	for _, p := range proposed.Partitions {
		if !slices.Equal(sorted(p.Replicas), []int32{2, 3, 4}) {
			t.Fatalf("--generate proposed %v for partition %d, not brokers 2, 3, 4:\n%s", p.Replicas, p.Partition, r.Out)
		}
	}
	for _, p := range current.Partitions {
		if want := [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}[p.Partition]; !slices.Equal(p.Replicas, want) {
			t.Fatalf("--generate shows partition %d on %v, created on %v", p.Partition, p.Replicas, want)
		}
	}
	planJSON := filepath.Join(dir, "plan.json")
	writePlan(t, planJSON, proposed)
	before := rec.AckedCount()
	r = mustTool(t, cp, "kafka-reassign-partitions --execute", reassignTool, "--bootstrap-server", bs, "--execute",
		"--reassignment-json-file", planJSON)
	if !strings.Contains(r.Out, "Successfully started partition reassignment") {
		t.Fatalf("--execute: %s", r)
	}
	testwait.Until(t, 2*time.Minute, "kafka-reassign-partitions --verify reports every partition complete", func() (bool, string) {
		r := runTool(t, cp, reassignTool, "--bootstrap-server", bs, "--verify", "--reassignment-json-file", planJSON)
		if r.Exit != 0 {
			return false, r.String()
		}
		for p := range 3 {
			if !strings.Contains(r.Out, fmt.Sprintf("Reassignment of partition %s-%d is completed", topic, p)) {
				return false, r.Out
			}
		}
		t.Logf("kafka-reassign-partitions --verify:\n%s", r.Out)
		return true, ""
	})
	ps := workload.WaitPartitions(t, seeds, topic, time.Minute, "replicas as planned, full ISRs", func(p kadm.PartitionDetail) bool {
		return slices.Equal(p.Replicas, replicasOf(proposed, p.Partition)) && len(p.ISR) == 3 && p.Leader >= 0
	})
	t.Logf("after the move: %s", workload.Describe(ps))
	if m := listMoves(t, seeds, topic, 3); len(m) != 0 {
		t.Fatalf("ListPartitionReassignments after --verify completed: %v", m)
	}
	workload.WaitAcked(t, rec, before+300, time.Minute)

	// 3. A move in flight, cancelled. Its new replica x is killed just before the move
	// starts (still registered: its lease lasts 6 s), so it cannot catch up. x is not the
	// controller, which the tool's AlterPartitionReassignments goes to.
	cancelMove(t, cp, c, seeds, dir)
	workload.WaitAcked(t, rec, rec.AckedCount()+200, time.Minute)

	// 4. A broker restarted with SIGTERM hands its leaderships over; kafka-leader-election
	// gives them back to the preferred replicas.
	restarted := ps.Sorted()[0].Replicas[0] // partition 0's preferred leader
	n := c.Node(restarted)
	if err := n.Terminate(time.Minute); err != nil {
		t.Fatalf("node %d exited with %v after SIGTERM", n.ID, err)
	}
	n.Start()
	workload.WaitPartitionsEverywhere(t, seeds, topic, 2*time.Minute, fmt.Sprintf("broker %d back in every ISR", restarted),
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
	ps = workload.WaitPartitions(t, seeds, topic, time.Minute, "every partition led, full ISR",
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
	t.Logf("after broker %d's restart: %s", restarted, workload.Describe(ps))
	var notPreferred []string
	for _, p := range ps.Sorted() {
		if p.Leader != p.Replicas[0] {
			notPreferred = append(notPreferred, fmt.Sprintf("%s-%d", topic, p.Partition))
		}
	}
	if len(notPreferred) == 0 {
		t.Fatalf("broker %d leads its preferred partitions again without an election: %s", restarted, workload.Describe(ps))
	}
	r = mustTool(t, cp, "kafka-leader-election", electionTool, "--bootstrap-server", bs,
		"--election-type", "PREFERRED", "--all-topic-partitions")
	t.Logf("kafka-leader-election --election-type PREFERRED --all-topic-partitions:\n%s", r.Out)
	if !strings.Contains(r.Out, "Successfully completed leader election (PREFERRED) for partitions") {
		t.Fatalf("kafka-leader-election: %s", r)
	}
	for _, tp := range notPreferred {
		if !strings.Contains(r.Out, tp) {
			t.Fatalf("kafka-leader-election did not elect %s: %s", tp, r)
		}
	}
	ps = workload.WaitPartitions(t, seeds, topic, 30*time.Second, "every partition led by its preferred replica",
		func(p kadm.PartitionDetail) bool { return p.Leader == p.Replicas[0] && len(p.ISR) == 3 })
	workload.WaitAcked(t, rec, rec.AckedCount()+200, time.Minute)

	// 5. kafka-topics --describe shows what Metadata shows.
	r = mustTool(t, cp, "kafka-topics --describe", topicsTool, "--bootstrap-server", bs, "--describe", "--topic", topic)
	t.Logf("kafka-topics --describe:\n%s", r.Out)
	described := parseDescribe(t, r.Out, topic)
	leaders := map[int32]bool{}
	for _, p := range ps {
		d, ok := described[p.Partition]
		if !ok || d.leader != p.Leader || !slices.Equal(d.replicas, p.Replicas) || !slices.Equal(sorted(d.isr), sorted(p.ISR)) {
			t.Fatalf("kafka-topics --describe shows partition %d as %+v; Metadata: %s", p.Partition, d, workload.Describe(ps))
		}
		leaders[p.Leader] = true
	}
	if len(leaders) < 2 {
		t.Fatalf("every partition led by one broker: %s", workload.Describe(ps))
	}

	// The producer stops here, so the replicas' sizes settle for kafka-log-dirs.
	if err := producer.Stop(); err != nil {
		t.Fatalf("stopping the Java producer: %v", err)
	}
	t.Log(producer.Summary())
	if errs := producer.NonRetriable(); len(errs) > 0 {
		t.Errorf("the Java producer saw errors that are not retriable: %v", errs)
	}

	// kafka-log-dirs --describe: each broker lists exactly its replicas, of one size.
	testwait.Until(t, time.Minute, "kafka-log-dirs lists on each broker its replicas, each partition at one size", func() (bool, string) {
		r := mustTool(t, cp, "kafka-log-dirs --describe", logDirsTool, "--bootstrap-server", bs, "--describe",
			"--broker-list", "1,2,3,4", "--topic-list", topic)
		held, sizes := parseLogDirs(t, r.Out)
		for _, id := range []int32{1, 2, 3, 4} {
			var want []string
			for _, p := range ps.Sorted() {
				if slices.Contains(p.Replicas, id) {
					want = append(want, fmt.Sprintf("%s-%d", topic, p.Partition))
				}
			}
			if !slices.Equal(held[id], want) {
				return false, fmt.Sprintf("broker %d lists %v, its replicas are %v:\n%s", id, held[id], want, r.Out)
			}
		}
		for tp, s := range sizes {
			if len(s) != 3 || slices.Min(s) != slices.Max(s) || s[0] == 0 {
				return false, fmt.Sprintf("%s: sizes %v\n%s", tp, s, r.Out)
			}
		}
		t.Logf("kafka-log-dirs --describe:\n%s", r.Out)
		return true, ""
	})

	// kafka-metadata-quorum: Samsa's controller quorum is etcd's Raft, not KRaft, and it does
	// not serve DescribeQuorum (API 55): the tool says the brokers do not support it.
	r = runTool(t, cp, quorumTool, "--bootstrap-server", bs, "describe", "--status")
	t.Logf("kafka-metadata-quorum describe --status: %s", r)
	if r.Exit == 0 || !strings.Contains(r.Out+r.Stderr, "UnsupportedVersionException") {
		t.Fatalf("kafka-metadata-quorum describe --status: want a refusal (UnsupportedVersionException), got %s", r)
	}
	if _, err := harness.BrokerIDs(seeds[0]); err != nil {
		t.Fatalf("broker 1 after kafka-metadata-quorum: %v", err)
	}

	acked, _, sent, _ := rec.Snapshot()
	log := workload.ReadAll(t, seeds, topic)
	res := history.Check(acked, log, sent)
	t.Logf("%d acknowledged; the log holds %d records", res.Acked, len(log))
	if err := res.Err(); err != nil {
		t.Fatalf("the log after the tools' moves and elections: %v", err)
	}
}

// cancelMove starts, with kafka-reassign-partitions, a move whose new replica is a killed
// broker, sees it in progress, and cancels it with --cancel.
func cancelMove(t *testing.T, cp string, c *harness.Cluster, seeds []string, dir string) {
	t.Helper()
	const topic = "tools-cancel"
	bs := strings.Join(seeds, ",")
	x := nonController(t, c)
	var others []int32
	for _, n := range c.Nodes {
		if n.ID != x && len(others) < 2 {
			others = append(others, n.ID)
		}
	}
	mustTool(t, cp, "kafka-topics --create", topicsTool, "--bootstrap-server", bs, "--create", "--topic", topic,
		"--replica-assignment", fmt.Sprintf("%d:%d", others[0], others[1]))
	workload.WaitPartitions(t, seeds, topic, time.Minute, topic+" led, full ISR",
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 2 })
	target := []int32{others[0], others[1], x}
	planJSON := filepath.Join(dir, "cancel.json")
	writePlan(t, planJSON, plan{Version: 1, Partitions: []planReplicas{{Topic: topic, Partition: 0, Replicas: target}}})
	var live []string
	for _, n := range c.Nodes {
		if n.ID != x {
			live = append(live, n.KafkaAddr)
		}
	}
	liveBS := strings.Join(live, ",")

	// The tool must start the move within broker x's lease after its kill; on a loaded
	// machine it may not, and the move is then refused (x is no longer registered): x is
	// restarted and the step tried again.
	for attempt := 1; ; attempt++ {
		c.Node(x).Kill()
		r := runTool(t, cp, reassignTool, "--bootstrap-server", liveBS, "--execute", "--reassignment-json-file", planJSON)
		if r.Exit == 0 && strings.Contains(r.Out, "Successfully started partition reassignment") {
			break
		}
		if attempt == 3 {
			t.Fatalf("kafka-reassign-partitions --execute onto killed broker %d, 3 attempts: %s", x, r)
		}
		t.Logf("attempt %d: --execute onto broker %d after its kill was refused (lease lapsed first?): %s", attempt, x, r)
		c.Node(x).Start()
	}
	moving := listMoves(t, seeds, topic, 1)
	m, ok := moving[topic][0]
	if !ok || !slices.Equal(m.AddingReplicas, []int32{x}) || len(m.RemovingReplicas) != 0 {
		t.Fatalf("ListPartitionReassignments while broker %d is down: %+v", x, moving)
	}
	r := mustTool(t, cp, "kafka-reassign-partitions --verify", reassignTool, "--bootstrap-server", liveBS, "--verify",
		"--reassignment-json-file", planJSON)
	if !strings.Contains(r.Out, fmt.Sprintf("Reassignment of partition %s-0 is still in progress", topic)) {
		t.Fatalf("--verify of a move onto a dead broker: %s", r)
	}
	// --preserve-throttles: the tool would otherwise clear the throttle rates on every broker
	// of the plan, the dead one included, and time out on it (as against Kafka).
	r = mustTool(t, cp, "kafka-reassign-partitions --cancel", reassignTool, "--bootstrap-server", liveBS, "--cancel",
		"--preserve-throttles", "--reassignment-json-file", planJSON)
	t.Logf("kafka-reassign-partitions --cancel:\n%s", r.Out)
	if !strings.Contains(r.Out, "Successfully cancelled partition reassignment") {
		t.Fatalf("--cancel: %s", r)
	}
	ps := workload.WaitPartitions(t, seeds, topic, time.Minute, topic+" back on its replicas", func(p kadm.PartitionDetail) bool {
		return slices.Equal(p.Replicas, others) && p.Leader >= 0
	})
	t.Logf("after --cancel: %s", workload.Describe(ps))
	if m := listMoves(t, seeds, topic, 1); len(m) != 0 {
		t.Fatalf("ListPartitionReassignments after --cancel: %v", m)
	}
	c.Node(x).Start()
	workload.WaitPartitionsEverywhere(t, seeds, "tools", 2*time.Minute, fmt.Sprintf("broker %d back in every ISR", x),
		func(p kadm.PartitionDetail) bool { return p.Leader >= 0 && len(p.ISR) == 3 })
}

// nonController returns the highest-numbered broker that is not the controller Metadata names.
func nonController(t *testing.T, c *harness.Cluster) int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		if c.Nodes[i].ID != md.Controller {
			return c.Nodes[i].ID
		}
	}
	t.Fatal("no broker but the controller")
	return 0
}

// listMoves returns the reassignments ListPartitionReassignments lists for partitions 0..n-1
// of topic.
func listMoves(t *testing.T, seeds []string, topic string, n int32) kadm.ListPartitionReassignmentsResponses {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	set := kadm.TopicsSet{}
	for p := range n {
		set.Add(topic, p)
	}
	res, err := adm.ListPartitionReassignments(ctx, set)
	if err != nil {
		t.Fatalf("ListPartitionReassignments: %v", err)
	}
	return res
}

// planAfter parses the JSON plan on the first non-empty line after header in out.
func planAfter(t *testing.T, out, header string) plan {
	t.Helper()
	_, rest, ok := strings.Cut(out, header)
	if !ok {
		t.Fatalf("no %q in:\n%s", header, out)
	}
	for _, line := range strings.Split(rest, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		var p plan
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("%s: %v in %q", header, err, line)
		}
		return p
	}
	t.Fatalf("no plan after %q in:\n%s", header, out)
	return plan{}
}

func replicasOf(p plan, partition int32) []int32 {
	for _, pr := range p.Partitions {
		if pr.Partition == partition {
			return pr.Replicas
		}
	}
	return nil
}

func writePlan(t *testing.T, path string, p plan) {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(b))
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// described is one partition line of kafka-topics --describe.
type described struct {
	leader        int32
	replicas, isr []int32
}

// parseDescribe reads kafka-topics --describe's partition lines of topic:
// "Topic: t<TAB>Partition: 0<TAB>Leader: 2<TAB>Replicas: 2,3,4<TAB>Isr: 2,3,4<TAB>...".
func parseDescribe(t *testing.T, out, topic string) map[int32]described {
	t.Helper()
	res := map[int32]described{}
	for _, line := range strings.Split(out, "\n") {
		fields := map[string]string{}
		for _, f := range strings.Split(strings.TrimSpace(line), "\t") {
			if k, v, ok := strings.Cut(f, ": "); ok {
				fields[k] = strings.TrimSpace(v)
			} else if k, ok := strings.CutSuffix(f, ":"); ok {
				fields[k] = ""
			}
		}
		part, ok := fields["Partition"]
		if !ok || fields["Topic"] != topic {
			continue
		}
		p, err1 := strconv.Atoi(part)
		l, err2 := strconv.Atoi(fields["Leader"])
		if err1 != nil || err2 != nil {
			t.Fatalf("kafka-topics --describe: unreadable line %q", line)
		}
		res[int32(p)] = described{leader: int32(l), replicas: ids(t, fields["Replicas"]), isr: ids(t, fields["Isr"])}
	}
	return res
}

func ids(t *testing.T, s string) []int32 {
	t.Helper()
	var out []int32
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("broker list %q: %v", s, err)
		}
		out = append(out, int32(n))
	}
	return out
}

// parseLogDirs reads kafka-log-dirs --describe's JSON: the partitions each broker holds
// (sorted) and each partition's sizes over its replicas.
func parseLogDirs(t *testing.T, out string) (held map[int32][]string, sizes map[string][]int64) {
	t.Helper()
	var doc struct {
		Brokers []struct {
			Broker  int32 `json:"broker"`
			LogDirs []struct {
				LogDir     string `json:"logDir"`
				Error      any    `json:"error"`
				Partitions []struct {
					Partition string `json:"partition"`
					Size      int64  `json:"size"`
					OffsetLag int64  `json:"offsetLag"`
					IsFuture  bool   `json:"isFuture"`
				} `json:"partitions"`
			} `json:"logDirs"`
		} `json:"brokers"`
	}
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "{") {
			line = l
		}
	}
	if err := json.Unmarshal([]byte(line), &doc); err != nil {
		t.Fatalf("kafka-log-dirs: %v in:\n%s", err, out)
	}
	held, sizes = map[int32][]string{}, map[string][]int64{}
	for _, b := range doc.Brokers {
		for _, d := range b.LogDirs {
			if d.Error != nil {
				t.Fatalf("kafka-log-dirs: broker %d directory %s: error %v", b.Broker, d.LogDir, d.Error)
			}
			for _, p := range d.Partitions {
				if p.IsFuture {
					t.Fatalf("kafka-log-dirs: broker %d lists a future replica of %s", b.Broker, p.Partition)
				}
				held[b.Broker] = append(held[b.Broker], p.Partition)
				sizes[p.Partition] = append(sizes[p.Partition], p.Size)
			}
		}
		slices.Sort(held[b.Broker])
	}
	return held, sizes
}

func sorted(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
