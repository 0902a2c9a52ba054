package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/security"
)

// TestAuthorizeShareGroups: with the authorizer on, share-group requests need READ on the
// group (DESCRIBE to describe, DELETE to delete offsets) and READ on the topics fetched.
func TestAuthorizeShareGroups(t *testing.T) {
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
		allow(kmsg.ACLResourceTypeTopic, "mine", kmsg.ACLOperationRead),
	}); err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{DataDir: t.TempDir(), Settings: config.DefaultBroker(), Security: sec})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	topics := map[string]*topic{}
	for _, name := range []string{"mine", "secret"} {
		tp, err := b.createTopic(topicSpec{name: name, partitions: 1})
		if err != nil {
			t.Fatal(err)
		}
		topics[name] = tp
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &conn{b: b, ctx: ctx, cancel: cancel}
	c.sec.principal, c.sec.ip = "User:alice", "10.1.2.3"
	serve := func(key kmsg.Key, req kmsg.Request) kmsg.Response {
		r := &request{kreq: req, c: c, done: make(chan kmsg.Response, 1)}
		r.hdr.Key = key.Int16()
		if !b.authorizeRequest(r) {
			handlers[key.Int16()](b, r)
		}
		return <-r.done
	}
	hb := func(group string, topics ...string) int16 {
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.Version, req.GroupID, req.MemberID, req.SubscribedTopicNames = 1, group, "m", topics
		return serve(kmsg.ShareGroupHeartbeat, req).(*kmsg.ShareGroupHeartbeatResponse).ErrorCode
	}
	if code := hb("h", "mine"); code != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("heartbeat without READ on the group: %d", code)
	}
	if code := hb("g", "secret"); code != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("heartbeat subscribing to a topic it may not describe: %d", code)
	}
	if code := hb("g", "mine"); code != 0 {
		t.Errorf("allowed heartbeat: %d", code)
	}
	fetch := func(group string) *kmsg.ShareFetchResponse {
		req := kmsg.NewPtrShareFetchRequest()
		req.Version, req.GroupID, req.MemberID = 1, kmsg.StringPtr(group), kmsg.StringPtr("m")
		for _, name := range []string{"mine", "secret"} {
			req.Topics = append(req.Topics, kmsg.ShareFetchRequestTopic{TopicID: topics[name].id, Partitions: []kmsg.ShareFetchRequestTopicPartition{{Partition: 0}}})
		}
		return serve(kmsg.ShareFetch, req).(*kmsg.ShareFetchResponse)
	}
	if resp := fetch("h"); resp.ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("fetch without READ on the group: %d", resp.ErrorCode)
	}
	resp := fetch("g")
	codes := map[[16]byte]int16{}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			codes[tp.TopicID] = p.ErrorCode
		}
	}
	if resp.ErrorCode != 0 || codes[topics["mine"].id] != 0 || codes[topics["secret"].id] != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("fetch: top %d, partitions %v", resp.ErrorCode, codes)
	}
	ack := kmsg.NewPtrShareAcknowledgeRequest()
	ack.Version, ack.GroupID, ack.MemberID, ack.ShareSessionEpoch = 1, kmsg.StringPtr("h"), kmsg.StringPtr("m"), 1
	if code := serve(kmsg.ShareAcknowledge, ack).(*kmsg.ShareAcknowledgeResponse).ErrorCode; code != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("acknowledge without READ on the group: %d", code)
	}
	desc := kmsg.NewPtrShareGroupDescribeRequest()
	desc.Version, desc.GroupIDs = 1, []string{"h"} // READ on g implies DESCRIBE on g; h has nothing
	if d := serve(kmsg.ShareGroupDescribe, desc).(*kmsg.ShareGroupDescribeResponse); d.Groups[0].ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("describe without DESCRIBE on the group: %d", d.Groups[0].ErrorCode)
	}
	del := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	del.GroupID = "g"
	if code := serve(kmsg.DeleteShareGroupOffsets, del).(*kmsg.DeleteShareGroupOffsetsResponse).ErrorCode; code != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("delete offsets without DELETE on the group: %d", code)
	}
}
