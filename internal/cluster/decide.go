package cluster

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Errors of the controller's pure decisions, each named for the Kafka error code the broker
// answers with.
var (
	// ErrInvalidReplicationFactor: more replicas asked for than there are live brokers, or
	// fewer than one (INVALID_REPLICATION_FACTOR).
	ErrInvalidReplicationFactor = errors.New("cluster: invalid replication factor")
	// ErrInvalidReplicaAssignment: an explicit assignment names an unknown broker, repeats
	// one, or has uneven replica counts (INVALID_REPLICA_ASSIGNMENT).
	ErrInvalidReplicaAssignment = errors.New("cluster: invalid replica assignment")
	// ErrFencedLeaderEpoch: an ISR change from a broker that is not the current leader, or
	// in an old leader epoch (FENCED_LEADER_EPOCH / NOT_LEADER_OR_FOLLOWER).
	ErrFencedLeaderEpoch = errors.New("cluster: not the leader in the current leader epoch")
	// ErrInvalidUpdateVersion: an ISR change computed from an old partition epoch
	// (INVALID_UPDATE_VERSION); the leader rereads the partition and tries again.
	ErrInvalidUpdateVersion = errors.New("cluster: partition epoch changed")
	// ErrIneligibleReplica: an ISR change adds a replica that is not live, is shutting down,
	// restarted unclean, or whose broker epoch is not its current one (INELIGIBLE_REPLICA,
	// KIP-903).
	ErrIneligibleReplica = errors.New("cluster: replica not eligible for the ISR")
	// ErrPreferredLeaderNotAvailable: ElectLeaders(preferred) when the preferred replica is
	// not live or not in the ISR (PREFERRED_LEADER_NOT_AVAILABLE).
	ErrPreferredLeaderNotAvailable = errors.New("cluster: preferred leader not available")
	// ErrElectionNotNeeded: ElectLeaders when the partition already has the leader asked for
	// (ELECTION_NOT_NEEDED).
	ErrElectionNotNeeded = errors.New("cluster: election not needed")
	// ErrEligibleLeadersNotAvailable: unclean ElectLeaders with no live replica at all
	// (ELIGIBLE_LEADERS_NOT_AVAILABLE).
	ErrEligibleLeadersNotAvailable = errors.New("cluster: no eligible leader available")
)

// Topic configs the controller reads.
const (
	ConfigMinInsyncReplicas = "min.insync.replicas"
	ConfigUncleanElection   = "unclean.leader.election.enable"
)

// Policy holds the broker-level defaults of the settings the controller's decisions depend
// on; topic configs override them.
type Policy struct {
	// MinInsyncReplicas is the broker's min.insync.replicas. 0 means Samsa's default: 2 when
	// the replication factor is 3 or more, else 1 (Kafka's default is 1).
	MinInsyncReplicas int
	// UncleanLeaderElection is unclean.leader.election.enable.
	UncleanLeaderElection bool
}

// MinISR is min.insync.replicas for a partition of topic t with rf replicas.
func (p Policy) MinISR(t Topic, rf int) int {
	if v, ok := t.Configs[ConfigMinInsyncReplicas]; ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
	}
	if p.MinInsyncReplicas > 0 {
		return p.MinInsyncReplicas
	}
	if rf >= 3 {
		return 2
	}
	return 1
}

// Unclean is unclean.leader.election.enable for topic t.
func (p Policy) Unclean(t Topic) bool {
	if v, ok := t.Configs[ConfigUncleanElection]; ok {
		return v == "true"
	}
	return p.UncleanLeaderElection
}

// DefaultReplicationFactor is Samsa's default.replication.factor when none is configured:
// min(3, live brokers).
func DefaultReplicationFactor(liveBrokers int) int {
	return max(1, min(3, liveBrokers))
}

// AssignReplicas places partitions replicas each over the brokers (sorted ids) as Kafka's
// non-rack-aware assignment does: partition p's first replica (its preferred leader) is
// brokers[(start+p) mod n], so leaders spread evenly; followers follow at a shift that grows
// each time the partitions wrap around the brokers, so follower sets spread too. start and
// shift vary the layout between topics (Kafka draws them at random; callers pass a random
// or hashed value).
func AssignReplicas(brokers []int32, partitions int32, rf, start, shift int) ([][]int32, error) {
	n := len(brokers)
	if rf < 1 || rf > n {
		return nil, fmt.Errorf("%w: %d replicas over %d live brokers", ErrInvalidReplicationFactor, rf, n)
	}
	if partitions < 1 {
		return nil, fmt.Errorf("%w: %d partitions", ErrInvalidReplicaAssignment, partitions)
	}
	start = ((start % n) + n) % n
	if n > 1 {
		shift = ((shift % (n - 1)) + (n - 1)) % (n - 1)
	}
	out := make([][]int32, partitions)
	for p := 0; p < int(partitions); p++ {
		if p > 0 && (p+start)%n == 0 {
			shift++
		}
		first := (start + p) % n
		rs := []int32{brokers[first]}
		for j := 0; j < rf-1; j++ {
			step := 1 + (shift+j)%(n-1)
			rs = append(rs, brokers[(first+step)%n])
		}
		out[p] = rs
	}
	return out, nil
}

// ValidateAssignment checks an explicit assignment (CreateTopics/CreatePartitions with
// assignments): every partition lists the same number of distinct, registered brokers.
func ValidateAssignment(s *Snapshot, assignment [][]int32) error {
	if len(assignment) == 0 {
		return fmt.Errorf("%w: no partitions", ErrInvalidReplicaAssignment)
	}
	rf := len(assignment[0])
	for p, rs := range assignment {
		if len(rs) == 0 || len(rs) != rf {
			return fmt.Errorf("%w: partition %d has %d replicas, partition 0 has %d", ErrInvalidReplicaAssignment, p, len(rs), rf)
		}
		seen := map[int32]bool{}
		for _, b := range rs {
			if seen[b] {
				return fmt.Errorf("%w: partition %d repeats broker %d", ErrInvalidReplicaAssignment, p, b)
			}
			seen[b] = true
			if _, ok := s.Brokers[b]; !ok {
				return fmt.Errorf("%w: partition %d names unknown broker %d", ErrInvalidReplicaAssignment, p, b)
			}
		}
	}
	return nil
}

// NewPartitionStates returns the initial state of a new topic's (or new partitions')
// partitions from an assignment, numbered from first: every replica in the ISR, the first
// live replica as leader (the first live one that is not drained, if any), epochs 0.
func NewPartitionStates(s *Snapshot, t Topic, first int32, assignment [][]int32) []PartitionState {
	out := make([]PartitionState, 0, len(assignment))
	for i, rs := range assignment {
		ps := PartitionState{
			Topic: t.Name, TopicID: t.ID, Partition: first + int32(i),
			Replicas: slices.Clone(rs), ISR: sortedIDs(rs), Leader: NoLeader,
		}
		for _, r := range rs {
			if s.Live(r) {
				ps.Leader, ps.LeaderBrokerEpoch = r, s.Brokers[r].Epoch
				break
			}
		}
		if l := drainedLeader(s, rs, rs, ps.Leader, s.Live); l != ps.Leader { // drain.go
			ps.Leader, ps.LeaderBrokerEpoch = l, s.Brokers[l].Epoch
		}
		out = append(out, ps)
	}
	return out
}

// Reconcile is the controller's reaction to broker liveness: for every partition it
// computes the state the current brokers call for, and returns the partitions that change
// (each with PartitionEpoch+1, and LeaderEpoch+1 when the leader changes), in key order.
// It is pure: the shell writes each returned state with a compare-and-swap on the Rev it
// carries, and rereads on a conflict.
//
// Per partition (KIP-966 with eligible leader replicas):
//   - ISR members that are not registered, or registered unclean, leave the ISR, even if it
//     becomes empty. An unclean registration concerns only partitions that existed before
//     it: a topic created after it (its key's creation revision is newer than the marker)
//     keeps the broker in its ISR, since the broker cannot have lost any of its records. A
//     member shutting down leaves it too, unless it leads and no other live ISR member could
//     take over (it keeps serving until its lease ends).
//   - The ELR: empty while |ISR| ≥ min.insync.replicas; otherwise the old ELR plus the
//     members that just left the ISR (minus unclean brokers, which also leave the ELR).
//   - The leader stays if it is still in the ISR and live (or shutting down with no
//     successor) in the registration it was elected in. A leader that re-registered (it
//     restarted) is elected again like any candidate, in a new leader epoch. Otherwise the first live ISR member in assignment order leads; else the
//     first live ELR member, which moves into the ISR; else, only with
//     unclean.leader.election.enable, the first live replica becomes the sole ISR member;
//     else there is no leader (LEADER_NOT_AVAILABLE) until a candidate comes back.
//   - A partition that needs none of this and whose reassignment has its whole target in the
//     ISR completes the move (completeReassignment, reassign.go).
func Reconcile(s *Snapshot, pol Policy) []PartitionState {
	keys := slices.SortedFunc(maps.Keys(s.Partitions), comparePartitionKeys)
	var out []PartitionState
	for _, k := range keys {
		cur := s.Partitions[k]
		t := s.Topics[k.Topic]
		next, changed := reconcilePartition(s, cur, pol.MinISR(t, cur.ReplicationFactor()), pol.Unclean(t))
		if !changed {
			next, changed = completeReassignment(s, cur, pol.MinISR(t, cur.ReplicationFactor())) // reassign.go
		}
		if changed {
			out = append(out, next)
		}
	}
	return out
}

func reconcilePartition(s *Snapshot, cur PartitionState, minISR int, unclean bool) (PartitionState, bool) {
	registered := func(b int32) bool { _, ok := s.Brokers[b]; return ok }
	isUnclean := func(b int32) bool { return s.uncleanFor(b, cur) }
	shutting := func(b int32) bool { return registered(b) && s.Brokers[b].ShuttingDown }
	live := func(b int32) bool { return s.Live(b) && !isUnclean(b) }

	// A shutting-down leader keeps leading only when no other live ISR member exists.
	successor := false
	for _, r := range cur.ISR {
		if r != cur.Leader && live(r) {
			successor = true
		}
	}
	var isr []int32
	for _, r := range cur.ISR {
		switch {
		case !registered(r) || isUnclean(r):
		case shutting(r) && (r != cur.Leader || successor):
		default:
			isr = append(isr, r)
		}
	}
	elr := updateELR(cur, isr, minISR)
	elr = slices.DeleteFunc(elr, isUnclean)

	leader := cur.Leader
	leaderOK := leader != NoLeader && slices.Contains(isr, leader) &&
		(live(leader) || (shutting(leader) && !successor)) &&
		s.Brokers[leader].Epoch == cur.LeaderBrokerEpoch
	if !leaderOK {
		leader = NoLeader
		if c, ok := firstIn(cur.Replicas, isr, live); ok {
			leader = c
		} else if c, ok := firstIn(cur.Replicas, elr, live); ok {
			leader = c
			isr = sortedIDs(append(isr, c))
			elr = slices.DeleteFunc(elr, func(b int32) bool { return b == c })
		} else if unclean {
			if c, ok := firstIn(cur.Replicas, cur.Replicas, live); ok {
				leader, isr, elr = c, []int32{c}, nil
			}
		}
	}
	leader = drainedLeader(s, cur.Replicas, isr, leader, live)
	next := cur.Clone()
	next.ISR = sortedIDs(isr)
	next.ELR = sortedIDs(elr)
	next.Leader = leader
	next.LastKnownELR = lastKnownELR(cur, next, minISR)
	next.LeaderBrokerEpoch = 0
	if leader != NoLeader {
		next.LeaderBrokerEpoch = s.Brokers[leader].Epoch
	}
	if leader != cur.Leader || next.LeaderBrokerEpoch != cur.LeaderBrokerEpoch {
		next.LeaderEpoch++
	}
	if slices.Equal(next.ISR, sortedIDs(cur.ISR)) && slices.Equal(next.ELR, sortedIDs(cur.ELR)) &&
		next.Leader == cur.Leader && next.LeaderBrokerEpoch == cur.LeaderBrokerEpoch &&
		slices.Equal(next.LastKnownELR, sortedIDs(cur.LastKnownELR)) {
		return cur, false
	}
	next.PartitionEpoch++
	return next, true
}

// updateELR is KIP-966's ELR rule for an ISR change from cur.ISR to isr.
func updateELR(cur PartitionState, isr []int32, minISR int) []int32 {
	if len(isr) >= minISR {
		return nil
	}
	var elr []int32
	for _, r := range cur.ELR {
		if slices.Contains(cur.Replicas, r) && !slices.Contains(isr, r) {
			elr = append(elr, r)
		}
	}
	for _, r := range cur.ISR {
		if slices.Contains(cur.Replicas, r) && !slices.Contains(isr, r) {
			elr = append(elr, r)
		}
	}
	return sortedIDs(elr)
}

// lastKnownELR keeps, while the ISR is below min.insync.replicas, the replicas that left the
// ELR without entering the ISR (KIP-966's last known ELR, for manual recovery only).
func lastKnownELR(cur, next PartitionState, minISR int) []int32 {
	if len(next.ISR) >= minISR {
		return nil
	}
	out := slices.Clone(cur.LastKnownELR)
	for _, r := range cur.ELR {
		if !slices.Contains(next.ELR, r) && !slices.Contains(next.ISR, r) && slices.Contains(next.Replicas, r) {
			out = append(out, r)
		}
	}
	return sortedIDs(out)
}

// ISRRequest is a leader's ISR change (Kafka's AlterPartition), computed by
// replication.Leader.ProposeISR.
type ISRRequest struct {
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
	// AddedEpochs holds the broker epoch each added replica fetched with.
	AddedEpochs map[int32]int64
}

// AlterISR validates a leader's ISR change against the current state and brokers and
// returns the new state (PartitionEpoch+1, ELR updated). The shell writes it with a
// compare-and-swap on cur.Rev and on the registrations of the added replicas, so a change
// made against anything stale fails instead of doing damage.
func AlterISR(s *Snapshot, cur PartitionState, req ISRRequest, minISR int) (PartitionState, error) {
	if req.Leader != cur.Leader || req.LeaderEpoch != cur.LeaderEpoch {
		return cur, fmt.Errorf("%w: %s leader %d epoch %d, request from %d epoch %d",
			ErrFencedLeaderEpoch, cur.Key(), cur.Leader, cur.LeaderEpoch, req.Leader, req.LeaderEpoch)
	}
	if req.PartitionEpoch != cur.PartitionEpoch {
		return cur, fmt.Errorf("%w: %s partition epoch %d, request made at %d",
			ErrInvalidUpdateVersion, cur.Key(), cur.PartitionEpoch, req.PartitionEpoch)
	}
	if !slices.Contains(req.ISR, req.Leader) {
		return cur, fmt.Errorf("%w: %s proposed ISR %v lacks the leader", ErrIneligibleReplica, cur.Key(), req.ISR)
	}
	for _, r := range req.ISR {
		if !slices.Contains(cur.Replicas, r) {
			return cur, fmt.Errorf("%w: %s: broker %d is not a replica", ErrIneligibleReplica, cur.Key(), r)
		}
		if slices.Contains(cur.ISR, r) {
			continue
		}
		b, ok := s.Brokers[r]
		epoch, sent := req.AddedEpochs[r]
		switch {
		case !ok || b.ShuttingDown:
			return cur, fmt.Errorf("%w: %s: broker %d is not live", ErrIneligibleReplica, cur.Key(), r)
		case s.uncleanFor(r, cur):
			return cur, fmt.Errorf("%w: %s: broker %d restarted unclean (marker not cleared yet)", ErrIneligibleReplica, cur.Key(), r)
		case !sent || epoch != b.Epoch:
			return cur, fmt.Errorf("%w: %s: broker %d fetched with epoch %d, registered with %d",
				ErrIneligibleReplica, cur.Key(), r, epoch, b.Epoch)
		}
	}
	next := cur.Clone()
	next.ISR = sortedIDs(req.ISR)
	next.ELR = updateELR(cur, next.ISR, minISR)
	next.LastKnownELR = lastKnownELR(cur, next, minISR)
	next.PartitionEpoch++
	return next, nil
}

// ElectPreferred moves leadership to the preferred replica (the first of the assignment)
// when it is live, not drained and in the ISR (ElectLeaders with PREFERRED, and auto leader
// rebalancing).
func ElectPreferred(s *Snapshot, cur PartitionState) (PartitionState, error) {
	if len(cur.Replicas) == 0 {
		return cur, fmt.Errorf("%w: %s has no replicas", ErrPreferredLeaderNotAvailable, cur.Key())
	}
	p := cur.Replicas[0]
	if cur.Leader == p {
		return cur, fmt.Errorf("%w: %s already led by %d", ErrElectionNotNeeded, cur.Key(), p)
	}
	if !s.Live(p) || s.Brokers[p].Unclean || s.Drained(p) || !slices.Contains(cur.ISR, p) {
		return cur, fmt.Errorf("%w: %s preferred replica %d", ErrPreferredLeaderNotAvailable, cur.Key(), p)
	}
	next := cur.Clone()
	next.Leader = p
	next.LeaderBrokerEpoch = s.Brokers[p].Epoch
	next.LeaderEpoch++
	next.PartitionEpoch++
	return next, nil
}

// ElectUnclean is ElectLeaders with UNCLEAN for a partition: when it has a leader nothing
// is needed; otherwise the ordinary candidates (ISR, then ELR) come first and only then any
// live replica, which becomes the sole ISR member (acknowledged records it lacks are lost:
// the operator asked for availability).
func ElectUnclean(s *Snapshot, cur PartitionState, minISR int) (PartitionState, error) {
	if cur.Leader != NoLeader && s.Live(cur.Leader) {
		return cur, fmt.Errorf("%w: %s led by %d", ErrElectionNotNeeded, cur.Key(), cur.Leader)
	}
	next, changed := reconcilePartition(s, cur, minISR, true)
	if !changed || next.Leader == NoLeader {
		return cur, fmt.Errorf("%w: %s replicas %v", ErrEligibleLeadersNotAvailable, cur.Key(), cur.Replicas)
	}
	return next, nil
}

// ClearableUnclean returns the brokers whose unclean-restart marker (rev) the controller
// may delete: no ISR or ELR of a partition the marker concerns (one created before it)
// names them any more, so they can only come back by catching up.
// It returns nothing while Reconcile still has changes to make.
func ClearableUnclean(s *Snapshot, pol Policy) map[int32]int64 {
	if len(Reconcile(s, pol)) > 0 {
		return nil
	}
	out := map[int32]int64{}
	for id, rev := range s.uncleanRevs {
		named := false
		for _, p := range s.Partitions {
			if (slices.Contains(p.ISR, id) || slices.Contains(p.ELR, id)) && markerConcerns(rev, p) {
				named = true
				break
			}
		}
		if rev != 0 && !named {
			out[id] = rev
		}
	}
	return out
}

// LeadsWithSuccessor returns the partitions broker b leads where another live ISR member
// could take over: a broker in controlled shutdown waits until this is empty (or its
// timeout) before it exits.
func LeadsWithSuccessor(s *Snapshot, b int32) []PartitionKey {
	var out []PartitionKey
	for k, p := range s.Partitions {
		if p.Leader != b {
			continue
		}
		for _, r := range p.ISR {
			if r != b && s.Live(r) && !s.Brokers[r].Unclean {
				out = append(out, k)
				break
			}
		}
	}
	slices.SortFunc(out, comparePartitionKeys)
	return out
}

func firstIn(order, set []int32, ok func(int32) bool) (int32, bool) {
	for _, r := range order {
		if slices.Contains(set, r) && ok(r) {
			return r, true
		}
	}
	return NoLeader, false
}

func sortedIDs(ids []int32) []int32 {
	if len(ids) == 0 {
		return nil
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

func comparePartitionKeys(a, b PartitionKey) int {
	if a.Topic != b.Topic {
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	}
	return int(a.Partition) - int(b.Partition)
}
