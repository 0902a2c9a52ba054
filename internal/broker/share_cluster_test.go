package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
	"github.com/samsa-streaming/samsa/internal/share"
	"github.com/samsa-streaming/samsa/internal/testwait"
)

// TestShareGroupsOnACluster: share groups on three in-process brokers. The group's
// coordinator (the leader of its __consumer_offsets partition) alone answers its heartbeats
// (the others NOT_COORDINATOR); AlterShareGroupOffsets through the coordinator starts every
// share-partition at offset 0 with InitializeShareGroupState on the state partitions' leaders;
// two franz-go share consumers accept every record of a three-partition RF=3 topic, each
// partition served by its own leader, whose state writes go to the leaders of the
// share-partitions' __share_group_state partitions (other brokers for some: asserted);
// DescribeShareGroupOffsets through the coordinator then reads every start offset at the end
// (ReadShareGroupState from the state leaders).
func TestShareGroupsOnACluster(t *testing.T) {
	tc := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, perPartition = "sq", 50
	adm := kadm.NewClient(tc.client())
	if resp, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	// The group id: the first whose share-partitions have their state on other brokers than
	// their partitions' leaders for some and on the same for others (state partitions hash
	// group:topicId:partition, and topic ids are random), so the test crosses brokers.
	if _, err := tc.nodes[0].b.shareStateTopic(ctx, true); err != nil {
		t.Fatal(err)
	}
	tid := tc.nodes[0].b.lookupTopic(topic).id
	crossing := func(g string) int {
		remote := 0
		for p := int32(0); p < 3; p++ {
			k := share.Key{Group: g, TopicID: tid, Partition: p}
			sp := coord.PartitionFor(k.String(), shareStatePartitions)
			if tc.state(shareStateTopic, sp).Leader != tc.state(topic, p).Leader {
				remote++
			}
		}
		return remote
	}
	group := ""
	for i := 0; i < 100 && group == ""; i++ {
		if n := crossing(fmt.Sprintf("sg-%d", i)); n > 0 && n < 3 {
			group = fmt.Sprintf("sg-%d", i)
		}
	}
	if group == "" {
		t.Fatal("no group id among 100 puts some share-partition state on another broker and some on the same")
	}
	pcl := tc.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := map[string]bool{}
	for p := int32(0); p < 3; p++ {
		for i := 0; i < perPartition; i++ {
			v := fmt.Sprintf("p%d-%d", p, i)
			want[v] = true
			if err := pcl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The coordinator alone answers heartbeats.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{group}
	fresp, err := fc.RequestWith(ctx, tc.client())
	if err != nil || len(fresp.Coordinators) != 1 || fresp.Coordinators[0].ErrorCode != 0 {
		t.Fatalf("find coordinator: %v %+v", err, fresp)
	}
	coordID := fresp.Coordinators[0].NodeID
	raw := tc.client()
	for _, nd := range tc.nodes {
		if nd.id == coordID {
			continue
		}
		hb := kmsg.NewPtrShareGroupHeartbeatRequest()
		hb.GroupID, hb.MemberID, hb.MemberEpoch, hb.SubscribedTopicNames = group, "probe-member-id-0000000000000000", 0, []string{topic}
		kr, err := raw.Broker(int(nd.id)).Request(ctx, hb)
		if err != nil {
			t.Fatal(err)
		}
		if code := kr.(*kmsg.ShareGroupHeartbeatResponse).ErrorCode; code != kerr.NotCoordinator.Code {
			t.Fatalf("heartbeat to node %d (coordinator %d): %v, want NOT_COORDINATOR", nd.id, coordID, kerr.ErrorForCode(code))
		}
	}

	// Start every share-partition at 0 (the group's default is latest).
	starts := kadm.Offsets{}
	for p := int32(0); p < 3; p++ {
		starts.Add(kadm.Offset{Topic: topic, Partition: p, At: 0})
	}
	// NOT_COORDINATOR while the coordinator's broker is still taking over the just-created
	// __consumer_offsets partition: retried, as admin clients do.
	testwait.Until(t, 30*time.Second, "share group offsets altered", func() (bool, string) {
		ar, err := adm.AlterShareGroupOffsets(ctx, group, starts)
		if err == nil {
			err = ar.Error()
		}
		return err == nil, fmt.Sprint(err)
	})

	var mu sync.Mutex
	accepted := map[string]int{}
	consumer := func(id string) *kgo.Client {
		cl := tc.client(kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.ClientID(id), kgo.FetchMaxWait(200*time.Millisecond))
		go func() {
			for ctx.Err() == nil {
				fs := cl.PollRecords(ctx, 20)
				if fs.IsClientClosed() {
					return
				}
				var vals []string
				fs.EachRecord(func(r *kgo.Record) {
					vals = append(vals, string(r.Value))
					r.Ack(kgo.AckAccept)
				})
				if len(vals) == 0 {
					continue
				}
				if err := cl.FlushAcks(ctx); err != nil {
					continue
				}
				mu.Lock()
				for _, v := range vals {
					accepted[v]++
				}
				mu.Unlock()
			}
		}()
		return cl
	}
	c1, c2 := consumer("c1"), consumer("c2")
	testwait.Until(t, 90*time.Second, "every record accepted", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) == len(want), fmt.Sprintf("%d of %d accepted", len(accepted), len(want))
	})
	c1.Close()
	c2.Close()
	for v := range accepted {
		if !want[v] {
			t.Fatalf("accepted %q, never produced", v)
		}
	}

	// Every share-partition's start offset is past its records, read through the coordinator.
	testwait.Until(t, 30*time.Second, "every start offset at the end", func() (bool, string) {
		do, err := adm.DescribeShareGroupOffsets(ctx, group)
		if err != nil || do[group].Err != nil {
			return false, fmt.Sprint(err, do[group].Err)
		}
		for p := int32(0); p < 3; p++ {
			if o := do[group].Offsets[topic][p]; o.Err != nil || o.StartOffset != perPartition {
				return false, fmt.Sprintf("partition %d: %+v", p, o)
			}
		}
		return true, ""
	})
}
