// Package group is the consumer-group coordinator for Kafka's classic group
// protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
// OffsetFetch, DescribeGroups, ListGroups, DeleteGroups, OffsetDelete and
// TxnOffsetCommit, with the semantics of Apache Kafka 3.9's GroupCoordinator.
//
// It also serves Kafka 4's consumer group protocol (KIP-848): ConsumerGroupHeartbeat and
// ConsumerGroupDescribe, with server-side assignors (uniform, range), group, assignment and
// member epochs and incremental reconciliation (consumer.go, 68_consumer_group_heartbeat.go).
// A group is either classic or consumer-protocol (group.consumer non-nil); both keep their
// offsets the same way. A consumer-protocol group's state is written to __consumer_offsets in
// Kafka 4.1's records (consumer_records.go, consumer_store.go) and replayed by Load, so its
// members keep their epochs and assignments across restarts. A classic group with members
// becomes a consumer-protocol group when a ConsumerGroupHeartbeat joins it, serves its classic
// members' JoinGroup/SyncGroup/Heartbeat/LeaveGroup inside it (a mixed group, KIP-1099), and
// turns classic again when its last consumer-protocol member leaves, as
// group.consumer.migration.policy allows (migration.go).
//
// Transactional offsets (TxnOffsetCommit, 28_txn_offset_commit.go) are
// written as transactional batches of the producer and kept pending per
// producer id; the transaction's marker, written through WriteTxnMarker in
// order with the partition's other writes, commits or discards them. Load
// replays the same from the log (KV.Txn).
//
// # Model
//
// Each group lives in one partition of __consumer_offsets, chosen by Kafka's
// rule (Coordinator.Partition), and a Coordinator serves the groups of the
// partitions it has loaded: Start loads them all (a single node leads every
// partition); Load and Unload take one partition over or give it up when its
// leadership moves, under the partition's leader epoch (the coordinator core,
// internal/coord, keeps the partitions' states and epochs, the lock and the
// reply queue). Requests for a group of a partition that is loading get
// COORDINATOR_LOAD_IN_PROGRESS, of one not loaded here NOT_COORDINATOR. The
// coordinator's state is kept in memory under the core's lock; the durable
// copy is a log of records in Kafka's own __consumer_offsets formats written
// through the Store interface, and replayed by Load:
//
//	key                                   value
//	int16 0|1, group, topic, partition    OffsetCommitValue v1|v3   (nil: offset deleted)
//	int16 2,   group                      GroupMetadataValue v3     (nil: group deleted)
//	int16 3-8, group[, member]            consumer-protocol group records (consumer_records.go)
//
// A group moves through Kafka's states:
//
//	          join                    all joined / timeout          leader SyncGroup durable
//	Empty ───────────▶ PreparingRebalance ─────────▶ CompletingRebalance ─────────▶ Stable
//	  ▲                    ▲   │ nobody left                 │  join/leave/expiry      │
//	  └────────────────────┼───┘                             │                         │
//	                       └─────────────────────────────────┴─────────────────────────┘
//	Empty ──DeleteGroups / offsets expired──▶ Dead (removed once the tombstone is durable)
//
// A rebalance of an Empty group waits InitialRebalanceDelay, extended while
// new members keep arriving, at most the rebalance timeout (Kafka's
// InitialDelayedJoin). Otherwise it completes as soon as every member has
// rejoined, or after the largest rebalance timeout, when dynamic members that
// did not rejoin are removed. The leader's SyncGroup assignment is written to
// the Store; once durable the group is Stable and every member waiting in
// SyncGroup gets its assignment. Members that stop heartbeating for their
// session timeout are removed and trigger a rebalance. Static members
// (group.instance.id, KIP-345) survive restarts of their process: a rejoin
// with the same instance id takes over the old member id's place and
// assignment, fencing the old one with FENCED_INSTANCE_ID.
//
// # Concurrency
//
// Handle never blocks on other members: a JoinGroup or SyncGroup that must
// wait is parked in the member and answered later, from another request's
// goroutine, a timer, or a store writer. Responses are collected while the
// lock is held and delivered after it is released, so respond callbacks may
// call back into the Coordinator. Store appends run on one writer goroutine
// per partition that is busy (started on demand, exiting when idle); writes
// to a partition are appended in the order they were issued and their
// completions run in that order, under the lock. Committed offsets become
// visible only once durable; membership changes are applied at once and
// persisted as Kafka does (Empty transitions, leader assignment, static
// member replacement, deletion).
//
// Timers come from a Clock, so tests drive session timeouts, rebalance
// timeouts and offset expiry deterministically with a FakeClock.
//
// Unloading a partition drops its groups: parked JoinGroup and SyncGroup
// requests get NOT_COORDINATOR, their timers stop, and writes still in flight
// complete with NOT_COORDINATOR without changing memory (the log keeps them for
// the next coordinator).
//
// Lock order: the core's lock only. FakeClock's lock is never held while a
// timer function runs, and the Store is never called with the lock held.
package group
