package differential

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-streaming/samsa/test/kafkaref"
)

// Scenarios of the three group types (classic, consumer: KIP-848, share: KIP-932) sharing one
// group id namespace, how DescribeGroups, ListGroups and the share group offsets APIs answer
// for each type, and what kafka-consumer-groups --describe prints for a KIP-848 group. They
// speak the newest versions franz-go knows (DescribeGroups v6, ListGroups v5,
// ShareGroupHeartbeat v1), beside the v5 answers the pinned clients see.

func init() {
	scenarios = append(scenarios, groupTypeScenarios...)
}

// latest is a client of t without the 3.9 version pin, for the APIs and versions Kafka 4.x
// added.
func latest(t *target) (*kgo.Client, error) {
	return kgo.NewClient(kgo.SeedBrokers(t.addr), kgo.RequestRetries(2), kgo.RetryTimeout(10*time.Second))
}

// topicClient creates the topic (one replica, no configs) and returns a latest client; the
// caller closes it.
func topicClient(ctx context.Context, t *target, topic string, partitions int32) (*kgo.Client, error) {
	if err := setupTopic(ctx, t, topic, partitions, nil); err != nil {
		return nil, err
	}
	return latest(t)
}

// enableShareGroups turns on share groups where they are a feature to enable: Apache Kafka
// 4.1 formats a cluster with share.version 0, so the test raises it to 1 (as
// `kafka-features upgrade --feature share.version=1` does). Samsa serves share groups always.
func enableShareGroups(ctx context.Context, t *target) error {
	cl, err := latest(t)
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrUpdateFeaturesRequest()
	req.TimeoutMillis = 30000
	f := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
	f.Feature = "share.version"
	f.MaxVersionLevel = 1
	f.UpgradeType = 1
	req.FeatureUpdates = append(req.FeatureUpdates, f)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("enable share.version=1: %w", err)
	}
	for _, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return fmt.Errorf("enable %s: %w", r.Feature, err)
		}
	}
	// The broker learns the new feature level from the metadata log shortly after; until then
	// its share-group APIs answer UNSUPPORTED_VERSION.
	for {
		d := kmsg.NewPtrShareGroupDescribeRequest()
		d.GroupIDs = []string{"g-probe-share"}
		dr, err := d.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		if dr.Groups[0].ErrorCode != kerr.UnsupportedVersion.Code {
			return nil
		}
		if err := pause(ctx); err != nil {
			return fmt.Errorf("share groups still unsupported after enabling them: %w", err)
		}
	}
}

// consumerJoin makes member a member of the consumer-protocol group by ConsumerGroupHeartbeat,
// subscribed to topic, and heartbeats until it owns its assignment (or the answer is an
// error, returned as its name).
func consumerJoin(ctx context.Context, cl *kgo.Client, group, member, topic string) (string, error) {
	epoch := int32(0)
	for {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group = group
		req.MemberID = member
		req.MemberEpoch = epoch
		req.RebalanceTimeoutMillis = 30000
		req.SubscribedTopicNames = []string{topic}
		if epoch == 0 {
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return "", err
		}
		switch resp.ErrorCode {
		case 0:
		case kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code, kerr.NotCoordinator.Code:
			if err := pause(ctx); err != nil {
				return codeName(resp.ErrorCode), nil
			}
			continue
		default:
			return codeName(resp.ErrorCode) + message(resp.ErrorMessage), nil
		}
		epoch = resp.MemberEpoch
		if resp.Assignment != nil && len(resp.Assignment.Topics) > 0 {
			return "NONE", nil
		}
		if err := pause(ctx); err != nil {
			return "no assignment", nil
		}
	}
}

// consumerLeave sends the leaving heartbeat (epoch -1).
func consumerLeave(ctx context.Context, cl *kgo.Client, group, member string) (string, error) {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group = group
	req.MemberID = member
	req.MemberEpoch = -1
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return "", err
	}
	return codeName(resp.ErrorCode), nil
}

// shareJoin makes member a member of the share group, subscribed to topic, and heartbeats
// until it is assigned partitions (or the answer is an error, returned as its name).
func shareJoin(ctx context.Context, cl *kgo.Client, group, member, topic string) (string, error) {
	epoch := int32(0)
	for {
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.GroupID = group
		req.MemberID = member
		req.MemberEpoch = epoch
		req.SubscribedTopicNames = []string{topic}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return "", err
		}
		switch resp.ErrorCode {
		case 0:
		case kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code, kerr.NotCoordinator.Code:
			if err := pause(ctx); err != nil {
				return codeName(resp.ErrorCode), nil
			}
			continue
		default:
			return codeName(resp.ErrorCode) + message(resp.ErrorMessage), nil
		}
		epoch = resp.MemberEpoch
		if resp.Assignment != nil && len(resp.Assignment.TopicPartitions) > 0 {
			return "NONE", nil
		}
		if err := pause(ctx); err != nil {
			return "no assignment", nil
		}
	}
}

// classicJoin sends one JoinGroup v4+ (which asks for a member id first) and returns the
// answer's error name; a MEMBER_ID_REQUIRED answer is followed by the join with that id.
func classicJoin(ctx context.Context, cl *kgo.Client, group string) (string, error) {
	member := ""
	for i := 0; i < 3; i++ {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group = group
		req.MemberID = member
		req.SessionTimeoutMillis = 10000
		req.RebalanceTimeoutMillis = 10000
		req.ProtocolType = "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = []string{"x"}
		p.Metadata = meta.AppendTo(nil)
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return "", err
		}
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			member = resp.MemberID
			continue
		}
		return codeName(resp.ErrorCode), nil
	}
	return "MEMBER_ID_REQUIRED three times", nil
}

func pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(100 * time.Millisecond):
		return nil
	}
}

// describeGroup describes one group with DescribeGroups at version v and returns what a client
// sees: the error (and v6's message), state, protocol type and name, and each member's
// instance id, client id, subscription and assignment as the consumer protocol decodes them.
func describeGroup(ctx context.Context, t *target, group string, v int16) (string, error) {
	vs := kversion.V4_1_0()
	vs.SetMaxKeyVersion(15, v)
	cl, err := kgo.NewClient(kgo.SeedBrokers(t.addr), kgo.MaxVersions(vs))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return "", err
	}
	if len(resp.Groups) != 1 {
		return fmt.Sprintf("%d groups", len(resp.Groups)), nil
	}
	g := resp.Groups[0]
	out := fmt.Sprintf("v%d %s", v, codeName(g.ErrorCode))
	if g.ErrorMessage != nil {
		out += fmt.Sprintf(" message=%q", *g.ErrorMessage)
	}
	out += fmt.Sprintf(" state=%q type=%q protocol=%q members=%d", g.State, g.ProtocolType, g.Protocol, len(g.Members))
	for _, m := range g.Members {
		var sub, asg string
		var md kmsg.ConsumerMemberMetadata
		if len(m.ProtocolMetadata) == 0 {
			sub = "none"
		} else if err := md.ReadFrom(m.ProtocolMetadata); err != nil {
			sub = "undecodable"
		} else {
			sub = fmt.Sprintf("v%d topics=%v", md.Version, md.Topics)
		}
		var ma kmsg.ConsumerMemberAssignment
		if len(m.MemberAssignment) == 0 {
			asg = "none"
		} else if err := ma.ReadFrom(m.MemberAssignment); err != nil {
			asg = "undecodable"
		} else {
			var parts []string
			for _, t := range ma.Topics {
				parts = append(parts, fmt.Sprintf("%s%v", t.Topic, t.Partitions))
			}
			asg = fmt.Sprintf("v%d %v", ma.Version, parts)
		}
		out += fmt.Sprintf(" [id-set=%v instance=%v client=%q host-set=%v sub=%s asg=%s]",
			m.MemberID != "", m.InstanceID, m.ClientID, m.ClientHost != "", sub, asg)
	}
	return out, nil
}

// listGroups lists the groups among ids that ListGroups v5 shows with the given filters, in
// id order, with their type, state and protocol type.
func listGroups(ctx context.Context, cl *kgo.Client, ids []string, states, types []string) (string, error) {
	req := kmsg.NewPtrListGroupsRequest()
	req.StatesFilter = states
	req.TypesFilter = types
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return "", err
	}
	if resp.ErrorCode != 0 {
		return codeName(resp.ErrorCode), nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var rows []string
	for _, g := range resp.Groups {
		if want[g.Group] {
			rows = append(rows, fmt.Sprintf("%s(%s,%s,%q)", g.Group, g.GroupType, g.GroupState, g.ProtocolType))
		}
	}
	sort.Strings(rows)
	return fmt.Sprintf("states=%v types=%v: %s", states, types, strings.Join(rows, " ")), nil
}

var groupTypeScenarios = []scenario{
	{name: "groups/describe-unknown-v6", about: "DescribeGroups v6 (with ErrorMessage) of a group that does not exist",
		run: func(ctx context.Context, t *target) (string, error) {
			cl, err := latest(t)
			if err != nil {
				return "", err
			}
			defer cl.Close()
			return describeGroup(ctx, t, "g-nope-v6", 6)
		}},
	{name: "groups/share-describe-unknown", about: "ShareGroupDescribe of a group that does not exist",
		run: func(ctx context.Context, t *target) (string, error) {
			cl, err := latest(t)
			if err != nil {
				return "", err
			}
			defer cl.Close()
			return shareDescribe(ctx, cl, "g-nope-share")
		}},
	{name: "groups/share-offsets-on-classic", about: "DescribeShareGroupOffsets, AlterShareGroupOffsets and DeleteShareGroupOffsets with the id of a classic group that holds offsets, then ListGroups of it",
		run: func(ctx context.Context, t *target) (string, error) {
			cl, err := topicClient(ctx, t, "nsa-classic", 1)
			if err != nil {
				return "", err
			}
			defer cl.Close()
			const g = "nsa-classic"
			commit := kmsg.NewPtrOffsetCommitRequest()
			commit.Group = g
			commit.Generation = -1
			ct := kmsg.NewOffsetCommitRequestTopic()
			ct.Topic = "nsa-classic"
			ct.Partitions = append(ct.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
			commit.Topics = append(commit.Topics, ct)
			if _, err := commit.RequestWith(ctx, t.cl); err != nil {
				return "", err
			}
			out, err := shareOffsetsCalls(ctx, cl, g, "nsa-classic")
			if err != nil {
				return "", err
			}
			l, err := listGroups(ctx, cl, []string{g}, nil, nil)
			return out + "; " + l, err
		}},
	{name: "groups/share-offsets-empty-share-group", about: "DescribeShareGroupOffsets, AlterShareGroupOffsets and DeleteShareGroupOffsets of an empty share group",
		run: func(ctx context.Context, t *target) (string, error) {
			cl, err := topicClient(ctx, t, "nsa-share", 1)
			if err != nil {
				return "", err
			}
			defer cl.Close()
			if c, err := shareJoin(ctx, cl, "nsa-share", "nsa-share-member-00000001", "nsa-share"); err != nil || c != "NONE" {
				return "share join " + c, err
			}
			if c, err := shareLeave(ctx, cl, "nsa-share", "nsa-share-member-00000001"); err != nil || c != "NONE" {
				return "share leave " + c, err
			}
			return shareOffsetsCalls(ctx, cl, "nsa-share", "nsa-share")
		}},
	{name: "groups/share-offsets-unknown", about: "DescribeShareGroupOffsets, AlterShareGroupOffsets and DeleteShareGroupOffsets of a group that does not exist, then ListGroups of it",
		run: func(ctx context.Context, t *target) (string, error) {
			cl, err := topicClient(ctx, t, "nsa-unknown", 1)
			if err != nil {
				return "", err
			}
			defer cl.Close()
			out, err := shareOffsetsCalls(ctx, cl, "nsa-unknown", "nsa-unknown")
			if err != nil {
				return "", err
			}
			l, err := listGroups(ctx, cl, []string{"nsa-unknown"}, nil, nil)
			return out + "; " + l, err
		}},
	{name: "tools/consumer-groups-describe-kip848", about: "kafka-consumer-groups --describe (offsets, --state, --members) of a KIP-848 consumer group with one member, and of a group that does not exist",
		run: func(ctx context.Context, t *target) (string, error) {
			cl, err := topicClient(ctx, t, "cg-tool", 2)
			if err != nil {
				return "", err
			}
			defer cl.Close()
			if c, err := consumerJoin(ctx, cl, "cg-tool", "cg-tool-member-0000000001", "cg-tool"); err != nil || c != "NONE" {
				return "consumer join " + c, err
			}
			var out []string
			for _, args := range [][]string{
				{"--describe", "--group", "cg-tool"},
				{"--describe", "--group", "cg-tool", "--state"},
				{"--describe", "--group", "cg-tool", "--members"},
				{"--describe", "--group", "cg-tool-nope"},
			} {
				r, err := consumerGroupsTool(ctx, t, args...)
				if err != nil {
					return "", err
				}
				out = append(out, strings.Join(args[1:], " ")+" → "+r)
			}
			return strings.Join(out, "; "), nil
		}},
	{name: "groups/describe-consumer-protocol", about: "DescribeGroups v5 and v6 of a KIP-848 consumer group: one member assigned, then after it leaves",
		run: func(ctx context.Context, t *target) (string, error) {
			cl, err := topicClient(ctx, t, "dg-cons", 2)
			if err != nil {
				return "", err
			}
			defer cl.Close()
			const g, m = "dg-cons", "dg-cons-member-0000000001"
			var out []string
			c, err := consumerJoin(ctx, cl, g, m, "dg-cons")
			if err != nil {
				return "", err
			}
			out = append(out, "join "+c)
			for _, v := range []int16{0, 5, 6} {
				d, err := describeGroup(ctx, t, g, v)
				if err != nil {
					return "", err
				}
				out = append(out, d)
			}
			c, err = consumerLeave(ctx, cl, g, m)
			if err != nil {
				return "", err
			}
			out = append(out, "leave "+c)
			d, err := describeGroup(ctx, t, g, 6)
			out = append(out, "after leaving: "+d)
			return strings.Join(out, "; "), err
		}},
	{name: "groups/describe-share-group", about: "DescribeGroups v5 and v6 of a share group with one member",
		run: func(ctx context.Context, t *target) (string, error) {
			cl, err := topicClient(ctx, t, "dg-share", 2)
			if err != nil {
				return "", err
			}
			defer cl.Close()
			c, err := shareJoin(ctx, cl, "dg-share", "dg-share-member-000000001", "dg-share")
			if err != nil {
				return "", err
			}
			out := []string{"join " + c}
			for _, v := range []int16{5, 6} {
				d, err := describeGroup(ctx, t, "dg-share", v)
				if err != nil {
					return "", err
				}
				out = append(out, d)
			}
			return strings.Join(out, "; "), nil
		}},
	{name: "groups/list-by-type-and-state", about: "ListGroups v5 of a classic, a consumer and a share group, by type and state filters",
		run: func(ctx context.Context, t *target) (string, error) {
			cl, err := topicClient(ctx, t, "lg-types", 2)
			if err != nil {
				return "", err
			}
			defer cl.Close()
			ids := []string{"lg-classic", "lg-consumer", "lg-share"}
			// A classic group that only commits offsets (Empty).
			commit := kmsg.NewPtrOffsetCommitRequest()
			commit.Group = "lg-classic"
			commit.Generation = -1
			ct := kmsg.NewOffsetCommitRequestTopic()
			ct.Topic = "lg-types"
			cp := kmsg.NewOffsetCommitRequestTopicPartition()
			ct.Partitions = append(ct.Partitions, cp)
			commit.Topics = append(commit.Topics, ct)
			if _, err := commit.RequestWith(ctx, t.cl); err != nil {
				return "", err
			}
			if c, err := consumerJoin(ctx, cl, "lg-consumer", "lg-consumer-member-00001", "lg-types"); err != nil || c != "NONE" {
				return "consumer join " + c, err
			}
			if c, err := shareJoin(ctx, cl, "lg-share", "lg-share-member-000000001", "lg-types"); err != nil || c != "NONE" {
				return "share join " + c, err
			}
			var out []string
			for _, f := range []struct{ states, types []string }{
				{nil, nil},
				{nil, []string{"classic"}},
				{nil, []string{"consumer"}},
				{nil, []string{"share"}},
				{nil, []string{"Share", "CLASSIC"}},
				{nil, []string{"streams"}},
				{nil, []string{"nonsense"}},
				{[]string{"Stable"}, nil},
				{[]string{"empty"}, nil},
				{[]string{"Stable"}, []string{"share"}},
			} {
				l, err := listGroups(ctx, cl, ids, f.states, f.types)
				if err != nil {
					return "", err
				}
				out = append(out, l)
			}
			// The pinned (3.9) client speaks ListGroups v5 too; v4 has no types.
			req := kmsg.NewPtrListGroupsRequest()
			req.Version = 3
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return "", err
			}
			var v3 []string
			for _, g := range resp.Groups {
				for _, id := range ids {
					if g.Group == id {
						v3 = append(v3, fmt.Sprintf("%s(%q)", g.Group, g.ProtocolType))
					}
				}
			}
			sort.Strings(v3)
			out = append(out, "v3: "+strings.Join(v3, " "))
			return strings.Join(out, "; "), nil
		}},
	{name: "groups/namespace-share-on-consumer", about: "ShareGroupHeartbeat, ShareGroupDescribe and JoinGroup with the id of a KIP-848 consumer group",
		run: func(ctx context.Context, t *target) (string, error) {
			cl, err := topicClient(ctx, t, "ns-cons", 1)
			if err != nil {
				return "", err
			}
			defer cl.Close()
			const g = "ns-cons"
			if c, err := consumerJoin(ctx, cl, g, "ns-cons-member-0000000001", "ns-cons"); err != nil || c != "NONE" {
				return "consumer join " + c, err
			}
			var out []string
			c, err := shareJoin(ctx, cl, g, "ns-cons-share-00000000001", "ns-cons")
			if err != nil {
				return "", err
			}
			out = append(out, "share heartbeat "+c)
			d, err := shareDescribe(ctx, cl, g)
			if err != nil {
				return "", err
			}
			out = append(out, "share describe "+d)
			c, err = classicJoin(ctx, cl, g)
			out = append(out, "classic join "+c)
			return strings.Join(out, "; "), err
		}},
	{name: "groups/namespace-consumer-on-share", about: "Every classic and consumer group request (heartbeats, describes, JoinGroup, SyncGroup, LeaveGroup, OffsetCommit/Fetch/Delete, DescribeGroups v6, DeleteGroups) with the id of a share group with a member, then of the empty share group",
		run: func(ctx context.Context, t *target) (string, error) {
			cl, err := topicClient(ctx, t, "ns-share", 1)
			if err != nil {
				return "", err
			}
			defer cl.Close()
			const g = "ns-share"
			if c, err := shareJoin(ctx, cl, g, "ns-share-member-000000001", "ns-share"); err != nil || c != "NONE" {
				return "share join " + c, err
			}
			var out []string
			c, err := consumerJoin(ctx, cl, g, "ns-share-consumer-0000001", "ns-share")
			if err != nil {
				return "", err
			}
			out = append(out, "consumer heartbeat "+c)
			cd := kmsg.NewPtrConsumerGroupDescribeRequest()
			cd.Groups = []string{g}
			cr, err := cd.RequestWith(ctx, cl)
			if err != nil {
				return "", err
			}
			out = append(out, fmt.Sprintf("consumer describe %s%s state=%q", codeName(cr.Groups[0].ErrorCode), message(cr.Groups[0].ErrorMessage), cr.Groups[0].State))
			c, err = classicJoin(ctx, cl, g)
			if err != nil {
				return "", err
			}
			out = append(out, "classic join "+c)
			commit := kmsg.NewPtrOffsetCommitRequest()
			commit.Group = g
			commit.Generation = -1
			ct := kmsg.NewOffsetCommitRequestTopic()
			ct.Topic = "ns-share"
			ct.Partitions = append(ct.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
			commit.Topics = append(commit.Topics, ct)
			ocr, err := commit.RequestWith(ctx, t.cl)
			if err != nil {
				return "", err
			}
			out = append(out, "offset commit "+codeName(ocr.Topics[0].Partitions[0].ErrorCode))
			more, err := classicCalls(ctx, t, g, "ns-share")
			if err != nil {
				return "", err
			}
			out = append(out, more)
			d, err := describeGroup(ctx, t, g, 6)
			if err != nil {
				return "", err
			}
			out = append(out, "describe "+d)
			del := kmsg.NewPtrDeleteGroupsRequest()
			del.Groups = []string{g}
			dr, err := del.RequestWith(ctx, cl)
			if err != nil {
				return "", err
			}
			out = append(out, "delete groups "+codeName(dr.Groups[0].ErrorCode))
			// Once its member left, the share group is Empty: still not a consumer group.
			if _, err := shareLeave(ctx, cl, g, "ns-share-member-000000001"); err != nil {
				return "", err
			}
			c, err = consumerJoin(ctx, cl, g, "ns-share-consumer-0000001", "ns-share")
			if err != nil {
				return "", err
			}
			out = append(out, "consumer heartbeat on the empty share group "+c)
			c, err = classicJoin(ctx, cl, g)
			out = append(out, "classic join on the empty share group "+c)
			return strings.Join(out, "; "), err
		}},
	{name: "groups/namespace-share-on-classic", about: "ShareGroupHeartbeat with the id of an empty classic group that holds offsets, and of a classic group with a member",
		run: func(ctx context.Context, t *target) (string, error) {
			cl, err := topicClient(ctx, t, "ns-classic", 1)
			if err != nil {
				return "", err
			}
			defer cl.Close()
			const g = "ns-classic"
			commit := kmsg.NewPtrOffsetCommitRequest()
			commit.Group = g
			commit.Generation = -1
			ct := kmsg.NewOffsetCommitRequestTopic()
			ct.Topic = "ns-classic"
			ct.Partitions = append(ct.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
			commit.Topics = append(commit.Topics, ct)
			if _, err := commit.RequestWith(ctx, t.cl); err != nil {
				return "", err
			}
			var out []string
			c, err := shareJoin(ctx, cl, g, "ns-classic-share-00000001", "ns-classic")
			if err != nil {
				return "", err
			}
			out = append(out, "share heartbeat on empty classic "+c)
			// A classic group with a member (a JoinGroup pending in its rebalance).
			const g2 = "ns-classic-live"
			jc, err := classicJoin(ctx, cl, g2)
			if err != nil {
				return "", err
			}
			out = append(out, "classic join "+jc)
			c, err = shareJoin(ctx, cl, g2, "ns-classic-share-00000002", "ns-classic")
			if err != nil {
				return "", err
			}
			out = append(out, "share heartbeat on live classic "+c)
			return strings.Join(out, "; "), nil
		}},
}

// shareOffsetsCalls sends DescribeShareGroupOffsets, AlterShareGroupOffsets (partition 0 to
// offset 0) and DeleteShareGroupOffsets for group and topic and returns what they answered.
func shareOffsetsCalls(ctx context.Context, cl *kgo.Client, group, topic string) (string, error) {
	var out []string
	d := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	d.Groups = []kmsg.DescribeShareGroupOffsetsRequestGroup{{GroupID: group,
		Topics: []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{{Topic: topic, Partitions: []int32{0}}}}}
	dr, err := d.RequestWith(ctx, cl)
	if err != nil {
		return "", err
	}
	desc := "describe offsets ?"
	if len(dr.Groups) == 1 {
		g := dr.Groups[0]
		desc = "describe offsets " + codeName(g.ErrorCode) + message(g.ErrorMessage)
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				desc += fmt.Sprintf(" [%s %d: %s%s start=%d epoch=%d lag=%d]", t.Topic, p.Partition, codeName(p.ErrorCode), message(p.ErrorMessage), p.StartOffset, p.LeaderEpoch, p.Lag)
			}
		}
	}
	out = append(out, desc)
	a := kmsg.NewPtrAlterShareGroupOffsetsRequest()
	a.GroupID = group
	a.Topics = []kmsg.AlterShareGroupOffsetsRequestTopic{{Topic: topic,
		Partitions: []kmsg.AlterShareGroupOffsetsRequestTopicPartition{{Partition: 0, StartOffset: 0}}}}
	ar, err := a.RequestWith(ctx, cl)
	if err != nil {
		return "", err
	}
	alt := "alter offsets " + codeName(ar.ErrorCode) + message(ar.ErrorMessage)
	for _, t := range ar.Topics {
		for _, p := range t.Partitions {
			alt += fmt.Sprintf(" [%s %d: %s%s]", t.Topic, p.Partition, codeName(p.ErrorCode), message(p.ErrorMessage))
		}
	}
	out = append(out, alt)
	del := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	del.GroupID = group
	del.Topics = []kmsg.DeleteShareGroupOffsetsRequestTopic{{Topic: topic}}
	delr, err := del.RequestWith(ctx, cl)
	if err != nil {
		return "", err
	}
	dl := "delete offsets " + codeName(delr.ErrorCode) + message(delr.ErrorMessage)
	for _, t := range delr.Topics {
		dl += fmt.Sprintf(" [%s: %s%s]", t.Topic, codeName(t.ErrorCode), message(t.ErrorMessage))
	}
	out = append(out, dl)
	return strings.Join(out, "; "), nil
}

var spaces = regexp.MustCompile(`[ \t]+`)

// consumerGroupsTool runs Kafka 4.1.1's kafka-consumer-groups (ConsumerGroupCommand, from the
// Maven artifacts test/kafkaref uses) against t with args and returns its exit status and
// output, with the broker's address and node id replaced by names and runs of blanks (column
// padding) collapsed.
func consumerGroupsTool(ctx context.Context, t *target, args ...string) (string, error) {
	cp, err := kafkaref.Classpath()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "java", append([]string{"-Xmx256m", "-cp", cp,
		"org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--bootstrap-server", t.addr}, args...)...)
	out, err := cmd.CombinedOutput()
	status := "exit 0"
	if ee, ok := err.(*exec.ExitError); ok {
		status = "exit " + strconv.Itoa(ee.ExitCode())
	} else if err != nil {
		return "", err
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		// The table and the error line; not the client's log lines, its configuration dump or
		// the stack trace after an error.
		if l == "" || strings.HasPrefix(l, "SLF4J") || strings.HasPrefix(l, "[") || strings.Contains(l+" ", " = ") ||
			strings.HasPrefix(l, "at ") || strings.HasPrefix(l, "java.") || strings.HasPrefix(l, "Caused by") ||
			strings.HasPrefix(l, "...") {
			continue
		}
		l = strings.ReplaceAll(l, t.addr, "BROKER")
		l = strings.ReplaceAll(l, "("+strconv.Itoa(int(t.nodeID))+")", "(NODE)")
		lines = append(lines, strings.TrimSpace(spaces.ReplaceAllString(l, " ")))
	}
	// The rows' order is the order of a map in the tool: sort them under their header.
	if len(lines) > 1 && strings.HasPrefix(lines[0], "GROUP ") {
		sort.Strings(lines[1:])
	}
	return status + ": " + strings.Join(lines, " / "), nil
}

// shareDescribe returns ShareGroupDescribe's error and state for group.
func shareDescribe(ctx context.Context, cl *kgo.Client, group string) (string, error) {
	req := kmsg.NewPtrShareGroupDescribeRequest()
	req.GroupIDs = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return "", err
	}
	g := resp.Groups[0]
	msg := ""
	if g.ErrorMessage != nil {
		msg = fmt.Sprintf(" message=%q", *g.ErrorMessage)
	}
	return fmt.Sprintf("%s%s state=%q members=%d", codeName(g.ErrorCode), msg, g.GroupState, len(g.Members)), nil
}

func message(m *string) string {
	if m == nil {
		return ""
	}
	return fmt.Sprintf(" message=%q", *m)
}

// shareLeave sends the leaving share heartbeat (epoch -1).
func shareLeave(ctx context.Context, cl *kgo.Client, group, member string) (string, error) {
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID = group
	req.MemberID = member
	req.MemberEpoch = -1
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return "", err
	}
	return codeName(resp.ErrorCode), nil
}

// classicCalls sends the classic group requests other than JoinGroup (Heartbeat, SyncGroup,
// LeaveGroup, OffsetFetch, OffsetDelete, TxnOffsetCommit) for group and returns their errors.
func classicCalls(ctx context.Context, t *target, group, topic string) (string, error) {
	var out []string
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = group, "someone", 1
	hr, err := hb.RequestWith(ctx, t.cl)
	if err != nil {
		return "", err
	}
	out = append(out, "heartbeat "+codeName(hr.ErrorCode))
	sy := kmsg.NewPtrSyncGroupRequest()
	sy.Group, sy.MemberID, sy.Generation = group, "someone", 1
	sr, err := sy.RequestWith(ctx, t.cl)
	if err != nil {
		return "", err
	}
	out = append(out, "sync "+codeName(sr.ErrorCode))
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Group = group
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = "someone"
	lv.Members = append(lv.Members, lm)
	lr, err := lv.RequestWith(ctx, t.cl)
	if err != nil {
		return "", err
	}
	code := lr.ErrorCode
	if code == 0 && len(lr.Members) == 1 {
		code = lr.Members[0].ErrorCode
	}
	out = append(out, "leave "+codeName(code))
	of := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic = topic
	rt.Partitions = []int32{0}
	rg.Topics = append(rg.Topics, rt)
	of.Groups = append(of.Groups, rg)
	fr, err := of.RequestWith(ctx, t.cl)
	if err != nil {
		return "", err
	}
	fo := "?"
	if len(fr.Groups) == 1 {
		fo = codeName(fr.Groups[0].ErrorCode)
		if len(fr.Groups[0].Topics) == 1 && len(fr.Groups[0].Topics[0].Partitions) == 1 {
			p := fr.Groups[0].Topics[0].Partitions[0]
			fo += fmt.Sprintf(" %s offset=%d", codeName(p.ErrorCode), p.Offset)
		}
	}
	out = append(out, "offset fetch "+fo)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = group
	ot := kmsg.NewOffsetDeleteRequestTopic()
	ot.Topic = topic
	ot.Partitions = append(ot.Partitions, kmsg.NewOffsetDeleteRequestTopicPartition())
	od.Topics = append(od.Topics, ot)
	dr, err := od.RequestWith(ctx, t.cl)
	if err != nil {
		return "", err
	}
	out = append(out, "offset delete "+codeName(dr.ErrorCode))
	return strings.Join(out, "; "), nil
}
