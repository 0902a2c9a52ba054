package interop

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaVersions are the protocol versions sarama tests run with: the
// library default and a recent release. sarama picks request versions from
// config.Version, so each exercises a different set of API versions.
var saramaVersions = []struct {
	name    string
	version sarama.KafkaVersion
}{
	{"default", sarama.DefaultVersion},
	{"v3.6", sarama.V3_6_0_0},
}

func saramaConfig(v sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = "samsa-interop"
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	return cfg
}

func saramaCodec(t *testing.T, name string) sarama.CompressionCodec {
	t.Helper()
	switch name {
	case "none":
		return sarama.CompressionNone
	case "gzip":
		return sarama.CompressionGZIP
	case "snappy":
		return sarama.CompressionSnappy
	case "lz4":
		return sarama.CompressionLZ4
	case "zstd":
		return sarama.CompressionZSTD
	}
	t.Fatalf("unknown codec %q", name)
	return sarama.CompressionNone
}

func toSarama(topic string, r rec) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{
		Topic:     topic,
		Value:     sarama.ByteEncoder(r.Value),
		Timestamp: r.Timestamp,
		Partition: r.Partition,
	}
	if r.Key != nil {
		m.Key = sarama.ByteEncoder(r.Key)
	}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	return m
}

func fromSarama(m *sarama.ConsumerMessage) rec {
	r := rec{
		Key:       m.Key,
		Value:     m.Value,
		Timestamp: m.Timestamp,
		Partition: m.Partition,
		Offset:    m.Offset,
	}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, header{Key: string(h.Key), Value: h.Value})
	}
	return r
}

// saramaProduce sends recs with a sync producer (batched: one SendMessages
// call) to the partitions the records name.
func saramaProduce(t *testing.T, addr string, cfg *sarama.Config, topic string, recs []rec) {
	t.Helper()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		msgs[i] = toSarama(topic, r)
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("sarama produce: %v", err)
	}
}

// saramaConsume reads n records of partition from the oldest offset.
func saramaConsume(t *testing.T, addr string, cfg *sarama.Config, topic string, partition int32, n int) []rec {
	t.Helper()
	c, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, partition, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("sarama consume partition: %v", err)
	}
	defer pc.Close()
	timeout := time.After(30 * time.Second)
	out := make([]rec, 0, n)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, fromSarama(m))
		case err := <-pc.Errors():
			t.Fatalf("sarama consume: %v", err)
		case <-timeout:
			t.Fatalf("sarama consumed %d of %d records", len(out), n)
		}
	}
	return out
}

// TestSaramaCodecs round-trips records with every codec through sarama's
// producer and consumer, with the default and a recent protocol version.
func TestSaramaCodecs(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	for _, v := range saramaVersions {
		for _, codec := range codecs {
			t.Run(v.name+"/"+codec, func(t *testing.T) {
				t.Parallel()
				topic := uniqueName("sarama-" + codec)
				createTopic(t, addr, topic, 1, nil)
				want := makeRecords(200, codec)
				for i := range want {
					want[i].Offset = int64(i)
				}
				cfg := saramaConfig(v.version)
				cfg.Producer.Compression = saramaCodec(t, codec)
				cfg.Producer.Flush.Messages = 50
				cfg.Producer.Flush.Frequency = 20 * time.Millisecond
				saramaProduce(t, addr, cfg, topic, want)

				got := saramaConsume(t, addr, saramaConfig(v.version), topic, 0, len(want))
				assertRecordsEqual(t, want, got, true)
				_, gotCodecs := readAll(t, addr, topic)
				assertCodec(t, codec, gotCodecs)
			})
		}
	}
}

// TestSaramaMetadata checks brokers, partitions, leaders and the
// controller as sarama's client sees them.
func TestSaramaMetadata(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	topic := uniqueName("sarama-md")
	createTopic(t, addr, topic, 3, nil)
	for _, v := range saramaVersions {
		t.Run(v.name, func(t *testing.T) {
			cl, err := sarama.NewClient([]string{addr}, saramaConfig(v.version))
			if err != nil {
				t.Fatalf("sarama client: %v", err)
			}
			defer cl.Close()
			brokers := cl.Brokers()
			if len(brokers) != 1 || brokers[0].Addr() != addr {
				t.Fatalf("brokers %v, want one at %s", brokers, addr)
			}
			ps, err := cl.Partitions(topic)
			if err != nil || len(ps) != 3 {
				t.Fatalf("partitions of %s: %v %v, want 3", topic, ps, err)
			}
			for _, p := range ps {
				leader, err := cl.Leader(topic, p)
				if err != nil {
					t.Fatalf("leader of %d: %v", p, err)
				}
				if leader.ID() != brokers[0].ID() {
					t.Errorf("partition %d leader %d, want %d", p, leader.ID(), brokers[0].ID())
				}
				replicas, err := cl.Replicas(topic, p)
				if err != nil || len(replicas) != 1 {
					t.Errorf("replicas of %d: %v %v", p, replicas, err)
				}
			}
			ctrl, err := cl.Controller()
			if err != nil || ctrl.ID() != brokers[0].ID() {
				t.Errorf("controller %v %v, want broker %d", ctrl, err, brokers[0].ID())
			}
			topics, err := cl.Topics()
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, tp := range topics {
				found = found || tp == topic
			}
			if !found {
				t.Errorf("topics %v lack %s", topics, topic)
			}
		})
	}
}

// saramaTopicConfig returns key's value on topic and whether it is set on
// the topic itself.
func saramaTopicConfig(t *testing.T, adm sarama.ClusterAdmin, topic, key string) (string, bool) {
	t.Helper()
	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		t.Fatalf("describe config: %v", err)
	}
	for _, e := range entries {
		if e.Name == key {
			return e.Value, e.Source == sarama.SourceTopic
		}
	}
	t.Fatalf("config %s not described", key)
	return "", false
}

// TestSaramaAdmin drives sarama's ClusterAdmin: create topic with configs,
// describe/alter configs (incremental and legacy), create partitions, list
// offsets, delete records, describe cluster, delete topic.
func TestSaramaAdmin(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	for _, v := range saramaVersions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			adm, err := sarama.NewClusterAdmin([]string{addr}, saramaConfig(v.version))
			if err != nil {
				t.Fatalf("cluster admin: %v", err)
			}
			defer adm.Close()
			topic := uniqueName("sarama-admin")
			err = adm.CreateTopic(topic, &sarama.TopicDetail{
				NumPartitions:     2,
				ReplicationFactor: 1,
				ConfigEntries: map[string]*string{
					"retention.ms":      strp("3600000"),
					"max.message.bytes": strp("2000000"),
				},
			}, false)
			if err != nil {
				t.Fatalf("create topic: %v", err)
			}
			awaitTopic(t, newAdmin(t, addr), topic, 2)
			if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); !errors.Is(err, sarama.ErrTopicAlreadyExists) {
				t.Errorf("second create: %v, want ErrTopicAlreadyExists", err)
			}
			expect := func(key, want string, set bool) {
				t.Helper()
				got, isSet := saramaTopicConfig(t, adm, topic, key)
				if isSet != set || (set && got != want) {
					t.Errorf("%s = %q (set on topic %v), want %q set %v", key, got, isSet, want, set)
				}
			}
			expect("retention.ms", "3600000", true)
			expect("max.message.bytes", "2000000", true)

			err = adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
				"retention.ms":      {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: strp("7200000")},
				"max.message.bytes": {Operation: sarama.IncrementalAlterConfigsOperationDelete},
			}, false)
			if err != nil {
				t.Fatalf("incremental alter config: %v", err)
			}
			expect("retention.ms", "7200000", true)
			expect("max.message.bytes", "", false)

			if err := adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{"segment.ms": strp("600000")}, false); err != nil {
				t.Fatalf("alter config: %v", err)
			}
			expect("segment.ms", "600000", true)
			expect("retention.ms", "", false)

			if err := adm.CreatePartitions(topic, 4, nil, false); err != nil {
				t.Fatalf("create partitions: %v", err)
			}
			awaitTopic(t, newAdmin(t, addr), topic, 4)
			details, err := adm.ListTopics()
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := details[topic]; !ok || d.NumPartitions != 4 {
				t.Errorf("ListTopics: %s present %v with %d partitions, want 4", topic, ok, d.NumPartitions)
			}

			t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
			recs := make([]rec, 10)
			for i := range recs {
				recs[i] = rec{Value: []byte(fmt.Sprintf("v%d", i)), Timestamp: t0.Add(time.Duration(i) * time.Second)}
			}
			saramaProduce(t, addr, saramaConfig(v.version), topic, recs)

			list := func(at int64) int64 {
				t.Helper()
				res, err := adm.ListOffsets(map[string]map[int32]int64{topic: {0: at}}, nil)
				if err != nil {
					t.Fatalf("list offsets %d: %v", at, err)
				}
				r := res[topic][0]
				if r == nil || (r.Err != nil && !errors.Is(r.Err, sarama.ErrNoError)) {
					t.Fatalf("list offsets %d: %+v", at, r)
				}
				return r.Offset
			}
			if o := list(sarama.OffsetOldest); o != 0 {
				t.Errorf("oldest %d, want 0", o)
			}
			if o := list(sarama.OffsetNewest); o != 10 {
				t.Errorf("newest %d, want 10", o)
			}
			if o := list(t0.Add(5 * time.Second).UnixMilli()); o != 5 {
				t.Errorf("offset for t0+5s %d, want 5", o)
			}

			if err := adm.DeleteRecords(topic, map[int32]int64{0: 4}); err != nil {
				t.Fatalf("delete records: %v", err)
			}
			if o := list(sarama.OffsetOldest); o != 4 {
				t.Errorf("oldest after delete records %d, want 4", o)
			}
			got := saramaConsume(t, addr, saramaConfig(v.version), topic, 0, 6)
			if got[0].Offset != 4 || string(got[0].Value) != "v4" {
				t.Errorf("first record after delete records: %v, want v4 at 4", got[0])
			}

			brokers, ctrl, err := adm.DescribeCluster()
			if err != nil {
				t.Fatalf("describe cluster: %v", err)
			}
			if len(brokers) != 1 || brokers[0].Addr() != addr || brokers[0].ID() != ctrl {
				t.Errorf("describe cluster: brokers %v controller %d, want one at %s that is controller", brokers, ctrl, addr)
			}

			if err := adm.DeleteTopic(topic); err != nil {
				t.Fatalf("delete topic: %v", err)
			}
			waitFor(t, 10*time.Second, "topic deleted", func() (bool, string) {
				details, err := adm.ListTopics()
				if err != nil {
					return false, err.Error()
				}
				_, ok := details[topic]
				return !ok, "still listed"
			})
		})
	}
}

type saramaHandler struct {
	ctx   context.Context
	out   chan<- consumed
	label string
	t     *testing.T
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim hands each message over and marks it; whenever no further
// message is buffered it commits the marks synchronously.
func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			if !deliver(h.ctx, h.out, consumed{Member: h.label, Partition: m.Partition, Offset: m.Offset, Value: string(m.Value)}) {
				return nil
			}
			sess.MarkMessage(m, "")
			if len(claim.Messages()) == 0 {
				sess.Commit()
			}
		case <-sess.Context().Done():
			return nil
		}
	}
}

func saramaMember(v sarama.KafkaVersion) memberFunc {
	return func(t *testing.T, addr, group, topic, label string, out chan<- consumed) func() {
		cfg := saramaConfig(v)
		cfg.Consumer.Offsets.AutoCommit.Enable = false
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
		cfg.Consumer.Group.Session.Timeout = 10 * time.Second
		cfg.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
		g, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
		if err != nil {
			t.Fatalf("sarama consumer group: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		h := &saramaHandler{ctx: ctx, out: out, label: label, t: t}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{topic}, h); err != nil {
					if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
						return
					}
					t.Errorf("%s consume: %v", label, err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for {
				select {
				case err, ok := <-g.Errors():
					if !ok {
						return
					}
					if ctx.Err() == nil {
						t.Logf("%s: sarama group error: %v", label, err)
					}
				case <-ctx.Done():
					return
				}
			}
		}()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				if err := g.Close(); err != nil {
					t.Errorf("%s close: %v", label, err)
				}
				wg.Wait()
			})
		}
		t.Cleanup(stop)
		return stop
	}
}

// TestSaramaGroup runs the two-member consumer group scenario with
// sarama's ConsumerGroup, at both protocol versions.
func TestSaramaGroup(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	for _, v := range saramaVersions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			runGroupTest(t, addr, saramaMember(v.version))
		})
	}
}

// TestSaramaIdempotent produces with sarama's idempotent async producer
// and checks every record is stored once, in order, under a producer id.
func TestSaramaIdempotent(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	for _, v := range saramaVersions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			topic := uniqueName("sarama-idem")
			createTopic(t, addr, topic, 2, nil)
			cfg := saramaConfig(v.version)
			cfg.Producer.Idempotent = true
			cfg.Net.MaxOpenRequests = 1
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Retry.Max = 5
			cfg.Producer.Return.Errors = true
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			cfg.Producer.Flush.Messages = 100
			cfg.Producer.Flush.Frequency = 5 * time.Millisecond // flushes the tail too
			p, err := sarama.NewAsyncProducer([]string{addr}, cfg)
			if err != nil {
				t.Fatalf("idempotent producer: %v", err)
			}
			const n = 3000
			want := make([][]byte, n)
			for i := range want {
				want[i] = []byte(fmt.Sprintf("sarama-idem-%06d", i))
			}
			go func() {
				for i := 0; i < n; i++ {
					p.Input() <- &sarama.ProducerMessage{
						Topic:     topic,
						Key:       sarama.StringEncoder(strconv.Itoa(i)),
						Value:     sarama.ByteEncoder(want[i]),
						Partition: int32(i % 2),
					}
				}
			}()
			timeout := time.After(60 * time.Second)
			for acked := 0; acked < n; {
				select {
				case <-p.Successes():
					acked++
				case err := <-p.Errors():
					t.Fatalf("idempotent produce: %v", err)
				case <-timeout:
					t.Fatalf("%d of %d acknowledged", acked, n)
				}
			}
			if err := p.Close(); err != nil {
				t.Fatalf("close producer: %v", err)
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
				if string(r.Value) != string(want[i]) {
					t.Fatalf("p%d@%d = %q, want %q", r.Partition, r.Offset, r.Value, want[i])
				}
				next[r.Partition] = i + 2
			}
		})
	}
}
