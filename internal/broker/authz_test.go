package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/security"
)

// TestAuthorizeProduceAllocatesNothing: with the authorizer on and 1,000 ACLs, authorizing
// an allowed produce request of 10 topics allocates nothing.
func TestAuthorizeProduceAllocatesNothing(t *testing.T) {
	sec, err := security.NewNode(context.Background(), security.Config{Authorizer: true})
	if err != nil {
		t.Fatal(err)
	}
	acls := []security.ACL{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "t-", PatternType: kmsg.ACLResourcePatternTypePrefixed,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationWrite, Permission: kmsg.ACLPermissionTypeAllow}}
	for i := 0; i < 999; i++ {
		acls = append(acls, security.ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "other-" + string(rune('a'+i%26)) + string(rune('a'+i/26)),
			PatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:bob", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow})
	}
	if err := sec.CreateACLs(context.Background(), acls); err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{DataDir: t.TempDir(), Settings: config.DefaultBroker(), Security: sec})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := &conn{b: b}
	c.sec.principal, c.sec.ip = "User:alice", "10.1.2.3"
	req := kmsg.NewPtrProduceRequest()
	for i := 0; i < 10; i++ {
		pt := kmsg.NewProduceRequestTopic()
		pt.Topic = "t-" + string(rune('a'+i))
		pt.Partitions = append(pt.Partitions, kmsg.NewProduceRequestTopicPartition())
		req.Topics = append(req.Topics, pt)
	}
	r := &request{kreq: req, c: c}
	r.hdr.Key = kmsg.Produce.Int16()
	if allocs := testing.AllocsPerRun(1000, func() {
		if b.authorizeRequest(r) || r.post != nil {
			t.Fatal("an allowed produce was refused")
		}
	}); allocs != 0 {
		t.Fatalf("authorizing a produce request allocates %.1f times", allocs)
	}
}

// TestProduceAuthorizationMemoFollowsACLs: the per-connection memo of the last allowed
// produce topic holds only while the ACLs are unchanged: a DENY added later refuses the next
// produce on the same connection, and another topic is checked on its own.
func TestProduceAuthorizationMemoFollowsACLs(t *testing.T) {
	sec, err := security.NewNode(context.Background(), security.Config{Authorizer: true})
	if err != nil {
		t.Fatal(err)
	}
	allow := security.ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "t", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationWrite, Permission: kmsg.ACLPermissionTypeAllow}
	if err := sec.CreateACLs(context.Background(), []security.ACL{allow}); err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{DataDir: t.TempDir(), Settings: config.DefaultBroker(), Security: sec})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := &conn{b: b}
	c.sec.principal, c.sec.ip = "User:alice", "10.1.2.3"
	produce := func(topic string) (refused bool) {
		req := kmsg.NewPtrProduceRequest()
		req.Acks = 1
		pt := kmsg.NewProduceRequestTopic()
		pt.Topic = topic
		pt.Partitions = append(pt.Partitions, kmsg.NewProduceRequestTopicPartition())
		req.Topics = append(req.Topics, pt)
		r := &request{kreq: req, c: c, done: make(chan kmsg.Response, 1)}
		r.hdr.Key = kmsg.Produce.Int16()
		if !b.authorizeRequest(r) {
			return false
		}
		resp := (<-r.done).(*kmsg.ProduceResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("refused produce: code %d", code)
		}
		return true
	}
	if produce("t") || produce("t") {
		t.Fatal("an allowed produce was refused")
	}
	if !produce("other") {
		t.Fatal("a produce to a topic without ACLs was allowed after one to an allowed topic")
	}
	deny := allow
	deny.Permission = kmsg.ACLPermissionTypeDeny
	if err := sec.CreateACLs(context.Background(), []security.ACL{deny}); err != nil {
		t.Fatal(err)
	}
	if !produce("t") {
		t.Fatal("a produce was allowed after a DENY was added")
	}
}

// TestFollowerListOffsetsOnClusterAction: a follower's ListOffsets (replica id >= 0) passes
// with CLUSTER_ACTION alone, as its Fetch does; a consumer's (replica id -1) still needs
// DESCRIBE on the topic.
func TestFollowerListOffsetsOnClusterAction(t *testing.T) {
	sec, err := security.NewNode(context.Background(), security.Config{Authorizer: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := sec.CreateACLs(context.Background(), []security.ACL{{ResourceType: kmsg.ACLResourceTypeCluster, ResourceName: "kafka-cluster",
		PatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:broker", Host: "*", Operation: kmsg.ACLOperationClusterAction,
		Permission: kmsg.ACLPermissionTypeAllow}}); err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{DataDir: t.TempDir(), Settings: config.DefaultBroker(), Security: sec})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := &conn{b: b}
	c.sec.principal, c.sec.ip = "User:broker", "10.1.2.3"
	for _, tc := range []struct {
		replica int32
		refused bool
	}{{2, false}, {-1, true}} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = tc.replica
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = "t"
		lt.Partitions = append(lt.Partitions, kmsg.NewListOffsetsRequestTopicPartition())
		req.Topics = append(req.Topics, lt)
		r := &request{kreq: req, c: c, done: make(chan kmsg.Response, 1)}
		r.hdr.Key = kmsg.ListOffsets.Int16()
		b.authorizeRequest(r)
		if refused := len(req.Topics) == 0; refused != tc.refused {
			t.Fatalf("replica %d: refused %v, want %v", tc.replica, refused, tc.refused)
		}
	}
}
