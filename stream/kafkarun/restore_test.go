package kafkarun_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/stream/kafkarun"
)

// readPartition returns every record of one partition up to its current end.
func readPartition(t *testing.T, addr, topic string, partition int32) []*kgo.Record {
	t.Helper()
	_, adm := clients(t, addr)
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, partition)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(out) == 0 || out[len(out)-1].Offset < end.Offset-1 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s/%d: %v", topic, partition, ctx.Err())
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// TestRestoreIgnoresUnfinishedCommit appends to the changelog what a crash between writing
// state and writing the commit marker leaves behind: a state record after the last marker
// (here a value that does not even decode). A restarted application must not apply it (it
// resumes from the marker's state and input positions), must trim it from the changelog
// (the key re-written with its committed value, then a marker), and must still produce the
// uninterrupted run's final panes.
func TestRestoreIgnoresUnfinishedCommit(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 1, nil)
	createTopic(t, adm, "out", 1, nil)
	evs := genEvents(5, 0, 400)
	produce(t, cl, "in", evs[:200])
	cfg := kafkarun.Config{Brokers: []string{b.Addr()}, ApplicationID: "orphan", StateDir: t.TempDir(),
		CommitInterval: 100 * time.Millisecond, TickInterval: 20 * time.Millisecond, Logger: testLogger()}
	a, err := kafkarun.New(sumsPipeline("in", "out"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := runApp(t, a)
	waitFor(t, "first half processed", 30*time.Second, func() bool { return a.Metrics().Processed == 200 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	const changelog = "orphan-commits"
	before := readPartition(t, b.Addr(), changelog, 0)
	metaKey := []byte("s\x00executor")
	var committed []byte
	for _, r := range before {
		if bytes.Equal(r.Key, metaKey) {
			committed = r.Value
		}
	}
	if committed == nil || string(before[len(before)-1].Key) != "c" {
		t.Fatalf("changelog does not end with a commit marker after the executor state (%d records)", len(before))
	}
	orphan := &kgo.Record{Topic: changelog, Partition: 0, Key: metaKey, Value: []byte("not a state record")}
	if err := cl.ProduceSync(context.Background(), orphan).FirstErr(); err != nil {
		t.Fatal(err)
	}

	produce(t, cl, "in", evs[200:])
	produce(t, cl, "in", sentinels(1))
	a2, err := kafkarun.New(sumsPipeline("in", "out"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	runApp(t, a2)
	out := newOutputReader(t, b.Addr(), "out")
	out.waitFinals(t, expectedFinals(t, evs, 1), 60*time.Second)
	if got := a2.Metrics().Processed; got > int64(len(evs)-200+1) {
		t.Errorf("restarted app processed %d records: it did not resume at the committed positions", got)
	}

	after := readPartition(t, b.Addr(), changelog, 0)
	i := len(before) + 1 // first record after the orphan
	if len(after) < i+2 || !bytes.Equal(after[i].Key, metaKey) || !bytes.Equal(after[i].Value, committed) || string(after[i+1].Key) != "c" {
		t.Fatalf("changelog after the orphan is not a trim of it (key re-written with its committed value, then a marker)")
	}
}
