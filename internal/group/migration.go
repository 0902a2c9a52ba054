package group

import (
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/coord"
)

// Online migration between the classic and the consumer group protocols (KIP-848's upgrade
// and downgrade paths, with KIP-1099's mixed groups), as Kafka 4.x does it:
//
//   - Upgrade: a ConsumerGroupHeartbeat joining a classic group that has members and uses the
//     "consumer" embedded protocol turns it into a consumer-protocol group, if
//     group.consumer.migration.policy allows it (upgrade or bidirectional) and the group is not
//     bigger than group.consumer.max.size. Each classic member becomes a member at the classic
//     generation, with its last assignment as both its current and target assignment; parked
//     JoinGroup and SyncGroup requests get REBALANCE_IN_PROGRESS. Otherwise the heartbeat gets
//     GROUP_ID_NOT_FOUND.
//   - Mixed groups: JoinGroup, SyncGroup, Heartbeat and LeaveGroup of classic members are
//     served inside a consumer-protocol group that has members. The server-side assignor
//     assigns them too. A classic member reconciles on each JoinGroup (its subscription
//     metadata says which partitions it still owns) and gets its assignment in SyncGroup
//     (generation = its member epoch, no leader: the coordinator assigns); its Heartbeat gets
//     REBALANCE_IN_PROGRESS when it must rejoin: the group epoch moved past its epoch, it has
//     partitions to revoke, or partitions it waits for became free. A member told to rejoin
//     that does not within its rebalance timeout is removed.
//   - Downgrade: when the last consumer-protocol member leaves (or is removed) and classic
//     members remain, the group becomes a classic group again if the policy allows it
//     (downgrade or bidirectional) and the group fits group.max.size: at the group epoch as
//     generation, each member with its target assignment, and a rebalance starts at once.
//
// Conversions write the new kind's records and tombstones for the old kind's, so a restart
// replays the group as what it last was.

// classicSubscription is what a classic member's "consumer" protocol metadata says.
type classicSubscription struct {
	version int16
	topics  []string
	owned   map[string][]int32 // by topic name; empty for eager members
	rack    *string
}

func parseClassicSubscription(b []byte) (classicSubscription, error) {
	var m kmsg.ConsumerMemberMetadata
	if len(b) < 2 {
		return classicSubscription{}, fmt.Errorf("subscription of %d bytes", len(b))
	}
	if err := m.ReadFrom(b); err != nil {
		return classicSubscription{}, fmt.Errorf("subscription: %w", err)
	}
	s := classicSubscription{version: m.Version, rack: m.Rack, owned: map[string][]int32{}}
	for _, t := range m.Topics {
		s.topics = append(s.topics, cloneString(t))
	}
	slices.Sort(s.topics)
	s.topics = slices.Compact(s.topics)
	for _, o := range m.OwnedPartitions {
		s.owned[o.Topic] = append(s.owned[o.Topic], o.Partitions...)
	}
	if s.rack != nil && *s.rack == "" {
		s.rack = nil
	}
	return s, nil
}

// subscriptionVersion is the version of a ConsumerProtocolSubscription (0 if unreadable).
func subscriptionVersion(b []byte) int16 {
	if len(b) < 2 {
		return 0
	}
	v := int16(uint16(b[0])<<8 | uint16(b[1]))
	return max(v, 0)
}

// classicAssignment parses a ConsumerProtocolAssignment into partitions by topic id; topics
// that do not exist are left out.
func classicAssignment(b []byte, ids map[string][16]byte) (assignment, error) {
	a := assignment{}
	if len(b) == 0 {
		return a, nil
	}
	var m kmsg.ConsumerMemberAssignment
	if err := m.ReadFrom(b); err != nil {
		return nil, fmt.Errorf("assignment: %w", err)
	}
	for _, t := range m.Topics {
		id, ok := ids[t.Topic]
		if !ok {
			continue
		}
		for _, p := range t.Partitions {
			if p >= 0 {
				a.add(id, p)
			}
		}
	}
	return a, nil
}

// encodeClassicAssignment is a's ConsumerProtocolAssignment at version (topics by name).
func encodeClassicAssignment(a assignment, names map[[16]byte]string, version int16) []byte {
	m := kmsg.NewConsumerMemberAssignment()
	m.Version = min(version, 3)
	for _, id := range a.sortedIDs() {
		name, ok := names[id]
		if !ok {
			continue
		}
		m.Topics = append(m.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: name, Partitions: slices.Clone(a[id])})
	}
	slices.SortFunc(m.Topics, func(x, y kmsg.ConsumerMemberAssignmentTopic) int {
		switch {
		case x.Topic < y.Topic:
			return -1
		case x.Topic > y.Topic:
			return 1
		}
		return 0
	})
	return m.AppendTo(nil)
}

// topicIndex maps topic names to ids and back.
func (c *Coordinator) topicIndexLocked() (ids map[string][16]byte, names map[[16]byte]string) {
	ts := c.topicsLocked()
	ids, names = make(map[string][16]byte, len(ts)), make(map[[16]byte]string, len(ts))
	for _, t := range ts {
		ids[t.Name], names[t.ID] = t.ID, t.Name
	}
	return ids, names
}

// upgradeLocked turns g, a classic group with members, into a consumer-protocol group, if the
// migration policy and the group allow it; it reports whether it did.
func (c *Coordinator) upgradeLocked(g *group) bool {
	why := ""
	switch {
	case !c.cfg.upgradeEnabled():
		why = "group.consumer.migration.policy does not allow upgrades"
	case g.protocolType != "consumer":
		why = fmt.Sprintf("its protocol type is %q, not consumer", g.protocolType)
	case c.cfg.ConsumerMaxSize > 0 && len(g.members) > c.cfg.ConsumerMaxSize:
		why = "it has more members than group.consumer.max.size"
	case g.state == stateDead:
		why = "it is being deleted"
	}
	ids, _ := c.topicIndexLocked()
	type conv struct {
		m   *member
		sub classicSubscription
		a   assignment
	}
	var convs []conv
	for _, m := range g.order {
		if why != "" {
			break
		}
		if len(m.protocols) == 0 {
			why = fmt.Sprintf("member %s has no protocol", m.id)
			break
		}
		meta := m.protocols[0].Metadata
		if g.protocol != nil {
			meta = m.metadata(*g.protocol)
		}
		sub, err := parseClassicSubscription(meta)
		if err != nil {
			why = fmt.Sprintf("member %s: %v", m.id, err)
			break
		}
		a, err := classicAssignment(m.assignment, ids)
		if err != nil {
			why = fmt.Sprintf("member %s: %v", m.id, err)
			break
		}
		convs = append(convs, conv{m, sub, a})
	}
	if why != "" {
		c.log.Info("classic group not upgraded to the consumer protocol", "group", g.id, "reason", why)
		return false
	}

	cg := newCGroup()
	cg.epoch, cg.assignmentEpoch = g.generation, g.generation
	for _, cv := range convs {
		om := cv.m
		c.failJoinLocked(g, om, kerr.RebalanceInProgress.Code, om.id)
		c.failSyncLocked(om, kerr.RebalanceInProgress.Code)
		om.hb.disarm()
		m := &cmember{
			id: om.id, instanceID: om.instanceID, rackID: cv.sub.rack, clientID: om.clientID, clientHost: om.clientHost,
			rebalanceTimeoutMs: om.rebalanceTimeoutMs, topics: cv.sub.topics,
			epoch: g.generation, prevEpoch: g.generation, state: msStable, ackedEpoch: g.generation,
			classic: &classicMeta{sessionTimeoutMs: om.sessionTimeoutMs, protocols: classicProtocols(om.protocols)},
		}
		m.session.owner, m.rebalance.owner, m.join.owner = g, g, g
		cg.members[m.id] = m
		if m.instanceID != nil {
			cg.static[*m.instanceID] = m.id
		}
		owned := unowned(cg, cv.a, nil)
		cg.target[m.id] = owned.clone()
		cg.setOwnership(m, owned, assignment{})
	}
	for _, pm := range g.pending {
		pm.timer.disarm()
	}
	g.joinTimer.disarm()
	g.syncTimer.disarm()
	g.members, g.order, g.static = make(map[string]*member), nil, make(map[string]string)
	g.pending, g.pendingSync, g.numAwaitingJoin, g.newMemberAdded = make(map[string]*pendingMember), nil, 0, false
	g.protocols, g.protocol, g.leader, g.generation = make(map[string]int), nil, "", 0

	g.consumer = cg
	g.protocolType = "consumer"
	cg.written[string(appendGroupKey(nil, g.id))] = unknownValue // the classic record goes
	topics := c.topicsLocked()
	cg.metadataHash = metadataHash(cg.subscriptionFingerprint(topics))
	c.syncSubscribedLocked(g, topics)
	if g.state != stateStable {
		c.transitionLocked(g, stateStable)
	}
	for _, m := range cg.members {
		c.armConsumerTimersLocked(g, m, msStable)
	}
	c.log.Info("classic group upgraded to the consumer protocol", "group", g.id, "epoch", cg.epoch, "members", len(cg.members))
	return true
}

func classicProtocols(ps []kmsg.JoinGroupRequestProtocol) []classicProtocol {
	out := make([]classicProtocol, len(ps))
	for i, p := range ps {
		out[i] = classicProtocol{name: p.Name, metadata: p.Metadata}
	}
	return out
}

// maybeDowngradeLocked turns g into a classic group if only classic members are left (a
// consumer-protocol member just left, at group epoch epoch) and the policy and group.max.size
// allow it; it reports whether it did. The classic generation is epoch, as in Kafka, which
// decides before removing the leaving member.
func (c *Coordinator) maybeDowngradeLocked(g *group, epoch int32) bool {
	cg := g.consumer
	if cg == nil || len(cg.members) == 0 {
		return false
	}
	for _, m := range cg.members {
		if m.classic == nil || len(m.classic.protocols) == 0 {
			return false
		}
	}
	why := ""
	switch {
	case !c.cfg.downgradeEnabled():
		why = "group.consumer.migration.policy does not allow downgrades"
	case c.cfg.MaxSize > 0 && len(cg.members) > c.cfg.MaxSize:
		why = "it has more members than group.max.size"
	}
	// The members must share a protocol.
	ms := cg.sortedMembers()
	common := map[string]int{}
	for _, m := range ms {
		for _, p := range m.classic.protocols {
			common[p.name]++
		}
	}
	shared := false
	for _, n := range common {
		shared = shared || n == len(ms)
	}
	if why == "" && !shared {
		why = "its classic members share no protocol"
	}
	if why != "" {
		c.log.Info("consumer group with only classic members not downgraded", "group", g.id, "reason", why)
		return false
	}

	_, names := c.topicIndexLocked()
	c.writeConsumerLocked(g, cg, consumerTombstonesLocked(g), func(error) {})
	for _, m := range ms {
		m.session.disarm()
		m.rebalance.disarm()
		m.join.disarm()
	}
	g.consumer = nil
	g.protocolType = "consumer"
	g.generation = epoch
	for _, m := range ms {
		om := c.newMember(g, m.id)
		om.isNew = false
		om.instanceID, om.clientID, om.clientHost = m.instanceID, m.clientID, m.clientHost
		om.rebalanceTimeoutMs, om.sessionTimeoutMs = m.rebalanceTimeoutMs, m.classic.sessionTimeoutMs
		om.protocolType = "consumer"
		for _, p := range m.classic.protocols {
			om.protocols = append(om.protocols, kmsg.JoinGroupRequestProtocol{Name: p.name, Metadata: p.metadata})
		}
		c.addMemberLocked(g, om, nil)
	}
	proto, _ := g.selectProtocol()
	g.protocol = &proto
	for _, om := range g.order {
		om.assignment = encodeClassicAssignment(cg.target[om.id], names, subscriptionVersion(om.metadata(proto)))
	}
	if g.state != stateStable {
		c.transitionLocked(g, stateStable)
	}
	g.computeSubscribed()
	c.writeGroupLocked(g)
	for _, om := range g.order {
		c.rescheduleHeartbeatLocked(g, om)
	}
	c.log.Info("consumer group downgraded to the classic protocol", "group", g.id, "generation", g.generation, "members", len(g.members))
	c.prepareRebalanceLocked(g, fmt.Sprintf("Downgrade group %s from consumer to classic.", g.id))
	return true
}

// classicMemberLocked finds the classic member a SyncGroup, Heartbeat or LeaveGroup names
// (Kafka's validateConsumerGroupMember and throwIfMemberDoesNotUseClassicProtocol).
func classicMemberLocked(cg *cgroup, memberID string, instanceID *string) (*cmember, int16) {
	var m *cmember
	if instanceID != nil {
		m = cg.members[cg.static[*instanceID]]
		if m == nil {
			return nil, kerr.UnknownMemberID.Code
		}
		if m.id != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	} else if m = cg.members[memberID]; m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	if m.classic == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	return m, 0
}

// classicJoinToConsumerLocked serves a classic member's JoinGroup in a consumer-protocol group
// with members (Kafka's classicGroupJoinToConsumerGroup).
func (c *Coordinator) classicJoinToConsumerLocked(g *group, a *joinArgs) {
	req := a.req
	resp := newJoinResponse(req.Version)
	fail := func(code int16, memberID string, format string, args ...any) {
		resp.ErrorCode, resp.MemberID = code, memberID
		if format != "" {
			c.log.Info("classic JoinGroup to a consumer-protocol group refused", "group", g.id, "member", memberID, "reason", fmt.Sprintf(format, args...))
		}
		c.replyLocked(a.respond, resp)
	}
	if req.ProtocolType != "consumer" || len(a.protocols) == 0 {
		fail(kerr.InconsistentGroupProtocol.Code, req.MemberID, "protocol type %q with %d protocols", req.ProtocolType, len(a.protocols))
		return
	}
	sub, err := parseClassicSubscription(a.protocols[0].Metadata)
	if err != nil {
		fail(kerr.InconsistentGroupProtocol.Code, req.MemberID, "%v", err)
		return
	}
	cg := g.consumer
	mark := markConsumer(cg)
	id := req.MemberID
	if id == "" {
		id = c.newMemberID(a.client.ID)
		if req.Version >= 4 && req.InstanceID == nil {
			// A dynamic member joins with the member id it is given (KIP-394).
			fail(kerr.MemberIDRequired.Code, id, "")
			return
		}
	}
	var m *cmember
	replaced := false
	if req.InstanceID != nil {
		holder := cg.members[cg.static[*req.InstanceID]]
		switch {
		case holder == nil:
			m = cg.members[id]
		case holder.id == id:
			m = holder
		case req.MemberID == "":
			// A static member restarted: it takes over its instance's place.
			m = c.replaceStaticLocked(g, holder, id)
			replaced = true
		default:
			fail(kerr.FencedInstanceID.Code, req.MemberID, "instance id %s belongs to member %s", *req.InstanceID, holder.id)
			return
		}
	} else {
		m = cg.members[id]
	}
	if m != nil && m.classic == nil && !replaced {
		fail(kerr.UnknownMemberID.Code, req.MemberID, "member %s uses the consumer protocol", id)
		return
	}
	bump := replaced
	if m == nil {
		if c.cfg.ConsumerMaxSize > 0 && len(cg.members) >= c.cfg.ConsumerMaxSize {
			fail(kerr.GroupMaxSizeReached.Code, "", "group.consumer.max.size reached")
			return
		}
		m = &cmember{id: cloneString(id), assigned: assignment{}, revoking: assignment{}, ackedEpoch: noAckedEpoch}
		m.session.owner, m.rebalance.owner, m.join.owner = g, g, g
		cg.members[m.id] = m
		bump = true
	}
	if req.InstanceID != nil && m.instanceID == nil {
		m.instanceID = cloneStringPtr(req.InstanceID)
		cg.static[*m.instanceID] = m.id
	}
	m.rackID = cloneStringPtr(sub.rack)
	m.rebalanceTimeoutMs = a.rebalanceMs
	m.clientID, m.clientHost = cloneString(a.client.ID), cloneString(a.client.Host)
	m.classic = &classicMeta{sessionTimeoutMs: a.sessionMs, protocols: classicProtocols(a.protocols)}
	if !slices.Equal(sub.topics, m.topics) {
		m.topics = sub.topics
		bump = true
	}
	if m.regex != nil || m.assignor != "" {
		m.regex, m.re, m.assignor = nil, nil, ""
		bump = true
	}
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

	ids, _ := c.topicIndexLocked()
	owned := assignment{}
	for name, ps := range sub.owned {
		if tid, ok := ids[name]; ok {
			for _, p := range ps {
				owned.add(tid, p)
			}
		}
	}
	prevState := m.state
	cg.reconcile(m, owned, true)
	m.join.disarm()
	c.armConsumerTimersLocked(g, m, prevState)

	resp.MemberID = m.id
	resp.Generation = m.epoch
	resp.ProtocolType = kmsg.StringPtr("consumer")
	resp.Protocol = kmsg.StringPtr(m.classic.protocols[0].name)
	resp.Members = []kmsg.JoinGroupResponseMember{}
	if replaced {
		mark = consumerMark{}
	}
	c.persistAfterLocked(g, m, mark, func(err error) {
		if err != nil {
			r := newJoinResponse(req.Version)
			r.ErrorCode, r.MemberID = coord.StoreErrorCode(err), m.id
			c.replyLocked(a.respond, r)
			return
		}
		m.ackedEpoch = resp.Generation
		c.replyLocked(a.respond, resp)
	})
}

// mustRejoin reports whether classic member m must rejoin (Kafka's
// classicGroupHeartbeatToConsumerGroup and throwIfRebalanceInProgress).
func (cg *cgroup) mustRejoin(m *cmember) bool {
	return m.epoch < cg.epoch || m.state == msUnrevoked || (m.state == msUnreleased && !cg.waitingOnUnreleased(m))
}

// waitingOnUnreleased reports whether a partition of m's target is still held by another
// member.
func (cg *cgroup) waitingOnUnreleased(m *cmember) bool {
	waiting := false
	cg.target[m.id].each(func(id [16]byte, p int32) {
		if owner, ok := cg.owners[topicPart{id, p}]; ok && owner != m.id {
			waiting = true
		}
	})
	return waiting
}

// armJoinTimeoutLocked gives classic member m its rebalance timeout to rejoin once told to;
// a member that does not is removed (Kafka's consumer group join timeout).
func (c *Coordinator) armJoinTimeoutLocked(g *group, m *cmember) {
	if m.join.armed {
		return
	}
	c.armLocked(&m.join, time.Duration(m.rebalanceTimeoutMs)*time.Millisecond, func() {
		if g.consumer == nil || g.consumer.members[m.id] != m {
			return
		}
		c.log.Info("classic member did not rejoin within its rebalance timeout", "group", g.id, "member", m.id)
		c.removeConsumerMemberLocked(g, m)
		c.persistConsumerLocked(g, func(error) {})
	})
}

// classicSyncToConsumerLocked serves a classic member's SyncGroup in a consumer-protocol group
// (Kafka's classicGroupSyncToConsumerGroup): the member gets its assigned partitions.
func (c *Coordinator) classicSyncToConsumerLocked(g *group, req *kmsg.SyncGroupRequest, respond responder) {
	resp := newSyncResponse(req.Version)
	cg := g.consumer
	m, code := classicMemberLocked(cg, req.MemberID, req.InstanceID)
	switch {
	case code != 0:
	case req.Generation != m.epoch:
		code = kerr.IllegalGeneration.Code
	case req.ProtocolType != nil && *req.ProtocolType != "consumer",
		req.Protocol != nil && *req.Protocol != m.classic.protocols[0].name:
		code = kerr.InconsistentGroupProtocol.Code
	case cg.epoch > m.epoch && m.state != msUnrevoked:
		c.armJoinTimeoutLocked(g, m)
		code = kerr.RebalanceInProgress.Code
	}
	if code != 0 {
		resp.ErrorCode = code
		c.replyLocked(respond, resp)
		return
	}
	c.armConsumerTimersLocked(g, m, m.state)
	_, names := c.topicIndexLocked()
	resp.ProtocolType = req.ProtocolType
	resp.Protocol = req.Protocol
	resp.MemberAssignment = encodeClassicAssignment(m.assigned, names, subscriptionVersion(m.classic.protocols[0].metadata))
	c.persistAfterLocked(g, m, markConsumer(cg), func(err error) {
		if err != nil {
			r := newSyncResponse(req.Version)
			r.ErrorCode = coord.StoreErrorCode(err)
			c.replyLocked(respond, r)
			return
		}
		c.replyLocked(respond, resp)
	})
}

// classicHeartbeatToConsumerLocked answers a classic member's Heartbeat in a consumer-protocol
// group: REBALANCE_IN_PROGRESS when it must rejoin.
func (c *Coordinator) classicHeartbeatToConsumerLocked(g *group, req *kmsg.HeartbeatRequest) int16 {
	cg := g.consumer
	m, code := classicMemberLocked(cg, req.MemberID, req.InstanceID)
	if code != 0 {
		return code
	}
	if req.Generation != m.epoch {
		return kerr.IllegalGeneration.Code
	}
	c.armConsumerTimersLocked(g, m, m.state)
	if cg.mustRejoin(m) {
		c.armJoinTimeoutLocked(g, m)
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// classicLeaveToConsumerLocked serves LeaveGroup in a consumer-protocol group: the classic
// members named leave (consumer-protocol members leave with ConsumerGroupHeartbeat).
func (c *Coordinator) classicLeaveToConsumerLocked(g *group, req *kmsg.LeaveGroupRequest, respond responder) {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	cg := g.consumer
	identities := req.Members
	if req.Version <= 2 {
		identities = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	for _, id := range identities {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = id.MemberID, id.InstanceID
		var m *cmember
		var code int16
		if id.InstanceID != nil && id.MemberID == "" {
			// An administrative removal by instance id.
			if m = cg.members[cg.static[*id.InstanceID]]; m == nil || m.classic == nil {
				code = kerr.UnknownMemberID.Code
			}
		} else {
			m, code = classicMemberLocked(cg, id.MemberID, id.InstanceID)
		}
		if code == 0 {
			rm.MemberID = m.id
			c.log.Info("classic member left the consumer group", "group", g.id, "member", m.id)
			c.removeConsumerMemberLocked(g, m)
		}
		rm.ErrorCode = code
		if req.Version <= 2 {
			resp.ErrorCode = code
		} else {
			resp.Members = append(resp.Members, rm)
		}
	}
	c.persistConsumerLocked(g, func(err error) {
		if err != nil {
			resp.ErrorCode = coord.StoreErrorCode(err)
		}
		c.replyLocked(respond, resp)
	})
}
