package broker

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/cluster"
	"github.com/samsa-streaming/samsa/internal/cluster/replication"
)

// AlterPartitionReassignments: v0 (Kafka 3.9).
//
// Behaviour (KIP-455): each named partition with a replica list starts moving to it (any
// broker answers, in cluster mode: the change is one compare-and-swap of the partition's
// record, cluster.StartReassignment); a null replica list cancels the move in progress
// (cluster.CancelReassignment). The answer comes once the move has started, not when it is
// done: ListPartitionReassignments shows it until the controller completes it (every target
// replica in the ISR). A new target during a move replaces it, counted from the original
// replicas. The replication factor may change. Per partition: INVALID_REPLICA_ASSIGNMENT for
// an empty list, a repeated or unregistered broker; NO_REASSIGNMENT_IN_PROGRESS for a
// cancellation of nothing; UNKNOWN_TOPIC_OR_PARTITION. On a single node the only assignment
// is the node itself: asking for it succeeds with nothing to move, anything else is
// INVALID_REPLICA_ASSIGNMENT and a cancellation NO_REASSIGNMENT_IN_PROGRESS, exactly as a
// one-broker Kafka cluster answers. With an authorizer, ALTER on the cluster is required.

func init() {
	register(kmsg.AlterPartitionAssignments, 0, (*Broker).handleAlterPartitionReassignments)
	authorizers[kmsg.AlterPartitionAssignments.Int16()] = func(b *Broker, r *request) bool {
		if r.authorizedCluster(opAlter) {
			return false
		}
		return answer(r, func(resp *kmsg.AlterPartitionAssignmentsResponse) {
			resp.ErrorCode = clusterDenied
		})
	}
}

// reassignTimeout bounds the compare-and-swap retries of one partition's change.
const reassignTimeout = 10 * time.Second

func (b *Broker) handleAlterPartitionReassignments(r *request) {
	req := r.kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	timeout := reassignTimeout
	if req.TimeoutMillis > 0 {
		timeout = min(timeout, time.Duration(req.TimeoutMillis)*time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(r.ctx(), timeout)
	defer cancel()
	// One read of the store serves every partition of the request (each change is a
	// compare-and-swap on its own record; only a conflict reads again).
	var snap *cluster.Snapshot
	for _, rt := range req.Topics {
		ot := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		ot.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		for _, rp := range rt.Partitions {
			op := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			op.Partition = rp.Partition
			var err error
			switch {
			case t == nil || b.partition(t, rp.Partition) == nil:
				err = kErr(kerr.UnknownTopicOrPartition, "%s-%d does not exist", rt.Topic, rp.Partition)
			case b.cl == nil:
				err = b.reassignSingleNode(rp.Replicas)
			case snap == nil:
				if snap, err = b.cl.store.Snapshot(ctx); err != nil {
					snap, err = nil, kErr(kerr.RequestTimedOut, "read cluster metadata: %v", err)
					break
				}
				fallthrough
			default:
				err = b.cl.reassign(ctx, snap, cluster.PartitionKey{Topic: rt.Topic, Partition: rp.Partition}, rp.Replicas)
			}
			if err != nil {
				code := reassignCode(err)
				op.ErrorCode = code.Code
				msg := err.Error()
				op.ErrorMessage = &msg
				b.log.Info("partition reassignment refused", "topic", rt.Topic, "partition", rp.Partition,
					"replicas", rp.Replicas, "cancel", rp.Replicas == nil, "err", msg)
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	r.respond(resp)
}

// reassignSingleNode answers a reassignment on a single node, where the node is the only
// broker and the only replica of everything.
func (b *Broker) reassignSingleNode(target []int32) error {
	switch {
	case target == nil:
		return kErr(kerr.NoReassignmentInProgress, "a single node has no reassignment in progress")
	case slices.Equal(target, []int32{b.nodeID}):
		return nil
	}
	return kErr(kerr.InvalidReplicaAssignment, "replicas %v: this single node (broker %d) is the only broker", target, b.nodeID)
}

// reassignCode maps a reassignment's error to its Kafka code.
func reassignCode(err error) *kerr.Error {
	switch {
	case errors.Is(err, cluster.ErrInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment
	case errors.Is(err, cluster.ErrNoReassignmentInProgress):
		return kerr.NoReassignmentInProgress
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, cluster.ErrConflict):
		return kerr.RequestTimedOut
	}
	return kafkaCode(err, kerr.UnknownServerError)
}

// reassign starts (target non-nil) or cancels (nil) the reassignment of partition key as a
// compare-and-swap on its record in snap (read from the store, not this broker's view, which
// may lag: a broker that registered a moment ago must be a valid target), retrying on a
// conflict, and returns once this broker's view shows the change.
func (c *clusterNode) reassign(ctx context.Context, snap *cluster.Snapshot, key cluster.PartitionKey, target []int32) error {
	return c.changePartition(ctx, snap, key, func(snap *cluster.Snapshot, cur cluster.PartitionState) (cluster.PartitionState, error) {
		minISR := c.policy.MinISR(snap.Topics[key.Topic], cur.ReplicationFactor())
		if target == nil {
			return cluster.CancelReassignment(snap, cur, minISR)
		}
		return cluster.StartReassignment(snap, cur, target, minISR)
	}, func(next cluster.PartitionState) {
		c.b.log.Info("partition reassignment", "partition", key.String(), "cancel", target == nil, "target", target,
			"replicas", next.Replicas, "adding", next.AddingReplicas, "removing", next.RemovingReplicas,
			"leader", next.Leader, "leader_epoch", next.LeaderEpoch)
	})
}

// changePartition writes decide's change of partition key by compare-and-swap on its record
// in snap; on a conflict it reads the store again and decides again. A decision that changes
// nothing (same partition epoch) writes nothing. It is the one write path of the admin
// requests that change a partition record (ElectLeaders, AlterPartitionReassignments).
func (c *clusterNode) changePartition(ctx context.Context, snap *cluster.Snapshot, key cluster.PartitionKey,
	decide func(*cluster.Snapshot, cluster.PartitionState) (cluster.PartitionState, error), written func(cluster.PartitionState)) error {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			var err error
			if snap, err = c.store.Snapshot(ctx); err != nil {
				return kErr(kerr.RequestTimedOut, "read cluster metadata: %v", err)
			}
		}
		cur, ok := snap.Partitions[key]
		if !ok {
			return kErr(kerr.UnknownTopicOrPartition, "%s is not in the cluster metadata", key)
		}
		next, err := decide(snap, cur)
		if err != nil {
			return err
		}
		if next.PartitionEpoch == cur.PartitionEpoch {
			return nil
		}
		_, err = c.store.Commit(ctx, cluster.PutPartition(next))
		if err == nil {
			written(next)
			// Answer once this broker's view has it, so a client's next Metadata shows it.
			c.awaitSnapshot(ctx, func(s *cluster.Snapshot) bool { return s.Partitions[key].PartitionEpoch >= next.PartitionEpoch })
			return nil
		}
		if !errors.Is(err, cluster.ErrConflict) {
			return err
		}
		select { // another writer got there first (an ISR change, the controller): again
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(10*time.Millisecond<<min(attempt, 5), 200*time.Millisecond)):
		}
	}
}

// dropCopy deletes this broker's records of partition p once it is no longer one of its
// replicas (a completed or cancelled reassignment moved it away, or it was moved while this
// broker was down): it serves nothing of p from then on (applyRole gave it no role), and a
// later reassignment back to it starts from an empty log, fetching from the leader's log
// start. The partition's (empty) directory stays, as for every partition a broker is not a
// replica of.
func (c *clusterNode) dropCopy(p *partition, rs *replState) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.role != roleNone {
		return
	}
	start, end := p.LogStartOffset(), p.LogEndOffset()
	if _, held := rs.epochs.Latest(); end <= start && !held {
		return
	}
	if err := p.TruncateTo(start); err != nil {
		c.b.log.Warn("cannot delete the copy of a partition this broker no longer holds", "topic", p.topic.name, "partition", p.index, "err", err)
		return
	}
	rs.epochs, _ = replication.NewEpochCache(nil)
	if err := c.saveEpochsLocked(p, rs); err != nil {
		c.b.log.Warn("cannot reset the leader-epoch checkpoint", "topic", p.topic.name, "partition", p.index, "err", err)
	}
	c.b.log.Info("deleted the copy of a partition this broker is no longer a replica of", "topic", p.topic.name,
		"partition", p.index, "log_start", start, "deleted_to", end)
}
