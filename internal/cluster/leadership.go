package cluster

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"
)

// Automatic leader rebalancing (Kafka's auto.leader.rebalance.enable)
//
// Failovers and controlled shutdowns leave leadership where it landed: after a rolling
// restart the last broker restarted leads nothing. Kafka's controller checks every
// leader.imbalance.check.interval.seconds, per broker, the share of the partitions whose
// preferred replica (the first of the assignment) it is but which another broker leads;
// when that share exceeds leader.imbalance.per.broker.percentage, it runs a preferred
// election for each of them. Samsa does the same with ElectPreferred, which refuses a
// preferred replica that is not live, is shutting down, restarted unclean, is drained, or is
// not in the ISR; each election is a compare-and-swap of the partition's record in a new
// leader epoch, as every other.

// Rebalance configures automatic leader rebalancing; the zero value is off.
type Rebalance struct {
	// Enabled is auto.leader.rebalance.enable.
	Enabled bool
	// Interval is leader.imbalance.check.interval.seconds (0: Kafka's default, 300 s).
	Interval time.Duration
	// Percentage is leader.imbalance.per.broker.percentage: a broker's imbalance above it
	// triggers its preferred elections (Kafka's default is 10).
	Percentage int
}

// DefaultRebalanceInterval is Kafka's leader.imbalance.check.interval.seconds.
const DefaultRebalanceInterval = 300 * time.Second

func (r Rebalance) interval() time.Duration {
	if r.Interval <= 0 {
		return DefaultRebalanceInterval
	}
	return r.Interval
}

// LeaderImbalance returns, per broker that is the preferred replica of some partition, the
// share (0..1) of those partitions that another broker leads or that have no leader.
func LeaderImbalance(s *Snapshot) map[int32]float64 {
	preferred, notLed := map[int32]int{}, map[int32]int{}
	for _, p := range s.Partitions {
		if len(p.Replicas) == 0 {
			continue
		}
		b := p.Replicas[0]
		preferred[b]++
		if p.Leader != b {
			notLed[b]++
		}
	}
	out := make(map[int32]float64, len(preferred))
	for b, n := range preferred {
		out[b] = float64(notLed[b]) / float64(n)
	}
	return out
}

// RebalanceLeaders is the rebalancer's decision: for every broker whose imbalance exceeds
// percentage, the preferred elections that are possible now (ElectPreferred), in key order.
// It is pure; the controller commits each by compare-and-swap.
func RebalanceLeaders(s *Snapshot, percentage int) []PartitionState {
	imbalanced := map[int32]bool{}
	for b, share := range LeaderImbalance(s) {
		if share*100 > float64(percentage) {
			imbalanced[b] = true
		}
	}
	if len(imbalanced) == 0 {
		return nil
	}
	var out []PartitionState
	for _, k := range slices.SortedFunc(maps.Keys(s.Partitions), comparePartitionKeys) {
		p := s.Partitions[k]
		if len(p.Replicas) == 0 || !imbalanced[p.Replicas[0]] {
			continue
		}
		next, err := ElectPreferred(s, p)
		if err != nil {
			continue // not needed, or the preferred replica cannot lead now
		}
		out = append(out, next)
	}
	return out
}

// rebalanceLeaders commits RebalanceLeaders for snap (Controller's periodic hook). A
// conflict means the partition changed since snap: the next check sees it.
func (c *Controller) rebalanceLeaders(ctx context.Context, snap *Snapshot, fence Op) {
	for _, next := range RebalanceLeaders(snap, c.rebalance.Percentage) {
		cur := snap.Partitions[next.Key()]
		_, err := c.store.Commit(ctx, fence, PutPartition(next))
		switch {
		case err == nil:
			c.log.Info("preferred leader restored", "partition", next.Key().String(), "leader", next.Leader,
				"leaderEpoch", next.LeaderEpoch, "previousLeader", cur.Leader)
		case errors.Is(err, ErrConflict):
		default:
			c.log.Warn("preferred leader election not written", "partition", next.Key().String(), "err", err)
		}
	}
}

// SetRebalance configures automatic leader rebalancing; call it before Run.
func (c *Controller) SetRebalance(r Rebalance) { c.rebalance = r }
