package group

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// JoinGroup (key 11), versions 0-9.
//
//   - v0: the rebalance timeout is the session timeout.
//   - v4+: a dynamic member's first join (empty member id) is answered with
//     MEMBER_ID_REQUIRED and a member id, which it must join with (KIP-394).
//   - v5+: group.instance.id makes the member static (KIP-345): a join with
//     an empty member id and a known instance id replaces the old member id,
//     fencing it (FENCED_INSTANCE_ID), and keeps its assignment without a
//     rebalance when the group is Stable and the selected protocol would not
//     change.
//   - v7+: the response carries the protocol type and a nullable protocol.
//   - v8+: the request carries a reason (logged).
//   - v9+: SkipAssignment tells a static leader that replaced itself to keep
//     the current assignment (KIP-814).

// joinArgs are the validated fields of a JoinGroupRequest.
type joinArgs struct {
	req         *kmsg.JoinGroupRequest
	client      ClientInfo
	protocols   []kmsg.JoinGroupRequestProtocol // deduplicated copies
	rebalanceMs int32
	sessionMs   int32
	respond     responder
}

func (c *Coordinator) joinGroupLocked(ci ClientInfo, req *kmsg.JoinGroupRequest, respond responder) {
	fail := func(code int16, memberID string) {
		resp := newJoinResponse(req.Version)
		resp.ErrorCode = code
		resp.MemberID = memberID
		c.replyLocked(respond, resp)
	}
	if req.Group == "" {
		fail(kerr.InvalidGroupID.Code, req.MemberID)
		return
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		fail(kerr.InvalidSessionTimeout.Code, req.MemberID)
		return
	}
	a := joinArgs{
		req:         req,
		client:      ci,
		protocols:   copyProtocols(req.Protocols),
		rebalanceMs: req.RebalanceTimeoutMillis,
		sessionMs:   req.SessionTimeoutMillis,
		respond:     respond,
	}
	if req.Version == 0 || a.rebalanceMs < 0 {
		a.rebalanceMs = req.SessionTimeoutMillis
	}

	g := c.mu.groups[req.Group]
	if g == nil && c.isShareGroupLocked(req.Group) {
		// A share group's id: Kafka refuses the classic protocol for it.
		fail(kerr.InconsistentGroupProtocol.Code, req.MemberID)
		return
	}
	if g != nil && g.consumer != nil {
		if len(g.consumer.members) > 0 {
			// A mixed group (KIP-1099): the consumer group serves its classic members.
			c.classicJoinToConsumerLocked(g, &a)
			return
		}
		c.toClassicLocked(g) // an empty consumer group becomes a classic one, as in Kafka
	}
	isNew := false
	if g == nil {
		if req.MemberID != "" {
			fail(kerr.UnknownMemberID.Code, req.MemberID)
			return
		}
		g = c.newGroupLocked(req.Group)
		isNew = true
	}

	switch {
	case !c.acceptJoiningMember(g, req.MemberID):
		if m := g.members[req.MemberID]; m != nil {
			c.removeMemberLocked(g, m)
		}
		if pm := g.pending[req.MemberID]; pm != nil {
			pm.timer.disarm()
			delete(g.pending, req.MemberID)
		}
		fail(kerr.GroupMaxSizeReached.Code, "")
	case req.MemberID == "":
		c.joinNewMemberLocked(g, &a)
	default:
		c.joinExistingMemberLocked(g, &a)
	}

	if isNew {
		if len(g.members) == 0 && len(g.pending) == 0 {
			c.removeGroupLocked(g) // the first join failed: no group
		} else {
			c.writeEmptyGroupLocked(g)
		}
	}
}

// acceptJoiningMember applies group.max.size (Kafka's acceptJoiningMember).
func (c *Coordinator) acceptJoiningMember(g *group, memberID string) bool {
	if c.cfg.MaxSize == 0 {
		return true
	}
	m := g.members[memberID]
	switch g.state {
	case statePreparingRebalance:
		return (m != nil && m.join != nil) || g.numAwaitingJoin < c.cfg.MaxSize
	case stateCompletingRebalance, stateStable:
		return m != nil || len(g.members) < c.cfg.MaxSize
	default:
		return true
	}
}

func (c *Coordinator) joinNewMemberLocked(g *group, a *joinArgs) {
	req := a.req
	fail := func(code int16, memberID string) {
		resp := newJoinResponse(req.Version)
		resp.ErrorCode = code
		resp.MemberID = memberID
		c.replyLocked(a.respond, resp)
	}
	if g.state == stateDead {
		fail(kerr.CoordinatorNotAvailable.Code, "")
		return
	}
	if !g.supportsProtocols(req.ProtocolType, a.protocols) {
		fail(kerr.InconsistentGroupProtocol.Code, "")
		return
	}
	prefix := a.client.ID
	if req.InstanceID != nil {
		prefix = *req.InstanceID
	}
	newID := c.newMemberID(prefix)
	switch {
	case req.InstanceID != nil:
		if old, ok := g.static[*req.InstanceID]; ok {
			c.updateStaticMemberLocked(g, a, old, newID)
			return
		}
		c.addMemberThenRebalanceLocked(g, a, newID)
	case req.Version >= 4:
		c.addPendingLocked(g, newID, time.Duration(a.sessionMs)*time.Millisecond)
		fail(kerr.MemberIDRequired.Code, newID)
	default:
		c.addMemberThenRebalanceLocked(g, a, newID)
	}
}

func (c *Coordinator) joinExistingMemberLocked(g *group, a *joinArgs) {
	req := a.req
	fail := func(code int16) {
		resp := newJoinResponse(req.Version)
		resp.ErrorCode = code
		resp.MemberID = req.MemberID
		c.replyLocked(a.respond, resp)
	}
	if g.state == stateDead {
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	}
	if !g.supportsProtocols(req.ProtocolType, a.protocols) {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	if _, ok := g.pending[req.MemberID]; ok && req.InstanceID == nil {
		c.addMemberThenRebalanceLocked(g, a, req.MemberID)
		return
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		fail(code)
		return
	}
	m := g.members[req.MemberID]
	pj := &parked{version: req.Version, respond: a.respond}
	switch g.state {
	case statePreparingRebalance:
		c.updateMemberLocked(g, m, a.protocols, a.rebalanceMs, a.sessionMs, pj)
		c.maybePrepareRebalanceOrCompleteJoinLocked(g, joinReason("member joining during rebalance", req))
	case stateCompletingRebalance:
		if m.sameProtocols(a.protocols) {
			// A retry of a join whose response was lost.
			c.replyLocked(a.respond, g.joinResponse(req.Version, m.id, m.id == g.leader))
			return
		}
		c.updateMemberLocked(g, m, a.protocols, a.rebalanceMs, a.sessionMs, pj)
		c.maybePrepareRebalanceOrCompleteJoinLocked(g, joinReason("member changed metadata", req))
	case stateStable:
		if m.id != g.leader && m.sameProtocols(a.protocols) {
			c.replyLocked(a.respond, g.joinResponse(req.Version, m.id, false))
			return
		}
		// The leader rejoining forces a rebalance: it is how a
		// consumer reacts to metadata changes.
		c.updateMemberLocked(g, m, a.protocols, a.rebalanceMs, a.sessionMs, pj)
		c.maybePrepareRebalanceOrCompleteJoinLocked(g, joinReason("member rejoined stable group", req))
	default:
		fail(kerr.UnknownMemberID.Code)
	}
}

// addMemberThenRebalanceLocked adds a new member with id and rebalances.
// A new member not answered within newMemberJoinTimeout is dropped.
func (c *Coordinator) addMemberThenRebalanceLocked(g *group, a *joinArgs, id string) {
	m := c.newMember(g, id)
	m.instanceID = cloneStringPtr(a.req.InstanceID)
	m.clientID = cloneString(a.client.ID)
	m.clientHost = cloneString(a.client.Host)
	m.rebalanceTimeoutMs = a.rebalanceMs
	m.sessionTimeoutMs = a.sessionMs
	m.protocolType = cloneString(a.req.ProtocolType)
	m.protocols = a.protocols
	if g.state == statePreparingRebalance && g.prevState == stateEmpty {
		g.newMemberAdded = true
	}
	c.addMemberLocked(g, m, &parked{version: a.req.Version, respond: a.respond})
	c.armLocked(&m.hb, newMemberJoinTimeout, m.hbFn)
	c.maybePrepareRebalanceOrCompleteJoinLocked(g, joinReason("adding new member "+id, a.req))
}

// updateStaticMemberLocked replaces static member oldID by newID (KIP-345):
// the old member's waiting requests get FENCED_INSTANCE_ID, the new one
// inherits its place, leadership and assignment. In a Stable group whose
// selected protocol would not change, the replacement is persisted and the
// member gets the current generation without a rebalance.
func (c *Coordinator) updateStaticMemberLocked(g *group, a *joinArgs, oldID, newID string) {
	req := a.req
	old := g.members[oldID]
	if old == nil { // stale mapping; cannot happen, but recover
		delete(g.static, *req.InstanceID)
		c.addMemberThenRebalanceLocked(g, a, newID)
		return
	}
	oldLeader := g.leader

	c.failJoinLocked(g, old, kerr.FencedInstanceID.Code, oldID)
	c.failSyncLocked(old, kerr.FencedInstanceID.Code)
	old.hb.disarm()

	m := c.newMember(g, newID)
	m.isNew = false
	m.instanceID = old.instanceID
	m.clientID = old.clientID
	m.clientHost = old.clientHost
	m.rebalanceTimeoutMs = old.rebalanceTimeoutMs
	m.sessionTimeoutMs = old.sessionTimeoutMs
	m.protocolType = old.protocolType
	m.protocols = old.protocols
	m.assignment = old.assignment
	delete(g.members, oldID)
	g.members[newID] = m
	for i, o := range g.order {
		if o == old {
			g.order[i] = m
		}
	}
	if g.leader == oldID {
		g.leader = newID
	}
	g.static[*m.instanceID] = newID
	if _, ok := g.pendingSync[oldID]; ok {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = struct{}{}
	}
	c.rescheduleHeartbeatLocked(g, m)

	pj := &parked{version: req.Version, respond: a.respond}
	c.updateMemberLocked(g, m, a.protocols, a.rebalanceMs, a.sessionMs, pj)
	c.log.Info("static member rejoined with a new member id", "group", g.id, "instance", *m.instanceID, "old", oldID, "new", newID, "state", g.state.String())

	switch g.state {
	case stateStable:
		if p, ok := g.selectProtocol(); ok && g.protocol != nil && p == *g.protocol {
			kv := c.groupMetadataKV(g, currentAssignment)
			c.appendLocked(g.partition, []KV{kv}, func(err error) {
				if m.join != pj {
					return // answered meanwhile: a rebalance, removal or Close
				}
				if err != nil {
					resp := g.joinResponse(req.Version, "", false)
					resp.ErrorCode = coord.StoreErrorCode(err)
					resp.LeaderID = oldLeader
					c.answerJoinLocked(g, m, resp)
					return
				}
				var resp *kmsg.JoinGroupResponse
				if req.Version >= 9 {
					isLeader := g.leader == m.id
					resp = g.joinResponse(req.Version, m.id, isLeader)
					resp.SkipAssignment = isLeader
				} else {
					// Older clients cannot skip the assignment:
					// they are told the old leader leads, so they
					// just sync and get their assignment.
					resp = g.joinResponse(req.Version, m.id, false)
					resp.LeaderID = oldLeader
				}
				c.answerJoinLocked(g, m, resp)
			})
			return
		}
		c.maybePrepareRebalanceOrCompleteJoinLocked(g, joinReason("static member changed the group protocol", req))
	case stateCompletingRebalance:
		// The leader may already have the old member id in its
		// assignment: rebalance so the new one gets an assignment.
		c.prepareRebalanceLocked(g, joinReason("static member rejoined during sync", req))
	default:
		c.maybeCompleteJoinPhaseLocked(g)
	}
}

// validateMember checks a request's member id and instance id against the
// group (Kafka's ClassicGroup.validateMember): 0, UNKNOWN_MEMBER_ID or
// FENCED_INSTANCE_ID.
func (g *group) validateMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		known, ok := g.static[*instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if known != memberID {
			return kerr.FencedInstanceID.Code
		}
		return 0
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// writeEmptyGroupLocked persists a just-created group (Kafka's
// newEmptyGroupMetadataRecord): generation 0, no members.
func (c *Coordinator) writeEmptyGroupLocked(g *group) {
	v := kmsg.GroupMetadataValue{
		Version:               groupValueVersion,
		ProtocolType:          g.protocolType,
		Generation:            0, // even if the first rebalance already completed (no initial delay)
		CurrentStateTimestamp: g.stateMs,
	}
	kv := KV{Key: appendGroupKey(nil, g.id), Value: v.AppendTo(nil)}
	id := g.id
	c.appendLocked(g.partition, []KV{kv}, func(err error) {
		if err != nil {
			c.log.Warn("failed to store new group", "group", id, "err", err)
		}
	})
}

// copyProtocols copies protocols, dropping repeated names (the first wins).
func copyProtocols(ps []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, 0, len(ps))
next:
	for _, p := range ps {
		for _, o := range out {
			if o.Name == p.Name {
				continue next
			}
		}
		out = append(out, kmsg.JoinGroupRequestProtocol{Name: cloneString(p.Name), Metadata: cloneBytes(p.Metadata)})
	}
	return out
}

func joinReason(what string, req *kmsg.JoinGroupRequest) string {
	if req.Reason != nil && *req.Reason != "" {
		return what + "; client reason: " + *req.Reason
	}
	return what
}

// generateMemberID returns prefix-<random UUID>, as Kafka names members.
func generateMemberID(prefix string) string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // never fails (crypto/rand)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
