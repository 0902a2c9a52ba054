package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group ids are one namespace across classic, consumer-protocol and share groups, and
// DescribeGroups v6 tells a missing group from one of another type (KIP-1043): the answers of
// Apache Kafka 4.1.1, which test/differential checks against the real broker.

func describeV(h *harness, v int16, id string) kmsg.DescribeGroupsResponseGroup {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = v
	req.Groups = []string{id}
	return h.call(req).(*kmsg.DescribeGroupsResponse).Groups[0]
}

func wantDescribed(t *testing.T, what string, g kmsg.DescribeGroupsResponseGroup, code int16, msg, state string) {
	t.Helper()
	wantCode(t, what, g.ErrorCode, code)
	got := ""
	if g.ErrorMessage != nil {
		got = *g.ErrorMessage
	}
	if got != msg || g.State != state {
		t.Errorf("%s: message %q state %q, want %q %q", what, got, g.State, msg, state)
	}
}

func TestGroupIDNamespace(t *testing.T) {
	h := newHarness(t, testConfig())
	h.opts.ShareGroup = func(id string) bool { return id == "sg" }
	h.restart()

	// A consumer-protocol group "cg" and a classic group "cl" (offsets only).
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.MemberID, hb.MemberEpoch, hb.RebalanceTimeoutMillis = "cg", "m1", 0, 30000
	hb.SubscribedTopicNames = []string{"t"}
	hb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	wantCode(t, "consumer join", h.call(hb).(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode, 0)
	wantCode(t, "classic commit", h.call(commitReq(8, "cl", "", -1, "t", map[int32]int64{0: 1})).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, 0)

	for id, want := range map[string]string{"cg": "consumer", "cl": "classic", "sg": "", "none": ""} {
		if got := h.c.GroupType(id); got != want {
			t.Errorf("GroupType(%s) = %q, want %q", id, got, want)
		}
	}

	// DescribeGroups: before v6 every non-classic or missing group is Dead without error.
	for _, id := range []string{"cg", "sg", "none"} {
		wantDescribed(t, "v5 "+id, describeV(h, 5, id), 0, "", "Dead")
	}
	wantDescribed(t, "v6 missing", describeV(h, 6, "none"), kerr.GroupIDNotFound.Code, "Group none not found.", "Dead")
	wantDescribed(t, "v6 consumer group", describeV(h, 6, "cg"), kerr.GroupIDNotFound.Code, "Group cg is not a classic group.", "Dead")
	wantDescribed(t, "v6 share group", describeV(h, 6, "sg"), kerr.GroupIDNotFound.Code, "Group sg is not a classic group.", "Dead")
	wantDescribed(t, "v6 classic group", describeV(h, 6, "cl"), 0, "", "Empty")

	// The share group's id is refused by every request that would make it a group here.
	hb = kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.MemberID, hb.MemberEpoch, hb.RebalanceTimeoutMillis = "sg", "m2", 0, 30000
	hb.SubscribedTopicNames = []string{"t"}
	hb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	hr := h.call(hb).(*kmsg.ConsumerGroupHeartbeatResponse)
	wantCode(t, "consumer heartbeat on a share group", hr.ErrorCode, kerr.GroupIDNotFound.Code)
	if hr.ErrorMessage == nil || *hr.ErrorMessage != "Group sg is not a consumer group." {
		t.Errorf("consumer heartbeat message %v", hr.ErrorMessage)
	}
	cd := kmsg.NewPtrConsumerGroupDescribeRequest()
	cd.Groups = []string{"sg", "none"}
	cr := h.call(cd).(*kmsg.ConsumerGroupDescribeResponse)
	wantCode(t, "consumer describe of a share group", cr.Groups[0].ErrorCode, kerr.GroupIDNotFound.Code)
	if m := cr.Groups[0].ErrorMessage; m == nil || *m != "Group sg is not a consumer group." {
		t.Errorf("consumer describe message %v", m)
	}
	if m := cr.Groups[1].ErrorMessage; m == nil || *m != "Group none not found." {
		t.Errorf("consumer describe message of a missing group %v", m)
	}
	wantCode(t, "join a share group", h.call(joinReq(9, "sg", "", withTopics("t"))).(*kmsg.JoinGroupResponse).ErrorCode,
		kerr.InconsistentGroupProtocol.Code)
	wantCode(t, "commit to a share group", h.call(commitReq(8, "sg", "", -1, "t", map[int32]int64{0: 1})).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode,
		kerr.GroupIDNotFound.Code)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "sg"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	wantCode(t, "offset delete of a share group", h.call(od).(*kmsg.OffsetDeleteResponse).ErrorCode, kerr.GroupIDNotFound.Code)
	if got := h.c.GroupType("sg"); got != "" {
		t.Errorf("the refused requests made %q a group here (%s)", "sg", got)
	}
}
