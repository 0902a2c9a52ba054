package group

import (
	"bytes"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is a classic group's state, named as Kafka names them.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s groupState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "Unknown"
}

// tp is a topic partition.
type tp struct {
	topic     string
	partition int32
}

// offsetEntry is one committed offset.
type offsetEntry struct {
	offset      int64
	leaderEpoch int32 // noLeaderEpoch if unknown
	metadata    string
	commitMs    int64
	expireMs    int64 // noExpireTimestamp unless committed with a retention time (OffsetCommit v2-v4)
}

// group is one classic group and its committed offsets. Every field is
// guarded by Coordinator.mu.
type group struct {
	id        string
	partition int32
	// gone is set once the group is removed or its partition unloaded: its
	// timers no longer fire and nothing may change it for a client.
	gone bool

	state     groupState
	prevState groupState
	stateMs   int64 // when state was entered; -1 if unknown (loaded from an old record)

	protocolType string  // "" = none (a group that only stores offsets)
	protocol     *string // selected protocol of the generation; nil = none
	generation   int32
	leader       string // "" = none

	members         map[string]*member
	order           []*member                 // members in join order (responses and records list them so)
	static          map[string]string         // instance id → member id
	pending         map[string]*pendingMember // got MEMBER_ID_REQUIRED, not yet rejoined
	pendingSync     map[string]struct{}       // joined this generation, SyncGroup not yet received
	numAwaitingJoin int                       // members with a parked JoinGroup
	newMemberAdded  bool                      // a member joined during the initial delay
	protocols       map[string]int            // protocol name → members supporting it
	subscribed      map[string]struct{}       // topics of a "consumer" group's subscriptions; nil = unknown

	joinTimer timerSlot // initial delay / rebalance timeout
	syncTimer timerSlot // pending SyncGroup expiry

	offsets    map[tp]*offsetSlot // committed offsets and commits in flight
	numOffsets int                // slots holding a committed offset
	numPending int                // commits in flight, over all slots

	// txnOffsets are offsets written by TxnOffsetCommit whose transaction has
	// not ended: producer id → partition → offset. The transaction's commit
	// marker makes them committed offsets (unless a later plain commit of the
	// same partition superseded them); its abort marker drops them.
	txnOffsets    map[int64]map[tp]offsetEntry
	numTxnPending int // TxnOffsetCommit writes in flight

	// consumer is the consumer-protocol (KIP-848) state of a group whose members use
	// ConsumerGroupHeartbeat; nil for a classic group (consumer.go).
	consumer *cgroup
}

// offsetSlot is one partition's committed offset (visible only once durable)
// and the number of commits for it that are still being written.
type offsetSlot struct {
	offsetEntry
	committed bool  // offsetEntry holds a durable commit
	pending   int32 // commits queued, not yet durable
}

// member is one member of a group (Kafka's ClassicGroupMember).
type member struct {
	id                 string
	instanceID         *string
	clientID           string
	clientHost         string
	rebalanceTimeoutMs int32
	sessionTimeoutMs   int32
	protocolType       string
	protocols          []kmsg.JoinGroupRequestProtocol // copies; never mutated, only replaced
	assignment         []byte                          // never mutated, only replaced
	isNew              bool                            // joined, no JoinGroup response yet

	join *parked // a JoinGroup waiting for the rebalance
	sync *parked // a SyncGroup waiting for the leader's assignment

	hb   timerSlot // session timeout
	hbFn func()    // expiry of hb, made once
}

// pendingMember is a member id handed out with MEMBER_ID_REQUIRED.
type pendingMember struct {
	id    string
	timer timerSlot
}

// parked is a request whose response waits for the group.
type parked struct {
	version int16
	respond responder
}

// newGroupLocked creates an Empty group id and registers it.
func (c *Coordinator) newGroupLocked(id string) *group {
	g := &group{
		id:        cloneString(id),
		partition: c.Partition(id),
		stateMs:   c.nowMs(),
		members:   make(map[string]*member),
		static:    make(map[string]string),
		pending:   make(map[string]*pendingMember),
		protocols: make(map[string]int),
		offsets:   make(map[tp]*offsetSlot),
	}
	g.joinTimer.owner, g.syncTimer.owner = g, g
	c.mu.groups[g.id] = g
	return g
}

// removeGroupLocked forgets g and stops its timers. Parked requests must have
// been answered (g has no members when it is removed).
func (c *Coordinator) removeGroupLocked(g *group) {
	g.gone = true
	g.joinTimer.disarm()
	g.syncTimer.disarm()
	for _, pm := range g.pending {
		pm.timer.disarm()
	}
	for _, m := range g.order {
		m.hb.disarm()
	}
	if g.consumer != nil {
		for _, m := range g.consumer.members {
			m.session.disarm()
			m.rebalance.disarm()
			m.join.disarm()
		}
	}
	if c.mu.groups[g.id] == g {
		delete(c.mu.groups, g.id)
	}
}

// maybeDropLocked removes g if it holds nothing at all: no members, pending
// members, offsets or commits in flight, and it never had a generation or
// protocol type. Such groups are created by a request that then failed.
func (c *Coordinator) maybeDropLocked(g *group) {
	if g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0 && g.numOffsets == 0 &&
		g.numPending == 0 && len(g.txnOffsets) == 0 && g.numTxnPending == 0 && g.generation == 0 && g.protocolType == "" {
		c.removeGroupLocked(g)
	}
}

func (c *Coordinator) transitionLocked(g *group, s groupState) {
	g.prevState = g.state
	g.state = s
	g.stateMs = c.nowMs()
}

func (c *Coordinator) newMember(g *group, id string) *member {
	m := &member{id: id, isNew: true}
	m.hb.owner = g
	m.hbFn = func() { c.expireHeartbeatLocked(g, m) }
	return m
}

// addMemberLocked adds m (Kafka's ClassicGroup.add); pj, if set, is its
// parked JoinGroup.
func (c *Coordinator) addMemberLocked(g *group, m *member, pj *parked) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.members[m.id] = m
	g.order = append(g.order, m)
	for _, p := range m.protocols {
		g.protocols[p.Name]++
	}
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if pj != nil {
		m.join = pj
		g.numAwaitingJoin++
	}
	if pm := g.pending[m.id]; pm != nil {
		pm.timer.disarm()
		delete(g.pending, m.id)
	}
}

// removeMemberLocked removes m (Kafka's ClassicGroup.remove): a parked
// JoinGroup or SyncGroup is answered with UNKNOWN_MEMBER_ID, leadership
// passes to the first remaining member. It does not trigger a rebalance.
func (c *Coordinator) removeMemberLocked(g *group, m *member) {
	c.failJoinLocked(g, m, kerr.UnknownMemberID.Code, "")
	c.failSyncLocked(m, kerr.UnknownMemberID.Code)
	m.hb.disarm()
	delete(g.members, m.id)
	for i, o := range g.order {
		if o == m {
			g.order = slices.Delete(g.order, i, i+1)
			break
		}
	}
	for _, p := range m.protocols {
		if g.protocols[p.Name]--; g.protocols[p.Name] <= 0 {
			delete(g.protocols, p.Name)
		}
	}
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0].id
		}
	}
	delete(g.pendingSync, m.id)
}

// updateMemberLocked replaces m's protocols and timeouts and parks pj as its
// JoinGroup (Kafka's ClassicGroup.updateMember). A JoinGroup already parked
// for m is superseded and answered with REBALANCE_IN_PROGRESS.
func (c *Coordinator) updateMemberLocked(g *group, m *member, protocols []kmsg.JoinGroupRequestProtocol, rebalanceMs, sessionMs int32, pj *parked) {
	for _, p := range m.protocols {
		if g.protocols[p.Name]--; g.protocols[p.Name] <= 0 {
			delete(g.protocols, p.Name)
		}
	}
	m.protocols = protocols
	for _, p := range m.protocols {
		g.protocols[p.Name]++
	}
	m.rebalanceTimeoutMs = rebalanceMs
	m.sessionTimeoutMs = sessionMs
	if pj != nil {
		if m.join != nil {
			c.failJoinLocked(g, m, kerr.RebalanceInProgress.Code, m.id)
		}
		m.join = pj
		g.numAwaitingJoin++
	}
}

// failJoinLocked answers m's parked JoinGroup, if any, with code.
func (c *Coordinator) failJoinLocked(g *group, m *member, code int16, memberID string) {
	if m.join == nil {
		return
	}
	resp := newJoinResponse(m.join.version)
	resp.ErrorCode = code
	resp.MemberID = memberID
	c.answerJoinLocked(g, m, resp)
}

// answerJoinLocked answers m's parked JoinGroup with resp.
func (c *Coordinator) answerJoinLocked(g *group, m *member, resp *kmsg.JoinGroupResponse) {
	if m.join == nil {
		return
	}
	c.replyLocked(m.join.respond, resp)
	m.join = nil
	g.numAwaitingJoin--
}

// failSyncLocked answers m's parked SyncGroup, if any, with code.
func (c *Coordinator) failSyncLocked(m *member, code int16) {
	if m.sync == nil {
		return
	}
	resp := newSyncResponse(m.sync.version)
	resp.ErrorCode = code
	c.replyLocked(m.sync.respond, resp)
	m.sync = nil
}

func newJoinResponse(version int16) *kmsg.JoinGroupResponse {
	r := &kmsg.JoinGroupResponse{Version: version}
	r.Default()
	return r
}

func newSyncResponse(version int16) *kmsg.SyncGroupResponse {
	r := &kmsg.SyncGroupResponse{Version: version}
	r.Default()
	return r
}

// hasAllMembersJoined: every member has a parked JoinGroup and no member id
// handed out with MEMBER_ID_REQUIRED is still outstanding.
func (g *group) hasAllMembersJoined() bool {
	return len(g.members) == g.numAwaitingJoin && len(g.pending) == 0
}

// rebalanceTimeout is the largest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var max int32
	for _, m := range g.order {
		if m.rebalanceTimeoutMs > max {
			max = m.rebalanceTimeoutMs
		}
	}
	return time.Duration(max) * time.Millisecond
}

// supportsProtocols reports whether a member of protocolType supporting
// protocols may join (Kafka's ClassicGroup.supportsProtocols).
func (g *group) supportsProtocols(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if g.state == stateEmpty {
		return protocolType != "" && len(protocols) > 0
	}
	if g.protocolType != protocolType {
		return false
	}
	for _, p := range protocols {
		if g.protocols[p.Name] == len(g.members) {
			return true
		}
	}
	return false
}

// sameProtocols reports whether m would join with exactly protocols.
func (m *member) sameProtocols(protocols []kmsg.JoinGroupRequestProtocol) bool {
	if len(m.protocols) != len(protocols) {
		return false
	}
	for i := range protocols {
		if m.protocols[i].Name != protocols[i].Name || !bytes.Equal(m.protocols[i].Metadata, protocols[i].Metadata) {
			return false
		}
	}
	return true
}

// metadata returns m's metadata for protocol.
func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// selectProtocol picks the protocol every member supports that most members
// prefer (each votes for its first supported candidate); ties go to the
// candidate listed first by the first member. ok is false if there is none.
func (g *group) selectProtocol() (string, bool) {
	if len(g.order) == 0 {
		return "", false
	}
	n := len(g.members)
	votes := make(map[string]int)
	for _, m := range g.order {
		for _, p := range m.protocols {
			if g.protocols[p.Name] == n {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", 0
	for _, p := range g.order[0].protocols {
		if v := votes[p.Name]; v > bestVotes {
			best, bestVotes = p.Name, v
		}
	}
	return best, bestVotes > 0
}

// computeSubscribed sets g.subscribed as Kafka's computeSubscribedTopics:
// known only for a "consumer" group whose members' subscriptions all parse.
func (g *group) computeSubscribed() {
	g.subscribed = nil
	if g.protocolType != "consumer" {
		return
	}
	if len(g.members) == 0 {
		g.subscribed = map[string]struct{}{}
		return
	}
	if g.protocol == nil {
		return
	}
	topics := make(map[string]struct{})
	for _, m := range g.order {
		if !subscribedTopics(m.metadata(*g.protocol), func(t string) { topics[t] = struct{}{} }) {
			return
		}
	}
	g.subscribed = topics
}

// currentMembers lists every member with its metadata for the selected
// protocol, as the leader's JoinGroup response carries them.
func (g *group) currentMembers() []kmsg.JoinGroupResponseMember {
	out := make([]kmsg.JoinGroupResponseMember, 0, len(g.order))
	proto := ""
	if g.protocol != nil {
		proto = *g.protocol
	}
	for _, m := range g.order {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = m.instanceID
		jm.ProtocolMetadata = m.metadata(proto)
		out = append(out, jm)
	}
	return out
}

// joinResponse is a successful JoinGroup response for memberID at the
// current generation; the leader list only if withMembers.
func (g *group) joinResponse(version int16, memberID string, withMembers bool) *kmsg.JoinGroupResponse {
	resp := newJoinResponse(version)
	resp.Generation = g.generation
	if g.protocolType != "" {
		resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	}
	if g.protocol != nil {
		resp.Protocol = kmsg.StringPtr(*g.protocol)
	}
	resp.LeaderID = g.leader
	resp.MemberID = memberID
	if withMembers {
		resp.Members = g.currentMembers()
	}
	return resp
}

// sortedOffsetKeys returns the partitions with a committed offset, sorted.
func (g *group) sortedOffsetKeys() []tp {
	keys := make([]tp, 0, g.numOffsets)
	for k, s := range g.offsets {
		if s.committed {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].topic != keys[j].topic {
			return keys[i].topic < keys[j].topic
		}
		return keys[i].partition < keys[j].partition
	})
	return keys
}

// groupMetadataKV is g's GroupMetadataValue record; assignment gives each
// member's assignment.
func (c *Coordinator) groupMetadataKV(g *group, assignment func(*member) []byte) KV {
	v := kmsg.GroupMetadataValue{
		Version:               groupValueVersion,
		ProtocolType:          g.protocolType,
		Generation:            g.generation,
		Protocol:              g.protocol,
		CurrentStateTimestamp: g.stateMs,
	}
	if g.leader != "" {
		v.Leader = kmsg.StringPtr(g.leader)
	}
	proto := ""
	if g.protocol != nil {
		proto = *g.protocol
	}
	if len(g.order) > 0 {
		v.Members = make([]kmsg.GroupMetadataValueMember, 0, len(g.order))
	}
	for _, m := range g.order {
		v.Members = append(v.Members, kmsg.GroupMetadataValueMember{
			MemberID:               m.id,
			InstanceID:             m.instanceID,
			ClientID:               m.clientID,
			ClientHost:             m.clientHost,
			RebalanceTimeoutMillis: m.rebalanceTimeoutMs,
			SessionTimeoutMillis:   m.sessionTimeoutMs,
			Subscription:           m.metadata(proto),
			Assignment:             assignment(m),
		})
	}
	key := appendGroupKey(nil, g.id)
	return KV{Key: key, Value: v.AppendTo(nil)}
}

func currentAssignment(m *member) []byte { return m.assignment }

// writeGroupLocked appends g's metadata with the members' current
// assignments; failures are logged.
func (c *Coordinator) writeGroupLocked(g *group) {
	kv := c.groupMetadataKV(g, currentAssignment)
	id, gen := g.id, g.generation
	c.appendLocked(g.partition, []KV{kv}, func(err error) {
		if err != nil {
			c.log.Warn("failed to store group metadata", "group", id, "generation", gen, "err", err)
		}
	})
}

// slotFor returns topic/partition's slot, creating it (with a copy of topic,
// which may belong to a request) if needed.
func (g *group) slotFor(topic string, partition int32) *offsetSlot {
	if s := g.offsets[tp{topic, partition}]; s != nil {
		return s
	}
	s := &offsetSlot{}
	g.offsets[tp{cloneString(topic), partition}] = s
	return s
}

// committed returns the durable committed offset of topic/partition, or nil.
func (g *group) committed(topic string, partition int32) *offsetEntry {
	if s := g.offsets[tp{topic, partition}]; s != nil && s.committed {
		return &s.offsetEntry
	}
	return nil
}

// setCommitted makes e the durable offset of s. The metadata string is
// copied unless unchanged.
func (g *group) setCommitted(s *offsetSlot, e *offsetEntry) {
	md := s.metadata
	if !s.committed || md != e.metadata {
		md = cloneString(e.metadata)
	}
	s.offsetEntry = *e
	s.metadata = md
	if !s.committed {
		s.committed = true
		g.numOffsets++
	}
}

// uncommit removes the committed offset of k (a tombstone became durable).
func (g *group) uncommit(k tp) {
	s := g.offsets[k]
	if s == nil {
		return
	}
	if s.committed {
		s.committed = false
		s.offsetEntry = offsetEntry{}
		g.numOffsets--
	}
	if s.pending == 0 {
		delete(g.offsets, k)
	}
}

// hasOffsetOrPending reports whether k has a committed offset or a commit in
// flight: what a deletion must write a tombstone for.
func (g *group) hasOffsetOrPending(k tp) bool {
	s := g.offsets[k]
	return s != nil && (s.committed || s.pending > 0)
}

// groupTombstone is the record deleting group id's metadata.
func groupTombstone(id string) KV { return KV{Key: appendGroupKey(nil, id)} }

// deletionRecordsLocked returns the tombstones that delete g (offsets aside): its
// GroupMetadataValue and, for a consumer-protocol group, every record of its state.
func deletionRecordsLocked(g *group) []KV {
	return append(consumerTombstonesLocked(g), groupTombstone(g.id))
}

// deleteOffsetsLocked writes tombstones for tps, followed by extra, and once
// durable removes those offsets; done then runs with the append's error (on
// error nothing is removed).
func (c *Coordinator) deleteOffsetsLocked(g *group, tps []tp, extra []KV, done func(error)) {
	recs := make([]KV, 0, len(tps)+len(extra))
	for _, k := range tps {
		recs = append(recs, KV{Key: appendOffsetKey(nil, g.id, k.topic, k.partition)})
	}
	recs = append(recs, extra...)
	c.appendLocked(g.partition, recs, func(err error) {
		if err == nil {
			for _, k := range tps {
				g.uncommit(k)
			}
		}
		done(err)
	})
}
