package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func liveSnap(ids ...int32) *Snapshot {
	s := NewSnapshot()
	for _, b := range ids {
		s.Brokers[b] = Broker{ID: b, Epoch: int64(100 + b)}
	}
	s.Topics["t"] = Topic{Name: "t", Partitions: 1}
	return s
}

func TestStartReassignmentValidates(t *testing.T) {
	s := liveSnap(1, 2, 3, 4)
	cur := part(1, 1, 2, 3)
	for _, target := range [][]int32{nil, {1, 1, 2}, {1, 2, 9}} {
		if _, err := StartReassignment(s, cur, target, 2); !errors.Is(err, ErrInvalidReplicaAssignment) {
			t.Errorf("target %v: %v, want ErrInvalidReplicaAssignment", target, err)
		}
	}
	if _, err := CancelReassignment(s, cur, 2); !errors.Is(err, ErrNoReassignmentInProgress) {
		t.Errorf("cancel without a move: %v", err)
	}
	same, err := StartReassignment(s, cur, []int32{1, 2, 3}, 2)
	if err != nil || same.PartitionEpoch != cur.PartitionEpoch {
		t.Errorf("the current replicas as target: %+v %v, want no change", same, err)
	}
}

// TestReassignmentLifecycle: 1,2,3 → 2,3,4 with leader 1: the union first (leader kept),
// completion only once 4 is in the ISR, then leadership moves to the first target ISR
// member in a new epoch and 1 leaves the ISR.
func TestReassignmentLifecycle(t *testing.T) {
	s := liveSnap(1, 2, 3, 4)
	cur := part(1, 1, 2, 3)
	next, err := StartReassignment(s, cur, []int32{2, 3, 4}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(next.Replicas, []int32{2, 3, 4, 1}) || !slices.Equal(next.AddingReplicas, []int32{4}) ||
		!slices.Equal(next.RemovingReplicas, []int32{1}) || next.Leader != 1 || !slices.Equal(next.ISR, []int32{1, 2, 3}) {
		t.Fatalf("started: %+v", next)
	}
	if next.LeaderEpoch != cur.LeaderEpoch+1 || next.PartitionEpoch != cur.PartitionEpoch+1 {
		t.Fatalf("epochs not grown: %+v", next)
	}
	s.Partitions[next.Key()] = next
	if got := Reconcile(s, Policy{}); len(got) != 0 {
		t.Fatalf("completed before the new replica is in the ISR: %+v", got)
	}
	// The leader adds 4 to the ISR once it caught up.
	withNew, err := AlterISR(s, next, ISRRequest{Leader: 1, LeaderEpoch: next.LeaderEpoch, PartitionEpoch: next.PartitionEpoch,
		ISR: []int32{1, 2, 3, 4}, AddedEpochs: map[int32]int64{4: 104}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	s.Partitions[withNew.Key()] = withNew
	got := Reconcile(s, Policy{})
	if len(got) != 1 {
		t.Fatalf("no completion: %+v", got)
	}
	done := got[0]
	if !slices.Equal(done.Replicas, []int32{2, 3, 4}) || done.Reassigning() || done.Leader != 2 ||
		!slices.Equal(done.ISR, []int32{2, 3, 4}) || done.LeaderEpoch != withNew.LeaderEpoch+1 || done.LeaderBrokerEpoch != 102 {
		t.Fatalf("completed: %+v", done)
	}
}

// TestReassignmentTargetDiesThenCancel: the new replica dies before it joins the ISR: the
// move waits (the partition keeps its leader and ISR), and cancelling restores the original
// replicas; a new start afterwards works.
func TestReassignmentTargetDiesThenCancel(t *testing.T) {
	s := liveSnap(1, 2, 3, 4)
	cur := part(1, 1, 2, 3)
	next, _ := StartReassignment(s, cur, []int32{4, 2, 3}, 2)
	s.Partitions[next.Key()] = next
	delete(s.Brokers, 4)
	if got := Reconcile(s, Policy{}); len(got) != 0 {
		t.Fatalf("changes while only the target is gone: %+v", got)
	}
	back, err := CancelReassignment(s, next, 2)
	if err != nil {
		t.Fatal(err)
	}
	if back.Reassigning() || !slices.Equal(sortedIDs(back.Replicas), []int32{1, 2, 3}) || back.Leader != 1 {
		t.Fatalf("cancelled: %+v", back)
	}
}

// TestReassignmentLeaderIsAddedReplica: a new replica that became leader in a failover is
// dropped by a cancellation, which elects the first live ISR member of the originals.
func TestReassignmentLeaderIsAddedReplica(t *testing.T) {
	s := liveSnap(1, 2, 3, 4)
	st := PartitionState{Topic: "t", Replicas: []int32{4, 2, 3, 1}, AddingReplicas: []int32{4}, RemovingReplicas: []int32{1},
		ISR: []int32{2, 4}, Leader: 4, LeaderBrokerEpoch: 104, LeaderEpoch: 3, PartitionEpoch: 7}
	back, err := CancelReassignment(s, st, 2)
	if err != nil {
		t.Fatal(err)
	}
	if back.Leader != 2 || !slices.Equal(back.ISR, []int32{2}) || back.LeaderEpoch != 4 || back.LeaderBrokerEpoch != 102 {
		t.Fatalf("cancel with the new replica leading: %+v", back)
	}
}

// TestReassignmentModel runs random schedules of reassignments, cancellations, broker
// deaths and returns, ISR expansions by the leader and controller passes, and checks after
// every step that the partition record is consistent, that only replicas which caught up are
// ever in the ISR or lead, and at the end (everyone back) that the last move completes with
// exactly its target, or that a cancelled one left the original replicas.
func TestReassignmentModel(t *testing.T) {
	for seed := range uint64(300) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { reassignmentSchedule(t, seed) })
	}
}

func reassignmentSchedule(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	all := []int32{1, 2, 3, 4, 5}
	s := liveSnap(all...)
	pol := Policy{}
	cur := PartitionState{Topic: "t", Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderBrokerEpoch: 101}
	s.Partitions[cur.Key()] = cur
	// holds: brokers whose copy of the log is complete (they were in the ISR since; a new
	// replica gets there only through the leader's AlterISR after catching up).
	holds := map[int32]bool{1: true, 2: true, 3: true}
	dead := map[int32]bool{}
	var want []int32 // the last target, nil after a cancellation
	wantOrig := []int32{1, 2, 3}
	put := func(next PartitionState, why string) {
		t.Helper()
		old := s.Partitions[cur.Key()]
		if next.PartitionEpoch <= old.PartitionEpoch && !slices.Equal(next.Replicas, old.Replicas) {
			t.Fatalf("%s: partition epoch did not grow: %+v → %+v", why, old, next)
		}
		if next.LeaderEpoch < old.LeaderEpoch {
			t.Fatalf("%s: leader epoch went back: %+v → %+v", why, old, next)
		}
		s.Partitions[next.Key()] = next
		checkReassignInvariants(t, why, s, next, holds)
	}
	settle := func() {
		for range 5 {
			ch := Reconcile(s, pol)
			if len(ch) == 0 {
				return
			}
			put(ch[0], "reconcile")
		}
	}
	for step := range 60 {
		p := s.Partitions[cur.Key()]
		switch rng.IntN(6) {
		case 0: // a new reassignment
			target := slices.Clone(all)
			rng.Shuffle(len(target), func(i, j int) { target[i], target[j] = target[j], target[i] })
			target = target[:3]
			live := true
			for _, r := range target {
				live = live && !dead[r]
			}
			if !live {
				if _, err := StartReassignment(s, p, target, 2); !errors.Is(err, ErrInvalidReplicaAssignment) {
					t.Fatalf("step %d: a target with a dead broker %v: %v", step, target, err)
				}
				continue
			}
			if !p.Reassigning() {
				wantOrig = slices.Clone(p.Replicas)
			}
			next, err := StartReassignment(s, p, target, 2)
			if err != nil {
				t.Fatalf("step %d: start %v: %v", step, target, err)
			}
			want = target
			if next.PartitionEpoch != p.PartitionEpoch {
				put(next, fmt.Sprintf("step %d start %v", step, target))
			}
		case 1: // cancel
			next, err := CancelReassignment(s, p, 2)
			if !p.Reassigning() {
				if !errors.Is(err, ErrNoReassignmentInProgress) {
					t.Fatalf("step %d: cancel without a move: %v", step, err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			want = nil
			put(next, fmt.Sprintf("step %d cancel", step))
			if !slices.Equal(sortedIDs(next.Replicas), sortedIDs(wantOrig)) {
				t.Fatalf("step %d: cancel left %v, originals were %v", step, next.Replicas, wantOrig)
			}
		case 2: // a broker dies (its log survives: no unclean restart)
			b := all[rng.IntN(len(all))]
			delete(s.Brokers, b)
			dead[b] = true
			settle()
		case 3: // a broker returns
			for b := range dead {
				s.Brokers[b] = Broker{ID: b, Epoch: s.Brokers[b].Epoch + 1000 + int64(step)}
				delete(dead, b)
				break
			}
			settle()
		case 4, 5: // the leader adds a caught-up live replica to the ISR
			if p.Leader == NoLeader {
				settle()
				continue
			}
			var out []int32
			for _, r := range p.Replicas {
				if !slices.Contains(p.ISR, r) && !dead[r] {
					out = append(out, r)
				}
			}
			if len(out) == 0 {
				settle()
				continue
			}
			r := out[rng.IntN(len(out))]
			next, err := AlterISR(s, p, ISRRequest{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
				ISR: append(slices.Clone(p.ISR), r), AddedEpochs: map[int32]int64{r: s.Brokers[r].Epoch}}, 2)
			if err != nil {
				t.Fatalf("step %d: add %d: %v", step, r, err)
			}
			holds[r] = true
			put(next, fmt.Sprintf("step %d add %d", step, r))
			settle()
		}
	}
	// Everyone returns and catches up: the move completes, or the cancellation stands.
	for b := range dead {
		s.Brokers[b] = Broker{ID: b, Epoch: s.Brokers[b].Epoch + 5000}
	}
	for range 20 {
		settle()
		p := s.Partitions[cur.Key()]
		if p.Leader == NoLeader {
			break
		}
		var add []int32
		for _, r := range p.Replicas {
			if !slices.Contains(p.ISR, r) {
				add = append(add, r)
			}
		}
		if len(add) == 0 {
			break
		}
		ep := map[int32]int64{}
		for _, r := range add {
			ep[r] = s.Brokers[r].Epoch
			holds[r] = true
		}
		next, err := AlterISR(s, p, ISRRequest{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
			ISR: append(slices.Clone(p.ISR), add...), AddedEpochs: ep}, 2)
		if err != nil {
			t.Fatal(err)
		}
		put(next, "heal")
	}
	settle()
	p := s.Partitions[cur.Key()]
	if p.Leader == NoLeader {
		// Every replica holding the log died while the ISR was empty and none is eligible:
		// the partition waits for an unclean election, as without reassignment. Rare.
		return
	}
	if p.Reassigning() {
		t.Fatalf("the move did not complete with everyone back: %+v", p)
	}
	if want != nil && !slices.Equal(p.Replicas, want) {
		t.Fatalf("completed at %v, target was %v", p.Replicas, want)
	}
}

func checkReassignInvariants(t *testing.T, why string, s *Snapshot, p PartitionState, holds map[int32]bool) {
	t.Helper()
	fail := func(f string, a ...any) { t.Fatalf("%s: %s: %+v", why, fmt.Sprintf(f, a...), p) }
	if len(sortedIDs(p.Replicas)) != len(p.Replicas) {
		fail("replicas repeat a broker")
	}
	for _, set := range [][]int32{p.ISR, p.ELR, p.AddingReplicas, p.RemovingReplicas} {
		for _, r := range set {
			if !slices.Contains(p.Replicas, r) {
				fail("%d is not a replica", r)
			}
		}
	}
	for _, r := range p.AddingReplicas {
		if slices.Contains(p.RemovingReplicas, r) {
			fail("%d both added and removed", r)
		}
	}
	if len(p.AddingReplicas) > 0 && len(p.TargetReplicas()) != 3 {
		fail("target %v is not 3 replicas", p.TargetReplicas())
	}
	for _, r := range p.ISR {
		if !holds[r] {
			fail("%d is in the ISR without having caught up", r)
		}
	}
	if p.Leader != NoLeader {
		if !slices.Contains(p.ISR, p.Leader) {
			fail("leader %d not in the ISR", p.Leader)
		}
		if s.Brokers[p.Leader].Epoch != p.LeaderBrokerEpoch {
			fail("leader broker epoch %d, registered %d", p.LeaderBrokerEpoch, s.Brokers[p.Leader].Epoch)
		}
	}
}

// TestReplicationFactorDuringMove: min.insync.replicas' default counts the smaller of the
// original and target replica lists, so the union of a move never tightens acks=all.
func TestReplicationFactorDuringMove(t *testing.T) {
	s := liveSnap(1, 2, 3)
	cur := PartitionState{Topic: "t", Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderBrokerEpoch: 101}
	next, err := StartReassignment(s, cur, []int32{2, 3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Replicas) != 3 || next.ReplicationFactor() != 2 || (Policy{}).MinISR(Topic{}, next.ReplicationFactor()) != 1 {
		t.Fatalf("an RF=2 move: %+v, replication factor %d", next, next.ReplicationFactor())
	}
	grow, err := StartReassignment(s, cur, []int32{1, 2, 3}, 1)
	if err != nil || grow.ReplicationFactor() != 2 {
		t.Fatalf("growing to 3: %+v %v", grow, err)
	}
}

// TestReassignmentSkipsDrainedLeader: a completion that removes the leader hands over to the
// first in-sync target replica that is not drained.
func TestReassignmentSkipsDrainedLeader(t *testing.T) {
	s := liveSnap(1, 2, 3, 4)
	s.drains = map[int32]int64{4: 1}
	st := PartitionState{Topic: "t", Replicas: []int32{4, 2, 3, 1}, AddingReplicas: []int32{4}, RemovingReplicas: []int32{1},
		ISR: []int32{1, 2, 3, 4}, Leader: 1, LeaderBrokerEpoch: 101, LeaderEpoch: 3, PartitionEpoch: 7}
	s.Partitions[st.Key()] = st
	got := Reconcile(s, Policy{})
	if len(got) != 1 || got[0].Leader != 2 || got[0].Reassigning() || !slices.Equal(got[0].Replicas, []int32{4, 2, 3}) {
		t.Fatalf("completion with drained broker 4 first: %+v", got)
	}
}
