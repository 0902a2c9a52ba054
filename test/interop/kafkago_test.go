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

	"github.com/segmentio/kafka-go"
)

func kafkagoCodec(t *testing.T, name string) kafka.Compression {
	t.Helper()
	switch name {
	case "none":
		return 0
	case "gzip":
		return kafka.Gzip
	case "snappy":
		return kafka.Snappy
	case "lz4":
		return kafka.Lz4
	case "zstd":
		return kafka.Zstd
	}
	t.Fatalf("unknown codec %q", name)
	return 0
}

func toKafkago(r rec) kafka.Message {
	m := kafka.Message{Key: r.Key, Value: r.Value, Time: r.Timestamp}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return m
}

func fromKafkago(m kafka.Message) rec {
	r := rec{
		Key:       m.Key,
		Value:     m.Value,
		Timestamp: m.Time,
		Partition: int32(m.Partition),
		Offset:    m.Offset,
	}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, header{Key: h.Key, Value: h.Value})
	}
	return r
}

// kafkagoWrite writes recs to a single-partition topic with kafka-go's
// Writer, batched.
func kafkagoWrite(t *testing.T, addr, topic string, codec kafka.Compression, recs []rec) {
	t.Helper()
	// A Transport of its own: the shared default caches metadata across
	// tests, so a topic created a moment ago may look unknown to it.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Transport:    tr,
		Addr:         kafka.TCP(addr),
		Topic:        topic,
		Balancer:     &kafka.LeastBytes{},
		BatchSize:    100,
		BatchTimeout: 10 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		Compression:  codec,
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = toKafkago(r)
	}
	if err := w.WriteMessages(testCtx(t, 30*time.Second), msgs...); err != nil {
		t.Fatalf("kafka-go write: %v", err)
	}
}

// kafkagoRead reads n records of partition from the first offset with
// kafka-go's Reader.
func kafkagoRead(t *testing.T, addr, topic string, partition, n int) []rec {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   []string{addr},
		Topic:     topic,
		Partition: partition,
		MinBytes:  1,
		MaxBytes:  10 << 20,
		MaxWait:   200 * time.Millisecond,
	})
	defer r.Close()
	ctx := testCtx(t, 30*time.Second)
	out := make([]rec, 0, n)
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("kafka-go read after %d of %d: %v", len(out), n, err)
		}
		out = append(out, fromKafkago(m))
	}
	return out
}

// kafkagoClient returns a kafka-go admin Client with a Transport of its own.
func kafkagoClient(t *testing.T, addr string) *kafka.Client {
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second, Transport: tr}
}

// TestKafkagoCodecs round-trips records with every codec through
// kafka-go's Writer and Reader.
func TestKafkagoCodecs(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	for _, codec := range codecs {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			topic := uniqueName("kafkago-" + codec)
			createTopic(t, addr, topic, 1, nil)
			want := makeRecords(200, codec)
			for i := range want {
				want[i].Offset = int64(i)
			}
			kafkagoWrite(t, addr, topic, kafkagoCodec(t, codec), want)
			got := kafkagoRead(t, addr, topic, 0, len(want))
			assertRecordsEqual(t, want, got, true)
			_, gotCodecs := readAll(t, addr, topic)
			assertCodec(t, codec, gotCodecs)
		})
	}
}

// TestKafkagoMetadata checks brokers, controller and partition leaders as
// kafka-go's Conn and Client see them.
func TestKafkagoMetadata(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	topic := uniqueName("kafkago-md")
	createTopic(t, addr, topic, 3, nil)

	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	brokers, err := conn.Brokers()
	if err != nil {
		t.Fatalf("brokers: %v", err)
	}
	if len(brokers) != 1 || net.JoinHostPort(brokers[0].Host, strconv.Itoa(brokers[0].Port)) != addr {
		t.Fatalf("brokers %+v, want one at %s", brokers, addr)
	}
	ctrl, err := conn.Controller()
	if err != nil || ctrl.ID != brokers[0].ID {
		t.Errorf("controller %+v %v, want broker %d", ctrl, err, brokers[0].ID)
	}
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("read partitions: %v", err)
	}
	if len(parts) != 3 {
		t.Fatalf("%d partitions, want 3", len(parts))
	}
	for _, p := range parts {
		if p.Topic != topic || p.Leader.ID != brokers[0].ID || len(p.Replicas) != 1 || len(p.Isr) != 1 {
			t.Errorf("partition %+v: want leader %d with one replica in sync", p, brokers[0].ID)
		}
	}

	cl := kafkagoClient(t, addr)
	md, err := cl.Metadata(testCtx(t, 10*time.Second), &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("client metadata: %v", err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Name != topic || len(md.Topics[0].Partitions) != 3 || md.Topics[0].Error != nil {
		t.Errorf("client metadata topics %+v", md.Topics)
	}
	if md.Controller.ID != brokers[0].ID {
		t.Errorf("client metadata controller %d, want %d", md.Controller.ID, brokers[0].ID)
	}
}

// TestKafkagoAdmin drives kafka-go's Conn admin (create/delete topics, read
// partitions and offsets) and Client admin calls (configs, partitions,
// list offsets).
func TestKafkagoAdmin(t *testing.T) {
	t.Parallel()
	addr := startBroker(t)
	ctx := testCtx(t, 60*time.Second)
	topic := uniqueName("kafkago-admin")

	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		t.Fatalf("controller: %v", err)
	}
	cconn, err := kafka.Dial("tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatalf("dial controller: %v", err)
	}
	defer cconn.Close()
	err = cconn.CreateTopics(kafka.TopicConfig{
		Topic:             topic,
		NumPartitions:     2,
		ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{
			{ConfigName: "retention.ms", ConfigValue: "3600000"},
			{ConfigName: "max.message.bytes", ConfigValue: "2000000"},
		},
	})
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	awaitTopic(t, newAdmin(t, addr), topic, 2)

	cl := kafkagoClient(t, addr)
	describe := func(key string) (string, bool) {
		t.Helper()
		resp, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
			Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic}},
		})
		if err != nil {
			t.Fatalf("describe configs: %v", err)
		}
		if len(resp.Resources) != 1 || resp.Resources[0].Error != nil {
			t.Fatalf("describe configs: %+v", resp.Resources)
		}
		for _, e := range resp.Resources[0].ConfigEntries {
			if e.ConfigName == key {
				return e.ConfigValue, e.ConfigSource == 1 // DYNAMIC_TOPIC_CONFIG
			}
		}
		t.Fatalf("config %s not described", key)
		return "", false
	}
	expect := func(key, want string, set bool) {
		t.Helper()
		got, isSet := describe(key)
		if isSet != set || (set && got != want) {
			t.Errorf("%s = %q (set on topic %v), want %q set %v", key, got, isSet, want, set)
		}
	}
	expect("retention.ms", "3600000", true)
	expect("max.message.bytes", "2000000", true)

	inc, err := cl.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic,
			ResourceName: topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{
				{Name: "retention.ms", Value: "7200000", ConfigOperation: kafka.ConfigOperationSet},
				{Name: "max.message.bytes", ConfigOperation: kafka.ConfigOperationDelete},
			},
		}},
	})
	if err == nil && len(inc.Resources) == 1 {
		err = inc.Resources[0].Error
	}
	if err != nil {
		t.Fatalf("incremental alter configs: %v", err)
	}
	expect("retention.ms", "7200000", true)
	expect("max.message.bytes", "", false)

	alt, err := cl.AlterConfigs(ctx, &kafka.AlterConfigsRequest{
		Resources: []kafka.AlterConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic,
			ResourceName: topic,
			Configs:      []kafka.AlterConfigRequestConfig{{Name: "segment.ms", Value: "600000"}},
		}},
	})
	if err == nil {
		for _, e := range alt.Errors {
			err = errors.Join(err, e)
		}
	}
	if err != nil {
		t.Fatalf("alter configs: %v", err)
	}
	expect("segment.ms", "600000", true)
	expect("retention.ms", "", false)

	cp, err := cl.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{
		Topics: []kafka.TopicPartitionsConfig{{Name: topic, Count: 4}},
	})
	if err == nil {
		err = cp.Errors[topic]
	}
	if err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	awaitTopic(t, newAdmin(t, addr), topic, 4)
	parts, err := conn.ReadPartitions(topic)
	if err != nil || len(parts) != 4 {
		t.Errorf("read partitions after create: %d %v, want 4", len(parts), err)
	}

	// Ten records on partition 0 at t0 + i s.
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	recs := make([]rec, 10)
	for i := range recs {
		recs[i] = rec{Value: []byte(fmt.Sprintf("v%d", i)), Timestamp: t0.Add(time.Duration(i) * time.Second)}
	}
	leader, err := kafka.DialLeader(ctx, "tcp", addr, topic, 0)
	if err != nil {
		t.Fatalf("dial leader: %v", err)
	}
	defer leader.Close()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = toKafkago(r)
	}
	if _, err := leader.WriteMessages(msgs...); err != nil {
		t.Fatalf("conn write: %v", err)
	}
	first, last, err := leader.ReadOffsets()
	if err != nil || first != 0 || last != 10 {
		t.Errorf("conn offsets first %d last %d (%v), want 0 and 10", first, last, err)
	}
	if o, err := leader.ReadOffset(t0.Add(5 * time.Second)); err != nil || o != 5 {
		t.Errorf("conn offset for t0+5s: %d %v, want 5", o, err)
	}
	lo, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {
			kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0), kafka.TimeOffsetOf(0, t0.Add(3*time.Second)),
		}},
	})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	for _, po := range lo.Topics[topic] {
		if po.Partition != 0 {
			continue
		}
		if po.Error != nil || po.FirstOffset != 0 || po.LastOffset != 10 {
			t.Errorf("client list offsets: %+v, want first 0 last 10", po)
		}
		found := false
		for o, ts := range po.Offsets {
			found = found || (o == 3 && ts.Equal(t0.Add(3*time.Second)))
		}
		if !found {
			t.Errorf("client list offsets by time: %v, want offset 3 at t0+3s", po.Offsets)
		}
	}

	if err := cconn.DeleteTopics(topic); err != nil {
		t.Fatalf("delete topics: %v", err)
	}
	waitFor(t, 10*time.Second, "topic deleted", func() (bool, string) {
		tds, err := newAdmin(t, addr).ListTopics(ctx)
		if err != nil {
			return false, err.Error()
		}
		return !tds.Has(topic), "still listed"
	})
}

// kafkagoMember is a kafka-go Reader in a consumer group that commits every
// message synchronously (CommitInterval 0) after handing it over.
func kafkagoMember(t *testing.T, addr, group, topic, label string, out chan<- consumed) func() {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{addr},
		GroupID:           group,
		Topic:             topic,
		MinBytes:          1,
		MaxBytes:          10 << 20,
		MaxWait:           200 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: 200 * time.Millisecond,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  200 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    200 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("%s fetch: %v", label, err)
				}
				return
			}
			if !deliver(ctx, out, consumed{Member: label, Partition: int32(m.Partition), Offset: m.Offset, Value: string(m.Value)}) {
				return
			}
			if err := r.CommitMessages(ctx, m); err != nil && ctx.Err() == nil {
				t.Errorf("%s commit: %v", label, err)
			}
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			if err := r.Close(); err != nil {
				t.Errorf("%s close: %v", label, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestKafkagoGroup runs the two-member consumer group scenario with
// kafka-go's group Reader.
func TestKafkagoGroup(t *testing.T) {
	t.Parallel()
	runGroupTest(t, startBroker(t), kafkagoMember)
}
