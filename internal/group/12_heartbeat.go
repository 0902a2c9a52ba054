package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Heartbeat (key 12), versions 0-4.
//
//   - v3+: group.instance.id, validated like JoinGroup's (FENCED_INSTANCE_ID).
//
// A heartbeat from a member of the current generation restarts its session
// timer. During PreparingRebalance it is answered REBALANCE_IN_PROGRESS, which
// tells the member to rejoin. An unknown group or member gets
// UNKNOWN_MEMBER_ID, a wrong generation ILLEGAL_GENERATION.

func (c *Coordinator) heartbeatLocked(req *kmsg.HeartbeatRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.heartbeatCodeLocked(req)
	c.replyLocked(respond, resp)
}

func (c *Coordinator) heartbeatCodeLocked(req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.mu.groups[req.Group]
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if g.consumer != nil && len(g.consumer.members) > 0 {
		return c.classicHeartbeatToConsumerLocked(g, req) // a mixed group (migration.go)
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m := g.members[req.MemberID]
	switch g.state {
	case statePreparingRebalance:
		c.rescheduleHeartbeatLocked(g, m)
		return kerr.RebalanceInProgress.Code
	case stateCompletingRebalance, stateStable:
		c.rescheduleHeartbeatLocked(g, m)
		return 0
	default:
		return kerr.UnknownMemberID.Code
	}
}
