package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/samsa-streaming/samsa/internal/testwait"
)

// preferredParts returns six partitions over brokers 1..3, two preferring each, all led by
// leaders[i].
func preferredParts(leaders ...int32) *Snapshot {
	var ps []PartitionState
	for i, l := range leaders {
		first := int32(i%3) + 1
		rs := []int32{first, first%3 + 1, (first+1)%3 + 1}
		ps = append(ps, PartitionState{Topic: "t", Partition: int32(i), Replicas: rs, ISR: []int32{1, 2, 3},
			Leader: l, LeaderEpoch: 5, PartitionEpoch: 9, LeaderBrokerEpoch: int64(100 + l)})
	}
	return snap([]int32{1, 2, 3}, ps...)
}

// TestRebalanceLeaders: a broker leading less than its preferred share beyond the percentage
// gets its preferred partitions back, each in a new leader epoch; a broker within the
// percentage, a drained or shutting-down broker, and one outside the ISR do not.
func TestRebalanceLeaders(t *testing.T) {
	// Partitions 0 and 3 prefer broker 1, which leads neither (a rolling restart ended on it).
	s := preferredParts(2, 2, 3, 3, 2, 3)
	if got := LeaderImbalance(s); got[1] != 1 || got[2] != 0 || got[3] != 0 {
		t.Fatalf("LeaderImbalance = %v", got)
	}
	out := RebalanceLeaders(s, 10)
	if len(out) != 2 || out[0].Partition != 0 || out[1].Partition != 3 {
		t.Fatalf("RebalanceLeaders = %+v, want partitions 0 and 3", out)
	}
	for _, p := range out {
		if p.Leader != 1 || p.LeaderEpoch != 6 || p.PartitionEpoch != 10 || p.LeaderBrokerEpoch != 101 {
			t.Fatalf("election %+v", p)
		}
	}
	// One of two not led (50%) is within a 50% threshold, above 49%.
	s = preferredParts(1, 2, 3, 3, 2, 3)
	if out := RebalanceLeaders(s, 50); len(out) != 0 {
		t.Fatalf("within the percentage: %+v", out)
	}
	if out := RebalanceLeaders(s, 49); len(out) != 1 || out[0].Partition != 3 {
		t.Fatalf("above the percentage: %+v", out)
	}
	// Balanced: nothing.
	if out := RebalanceLeaders(preferredParts(1, 2, 3, 1, 2, 3), 0); len(out) != 0 {
		t.Fatalf("balanced: %+v", out)
	}
	// Never to a drained or shutting-down broker.
	s = drained(preferredParts(2, 2, 3, 3, 2, 3), 1)
	if out := RebalanceLeaders(s, 10); len(out) != 0 {
		t.Fatalf("drained preferred leader: %+v", out)
	}
	s = preferredParts(2, 2, 3, 3, 2, 3)
	b := s.Brokers[1]
	b.ShuttingDown = true
	s.Brokers[1] = b
	if out := RebalanceLeaders(s, 10); len(out) != 0 {
		t.Fatalf("shutting-down preferred leader: %+v", out)
	}
	// Not back in the ISR yet: not for that partition.
	s = preferredParts(2, 2, 3, 3, 2, 3)
	p := s.Partitions[PartitionKey{"t", 0}]
	p.ISR = []int32{2, 3}
	s.Partitions[p.Key()] = p
	if out := RebalanceLeaders(s, 10); len(out) != 1 || out[0].Partition != 3 {
		t.Fatalf("preferred replica out of the ISR: %+v", out)
	}
}

// TestControllerRebalancesLeaders: with Rebalance on, the elected controller moves
// leadership back to the preferred replica once it can lead again; with it off, not.
func TestControllerRebalancesLeaders(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		tc := shared(t)
		pfx := uniquePrefix("rebalance")
		ctx := ctxT(t, 60*time.Second)
		s := tc.store(t, 1, pfx)
		registerAll(t, ctx, s)
		createTopic(t, ctx, s, "jobs")
		key := PartitionKey{"jobs", 0}
		// Leadership moved to broker 2 (a failover or controlled shutdown of 1 that is over).
		snap := mustSnap(t, ctx, s)
		cur := snap.Partitions[key]
		next := cur.Clone()
		next.Leader, next.LeaderBrokerEpoch = 2, snap.Brokers[2].Epoch
		next.LeaderEpoch++
		next.PartitionEpoch++
		if _, err := s.Commit(ctx, PutPartition(next)); err != nil {
			t.Fatal(err)
		}
		c := NewController(tc.store(t, 2, pfx), 2, Policy{})
		c.SetRebalance(Rebalance{Enabled: enabled, Interval: 100 * time.Millisecond, Percentage: 10})
		cctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); c.Run(cctx) }()
		testwait.Until(t, 20*time.Second, "controller elected", testwait.True(c.IsLeader))
		if enabled {
			got := waitPartition(t, s, key, "preferred leader 1 restored", func(p PartitionState) bool { return p.Leader == 1 })
			if got.LeaderEpoch != next.LeaderEpoch+1 {
				t.Fatalf("restored in epoch %d, want %d", got.LeaderEpoch, next.LeaderEpoch+1)
			}
		} else {
			// Several checks' worth of passes, then the leader is still 2.
			testwait.Until(t, 20*time.Second, "a controller pass", func() (bool, string) { return c.Passes() > 0, "" })
			time.Sleep(500 * time.Millisecond) // five would-be checks at 100 ms: nothing may happen
			if got := mustSnap(t, ctx, s).Partitions[key]; got.Leader != 2 {
				t.Fatalf("rebalancing off, leader moved: %+v", got)
			}
		}
		cancel()
		<-done
	}
}
