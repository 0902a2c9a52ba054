package interop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func kgoCodec(t *testing.T, name string) kgo.CompressionCodec {
	t.Helper()
	switch name {
	case "none":
		return kgo.NoCompression()
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	t.Fatalf("unknown codec %q", name)
	return kgo.NoCompression()
}

// TestFranzCodecs produces records with keys, null keys, headers and
// explicit timestamps with every codec, consumes them with franz-go, and
// checks values, order and positions come back exactly and each batch is
// stored with the producer's codec.
func TestFranzCodecs(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	for _, codec := range codecs {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			topic := uniqueName("franz-" + codec)
			createTopic(t, addr, topic, 1, nil)
			want := makeRecords(300, codec)
			for i := range want {
				want[i].Offset = int64(i)
			}
			cl := newKgo(t, addr, kgo.ProducerBatchCompression(kgoCodec(t, codec)), kgo.ProducerLinger(50*time.Millisecond))
			produceKgo(t, cl, topic, want)

			got, gotCodecs := readAll(t, addr, topic)
			assertRecordsEqual(t, want, got, true)
			assertCodec(t, codec, gotCodecs)
		})
	}
}

// TestFranzMetadata checks the broker list and topic/partition/leader
// metadata as franz-go sees it.
func TestFranzMetadata(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	topic := uniqueName("franz-md")
	createTopic(t, addr, topic, 3, nil)
	adm := newAdmin(t, addr)
	md, err := adm.Metadata(testCtx(t, 10*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 1 {
		t.Fatalf("brokers: %v, want exactly one", md.Brokers)
	}
	b := md.Brokers[0]
	if got := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))); got != addr {
		t.Errorf("broker advertises %s, bootstrap was %s", got, addr)
	}
	td := md.Topics[topic]
	if td.Err != nil || len(td.Partitions) != 3 {
		t.Fatalf("topic %s: err %v, %d partitions, want 3", topic, td.Err, len(td.Partitions))
	}
	for p := int32(0); p < 3; p++ {
		pd, ok := td.Partitions[p]
		if !ok {
			t.Fatalf("partition %d missing", p)
		}
		if pd.Leader != b.NodeID {
			t.Errorf("partition %d leader %d, want %d", p, pd.Leader, b.NodeID)
		}
		if len(pd.Replicas) != 1 || pd.Replicas[0] != b.NodeID || len(pd.ISR) != 1 {
			t.Errorf("partition %d replicas %v isr %v", p, pd.Replicas, pd.ISR)
		}
	}
	if td.ID == (kadm.TopicID{}) {
		t.Errorf("topic %s has a zero topic id", topic)
	}
	if md.Cluster == "" {
		t.Errorf("metadata carries no cluster id")
	}
}

// configOf returns the described config key of topic and whether the
// broker reports it as set on the topic (DYNAMIC_TOPIC_CONFIG).
func configOf(t *testing.T, adm *kadm.Client, topic, key string) (value string, dynamic bool) {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testCtx(t, 10*time.Second), topic)
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatalf("describe configs of %s: %v", topic, err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			v := ""
			if c.Value != nil {
				v = *c.Value
			}
			return v, c.Source == kmsg.ConfigSourceDynamicTopicConfig
		}
	}
	t.Fatalf("config %s of %s not described", key, topic)
	return "", false
}

func assertTopicConfig(t *testing.T, adm *kadm.Client, topic, key, want string) {
	t.Helper()
	v, dyn := configOf(t, adm, topic, key)
	if v != want || !dyn {
		t.Errorf("%s: %s=%q (topic-level %v), want %q set on the topic", topic, key, v, dyn, want)
	}
}

func assertConfigNotSet(t *testing.T, adm *kadm.Client, topic, key string) {
	t.Helper()
	if v, dyn := configOf(t, adm, topic, key); dyn {
		t.Errorf("%s: %s=%q still set on the topic", topic, key, v)
	}
}

// TestFranzAdmin drives kadm through topic creation with configs, config
// describe and alter (incremental and legacy), partition creation, list
// offsets (earliest, latest, by timestamp, max timestamp),
// OffsetForLeaderEpoch, delete records, DescribeCluster and topic deletion.
func TestFranzAdmin(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	adm := newAdmin(t, addr)
	ctx := testCtx(t, 60*time.Second)
	topic := uniqueName("franz-admin")

	created, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{
		"retention.ms":      strp("3600000"),
		"cleanup.policy":    strp("delete"),
		"max.message.bytes": strp("2000000"),
	}, topic)
	if err == nil {
		err = created.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	awaitTopic(t, adm, topic, 2)
	assertTopicConfig(t, adm, topic, "retention.ms", "3600000")
	assertTopicConfig(t, adm, topic, "max.message.bytes", "2000000")

	// Creating it again is TOPIC_ALREADY_EXISTS.
	again, err := adm.CreateTopic(ctx, 2, 1, nil, topic)
	if err == nil {
		err = again.Err
	}
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("second create: %v, want TOPIC_ALREADY_EXISTS", err)
	}

	// Incremental alter: set one key, delete another.
	alt, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: strp("7200000")},
		{Op: kadm.DeleteConfig, Name: "max.message.bytes"},
	}, topic)
	if err == nil {
		_, err = alt.On(topic, nil)
	}
	if err != nil {
		t.Fatalf("incremental alter configs: %v", err)
	}
	assertTopicConfig(t, adm, topic, "retention.ms", "7200000")
	assertConfigNotSet(t, adm, topic, "max.message.bytes")
	assertTopicConfig(t, adm, topic, "cleanup.policy", "delete")

	// Legacy alter replaces the whole set: keys not named are reset.
	alt, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{
		{Name: "segment.ms", Value: strp("600000")},
	}, topic)
	if err == nil {
		_, err = alt.On(topic, nil)
	}
	if err != nil {
		t.Fatalf("legacy alter configs: %v", err)
	}
	assertTopicConfig(t, adm, topic, "segment.ms", "600000")
	assertConfigNotSet(t, adm, topic, "retention.ms")
	assertConfigNotSet(t, adm, topic, "cleanup.policy")

	// Create partitions: 2 -> 4.
	cp, err := adm.CreatePartitions(ctx, 2, topic)
	if err == nil {
		_, err = cp.On(topic, nil)
	}
	if err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	awaitTopic(t, adm, topic, 4)

	// Ten records on partition 0: timestamps t0+i s, except offset 6 which
	// carries the largest timestamp.
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	recs := make([]rec, 10)
	for i := range recs {
		recs[i] = rec{Value: []byte(fmt.Sprintf("v%d", i)), Timestamp: t0.Add(time.Duration(i) * time.Second)}
	}
	recs[6].Timestamp = t0.Add(100 * time.Second)
	produceKgo(t, newKgo(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, recs)

	listed := func(name string, list func() (kadm.ListedOffsets, error)) kadm.ListedOffset {
		t.Helper()
		lo, err := list()
		if err == nil {
			err = lo.Error()
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		o, ok := lo.Lookup(topic, 0)
		if !ok {
			t.Fatalf("%s: no answer for partition 0", name)
		}
		return o
	}
	earliest := func() (kadm.ListedOffsets, error) { return adm.ListStartOffsets(ctx, topic) }
	if o := listed("earliest", earliest); o.Offset != 0 {
		t.Errorf("earliest offset %d, want 0", o.Offset)
	}
	latest := func() (kadm.ListedOffsets, error) { return adm.ListEndOffsets(ctx, topic) }
	if o := listed("latest", latest); o.Offset != 10 {
		t.Errorf("latest offset %d, want 10", o.Offset)
	}
	afterMilli := func(ts time.Time) func() (kadm.ListedOffsets, error) {
		return func() (kadm.ListedOffsets, error) { return adm.ListOffsetsAfterMilli(ctx, ts.UnixMilli(), topic) }
	}
	if o := listed("by timestamp", afterMilli(t0.Add(3*time.Second))); o.Offset != 3 {
		t.Errorf("offset for timestamp t0+3s: %d, want 3", o.Offset)
	}
	if o := listed("by timestamp", afterMilli(t0.Add(7*time.Second+time.Millisecond))); o.Offset != 6 {
		t.Errorf("offset for timestamp t0+7.001s: %d, want 6 (first record at or after it)", o.Offset)
	}
	maxTS := func() (kadm.ListedOffsets, error) { return adm.ListMaxTimestampOffsets(ctx, topic) }
	if o := listed("max timestamp", maxTS); o.Offset != 6 || o.Timestamp != recs[6].Timestamp.UnixMilli() {
		t.Errorf("max timestamp: offset %d ts %d, want offset 6 ts %d", o.Offset, o.Timestamp, recs[6].Timestamp.UnixMilli())
	}

	// OffsetForLeaderEpoch with the current epoch answers the log end.
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	epoch := md.Topics[topic].Partitions[0].LeaderEpoch
	var ofle kadm.OffsetForLeaderEpochRequest
	ofle.Add(topic, 0, epoch)
	eps, err := adm.OffsetForLeaderEpoch(ctx, ofle)
	if err != nil {
		t.Fatalf("OffsetForLeaderEpoch: %v", err)
	}
	if ep := eps[topic][0]; ep.Err != nil || ep.EndOffset != 10 || ep.LeaderEpoch != epoch {
		t.Errorf("OffsetForLeaderEpoch(epoch %d): %+v, want end offset 10 at epoch %d", epoch, ep, epoch)
	}

	// Delete records before offset 4: the log start moves.
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4})
	drs, err := adm.DeleteRecords(ctx, del)
	if err == nil {
		err = drs.Error()
	}
	if err != nil {
		t.Fatalf("delete records: %v", err)
	}
	if dr, _ := drs.Lookup(topic, 0); dr.LowWatermark != 4 {
		t.Errorf("delete records low watermark %d, want 4", dr.LowWatermark)
	}
	if o := listed("earliest", earliest); o.Offset != 4 {
		t.Errorf("earliest offset after delete records: %d, want 4", o.Offset)
	}
	got, _ := readAll(t, addr, topic)
	if len(got) != 6 || got[0].Offset != 4 || string(got[0].Value) != "v4" {
		t.Errorf("after delete records read %d records starting %v, want 6 from offset 4", len(got), got)
	}

	// DescribeCluster.
	dc := rawRequest[*kmsg.DescribeClusterResponse](t, newKgo(t, addr), kmsg.NewPtrDescribeClusterRequest())
	if err := kerr.ErrorForCode(dc.ErrorCode); err != nil {
		t.Fatalf("DescribeCluster: %v", err)
	}
	if dc.ClusterID == "" || len(dc.Brokers) != 1 {
		t.Errorf("DescribeCluster: cluster id %q, %d brokers", dc.ClusterID, len(dc.Brokers))
	} else if b := dc.Brokers[0]; net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))) != addr || dc.ControllerID != b.NodeID {
		t.Errorf("DescribeCluster broker %s:%d node %d controller %d, want %s", b.Host, b.Port, b.NodeID, dc.ControllerID, addr)
	}

	// Delete the topic.
	dt, err := adm.DeleteTopic(ctx, topic)
	if err == nil {
		err = dt.Err
	}
	if err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	waitFor(t, 10*time.Second, "topic deleted", func() (bool, string) {
		tds, err := adm.ListTopics(ctx)
		if err != nil {
			return false, err.Error()
		}
		return !tds.Has(topic), fmt.Sprintf("topics %v", tds.Names())
	})
}

// pollMember runs cl as a group member until stop: each poll's records go to out as
// label's, then are committed synchronously. A refused commit fails the test when strict;
// otherwise it is logged (a commit racing a revocation may be refused, and the records are
// redelivered). stop closes the client, which leaves the group.
func pollMember(t *testing.T, cl *kgo.Client, label string, out chan<- consumed, strict bool) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() || ctx.Err() != nil {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				deliver(ctx, out, consumed{Member: label, Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
			})
			if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
				if strict {
					t.Errorf("%s commit: %v", label, err)
				} else {
					t.Logf("%s commit: %v", label, err)
				}
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			cl.Close()
		})
	}
	t.Cleanup(stop)
	return stop
}

// franzMember is a franz-go consumer group member that commits each poll's
// records synchronously after handing them to out.
func franzMember(t *testing.T, addr, group, topic, label string, out chan<- consumed) (stop func()) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.HeartbeatInterval(200*time.Millisecond),
		kgo.SessionTimeout(10*time.Second),
	)
	if err != nil {
		t.Fatalf("franz-go member: %v", err)
	}
	return pollMember(t, cl, label, out, true)
}

// TestFranzGroup runs the two-member consumer group scenario with franz-go.
func TestFranzGroup(t *testing.T) {
	t.Parallel()
	runGroupTest(t, startBroker(t), franzMember)
}

// TestFranzIdempotent produces records with franz-go's default idempotent
// producer, many in flight, and checks they appear exactly once, in order,
// under a producer id.
func TestFranzIdempotent(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	topic := uniqueName("franz-idem")
	createTopic(t, addr, topic, 2, nil)
	const n = 5000
	cl := newKgo(t, addr,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(4<<10), // many small batches, several in flight
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	want := make([]rec, n)
	ctx := testCtx(t, 60*time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range want {
		want[i] = rec{
			Key:       []byte(strconv.Itoa(i)),
			Value:     []byte(fmt.Sprintf("idempotent-%06d", i)),
			Timestamp: time.Now().Truncate(time.Millisecond),
			Partition: int32(i % 2),
		}
		wg.Add(1)
		cl.Produce(ctx, toKgo(topic, want[i]), func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
	got := readAllKgo(t, addr, topic)
	if len(got) != n {
		t.Fatalf("read %d records, want %d", len(got), n)
	}
	next := map[int32]int{0: 0, 1: 1}
	for _, r := range got {
		if r.ProducerID < 0 {
			t.Fatalf("p%d@%d has no producer id: not written idempotently", r.Partition, r.Offset)
		}
		i := next[r.Partition]
		if string(r.Value) != string(want[i].Value) {
			t.Fatalf("p%d@%d = %q, want %q (duplicate, loss or reorder)", r.Partition, r.Offset, r.Value, want[i].Value)
		}
		next[r.Partition] = i + 2
	}
}
