package group

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerGroupDescribe (key 69), versions 0-1 (Kafka 4.0's).
//
//   - v1: MemberType per member (1 = consumer protocol, 0 = classic, in a mixed group).
//
// Each group is described with its state (Empty, Assigning, Reconciling, Stable), group
// epoch, assignment epoch, assignor and members with their epochs, subscriptions, current
// and target assignments (topic ids with names). A group that does not exist, or is a
// classic or share group, gets GROUP_ID_NOT_FOUND as in Kafka; one whose partition is loading or not
// coordinated here gets that error.

func (c *Coordinator) consumerGroupDescribeLocked(req *kmsg.ConsumerGroupDescribeRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	names := map[[16]byte]string{}
	for _, t := range c.topicsLocked() {
		names[t.ID] = t.Name
	}
	toAssignment := func(a assignment) kmsg.Assignment {
		out := kmsg.Assignment{TopicPartitions: []kmsg.AssignmentTopicPartition{}}
		for _, id := range a.sortedIDs() {
			out.TopicPartitions = append(out.TopicPartitions, kmsg.AssignmentTopicPartition{
				TopicID: id, Topic: names[id], Partitions: slices.Clone(a[id]),
			})
		}
		return out
	}
	resp.Groups = make([]kmsg.ConsumerGroupDescribeResponseGroup, len(req.Groups))
	for i, id := range req.Groups {
		rg := &resp.Groups[i]
		rg.Default()
		rg.Group = id
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = groupAuthorizedOperations
		}
		if _, code := c.core.CheckLocked(id); code != 0 {
			rg.ErrorCode = code
			continue
		}
		g := c.liveGroupLocked(id)
		if g == nil || g.consumer == nil {
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + id + " not found."
			if g != nil || c.isShareGroupLocked(id) {
				msg = "Group " + id + " is not a consumer group."
			}
			rg.ErrorMessage = &msg
			continue
		}
		cg := g.consumer
		rg.State = cg.stateName()
		rg.Epoch = cg.epoch
		rg.AssignmentEpoch = cg.assignmentEpoch
		rg.AssignorName = cg.groupAssignor()
		rg.Members = []kmsg.ConsumerGroupDescribeResponseGroupMember{}
		for _, m := range cg.sortedMembers() {
			dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			dm.MemberID = m.id
			dm.InstanceID = m.instanceID
			dm.RackID = m.rackID
			dm.MemberEpoch = m.epoch
			dm.ClientID = m.clientID
			dm.ClientHost = m.clientHost
			dm.SubscribedTopics = slices.Clone(m.topics)
			if dm.SubscribedTopics == nil {
				dm.SubscribedTopics = []string{}
			}
			dm.SubscribedTopicRegex = m.regex
			dm.Assignment = toAssignment(m.assigned)
			dm.TargetAssignment = toAssignment(cg.target[m.id])
			dm.MemberType = 1 // consumer protocol
			if m.classic != nil {
				dm.MemberType = 0 // classic protocol, in a mixed group
			}
			rg.Members = append(rg.Members, dm)
		}
	}
	c.replyLocked(respond, resp)
}
