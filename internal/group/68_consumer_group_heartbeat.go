package group

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// ConsumerGroupHeartbeat (key 68), versions 0-1 (Kafka 4.0's): the consumer group protocol
// of KIP-848 (see consumer.go for the model).
//
//   - v0: an empty member id with epoch 0 gets a member id generated here.
//   - v1: SubscribedTopicRegex (re2 syntax here; Kafka uses Java's, which agrees on the
//     common subset); the client generates its member id (KIP-1082), so it must not be empty.
//
// Validation (INVALID_REQUEST, as Kafka): empty group id, rack id or instance id; epoch 0
// without RebalanceTimeoutMs, with owned partitions, or without any subscription; epoch -2
// without an instance id; an epoch below -2. A regex that does not compile gets
// INVALID_REGULAR_EXPRESSION and an unknown ServerAssignor UNSUPPORTED_ASSIGNOR.
//
// Errors while heartbeating: UNKNOWN_MEMBER_ID for a member (or group) the coordinator does
// not know, FENCED_MEMBER_EPOCH for an epoch that is neither the member's nor its previous
// one with a subset of its partitions, UNRELEASED_INSTANCE_ID for a static member joining
// while the instance id's holder has not left, FENCED_INSTANCE_ID for a static member whose
// instance id another member took over, GROUP_MAX_SIZE_REACHED, and GROUP_ID_NOT_FOUND for a
// group that is a classic group with members (mixed groups are not supported).
//
// Leaving: epoch -1 removes the member (its partitions are reassigned at once); epoch -2 is
// a static member's temporary leave: it keeps its place and assignment until its session
// times out, and a new member with the same instance id joining with epoch 0 takes them over.
//
// The response carries the member's assignment when the request was a full one (epoch 0, or
// every field set, as clients send after an error) or when the assignment changed.
//
// The group's state is durable (consumer_store.go): the response is sent once the records of
// what the heartbeat changed are in __consumer_offsets, so after a restart members carry on at
// the epochs and with the partitions they were told.

func (c *Coordinator) consumerGroupHeartbeatLocked(ci ClientInfo, req *kmsg.ConsumerGroupHeartbeatRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	fail := func(code int16, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		resp.ErrorCode = code
		resp.ErrorMessage = &msg
		if code == kerr.InvalidRequest.Code || code == kerr.UnsupportedAssignor.Code || code == kerr.InvalidRegularExpression.Code {
			c.log.Info("bad ConsumerGroupHeartbeat", "group", req.Group, "member", req.MemberID, "error", msg)
		}
		c.replyLocked(respond, resp)
	}
	if code, msg := validateConsumerHeartbeat(req); code != 0 {
		fail(code, "%s", msg)
		return
	}
	var re *regexp.Regexp
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		var err error
		if re, err = regexp.Compile(*req.SubscribedTopicRegex); err != nil {
			fail(kerr.InvalidRegularExpression.Code, "SubscribedTopicRegex %q does not compile: %v", *req.SubscribedTopicRegex, err)
			return
		}
	}

	g := c.mu.groups[req.Group]
	if g == nil && c.isShareGroupLocked(req.Group) {
		fail(kerr.GroupIDNotFound.Code, "Group %s is not a consumer group.", req.Group)
		return
	}
	if g != nil && g.state == stateDead {
		// Being deleted (DeleteGroups, or expiry of an empty group): retry shortly.
		fail(kerr.CoordinatorNotAvailable.Code, "Group %s is being deleted.", req.Group)
		return
	}
	if g != nil && g.consumer == nil {
		if len(g.members) > 0 || len(g.pending) > 0 || g.state != stateEmpty {
			// A classic group with members: upgraded if the migration policy allows it
			// (migration.go).
			if req.MemberEpoch != joinEpoch || !c.upgradeLocked(g) {
				fail(kerr.GroupIDNotFound.Code, "Group %s is not a consumer group.", req.Group)
				return
			}
		}
	}
	if req.MemberEpoch == leaveEpoch || req.MemberEpoch == staticLeaveEpoch {
		c.consumerLeaveLocked(g, req, resp, respond, fail)
		return
	}
	if g == nil || g.consumer == nil {
		if req.MemberEpoch != joinEpoch {
			fail(kerr.UnknownMemberID.Code, "Consumer group %s not found.", req.Group)
			return
		}
		existed := g != nil
		if g == nil {
			g = c.newGroupLocked(req.Group)
		}
		g.consumer = newCGroup()
		g.protocolType = "consumer"
		if existed {
			// An empty classic group becomes a consumer group: its GroupMetadataValue, if
			// any, gets a tombstone with the group's first records, as in Kafka.
			g.consumer.written[string(appendGroupKey(nil, g.id))] = unknownValue
		}
	}
	cg := g.consumer
	mark := markConsumer(cg)

	owned, ownedKnown := ownedPartitions(req.Topics)
	var m *cmember
	bump, replaced := false, false
	if req.InstanceID != nil {
		holderID, held := cg.static[*req.InstanceID]
		holder := cg.members[holderID]
		switch {
		case req.MemberEpoch == joinEpoch && (!held || holder == nil):
			m = cg.members[req.MemberID]
		case req.MemberEpoch == joinEpoch:
			if holder.epoch != staticLeaveEpoch && holder.id != req.MemberID {
				fail(kerr.UnreleasedInstanceID.Code, "Static member with unknown member id and instance id %s re-joins the consumer group %s. Static member %s with instance id %s is still active and has not released its instance id.",
					*req.InstanceID, req.Group, holder.id, *req.InstanceID)
				return
			}
			if holder.id != req.MemberID {
				m = c.replaceStaticLocked(g, holder, c.consumerMemberID(req))
				replaced = true
			} else {
				m = holder
			}
		case !held || holder == nil:
			fail(kerr.UnknownMemberID.Code, "Instance id %s is unknown.", *req.InstanceID)
			return
		case holder.id != req.MemberID:
			fail(kerr.FencedInstanceID.Code, "Static member %s with instance id %s is fenced by existing member %s.", req.MemberID, *req.InstanceID, holder.id)
			return
		default:
			m = holder
		}
	} else {
		m = cg.members[req.MemberID]
	}
	if req.MemberEpoch != joinEpoch {
		if m == nil {
			fail(kerr.UnknownMemberID.Code, "Member %s is not a member of group %s.", req.MemberID, req.Group)
			return
		}
		if req.MemberEpoch > m.epoch {
			fail(kerr.FencedMemberEpoch.Code, "The consumer group member has a greater member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.epoch)
			return
		}
		if req.MemberEpoch < m.epoch && (req.MemberEpoch != m.prevEpoch || !ownedKnown || !subsetOf(owned, m.assigned)) {
			fail(kerr.FencedMemberEpoch.Code, "The consumer group member has a smaller member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.epoch)
			return
		}
	}
	if m == nil {
		if c.cfg.ConsumerMaxSize > 0 && len(cg.members) >= c.cfg.ConsumerMaxSize {
			fail(kerr.GroupMaxSizeReached.Code, "The consumer group has reached its maximum capacity of %d members.", c.cfg.ConsumerMaxSize)
			return
		}
		m = &cmember{id: c.consumerMemberID(req), assigned: assignment{}, revoking: assignment{}, ackedEpoch: noAckedEpoch}
		m.session.owner, m.rebalance.owner, m.join.owner = g, g, g
		cg.members[m.id] = m
		bump = true
		if g.state == stateEmpty {
			c.transitionLocked(g, stateStable)
		}
	} else if req.MemberEpoch == joinEpoch && !replaced && (m.epoch != joinEpoch || m.assigned.size() > 0 || m.revoking.size() > 0) {
		// A known member rejoining with epoch 0 has lost its partitions (it was fenced, or
		// its response was lost): it starts over with nothing.
		cg.setOwnership(m, assignment{}, assignment{})
		m.epoch, m.prevEpoch, m.state = joinEpoch, joinEpoch, msStable
	}

	// Update the member's subscription and identity; a subscription change bumps the epoch.
	if req.InstanceID != nil && m.instanceID == nil {
		m.instanceID = cloneStringPtr(req.InstanceID)
		cg.static[*m.instanceID] = m.id
	}
	if req.RackID != nil {
		m.rackID = cloneStringPtr(req.RackID)
	}
	if req.RebalanceTimeoutMillis != -1 {
		m.rebalanceTimeoutMs = req.RebalanceTimeoutMillis
	}
	m.clientID, m.clientHost = cloneString(ci.ID), cloneString(ci.Host)
	if m.classic != nil {
		// A static classic member replaced by one using the consumer protocol.
		m.classic = nil
		m.join.disarm()
	}
	if req.SubscribedTopicNames != nil {
		topics := make([]string, len(req.SubscribedTopicNames))
		for i, t := range req.SubscribedTopicNames {
			topics[i] = cloneString(t)
		}
		slices.Sort(topics)
		topics = slices.Compact(topics)
		if !slices.Equal(topics, m.topics) {
			m.topics = topics
			bump = true
		}
	}
	if req.SubscribedTopicRegex != nil {
		old := ""
		if m.regex != nil {
			old = *m.regex
		}
		if *req.SubscribedTopicRegex != old {
			if *req.SubscribedTopicRegex == "" {
				m.regex, m.re = nil, nil
			} else {
				m.regex, m.re = cloneStringPtr(req.SubscribedTopicRegex), re
			}
			bump = true
		}
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor = cloneString(*req.ServerAssignor)
		bump = true
	}

	// The subscribed topics' metadata: a change (topic created or deleted, partitions added)
	// bumps the group epoch too.
	topics := c.topicsLocked()
	if h := metadataHash(cg.subscriptionFingerprint(topics)); h != cg.metadataHash {
		cg.metadataHash = h
		bump = true
	}
	if bump {
		cg.epoch++
	}
	if cg.epoch > cg.assignmentEpoch {
		cg.computeTarget(topics)
	}
	c.syncSubscribedLocked(g, topics)

	before := m.assigned.clone()
	prevState := m.state
	cg.reconcile(m, owned, ownedKnown)
	c.armConsumerTimersLocked(g, m, prevState)

	resp.MemberID = kmsg.StringPtr(m.id)
	resp.MemberEpoch = m.epoch
	resp.HeartbeatIntervalMillis = int32(c.cfg.ConsumerHeartbeatInterval.Milliseconds())
	full := req.MemberEpoch == joinEpoch ||
		(req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil)
	if full || !before.equal(m.assigned) {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		for _, id := range m.assigned.sortedIDs() {
			a.Topics = append(a.Topics, kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{TopicID: id, Partitions: slices.Clone(m.assigned[id])})
		}
		if a.Topics == nil {
			a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
		}
		resp.Assignment = &a
	}
	if replaced {
		mark = consumerMark{} // the replaced member's records go: compare the whole group
	}
	c.replyDurableLocked(g, m, mark, resp, respond)
}

// replyDurableLocked writes what changed in g's consumer state (serving member m, with g as
// mark says before the request) and sends resp once it is durable (or, with an error and
// nothing else, once the write failed). If g was downgraded meanwhile, resp waits for the
// tombstones of the consumer state it had.
func (c *Coordinator) replyDurableLocked(g *group, m *cmember, mark consumerMark, resp *kmsg.ConsumerGroupHeartbeatResponse, respond responder) {
	cg := mark.cg
	then := func(err error) {
		if err != nil {
			*resp = *resp.RequestKind().ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
			resp.ErrorCode = coord.StoreErrorCode(err)
		} else if m != nil && resp.ErrorCode == 0 && resp.MemberEpoch >= 0 {
			m.ackedEpoch = resp.MemberEpoch
		}
		c.replyLocked(respond, resp)
	}
	if cg != nil && g.consumer != cg {
		c.writeConsumerLocked(g, cg, nil, then)
		return
	}
	c.persistAfterLocked(g, m, mark, then)
}

// validateConsumerHeartbeat is Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid.
func validateConsumerHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (int16, string) {
	bad := kerr.InvalidRequest.Code
	if (req.Version >= 1 || req.MemberEpoch != joinEpoch) && req.MemberID == "" {
		return bad, "MemberId can't be empty."
	}
	if req.Group == "" {
		return bad, "GroupId can't be empty."
	}
	if req.RackID != nil && *req.RackID == "" {
		return bad, "RackId can't be empty."
	}
	if req.InstanceID != nil && *req.InstanceID == "" {
		return bad, "InstanceId can't be empty."
	}
	switch {
	case req.MemberEpoch == joinEpoch:
		if req.RebalanceTimeoutMillis == -1 {
			return bad, "RebalanceTimeoutMs must be provided in first request."
		}
		if req.Topics == nil || len(req.Topics) > 0 {
			return bad, "TopicPartitions must be empty when (re-)joining."
		}
		names := len(req.SubscribedTopicNames) > 0
		regex := req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != ""
		if !names && !regex {
			return bad, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."
		}
	case req.MemberEpoch == staticLeaveEpoch:
		if req.InstanceID == nil {
			return bad, "InstanceId can't be null."
		}
	case req.MemberEpoch < staticLeaveEpoch:
		return bad, "MemberEpoch is invalid."
	}
	if req.ServerAssignor != nil && !slices.Contains(assignorNames, *req.ServerAssignor) {
		return kerr.UnsupportedAssignor.Code, fmt.Sprintf("ServerAssignor %s is not supported. Supported assignors: %s.",
			*req.ServerAssignor, strings.Join(assignorNames, ", "))
	}
	return 0, ""
}

// consumerMemberID is the member id of a joining member: the client's (v1+, KIP-1082), or one
// generated here for a v0 client that sent none.
func (c *Coordinator) consumerMemberID(req *kmsg.ConsumerGroupHeartbeatRequest) string {
	if req.MemberID != "" {
		return cloneString(req.MemberID)
	}
	return c.newMemberID("")[1:] // a bare UUID, as Kafka generates
}

// ownedPartitions converts the partitions a member reports owning; known is false when it did
// not report them (a null list: unchanged).
func ownedPartitions(ts []kmsg.ConsumerGroupHeartbeatRequestTopic) (assignment, bool) {
	if ts == nil {
		return nil, false
	}
	a := assignment{}
	for _, t := range ts {
		for _, p := range t.Partitions {
			a.add(t.TopicID, p)
		}
	}
	return a, true
}

// subsetOf reports whether every partition of a is in b.
func subsetOf(a, b assignment) bool {
	for id, ps := range a {
		for _, p := range ps {
			if !b.has(id, p) {
				return false
			}
		}
	}
	return true
}

// consumerLeaveLocked handles epoch -1 (leave) and -2 (a static member's temporary leave).
func (c *Coordinator) consumerLeaveLocked(g *group, req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse, respond responder, fail func(int16, string, ...any)) {
	if g == nil || g.consumer == nil {
		fail(kerr.UnknownMemberID.Code, "Consumer group %s not found.", req.Group)
		return
	}
	cg := g.consumer
	mark := markConsumer(cg)
	var m *cmember
	if req.InstanceID != nil {
		holder := cg.members[cg.static[*req.InstanceID]]
		if holder == nil {
			fail(kerr.UnknownMemberID.Code, "Instance id %s is unknown.", *req.InstanceID)
			return
		}
		if holder.id != req.MemberID {
			fail(kerr.FencedInstanceID.Code, "Static member %s with instance id %s is fenced by existing member %s.", req.MemberID, *req.InstanceID, holder.id)
			return
		}
		m = holder
	} else if m = cg.members[req.MemberID]; m == nil {
		fail(kerr.UnknownMemberID.Code, "Member %s is not a member of group %s.", req.MemberID, req.Group)
		return
	}
	if req.MemberEpoch == staticLeaveEpoch {
		// The static member keeps its assignment until it comes back or its session ends.
		m.prevEpoch, m.epoch = m.epoch, staticLeaveEpoch
		m.rebalance.disarm()
		c.log.Info("static consumer member left temporarily", "group", g.id, "member", m.id, "instance", *m.instanceID)
	} else {
		c.log.Info("consumer member left", "group", g.id, "member", m.id)
		epoch := cg.epoch
		c.removeConsumerMemberLocked(g, m)
		c.maybeDowngradeLocked(g, epoch)
	}
	resp.MemberID = kmsg.StringPtr(req.MemberID)
	resp.MemberEpoch = req.MemberEpoch
	resp.HeartbeatIntervalMillis = int32(c.cfg.ConsumerHeartbeatInterval.Milliseconds())
	c.replyDurableLocked(g, m, mark, resp, respond)
}

// removeConsumerMemberLocked removes m from its group, frees its partitions and bumps the
// group epoch so that the others take them over.
func (c *Coordinator) removeConsumerMemberLocked(g *group, m *cmember) {
	cg := g.consumer
	m.session.disarm()
	m.rebalance.disarm()
	m.join.disarm()
	cg.releaseAll(m)
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
	cg.epoch++
	topics := c.topicsLocked()
	cg.metadataHash = metadataHash(cg.subscriptionFingerprint(topics))
	cg.computeTarget(topics)
	c.syncSubscribedLocked(g, topics)
	if len(cg.members) == 0 && g.state != stateEmpty {
		c.transitionLocked(g, stateEmpty)
	}
}

// replaceStaticLocked gives old's place (instance id, assignment, target) to a new member id,
// as a static member restarting with epoch 0 does after old left temporarily.
func (c *Coordinator) replaceStaticLocked(g *group, old *cmember, id string) *cmember {
	cg := g.consumer
	old.session.disarm()
	old.rebalance.disarm()
	old.join.disarm()
	m := &cmember{
		id: id, instanceID: old.instanceID, rackID: old.rackID,
		rebalanceTimeoutMs: old.rebalanceTimeoutMs, topics: old.topics, regex: old.regex, re: old.re,
		assignor: old.assignor, state: msStable, classic: old.classic, ackedEpoch: noAckedEpoch,
	}
	m.session.owner, m.rebalance.owner, m.join.owner = g, g, g
	assigned := old.assigned
	cg.releaseAll(old)
	delete(cg.members, old.id)
	cg.members[m.id] = m
	cg.static[*m.instanceID] = m.id
	if t, ok := cg.target[old.id]; ok {
		cg.target[m.id] = t
		delete(cg.target, old.id)
	}
	// The new member takes over the partitions old still held (not those it was revoking):
	// reconciliation hands them back to it at once.
	cg.setOwnership(m, assigned.clone(), assignment{})
	m.epoch = joinEpoch
	c.log.Info("static consumer member replaced", "group", g.id, "old_member", old.id, "member", m.id, "instance", *m.instanceID)
	return m
}

// armConsumerTimersLocked restarts m's session timeout and arms its rebalance timeout while it
// has partitions to revoke.
func (c *Coordinator) armConsumerTimersLocked(g *group, m *cmember, prevState memberState) {
	session := c.cfg.ConsumerSessionTimeout
	if m.classic != nil {
		session = time.Duration(m.classic.sessionTimeoutMs) * time.Millisecond
	}
	c.armLocked(&m.session, session, func() {
		if g.consumer == nil || g.consumer.members[m.id] != m {
			return
		}
		c.log.Info("consumer member session timed out", "group", g.id, "member", m.id)
		c.removeMemberAndMaybeDowngradeLocked(g, m)
	})
	switch {
	case m.state != msUnrevoked:
		m.rebalance.disarm()
	case prevState != msUnrevoked:
		c.armLocked(&m.rebalance, time.Duration(m.rebalanceTimeoutMs)*time.Millisecond, func() {
			if g.consumer == nil || g.consumer.members[m.id] != m || m.state != msUnrevoked {
				return
			}
			c.log.Info("consumer member did not revoke its partitions within the rebalance timeout", "group", g.id, "member", m.id)
			c.removeMemberAndMaybeDowngradeLocked(g, m)
		})
	}
}

// syncSubscribedLocked keeps g.subscribed (the topics whose offsets do not expire while the
// group has members) equal to the topics the consumer members subscribe to.
func (c *Coordinator) syncSubscribedLocked(g *group, topics []TopicMeta) {
	subs := map[string]struct{}{}
	for i := range topics {
		for _, m := range g.consumer.members {
			if m.subscribes(&topics[i]) {
				subs[topics[i].Name] = struct{}{}
				break
			}
		}
	}
	g.subscribed = subs
}

// topicsLocked lists the topics for the assignors, sorted by name.
func (c *Coordinator) topicsLocked() []TopicMeta {
	if c.topics == nil {
		return nil
	}
	ts := c.topics()
	slices.SortFunc(ts, func(a, b TopicMeta) int { return strings.Compare(a.Name, b.Name) })
	return ts
}

// removeMemberAndMaybeDowngradeLocked removes m (its session or rebalance timeout ended),
// downgrades the group if only classic members are left, and writes the change.
func (c *Coordinator) removeMemberAndMaybeDowngradeLocked(g *group, m *cmember) {
	cg := g.consumer
	epoch := cg.epoch
	c.removeConsumerMemberLocked(g, m)
	if m.classic == nil && c.maybeDowngradeLocked(g, epoch) {
		return // the conversion wrote cg's tombstones
	}
	c.writeConsumerLocked(g, cg, consumerDiff(cg, desiredConsumerRecords(g.id, cg)), func(error) {})
}
