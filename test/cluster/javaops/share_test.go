package javaops

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/internal/testwait"
	"github.com/samsa-streaming/samsa/test/cluster/harness"
	"github.com/samsa-streaming/samsa/test/cluster/workload"
)

// Kafka 4.1.1's share-group tools (what bin/kafka-share-groups.sh and
// bin/kafka-console-share-consumer.sh run).
const (
	shareGroupsTool      = "org.apache.kafka.tools.consumer.group.ShareGroupCommand"
	consoleShareConsumer = "org.apache.kafka.tools.consumer.ConsoleShareConsumer"
)

// TestKafkaShareToolsOnCluster drives share groups (KIP-932) on a three-node cluster with
// Apache Kafka 4.1's own tools, kafka-share-groups and kafka-console-share-consumer, on a
// topic of three partitions replicated three times, written with acks=all:
//
//  1. Kafka's Admin client (alterShareGroupOffsets, AlterShareGroupOffsets: what later
//     releases' kafka-share-groups --reset-offsets --to-earliest --execute calls; 4.1.1's
//     tool does not implement it) starts the (still empty) group's share-partitions at 0,
//     and kafka-share-groups --describe --offsets shows start offset 0 on every partition
//     (DescribeShareGroupOffsets);
//  2. the console share consumer (--max-messages) reads every record exactly once, exits 0,
//     and --describe --offsets then shows every start offset at its partition's end (4.1.1's
//     tool prints no lag);
//  3. while a second console share consumer runs, --describe --members shows it with the
//     three partitions assigned, --describe --state and --list --state show the group Stable
//     with one member, and --delete refuses it (not EMPTY); it reads records produced
//     meanwhile, each once; after it leaves the group is Empty, --delete-offsets forgets the
//     topic (--describe --offsets no longer shows it), --list lists the group, --delete
//     deletes it and --list no longer does;
//  4. a console share consumer of another group runs while the group's coordinator (the
//     broker FindCoordinator names) is killed with kill -9 and restarted: the records whose
//     acknowledgements were durable before the kill (the start offsets passed them) are not
//     read again; those produced while the coordinator is down and after its restart are read
//     at least once, with a higher delivery count each time; it finishes by itself
//     (--timeout-ms) with exit 0, and the group's start offsets end at the partitions' ends;
//  5. kafka-share-consumer-perf-test --threads 3 (three share consumers of one group) reads
//     every record between them (the per-consumer counts add up to the total), and the
//     group's start offsets end at the partitions' ends.
func TestKafkaShareToolsOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	cp := requireJava(t)
	props := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(props, []byte("offsets.topic.num.partitions=3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, harness.Options{Nodes: 3, ExtraArgs: func(int32) []string { return []string{"--config", props} }})
	seeds := c.Bootstrap()
	bs := strings.Join(seeds, ",")
	const topic, group, partitions = "share-tools", "share-tools-group", 3
	workload.CreateTopic(t, seeds, topic, partitions, 3, map[string]string{"min.insync.replicas": "2"})
	produced := produceValues(t, seeds, topic, "a", 300, partitions)
	ends := map[int32]int64{0: 100, 1: 100, 2: 100}

	// 1. The empty group's share-partitions start at the earliest offset. Kafka 4.1.1's
	// kafka-share-groups does not implement --reset-offsets yet (it says so); its Admin
	// client's alterShareGroupOffsets, which later releases' tool calls, does the reset.
	r := runTool(t, cp, shareGroupsTool, "--bootstrap-server", bs, "--reset-offsets", "--to-earliest", "--topic", topic, "--group", group, "--execute")
	t.Logf("kafka-share-groups --reset-offsets --to-earliest --execute (4.1.1): %s", r)
	resetShareOffsets(t, cp, bs, group, topic, map[int32]int64{0: 0, 1: 0, 2: 0})
	r = mustShareTool(t, cp, bs, "--describe", "--offsets", "--group", group)
	t.Logf("kafka-share-groups --describe --offsets after the reset:\n%s", r.Out)
	if got := tableRows(r.Out, "START-OFFSET"); !sameOffsets(got, group, topic, "START-OFFSET", map[int32]int64{0: 0, 1: 0, 2: 0}) {
		t.Fatalf("--describe --offsets after --reset-offsets --to-earliest: want start offset 0 on partitions 0-2: %s", r)
	}

	// 2. The console share consumer reads every record once, each at its partition and offset,
	// delivered for the first time.
	r = mustTool(t, cp, "kafka-console-share-consumer", consoleShareConsumer, append([]string{"--bootstrap-server", bs,
		"--topic", topic, "--group", group, "--max-messages", strconv.Itoa(len(produced)), "--timeout-ms", "60000"}, printDeliveries...)...)
	var got []delivery
	for _, l := range lines(r.Out) {
		d, err := parseDelivery(l)
		if err != nil {
			t.Fatalf("kafka-console-share-consumer: %v: %s", err, r)
		}
		got = append(got, d)
	}
	if want := firstDeliveries(produced); !slices.Equal(sortedDeliveries(got), want) {
		t.Fatalf("kafka-console-share-consumer read %d records, want the %d produced, each delivered once (first read %v, first produced %v): %s",
			len(got), len(want), got[:min(5, len(got))], want[:min(5, len(want))], r)
	}
	if !strings.Contains(r.Stderr, fmt.Sprintf("Processed a total of %d messages", len(produced))) {
		t.Fatalf("kafka-console-share-consumer: no count of %d messages: %s", len(produced), r)
	}
	awaitShareOffsets(t, cp, bs, group, topic, ends, "after the console share consumer read everything")

	// 3. A consumer that runs: --describe --members and --state see it; it reads what is
	// produced meanwhile; once it left, the group is deleted.
	live := startConsoleShareConsumer(t, cp, bs, topic, group)
	testwait.Until(t, 2*time.Minute, "--describe --members shows one member assigned partitions 0-2", func() (bool, string) {
		r := mustShareTool(t, cp, bs, "--describe", "--members", "--group", group)
		rows := tableRows(r.Out, "CONSUMER-ID")
		if len(rows) != 1 || rows[0]["#PARTITIONS"] != "3" || rows[0]["GROUP"] != group {
			return false, r.String() + live.status()
		}
		want := topic + ":0,1,2"
		if a := rows[0]["ASSIGNMENT"]; a != want {
			return false, fmt.Sprintf("assignment %q, want %q: %s", a, want, r)
		}
		t.Logf("kafka-share-groups --describe --members:\n%s", r.Out)
		return true, ""
	})
	r = mustShareTool(t, cp, bs, "--describe", "--state", "--group", group)
	t.Logf("kafka-share-groups --describe --state:\n%s", r.Out)
	coordinator := workload.WaitCoordinator(t, seeds, workload.GroupCoordinator, group, time.Minute, nil)
	if rows := tableRows(r.Out, "STATE"); len(rows) != 1 || rows[0]["STATE"] != "Stable" || rows[0]["#MEMBERS"] != "1" ||
		!strings.HasSuffix(rows[0]["COORDINATOR (ID)"], fmt.Sprintf("(%d)", coordinator)) {
		t.Fatalf("--describe --state with one consumer: want Stable, 1 member, coordinator %d: %s", coordinator, r)
	}
	r = mustShareTool(t, cp, bs, "--list", "--state")
	t.Logf("kafka-share-groups --list --state:\n%s", r.Out)
	if rows := tableRows(r.Out, "STATE"); !slices.ContainsFunc(rows, func(row map[string]string) bool {
		return row["GROUP"] == group && row["STATE"] == "Stable"
	}) {
		t.Fatalf("kafka-share-groups --list --state: want %s Stable: %s", group, r)
	}
	// A group with a member is not deleted (the tool checks the state ListGroups gives).
	r = runTool(t, cp, shareGroupsTool, "--bootstrap-server", bs, "--delete", "--group", group)
	if !strings.Contains(r.Out, fmt.Sprintf("Share group '%s' is not EMPTY.", group)) {
		t.Fatalf("kafka-share-groups --delete of a group with a member: %s", r)
	}
	more := produceValues(t, seeds, topic, "b", 30, partitions)
	for p := range ends {
		ends[p] += 10
	}
	live.awaitRecords(t, more, 2*time.Minute)
	if exit := live.terminate(t); exit != 0 && exit != 128+int(syscall.SIGTERM) {
		t.Fatalf("the console share consumer exited with %d after SIGTERM: %s", exit, live.status())
	}
	if got, want := live.deliveries(), firstDeliveries(more); !slices.Equal(got, want) {
		t.Fatalf("the running console share consumer read %v, want each record produced meanwhile delivered once: %v", got, want)
	}
	awaitShareOffsets(t, cp, bs, group, topic, ends, "after the running consumer read the new records")
	testwait.Until(t, time.Minute, "--describe --state shows the group Empty", func() (bool, string) {
		r := mustShareTool(t, cp, bs, "--describe", "--state", "--group", group)
		rows := tableRows(r.Out, "STATE")
		return len(rows) == 1 && rows[0]["STATE"] == "Empty" && rows[0]["#MEMBERS"] == "0", r.String()
	})
	// --delete-offsets forgets the topic's share-partitions (DeleteShareGroupOffsets).
	r = mustShareTool(t, cp, bs, "--delete-offsets", "--group", group, "--topic", topic)
	t.Logf("kafka-share-groups --delete-offsets:\n%s", r.Out)
	if rows := tableRows(r.Out, "STATUS"); len(rows) != 1 || rows[0]["TOPIC"] != topic || rows[0]["STATUS"] != "Successful" {
		t.Fatalf("kafka-share-groups --delete-offsets: want %s Successful: %s", topic, r)
	}
	r = mustShareTool(t, cp, bs, "--describe", "--offsets", "--group", group)
	t.Logf("kafka-share-groups --describe --offsets after --delete-offsets:\n%s", r.Out)
	for _, row := range tableRows(r.Out, "START-OFFSET") {
		if row["TOPIC"] == topic {
			t.Fatalf("kafka-share-groups --describe --offsets after --delete-offsets still shows %s: %s", topic, r)
		}
	}
	if groups := listShareGroups(t, cp, bs); !slices.Contains(groups, group) {
		t.Fatalf("kafka-share-groups --list: %v, without %s", groups, group)
	}
	r = mustShareTool(t, cp, bs, "--delete", "--group", group)
	t.Logf("kafka-share-groups --delete:\n%s", r.Out)
	if !strings.Contains(r.Out, fmt.Sprintf("Deletion of requested share groups ('%s') was successful.", group)) {
		t.Fatalf("kafka-share-groups --delete: %s", r)
	}
	if groups := listShareGroups(t, cp, bs); slices.Contains(groups, group) {
		t.Fatalf("kafka-share-groups --list after --delete still lists %s: %v", group, groups)
	}

	// 4. The coordinator of another group is killed and restarted under its consumer.
	const group2 = "share-tools-kill"
	resetShareOffsets(t, cp, bs, group2, topic, map[int32]int64{0: 0, 1: 0, 2: 0})
	coordinator = workload.WaitCoordinator(t, seeds, workload.GroupCoordinator, group2, time.Minute, nil)
	t.Logf("group %s's coordinator is node %d", group2, coordinator)
	all := append(slices.Clone(produced), more...)
	// --timeout-ms: it exits by itself once nothing has come for 40 s, longer than the
	// coordinator's and the partition leaders' failover.
	through := startConsoleShareConsumer(t, cp, bs, topic, group2, "--timeout-ms", "40000")
	through.awaitRecords(t, all, 2*time.Minute)
	// Its acknowledgements of these records are durable (the start offsets moved past them)
	// before the kill: none of them may come again.
	awaitShareOffsets(t, cp, bs, group2, topic, ends, "before the kill")
	victim := c.Node(coordinator)
	victim.Kill()
	t.Logf("killed node %d, group %s's coordinator", coordinator, group2)
	var alive []string
	for _, n := range c.Nodes {
		if n.ID != coordinator {
			alive = append(alive, n.KafkaAddr)
		}
	}
	during := produceValues(t, alive, topic, "c", 30, partitions)
	through.awaitRecords(t, during, 2*time.Minute)
	victim.Start()
	t.Logf("restarted node %d", coordinator)
	after := produceValues(t, seeds, topic, "d", 30, partitions)
	through.awaitRecords(t, after, 2*time.Minute)
	exit := through.wait(t, 3*time.Minute)
	t.Logf("the console share consumer of %s: %s", group2, through.status())
	if exit != 0 {
		t.Fatalf("the console share consumer through the coordinator's kill exited with %d: %s", exit, through.status())
	}
	// Every record read, at its partition and offset. Those acknowledged durably before the
	// kill exactly once; those produced after it at least once: a record read again (its
	// acquisition or acknowledgement cut off by a failover) with a higher delivery count.
	acked := len(all)
	all = append(append(all, during...), after...)
	redelivered, examples := 0, []string(nil)
	for i, rec := range all {
		ds := through.of(rec.value)
		if len(ds) == 0 {
			t.Errorf("%s (partition %d offset %d) never read", rec.value, rec.partition, rec.offset)
		}
		if i < acked && (len(ds) != 1 || ds[0].count != 1) {
			t.Errorf("%s, acknowledged durably before the kill, read as %v", rec.value, ds)
		}
		for j, d := range ds {
			if d.partition != rec.partition || d.offset != rec.offset || (j > 0 && d.count <= ds[j-1].count) {
				t.Errorf("%s produced at partition %d offset %d, read as %v", rec.value, rec.partition, rec.offset, ds)
				break
			}
		}
		if len(ds) > 1 {
			redelivered++
			if len(examples) < 5 {
				examples = append(examples, fmt.Sprint(ds))
			}
		}
	}
	t.Logf("%d records, %d of them read more than once (allowed after the kill: at least once), e.g. %v", len(all), redelivered, examples)
	for p := range ends {
		ends[p] += 20
	}
	awaitShareOffsets(t, cp, bs, group2, topic, ends, "after the consumer read through the coordinator's kill")

	// 5. kafka-share-consumer-perf-test: three share consumers of one group (--threads 3)
	// read the whole topic between them.
	const group3 = "share-tools-perf"
	resetShareOffsets(t, cp, bs, group3, topic, map[int32]int64{0: 0, 1: 0, 2: 0})
	total := len(all)
	r = mustTool(t, cp, "kafka-share-consumer-perf-test", sharePerfTool, "--bootstrap-server", bs, "--topic", topic,
		"--group", group3, "--messages", strconv.Itoa(total), "--threads", "3", "--show-consumer-stats", "--timeout", "60000")
	t.Logf("kafka-share-consumer-perf-test --threads 3:\n%s", r.Out)
	perConsumer, overall := parsePerf(t, r)
	if len(perConsumer) != 3 || overall != int64(total) {
		t.Fatalf("kafka-share-consumer-perf-test: want %d messages over 3 consumers, got %d (per consumer %v): %s", total, overall, perConsumer, r)
	}
	var sum int64
	for _, n := range perConsumer {
		sum += n
	}
	if sum != overall {
		t.Fatalf("kafka-share-consumer-perf-test: the consumers read %v, %d in all, but the total is %d: %s", perConsumer, sum, overall, r)
	}
	awaitShareOffsets(t, cp, bs, group3, topic, ends, "after kafka-share-consumer-perf-test")
}

// sharePerfTool is Kafka 4.1.1's kafka-share-consumer-perf-test.
const sharePerfTool = "org.apache.kafka.tools.ShareConsumerPerformance"

// parsePerf reads kafka-share-consumer-perf-test's result lines, "start, end, MB, MB/s,
// nMsg/s, nMsg, fetch ms" in all and, with --show-consumer-stats, "Share consumer N
// consumption metrics- " and the same for each consumer: the messages each consumer read
// and in all.
func parsePerf(t *testing.T, r toolResult) (perConsumer map[int]int64, overall int64) {
	t.Helper()
	perConsumer, overall = map[int]int64{}, -1
	for _, l := range lines(r.Out) {
		if strings.HasPrefix(l, "start.time,") {
			continue
		}
		id := -1
		if rest, ok := strings.CutPrefix(l, "Share consumer "); ok {
			who, body, ok := strings.Cut(rest, " consumption metrics- ")
			n, err := strconv.Atoi(who)
			if !ok || err != nil {
				t.Fatalf("kafka-share-consumer-perf-test: unreadable line %q: %s", l, r)
			}
			id, l = n, body
		}
		f := strings.Split(l, ", ")
		if len(f) != 7 {
			t.Fatalf("kafka-share-consumer-perf-test: unreadable line %q: %s", l, r)
		}
		n, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil {
			t.Fatalf("kafka-share-consumer-perf-test: unreadable line %q: %s", l, r)
		}
		if id < 0 {
			overall = n
		} else {
			perConsumer[id] = n
		}
	}
	return perConsumer, overall
}

// produced is one record produced: its value and where it was written.
type produced struct {
	value     string
	partition int32
	offset    int64
}

// produceValues writes n records "<prefix>-0000"... with acks=all, record i to partition
// i%partitions, and returns them with their partitions and offsets.
func produceValues(t *testing.T, seeds []string, topic, prefix string, n, partitions int) []produced {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(fmt.Sprintf("%s-%04d", prefix, i))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce %d records with acks=all: %v", n, err)
	}
	out := make([]produced, n)
	for i, r := range res {
		out[i] = produced{string(r.Record.Value), r.Record.Partition, r.Record.Offset}
	}
	return out
}

// printDeliveries makes the console share consumer print each record's partition, offset
// and delivery count before its value: "Partition:0<TAB>Offset:5<TAB>Delivery:1<TAB>value".
var printDeliveries = []string{"--property", "print.partition=true", "--property", "print.offset=true",
	"--property", "print.delivery=true"}

// delivery is one record as the console share consumer printed it.
type delivery struct {
	value     string
	partition int32
	offset    int64
	count     int
}

func parseDelivery(line string) (delivery, error) {
	f := strings.Split(line, "\t")
	if len(f) != 4 {
		return delivery{}, fmt.Errorf("unexpected line %q", line)
	}
	var d delivery
	p, err1 := strconv.Atoi(strings.TrimPrefix(f[0], "Partition:"))
	o, err2 := strconv.ParseInt(strings.TrimPrefix(f[1], "Offset:"), 10, 64)
	c, err3 := strconv.Atoi(strings.TrimPrefix(f[2], "Delivery:"))
	if err1 != nil || err2 != nil || err3 != nil {
		return delivery{}, fmt.Errorf("unexpected line %q", line)
	}
	d.partition, d.offset, d.count, d.value = int32(p), o, c, f[3]
	return d, nil
}

// firstDeliveries is recs each delivered once (count 1), sorted.
func firstDeliveries(recs []produced) []delivery {
	out := make([]delivery, len(recs))
	for i, r := range recs {
		out[i] = delivery{r.value, r.partition, r.offset, 1}
	}
	return sortedDeliveries(out)
}

func sortedDeliveries(ds []delivery) []delivery {
	out := slices.Clone(ds)
	slices.SortFunc(out, func(a, b delivery) int {
		if a.partition != b.partition {
			return int(a.partition - b.partition)
		}
		if a.offset != b.offset {
			return int(a.offset - b.offset)
		}
		return a.count - b.count
	})
	return out
}

// awaitShareOffsets waits until kafka-share-groups --describe --offsets shows group's start
// offset of each partition of topic at want.
func awaitShareOffsets(t *testing.T, cp, bs, group, topic string, want map[int32]int64, when string) {
	t.Helper()
	testwait.Until(t, time.Minute, fmt.Sprintf("--describe --offsets of %s shows start offsets %v %s", group, want, when), func() (bool, string) {
		r := mustShareTool(t, cp, bs, "--describe", "--offsets", "--group", group)
		if !sameOffsets(tableRows(r.Out, "START-OFFSET"), group, topic, "START-OFFSET", want) {
			return false, r.String()
		}
		t.Logf("kafka-share-groups --describe --offsets %s:\n%s", when, r.Out)
		return true, ""
	})
}

// mustShareTool runs kafka-share-groups with args against bs; it fails the test unless the
// tool exits 0 without an error: 4.1.1's tool prints "Error: ..." and exits 0 when a call
// fails.
func mustShareTool(t *testing.T, cp, bs string, args ...string) toolResult {
	t.Helper()
	r := mustTool(t, cp, "kafka-share-groups "+strings.Join(args, " "), shareGroupsTool, append([]string{"--bootstrap-server", bs}, args...)...)
	if strings.Contains(r.Out, "Error:") || strings.Contains(r.Stderr, "Error:") {
		t.Fatalf("kafka-share-groups %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// resetShareOffsets sets group's start offsets of topic's partitions to their earliest
// offsets with Kafka's Admin client (ShareOffsets.java) and checks they are want.
func resetShareOffsets(t *testing.T, cp, bs, group, topic string, want map[int32]int64) {
	t.Helper()
	src, err := filepath.Abs("ShareOffsets.java")
	if err != nil {
		t.Fatal(err)
	}
	r := mustTool(t, cp, "Admin.alterShareGroupOffsets (ShareOffsets.java)", src, bs, group, topic)
	got := map[int32]int64{}
	for _, l := range lines(r.Out) {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "R" {
			t.Fatalf("ShareOffsets.java: unexpected line %q: %s", l, r)
		}
		p, err1 := strconv.Atoi(f[1])
		o, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("ShareOffsets.java: unexpected line %q: %s", l, r)
		}
		got[int32(p)] = o
	}
	if !maps.Equal(got, want) {
		t.Fatalf("Admin.alterShareGroupOffsets of %s set %v, want %v: %s", group, got, want, r)
	}
}

// listShareGroups returns the groups kafka-share-groups --list prints, one a line.
func listShareGroups(t *testing.T, cp, bs string) []string {
	t.Helper()
	r := mustShareTool(t, cp, bs, "--list")
	t.Logf("kafka-share-groups --list:\n%s", r.Out)
	return lines(r.Out)
}

// tableRows reads the rows of the first table in out whose header has column (none if there
// is no such table: the tool prints none for a group without members). Columns are
// separated by spaces; a header of several words ("COORDINATOR (ID)") is one column, as its
// values are ("host:port  (1)"): a value spans from its column's start to the next's.
func tableRows(out, column string) []map[string]string {
	ls := strings.Split(out, "\n")
	for i, h := range ls {
		if !slices.Contains(strings.Fields(h), column) && !strings.Contains(h, column+" ") {
			continue
		}
		starts, names := headerColumns(h)
		var rows []map[string]string
		for _, l := range ls[i+1:] {
			if strings.TrimSpace(l) == "" {
				break
			}
			row := map[string]string{}
			for j, s := range starts {
				end := len(l)
				if j+1 < len(starts) {
					end = min(len(l), starts[j+1])
				}
				if s < len(l) {
					row[names[j]] = strings.TrimSpace(l[s:end])
				}
			}
			rows = append(rows, row)
		}
		return rows
	}
	return nil
}

// headerColumns splits a header line into its columns, where two columns are separated by
// two or more spaces or one space followed by a word in capitals (the tools pad with spaces).
func headerColumns(h string) (starts []int, names []string) {
	fields := strings.Fields(h)
	pos := 0
	for _, f := range fields {
		i := strings.Index(h[pos:], f) + pos
		// A word in parentheses belongs to the column before ("COORDINATOR (ID)").
		if strings.HasPrefix(f, "(") && len(names) > 0 {
			names[len(names)-1] += " " + f
		} else {
			starts = append(starts, i)
			names = append(names, f)
		}
		pos = i + len(f)
	}
	return starts, names
}

// sameOffsets reports whether rows are exactly one per partition of want, of group and
// topic, with col at want's offset.
func sameOffsets(rows []map[string]string, group, topic, col string, want map[int32]int64) bool {
	got := map[int32]int64{}
	for _, r := range rows {
		if r["GROUP"] != group || r["TOPIC"] != topic {
			return false
		}
		p, err1 := strconv.Atoi(r["PARTITION"])
		o, err2 := strconv.ParseInt(r[col], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		got[int32(p)] = o
	}
	return len(rows) == len(want) && maps.Equal(got, want)
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// consoleRun is kafka-console-share-consumer running in the background, printing each
// record's partition, offset, delivery count and value.
type consoleRun struct {
	cmd    *exec.Cmd
	stderr *tailBuffer
	exited chan struct{}
	exit   int

	mu   sync.Mutex
	seen map[string][]delivery // by value, in the order printed
	n    int
	bad  []string // lines it could not parse
}

func startConsoleShareConsumer(t *testing.T, cp, bs, topic, group string, extra ...string) *consoleRun {
	t.Helper()
	args := append(slices.Clone(jvmFlags), "-cp", cp, consoleShareConsumer, "--bootstrap-server", bs, "--topic", topic, "--group", group)
	args = append(append(args, printDeliveries...), extra...)
	c := &consoleRun{cmd: exec.Command("java", args...), stderr: &tailBuffer{max: 64 << 10},
		exited: make(chan struct{}), seen: map[string][]delivery{}}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if l == "" {
				continue
			}
			d, err := parseDelivery(l)
			c.mu.Lock()
			if err != nil {
				c.bad = append(c.bad, l)
			} else {
				c.seen[d.value] = append(c.seen[d.value], d)
				c.n++
			}
			c.mu.Unlock()
		}
		err := c.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			c.exit = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				c.exit = 128 + int(ws.Signal())
			}
		} else if err != nil {
			c.exit = -1
		}
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			c.cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

// awaitRecords waits until the consumer has printed every record of recs.
func (c *consoleRun) awaitRecords(t *testing.T, recs []produced, timeout time.Duration) {
	t.Helper()
	testwait.Until(t, timeout, fmt.Sprintf("the console share consumer read %d records", len(recs)), func() (bool, string) {
		select {
		case <-c.exited:
			return true, ""
		default:
		}
		c.mu.Lock()
		var missing []string
		for _, r := range recs {
			if len(c.seen[r.value]) == 0 {
				missing = append(missing, r.value)
			}
		}
		c.mu.Unlock()
		return len(missing) == 0, fmt.Sprintf("%d missing (%v); %s", len(missing), missing[:min(5, len(missing))], c.status())
	})
	select {
	case <-c.exited:
		t.Fatalf("the console share consumer exited with %d before it read every record: %s", c.exit, c.status())
	default:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.bad) > 0 {
		t.Fatalf("the console share consumer printed lines that are not records: %q", c.bad[:min(5, len(c.bad))])
	}
}

// deliveries returns every record printed, sorted.
func (c *consoleRun) deliveries() []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []delivery
	for _, ds := range c.seen {
		out = append(out, ds...)
	}
	return sortedDeliveries(out)
}

// of returns the deliveries of the record of value, in the order printed.
func (c *consoleRun) of(value string) []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen[value])
}

func (c *consoleRun) status() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d records printed, %d distinct; its standard error:\n%s", c.n, len(c.seen), tailLines(c.stderr.String(), 30))
}

// terminate sends SIGTERM (the tool closes its consumer, leaving the group) and returns its
// exit status.
func (c *consoleRun) terminate(t *testing.T) int {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	return c.wait(t, time.Minute)
}

// wait waits for the consumer to exit and returns its exit status.
func (c *consoleRun) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-c.exited:
		return c.exit
	case <-time.After(timeout):
		t.Fatalf("the console share consumer did not exit within %v: %s", timeout, c.status())
		return 0
	}
}

// verifiableShareConsumer is Kafka 4.1.1's VerifiableShareConsumer (what Kafka's own system
// tests run against share groups): with --verbose and --acknowledgement-mode sync it prints a
// JSON event for every record it gets (record_data) and for every answer to its
// acknowledgements (offsets_acknowledged, with success), each poll's records accepted with
// commitSync.
const verifiableShareConsumer = "org.apache.kafka.tools.VerifiableShareConsumer"

// shareEvent is one line VerifiableShareConsumer prints.
type shareEvent struct {
	Name       string `json:"name"`
	Value      string `json:"value"`
	Partition  int32  `json:"partition"`
	Offset     int64  `json:"offset"`
	Success    bool   `json:"success"`
	Error      string `json:"error"`
	Partitions []struct {
		Partition int32   `json:"partition"`
		Offsets   []int64 `json:"offsets"`
	} `json:"partitions"`
}

// TestKafkaVerifiableShareConsumerCoordinatorKill runs Kafka's VerifiableShareConsumer (one
// member, acknowledgements committed with commitSync after every poll; the tool sets the
// group config share.auto.offset.reset=earliest, after 300 records were written) while a
// franz-go producer writes with acks=all and the share group's coordinator is killed with
// kill -9 and later restarted. From the consumer's own event stream: no record is delivered
// again after its acknowledgement was answered successfully (KIP-932: acknowledged means
// done); every record whose write was acknowledged, those written before the group too, is
// delivered and acknowledged successfully, with the value written at its partition and
// offset; the consumer keeps consuming every partition with the coordinator down and after
// its return.
func TestKafkaVerifiableShareConsumerCoordinatorKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	cp := requireJava(t)
	props := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(props, []byte("offsets.topic.num.partitions=3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, harness.Options{Nodes: 3, ExtraArgs: func(int32) []string { return []string{"--config", props} }})
	seeds := c.Bootstrap()
	bs := strings.Join(seeds, ",")
	const topic, group, partitions = "share-verify", "share-verify-group", 3
	workload.CreateTopic(t, seeds, topic, partitions, 3, map[string]string{"min.insync.replicas": "2"})
	// Records written before the group exists: --offset-reset-strategy earliest (the group
	// config share.auto.offset.reset, set by the tool through IncrementalAlterConfigs) starts
	// every share-partition before them.
	before := produceValues(t, seeds, topic, "pre", 300, partitions)
	coordinator := workload.WaitCoordinator(t, seeds, workload.GroupCoordinator, group, time.Minute, nil)
	t.Logf("group %s's coordinator is node %d", group, coordinator)

	v := startVerifiable(t, cp, bs, topic, group)
	p := startShareProducer(t, seeds, topic, partitions, 5*time.Millisecond)
	v.awaitAcked(t, 600, 2*time.Minute, "before the kill")
	victim := c.Node(coordinator)
	victim.Kill()
	t.Logf("killed node %d, the coordinator: %s", coordinator, v.status())
	var alive []string
	for _, n := range c.Nodes {
		if n.ID != coordinator {
			alive = append(alive, n.KafkaAddr)
		}
	}
	// The group moves to a new coordinator with its member, and the consumer goes on with
	// every partition, also the one the killed node led.
	to := workload.WaitCoordinator(t, alive, workload.GroupCoordinator, group, time.Minute, func(id int32) bool { return id != coordinator })
	testwait.Until(t, time.Minute, fmt.Sprintf("--describe --state shows the group Stable with its member on node %d", to), func() (bool, string) {
		r := mustShareTool(t, cp, strings.Join(alive, ","), "--describe", "--state", "--group", group)
		rows := tableRows(r.Out, "STATE")
		if len(rows) != 1 || rows[0]["STATE"] != "Stable" || rows[0]["#MEMBERS"] != "1" ||
			!strings.HasSuffix(rows[0]["COORDINATOR (ID)"], fmt.Sprintf("(%d)", to)) {
			return false, r.String()
		}
		t.Logf("kafka-share-groups --describe --state with node %d down:\n%s", coordinator, r.Out)
		return true, ""
	})
	v.awaitBeyond(t, 50, 2*time.Minute, "on every partition with the coordinator down")
	victim.Start()
	t.Logf("restarted node %d: %s", coordinator, v.status())
	v.awaitBeyond(t, 50, 2*time.Minute, "on every partition after the coordinator's restart")
	recs := append(before, p.stop(t)...)
	t.Logf("%d records written (acks=all)", len(recs))

	testwait.Until(t, 3*time.Minute, "every record written acknowledged successfully by the consumer", func() (bool, string) {
		v.mu.Lock()
		var missing []string
		for _, r := range recs {
			if _, ok := v.ackedAt[[2]int64{int64(r.partition), r.offset}]; !ok {
				missing = append(missing, fmt.Sprintf("%s@%d/%d", r.value, r.partition, r.offset))
			}
		}
		v.mu.Unlock()
		return len(missing) == 0, fmt.Sprintf("%d not acknowledged (%v); %s", len(missing), missing[:min(5, len(missing))], v.status())
	})
	if exit := v.terminate(t); exit != 0 && exit != 128+int(syscall.SIGTERM) {
		t.Fatalf("VerifiableShareConsumer exited with %d after SIGTERM: %s", exit, v.status())
	}
	t.Logf("VerifiableShareConsumer: %s", v.status())

	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range recs {
		k := [2]int64{int64(r.partition), r.offset}
		if got := v.values[k]; got != r.value {
			t.Errorf("partition %d offset %d: delivered %q, written %q", r.partition, r.offset, got, r.value)
		}
	}
	if len(v.bad) > 0 {
		t.Errorf("VerifiableShareConsumer printed lines that are not its events: %q", v.bad[:min(5, len(v.bad))])
	}
	if len(v.violations) > 0 {
		t.Fatalf("%d records delivered again after their acknowledgement was answered successfully:\n%s",
			len(v.violations), strings.Join(v.violations[:min(20, len(v.violations))], "\n"))
	}
}

// verifiableRun is VerifiableShareConsumer running, its events read as they come.
type verifiableRun struct {
	cmd    *exec.Cmd
	stderr *tailBuffer
	exited chan struct{}
	exit   int

	mu         sync.Mutex
	deliveries int
	delivered  map[[2]int64]int // partition, offset → times delivered
	values     map[[2]int64]string
	ackedAt    map[[2]int64]int // → the event number of its first successful acknowledgement
	failedAcks []string
	violations []string
	bad        []string
	events     int
}

func startVerifiable(t *testing.T, cp, bs, topic, group string) *verifiableRun {
	t.Helper()
	args := append(slices.Clone(jvmFlags), "-cp", cp, verifiableShareConsumer, "--bootstrap-server", bs,
		"--topic", topic, "--group-id", group, "--acknowledgement-mode", "sync", "--offset-reset-strategy", "earliest", "--verbose")
	v := &verifiableRun{cmd: exec.Command("java", args...), stderr: &tailBuffer{max: 64 << 10}, exited: make(chan struct{}),
		delivered: map[[2]int64]int{}, values: map[[2]int64]string{}, ackedAt: map[[2]int64]int{}}
	out, err := v.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	v.cmd.Stderr = v.stderr
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			v.event(sc.Bytes())
		}
		err := v.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			v.exit = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				v.exit = 128 + int(ws.Signal())
			}
		} else if err != nil {
			v.exit = -1
		}
		close(v.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-v.exited:
		default:
			v.cmd.Process.Kill()
			<-v.exited
		}
	})
	return v
}

// event records one line of the consumer's output. Its events come in the consumer's own
// order (poll, records, commitSync, acknowledgement answers, next poll), so a record_data
// after a successful offsets_acknowledged of the same offset is a redelivery after the
// acknowledgement was answered.
func (v *verifiableRun) event(line []byte) {
	var e shareEvent
	if err := json.Unmarshal(line, &e); err != nil {
		v.mu.Lock()
		v.bad = append(v.bad, string(line))
		v.mu.Unlock()
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.events++
	switch e.Name {
	case "record_data":
		k := [2]int64{int64(e.Partition), e.Offset}
		if at, ok := v.ackedAt[k]; ok {
			v.violations = append(v.violations, fmt.Sprintf("%s (partition %d offset %d) delivered as event %d, acknowledged successfully as event %d",
				e.Value, e.Partition, e.Offset, v.events, at))
		}
		v.deliveries++
		v.delivered[k]++
		v.values[k] = e.Value
	case "offsets_acknowledged":
		for _, p := range e.Partitions {
			for _, o := range p.Offsets {
				k := [2]int64{int64(p.Partition), o}
				if !e.Success {
					v.failedAcks = append(v.failedAcks, fmt.Sprintf("p%d@%d: %s", p.Partition, o, e.Error))
				} else if _, ok := v.ackedAt[k]; !ok {
					v.ackedAt[k] = v.events
				}
			}
		}
	}
}

func (v *verifiableRun) ackedCount() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.ackedAt)
}

func (v *verifiableRun) status() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	redelivered := 0
	for _, n := range v.delivered {
		if n > 1 {
			redelivered++
		}
	}
	return fmt.Sprintf("%d deliveries of %d records (%d delivered more than once), %d acknowledged successfully, %d acknowledgements failed %v, %d violations; its standard error:\n%s",
		v.deliveries, len(v.delivered), redelivered, len(v.ackedAt), len(v.failedAcks), v.failedAcks[:min(3, len(v.failedAcks))],
		len(v.violations), tailLines(v.stderr.String(), 20))
}

// awaitBeyond waits until, on every partition, n more offsets are acknowledged
// successfully beyond the highest acknowledged when it is called.
func (v *verifiableRun) awaitBeyond(t *testing.T, n int64, timeout time.Duration, when string) {
	t.Helper()
	high := func() map[int64]int64 {
		v.mu.Lock()
		defer v.mu.Unlock()
		h := map[int64]int64{}
		for k := range v.ackedAt {
			h[k[0]] = max(h[k[0]], k[1])
		}
		return h
	}
	from := high()
	testwait.Until(t, timeout, fmt.Sprintf("VerifiableShareConsumer acknowledged %d more offsets %s (from %v)", n, when, from), func() (bool, string) {
		select {
		case <-v.exited:
			t.Fatalf("VerifiableShareConsumer exited with %d: %s", v.exit, v.status())
		default:
		}
		h := high()
		for p := range int64(3) {
			if h[p] < from[p]+n {
				return false, fmt.Sprintf("highest acknowledged %v; %s", h, v.status())
			}
		}
		return true, ""
	})
}

// awaitAcked waits until n records are acknowledged successfully.
func (v *verifiableRun) awaitAcked(t *testing.T, n int, timeout time.Duration, when string) {
	t.Helper()
	testwait.Until(t, timeout, fmt.Sprintf("VerifiableShareConsumer acknowledged %d records %s", n, when), func() (bool, string) {
		select {
		case <-v.exited:
			t.Fatalf("VerifiableShareConsumer exited with %d: %s", v.exit, v.status())
		default:
		}
		return v.ackedCount() >= n, v.status()
	})
}

func (v *verifiableRun) terminate(t *testing.T) int {
	t.Helper()
	v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.exited:
		return v.exit
	case <-time.After(time.Minute):
		t.Fatalf("VerifiableShareConsumer did not exit within a minute of SIGTERM: %s", v.status())
		return 0
	}
}

// shareProducer writes "w-00000"... with acks=all, one record every interval, round robin
// over the partitions, and keeps the records whose writes were acknowledged.
type shareProducer struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	acked  []produced
	errs   int
}

func startShareProducer(t *testing.T, seeds []string, topic string, partitions int, interval time.Duration) *shareProducer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &shareProducer{cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	go func() {
		defer close(p.done)
		defer cl.Close()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ctx.Err() == nil; i++ {
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
			if ctx.Err() != nil {
				break
			}
			wg.Add(1)
			r := &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(fmt.Sprintf("w-%05d", i))}
			cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
				defer wg.Done()
				p.mu.Lock()
				defer p.mu.Unlock()
				if err != nil {
					p.errs++
					return
				}
				p.acked = append(p.acked, produced{string(r.Value), r.Partition, r.Offset})
			})
		}
		wg.Wait()
	}()
	t.Cleanup(func() { cancel(); <-p.done })
	return p
}

// stop stops producing, waits for the outcome of every record sent and returns those
// acknowledged.
func (p *shareProducer) stop(t *testing.T) []produced {
	t.Helper()
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute):
		t.Fatal("the producer's records got no outcome within 3 minutes")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Logf("producer: %d acknowledged, %d failed", len(p.acked), p.errs)
	return slices.Clone(p.acked)
}
