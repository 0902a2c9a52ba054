package broker_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/internal/broker"
	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/samsatest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func client(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t *testing.T, addr, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(client(t, addr))
	resp, err := adm.CreateTopic(ctxT(t), partitions, 1, configs, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// consumeAll reads n records of topic from the beginning.
func consumeAll(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := ctxT(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func TestProduceConsumeEveryCodec(t *testing.T) {
	b := samsatest.Start(t)
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "codec-" + name
			cl := client(t, b.Addr(), kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
			ctx := ctxT(t)
			const n = 500
			ts := time.UnixMilli(1_700_000_000_000)
			var want []*kgo.Record
			for i := 0; i < n; i++ {
				r := &kgo.Record{
					Key:       []byte(fmt.Sprintf("key-%d", i)),
					Value:     []byte(fmt.Sprintf("value-%d-%s", i, "some compressible payload payload payload")),
					Headers:   []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}},
					Timestamp: ts.Add(time.Duration(i) * time.Millisecond),
				}
				if i%10 == 0 {
					r.Key = nil
				}
				want = append(want, r)
			}
			if err := cl.ProduceSync(ctx, want...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			got := consumeAll(t, b.Addr(), topic, n)
			if len(got) != n {
				t.Fatalf("got %d records, want %d", len(got), n)
			}
			for i, r := range got {
				w := want[i]
				if r.Offset != int64(i) || string(r.Key) != string(w.Key) || (r.Key == nil) != (w.Key == nil) ||
					string(r.Value) != string(w.Value) || !r.Timestamp.Equal(w.Timestamp) ||
					len(r.Headers) != 1 || string(r.Headers[0].Value) != fmt.Sprint(i) {
					t.Fatalf("record %d: got offset %d key %q value %q ts %v headers %v; want key %q value %q ts %v",
						i, r.Offset, r.Key, r.Value, r.Timestamp, r.Headers, w.Key, w.Value, w.Timestamp)
				}
			}
		})
	}
}

// rawBatch builds an uncompressed RecordBatch v2 with one record per value, for protocol tests
// that need exact control over producer ids, sequences and CRCs.
func rawBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		var body []byte
		body = append(body, 0)                             // attributes
		body = binary.AppendVarint(body, 0)                // timestamp delta
		body = binary.AppendVarint(body, int64(i))         // offset delta
		body = binary.AppendVarint(body, -1)               // null key
		body = binary.AppendVarint(body, int64(len(v)))    // value length
		body = append(body, v...)                          //
		body = binary.AppendVarint(body, 0)                // no headers
		recs = binary.AppendVarint(recs, int64(len(body))) //
		recs = append(recs, body...)                       //
	}
	now := time.Now().UnixMilli()
	b := make([]byte, 61, 61+len(recs))
	binary.BigEndian.PutUint64(b[0:], 0)
	binary.BigEndian.PutUint32(b[8:], uint32(61-12+len(recs)))
	binary.BigEndian.PutUint32(b[12:], 0)
	b[16] = 2
	binary.BigEndian.PutUint16(b[21:], 0)
	binary.BigEndian.PutUint32(b[23:], uint32(len(values)-1))
	binary.BigEndian.PutUint64(b[27:], uint64(now))
	binary.BigEndian.PutUint64(b[35:], uint64(now))
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[57:], uint32(len(values)))
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func produceRaw(t *testing.T, cl *kgo.Client, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

func TestIdempotentRetryIsNotWrittenTwice(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "idem", 1, nil)
	cl := client(t, b.Addr())
	init := kmsg.NewPtrInitProducerIDRequest()
	iresp, err := init.RequestWith(ctxT(t), cl)
	if err != nil || iresp.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %d", err, iresp.ErrorCode)
	}
	pid, epoch := iresp.ProducerID, iresp.ProducerEpoch

	first := produceRaw(t, cl, "idem", rawBatch(pid, epoch, 0, "a", "b"))
	second := produceRaw(t, cl, "idem", rawBatch(pid, epoch, 2, "c"))
	retry := produceRaw(t, cl, "idem", rawBatch(pid, epoch, 0, "a", "b"))
	if first.ErrorCode != 0 || second.ErrorCode != 0 || retry.ErrorCode != 0 {
		t.Fatalf("errors: %d %d %d", first.ErrorCode, second.ErrorCode, retry.ErrorCode)
	}
	if first.BaseOffset != 0 || second.BaseOffset != 2 || retry.BaseOffset != 0 {
		t.Fatalf("offsets: first %d second %d retry %d; want 0 2 0", first.BaseOffset, second.BaseOffset, retry.BaseOffset)
	}
	gap := produceRaw(t, cl, "idem", rawBatch(pid, epoch, 7, "x"))
	if gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap: error %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", gap.ErrorCode)
	}
	old := produceRaw(t, cl, "idem", rawBatch(pid, epoch+1, 0, "y"))
	if old.ErrorCode != 0 {
		t.Fatalf("new epoch at seq 0: error %d", old.ErrorCode)
	}
	fenced := produceRaw(t, cl, "idem", rawBatch(pid, epoch, 3, "z"))
	if fenced.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("old epoch: error %d, want INVALID_PRODUCER_EPOCH", fenced.ErrorCode)
	}
	got := consumeAll(t, b.Addr(), "idem", 4)
	var vals []string
	for _, r := range got {
		vals = append(vals, string(r.Value))
	}
	if fmt.Sprint(vals) != "[a b c y]" {
		t.Fatalf("log holds %v, want [a b c y]", vals)
	}

	// Producer state survives a restart: the retry is still recognised.
	dir := b.DataDir
	b.Close()
	b2 := samsatest.StartIn(t, dir)
	cl2 := client(t, b2.Addr())
	again := produceRaw(t, cl2, "idem", rawBatch(pid, epoch+1, 0, "y"))
	if again.ErrorCode != 0 || again.BaseOffset != 3 {
		t.Fatalf("retry after restart: error %d offset %d; want 0 and 3", again.ErrorCode, again.BaseOffset)
	}
	next := produceRaw(t, cl2, "idem", rawBatch(pid, epoch+1, 1, "w"))
	if next.ErrorCode != 0 || next.BaseOffset != 4 {
		t.Fatalf("next after restart: error %d offset %d; want 0 and 4", next.ErrorCode, next.BaseOffset)
	}
}

func TestBadBatchesGetKafkaErrorsAndBrokerKeepsServing(t *testing.T) {
	b := samsatest.Start(t)
	small := "2000"
	createTopic(t, b.Addr(), "bad", 1, map[string]*string{"max.message.bytes": &small})
	compact := "compact"
	createTopic(t, b.Addr(), "compacted", 1, map[string]*string{"cleanup.policy": &compact})
	cl := client(t, b.Addr())

	corrupt := rawBatch(-1, -1, -1, "hello")
	corrupt[len(corrupt)-2] ^= 0xff
	if r := produceRaw(t, cl, "bad", corrupt); r.ErrorCode != kerr.CorruptMessage.Code {
		t.Errorf("bad CRC: error %d, want CORRUPT_MESSAGE", r.ErrorCode)
	}
	big := rawBatch(-1, -1, -1, string(make([]byte, 5000)))
	if r := produceRaw(t, cl, "bad", big); r.ErrorCode != kerr.MessageTooLarge.Code {
		t.Errorf("large batch: error %d, want MESSAGE_TOO_LARGE", r.ErrorCode)
	}
	if r := produceRaw(t, cl, "compacted", rawBatch(-1, -1, -1, "keyless")); r.ErrorCode != kerr.InvalidRecord.Code {
		t.Errorf("keyless record on compacted topic: error %d, want INVALID_RECORD", r.ErrorCode)
	}
	if r := produceRaw(t, cl, "no-such-topic-here", rawBatch(-1, -1, -1, "x")); r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: error %d, want UNKNOWN_TOPIC_OR_PARTITION", r.ErrorCode)
	}
	if r := produceRaw(t, cl, "__consumer_offsets", rawBatch(-1, -1, -1, "forged")); r.ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("produce to __consumer_offsets: error %d, want INVALID_TOPIC_EXCEPTION", r.ErrorCode)
	}
	if r := produceRaw(t, cl, "bad", []byte{1, 2, 3}); r.ErrorCode != kerr.CorruptMessage.Code {
		t.Errorf("garbage records: error %d, want CORRUPT_MESSAGE", r.ErrorCode)
	}
	// Nothing was written by the bad requests, and good data still goes through.
	if r := produceRaw(t, cl, "bad", rawBatch(-1, -1, -1, "good")); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("good batch: error %d offset %d", r.ErrorCode, r.BaseOffset)
	}
}

func TestMalformedFramesCloseOnlyThatConnection(t *testing.T) {
	b := samsatest.Start(t)
	frames := map[string][]byte{
		"negative size": {0xff, 0xff, 0xff, 0xff},
		"oversized":     {0x7f, 0xff, 0xff, 0xff},
		"short header":  {0, 0, 0, 3, 0, 1, 2},
		"unknown key":   append([]byte{0, 0, 0, 10}, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff),
		"garbage body":  append([]byte{0, 0, 0, 14}, 0, 3, 0, 1, 0, 0, 0, 7, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff),
		"bad version":   append([]byte{0, 0, 0, 10}, 0, 0, 0x7f, 0, 0, 0, 0, 1, 0xff, 0xff),
	}
	for name, f := range frames {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", b.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(f)
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Fatalf("connection not closed by the broker: %v", err)
			}
			// The broker still serves a well-behaved client.
			adm := kadm.NewClient(client(t, b.Addr()))
			if _, err := adm.ListTopics(ctxT(t)); err != nil {
				t.Fatalf("broker stopped serving: %v", err)
			}
		})
	}
}

func TestApiVersionsTooNewAnsweredAtV0(t *testing.T) {
	b := samsatest.Start(t)
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// ApiVersions v99, correlation id 42, null client id.
	c.Write([]byte{0, 0, 0, 10, 0, 18, 0, 99, 0, 0, 0, 42, 0xff, 0xff})
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	if corr := binary.BigEndian.Uint32(body); corr != 42 {
		t.Fatalf("correlation id %d, want 42", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body[4:]); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("error %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
	}
	found := false
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 18 {
			found = k.MaxVersion >= 3
		}
	}
	if !found {
		t.Fatalf("ApiVersions range missing from %+v", resp.ApiKeys)
	}
}

func TestFetchLongPollWakesOnAppend(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "poll", 1, nil)
	cl := client(t, b.Addr())
	td, err := kadm.NewClient(cl).ListTopics(ctxT(t), "poll")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *kmsg.FetchResponse, 1)
	go func() {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 60000 // far longer than the test's deadline: only an append can end it
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "poll", td["poll"].ID // the client picks the version: name or id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			t.Error(err)
		}
		got <- resp
	}()
	prod := client(t, b.Addr())
	if err := prod.ProduceSync(ctxT(t), &kgo.Record{Topic: "poll", Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case resp := <-got:
		if resp == nil || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
			t.Fatalf("long poll returned without data: %+v", resp)
		}
	case <-ctxT(t).Done():
		t.Fatal("long poll was not woken by the append")
	}
}

func TestListOffsetsAndDeleteRecords(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "lo", 1, nil)
	cl := client(t, b.Addr(), kgo.DefaultProduceTopic("lo"))
	ctx := ctxT(t)
	base := time.UnixMilli(1_600_000_000_000)
	for i := 0; i < 10; i++ {
		// One batch per record so that each has its own timestamp range.
		ts := base.Add(time.Duration(i) * time.Second)
		if i == 4 {
			ts = base.Add(time.Hour) // the maximum
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}, Timestamp: ts}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	start, err := adm.ListStartOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	byTime, err := adm.ListOffsetsAfterMilli(ctx, base.Add(2500*time.Millisecond).UnixMilli(), "lo")
	if err != nil {
		t.Fatal(err)
	}
	maxTS, err := adm.ListMaxTimestampOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := start.Lookup("lo", 0)
	e, _ := end.Lookup("lo", 0)
	bt, _ := byTime.Lookup("lo", 0)
	mt, _ := maxTS.Lookup("lo", 0)
	if s.Offset != 0 || e.Offset != 10 || bt.Offset != 3 || mt.Offset != 4 {
		t.Fatalf("start %d end %d byTime %d max %d; want 0 10 3 4", s.Offset, e.Offset, bt.Offset, mt.Offset)
	}
	del, err := adm.DeleteRecords(ctx, kadm.Offsets{"lo": {0: {Topic: "lo", Partition: 0, At: 6}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := del.Lookup("lo", 0); d.Err != nil || d.LowWatermark != 6 {
		t.Fatalf("delete records: %+v", d)
	}
	start, _ = adm.ListStartOffsets(ctx, "lo")
	if s, _ := start.Lookup("lo", 0); s.Offset != 6 {
		t.Fatalf("log start after delete records: %d, want 6", s.Offset)
	}
	got := consumeAll(t, b.Addr(), "lo", 4)
	if got[0].Offset != 6 {
		t.Fatalf("consumer from start got offset %d first, want 6", got[0].Offset)
	}
}

func TestAdminTopicLifecycle(t *testing.T) {
	b := samsatest.Start(t, samsatest.WithSetting("auto.create.topics.enable", "false"))
	cl := client(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := ctxT(t)
	ret := "3600000"
	if r, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": &ret}, "life"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	for name, tc := range map[string]struct {
		topic  string
		parts  int32
		repl   int16
		cfg    map[string]*string
		expect *kerr.Error
	}{
		"exists":       {"life", 1, 1, nil, kerr.TopicAlreadyExists},
		"bad name":     {"bad/name", 1, 1, nil, kerr.InvalidTopicException},
		"replication":  {"rf3", 1, 3, nil, kerr.InvalidReplicationFactor},
		"zero parts":   {"zero", 0, 1, nil, kerr.InvalidPartitions},
		"bad config":   {"badcfg", 1, 1, map[string]*string{"retention.ms": ptr("soon")}, kerr.InvalidConfig},
		"unknown cfg":  {"unkcfg", 1, 1, map[string]*string{"no.such.config": ptr("1")}, kerr.InvalidConfig},
		"dot collides": {"li.fe", 1, 1, nil, nil}, // no collision: "life" has no '.' or '_'
	} {
		r, _ := adm.CreateTopic(ctx, tc.parts, tc.repl, tc.cfg, tc.topic)
		if tc.expect == nil && r.Err != nil || tc.expect != nil && !errors.Is(r.Err, tc.expect) {
			t.Errorf("%s: got %v, want %v", name, r.Err, tc.expect)
		}
	}
	// Describe shows the override with its source; incremental alter changes it.
	rc, err := adm.DescribeTopicConfigs(ctx, "life")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rc.On("life", nil)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range c.Configs {
		if e.Key == "retention.ms" {
			found = e.MaybeValue() == "3600000" && e.Source == kmsg.ConfigSourceDynamicTopicConfig
		}
	}
	if !found {
		t.Fatalf("retention.ms override not described: %+v", c.Configs)
	}
	if r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: ptr("compact")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: ptr("delete")}}, "life"); err == nil && !errors.Is(r[0].Err, kerr.InvalidRequest) {
		t.Fatalf("the same config twice in one alter: %v %v, want INVALID_REQUEST", err, r)
	}
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: ptr("compact")}}, "life")
	if err != nil || ar[0].Err != nil {
		t.Fatalf("alter: %v %v", err, ar)
	}
	rc, _ = adm.DescribeTopicConfigs(ctx, "life")
	c, _ = rc.On("life", nil)
	for _, e := range c.Configs {
		if e.Key == "cleanup.policy" && e.MaybeValue() != "delete,compact" {
			t.Fatalf("cleanup.policy after APPEND: %q", e.MaybeValue())
		}
	}
	if r, err := adm.CreatePartitions(ctx, 2, "life"); err != nil || r["life"].Err != nil {
		t.Fatalf("create partitions: %v %v", err, r)
	}
	if r, _ := adm.UpdatePartitions(ctx, 3, "life"); r["life"].Err == nil {
		t.Fatal("shrinking partitions should fail")
	}
	td, err := adm.ListTopics(ctx, "life")
	if err != nil || len(td["life"].Partitions) != 4 {
		t.Fatalf("partitions after create partitions: %v %d", err, len(td["life"].Partitions))
	}
	// Auto-create is off: producing to an unknown topic fails instead of creating it.
	md, err := adm.Metadata(ctx, "never-created")
	if err != nil {
		t.Fatal(err)
	}
	if md.Topics["never-created"].Err == nil {
		t.Fatal("metadata created a topic with auto-create disabled")
	}
	if r, err := adm.DeleteTopics(ctx, "life"); err != nil || r["life"].Err != nil {
		t.Fatalf("delete: %v %v", err, r)
	}
	td, _ = adm.ListTopics(ctx)
	if td.Has("life") {
		t.Fatal("deleted topic still listed")
	}
	// The cluster description names this broker as controller.
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil || dc.ErrorCode != 0 || len(dc.Brokers) != 1 || dc.ControllerID != dc.Brokers[0].NodeID || dc.ClusterID == "" {
		t.Fatalf("describe cluster: %v %+v", err, dc)
	}
}

func ptr(s string) *string { return &s }

func TestRestartKeepsTopicsConfigsDataAndOffsets(t *testing.T) {
	b := samsatest.Start(t)
	ret := "7200000"
	createTopic(t, b.Addr(), "keep", 3, map[string]*string{"retention.ms": &ret})
	cl := client(t, b.Addr(), kgo.DefaultProduceTopic("keep"))
	ctx := ctxT(t)
	for i := 0; i < 30; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "keep", Partition: 1, At: 5, LeaderEpoch: -1})
	if r, err := adm.CommitOffsets(ctx, "keeper", offs); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	dir := b.DataDir
	before, _ := adm.ListEndOffsets(ctx, "keep")
	cl.Close()
	b.Close()

	b2 := samsatest.StartIn(t, dir)
	adm2 := kadm.NewClient(client(t, b2.Addr()))
	td, err := adm2.ListTopics(ctx, "keep")
	if err != nil || len(td["keep"].Partitions) != 3 {
		t.Fatalf("topic after restart: %v %+v", err, td)
	}
	after, _ := adm2.ListEndOffsets(ctx, "keep")
	before.Each(func(o kadm.ListedOffset) {
		if a, _ := after.Lookup(o.Topic, o.Partition); a.Offset != o.Offset {
			t.Errorf("partition %d end offset %d after restart, was %d", o.Partition, a.Offset, o.Offset)
		}
	})
	rc, _ := adm2.DescribeTopicConfigs(ctx, "keep")
	c, _ := rc.On("keep", nil)
	for _, e := range c.Configs {
		if e.Key == "retention.ms" && e.MaybeValue() != "7200000" {
			t.Errorf("retention.ms after restart: %q", e.MaybeValue())
		}
	}
	fo, err := adm2.FetchOffsets(ctx, "keeper")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fo.Lookup("keep", 1); !ok || o.At != 5 {
		t.Fatalf("committed offset after restart: %+v %v", o, ok)
	}
	if got := consumeAll(t, b2.Addr(), "keep", 30); len(got) != 30 {
		t.Fatalf("records after restart: %d", len(got))
	}
}

// Old clients: Produce v2 with a legacy (magic 1) message set is up-converted and stored as a
// v2 batch; Fetch v3 gets magic 1 messages back.
func TestLegacyProduceAndFetch(t *testing.T) {
	b := samsatest.Start(t)
	createTopic(t, b.Addr(), "legacy", 1, nil)
	cl := client(t, b.Addr(), kgo.MaxVersions(kversionLegacy()))
	// A magic-1 message set with one message, offset 0, key "k", value "old".
	var m []byte
	m = binary.BigEndian.AppendUint64(m, 0)
	m = append(m, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0)
	m = binary.BigEndian.AppendUint64(m, uint64(time.Now().UnixMilli()))
	m = binary.BigEndian.AppendUint32(m, 1)
	m = append(m, 'k')
	m = binary.BigEndian.AppendUint32(m, 3)
	m = append(m, "old"...)
	binary.BigEndian.PutUint32(m[8:], uint32(len(m)-12))
	binary.BigEndian.PutUint32(m[12:], crc32.ChecksumIEEE(m[16:]))
	if r := produceRaw(t, cl, "legacy", m); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("legacy produce: error %d offset %d", r.ErrorCode, r.BaseOffset)
	}
	// A modern consumer reads it as a normal record.
	got := consumeAll(t, b.Addr(), "legacy", 1)
	if string(got[0].Key) != "k" || string(got[0].Value) != "old" {
		t.Fatalf("modern consumer got key %q value %q", got[0].Key, got[0].Value)
	}
	// A v3 fetch gets a magic-1 message back.
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "legacy"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version != 3 {
		t.Fatalf("fetch answered at v%d, want v3", resp.Version)
	}
	set := resp.Topics[0].Partitions[0].RecordBatches
	if len(set) < 17 || set[16] != 1 || !bytes.Contains(set, []byte("old")) {
		t.Fatalf("v3 fetch did not return a magic-1 message: %x", set)
	}
}

func kversionLegacy() *kversion.Versions {
	v := kversion.V0_10_2() // Produce v2, Fetch v3
	return v
}

// Two brokers on one data directory would corrupt each other's logs: the second is refused
// while the first runs, and can start once it has stopped.
func TestDataDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	first := samsatest.StartIn(t, dir)
	_, err := broker.New(broker.Config{DataDir: dir, Settings: config.DefaultBroker()})
	if !errors.Is(err, broker.ErrDataDirLocked) {
		t.Fatalf("second broker on the same directory: %v, want ErrDataDirLocked", err)
	}
	first.Close()
	again, err := broker.New(broker.Config{DataDir: dir, Settings: config.DefaultBroker()})
	if err != nil {
		t.Fatalf("start after the first stopped: %v", err)
	}
	again.Close()
}
