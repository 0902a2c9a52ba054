package broker

import (
	"context"
	"testing"

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
