package admin

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/test/cluster/harness"
)

// testGroupConfigs: a share group's config set with IncrementalAlterConfigs through broker 1
// is described as GROUP_CONFIG by brokers 2 and 3 (the cluster's metadata store holds it, not
// a file of the broker asked), survives a kill -9 and restart of broker 2, and a deletion
// through broker 3 is seen by broker 1; a bad value is INVALID_CONFIG on every broker.
func testGroupConfigs(t *testing.T, c *harness.Cluster) {
	const group = "adm-share"
	node := func(id int32) *kgo.Broker {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Node(id).KafkaAddr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl.SeedBrokers()[0]
	}
	alter := func(id int32, op kmsg.IncrementalAlterConfigOp, value *string) error {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Op, cfg.Value = "share.delivery.count.limit", op, value
		rr.Configs = append(rr.Configs, cfg)
		req.Resources = append(req.Resources, rr)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		kresp, err := node(id).Request(ctx, req)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(kresp.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode)
	}
	// describe returns the delivery count limit as broker id describes it.
	describe := func(id int32) (string, kmsg.ConfigSource, error) {
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeGroupConfig, group, []string{"share.delivery.count.limit"}
		req.Resources = append(req.Resources, rr)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		kresp, err := node(id).Request(ctx, req)
		if err != nil {
			return "", 0, err
		}
		res := kresp.(*kmsg.DescribeConfigsResponse).Resources[0]
		if err := kerr.ErrorForCode(res.ErrorCode); err != nil {
			return "", 0, err
		}
		if len(res.Configs) != 1 || res.Configs[0].Value == nil {
			return "", 0, fmt.Errorf("configs %+v", res.Configs)
		}
		return *res.Configs[0].Value, res.Configs[0].Source, nil
	}
	await := func(id int32, value string, source kmsg.ConfigSource) {
		t.Helper()
		c.WaitFor(30*time.Second, fmt.Sprintf("broker %d describing %s (%s)", id, value, source), func() (bool, string) {
			v, s, err := describe(id)
			return err == nil && v == value && s == source, fmt.Sprintf("%q %s %v", v, s, err)
		})
	}

	if err := alter(1, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("4")); err != nil {
		t.Fatalf("set through broker 1: %v", err)
	}
	await(2, "4", kmsg.ConfigSourceGroupConfig)
	await(3, "4", kmsg.ConfigSourceGroupConfig)
	c.Node(2).Restart()
	await(2, "4", kmsg.ConfigSourceGroupConfig)
	for _, id := range []int32{1, 2, 3} {
		if err := alter(id, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("11")); err != kerr.InvalidConfig {
			t.Errorf("out-of-range value through broker %d: %v, want INVALID_CONFIG", id, err)
		}
	}
	if err := alter(3, kmsg.IncrementalAlterConfigOpDelete, nil); err != nil {
		t.Fatalf("delete through broker 3: %v", err)
	}
	await(1, "5", kmsg.ConfigSourceDefaultConfig)
	await(2, "5", kmsg.ConfigSourceDefaultConfig)
}
