package broker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/server"
	"github.com/samsa-streaming/samsa/internal/testwait"
)

// startServerAt starts a broker on dir with its Kafka listener on addr, so that a restarted
// broker keeps the address its clients know.
func startServerAt(t *testing.T, dir, addr string) *server.Server {
	t.Helper()
	settings := config.DefaultBroker()
	_ = settings.Set("group.initial.rebalance.delay.ms", "0")
	srv, err := server.Start(server.Config{
		DataDir: dir, KafkaAddr: addr, HTTPAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0",
		Broker: settings, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// shareGroupView is what ShareGroupDescribe says of a group: its epochs and each member's
// epoch and assignment; settled reports that every member is at the group epoch.
func shareGroupView(ctx context.Context, cl *kgo.Client, group string) (view string, settled bool, err error) {
	req := kmsg.NewPtrShareGroupDescribeRequest()
	req.GroupIDs = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return "", false, err
	}
	g := resp.Groups[0]
	if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
		return err.Error(), false, nil
	}
	settled = len(g.Members) == 2
	var ms []string
	for _, m := range g.Members {
		var ps []string
		for _, tp := range m.Assignment.TopicPartitions {
			ps = append(ps, fmt.Sprint(tp.Partitions))
		}
		ms = append(ms, fmt.Sprintf("%s@%d%v", m.MemberID, m.MemberEpoch, ps))
		settled = settled && m.MemberEpoch == g.GroupEpoch && len(ps) > 0
	}
	sort.Strings(ms)
	return fmt.Sprintf("%s epoch=%d assignment=%d members=%s", g.GroupState, g.GroupEpoch, g.AssignmentEpoch, strings.Join(ms, ",")), settled, nil
}

// TestShareGroupMembershipRestart restarts the broker under two franz-go share consumers: the
// group's membership comes back from __consumer_offsets, so ShareGroupDescribe shows the same
// group epoch, members, member epochs and assignments, the consumers carry on without
// rejoining (the group epoch does not move), and every record produced after the restart is
// delivered and accepted while none accepted before it is delivered again.
func TestShareGroupMembershipRestart(t *testing.T) {
	dir := t.TempDir()
	srv := startServerAt(t, dir, "127.0.0.1:0")
	addr := srv.KafkaAddr()
	const topic, group = "share-membership", "share-membership-group"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	admin, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: topic, NumPartitions: 2, ReplicationFactor: 1}}
	if resp, err := ct.RequestWith(ctx, admin); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic: %v %+v", err, resp)
	}
	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	res.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "share.auto.offset.reset", Op: kmsg.IncrementalAlterConfigOpSet, Value: kmsg.StringPtr("earliest")}}
	alter.Resources = append(alter.Resources, res)
	if resp, err := alter.RequestWith(ctx, admin); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("share.auto.offset.reset: %v %+v", err, resp)
	}
	produce := func(phase string, n int) {
		t.Helper()
		var recs []*kgo.Record
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(fmt.Sprintf("%s-%d", phase, i))})
		}
		p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RetryTimeout(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", phase, err)
		}
	}

	var mu sync.Mutex
	accepted := map[string]int{}
	for range 2 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ShareGroup(group), kgo.ConsumeTopics(topic),
			kgo.FetchMaxWait(300*time.Millisecond), kgo.RetryTimeout(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		cctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for cctx.Err() == nil {
				fs := cl.PollRecords(cctx, 50)
				if fs.IsClientClosed() || cctx.Err() != nil {
					return
				}
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					accepted[string(r.Value)]++
					mu.Unlock()
					r.Ack(kgo.AckAccept)
				})
				_ = cl.FlushAcks(cctx) // failures while the broker restarts are redelivered
			}
		}()
		defer func() { stop(); <-done; cl.Close() }()
	}
	allAccepted := func(phase string, n int) func() (bool, string) {
		return func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			got := 0
			for i := 0; i < n; i++ {
				if accepted[fmt.Sprintf("%s-%d", phase, i)] > 0 {
					got++
				}
			}
			return got == n, fmt.Sprintf("%d of %d %s records accepted", got, n, phase)
		}
	}
	startOffsetsAt := func(want int64) func() (bool, string) {
		return func() (bool, string) {
			req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
			req.Groups = []kmsg.DescribeShareGroupOffsetsRequestGroup{{GroupID: group, Topics: []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{{Topic: topic, Partitions: []int32{0, 1}}}}}
			resp, err := req.RequestWith(ctx, admin)
			if err != nil {
				return false, err.Error()
			}
			for _, p := range resp.Groups[0].Topics[0].Partitions {
				if p.StartOffset != want {
					return false, fmt.Sprintf("partition %d start offset %d, want %d", p.Partition, p.StartOffset, want)
				}
			}
			return true, ""
		}
	}

	produce("before", 20)
	testwait.Until(t, time.Minute, "both share consumers are members at the group epoch with their assignments", func() (bool, string) {
		v, settled, err := shareGroupView(ctx, admin, group)
		if err != nil {
			return false, err.Error()
		}
		return settled, v
	})
	testwait.Until(t, time.Minute, "every record accepted", allAccepted("before", 20))
	testwait.Until(t, time.Minute, "every acknowledgement durable", startOffsetsAt(10))
	before, _, err := shareGroupView(ctx, admin, group)
	if err != nil {
		t.Fatal(err)
	}

	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	srv = startServerAt(t, dir, addr)

	// Straight after the restart, before any member heartbeats again, the group is there as it
	// was (ShareGroupDescribe answers from what was loaded).
	after, _, err := shareGroupView(ctx, admin, group)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("after the restart:\n  %s\nbefore:\n  %s", after, before)
	}
	produce("after", 20)
	testwait.Until(t, time.Minute, "every record produced after the restart accepted", allAccepted("after", 20))
	testwait.Until(t, time.Minute, "every acknowledgement durable", startOffsetsAt(20))
	// The members carried on: nobody rejoined, so the group epoch did not move.
	now, _, err := shareGroupView(ctx, admin, group)
	if err != nil {
		t.Fatal(err)
	}
	if now != before {
		t.Errorf("the group once the consumers carried on:\n  %s\nbefore the restart:\n  %s", now, before)
	}
	mu.Lock()
	defer mu.Unlock()
	for v, n := range accepted {
		if n != 1 {
			t.Errorf("%s accepted %d times", v, n)
		}
	}
}
