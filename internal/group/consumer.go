package group

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The consumer group protocol (KIP-848): the state of a group whose members use
// ConsumerGroupHeartbeat. Such a group is a *group with consumer set; its offsets live in the
// same slots as a classic group's, and its classic state is Stable while it has members and
// Empty otherwise, so that offset expiry, DeleteGroups and the classic APIs treat it as Kafka
// does.
//
// The model is Kafka's (GroupMetadataManager, CurrentAssignmentBuilder):
//
//   - The group epoch is bumped whenever a member joins or leaves, a subscription changes, or
//     the subscribed topics' metadata changes (a topic created, deleted or given partitions).
//   - When the group epoch is ahead of the assignment epoch, the server-side assignor of the
//     group computes a new target assignment, which takes the group epoch as its epoch.
//   - Each member then reconciles from its current assignment towards its target, one step per
//     heartbeat: partitions it must give up are first revoked (it stays at its epoch, state
//     UNREVOKED_PARTITIONS, until its heartbeat no longer reports them as owned); then it moves
//     to the target epoch and receives the partitions of its target that no other member still
//     holds (state UNRELEASED_PARTITIONS until the rest are released, else STABLE).
//
// A partition therefore has at most one owner at any time, and members that keep their
// partitions never stop consuming: there is no stop-the-world rebalance.

// memberState is a consumer member's reconciliation state (Kafka's MemberState).
type memberState int8

const (
	msStable     memberState = iota // at the target epoch with every target partition
	msUnrevoked                     // must revoke partitionsPendingRevocation first
	msUnreleased                    // at the target epoch, waiting for partitions others still hold
)

func (s memberState) String() string {
	switch s {
	case msUnrevoked:
		return "UNREVOKED_PARTITIONS"
	case msUnreleased:
		return "UNRELEASED_PARTITIONS"
	}
	return "STABLE"
}

// Member epochs with a meaning in ConsumerGroupHeartbeat.
const (
	joinEpoch        = 0  // a member joining (or rejoining after being fenced)
	leaveEpoch       = -1 // a member leaving the group
	staticLeaveEpoch = -2 // a static member leaving temporarily (it keeps its assignment)
)

// Server-side assignors (group.consumer.assignors); the first is the default.
const (
	assignorUniform = "uniform"
	assignorRange   = "range"
)

var assignorNames = []string{assignorUniform, assignorRange}

// TopicMeta describes one topic for the consumer protocol's assignors.
type TopicMeta struct {
	Name       string
	ID         [16]byte
	Partitions int32
	Internal   bool // internal topics never match a regex subscription
}

// topicPart is one partition by topic id.
type topicPart struct {
	id [16]byte
	p  int32
}

// assignment is a set of partitions by topic id; partitions are sorted, never empty slices.
type assignment map[[16]byte][]int32

func (a assignment) clone() assignment {
	out := make(assignment, len(a))
	for id, ps := range a {
		out[id] = slices.Clone(ps)
	}
	return out
}

func (a assignment) has(id [16]byte, p int32) bool {
	_, ok := slices.BinarySearch(a[id], p)
	return ok
}

func (a assignment) add(id [16]byte, p int32) {
	ps := a[id]
	i, ok := slices.BinarySearch(ps, p)
	if !ok {
		a[id] = slices.Insert(ps, i, p)
	}
}

func (a assignment) size() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

func (a assignment) equal(b assignment) bool {
	if len(a) != len(b) {
		return false
	}
	for id, ps := range a {
		if !slices.Equal(ps, b[id]) {
			return false
		}
	}
	return true
}

// each calls fn for every partition, in topic id then partition order.
func (a assignment) each(fn func(id [16]byte, p int32)) {
	for _, id := range a.sortedIDs() {
		for _, p := range a[id] {
			fn(id, p)
		}
	}
}

func (a assignment) sortedIDs() [][16]byte {
	ids := make([][16]byte, 0, len(a))
	for id := range a {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y [16]byte) int { return strings.Compare(string(x[:]), string(y[:])) })
	return ids
}

// cgroup is the consumer-protocol state of a group.
type cgroup struct {
	epoch           int32 // group epoch
	assignmentEpoch int32 // epoch of the target assignment
	members         map[string]*cmember
	static          map[string]string     // instance id → member id
	target          map[string]assignment // member id → target assignment
	owners          map[topicPart]string  // partition → the member holding it (assigned or revoking)
	metadataHash    int64                 // hash of the subscribed topics' metadata (metadataHash)

	written map[string][]byte // key → value of the records last handed to the Store (consumer_store.go)
	tail    *writeWaiters     // waiters of the group's last write in flight; nil if none
	// needsFull is set when a write failed: the next write compares every record.
	needsFull bool
}

// cmember is one member of a consumer-protocol group (Kafka's ConsumerGroupMember).
type cmember struct {
	id                 string
	instanceID         *string
	rackID             *string
	clientID           string
	clientHost         string
	rebalanceTimeoutMs int32
	topics             []string // SubscribedTopicNames, sorted
	regex              *string  // SubscribedTopicRegex
	re                 *regexp.Regexp
	assignor           string       // ServerAssignor; "" → the default
	classic            *classicMeta // a member using the classic protocol (KIP-1099); nil for a consumer-protocol member

	epoch, prevEpoch int32
	// ackedEpoch is the epoch the member was last told (its response sent once durable):
	// commits at it are accepted while a newer epoch's response is still being written.
	// noAckedEpoch until the first response.
	ackedEpoch int32
	state      memberState
	assigned   assignment // partitions the member owns
	revoking   assignment // partitions it must give up (it still owns them)

	session   timerSlot // session timeout: the member is removed
	rebalance timerSlot // rebalance timeout while revoking: the member is fenced
	join      timerSlot // a classic member told to rejoin that does not is removed (migration.go)
}

func newCGroup() *cgroup {
	return &cgroup{
		members: make(map[string]*cmember),
		static:  make(map[string]string),
		target:  make(map[string]assignment),
		owners:  make(map[topicPart]string),
		written: make(map[string][]byte),
	}
}

// sortedMembers returns the members sorted by member id.
func (cg *cgroup) sortedMembers() []*cmember {
	ms := make([]*cmember, 0, len(cg.members))
	for _, m := range cg.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	return ms
}

// stateName is the group's state as Kafka names it (ConsumerGroup.ConsumerGroupState).
func (cg *cgroup) stateName() string {
	if len(cg.members) == 0 {
		return "Empty"
	}
	if cg.epoch != cg.assignmentEpoch {
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.epoch != cg.assignmentEpoch || m.state != msStable {
			return "Reconciling"
		}
	}
	return "Stable"
}

// partitionEpoch is Kafka's currentPartitionEpoch: the epoch of the member holding the
// partition, or -1 if it is free.
func (cg *cgroup) partitionEpoch(id [16]byte, p int32) int32 {
	if mid, ok := cg.owners[topicPart{id, p}]; ok {
		if m := cg.members[mid]; m != nil {
			return m.epoch
		}
	}
	return -1
}

// setOwnership replaces member m's assigned and revoking partitions, keeping owners in step.
func (cg *cgroup) setOwnership(m *cmember, assigned, revoking assignment) {
	cg.releaseAll(m)
	m.assigned, m.revoking = assigned, revoking
	for _, a := range []assignment{assigned, revoking} {
		for id, ps := range a {
			for _, p := range ps {
				cg.owners[topicPart{id, p}] = m.id
			}
		}
	}
}

// releaseAll frees every partition m holds.
func (cg *cgroup) releaseAll(m *cmember) {
	for _, a := range []assignment{m.assigned, m.revoking} {
		for id, ps := range a {
			for _, p := range ps {
				if k := (topicPart{id, p}); cg.owners[k] == m.id {
					delete(cg.owners, k)
				}
			}
		}
	}
}

// subscribes reports whether m subscribes to topic t.
func (m *cmember) subscribes(t *TopicMeta) bool {
	if _, ok := slices.BinarySearch(m.topics, t.Name); ok {
		return true
	}
	return m.re != nil && !t.Internal && m.re.MatchString(t.Name)
}

// subscriptionFingerprint describes every topic some member subscribes to, with its id and
// partition count: when it changes, the group epoch is bumped.
func (cg *cgroup) subscriptionFingerprint(topics []TopicMeta) string {
	var b strings.Builder
	for i := range topics {
		t := &topics[i]
		for _, m := range cg.members {
			if m.subscribes(t) {
				fmt.Fprintf(&b, "%s/%x/%d;", t.Name, t.ID, t.Partitions)
				break
			}
		}
	}
	return b.String()
}

// groupAssignor is the assignor the group uses: the one most members name, ties broken by
// the order of assignorNames; the default (uniform) when nobody names one.
func (cg *cgroup) groupAssignor() string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best, n := assignorNames[0], 0
	for _, a := range assignorNames {
		if votes[a] > n {
			best, n = a, votes[a]
		}
	}
	return best
}

// computeTarget runs the group's assignor over the current members and topics and makes the
// result the target assignment at the group epoch.
func (cg *cgroup) computeTarget(topics []TopicMeta) {
	ms := cg.sortedMembers()
	var target map[string]assignment
	switch cg.groupAssignor() {
	case assignorRange:
		target = assignRange(ms, topics)
	default:
		target = assignUniform(ms, topics, cg.target)
	}
	cg.target = target
	cg.assignmentEpoch = cg.epoch
}

// reconcile moves m one step from its current assignment towards its target (Kafka's
// CurrentAssignmentBuilder). owned is what the member reported owning (nil: not reported,
// i.e. unchanged).
func (cg *cgroup) reconcile(m *cmember, owned assignment, ownedKnown bool) {
	ownsAny := func(rev assignment) bool {
		if !ownedKnown {
			return true
		}
		for id, ps := range rev {
			for _, p := range ps {
				if owned.has(id, p) {
					return true
				}
			}
		}
		return false
	}
	switch m.state {
	case msStable:
		if m.epoch != cg.assignmentEpoch {
			cg.nextAssignment(m, m.epoch, ownsAny)
		}
	case msUnrevoked:
		if ownsAny(m.revoking) {
			return
		}
		cg.nextAssignment(m, min(m.epoch+1, cg.assignmentEpoch), ownsAny)
	case msUnreleased:
		cg.nextAssignment(m, m.epoch, ownsAny)
	}
}

// nextAssignment is CurrentAssignmentBuilder.computeNextAssignment.
func (cg *cgroup) nextAssignment(m *cmember, memberEpoch int32, ownsAny func(assignment) bool) {
	target := cg.target[m.id]
	assigned, revoking, pending := assignment{}, assignment{}, assignment{}
	unreleased := false
	ids := map[[16]byte]struct{}{}
	for id := range target {
		ids[id] = struct{}{}
	}
	for id := range m.assigned {
		ids[id] = struct{}{}
	}
	for id := range ids {
		for _, p := range m.assigned[id] {
			if target.has(id, p) {
				assigned.add(id, p)
			} else {
				revoking.add(id, p)
			}
		}
		for _, p := range target[id] {
			if m.assigned.has(id, p) {
				continue
			}
			if owner, ok := cg.owners[topicPart{id, p}]; ok && owner != m.id {
				unreleased = true
				continue
			}
			pending.add(id, p)
		}
	}
	switch {
	case len(revoking) > 0 && ownsAny(revoking):
		m.prevEpoch, m.epoch = m.epoch, memberEpoch
		m.state = msUnrevoked
		cg.setOwnership(m, assigned, revoking)
	default:
		for id, ps := range pending {
			for _, p := range ps {
				assigned.add(id, p)
			}
		}
		m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
		m.state = msStable
		if unreleased {
			m.state = msUnreleased
		}
		cg.setOwnership(m, assigned, assignment{})
	}
}

// assignRange is the range assignor: for each topic, its partitions are split into
// contiguous ranges over the members subscribing to it, sorted by member id; the first
// (partitions % members) members get one more.
func assignRange(ms []*cmember, topics []TopicMeta) map[string]assignment {
	out := make(map[string]assignment, len(ms))
	for _, m := range ms {
		out[m.id] = assignment{}
	}
	for i := range topics {
		t := &topics[i]
		var subs []*cmember
		for _, m := range ms {
			if m.subscribes(t) {
				subs = append(subs, m)
			}
		}
		if len(subs) == 0 || t.Partitions <= 0 {
			continue
		}
		n := int32(len(subs))
		per, extra := t.Partitions/n, t.Partitions%n
		p := int32(0)
		for j, m := range subs {
			cnt := per
			if int32(j) < extra {
				cnt++
			}
			for k := int32(0); k < cnt; k++ {
				out[m.id].add(t.ID, p)
				p++
			}
		}
	}
	return out
}

// assignUniform is the uniform assignor: every partition of the subscribed topics goes to one
// of its subscribers so that the members' partition counts differ as little as possible,
// keeping each partition with the member of the previous target where that stays balanced
// (sticky), so that a change moves as few partitions as it can.
func assignUniform(ms []*cmember, topics []TopicMeta, prev map[string]assignment) map[string]assignment {
	out := make(map[string]assignment, len(ms))
	for _, m := range ms {
		out[m.id] = assignment{}
	}
	if len(ms) == 0 {
		return out
	}
	byID := make(map[string]*cmember, len(ms))
	for _, m := range ms {
		byID[m.id] = m
	}
	// Every partition with its subscribers.
	type part struct {
		t    *TopicMeta
		p    int32
		subs []*cmember
	}
	var parts []part
	subsOf := map[*TopicMeta][]*cmember{}
	for i := range topics {
		t := &topics[i]
		var subs []*cmember
		for _, m := range ms {
			if m.subscribes(t) {
				subs = append(subs, m)
			}
		}
		if len(subs) == 0 {
			continue
		}
		subsOf[t] = subs
		for p := int32(0); p < t.Partitions; p++ {
			parts = append(parts, part{t, p, subs})
		}
	}
	// The quota: total / members subscribing to anything, rounded up for the first ones.
	var active []*cmember
	for _, m := range ms {
		for _, subs := range subsOf {
			if slices.Contains(subs, m) {
				active = append(active, m)
				break
			}
		}
	}
	if len(active) == 0 {
		return out
	}
	quota := (len(parts) + len(active) - 1) / len(active)
	count := map[string]int{}
	prevOwner := map[topicPart]string{}
	for mid, a := range prev {
		if byID[mid] == nil {
			continue
		}
		for id, ps := range a {
			for _, p := range ps {
				prevOwner[topicPart{id, p}] = mid
			}
		}
	}
	var free []part
	// Sticky pass: keep a partition with its previous owner while under quota.
	for _, pt := range parts {
		mid, ok := prevOwner[topicPart{pt.t.ID, pt.p}]
		if ok && byID[mid].subscribes(pt.t) && count[mid] < quota {
			out[mid].add(pt.t.ID, pt.p)
			count[mid]++
			continue
		}
		free = append(free, pt)
	}
	// The rest goes to the least loaded subscriber (ties by member id).
	for _, pt := range free {
		var best *cmember
		for _, m := range pt.subs {
			if best == nil || count[m.id] < count[best.id] {
				best = m
			}
		}
		out[best.id].add(pt.t.ID, pt.p)
		count[best.id]++
	}
	// Rebalance: with the ceiling quota some members may hold two more than others when the
	// sticky pass filled them; move partitions from the most to the least loaded subscriber.
	for moved := true; moved; {
		moved = false
		for _, pt := range parts {
			owner := ""
			for _, m := range pt.subs {
				if out[m.id].has(pt.t.ID, pt.p) {
					owner = m.id
					break
				}
			}
			for _, m := range pt.subs {
				if count[owner]-count[m.id] >= 2 {
					a := out[owner]
					ps := a[pt.t.ID]
					i, _ := slices.BinarySearch(ps, pt.p)
					ps = slices.Delete(ps, i, i+1)
					if len(ps) == 0 {
						delete(a, pt.t.ID)
					} else {
						a[pt.t.ID] = ps
					}
					out[m.id].add(pt.t.ID, pt.p)
					count[owner]--
					count[m.id]++
					moved = true
					break
				}
			}
		}
	}
	return out
}

// validateOffsetCommit is Kafka's ConsumerGroup.validateOffsetCommit: a commit with a negative
// epoch is accepted while the group has no members (admin tools, manual assignment); otherwise
// the member must exist (UNKNOWN_MEMBER_ID), use OffsetCommit v9+ unless the commit is
// transactional (UNSUPPORTED_VERSION), and commit at its current epoch (STALE_MEMBER_EPOCH).
func (cg *cgroup) validateOffsetCommit(memberID string, epoch int32, version int16, txn bool) int16 {
	if epoch < 0 && len(cg.members) == 0 {
		return 0
	}
	m := cg.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if m.classic != nil {
		// A classic member commits with its generation, which is its member epoch.
		if epoch != m.epoch && epoch != m.ackedEpoch {
			return kerr.IllegalGeneration.Code
		}
		return 0
	}
	if !txn && version < 9 {
		return kerr.UnsupportedVersion.Code
	}
	if epoch != m.epoch && epoch != m.ackedEpoch {
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// noAckedEpoch is cmember.ackedEpoch before the member got any response.
const noAckedEpoch = math.MinInt32

// validateOffsetFetch is Kafka's ConsumerGroup.validateOffsetFetch (OffsetFetch v9+): without a
// member id and with a negative epoch (admin tools) anything goes; otherwise the member must
// exist (UNKNOWN_MEMBER_ID) at that epoch (STALE_MEMBER_EPOCH).
func (cg *cgroup) validateOffsetFetch(memberID *string, epoch int32) int16 {
	if memberID == nil && epoch < 0 {
		return 0
	}
	id := ""
	if memberID != nil {
		id = *memberID
	}
	m := cg.members[id]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if epoch != m.epoch && epoch != m.ackedEpoch {
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// toClassicLocked turns g, an empty consumer-protocol group, into a classic group (keeping
// its offsets), as Kafka does when a classic member joins an empty consumer group.
func (c *Coordinator) toClassicLocked(g *group) {
	cg := g.consumer
	c.writeConsumerLocked(g, cg, consumerTombstonesLocked(g), func(error) {})
	g.consumer = nil
	g.protocolType = ""
	g.subscribed = nil
	if g.state != stateEmpty {
		c.transitionLocked(g, stateEmpty)
	}
}
