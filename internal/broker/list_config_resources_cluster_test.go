package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// listConfigRes sends ListConfigResources v1 for types to one broker: its error and the
// resources as "type:name".
func listConfigRes(t *testing.T, br *kgo.Broker, types ...int8) (int16, []string) {
	t.Helper()
	req := kmsg.NewPtrListConfigResourcesRequest()
	req.Version, req.ResourceTypes = 1, types
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kresp, err := br.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.ListConfigResourcesResponse)
	var out []string
	for _, r := range resp.ConfigResources {
		out = append(out, fmt.Sprintf("%d:%s", r.Type, r.Name))
	}
	return resp.ErrorCode, out
}

// TestListConfigResourcesCluster: on three brokers, ListConfigResources to any broker lists
// the group configs set through another (the cluster's, from the metadata store), the three
// live brokers, and a topic created through another broker; a group whose configs are all
// deleted is no longer listed.
func TestListConfigResourcesCluster(t *testing.T) {
	tc := startTestCluster(t, 3)
	b1, b3 := nodeClient(t, tc.node(1).addr), nodeClient(t, tc.node(3).addr)
	const group = "lcr/cluster"
	if code := alterGroupCfg(t, b1, group, false,
		groupCfgOp{"share.auto.offset.reset", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("earliest")}); code != 0 {
		t.Fatalf("set through broker 1: %v", kerr.ErrorForCode(code))
	}
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "lcr-cluster-topic", 1, 3
	create.Topics = append(create.Topics, ct)
	create.TimeoutMillis = 30000
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kresp, err := b1.Request(ctx, create)
	if err != nil {
		t.Fatal(err)
	}
	if code := kresp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create topic: %v", kerr.ErrorForCode(code))
	}

	testwait.Until(t, 10*time.Second, "broker 3 listing the group config set through broker 1", func() (bool, string) {
		code, got := listConfigRes(t, b3, 32)
		return code == 0 && slices.Equal(got, []string{"32:" + group}), fmt.Sprintf("%d %v", code, got)
	})
	if code, got := listConfigRes(t, b3, 4, 8); code != 0 || strings.Join(got, ",") != "8:1,8:2,8:3,4:1,4:2,4:3" {
		t.Fatalf("brokers: %d %v", code, got)
	}
	testwait.Until(t, 10*time.Second, "broker 3 listing the topic created through broker 1", func() (bool, string) {
		code, got := listConfigRes(t, b3, 2)
		return code == 0 && slices.Contains(got, "2:lcr-cluster-topic"), fmt.Sprintf("%d %v", code, got)
	})

	if code := alterGroupCfg(t, b1, group, false,
		groupCfgOp{"share.auto.offset.reset", kmsg.IncrementalAlterConfigOpDelete, nil}); code != 0 {
		t.Fatalf("delete through broker 1: %v", kerr.ErrorForCode(code))
	}
	testwait.Until(t, 10*time.Second, "broker 3 no longer listing the group", func() (bool, string) {
		code, got := listConfigRes(t, b3, 32)
		return code == 0 && len(got) == 0, fmt.Sprintf("%d %v", code, got)
	})
}
