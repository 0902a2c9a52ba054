package kafkarun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// taskBalancer is the group balancer of a Kafka runner application ("samsa-tasks").
//
// A task is a partition number: task t reads partition t of every input topic that has
// one, so co-partitioned topics (a stream and the table it joins) meet in one task. The
// balancer assigns whole tasks, never single partitions:
//
//   - sticky: a task stays with the member that owns it (OwnedPartitions in the join
//     metadata) as long as that member's share allows;
//   - balanced: every member gets floor(T/M) or ceil(T/M) of the T tasks; members owning
//     the most tasks keep the larger shares;
//   - cooperative (KIP-429): a task that moves between two live members is first left out
//     of both assignments; its owner revokes it (committing its state), rejoins, and the
//     next balance gives it to its new owner. Tasks that do not move are never revoked.
//
// Every member's assignment also carries, in its user data, the endpoint
// (Config.ApplicationServer) of the owner of each task, so that any instance can tell
// where a key's state lives (App.Owner).
type taskBalancer struct {
	endpoint string

	mu     sync.Mutex
	owners map[int32]string // task -> endpoint, from the latest assignment
}

const balancerName = "samsa-tasks"

var _ kgo.GroupBalancer = (*taskBalancer)(nil)

func (*taskBalancer) ProtocolName() string { return balancerName }
func (*taskBalancer) IsCooperative() bool  { return true }

func (b *taskBalancer) JoinGroupMetadata(topics []string, current map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 2
	meta.Topics = topics
	meta.Generation = generation
	var ud []byte
	ud = append(ud, 1)
	ud = binary.AppendUvarint(ud, uint64(len(b.endpoint)))
	ud = append(ud, b.endpoint...)
	meta.UserData = ud
	names := make([]string, 0, len(current))
	for t := range current {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		op := kmsg.NewConsumerMemberMetadataOwnedPartition()
		op.Topic = t
		op.Partitions = append([]int32(nil), current[t]...)
		sort.Slice(op.Partitions, func(i, j int) bool { return op.Partitions[i] < op.Partitions[j] })
		meta.OwnedPartitions = append(meta.OwnedPartitions, op)
	}
	return meta.AppendTo(nil)
}

func (b *taskBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(assignment); err != nil {
		return nil, fmt.Errorf("kafkarun: bad assignment: %w", err)
	}
	owners, err := decodeOwners(a.UserData)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.owners = owners
	b.mu.Unlock()
	m := make(map[string][]int32, len(a.Topics))
	for _, t := range a.Topics {
		m[t.Topic] = t.Partitions
	}
	return m, nil
}

// owner returns the endpoint of the member owning task t ("" if unknown or none).
func (b *taskBalancer) owner(t int32) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.owners[t]
}

// member is what the balancer knows of one group member.
type member struct {
	id       string
	endpoint string
	owned    map[int32]bool
	gen      int32
	tasks    []int32
}

func (b *taskBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	topics := map[string]struct{}{}
	ms := make([]*member, 0, len(members))
	seen := map[string]bool{}
	for _, jm := range members {
		if seen[jm.MemberID] {
			continue
		}
		seen[jm.MemberID] = true
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(jm.ProtocolMetadata); err != nil {
			return nil, nil, fmt.Errorf("kafkarun: member %s: bad join metadata: %w", jm.MemberID, err)
		}
		m := &member{id: jm.MemberID, owned: map[int32]bool{}, gen: meta.Generation}
		if len(meta.UserData) > 0 {
			ep, err := decodeEndpoint(meta.UserData)
			if err != nil {
				return nil, nil, fmt.Errorf("kafkarun: member %s: %w", jm.MemberID, err)
			}
			m.endpoint = ep
		}
		for _, t := range meta.Topics {
			topics[t] = struct{}{}
		}
		for _, op := range meta.OwnedPartitions {
			for _, p := range op.Partitions {
				m.owned[p] = true
			}
		}
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	return &taskPlan{members: ms}, topics, nil
}

type taskPlan struct {
	members []*member
}

func (p *taskPlan) Balance(topics map[string]int32) kgo.IntoSyncAssignment {
	var tasks int32
	for _, n := range topics {
		tasks = max(tasks, n)
	}
	assign := planTasks(p.members, tasks)
	// Every member learns every task's owner endpoint.
	owners := map[int32]string{}
	for _, m := range p.members {
		for _, t := range assign[m.id] {
			owners[t] = m.endpoint
		}
	}
	ud := encodeOwners(owners)
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	sort.Strings(names)
	out := make(syncAssignments, 0, len(p.members))
	for _, m := range p.members {
		var a kmsg.ConsumerMemberAssignment
		a.UserData = ud
		for _, topic := range names {
			n := topics[topic]
			at := kmsg.NewConsumerMemberAssignmentTopic()
			at.Topic = topic
			for _, t := range assign[m.id] {
				if t < n {
					at.Partitions = append(at.Partitions, t)
				}
			}
			if len(at.Partitions) > 0 {
				a.Topics = append(a.Topics, at)
			}
		}
		sa := kmsg.NewSyncGroupRequestGroupAssignment()
		sa.MemberID = m.id
		sa.MemberAssignment = a.AppendTo(nil)
		out = append(out, sa)
	}
	return out
}

type syncAssignments []kmsg.SyncGroupRequestGroupAssignment

func (s syncAssignments) IntoSyncAssignment() []kmsg.SyncGroupRequestGroupAssignment { return s }

// planTasks assigns tasks [0, n) to members (sorted by id) and returns member id -> sorted
// tasks. See taskBalancer for the rules.
func planTasks(members []*member, n int32) map[string][]int32 {
	out := map[string][]int32{}
	if len(members) == 0 || n <= 0 {
		return out
	}
	// Current owner of each task: the claimant with the newest generation.
	owner := make([]*member, n)
	for _, m := range members {
		for t := range m.owned {
			if t < 0 || t >= n {
				continue
			}
			if o := owner[t]; o == nil || m.gen > o.gen {
				owner[t] = m
			}
		}
	}
	counts := map[*member]int{}
	for _, o := range owner {
		if o != nil {
			counts[o]++
		}
	}
	// Quotas: the members owning the most tasks get the ceil shares.
	byOwned := append([]*member(nil), members...)
	sort.SliceStable(byOwned, func(i, j int) bool { return counts[byOwned[i]] > counts[byOwned[j]] })
	base, extra := int(n)/len(members), int(n)%len(members)
	quota := map[*member]int{}
	for i, m := range byOwned {
		quota[m] = base
		if i < extra {
			quota[m]++
		}
	}
	target := make([]*member, n)
	have := map[*member]int{}
	for t := int32(0); t < n; t++ {
		if o := owner[t]; o != nil && have[o] < quota[o] {
			target[t] = o
			have[o]++
		}
	}
	for t := int32(0); t < n; t++ {
		if target[t] != nil {
			continue
		}
		var best *member
		for _, m := range members {
			if have[m] >= quota[m] {
				continue
			}
			if best == nil || have[m] < have[best] {
				best = m
			}
		}
		target[t] = best
		have[best]++
	}
	for t := int32(0); t < n; t++ {
		m := target[t]
		if o := owner[t]; o != nil && o != m {
			// Cooperative: the owner gives the task up first; it is assigned next round.
			continue
		}
		out[m.id] = append(out[m.id], t)
	}
	return out
}

var errBadUserData = errors.New("kafkarun: malformed group user data")

func decodeEndpoint(b []byte) (string, error) {
	if len(b) < 1 || b[0] != 1 {
		return "", errBadUserData
	}
	l, k := binary.Uvarint(b[1:])
	if k <= 0 || l != uint64(len(b)-1-k) {
		return "", errBadUserData
	}
	return string(b[1+k:]), nil
}

// encodeOwners encodes task -> endpoint:
//
//	version(1)=1 count(uvarint) { task(uvarint) endpoint(uvarint len, bytes) }*
func encodeOwners(owners map[int32]string) []byte {
	ts := make([]int32, 0, len(owners))
	for t := range owners {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	b := []byte{1}
	b = binary.AppendUvarint(b, uint64(len(ts)))
	for _, t := range ts {
		b = binary.AppendUvarint(b, uint64(t))
		b = binary.AppendUvarint(b, uint64(len(owners[t])))
		b = append(b, owners[t]...)
	}
	return b
}

// decodeOwners parses encodeOwners' output; empty input means no owners known.
func decodeOwners(b []byte) (map[int32]string, error) {
	out := map[int32]string{}
	if len(b) == 0 {
		return out, nil
	}
	if b[0] != 1 {
		return nil, errBadUserData
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errBadUserData
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		t, k := binary.Uvarint(b)
		if k <= 0 || t > 1<<31-1 {
			return nil, errBadUserData
		}
		b = b[k:]
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, errBadUserData
		}
		out[int32(t)] = string(b[k : k+int(l)])
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, errBadUserData
	}
	return out, nil
}
