package group

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups (key 15), versions 0-5.
//
//   - v3+: IncludeAuthorizedOperations (no ACLs here: every group operation).
//   - v4+: members' group.instance.id.
//
// A group that does not exist is described as Dead with no error; one whose
// partition is loading or not coordinated here gets that error. Member
// metadata and assignments are shown only for a Stable group (as Kafka).

// groupAuthorizedOperations is the bit set of READ (3), DELETE (6) and
// DESCRIBE (8): everything that can be done to a group.
const groupAuthorizedOperations = 1<<3 | 1<<6 | 1<<8

func (c *Coordinator) describeGroupsLocked(req *kmsg.DescribeGroupsRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	resp.Groups = make([]kmsg.DescribeGroupsResponseGroup, len(req.Groups))
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
		g := c.mu.groups[id]
		if g == nil || g.consumer != nil {
			// A consumer-protocol group is not a classic group: DescribeGroups (v0-5) shows it
			// as Dead, as Kafka does; ConsumerGroupDescribe describes it.
			rg.State = stateDead.String()
			continue
		}
		rg.State = g.state.String()
		rg.ProtocolType = g.protocolType
		stable := g.state == stateStable && g.protocol != nil
		if stable {
			rg.Protocol = *g.protocol
		}
		rg.Members = make([]kmsg.DescribeGroupsResponseGroupMember, 0, len(g.order))
		for _, m := range g.order {
			dm := kmsg.NewDescribeGroupsResponseGroupMember()
			dm.MemberID = m.id
			dm.InstanceID = m.instanceID
			dm.ClientID = m.clientID
			dm.ClientHost = m.clientHost
			if stable {
				dm.ProtocolMetadata = m.metadata(*g.protocol)
				dm.MemberAssignment = m.assignment
			}
			rg.Members = append(rg.Members, dm)
		}
	}
	c.replyLocked(respond, resp)
}
