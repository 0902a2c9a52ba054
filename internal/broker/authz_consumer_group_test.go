package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/security"
)

// TestAuthorizeConsumerGroupHeartbeat: with the authorizer on, a ConsumerGroupHeartbeat needs
// READ on the group and DESCRIBE on its subscribed topics (by name or matched by its regex).
func TestAuthorizeConsumerGroupHeartbeat(t *testing.T) {
	sec, err := security.NewNode(context.Background(), security.Config{Authorizer: true})
	if err != nil {
		t.Fatal(err)
	}
	allow := func(rt kmsg.ACLResourceType, name string, op kmsg.ACLOperation) security.ACL {
		return security.ACL{ResourceType: rt, ResourceName: name, PatternType: kmsg.ACLResourcePatternTypeLiteral,
			Principal: "User:alice", Host: "*", Operation: op, Permission: kmsg.ACLPermissionTypeAllow}
	}
	if err := sec.CreateACLs(context.Background(), []security.ACL{
		allow(kmsg.ACLResourceTypeGroup, "g", kmsg.ACLOperationRead),
		allow(kmsg.ACLResourceTypeTopic, "mine", kmsg.ACLOperationDescribe),
	}); err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{DataDir: t.TempDir(), Settings: config.DefaultBroker(), Security: sec})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, name := range []string{"mine", "secret"} {
		if _, err := b.createTopic(topicSpec{name: name, partitions: 1}); err != nil {
			t.Fatal(err)
		}
	}
	c := &conn{b: b}
	c.sec.principal, c.sec.ip = "User:alice", "10.1.2.3"
	heartbeat := func(group string, topics []string, regex string) int16 {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.SubscribedTopicNames = 1, group, "m", topics
		if regex != "" {
			req.SubscribedTopicRegex = &regex
		}
		r := &request{kreq: req, c: c, done: make(chan kmsg.Response, 1)}
		r.hdr.Key = kmsg.ConsumerGroupHeartbeat.Int16()
		if !b.authorizeRequest(r) {
			return 0
		}
		return (<-r.done).(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode
	}
	for _, tc := range []struct {
		group  string
		topics []string
		regex  string
		want   int16
	}{
		{"g", []string{"mine"}, "", 0},
		{"h", []string{"mine"}, "", kerr.GroupAuthorizationFailed.Code},
		{"g", []string{"mine", "secret"}, "", kerr.TopicAuthorizationFailed.Code},
		{"g", nil, "^mi", 0},
		{"g", nil, ".*", kerr.TopicAuthorizationFailed.Code},
	} {
		if got := heartbeat(tc.group, tc.topics, tc.regex); got != tc.want {
			t.Errorf("group %s topics %v regex %q: error %d, want %d", tc.group, tc.topics, tc.regex, got, tc.want)
		}
	}
}
