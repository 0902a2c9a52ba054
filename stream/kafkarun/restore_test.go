package kafkarun_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-streaming/samsa/samsatest"
	"github.com/samsa-streaming/samsa/stream"
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

// twoStorePipeline is sumsPipeline plus a per-key count in one-minute windows, a second
// store, written to countsTopic.
func twoStorePipeline(in, out, countsTopic string) *stream.Pipeline {
	p := stream.NewPipeline()
	src := stream.Read(p, sumsSource(in))
	writeSums(sumsOf(src), out)
	counts := stream.CountPerKey(stream.WindowInto(src, stream.FixedWindows(time.Minute)), stream.Named("counts"))
	stream.Write(counts, stream.Sink[stream.KV[string, int64]]{Name: "counts-out", Topic: countsTopic,
		Encode: func(kv stream.KV[string, int64]) ([]byte, []byte, error) {
			v, err := stream.Int64Coder{}.Encode(kv.Value)
			return []byte(kv.Key), v, err
		}})
	return p
}

// TestPerStoreChangelogs runs a pipeline with two stores: each gets its own compacted
// changelog (with the per-store topic configs asked for) beside the commit log. A restart
// on a fresh state directory restores each store from its own topic; a restart on the old
// state directory after the "counts" changelog was deleted rebuilds that store alone from
// its new, empty topic and keeps the "sums" store's local state. Both restarts produce the
// uninterrupted run's final panes.
func TestPerStoreChangelogs(t *testing.T) {
	b := samsatest.Start(t)
	cl, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 2, nil)
	createTopic(t, adm, "out", 2, nil)
	createTopic(t, adm, "counts", 2, nil)
	evs := genEvents(21, 0, 600)
	produce(t, cl, "in", evs[:300])
	state := t.TempDir()
	cfg := kafkarun.Config{Brokers: []string{b.Addr()}, ApplicationID: "ps", StateDir: state,
		CommitInterval: 100 * time.Millisecond, TickInterval: 20 * time.Millisecond, Logger: testLogger(),
		StoreTopicConfigs: map[string]map[string]string{"counts": {"min.compaction.lag.ms": "60000"}, "*": {"segment.bytes": "1048576"}}}
	run := func(cfg kafkarun.Config, until int64) *kafkarun.App {
		t.Helper()
		a, err := kafkarun.New(twoStorePipeline("in", "out", "counts"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		stop := runApp(t, a)
		waitFor(t, "input processed", 30*time.Second, func() bool { return a.Metrics().Processed == until })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		return a
	}
	run(cfg, 300)

	want := map[string]map[string]string{
		"ps-sums-changelog":   {"cleanup.policy": "compact", "segment.bytes": "1048576"},
		"ps-counts-changelog": {"cleanup.policy": "compact", "segment.bytes": "1048576", "min.compaction.lag.ms": "60000"},
		"ps-commits":          {"cleanup.policy": "compact"},
	}
	for topic, cfgs := range want {
		rcs, err := adm.DescribeTopicConfigs(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		got := map[string]string{}
		for _, c := range rc.Configs {
			if c.Value != nil {
				got[c.Key] = *c.Value
			}
		}
		for k, v := range cfgs {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", topic, k, got[k], v)
			}
		}
		if ends, err := adm.ListEndOffsets(context.Background(), topic); err != nil || ends[topic][0].Offset == 0 && ends[topic][1].Offset == 0 {
			t.Errorf("%s holds no records (%v)", topic, err)
		}
	}

	// A fresh state directory: both stores restore from their changelogs.
	fresh := cfg
	fresh.StateDir = t.TempDir()
	produce(t, cl, "in", evs[300:450])
	a := run(fresh, 150)
	if a.Metrics().Restored == 0 {
		t.Error("a fresh instance restored nothing")
	}

	// The counts changelog is deleted: on the first state directory the counts store is
	// rebuilt from its (re-created, empty) topic alone while the sums store resumes from its
	// local state. The counts of windows before are lost with their changelog, as they
	// should be; the sums are not.
	if _, err := adm.DeleteTopics(context.Background(), "ps-counts-changelog"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "counts changelog deleted", 30*time.Second, func() bool {
		md, err := adm.ListTopics(context.Background(), "ps-counts-changelog")
		return err == nil && !md.Has("ps-counts-changelog")
	})
	produce(t, cl, "in", evs[450:])
	produce(t, cl, "in", sentinels(2))
	a2, err := kafkarun.New(twoStorePipeline("in", "out", "counts"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	runApp(t, a2)
	out := newOutputReader(t, b.Addr(), "out")
	out.waitFinals(t, expectedFinals(t, evs, 2), 60*time.Second)
	if got := a2.Metrics().Processed; got != int64(len(evs)-450+2) {
		t.Errorf("the restarted app processed %d records: it did not resume at its committed positions", got)
	}
}

// TestLegacyChangelogRefused: an application that has the single changelog of versions
// before per-store changelogs, and no commit log, is refused with an error naming the old
// topic and how to reset, and creates none of the new topics.
func TestLegacyChangelogRefused(t *testing.T) {
	b := samsatest.Start(t)
	_, adm := clients(t, b.Addr())
	createTopic(t, adm, "in", 1, nil)
	createTopic(t, adm, "legacy-store-changelog", 1, nil)
	a, err := kafkarun.New(sumsPipeline("in", "out"), kafkarun.Config{Brokers: []string{b.Addr()}, ApplicationID: "legacy",
		StateDir: t.TempDir(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = a.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "legacy-store-changelog") || !strings.Contains(err.Error(), "reset") {
		t.Fatalf("Run = %v, want a refusal naming the old changelog and the reset", err)
	}
	md, err := adm.ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if md.Has("legacy-commits") || md.Has("legacy-sums-changelog") {
		t.Error("the refused application created topics")
	}
}

// TestStoreTopicConfigsChecked: per-store topic configs name stores of the pipeline and keep
// changelogs compacted.
func TestStoreTopicConfigsChecked(t *testing.T) {
	for _, cfgs := range []map[string]map[string]string{
		{"nosuch": {"segment.bytes": "1048576"}},
		{"sums": {"cleanup.policy": "delete"}},
	} {
		_, err := kafkarun.New(sumsPipeline("in", "out"), kafkarun.Config{Brokers: []string{"127.0.0.1:1"}, ApplicationID: "x", StoreTopicConfigs: cfgs})
		if !errors.Is(err, kafkarun.ErrConfig) {
			t.Errorf("StoreTopicConfigs %v: New = %v, want ErrConfig", cfgs, err)
		}
	}
}
