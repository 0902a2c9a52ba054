package interop

// KafkaJS (npm kafkajs 2.x, which speaks old protocol versions) driven
// through test/node/kafkajs-interop.js. Needs node and `npm ci` in
// test/node; missing either skips, except under CI where it fails.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// requireKafkaJS returns the node binary and the test/node directory.
func requireKafkaJS(t *testing.T) (node, dir string) {
	t.Helper()
	node = requireTool(t, "node")
	dir, err := filepath.Abs(filepath.Join("..", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs", "package.json")); err != nil {
		if inCI() {
			t.Fatalf("kafkajs not installed in %s; .ci/run must run npm ci there: %v", dir, err)
		}
		t.Skipf("kafkajs not installed (run npm ci in %s)", dir)
	}
	return node, dir
}

// kafkajsResult is what kafkajs-interop.js prints.
type kafkajsResult struct {
	Created  bool `json:"created"`
	Metadata []struct {
		Name       string `json:"name"`
		Partitions []struct {
			Partition int32   `json:"partition"`
			Leader    int32   `json:"leader"`
			Replicas  []int32 `json:"replicas"`
		} `json:"partitions"`
	} `json:"metadata"`
	Produced []kafkajsMessage `json:"produced"`
	Acks     []struct {
		Partition  int32  `json:"partition"`
		BaseOffset string `json:"baseOffset"`
		ErrorCode  int16  `json:"errorCode"`
	} `json:"acks"`
	Consumed  []kafkajsMessage `json:"consumed"`
	Committed []struct {
		Topic      string `json:"topic"`
		Partitions []struct {
			Partition int32  `json:"partition"`
			Offset    string `json:"offset"`
		} `json:"partitions"`
	} `json:"committed"`
	Groups []string `json:"groups"`
}

type kafkajsMessage struct {
	Partition int32             `json:"partition"`
	Offset    string            `json:"offset"`
	Key       *string           `json:"key"`
	Value     *string           `json:"value"`
	Timestamp string            `json:"timestamp"`
	Headers   map[string]string `json:"headers"`
}

// TestKafkaJS runs the KafkaJS scenario: admin createTopics and
// fetchTopicMetadata, gzip produce with keys, null keys, headers and
// timestamps, group consume from the beginning, admin fetchOffsets. It
// checks KafkaJS read back exactly what it wrote, in order per partition,
// the batches are stored gzip, and the group's commits reach the end.
func TestKafkaJS(t *testing.T) {
	t.Parallel()
	node, dir := requireKafkaJS(t)
	addr := startBroker(t)
	topic, group := uniqueName("kafkajs"), uniqueName("kafkajs-g")
	const count = 60
	arg, err := json.Marshal(map[string]any{"broker": addr, "topic": topic, "group": group, "count": count})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "kafkajs-interop.js"), string(arg))
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafkajs-interop.js: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	if stderr.Len() > 0 {
		t.Logf("kafkajs log:\n%s", stderr.String())
	}
	var res kafkajsResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("kafkajs output %q: %v", stdout.String(), err)
	}

	if !res.Created {
		t.Errorf("createTopics returned false")
	}
	if len(res.Metadata) != 1 || res.Metadata[0].Name != topic || len(res.Metadata[0].Partitions) != 3 {
		t.Fatalf("fetchTopicMetadata: %+v, want %s with 3 partitions", res.Metadata, topic)
	}
	for _, p := range res.Metadata[0].Partitions {
		if p.Leader < 0 || len(p.Replicas) != 1 || p.Replicas[0] != p.Leader {
			t.Errorf("partition %+v: want a leader that is the only replica", p)
		}
	}
	for _, a := range res.Acks {
		if a.ErrorCode != 0 {
			t.Errorf("produce ack %+v carries an error", a)
		}
	}
	if v, dyn := configOf(t, newAdmin(t, addr), topic, "retention.ms"); v != "3600000" || !dyn {
		t.Errorf("retention.ms = %q (set %v), want 3600000 from createTopics", v, dyn)
	}

	// Consumed equals produced, per partition in production order, with
	// offsets 0, 1, 2, ... in each partition.
	if len(res.Consumed) != count {
		t.Fatalf("consumed %d, produced %d", len(res.Consumed), count)
	}
	wantBy := make(map[int32][]kafkajsMessage)
	for _, m := range res.Produced {
		wantBy[m.Partition] = append(wantBy[m.Partition], m)
	}
	gotBy := make(map[int32][]kafkajsMessage)
	for _, m := range res.Consumed {
		gotBy[m.Partition] = append(gotBy[m.Partition], m)
	}
	for p, want := range wantBy {
		got := gotBy[p]
		if len(got) != len(want) {
			t.Errorf("partition %d: consumed %d, produced %d", p, len(got), len(want))
			continue
		}
		for i := range want {
			w, g := want[i], got[i]
			if g.Offset != strconv.Itoa(i) || !sameStrPtr(w.Key, g.Key) || !sameStrPtr(w.Value, g.Value) ||
				w.Timestamp != g.Timestamp || !sameHeaders(w.Headers, g.Headers) {
				t.Errorf("partition %d record %d:\n  produced %+v\n  consumed %+v", p, i, w, g)
			}
		}
	}

	// Committed offsets as KafkaJS and franz-go see them equal the ends.
	adm := newAdmin(t, addr)
	ends := endOffsets(t, adm, topic)
	if len(res.Committed) != 1 || len(res.Committed[0].Partitions) != 3 {
		t.Fatalf("fetchOffsets: %+v", res.Committed)
	}
	for _, p := range res.Committed[0].Partitions {
		if p.Offset != strconv.FormatInt(ends[p.Partition], 10) {
			t.Errorf("fetchOffsets partition %d = %s, end offset %d", p.Partition, p.Offset, ends[p.Partition])
		}
	}
	awaitCommitted(t, adm, group, topic, ends)
	found := false
	for _, g := range res.Groups {
		found = found || g == group
	}
	if !found {
		t.Errorf("listGroups %v lacks %s", res.Groups, group)
	}
	_, gotCodecs := readAll(t, addr, topic)
	assertCodec(t, "gzip", gotCodecs)
}

func sameStrPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func sameHeaders(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// TestKafkaJSTransactions runs test/node/kafkajs-txn.js: KafkaJS's transactional producer
// commits and aborts transactions (with sendOffsets), and its read_committed consumer sees
// exactly the committed records; franz-go agrees, and the group offset is the committed
// transaction's.
func TestKafkaJSTransactions(t *testing.T) {
	t.Parallel()
	node, dir := requireKafkaJS(t)
	addr := startBroker(t)
	in, out, group := uniqueName("kjs-in"), uniqueName("kjs-out"), uniqueName("kjs-g")
	createTopic(t, addr, in, 1, nil)
	createTopic(t, addr, out, 2, nil)
	arg, err := json.Marshal(map[string]any{"broker": addr, "in": in, "out": out, "group": group, "txnId": uniqueName("kjs-txn")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "kafkajs-txn.js"), string(arg))
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafkajs-txn.js: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	var res struct {
		Consumed []string `json:"consumed"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("kafkajs-txn output %q: %v", stdout.String(), err)
	}
	want := append(seqValues("c1", 6), seqValues("c2", 6)...)
	sort.Strings(want)
	if fmt.Sprint(res.Consumed) != fmt.Sprint(want) {
		t.Fatalf("KafkaJS read_committed consumed %v, want %v", res.Consumed, want)
	}
	var got []string
	for _, r := range readCommittedAll(t, addr, out, 2) {
		if v := string(r.Value); v != "~end" {
			got = append(got, v)
		}
	}
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("franz-go read_committed: %v, want %v", got, want)
	}
	cl := newAdmin(t, addr)
	offs, err := cl.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(in, 0); !ok || o.At != 6 {
		t.Fatalf("group offset %+v, want 6 from the committed transaction", o)
	}
}
