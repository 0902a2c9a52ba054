package group

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// discardStore makes every append durable at once and keeps nothing.
type discardStore struct{}

func (discardStore) Append(context.Context, int32, int32, []KV) error  { return nil }
func (discardStore) Load(context.Context, int32, func(KV) error) error { return nil }
func (discardStore) AppendTxn(context.Context, int32, int32, int64, int16, []KV) error {
	return nil
}
func (discardStore) AppendMarker(context.Context, int32, int32, int64, int16, bool, int32) error {
	return nil
}

func benchCoordinator(b *testing.B) (*Coordinator, *FakeClock) {
	b.Helper()
	clock := NewFakeClock(epoch)
	c, err := New(testConfig(), discardStore{}, Options{Logger: quietLogger(), Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c, clock
}

func BenchmarkHeartbeat(b *testing.B) {
	c, clock := benchCoordinator(b)
	h := &harness{t: b, c: c, clock: clock}
	m := h.stableGroup("g", 1)[0]
	req := heartbeatReq(4, "g", m.id, m.gen)
	var bad atomic.Int32
	respond := func(r kmsg.Response) {
		if r.(*kmsg.HeartbeatResponse).ErrorCode != 0 {
			bad.Add(1)
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.Handle(ctx, req, respond)
	}
	if bad.Load() != 0 {
		b.Fatalf("%d heartbeats failed", bad.Load())
	}
}

// BenchmarkOffsetCommit measures one consumer's commit round trip (request,
// append, completion, response) for 1 and 10 partitions.
func BenchmarkOffsetCommit(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			c, _ := benchCoordinator(b)
			offs := map[int32]int64{}
			for p := int32(0); p < int32(n); p++ {
				offs[p] = 100
			}
			req := commitReq(8, "g", "", -1, "topic", offs)
			done := make(chan struct{}, 1)
			respond := func(kmsg.Response) { done <- struct{}{} }
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for j := range req.Topics[0].Partitions {
					req.Topics[0].Partitions[j].Offset = int64(i)
				}
				c.Handle(ctx, req, respond)
				<-done
			}
		})
	}
}

// BenchmarkOffsetCommitParallel commits from many goroutines to 64 groups;
// appends to one partition are batched.
func BenchmarkOffsetCommitParallel(b *testing.B) {
	c, _ := benchCoordinator(b)
	var next atomic.Int32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := fmt.Sprintf("group-%d", next.Add(1)%64)
		req := commitReq(8, g, "", -1, "topic", map[int32]int64{0: 1})
		done := make(chan struct{}, 1)
		respond := func(kmsg.Response) { done <- struct{}{} }
		ctx := context.Background()
		for pb.Next() {
			c.Handle(ctx, req, respond)
			<-done
		}
	})
}

func BenchmarkOffsetFetch(b *testing.B) {
	c, _ := benchCoordinator(b)
	offs := map[int32]int64{}
	for p := int32(0); p < 10; p++ {
		offs[p] = 100
	}
	done := make(chan struct{}, 1)
	c.Handle(context.Background(), commitReq(8, "g", "", -1, "topic", offs), func(kmsg.Response) { done <- struct{}{} })
	<-done
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = "g"
	g.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "topic", Partitions: []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}}
	req.Groups = []kmsg.OffsetFetchRequestGroup{g}
	respond := func(kmsg.Response) {}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.Handle(ctx, req, respond)
	}
}

func BenchmarkEncodeOffsetRecord(b *testing.B) {
	e := offsetEntry{offset: 12345, leaderEpoch: 3, metadata: "", commitMs: 1700000000000, expireMs: -1}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for range b.N {
		buf = appendOffsetKey(buf[:0], "my-consumer-group", "my-topic", 7)
		buf = appendOffsetValue(buf, &e)
	}
}

func BenchmarkDecodeOffsetRecord(b *testing.B) {
	e := offsetEntry{offset: 12345, leaderEpoch: 3, metadata: "", commitMs: 1700000000000, expireMs: -1}
	kv := KV{Key: appendOffsetKey(nil, "my-consumer-group", "my-topic", 7), Value: appendOffsetValue(nil, &e)}
	b.ReportAllocs()
	for range b.N {
		if _, err := decodeRecord(kv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad measures Start over 100k offset commits (1000 groups × 100
// partitions, each committed once).
func BenchmarkLoad(b *testing.B) {
	store := NewMemStore()
	for g := 0; g < 1000; g++ {
		group := fmt.Sprintf("group-%d", g)
		p := coord.PartitionFor(group, 4)
		for part := int32(0); part < 100; part++ {
			e := offsetEntry{offset: int64(part), leaderEpoch: -1, commitMs: epoch.UnixMilli(), expireMs: -1}
			store.Put(p, KV{Key: appendOffsetKey(nil, group, "topic", part), Value: appendOffsetValue(nil, &e)})
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := New(testConfig(), store, Options{Logger: quietLogger(), Clock: NewFakeClock(epoch)})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkConsumerHeartbeatSteady is a steady-state ConsumerGroupHeartbeat (nothing changes)
// of one member of a consumer-protocol group of 100 members sharing 200 partitions: the cost
// includes encoding the group's records to find that nothing needs writing.
func BenchmarkConsumerHeartbeatSteady(b *testing.B) {
	topics := []TopicMeta{{Name: "t0", ID: topicID("t0"), Partitions: 200}}
	c, err := New(Config{NumPartitions: 1}, NewMemStore(), Options{Logger: quietLogger(), Clock: NewFakeClock(epoch),
		Topics: func() []TopicMeta { return append([]TopicMeta(nil), topics...) }})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	call := func(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
		got := make(chan kmsg.Response, 1)
		c.Handle(context.Background(), req, func(r kmsg.Response) { got <- r })
		return (<-got).(*kmsg.ConsumerGroupHeartbeatResponse)
	}
	hb := func(id string, epoch int32, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "g", id, epoch
		req.Topics = owned
		if epoch == 0 {
			req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 30000, []string{"t0"}
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		return call(req)
	}
	for i := 0; i < 100; i++ {
		hb(fmt.Sprintf("m%03d", i), 0, nil)
	}
	// Everybody reconciles to the last epoch.
	for round := 0; round < 4; round++ {
		for i := 0; i < 100; i++ {
			id := fmt.Sprintf("m%03d", i)
			c.lock()
			m := c.mu.groups["g"].consumer.members[id]
			ep := m.epoch
			owned := []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			m.assigned.each(func(tid [16]byte, p int32) {
				owned = append(owned, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: tid, Partitions: []int32{p}})
			})
			c.unlock()
			hb(id, ep, owned)
		}
	}
	c.lock()
	ep := c.mu.groups["g"].consumer.members["m000"].epoch
	c.unlock()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := hb("m000", ep, nil); r.ErrorCode != 0 {
			b.Fatal(r.ErrorCode)
		}
	}
}
