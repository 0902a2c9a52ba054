package share

import (
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicInfo is what the assignor needs of a topic.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// member is one member of a share group.
type member struct {
	id, clientID, host string
	rack               *string
	epoch, prevEpoch   int32
	topics             []string // sorted subscription
	assigned           map[[16]byte][]int32
	deadline           time.Time
}

// group is a share group's membership.
type group struct {
	id         string
	epoch      int32 // group epoch: moves on every change of membership or assignment
	members    map[string]*member
	target     map[string]map[[16]byte][]int32 // the assignor's last result per member
	lastLayout string                          // the topic layout the target was computed for

	// written is the membership records durable in __consumer_offsets (Options.GroupStore),
	// made at group epoch writtenEpoch; guarded by Coordinator.mu, changed under metaMu.
	written      groupImage
	writtenEpoch int32
}

func newGroup(id string) *group {
	return &group{id: id, members: map[string]*member{}, written: groupImage{}}
}

// assign is the simple assignor: per topic, the members subscribed to it share its
// partitions round-robin (each partition to one member while partitions >= members, else
// each member to one partition).
func assign(members map[string]*member, topics map[string]TopicInfo) map[string]map[[16]byte][]int32 {
	out := make(map[string]map[[16]byte][]int32, len(members))
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
		out[id] = map[[16]byte][]int32{}
	}
	sort.Strings(ids)
	subs := map[string][]string{}
	for _, id := range ids {
		for _, t := range members[id].topics {
			subs[t] = append(subs[t], id)
		}
	}
	for name, ms := range subs {
		ti, ok := topics[name]
		if !ok || ti.Partitions <= 0 {
			continue
		}
		n, m := int(ti.Partitions), len(ms)
		if n >= m {
			for p := 0; p < n; p++ {
				id := ms[p%m]
				out[id][ti.ID] = append(out[id][ti.ID], int32(p))
			}
		} else {
			for j, id := range ms {
				out[id][ti.ID] = append(out[id][ti.ID], int32(j%n))
			}
		}
	}
	return out
}

// layout is a string naming the partition counts of the topics the group subscribes to, so
// that a change of them moves the group epoch.
func (g *group) layout(topics map[string]TopicInfo) string {
	seen := map[string]bool{}
	var names []string
	for _, m := range g.members {
		for _, t := range m.topics {
			if !seen[t] {
				seen[t] = true
				names = append(names, t)
			}
		}
	}
	sort.Strings(names)
	b := make([]byte, 0, 64)
	for _, n := range names {
		ti := topics[n]
		b = append(b, n...)
		b = append(b, ':')
		b = append(b, ti.ID[:]...)
		b = append(b, byte(ti.Partitions>>24), byte(ti.Partitions>>16), byte(ti.Partitions>>8), byte(ti.Partitions), ';')
	}
	return string(b)
}

// rebalance recomputes the target assignment if membership, subscriptions or the topics'
// layout changed (force for membership/subscription changes), bumping the group epoch.
func (g *group) rebalance(topics map[string]TopicInfo, force bool) {
	l := g.layout(topics)
	if !force && l == g.lastLayout && g.target != nil {
		return
	}
	next := assign(g.members, topics)
	g.lastLayout = l
	if !force && sameTarget(g.target, next) {
		g.target = next
		return
	}
	g.target = next
	g.epoch++
}

func sameTarget(a, b map[string]map[[16]byte][]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for id, ta := range a {
		tb, ok := b[id]
		if !ok || len(ta) != len(tb) {
			return false
		}
		for t, pa := range ta {
			pb := tb[t]
			if len(pa) != len(pb) {
				return false
			}
			for i := range pa {
				if pa[i] != pb[i] {
					return false
				}
			}
		}
	}
	return true
}

// assignment renders m's assignment for a heartbeat response.
func assignmentOf(m *member) *kmsg.ShareGroupHeartbeatResponseAssignment {
	a := kmsg.NewShareGroupHeartbeatResponseAssignment()
	ids := make([][16]byte, 0, len(m.assigned))
	for id := range m.assigned {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	for _, id := range ids {
		tp := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
		tp.TopicID = id
		tp.Partitions = append([]int32(nil), m.assigned[id]...)
		a.TopicPartitions = append(a.TopicPartitions, tp)
	}
	return &a
}

// heartbeatLocked serves one ShareGroupHeartbeat for group g. It returns the response and
// whether the member left (or was removed), so that the caller releases its records.
func (c *Coordinator) heartbeatLocked(g *group, req *kmsg.ShareGroupHeartbeatRequest, clientID, host string, now time.Time) (*kmsg.ShareGroupHeartbeatResponse, bool) {
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	cfg := c.opts.GroupSettings(g.id)
	resp.HeartbeatIntervalMillis = int32(cfg.HeartbeatInterval / time.Millisecond)
	fail := func(e *kerr.Error, msg string) (*kmsg.ShareGroupHeartbeatResponse, bool) {
		resp.ErrorCode, resp.ErrorMessage = e.Code, &msg
		return resp, false
	}
	if req.MemberID == "" || len(req.MemberID) > 36 {
		return fail(kerr.InvalidRequest, "MemberId must be a non-empty id of at most 36 characters.")
	}
	topics := c.opts.Topics()
	m := g.members[req.MemberID]
	switch {
	case req.MemberEpoch == -1:
		if m == nil {
			return fail(kerr.UnknownMemberID, "Member "+req.MemberID+" is not in group "+g.id+".")
		}
		delete(g.members, m.id)
		g.rebalance(topics, true)
		resp.MemberID, resp.MemberEpoch = &req.MemberID, -1
		return resp, true
	case req.MemberEpoch == 0:
		if req.SubscribedTopicNames == nil && m == nil {
			return fail(kerr.InvalidRequest, "SubscribedTopicNames must be set when joining.")
		}
		if m == nil {
			if cfg.MaxSize > 0 && len(g.members) >= cfg.MaxSize {
				return fail(kerr.GroupMaxSizeReached, "The share group has reached its maximum size.")
			}
			m = &member{id: req.MemberID}
			g.members[m.id] = m
			m.topics = sortedCopy(req.SubscribedTopicNames)
			g.rebalance(topics, true)
		} else if req.SubscribedTopicNames != nil {
			if s := sortedCopy(req.SubscribedTopicNames); !equalStrings(s, m.topics) {
				m.topics = s
				g.rebalance(topics, true)
			}
		}
		m.epoch, m.prevEpoch = 0, 0
	case m == nil:
		return fail(kerr.UnknownMemberID, "Member "+req.MemberID+" is not in group "+g.id+".")
	case req.MemberEpoch != m.epoch && req.MemberEpoch != m.prevEpoch:
		return fail(kerr.FencedMemberEpoch, "The member epoch is stale; rejoin with epoch 0.")
	default:
		if req.SubscribedTopicNames != nil {
			if s := sortedCopy(req.SubscribedTopicNames); !equalStrings(s, m.topics) {
				m.topics = s
				g.rebalance(topics, true)
			}
		}
	}
	g.rebalance(topics, false)
	m.clientID, m.host = clientID, host
	if req.RackID != nil {
		r := *req.RackID
		m.rack = &r
	}
	m.deadline = now.Add(cfg.SessionTimeout)
	send := req.SubscribedTopicNames != nil || req.MemberEpoch == 0
	if m.epoch != g.epoch {
		m.prevEpoch, m.epoch = m.epoch, g.epoch
		m.assigned = g.target[m.id]
		send = true
	}
	if m.assigned == nil {
		m.assigned = map[[16]byte][]int32{}
	}
	resp.MemberID, resp.MemberEpoch = &req.MemberID, m.epoch
	if send {
		resp.Assignment = assignmentOf(m)
	}
	return resp, false
}

// describeLocked renders g for ShareGroupDescribe.
func (c *Coordinator) describeLocked(g *group, withOps bool) kmsg.ShareGroupDescribeResponseGroup {
	d := kmsg.NewShareGroupDescribeResponseGroup()
	d.GroupID = g.id
	d.GroupState = "Empty"
	if len(g.members) > 0 {
		d.GroupState = "Stable"
	}
	d.GroupEpoch = g.epoch
	d.AssignmentEpoch = g.epoch
	d.Assignor = "simple"
	d.AuthorizedOperations = -2147483648
	names := map[[16]byte]string{}
	for _, t := range c.opts.Topics() {
		names[t.ID] = t.Name
	}
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := g.members[id]
		dm := kmsg.NewShareGroupDescribeResponseGroupMember()
		dm.MemberID, dm.RackID, dm.MemberEpoch = m.id, m.rack, m.epoch
		dm.ClientID, dm.ClientHost = m.clientID, m.host
		dm.SubscribedTopicNames = append([]string{}, m.topics...)
		for tid, ps := range m.assigned {
			tp := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
			tp.TopicID, tp.Topic, tp.Partitions = tid, names[tid], append([]int32(nil), ps...)
			dm.Assignment.TopicPartitions = append(dm.Assignment.TopicPartitions, tp)
		}
		d.Members = append(d.Members, dm)
	}
	return d
}

func sortedCopy(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	// drop duplicates
	w := 0
	for i, v := range out {
		if i == 0 || v != out[w-1] {
			out[w] = v
			w++
		}
	}
	return out[:w]
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
