package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/cluster"
	"github.com/samsa-streaming/samsa/internal/cluster/replication"
	"github.com/samsa-streaming/samsa/internal/commitlog/vfs"
	"github.com/samsa-streaming/samsa/internal/coord"
	"github.com/samsa-streaming/samsa/internal/records"
)

// A partition's replication role in cluster mode (see cluster.go). The rules themselves are
// internal/cluster/replication's; this file keeps one partition's state and does the I/O:
//
//   - Leader: appends are stamped with the leader epoch; a leader loop feeds the replica's
//     durable end to replication.Leader and moves the high watermark it computes (over the ISR
//     of durable offsets, only while |ISR| ≥ min.insync.replicas); followers' fetches feed
//     their durable ends (01_fetch.go); every few hundred milliseconds it proposes ISR shrinks
//     and expansions, written to the store by compare-and-swap (cluster.AlterISR).
//   - Follower: appends are refused (partition.ErrNotLeader); the fetcher of its leader
//     (fetcher.go) copies batches with AppendAsFollower, fsyncs, and reports its offset.
//   - Either way the leader-epoch cache is kept in DIR/leader-epoch-checkpoint, written before
//     the replica acts on a change of it.

type role int8

const (
	roleNone role = iota
	roleLeader
	roleFollower
)

// checkpointName is the leader-epoch checkpoint file in a partition directory (Kafka's name).
const checkpointName = "leader-epoch-checkpoint"

// replState is one partition's replication state.
type replState struct {
	mu       sync.Mutex
	role     role
	leaderID int32 // the leader this replica follows or is; -1 none
	epoch    int32 // the leader epoch of the role
	state    cluster.PartitionState
	leader   *replication.Leader // while roleLeader
	epochs   *replication.EpochCache
	// done is closed when the role ends (acks=all waiters then answer NOT_LEADER_OR_FOLLOWER).
	done chan struct{}
	// stop ends the leader loop.
	stop context.CancelFunc
	// isrRefusal and isrRefusalAt are the last refused ISR change's reason and when it
	// was logged (maybeAlterISR logs a repeated reason once a minute).
	isrRefusal   string
	isrRefusalAt time.Time
}

func (rs *replState) stopLeading() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.stop != nil {
		rs.stop()
		rs.stop = nil
	}
}

// newReplState returns a newly opened partition's replication state: no role yet, and the
// leader-epoch cache from its checkpoint.
func (c *clusterNode) newReplState(p *partition) *replState {
	return &replState{leaderID: -1, epoch: -1, done: make(chan struct{}), epochs: c.loadEpochs(p)}
}

// loadEpochs reads the leader-epoch checkpoint, or rebuilds the cache from the log's batch
// headers when there is none (a log written before cluster mode, or a lost file).
func (c *clusterNode) loadEpochs(p *partition) *replication.EpochCache {
	fs := c.b.cfg.FS
	path := filepath.Join(p.Dir(), checkpointName)
	if data, err := vfs.ReadFile(fs, path); err == nil {
		if cache, err := replication.DecodeCheckpoint(bytes.NewReader(data)); err == nil {
			return cache
		} else {
			c.b.log.Warn("unreadable leader-epoch checkpoint; rebuilding it from the log", "topic", p.topic.name, "partition", p.index, "err", err)
		}
	}
	cache, _ := replication.NewEpochCache(nil)
	if p.LogEndOffset() > p.LogStartOffset() {
		p.log.Scan(p.LogStartOffset(), func(h records.Header, _ []byte) bool {
			if h.PartitionLeaderEpoch >= 0 && h.PartitionLeaderEpoch > cache.LatestEpoch() {
				cache.Assign(h.PartitionLeaderEpoch, h.BaseOffset)
			}
			return true
		})
	}
	return cache
}

// saveEpochs writes the checkpoint; rs.mu is held.
func (c *clusterNode) saveEpochsLocked(p *partition, rs *replState) error {
	return vfs.WriteFileAtomic(c.b.cfg.FS, filepath.Join(p.Dir(), checkpointName), replication.EncodeCheckpoint(rs.epochs.Entries()))
}

// applyRole makes p's role follow ps; it returns the leader p must fetch from (-1: none).
func (c *clusterNode) applyRole(p *partition, ps cluster.PartitionState, snap *cluster.Snapshot) int32 {
	b := c.b
	rs := p.rs
	me := b.nodeID
	myEpoch := c.brokerEpoch()
	replica := slices.Contains(ps.Replicas, me)
	leads := replica && myEpoch != 0 && ps.Leader == me && ps.LeaderBrokerEpoch == myEpoch
	rs.mu.Lock()
	wasLeader := rs.role == roleLeader
	prevEpoch := rs.epoch
	switch {
	case leads && rs.role == roleLeader && rs.epoch == ps.LeaderEpoch:
		if ps.Rev >= rs.state.Rev { // maybeAlterISR may already hold a newer write of its own
			rs.state = ps.Clone()
		}
		if rs.leader.Committed(ps.ISR, ps.PartitionEpoch) {
			p.SetHighWatermark(rs.leader.HighWatermark())
		}
		rs.mu.Unlock()
		return -1
	case leads:
		rs.mu.Unlock()
		c.becomeLeader(p, rs, ps, snap)
		if p.topic.internal {
			c.loadCoordinator(p, ps.LeaderEpoch)
		}
		return -1
	}
	// Not the leader: follow the leader if this broker is a live replica.
	follow := int32(-1)
	if replica && myEpoch != 0 && ps.Leader >= 0 && ps.Leader != me {
		follow = ps.Leader
	}
	same := rs.role != roleLeader && rs.leaderID == follow && rs.epoch == ps.LeaderEpoch
	rs.state = ps.Clone()
	if same {
		rs.mu.Unlock()
		if !replica {
			c.dropCopy(p, rs) // a reassignment moved the partition away (45_alter_partition_reassignments.go)
		}
		return follow
	}
	if rs.stop != nil {
		rs.stop()
		rs.stop = nil
	}
	rs.leader = nil
	rs.role = roleNone
	if follow >= 0 {
		rs.role = roleFollower
	}
	rs.leaderID, rs.epoch = follow, ps.LeaderEpoch
	close(rs.done)
	rs.done = make(chan struct{})
	rs.mu.Unlock()
	p.SetRole(false, ps.LeaderEpoch)
	if err := p.SetHighWatermark(0); err != nil { // switch the replica to a replicated high watermark
		b.log.Warn("cannot set the high watermark", "topic", p.topic.name, "partition", p.index, "err", err)
	}
	if wasLeader {
		b.log.Info("no longer the leader", "topic", p.topic.name, "partition", p.index, "leader", ps.Leader,
			"leader_epoch", ps.LeaderEpoch, "previous_epoch", prevEpoch)
		if p.topic.internal {
			c.unloadCoordinator(p)
		}
	}
	if !replica {
		c.dropCopy(p, rs) // a reassignment moved the partition away (45_alter_partition_reassignments.go)
	}
	return follow
}

// becomeLeader makes p the leader in ps.LeaderEpoch.
func (c *clusterNode) becomeLeader(p *partition, rs *replState, ps cluster.PartitionState, snap *cluster.Snapshot) {
	b := c.b
	// Count only what is durable here: wait for the tail written before the election.
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	p.log.WaitDurable(ctx, p.LogEndOffset())
	cancel()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.stop != nil {
		rs.stop()
		rs.stop = nil
	}
	close(rs.done)
	rs.done = make(chan struct{})
	end := p.DurableEnd()
	if end < p.LogEndOffset() {
		// An unsynced tail (pagecache durability or a stuck disk): lead from the durable end.
		if err := p.TruncateTo(end); err != nil {
			b.log.Error("cannot drop an unsynced tail before leading", "topic", p.topic.name, "partition", p.index, "err", err)
		}
		rs.epochs.TruncateFrom(end)
	}
	end = p.LogEndOffset()
	if err := rs.epochs.Assign(ps.LeaderEpoch, end); err != nil {
		b.log.Error("leader epoch cache refused the new epoch", "topic", p.topic.name, "partition", p.index, "err", err)
	}
	if err := c.saveEpochsLocked(p, rs); err != nil {
		b.log.Error("cannot write the leader-epoch checkpoint", "topic", p.topic.name, "partition", p.index, "err", err)
	}
	t := snap.Topics[ps.Topic]
	l, err := replication.NewLeader(replication.LeaderConfig{
		ID: b.nodeID, LeaderEpoch: ps.LeaderEpoch, Replicas: ps.Replicas, ISR: ps.ISR, PartitionEpoch: ps.PartitionEpoch,
		MinISR: c.policy.MinISR(t, ps.ReplicationFactor()), LagTime: c.cfg.LagTime,
		LocalEnd: end, HighWatermark: p.HighWatermark(),
	}, time.Now())
	if err != nil {
		b.log.Error("cannot lead", "topic", p.topic.name, "partition", p.index, "err", err)
		rs.role, rs.leader, rs.leaderID = roleNone, nil, -1
		p.SetRole(false, ps.LeaderEpoch)
		return
	}
	rs.role, rs.leader, rs.leaderID, rs.epoch, rs.state = roleLeader, l, b.nodeID, ps.LeaderEpoch, ps.Clone()
	p.SetRole(true, ps.LeaderEpoch)
	if err := p.SetHighWatermark(l.HighWatermark()); err != nil {
		b.log.Warn("cannot set the high watermark", "topic", p.topic.name, "partition", p.index, "err", err)
	}
	lctx, stop := context.WithCancel(b.ctx)
	rs.stop = stop
	b.log.Info("leading", "topic", p.topic.name, "partition", p.index, "leader_epoch", ps.LeaderEpoch, "isr", ps.ISR,
		"log_end", end, "high_watermark", p.HighWatermark())
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		c.leadLoop(lctx, p, rs, l)
	}()
}

// leadLoop moves the high watermark as this replica's own durable end advances, and proposes
// ISR changes, while l leads.
func (c *clusterNode) leadLoop(ctx context.Context, p *partition, rs *replState, l *replication.Leader) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		ch := p.log.Wait()
		rs.mu.Lock()
		if rs.leader != l {
			rs.mu.Unlock()
			return
		}
		moved := l.OnLocalDurable(p.DurableEnd())
		hw := l.HighWatermark()
		rs.mu.Unlock()
		if moved {
			p.SetHighWatermark(hw)
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-tick.C:
			c.maybeAlterISR(ctx, p, rs, l)
		}
	}
}

// maybeAlterISR proposes and writes an ISR change when the leader wants one.
func (c *clusterNode) maybeAlterISR(ctx context.Context, p *partition, rs *replState, l *replication.Leader) {
	snap := c.snap.Load()
	rs.mu.Lock()
	if rs.leader != l {
		rs.mu.Unlock()
		return
	}
	var req cluster.ISRRequest
	if isr, pe, ok := l.PendingChange(); ok {
		// An earlier write of unknown outcome: send it again.
		req = cluster.ISRRequest{Leader: c.b.nodeID, LeaderEpoch: l.Epoch(), PartitionEpoch: pe, ISR: isr, AddedEpochs: map[int32]int64{}}
		for _, r := range isr {
			if !slices.Contains(rs.state.ISR, r) {
				req.AddedEpochs[r] = snap.Brokers[r].Epoch
			}
		}
	} else {
		ch, ok := l.ProposeISR(time.Now(), func(r int32) bool {
			br, ok := snap.Brokers[r]
			return ok && !br.ShuttingDown && !snap.UncleanFor(r, rs.state)
		})
		if !ok {
			rs.mu.Unlock()
			return
		}
		l.Propose(ch)
		req = cluster.ISRRequest{Leader: c.b.nodeID, LeaderEpoch: l.Epoch(), PartitionEpoch: ch.PartitionEpoch, ISR: ch.ISR, AddedEpochs: ch.Added}
	}
	cur := rs.state.Clone()
	rs.mu.Unlock()
	t := snap.Topics[cur.Topic]
	next, err := cluster.AlterISR(snap, cur, req, c.policy.MinISR(t, cur.ReplicationFactor()))
	if err != nil {
		rs.mu.Lock()
		if rs.leader == l {
			l.Rejected()
		}
		// Visible, but a refusal repeated every tick (a replica waiting for its unclean
		// marker to be cleared) is logged once a minute.
		now, reason := time.Now(), err.Error()
		loud := reason != rs.isrRefusal || now.Sub(rs.isrRefusalAt) >= time.Minute
		if loud {
			rs.isrRefusal, rs.isrRefusalAt = reason, now
		}
		rs.mu.Unlock()
		if loud {
			c.b.log.Warn("ISR change refused", "topic", cur.Topic, "partition", cur.Partition, "from", cur.ISR, "to", req.ISR,
				"partition_epoch", cur.PartitionEpoch, "err", err)
		}
		return
	}
	ops := []cluster.Op{cluster.PutPartition(next)}
	for r, e := range req.AddedEpochs {
		ops = append(ops, cluster.CheckBroker(r, e))
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	rev, err := c.store.Commit(wctx, ops...)
	cancel()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.leader != l {
		return
	}
	switch {
	case err == nil:
		c.b.log.Info("ISR changed", "topic", cur.Topic, "partition", cur.Partition, "from", cur.ISR, "to", next.ISR,
			"partition_epoch", next.PartitionEpoch)
		// The record now has revision rev, the token of the next compare-and-swap. The watch
		// may have delivered it (or something newer) to applyRole already: never go back.
		next.Rev = rev
		if rs.state.Rev < rev {
			rs.state = next.Clone()
		}
		if l.Committed(next.ISR, next.PartitionEpoch) {
			p.SetHighWatermark(l.HighWatermark())
		}
	case errors.Is(err, cluster.ErrConflict):
		// Not written. If the partition record is still the one we read, nothing else
		// changed it either: the proposal is dead. Otherwise the watch settles it.
		stored := c.snap.Load().Partitions[cur.Key()]
		c.b.log.Info("ISR change lost its compare-and-swap", "topic", cur.Topic, "partition", cur.Partition,
			"to", next.ISR, "read_revision", cur.Rev, "stored_revision", stored.Rev, "stored_isr", stored.ISR)
		if stored.Rev == cur.Rev {
			l.Rejected()
		}
	default:
		c.b.log.Warn("ISR change not written; will retry", "topic", cur.Topic, "partition", cur.Partition, "err", err)
	}
}

// leaderCheck is the check of a produce or consumer fetch in cluster mode: nil when this
// broker leads p (in currentEpoch, if that is not -1).
func (p *partition) leaderCheck(currentEpoch int32) error {
	rs := p.rs
	if rs == nil {
		return kErr(kerr.NotLeaderForPartition, "no replication state yet")
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.role != roleLeader {
		if currentEpoch >= 0 && currentEpoch > rs.epoch {
			return kErr(kerr.UnknownLeaderEpoch, "leader epoch %d is newer than %d known here", currentEpoch, rs.epoch)
		}
		return kErr(kerr.NotLeaderForPartition, "broker is not the leader (leader %d, epoch %d)", rs.leaderID, rs.epoch)
	}
	switch {
	case currentEpoch < 0:
	case currentEpoch < rs.epoch:
		return kErr(kerr.FencedLeaderEpoch, "leader epoch %d is older than the current %d", currentEpoch, rs.epoch)
	case currentEpoch > rs.epoch:
		return kErr(kerr.UnknownLeaderEpoch, "leader epoch %d is newer than the current %d", currentEpoch, rs.epoch)
	}
	return nil
}

// hwLagging reports whether this broker leads p with a high watermark still below the start
// of its leader epoch: just elected, its followers have not fetched in the epoch yet, so the
// high watermark it inherited may be below the one the previous leader had already answered
// (and acknowledged acks=all writes under). Kafka (KIP-207) then refuses a client's end-offset
// lookup with OFFSET_NOT_AVAILABLE until the high watermark reaches the epoch start.
func (p *partition) hwLagging() bool {
	rs := p.rs
	if rs == nil {
		return false
	}
	rs.mu.Lock()
	l := rs.leader
	var start int64
	if l != nil {
		start = l.EpochStart()
	}
	rs.mu.Unlock()
	return l != nil && p.HighWatermark() < start
}

// leaderEpochOf returns the leader epoch p is led in as this broker knows it (0 on a single
// node).
func (p *partition) leaderEpochOf() int32 {
	rs := p.rs
	if rs == nil {
		return 0
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.epoch
}

// checkAcksAll refuses an acks=all produce before the append when the ISR is smaller than
// min.insync.replicas (NOT_ENOUGH_REPLICAS).
func (p *partition) checkAcksAll() error {
	rs := p.rs
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.leader == nil {
		return kErr(kerr.NotLeaderForPartition, "broker is not the leader")
	}
	if err := rs.leader.CheckAppend(); err != nil {
		return kErr(kerr.NotEnoughReplicas, "%v", err)
	}
	return nil
}

// waitCommitted waits until the high watermark covers end: on a single node, until end is
// durable; in cluster mode, until the ISR holds it (replication.Leader.AckStatus), failing
// with NOT_LEADER_OR_FOLLOWER when leadership moves first and NOT_ENOUGH_REPLICAS_AFTER_APPEND
// when the ISR falls below min.insync.replicas first.
func (p *partition) waitCommitted(ctx context.Context, end int64) error {
	rs := p.rs
	if rs == nil {
		return p.WaitCommitted(ctx, end)
	}
	rs.mu.Lock()
	l, done := rs.leader, rs.done
	rs.mu.Unlock()
	if l == nil {
		return kErr(kerr.NotLeaderForPartition, "broker is not the leader")
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ch := p.Wait()
		rs.mu.Lock()
		ok, err := l.AckStatus(end)
		same := rs.leader == l
		rs.mu.Unlock()
		switch {
		case !same:
			return kErr(kerr.NotLeaderForPartition, "leadership moved before the write was replicated")
		case ok && errors.Is(err, replication.ErrNotEnoughReplicasAfterAppend):
			return kErr(kerr.NotEnoughReplicasAfterAppend, "%v", err)
		case ok:
			return err
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-done:
			return kErr(kerr.NotLeaderForPartition, "leadership moved before the write was replicated")
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return kErr(kerr.RequestTimedOut, "the in-sync replicas did not confirm the write in time")
			}
			return ctx.Err()
		}
	}
}

// onReplicaFetch records a follower's fetch of p at fetchOffset (its durable end) and
// returns the divergence to answer with, if its log diverged. ok is false when p is not led
// here in currentEpoch (err then says why).
// logStart is the follower's log start offset (-1 when its Fetch version has none).
func (c *clusterNode) onReplicaFetch(p *partition, replica int32, brokerEpoch int64, currentEpoch int32, fetchOffset int64, lastFetchedEpoch int32, logStart int64) (div replication.Divergence, diverged bool, err error) {
	if err := p.leaderCheck(currentEpoch); err != nil {
		return div, false, err
	}
	rs := p.rs
	rs.mu.Lock()
	l := rs.leader
	if l == nil {
		rs.mu.Unlock()
		return div, false, kErr(kerr.NotLeaderForPartition, "broker is not the leader")
	}
	leaderEnd := p.LogEndOffset()
	if div, diverged = replication.CheckFetch(rs.epochs, leaderEnd, fetchOffset, lastFetchedEpoch); diverged {
		rs.mu.Unlock()
		return div, true, nil
	}
	if brokerEpoch <= 0 {
		brokerEpoch = c.snap.Load().Brokers[replica].Epoch
	}
	moved := l.OnFetch(replica, brokerEpoch, fetchOffset, leaderEnd, time.Now())
	l.OnFollowerLogStart(replica, logStart)
	hw := l.HighWatermark()
	rs.mu.Unlock()
	if moved {
		p.SetHighWatermark(hw)
	}
	return div, false, nil
}

// lowWatermark is Kafka's low watermark of p, led here: the smallest log start offset among
// its live replicas as their fetches reported them (DeleteRecords answers once it reaches
// the requested offset). done is closed when the role ends.
func (c *clusterNode) lowWatermark(p *partition) (low int64, done <-chan struct{}, err error) {
	rs := p.rs
	snap := c.snap.Load()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.leader == nil {
		return -1, nil, kErr(kerr.NotLeaderForPartition, "broker is not the leader")
	}
	return rs.leader.LowWatermark(p.LogStartOffset(), snap.Live), rs.done, nil
}

// epochEnd answers OffsetForLeaderEpoch for p: the largest epoch ≤ requested this replica
// knows and the offset it ends at.
func (p *partition) epochEnd(requested int32) (int32, int64) {
	rs := p.rs
	if rs == nil {
		return -1, -1
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.epochs.EndOffsetFor(requested, p.LogEndOffset())
}

// loadCoordinator makes this broker the group or transaction coordinator of internal
// partition p under leader epoch epoch.
func (c *clusterNode) loadCoordinator(p *partition, epoch int32) {
	b := c.b
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		var err error
		switch p.topic.name {
		case offsetsTopic:
			if b.groups != nil {
				err = b.groups.Load(b.ctx, p.index, epoch)
			}
			b.shareGroupsLoad(p.index, epoch)
		case txnStateTopic:
			if b.txns != nil {
				err = b.txns.Load(b.ctx, p.index, epoch)
			}
		}
		if err != nil && b.ctx.Err() == nil {
			b.log.Warn("cannot load coordinator partition", "topic", p.topic.name, "partition", p.index, "epoch", epoch, "err", err)
		}
	}()
}

func (c *clusterNode) unloadCoordinator(p *partition) {
	b := c.b
	var err error
	switch p.topic.name {
	case offsetsTopic:
		if b.groups != nil {
			err = b.groups.Unload(p.index)
		}
		b.shareGroupsUnload(p.index)
	case txnStateTopic:
		if b.txns != nil {
			err = b.txns.Unload(p.index)
		}
	}
	if err != nil {
		b.log.Warn("cannot unload coordinator partition", "topic", p.topic.name, "partition", p.index, "err", err)
	}
}

// coordinatorEpochCheck refuses a coordinator write to internal partition p made under an
// epoch that is not p's current leader epoch here.
func coordinatorEpochCheck(p *partition, epoch int32) error {
	if p.rs == nil {
		return checkCoordinatorEpoch(p.topic.name, p.index, epoch)
	}
	if err := p.leaderCheck(-1); err != nil {
		return fmt.Errorf("%w: %s partition %d: %v", coord.ErrStaleEpoch, p.topic.name, p.index, err)
	}
	if cur := p.leaderEpochOf(); epoch != cur {
		return fmt.Errorf("%w: %s partition %d: write under coordinator epoch %d, leader epoch is %d",
			coord.ErrStaleEpoch, p.topic.name, p.index, epoch, cur)
	}
	return nil
}
