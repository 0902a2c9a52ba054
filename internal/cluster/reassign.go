package cluster

import (
	"errors"
	"fmt"
	"slices"
)

// Partition reassignment (KIP-455), as pure decisions over a Snapshot like the rest of
// decide.go. A reassignment moves a partition from its original replicas to a target list:
//
//  1. StartReassignment writes Replicas = target ++ (original − target), AddingReplicas =
//     target − original, RemovingReplicas = original − target, as Kafka does. The leader
//     stays; the adding replicas become followers and copy the log from the leader's log
//     start, and the leader adds each to the ISR once it caught up (AlterISR).
//  2. completeReassignment, run by the controller (Reconcile calls it for a partition no
//     other change is due for), finishes the move once every target replica is in the ISR:
//     Replicas = target, the removed replicas leave the ISR and ELR, and a leader that is
//     removed hands over to the first live ISR member of the target. Removed replicas then
//     stop serving and delete their copy.
//  3. CancelReassignment reverts to the original replicas (Replicas − AddingReplicas), the
//     adding replicas leaving the ISR and ELR.
//
// Every one of these changes grows the partition epoch and the leader epoch (even when the
// leader stays, as KRaft does for a changed replica set): the leader starts its new epoch
// with the new replica set, and fetches from removed replicas are fenced. Each is written
// by compare-and-swap on the partition's revision, so a reassignment racing an election
// or an ISR change fails and is decided again on the newer record. A target broker that
// dies mid-move is simply not in the ISR: the move waits for it (and resumes when it
// returns and catches up) or is cancelled; the partition stays led and consistent
// throughout, since the original replicas keep their place until the target is complete.

// Errors of reassignment decisions, named for the Kafka error code the broker answers with.
var (
	// ErrNoReassignmentInProgress: a cancellation for a partition that is not being
	// reassigned (NO_REASSIGNMENT_IN_PROGRESS).
	ErrNoReassignmentInProgress = errors.New("cluster: no reassignment in progress")
)

// Reassigning reports whether a reassignment of p is in progress.
func (p PartitionState) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// TargetReplicas is the replica list p is moving to (Replicas when no move is in progress).
func (p PartitionState) TargetReplicas() []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.RemovingReplicas, r) })
}

// OriginalReplicas is the replica list p had before the move in progress (Replicas when
// none). As in Kafka, the original order is not kept: the originals that stay come in target
// order, the removed ones after them.
func (p PartitionState) OriginalReplicas() []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.AddingReplicas, r) })
}

// ReplicationFactor is the partition's replication factor for min.insync.replicas' default
// (Policy.MinISR): the number of replicas, and during a move the smaller of the original and
// target counts, so that the larger union of a move never tightens acks=all.
func (p PartitionState) ReplicationFactor() int {
	return min(len(p.TargetReplicas()), len(p.OriginalReplicas()))
}

// ValidateTarget checks a reassignment's target list: at least one replica, no broker twice,
// every broker registered (INVALID_REPLICA_ASSIGNMENT otherwise). The replication factor may
// change, as in Kafka.
func ValidateTarget(s *Snapshot, key PartitionKey, target []int32) error {
	if len(target) == 0 {
		return fmt.Errorf("%w: %s: empty replica list", ErrInvalidReplicaAssignment, key)
	}
	seen := map[int32]bool{}
	for _, b := range target {
		if seen[b] {
			return fmt.Errorf("%w: %s: broker %d listed twice in %v", ErrInvalidReplicaAssignment, key, b, target)
		}
		seen[b] = true
		if _, ok := s.Brokers[b]; !ok {
			return fmt.Errorf("%w: %s: broker %d is not registered (live brokers %v)", ErrInvalidReplicaAssignment, key, b, s.LiveBrokers())
		}
	}
	return nil
}

// StartReassignment starts (or replaces) the reassignment of cur to target and returns the
// new state. A new target during a move starts over from the original replicas, as in
// Kafka. When the target adds no replica and is already in the ISR (a reordering, or a
// shrink), the move completes at once.
func StartReassignment(s *Snapshot, cur PartitionState, target []int32, minISR int) (PartitionState, error) {
	if err := ValidateTarget(s, cur.Key(), target); err != nil {
		return cur, err
	}
	orig := cur.OriginalReplicas()
	if !cur.Reassigning() && slices.Equal(cur.Replicas, target) {
		return cur, nil // nothing to move: Kafka answers success
	}
	replicas := slices.Clone(target)
	var adding, removing []int32
	for _, r := range target {
		if !slices.Contains(orig, r) {
			adding = append(adding, r)
		}
	}
	for _, r := range orig {
		if !slices.Contains(target, r) {
			replicas = append(replicas, r)
			removing = append(removing, r)
		}
	}
	next := withReplicas(s, cur, replicas, adding, removing, minISR)
	if done, ok := completeReassignment(s, next, minISR); ok {
		done.PartitionEpoch, done.LeaderEpoch = next.PartitionEpoch, next.LeaderEpoch // one change of cur
		return done, nil
	}
	return next, nil
}

// CancelReassignment reverts cur to its original replicas (ErrNoReassignmentInProgress when
// no move is in progress).
func CancelReassignment(s *Snapshot, cur PartitionState, minISR int) (PartitionState, error) {
	if !cur.Reassigning() {
		return cur, fmt.Errorf("%w: %s", ErrNoReassignmentInProgress, cur.Key())
	}
	return withReplicas(s, cur, cur.OriginalReplicas(), nil, nil, minISR), nil
}

// completeReassignment returns the completed state of cur when its reassignment can finish:
// every target replica is in the ISR and, if the leader is being removed, a live target ISR
// member can take over. ok is false when there is nothing to do yet.
func completeReassignment(s *Snapshot, cur PartitionState, minISR int) (PartitionState, bool) {
	if !cur.Reassigning() {
		return cur, false
	}
	target := cur.TargetReplicas()
	for _, r := range target {
		if !slices.Contains(cur.ISR, r) {
			return cur, false
		}
	}
	if !slices.Contains(target, cur.Leader) {
		live := func(b int32) bool { return s.Live(b) && !s.uncleanFor(b, cur) }
		if _, ok := firstIn(target, cur.ISR, live); !ok {
			return cur, false
		}
	}
	return withReplicas(s, cur, target, nil, nil, minISR), true
}

// withReplicas returns cur with a new replica set (and reassignment fields): ISR, ELR and
// last known ELR keep only members of it; a leader outside it is replaced by the first live
// ISR member in replica order (one that is not drained, if any), or by Reconcile's usual
// candidates. Both epochs grow.
func withReplicas(s *Snapshot, cur PartitionState, replicas, adding, removing []int32, minISR int) PartitionState {
	in := func(r int32) bool { return slices.Contains(replicas, r) }
	keep := func(ids []int32) []int32 {
		return sortedIDs(slices.DeleteFunc(slices.Clone(ids), func(r int32) bool { return !in(r) }))
	}
	next := cur.Clone()
	next.Replicas = slices.Clone(replicas)
	next.AddingReplicas = slices.Clone(adding)
	next.RemovingReplicas = slices.Clone(removing)
	next.ISR = keep(cur.ISR)
	next.ELR = keep(cur.ELR)
	next.LastKnownELR = keep(cur.LastKnownELR)
	if !in(cur.Leader) {
		next.Leader, next.LeaderBrokerEpoch = NoLeader, 0
		live := func(b int32) bool { return s.Live(b) && !s.uncleanFor(b, cur) }
		undrained := func(b int32) bool { return live(b) && !s.Drained(b) } // drain.go
		if c, ok := firstIn(replicas, next.ISR, undrained); ok {
			next.Leader, next.LeaderBrokerEpoch = c, s.Brokers[c].Epoch
		} else if c, ok := firstIn(replicas, next.ISR, live); ok {
			next.Leader, next.LeaderBrokerEpoch = c, s.Brokers[c].Epoch
		} else if r, changed := reconcilePartition(s, next, minISR, false); changed {
			// No live ISR member is left in the new replica set: the ELR, as any election.
			next.ISR, next.ELR, next.Leader, next.LeaderBrokerEpoch = r.ISR, r.ELR, r.Leader, r.LeaderBrokerEpoch
			next.LastKnownELR = r.LastKnownELR
		}
	}
	next.LeaderEpoch = cur.LeaderEpoch + 1
	next.PartitionEpoch = cur.PartitionEpoch + 1
	return next
}

// UnregisterBroker deletes broker b's registration (UnregisterBroker, API 64, after a
// decommission) if it still has epoch: the broker leaves the metadata at once, as if its
// lease had expired. A process still running keeps its lease but is no longer listed; it
// registers again only when restarted.
func UnregisterBroker(b Broker) Op { return Op{kind: opDelete, key: brokerKey(b.ID), rev: b.Epoch} }

// ReplicasOn returns the partitions whose replica list (during a move: the union) names
// broker b, in key order: a decommissioned broker may leave once this is empty.
func ReplicasOn(s *Snapshot, b int32) []PartitionKey {
	var out []PartitionKey
	for k, p := range s.Partitions {
		if slices.Contains(p.Replicas, b) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, comparePartitionKeys)
	return out
}
