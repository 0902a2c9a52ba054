package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/security"
)

// TestAuthorizeListConfigResources: with an authorizer, ListConfigResources needs
// DESCRIBE_CONFIGS on the CLUSTER (as in Kafka 4.1); without it the answer is
// CLUSTER_AUTHORIZATION_FAILED and nothing is listed.
func TestAuthorizeListConfigResources(t *testing.T) {
	sec, err := security.NewNode(context.Background(), security.Config{Authorizer: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{DataDir: t.TempDir(), Settings: config.DefaultBroker(), Security: sec})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := &conn{b: b}
	c.sec.principal, c.sec.ip = "User:alice", "10.1.2.3"
	refused := func() bool {
		req := kmsg.NewPtrListConfigResourcesRequest()
		req.Version = 1
		r := &request{kreq: req, c: c, done: make(chan kmsg.Response, 1)}
		r.hdr.Key = kmsg.ListConfigResources.Int16()
		if !b.authorizeRequest(r) {
			return false
		}
		resp := (<-r.done).(*kmsg.ListConfigResourcesResponse)
		if resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(resp.ConfigResources) != 0 {
			t.Fatalf("refused: code %d, %d resources", resp.ErrorCode, len(resp.ConfigResources))
		}
		return true
	}
	if !refused() {
		t.Fatal("allowed without DESCRIBE_CONFIGS on the cluster")
	}
	allow := security.ACL{ResourceType: kmsg.ACLResourceTypeCluster, ResourceName: security.ClusterResource,
		PatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:alice", Host: "*",
		Operation: kmsg.ACLOperationDescribeConfigs, Permission: kmsg.ACLPermissionTypeAllow}
	if err := sec.CreateACLs(context.Background(), []security.ACL{allow}); err != nil {
		t.Fatal(err)
	}
	if refused() {
		t.Fatal("refused with DESCRIBE_CONFIGS on the cluster")
	}
}
