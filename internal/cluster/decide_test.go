package cluster

import (
	"errors"
	"slices"
	"testing"
)

func snap(live []int32, parts ...PartitionState) *Snapshot {
	s := NewSnapshot()
	for _, b := range live {
		s.Brokers[b] = Broker{ID: b, Epoch: int64(100 + b)}
	}
	s.Topics["t"] = Topic{Name: "t", Partitions: int32(len(parts))}
	for _, p := range parts {
		s.Partitions[p.Key()] = p
	}
	return s
}

func part(leader int32, isr ...int32) PartitionState {
	return PartitionState{Topic: "t", Replicas: []int32{1, 2, 3}, ISR: isr, Leader: leader, LeaderEpoch: 5, PartitionEpoch: 9,
		LeaderBrokerEpoch: int64(100 + leader)}
}

func TestAssignReplicasSpreads(t *testing.T) {
	brokers := []int32{1, 2, 3}
	a, err := AssignReplicas(brokers, 6, 3, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int{}
	for p, rs := range a {
		if len(rs) != 3 || len(sortedIDs(rs)) != 3 {
			t.Fatalf("partition %d replicas %v not 3 distinct", p, rs)
		}
		leaders[rs[0]]++
	}
	for _, b := range brokers {
		if leaders[b] != 2 {
			t.Fatalf("leaders not spread: %v", leaders)
		}
	}
	if _, err := AssignReplicas(brokers, 1, 4, 0, 0); !errors.Is(err, ErrInvalidReplicationFactor) {
		t.Fatalf("rf 4 over 3 brokers: %v", err)
	}
	if DefaultReplicationFactor(1) != 1 || DefaultReplicationFactor(5) != 3 {
		t.Fatal("default replication factor is not min(3, live)")
	}
	if (Policy{}).MinISR(Topic{}, 3) != 2 || (Policy{}).MinISR(Topic{}, 2) != 1 ||
		(Policy{}).MinISR(Topic{Configs: map[string]string{ConfigMinInsyncReplicas: "3"}}, 3) != 3 {
		t.Fatal("min.insync.replicas defaults wrong")
	}
}

// TestReconcileKIP966 walks the ISR down to nothing and back, as KIP-966 describes: the HW
// could only advance while |ISR| ≥ 2, so the replicas that left below that stay eligible.
func TestReconcileKIP966(t *testing.T) {
	pol := Policy{}
	s := snap([]int32{1, 2}, part(1, 1, 2, 3)) // broker 3's lease expired
	ch := Reconcile(s, pol)
	if len(ch) != 1 || !slices.Equal(ch[0].ISR, []int32{1, 2}) || ch[0].ELR != nil || ch[0].Leader != 1 ||
		ch[0].LeaderEpoch != 5 || ch[0].PartitionEpoch != 10 {
		t.Fatalf("after 3 died: %+v", ch)
	}
	s = snap([]int32{1}, ch[0]) // broker 2 dies: ISR below min, 2 becomes eligible
	ch = Reconcile(s, pol)
	if len(ch) != 1 || !slices.Equal(ch[0].ISR, []int32{1}) || !slices.Equal(ch[0].ELR, []int32{2}) {
		t.Fatalf("after 2 died: %+v", ch)
	}
	s = snap(nil, ch[0]) // the leader dies too: no leader, ISR empty, ELR {1,2}
	ch = Reconcile(s, pol)
	if len(ch) != 1 || ch[0].Leader != NoLeader || len(ch[0].ISR) != 0 || !slices.Equal(ch[0].ELR, []int32{1, 2}) ||
		ch[0].LeaderEpoch != 6 {
		t.Fatalf("after 1 died: %+v", ch)
	}
	s = snap([]int32{3}, ch[0]) // only the out-of-sync replica returns: still no leader
	if got := Reconcile(s, pol); len(got) != 0 {
		t.Fatalf("out-of-sync replica elected without unclean election: %+v", got)
	}
	s.Topics["t"] = Topic{Name: "t", Configs: map[string]string{ConfigUncleanElection: "true"}}
	if got := Reconcile(s, pol); len(got) != 1 || got[0].Leader != 3 || !slices.Equal(got[0].ISR, []int32{3}) {
		t.Fatalf("unclean election: %+v", got)
	}
	s.Topics["t"] = Topic{Name: "t"}
	s.Brokers[2] = Broker{ID: 2} // an ELR member returns: it leads
	ch = Reconcile(s, pol)
	if len(ch) != 1 || ch[0].Leader != 2 || !slices.Equal(ch[0].ISR, []int32{2}) || !slices.Equal(ch[0].ELR, []int32{1}) ||
		ch[0].LeaderEpoch != 7 {
		t.Fatalf("ELR election: %+v", ch)
	}
	// An unclean restart of an ELR member takes it out of the ELR.
	s = snap([]int32{2}, ch[0])
	s.Brokers[1] = Broker{ID: 1, Unclean: true}
	ch = Reconcile(s, pol)
	if len(ch) != 1 || ch[0].ELR != nil || !slices.Equal(ch[0].LastKnownELR, []int32{1}) {
		t.Fatalf("unclean ELR member: %+v", ch)
	}
}

func TestReconcileControlledShutdown(t *testing.T) {
	s := snap([]int32{1, 2, 3}, part(1, 1, 2, 3))
	s.Brokers[1] = Broker{ID: 1, Epoch: 101, ShuttingDown: true}
	if got := LeadsWithSuccessor(s, 1); len(got) != 1 {
		t.Fatalf("LeadsWithSuccessor = %v", got)
	}
	ch := Reconcile(s, Policy{})
	if len(ch) != 1 || ch[0].Leader != 2 || !slices.Equal(ch[0].ISR, []int32{2, 3}) || ch[0].LeaderEpoch != 6 {
		t.Fatalf("controlled shutdown: %+v", ch)
	}
	// A sole ISR member keeps leading while it shuts down: there is nobody to hand over to.
	s = snap([]int32{1, 2, 3}, part(1, 1))
	s.Brokers[1] = Broker{ID: 1, Epoch: 101, ShuttingDown: true}
	if got := Reconcile(s, Policy{}); len(got) != 0 {
		t.Fatalf("sole leader moved: %+v", got)
	}
}

func TestAlterISR(t *testing.T) {
	s := snap([]int32{1, 2, 3}, part(1, 1, 2))
	cur := s.Partitions[PartitionKey{"t", 0}]
	req := ISRRequest{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 9, ISR: []int32{1, 2, 3}, AddedEpochs: map[int32]int64{3: 103}}
	next, err := AlterISR(s, cur, req, 2)
	if err != nil || !slices.Equal(next.ISR, []int32{1, 2, 3}) || next.PartitionEpoch != 10 || next.LeaderEpoch != 5 {
		t.Fatalf("expand: %+v %v", next, err)
	}
	bad := []struct {
		name string
		mod  func(*ISRRequest)
		want error
	}{
		{"old leader epoch", func(r *ISRRequest) { r.LeaderEpoch = 4 }, ErrFencedLeaderEpoch},
		{"not leader", func(r *ISRRequest) { r.Leader = 2 }, ErrFencedLeaderEpoch},
		{"old partition epoch", func(r *ISRRequest) { r.PartitionEpoch = 8 }, ErrInvalidUpdateVersion},
		{"stale broker epoch", func(r *ISRRequest) { r.AddedEpochs = map[int32]int64{3: 7} }, ErrIneligibleReplica},
		{"leader missing", func(r *ISRRequest) { r.ISR = []int32{2, 3} }, ErrIneligibleReplica},
	}
	for _, b := range bad {
		r := req
		b.mod(&r)
		if _, err := AlterISR(s, cur, r, 2); !errors.Is(err, b.want) {
			t.Errorf("%s: %v, want %v", b.name, err, b.want)
		}
	}
	// An unclean-restart marker bars broker 3 from the ISR of a partition created before
	// it, not from one created after it (the marker's per-partition meaning, uncleanFor).
	s.Brokers[3] = Broker{ID: 3, Epoch: 103, Unclean: true}
	s.uncleanRevs = map[int32]int64{3: 50}
	for _, c := range []struct {
		createRev int64
		refused   bool
	}{{40, true}, {0, true}, {60, false}} {
		cur.CreateRev = c.createRev
		_, err := AlterISR(s, cur, req, 2)
		if refused := errors.Is(err, ErrIneligibleReplica); refused != c.refused {
			t.Errorf("marker at 50, partition created at %d: %v, want refused=%v", c.createRev, err, c.refused)
		}
		if s.UncleanFor(3, cur) != c.refused {
			t.Errorf("UncleanFor(3) for a partition created at %d = %v", c.createRev, !c.refused)
		}
	}
	s.Brokers[3] = Broker{ID: 3, Epoch: 103}
	s.uncleanRevs = nil
	cur.CreateRev = 0
	// Shrinking below min ISR puts the removed replica in the ELR.
	next, err = AlterISR(s, cur, ISRRequest{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 9, ISR: []int32{1}}, 2)
	if err != nil || !slices.Equal(next.ELR, []int32{2}) {
		t.Fatalf("shrink: %+v %v", next, err)
	}
}

func TestElectLeaders(t *testing.T) {
	s := snap([]int32{1, 2, 3}, part(2, 1, 2))
	cur := s.Partitions[PartitionKey{"t", 0}]
	next, err := ElectPreferred(s, cur)
	if err != nil || next.Leader != 1 || next.LeaderEpoch != 6 {
		t.Fatalf("preferred: %+v %v", next, err)
	}
	if _, err := ElectPreferred(s, next); !errors.Is(err, ErrElectionNotNeeded) {
		t.Fatalf("preferred again: %v", err)
	}
	if _, err := ElectUnclean(s, cur, 2); !errors.Is(err, ErrElectionNotNeeded) {
		t.Fatalf("unclean with a live leader: %v", err)
	}
	s = snap([]int32{3}, PartitionState{Topic: "t", Replicas: []int32{1, 2, 3}, Leader: NoLeader, LeaderEpoch: 5})
	next, err = ElectUnclean(s, s.Partitions[PartitionKey{"t", 0}], 2)
	if err != nil || next.Leader != 3 {
		t.Fatalf("unclean: %+v %v", next, err)
	}
}
