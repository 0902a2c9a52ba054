// Package share holds the state of share groups (KIP-932, "queues for Kafka"): the members of
// each group with their epochs and the partitions the simple assignor gives them, the share
// sessions of ShareFetch and ShareAcknowledge, and for every share-partition (group, topic,
// partition) the records in flight with their delivery state. It holds no Kafka request
// types beyond kmsg's and imports nothing internal but coord (the Store contract and the
// partition picker); the broker reads the logs and answers the requests.
//
// # Share-partitions
//
// A share-partition is the window [SPSO, SPEO) of a topic partition that a share group has
// in flight. Below the share-partition start offset (SPSO) every record is done; from the
// share-partition end offset (SPEO) on no record has been delivered yet. Inside the window
// each offset is in one state:
//
//	             acquire (delivery count + 1)
//	Available ──────────────────────────────▶ Acquired ── accept ──▶ Acknowledged
//	   ▲                                        │  │
//	   └── release, lock timeout (count < limit)┘  └─ reject, or release/timeout at the
//	                                                  delivery count limit ─▶ Archived
//
// A record is acquired by one member for the acquisition lock duration
// (group.share.record.lock.duration.ms, or the group's share.record.lock.duration.ms); when
// the lock times out it becomes Available again, or Archived once it has been delivered
// group.share.delivery.count.limit times. Acknowledged and Archived are final: the SPSO moves
// past them as soon as every offset before them is final too. Offsets inside the window that
// hold no deliverable record (transaction markers, records of aborted transactions under
// read_committed, offsets removed by compaction) are final from the start. At most
// group.share.partition.max.record.locks offsets are in flight: a fetch acquires no new
// offsets beyond SPEO while the window is that wide.
//
// # Who keeps what
//
// As in Kafka 4.1 three roles meet in a share group; on a cluster they are, in general, on
// different brokers (state.go):
//   - the group coordinator, the leader of the group's __consumer_offsets partition, keeps the
//     membership (Heartbeat, Describe, the offsets admin calls): LoadGroups and UnloadGroups
//     follow that leadership, and the other brokers answer NOT_COORDINATOR;
//   - the leader of each topic partition keeps its share-partitions in memory (the window with
//     its locks) and serves ShareFetch and ShareAcknowledge for them: Ensure reads a
//     share-partition's state the first time, and again after the node led the partition
//     under another leader epoch or had a write fenced;
//   - the state coordinator, the leader of the share-partition's __share_group_state
//     partition (Kafka's ShareCoordinator), keeps the durable state: the StateStore, which the
//     broker implements with Read/Write/Initialize/DeleteShareGroupState towards that leader.
//
// On a single node the three are the same broker.
//
// # Durability
//
// Every change that a restart or a failover must see is written through the StateStore, a
// whole ShareSnapshot of the share-partition in Kafka's record format (records.go), before
// the request that made it is answered: acquisitions (so that delivery counts survive exactly),
// acknowledgements, releases and archivals. An Acquired record is written as Available with
// its delivery count: after a restart it is delivered again, counted once more. A lock that
// times out changes nothing durable unless it archives the record. The state coordinator
// refuses a write under a state epoch other than the state's (the group coordinator reset the
// offsets with Initialize, or deleted the state) and under a leader epoch older than one that
// read or wrote it (a deposed partition leader): ErrFenced, and the writer forgets its copy.
// The coordinator keeps, per share-partition, the newest snapshot by (state epoch, leader
// epoch), whatever the order of the log (StateTable).
//
// The membership of each group (group epoch, members with their subscriptions, target and
// current assignments and member epochs) is written to __consumer_offsets (Options.GroupStore)
// in Kafka's share-group records (group_records.go), under the leader epoch the partition was
// loaded with, before the heartbeat that changed it is answered: a heartbeat writes only what
// differs from the records already written (nothing for one that changed nothing), and a
// session timeout's change is written by the next heartbeat or FlushMembership. Loading
// restores the groups with their members, whose sessions start again from the load.
//
// # Members, assignment, sessions
//
// A member joins with ShareGroupHeartbeat epoch 0, heartbeats within the session timeout and
// leaves with epoch -1. The group epoch moves on every change of membership, subscriptions
// or the subscribed topics' partition counts; the simple assignor then spreads the
// partitions of each topic over the members subscribed to it (each partition to one member
// while there are at least as many partitions as members, else each member to one partition,
// several members sharing it). Share groups need no revocation: a member's epoch catches up
// with the group's on its next heartbeat, which carries the new assignment.
//
// A share session (group, member) is opened by a ShareFetch with epoch 0, which must carry
// no acknowledgements; each later ShareFetch or ShareAcknowledge must carry the session's
// next epoch (INVALID_SHARE_SESSION_EPOCH otherwise, SHARE_SESSION_NOT_FOUND without a
// session); epoch -1 closes it and releases what its member still holds.
//
// # Locking
//
// One mutex guards all state (Coordinator.mu). Writes to the StateStore are made without
// it, one at a time per share-partition (sharePartition.wmu, taken before mu), so that the
// last snapshot written is always the newest; reads by Ensure are made without it too, one at
// a time per share-partition (Coordinator.mu.loading). Membership writes are made one at a time
// (Coordinator.metaMu, taken before mu), each heartbeat holding it until its records are
// durable, so that no response carries an epoch that a restart could lose.
package share
