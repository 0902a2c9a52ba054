// Package replication holds the replica-side rules of Kafka's ISR replication protocol as
// pure, deterministic code: no goroutines, no I/O, time passed in. The broker's partition
// replica calls it under its own lock, and the model test of internal/cluster drives the very
// same code through seeded schedules of crashes and message loss.
//
// # The rules
//
// Offsets are Kafka offsets; "end" is exclusive (the log end offset, LEO).
//
//   - Followers replicate by Fetch with their replica id. A follower appends fetched batches
//     as they are, fsyncs, and only then sends its next Fetch, whose fetch offset is
//     therefore its durable end offset. The leader counts only durable offsets, its own
//     included, so an acknowledged batch is on disk on at least min.insync.replicas nodes.
//   - High watermark (Leader): HW = min(durable end of each member of the maximal ISR). It
//     never decreases on the leader and advances only while the committed ISR has at least
//     min.insync.replicas members (KIP-966: below that, the controller may elect an eligible
//     leader replica outside the leader's view). The maximal ISR is the committed ISR plus an
//     expansion in flight; a shrink counts only once the metadata store committed it
//     (Vanlightly's ValidLeaderMaximalISR / ReplicationQuorumSuperset invariant).
//   - acks=all: refused with NOT_ENOUGH_REPLICAS before the append when the maximal ISR is
//     below min.insync.replicas; answered when HW ≥ the batch's end; failed with
//     NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR falls below min.insync.replicas first.
//   - ISR shrink: an ISR follower that has not caught up to the leader's end offset within
//     replica.lag.time.max.ms (Kafka's lastCaughtUpTime rule) is proposed for removal.
//   - ISR expand: a replica that fetched in this leader epoch, whose durable end reached the
//     HW and the epoch's start offset, and that is live (registered, not shutting down) is
//     proposed for addition, with the broker epoch it fetched with (KIP-903).
//   - Every ISR change is a compare-and-swap on the partition epoch in the metadata store;
//     the leader calls Propose before writing and Committed or Rejected after.
//   - Truncation by leader epoch, never by HW (KIP-101/279/595): the leader answers a
//     follower Fetch whose (fetch offset, last fetched epoch) does not match its EpochCache
//     with a DivergingEpoch (CheckFetch); the follower truncates to TruncationPoint and
//     fetches again. A new leader writes (its epoch, its end offset) to its cache before
//     serving, so it can answer for an epoch in which it wrote nothing.
//   - A follower's HW is min(leader's HW, its own durable end) (FollowerHighWatermark).
//   - The EpochCache is persisted as Kafka's leader-epoch-checkpoint text file
//     (EncodeCheckpoint, DecodeCheckpoint) before the replica acts on a change of it.
package replication
