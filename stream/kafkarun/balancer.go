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
// Standby replicas (Config.Standbys): each member's join metadata carries, per task it has
// a local copy of (active or standby), how far that copy has applied the task's logs
// (progress). A task without a live owner (its instance died) goes to the member with the
// most progress on it among those with room in their share, so it restores only the tail;
// then each task gets up to Standbys standbys among the other members, those with the most
// progress first, spread evenly.
//
// Every member's assignment also carries, in its user data, the endpoint
// (Config.ApplicationServer) of the owner of each task and of its standbys, so that any
// instance can tell where a key's state lives (App.Owner, App.StandbyEndpoints), and the
// member's own standby tasks.
type taskBalancer struct {
	endpoint string
	standbys int
	// progress returns this member's progress per task (nil: none).
	progress func() map[int32]int64
	// onStandbys receives this member's standby tasks after every assignment.
	onStandbys func([]int32)

	mu       sync.Mutex
	owners   map[int32]string   // task -> endpoint, from the latest assignment
	standbyE map[int32][]string // task -> standby endpoints
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
	var prog map[int32]int64
	if b.progress != nil {
		prog = b.progress()
	}
	meta.UserData = encodeMemberData(b.endpoint, prog)
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
	owners, standbyE, mine, err := decodeAssignmentData(a.UserData)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.owners, b.standbyE = owners, standbyE
	b.mu.Unlock()
	if b.onStandbys != nil {
		b.onStandbys(mine)
	}
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

// standbyEndpoints returns the endpoints of task t's standbys.
func (b *taskBalancer) standbyEndpoints(t int32) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.standbyE[t]...)
}

// member is what the balancer knows of one group member.
type member struct {
	id       string
	endpoint string
	owned    map[int32]bool
	gen      int32
	tasks    []int32
	progress map[int32]int64 // task -> progress of the member's local copy
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
			ep, prog, err := decodeMemberData(meta.UserData)
			if err != nil {
				return nil, nil, fmt.Errorf("kafkarun: member %s: %w", jm.MemberID, err)
			}
			m.endpoint, m.progress = ep, prog
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
	return &taskPlan{members: ms, standbys: b.standbys}, topics, nil
}

type taskPlan struct {
	members  []*member
	standbys int
}

func (p *taskPlan) Balance(topics map[string]int32) kgo.IntoSyncAssignment {
	var tasks int32
	for _, n := range topics {
		tasks = max(tasks, n)
	}
	assign := planTasks(p.members, tasks)
	standby := planStandbys(p.members, assign, tasks, p.standbys)
	// Every member learns every task's owner and standby endpoints.
	owners := map[int32]string{}
	standbyE := map[int32][]string{}
	for _, m := range p.members {
		for _, t := range assign[m.id] {
			owners[t] = m.endpoint
		}
		for _, t := range standby[m.id] {
			if m.endpoint != "" {
				standbyE[t] = append(standbyE[t], m.endpoint)
			}
		}
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	sort.Strings(names)
	out := make(syncAssignments, 0, len(p.members))
	for _, m := range p.members {
		var a kmsg.ConsumerMemberAssignment
		a.UserData = encodeAssignmentData(owners, standbyE, standby[m.id])
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
		// A task without a live owner goes to the most caught-up copy (a standby), else to
		// the least loaded member.
		var best *member
		for _, m := range members {
			if have[m] >= quota[m] {
				continue
			}
			if best == nil || m.progress[t] > best.progress[t] ||
				m.progress[t] == best.progress[t] && have[m] < have[best] {
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

// planStandbys picks up to k standby members for each task among the members that neither
// own it nor are assigned it: the most caught-up copies first, then the members with the
// fewest standbys. It returns member id -> sorted standby tasks.
func planStandbys(members []*member, assign map[string][]int32, n int32, k int) map[string][]int32 {
	out := map[string][]int32{}
	if k <= 0 || len(members) < 2 {
		return out
	}
	busy := make([]map[*member]bool, n)
	for t := range busy {
		busy[t] = map[*member]bool{}
	}
	for _, m := range members {
		for t := range m.owned {
			if t >= 0 && t < n {
				busy[t][m] = true
			}
		}
		for _, t := range assign[m.id] {
			busy[t][m] = true
		}
	}
	count := map[*member]int{}
	for t := int32(0); t < n; t++ {
		for range k {
			var best *member
			for _, m := range members {
				if busy[t][m] {
					continue
				}
				if best == nil || m.progress[t] > best.progress[t] ||
					m.progress[t] == best.progress[t] && count[m] < count[best] {
					best = m
				}
			}
			if best == nil {
				break
			}
			busy[t][best] = true
			count[best]++
			out[best.id] = append(out[best.id], t)
		}
	}
	return out
}

var errBadUserData = errors.New("kafkarun: malformed group user data")

// encodeMemberData encodes a member's join user data:
//
//	version(1)=2 endpoint(uvarint len, bytes) count(uvarint) { task(uvarint) progress(uvarint) }*
//
// Version 1 is the endpoint alone.
func encodeMemberData(endpoint string, progress map[int32]int64) []byte {
	b := []byte{2}
	b = binary.AppendUvarint(b, uint64(len(endpoint)))
	b = append(b, endpoint...)
	ts := make([]int32, 0, len(progress))
	for t := range progress {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	b = binary.AppendUvarint(b, uint64(len(ts)))
	for _, t := range ts {
		b = binary.AppendUvarint(b, uint64(t))
		b = binary.AppendUvarint(b, uint64(max(progress[t], 0)))
	}
	return b
}

// decodeMemberData parses a member's join user data (version 1 or 2).
func decodeMemberData(b []byte) (string, map[int32]int64, error) {
	if len(b) < 1 || b[0] < 1 || b[0] > 2 {
		return "", nil, errBadUserData
	}
	v := b[0]
	l, k := binary.Uvarint(b[1:])
	if k <= 0 || l > uint64(len(b)-1-k) {
		return "", nil, errBadUserData
	}
	ep := string(b[1+k : 1+k+int(l)])
	b = b[1+k+int(l):]
	prog := map[int32]int64{}
	if v == 1 {
		if len(b) != 0 {
			return "", nil, errBadUserData
		}
		return ep, prog, nil
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return "", nil, errBadUserData
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		t, k := binary.Uvarint(b)
		if k <= 0 || t > 1<<31-1 {
			return "", nil, errBadUserData
		}
		b = b[k:]
		p, k := binary.Uvarint(b)
		if k <= 0 || p > 1<<62 {
			return "", nil, errBadUserData
		}
		b = b[k:]
		prog[int32(t)] = int64(p)
	}
	if len(b) != 0 {
		return "", nil, errBadUserData
	}
	return ep, prog, nil
}

// encodeAssignmentData encodes a member's assignment user data: the owners section of
// encodeOwners with version 2, then the standby endpoints and the member's standby tasks:
//
//	count(uvarint) { task(uvarint) n(uvarint) { endpoint(uvarint len, bytes) }* }*
//	count(uvarint) { task(uvarint) }*
func encodeAssignmentData(owners map[int32]string, standbyE map[int32][]string, mine []int32) []byte {
	b := encodeOwners(owners)
	b[0] = 2
	ts := make([]int32, 0, len(standbyE))
	for t := range standbyE {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	b = binary.AppendUvarint(b, uint64(len(ts)))
	for _, t := range ts {
		b = binary.AppendUvarint(b, uint64(t))
		b = binary.AppendUvarint(b, uint64(len(standbyE[t])))
		for _, e := range standbyE[t] {
			b = binary.AppendUvarint(b, uint64(len(e)))
			b = append(b, e...)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(mine)))
	for _, t := range mine {
		b = binary.AppendUvarint(b, uint64(t))
	}
	return b
}

// decodeAssignmentData parses encodeAssignmentData's output (or encodeOwners', version 1).
func decodeAssignmentData(b []byte) (owners map[int32]string, standbyE map[int32][]string, mine []int32, err error) {
	standbyE = map[int32][]string{}
	if len(b) == 0 {
		return map[int32]string{}, standbyE, nil, nil
	}
	owners, rest, err := decodeOwnersPrefix(b)
	if err != nil {
		return nil, nil, nil, err
	}
	if b[0] == 1 {
		if len(rest) != 0 {
			return nil, nil, nil, errBadUserData
		}
		return owners, standbyE, nil, nil
	}
	b = rest
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, nil, nil, errBadUserData
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		t, k := binary.Uvarint(b)
		if k <= 0 || t > 1<<31-1 {
			return nil, nil, nil, errBadUserData
		}
		b = b[k:]
		c, k := binary.Uvarint(b)
		if k <= 0 || c > uint64(len(b)) {
			return nil, nil, nil, errBadUserData
		}
		b = b[k:]
		for j := uint64(0); j < c; j++ {
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return nil, nil, nil, errBadUserData
			}
			standbyE[int32(t)] = append(standbyE[int32(t)], string(b[k:k+int(l)]))
			b = b[k+int(l):]
		}
	}
	n, k = binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, nil, nil, errBadUserData
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		t, k := binary.Uvarint(b)
		if k <= 0 || t > 1<<31-1 {
			return nil, nil, nil, errBadUserData
		}
		b = b[k:]
		mine = append(mine, int32(t))
	}
	if len(b) != 0 {
		return nil, nil, nil, errBadUserData
	}
	return owners, standbyE, mine, nil
}

// decodeEndpoint returns the endpoint of a member's join user data.
func decodeEndpoint(b []byte) (string, error) {
	ep, _, err := decodeMemberData(b)
	return ep, err
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

// decodeOwners returns the owners of assignment user data (version 1 or 2); empty input
// means no owners known.
func decodeOwners(b []byte) (map[int32]string, error) {
	owners, _, _, err := decodeAssignmentData(b)
	return owners, err
}

// decodeOwnersPrefix parses the owners section (version 1 or 2) and returns the rest.
func decodeOwnersPrefix(b []byte) (map[int32]string, []byte, error) {
	out := map[int32]string{}
	if len(b) < 1 || b[0] < 1 || b[0] > 2 {
		return nil, nil, errBadUserData
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, nil, errBadUserData
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		t, k := binary.Uvarint(b)
		if k <= 0 || t > 1<<31-1 {
			return nil, nil, errBadUserData
		}
		b = b[k:]
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, nil, errBadUserData
		}
		out[int32(t)] = string(b[k : k+int(l)])
		b = b[k+int(l):]
	}
	return out, b, nil
}
