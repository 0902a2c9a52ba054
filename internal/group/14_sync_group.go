package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// SyncGroup (key 14), versions 0-5.
//
//   - v3+: group.instance.id, validated like JoinGroup's (FENCED_INSTANCE_ID).
//   - v5+: protocol type and name are mandatory (INCONSISTENT_GROUP_PROTOCOL
//     when missing) and are returned with the assignment.
//
// In CompletingRebalance every member's SyncGroup waits; the leader's carries
// the assignment, which is written to the Store, and once durable every
// waiting member gets its part (members the leader left out get an empty
// assignment) and the group is Stable. In Stable, the current assignment is
// returned at once.

func (c *Coordinator) syncGroupLocked(req *kmsg.SyncGroupRequest, respond responder) {
	fail := func(code int16) {
		resp := newSyncResponse(req.Version)
		resp.ErrorCode = code
		c.replyLocked(respond, resp)
	}
	if req.Group == "" {
		fail(kerr.InvalidGroupID.Code)
		return
	}
	if req.Version >= 5 && (req.ProtocolType == nil || req.Protocol == nil) {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	g := c.mu.groups[req.Group]
	if g == nil {
		fail(kerr.UnknownMemberID.Code)
		return
	}
	if g.state == stateDead {
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	}
	if g.consumer != nil && len(g.consumer.members) > 0 {
		c.classicSyncToConsumerLocked(g, req, respond) // a mixed group (migration.go)
		return
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		fail(code)
		return
	}
	if req.Generation != g.generation {
		fail(kerr.IllegalGeneration.Code)
		return
	}
	if (req.ProtocolType != nil && g.protocolType != "" && *req.ProtocolType != g.protocolType) ||
		(req.Protocol != nil && g.protocol != nil && *req.Protocol != *g.protocol) {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}

	m := g.members[req.MemberID]
	switch g.state {
	case statePreparingRebalance:
		fail(kerr.RebalanceInProgress.Code)
	case stateCompletingRebalance:
		c.failSyncLocked(m, kerr.RebalanceInProgress.Code) // a superseded retry
		m.sync = &parked{version: req.Version, respond: respond}
		delete(g.pendingSync, m.id)
		if m.id == g.leader {
			c.storeAssignmentLocked(g, req)
		}
	case stateStable:
		delete(g.pendingSync, m.id)
		resp := newSyncResponse(req.Version)
		resp.ProtocolType = kmsgStringOrNil(g.protocolType)
		if g.protocol != nil {
			p := *g.protocol
			resp.Protocol = &p
		}
		resp.MemberAssignment = m.assignment
		c.replyLocked(respond, resp)
	default:
		fail(kerr.UnknownMemberID.Code)
	}
}

// storeAssignmentLocked persists the leader's assignment; once durable, and
// if the generation is still completing, members get it and g is Stable. On
// a store failure the waiting members get the error and g rebalances.
func (c *Coordinator) storeAssignmentLocked(g *group, req *kmsg.SyncGroupRequest) {
	assign := make(map[string][]byte, len(g.members))
	for _, a := range req.GroupAssignment {
		if _, ok := g.members[a.MemberID]; ok {
			if _, dup := assign[a.MemberID]; !dup {
				assign[a.MemberID] = cloneBytes(a.MemberAssignment)
			}
		}
	}
	for id := range g.members {
		if assign[id] == nil {
			assign[id] = []byte{}
		}
	}
	gen := g.generation
	kv := c.groupMetadataKV(g, func(m *member) []byte { return assign[m.id] })
	c.appendLocked(g.partition, []KV{kv}, func(err error) {
		if c.mu.groups[g.id] != g || g.state != stateCompletingRebalance || g.generation != gen {
			return // the group moved on; its waiting members were answered then
		}
		if err != nil {
			c.resetAndPropagateAssignmentWithErrorLocked(g, coord.StoreErrorCode(err))
			c.maybePrepareRebalanceOrCompleteJoinLocked(g, "failed to store the assignment")
			return
		}
		for _, m := range g.order {
			m.assignment = assign[m.id]
		}
		c.propagateAssignmentLocked(g, 0)
		c.transitionLocked(g, stateStable)
		c.log.Info("group stable", "group", g.id, "generation", g.generation, "members", len(g.members))
	})
}
