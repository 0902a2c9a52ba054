package interop

// librdkafka's transactions, through Debian's python3-confluent-kafka (librdkafka 2.0), driven
// by test/python/confluent_txn_interop.py with Debian's /usr/bin/python3. A missing package
// skips, except under CI where it fails.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func requireConfluentKafka(t *testing.T) {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import confluent_kafka").Run(); err != nil {
		if inCI() {
			t.Fatalf("python3-confluent-kafka not importable by %s; .ci/run must install it: %v", debianPython, err)
		}
		t.Skipf("python3-confluent-kafka not installed: %v", err)
	}
}

func confluentScript(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "python", "confluent_txn_interop.py"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runConfluent runs the script with args and returns its standard output.
func runConfluent(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx := testCtx(t, 90*time.Second)
	cmd := exec.CommandContext(ctx, debianPython, append([]string{confluentScript(t)}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("confluent_txn_interop.py %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// confluentRead reads topic with librdkafka at isolation and returns the values without the
// sentinels readCommittedAll appends.
func confluentRead(t *testing.T, addr, topic, isolation string, partitions int) []string {
	t.Helper()
	var vals []string
	if err := json.Unmarshal(runConfluent(t, "read", addr, topic, isolation, fmt.Sprint(partitions)), &vals); err != nil {
		t.Fatalf("read output: %v", err)
	}
	out := vals[:0]
	for _, v := range vals {
		if v != "~end" {
			out = append(out, v)
		}
	}
	return out
}

func TestConfluentKafkaTransactions(t *testing.T) {
	t.Parallel()
	requireConfluentKafka(t)
	addr := startBroker(t)
	in, out, group := uniqueName("rdk-in"), uniqueName("rdk-out"), uniqueName("rdk-group")
	createTopic(t, addr, in, 2, nil)
	createTopic(t, addr, out, 2, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(in), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testCtx(t, 60*time.Second)
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("in-%d", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	var res struct {
		Consumed  int              `json:"consumed"`
		Positions map[string]int64 `json:"positions"`
	}
	if err := json.Unmarshal(runConfluent(t, "produce", addr, uniqueName("rdk-txn"), in, out, group), &res); err != nil {
		t.Fatalf("produce output: %v", err)
	}
	if res.Consumed != 10 {
		t.Fatalf("librdkafka consumed %d input records, want 10", res.Consumed)
	}
	want := append(seqValues("c1", 5), seqValues("c2", 5)...)
	sort.Strings(want)
	var got []string
	for _, r := range readCommittedAll(t, addr, out, 2) {
		got = append(got, string(r.Value))
	}
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read_committed (franz-go) saw %v, want %v", got, want)
	}
	if got := confluentRead(t, addr, out, "read_committed", 2); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read_committed (librdkafka) saw %v, want %v", got, want)
	}
	all := confluentRead(t, addr, out, "read_uncommitted", 2)
	if len(all) != 20 {
		t.Fatalf("read_uncommitted (librdkafka) saw %d records %v, want all 20", len(all), all)
	}
	// The offsets of the committed transaction (c1) stand; the aborted one (a1, offsets 0)
	// changed nothing.
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == in {
			if want := res.Positions[fmt.Sprint(o.Partition)]; o.At != want {
				t.Errorf("group offset of %s[%d] = %d, want %d", in, o.Partition, o.At, want)
			}
			total += o.At
		}
	})
	if total != 10 {
		t.Fatalf("group offsets sum to %d, want 10", total)
	}
}

// TestConfluentKafkaKilledProducerIsAborted: a librdkafka producer SIGKILLed in the middle of
// a transaction; the next instance with the same transactional id aborts it.
func TestConfluentKafkaKilledProducerIsAborted(t *testing.T) {
	t.Parallel()
	requireConfluentKafka(t)
	addr := startBroker(t)
	topic, txnID := uniqueName("rdk-kill"), uniqueName("rdk-kill-txn")
	createTopic(t, addr, topic, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, confluentScript(t), "hang", addr, txnID, topic)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("hanging producer: %q %v", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// Its records are in the log but their transaction is open: read_committed stops before them.
	if got := confluentRead(t, addr, topic, "read_committed", 1); len(got) != 0 {
		t.Fatalf("read_committed sees %v of an open transaction", got)
	}
	runConfluent(t, "once", addr, txnID, topic, "after")
	var got []string
	for _, r := range readCommittedAll(t, addr, topic, 1) {
		got = append(got, string(r.Value))
	}
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(seqValues("after", 3)) {
		t.Fatalf("read_committed after re-initialization: %v, want only the new transaction", got)
	}
	if all := confluentRead(t, addr, topic, "read_uncommitted", 1); len(all) != 5+3 {
		t.Fatalf("read_uncommitted: %v, want the 5 aborted and the 3 committed records", all)
	}
}
