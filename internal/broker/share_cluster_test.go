package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A cluster node does not advertise the share group APIs (they are not served across
// brokers), a single node does; a franz-go ApiVersions request sees the same.
func TestShareGroupAPIsOnlyOnASingleNode(t *testing.T) {
	tc := startTestCluster(t, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(tc.nodes[0].addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	served := map[int16]bool{}
	for _, k := range resp.ApiKeys {
		served[k.ApiKey] = true
	}
	for _, k := range shareGroupKeys {
		if served[k] {
			t.Errorf("cluster node advertises %s", kmsg.NameForKey(k))
		}
	}
	if !served[kmsg.ConsumerGroupHeartbeat.Int16()] || !served[kmsg.Fetch.Int16()] {
		t.Fatal("cluster node does not advertise the consumer group APIs")
	}
	single := servedKeysFor(false)
	for _, k := range shareGroupKeys {
		if _, ok := single[k]; !ok {
			t.Errorf("a single node does not serve %s", kmsg.NameForKey(k))
		}
	}
}
