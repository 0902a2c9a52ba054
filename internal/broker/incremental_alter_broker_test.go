package broker_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/samsatest"
)

// TestIncrementalAlterBrokerConfigsDeleteOnly: a broker resource whose operations are all
// DELETE (what kafka-reassign-partitions --verify sends to clear the replication throttle
// rates) succeeds, since no dynamic broker config is ever set; a SET on a broker resource, or
// a DELETE beside a SET, is still refused with INVALID_REQUEST, and the broker keeps serving.
func TestIncrementalAlterBrokerConfigsDeleteOnly(t *testing.T) {
	b := samsatest.Start(t)
	cl := client(t, b.Addr())
	alter := func(ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) *kmsg.IncrementalAlterConfigsResponseResource {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.Configs = kmsg.ConfigResourceTypeBroker, "0", ops
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(ctxT(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Resources) != 1 {
			t.Fatalf("%d resources answered", len(resp.Resources))
		}
		return &resp.Resources[0]
	}
	op := func(name string, o kmsg.IncrementalAlterConfigOp, value *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = name, o, value
		return c
	}
	del := kmsg.IncrementalAlterConfigOpDelete
	if r := alter(op("leader.replication.throttled.rate", del, nil), op("follower.replication.throttled.rate", del, nil),
		op("replica.alter.log.dirs.io.max.bytes.per.second", del, nil)); r.ErrorCode != 0 {
		t.Fatalf("deleting the throttle rates: %v %v", kerr.ErrorForCode(r.ErrorCode), deref(r.ErrorMessage))
	}
	if r := alter(op("leader.replication.throttled.rate", kmsg.IncrementalAlterConfigOpSet, ptr("1000"))); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("setting a dynamic broker config: %v, want INVALID_REQUEST", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := alter(op("leader.replication.throttled.rate", del, nil), op("log.retention.ms", kmsg.IncrementalAlterConfigOpSet, ptr("1"))); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("a DELETE beside a SET: %v, want INVALID_REQUEST", kerr.ErrorForCode(r.ErrorCode))
	}
	createTopic(t, b.Addr(), "still-serving", 1, nil)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
