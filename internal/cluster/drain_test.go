package cluster

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

func drained(s *Snapshot, ids ...int32) *Snapshot {
	if s.drains == nil {
		s.drains = map[int32]int64{}
	}
	for _, id := range ids {
		s.drains[id] = 1
		if b, ok := s.Brokers[id]; ok {
			b.Draining = true
			s.Brokers[id] = b
		}
	}
	return s
}

// TestReconcileMovesLeadershipOffDrained: a drained leader hands over to the first live, not
// drained ISR member in a new leader epoch and stays in the ISR; with no such member it keeps
// leading.
func TestReconcileMovesLeadershipOffDrained(t *testing.T) {
	s := drained(snap([]int32{1, 2, 3}, part(1, 1, 2, 3)), 1)
	out := Reconcile(s, Policy{})
	if len(out) != 1 {
		t.Fatalf("Reconcile = %+v, want one change", out)
	}
	got := out[0]
	if got.Leader != 2 || got.LeaderEpoch != 6 || got.PartitionEpoch != 10 || !slices.Equal(got.ISR, []int32{1, 2, 3}) ||
		got.LeaderBrokerEpoch != 102 {
		t.Fatalf("after draining the leader: %+v", got)
	}
	if DrainRemaining(s, 1)[0] != (PartitionKey{"t", 0}) {
		t.Fatalf("DrainRemaining before the move = %v", DrainRemaining(s, 1))
	}

	// Brokers 1 and 2 drained: 3 leads.
	s = drained(snap([]int32{1, 2, 3}, part(1, 1, 2, 3)), 1, 2)
	if out := Reconcile(s, Policy{}); len(out) != 1 || out[0].Leader != 3 {
		t.Fatalf("two drained: %+v", out)
	}
	// Every ISR member drained: leadership stays where it is (no flapping).
	s = drained(snap([]int32{1, 2, 3}, part(1, 1, 2, 3)), 1, 2, 3)
	if out := Reconcile(s, Policy{}); len(out) != 0 {
		t.Fatalf("all drained: %+v", out)
	}
	// The only other ISR member is shutting down: the drained leader stays.
	s = drained(snap([]int32{1, 2}, part(1, 1, 2)), 1)
	b := s.Brokers[2]
	b.ShuttingDown = true
	s.Brokers[2] = b
	if out := Reconcile(s, Policy{}); len(out) != 1 || out[0].Leader != 1 || slices.Contains(out[0].ISR, 2) {
		t.Fatalf("successor shutting down: %+v", out)
	}
	if len(DrainRemaining(s, 1)) != 0 {
		t.Fatalf("DrainRemaining with no successor = %v", DrainRemaining(s, 1))
	}
	// A failover never elects a drained broker while another candidate exists.
	s = drained(snap([]int32{2, 3}, part(1, 1, 2, 3)), 2)
	if out := Reconcile(s, Policy{}); len(out) != 1 || out[0].Leader != 3 {
		t.Fatalf("failover with 2 drained: %+v", out)
	}
	// ... but elects it rather than nobody.
	s = drained(snap([]int32{2}, part(1, 1, 2)), 2)
	if out := Reconcile(s, Policy{}); len(out) != 1 || out[0].Leader != 2 {
		t.Fatalf("failover to the only candidate, drained: %+v", out)
	}
}

// TestNewPartitionsAvoidDrained: a new partition is not led by a drained broker while
// another live replica can lead it.
func TestNewPartitionsAvoidDrained(t *testing.T) {
	s := drained(snap([]int32{1, 2, 3}), 1)
	ps := NewPartitionStates(s, Topic{Name: "n"}, 0, [][]int32{{1, 2, 3}, {2, 1, 3}})
	if ps[0].Leader != 2 || ps[0].LeaderBrokerEpoch != 102 || ps[1].Leader != 2 {
		t.Fatalf("new partitions with broker 1 drained: %+v", ps)
	}
	s = drained(snap([]int32{1}), 1)
	if ps := NewPartitionStates(s, Topic{Name: "n"}, 0, [][]int32{{1, 2}}); ps[0].Leader != 1 {
		t.Fatalf("only the drained replica live: %+v", ps)
	}
}

// TestElectPreferredSkipsDrained: a drained preferred replica is not available.
func TestElectPreferredSkipsDrained(t *testing.T) {
	s := drained(snap([]int32{1, 2, 3}, part(2, 1, 2, 3)), 1)
	if _, err := ElectPreferred(s, s.Partitions[PartitionKey{"t", 0}]); !errors.Is(err, ErrPreferredLeaderNotAvailable) {
		t.Fatalf("ElectPreferred of a drained replica: %v", err)
	}
}

// TestDrainKeys: drain and undrain are compare-and-swap writes of drain/<id>; snapshots and
// the watch derive Broker.Draining from it; the controller moves leadership off the drained
// broker and keeps it in the ISR, and undraining lets preferred elections choose it again.
func TestDrainKeys(t *testing.T) {
	tc := shared(t)
	pfx := uniquePrefix("drain")
	ctx := ctxT(t, 60*time.Second)
	s := tc.store(t, 1, pfx)
	registerAll(t, ctx, s)
	createTopic(t, ctx, s, "jobs")
	watch := s.Watch(ctx, mustSnap(t, ctx, s))
	c, _ := runController(t, tc.store(t, 2, pfx), 2)
	testwait.Until(t, 20*time.Second, "controller elected", testwait.True(c.IsLeader))

	snap := mustSnap(t, ctx, s)
	if _, err := s.Commit(ctx, Drain(snap, 1)); err != nil {
		t.Fatal(err)
	}
	// A second drain from the same (stale) snapshot conflicts; from a fresh one it is a no-op.
	if _, err := s.Commit(ctx, Drain(snap, 1)); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale drain: %v", err)
	}
	if _, err := s.Commit(ctx, Drain(mustSnap(t, ctx, s), 1)); err != nil {
		t.Fatalf("repeated drain: %v", err)
	}
	var last *Snapshot
	testwait.Until(t, 20*time.Second, "leadership of jobs-0 moved off drained broker 1", func() (bool, string) {
		select {
		case w := <-watch:
			last = w
		case <-time.After(100 * time.Millisecond):
		}
		if last == nil {
			return false, "no snapshot"
		}
		p := last.Partitions[PartitionKey{"jobs", 0}]
		return last.Brokers[1].Draining && p.Leader == 2 && slices.Contains(p.ISR, 1), ""
	})
	snap = mustSnap(t, ctx, s)
	if !slices.Equal(snap.DrainedBrokers(), []int32{1}) || len(DrainRemaining(snap, 1)) != 0 || !snap.Brokers[1].Draining {
		t.Fatalf("drained snapshot: %v %v %+v", snap.DrainedBrokers(), DrainRemaining(snap, 1), snap.Brokers[1])
	}
	p := snap.Partitions[PartitionKey{"jobs", 0}]
	if _, err := ElectPreferred(snap, p); !errors.Is(err, ErrPreferredLeaderNotAvailable) {
		t.Fatalf("preferred election while drained: %v", err)
	}
	if _, err := s.Commit(ctx, Undrain(snap, 1)); err != nil {
		t.Fatal(err)
	}
	snap = mustSnap(t, ctx, s)
	if snap.Drained(1) || snap.Brokers[1].Draining {
		t.Fatal("still drained after undrain")
	}
	next, err := ElectPreferred(snap, snap.Partitions[PartitionKey{"jobs", 0}])
	if err != nil || next.Leader != 1 {
		t.Fatalf("preferred election after undrain: %+v %v", next, err)
	}
}

func mustSnap(t *testing.T, ctx context.Context, s *EtcdStore) *Snapshot {
	t.Helper()
	snap, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}
