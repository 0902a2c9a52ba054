package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups (key 15), versions 0-6.
//
//   - v3+: IncludeAuthorizedOperations (no ACLs here: every group operation).
//   - v4+: members' group.instance.id.
//   - v6+ (KIP-1043): a group that does not exist gets GROUP_ID_NOT_FOUND with the message
//     "Group <id> not found.", and a consumer-protocol (KIP-848) or share (KIP-932) group gets
//     GROUP_ID_NOT_FOUND with "Group <id> is not a classic group.", both with state Dead.
//     Before v6 both are described as Dead with no error, as Kafka 4.1 answers
//     (ConsumerGroupDescribe and ShareGroupDescribe describe those groups).
//
// A group whose partition is loading or not coordinated here gets that error.
// Member metadata and assignments are shown only for a Stable group (as Kafka).

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
		g := c.liveGroupLocked(id)
		if g == nil || g.consumer != nil {
			rg.State = stateDead.String()
			if req.Version >= 6 {
				msg := "Group " + id + " not found."
				if g != nil || c.isShareGroupLocked(id) {
					msg = "Group " + id + " is not a classic group."
				}
				rg.ErrorCode, rg.ErrorMessage = kerr.GroupIDNotFound.Code, &msg
			}
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
