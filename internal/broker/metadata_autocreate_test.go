package broker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// TestAutoCreateOnLaggingBroker: a topic created through one broker, asked for with
// auto-create by a broker that has not applied that metadata yet (its watch is held), is
// answered LEADER_NOT_AVAILABLE, which clients retry, and not TOPIC_ALREADY_EXISTS (the
// broker's own create attempt finds the topic in the store; librdkafka fails its records on
// that code). Once the broker applies the metadata, the same request answers the topic with its
// leader.
func TestAutoCreateOnLaggingBroker(t *testing.T) {
	tc := startTestCluster(t, 2)
	creator, lagging := tc.nodes[0], tc.nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Hold the lagging broker's application of snapshots (its metadata watch blocks in apply).
	lagging.b.cl.applyMu.Lock()
	held := true
	defer func() {
		if held {
			lagging.b.cl.applyMu.Unlock()
		}
	}()

	const name = "autolag"
	create := kmsg.NewPtrCreateTopicsRequest()
	create.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 2
	create.Topics = append(create.Topics, rt)
	resp, err := newTestClient(t, creator.addr).SeedBrokers()[0].Request(ctx, create)
	if err != nil {
		t.Fatal(err)
	}
	created := resp.(*kmsg.CreateTopicsResponse).Topics[0]
	if created.ErrorCode != 0 {
		t.Fatalf("create through broker %d: %v", creator.id, kerr.ErrorForCode(created.ErrorCode))
	}
	if _, ok := lagging.b.Snapshot().Topics[name]; ok {
		t.Fatal("the lagging broker applied the topic although its watch is held")
	}

	lcl := newTestClient(t, lagging.addr, kgo.ClientID("autolag"))
	metadata := func() kmsg.MetadataResponseTopic {
		t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = true
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, mt)
		resp, err := lcl.SeedBrokers()[0].Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		topics := resp.(*kmsg.MetadataResponse).Topics
		if len(topics) != 1 {
			t.Fatalf("metadata answered %d topics", len(topics))
		}
		return topics[0]
	}
	if got := metadata(); got.ErrorCode != kerr.LeaderNotAvailable.Code {
		t.Fatalf("auto-create of a topic another broker created, on a broker that has not applied it: %v; want LEADER_NOT_AVAILABLE",
			kerr.ErrorForCode(got.ErrorCode))
	}

	lagging.b.cl.applyMu.Unlock()
	held = false
	testwait.Until(t, 30*time.Second, "the topic and its leader in the lagging broker's answer", func() (bool, string) {
		got := metadata()
		if got.ErrorCode != 0 || len(got.Partitions) != 1 || got.TopicID != created.TopicID {
			return false, fmt.Sprintf("topic error %v, %d partitions, id %x (created %x)",
				kerr.ErrorForCode(got.ErrorCode), len(got.Partitions), got.TopicID, created.TopicID)
		}
		p := got.Partitions[0]
		return p.ErrorCode == 0 && p.Leader >= 0 && slices.Contains(p.Replicas, p.Leader),
			fmt.Sprintf("partition error %v, leader %d, replicas %v", kerr.ErrorForCode(p.ErrorCode), p.Leader, p.Replicas)
	})
}
