package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LeaveGroup (key 13), versions 0-5.
//
//   - v0-v2: one member id; the top-level error is the member's error.
//   - v3+: a batch of members, each by member id or, for administrative
//     removal of static members, by group.instance.id with an empty member
//     id (KIP-345); each gets its own error.
//   - v5+: each member carries a reason (logged).
//
// Members that leave are removed at once and the group rebalances (or
// finishes the rebalance under way if everyone else has joined).

func (c *Coordinator) leaveGroupLocked(req *kmsg.LeaveGroupRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	finish := func() {
		if req.Version < 3 {
			for _, m := range resp.Members {
				if m.ErrorCode != 0 && resp.ErrorCode == 0 {
					resp.ErrorCode = m.ErrorCode
				}
			}
			resp.Members = nil
		}
		c.replyLocked(respond, resp)
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		c.replyLocked(respond, resp)
		return
	}
	if g := c.mu.groups[req.Group]; g != nil && g.consumer != nil && len(g.consumer.members) > 0 {
		c.classicLeaveToConsumerLocked(g, req, respond) // a mixed group (migration.go)
		return
	}
	resp.Members = make([]kmsg.LeaveGroupResponseMember, len(members))
	for i, rm := range members {
		resp.Members[i] = kmsg.LeaveGroupResponseMember{MemberID: rm.MemberID, InstanceID: rm.InstanceID}
	}
	g := c.mu.groups[req.Group]
	if g == nil {
		for i := range resp.Members {
			resp.Members[i].ErrorCode = kerr.UnknownMemberID.Code
		}
		finish()
		return
	}
	if g.state == stateDead {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		resp.Members = nil
		c.replyLocked(respond, resp)
		return
	}

	left := 0
	for i, rm := range members {
		mr := &resp.Members[i]
		reason := "not provided"
		if rm.Reason != nil {
			reason = *rm.Reason
		}
		switch {
		case rm.MemberID == "":
			var m *member
			if rm.InstanceID != nil {
				m = g.members[g.static[*rm.InstanceID]]
			}
			if m == nil {
				mr.ErrorCode = kerr.UnknownMemberID.Code
				continue
			}
			c.log.Info("static member removed by LeaveGroup", "group", g.id, "instance", *rm.InstanceID, "member", m.id, "reason", reason)
			c.removeMemberLocked(g, m)
			left++
		case g.pending[rm.MemberID] != nil:
			g.pending[rm.MemberID].timer.disarm()
			delete(g.pending, rm.MemberID)
			left++
		default:
			if code := g.validateMember(rm.MemberID, rm.InstanceID); code != 0 {
				mr.ErrorCode = code
				continue
			}
			c.log.Info("member left group", "group", g.id, "member", rm.MemberID, "reason", reason)
			c.removeMemberLocked(g, g.members[rm.MemberID])
			left++
		}
	}
	if left > 0 {
		switch g.state {
		case stateStable, stateCompletingRebalance:
			c.maybePrepareRebalanceOrCompleteJoinLocked(g, "members left the group")
		case statePreparingRebalance:
			c.maybeCompleteJoinPhaseLocked(g)
		}
	}
	finish()
}
