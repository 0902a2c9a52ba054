// Package kafkarun runs stream pipelines on Kafka: it consumes the pipeline's source topics
// with franz-go, drives one stream.Executor per task, produces the sinks to topics, and
// keeps operator state in a local pebble store per task, backed by a compacted changelog
// topic. It works against any Kafka-compatible broker (Samsa, Apache Kafka, Redpanda).
//
//	p := stream.NewPipeline()
//	... build the pipeline with stream.Read, stream.WindowInto, stream.SumPerKey, stream.Write ...
//	app, err := kafkarun.New(p, kafkarun.Config{Brokers: []string{"localhost:9092"}, ApplicationID: "sums"})
//	err = app.Run(ctx) // until ctx is cancelled
//
// # Application, tasks, topics
//
// Config.ApplicationID plays the role it has in Kafka Streams: it is the consumer group id,
// the prefix of the internal topics and the name of the state directory
// StateDir/<ApplicationID>. Each stateful transform (stream.Pipeline.Stores) is a store with
// its own compacted changelog topic <ApplicationID>-<store>-changelog (Config.StoreTopicConfigs
// sets its configs at creation); the executor's own state and the commit markers go to the
// commit log <ApplicationID>-commits (changelogs.go).
//
// A task is a partition number: task n reads partition n of every source topic that has
// one. Topics read together (a stream and the table it joins) must therefore be
// co-partitioned: keyed the same way, with the same number of partitions. Each task has its
// own Executor (its operators, windows, timers and per-partition watermarks), its own pebble
// store (StateDir/<ApplicationID>/task-<n>) and partition n of each changelog and of the
// commit log. The application has as many tasks as its largest source topic has
// partitions; changelogs and commit log are created with that many partitions and
// cleanup.policy=compact if missing. An application that has the single changelog
// <ApplicationID>-<StoreName>-changelog of earlier versions and no commit log is refused.
//
// Grouping transforms (GroupByKey, CombinePerKey, joins, tables, ProcessKeyed) are preceded
// by an exchange that routes elements by key. Input topics are taken to be partitioned by
// their record keys (Kafka's default partitioner, murmur2, as Kafka Streams assumes), so an
// exchange whose input still carries the keys the sources read stays local: the grouping
// runs in the task that read the element. An exchange after a transform that may have
// changed the key (Map, KeyBy, FlatMap, ParDo, ProcessKeyed; stream.Pipeline.NeedsRepartition)
// repartitions automatically, as in Kafka Streams: it goes through a repartition topic
// <ApplicationID>-<exchange>-repartition (one partition per task, created if missing), read
// by the tasks like an input topic. stream.MarkAsPartitioned opts a re-keyed stream out;
// Config.Repartition sends every exchange through a topic. Watermarks, and whether the
// sending side is idle, follow the data through the topic as control records; each data record
// carries the sending task's sequence number so that elements re-sent after a crash are
// dropped by the receiver (see exchange.go). Tables read with ReadTable are never
// repartitioned: the table topic and the stream joined with it must be co-partitioned.
//
// Sinks produce with Kafka's default partitioner (murmur2 of the record key, sticky without
// a key). Outputs of groupings carry their window, pane and retraction flag in the
// samsa.stream.meta header (stream.DecodeMetaHeaders reads it).
//
// # Time and watermarks
//
// Record timestamps are the event times unless a Source says otherwise. Processing time is
// the wall clock: it advances after every poll and at least every TickInterval (100 ms), so
// processing-time triggers and timers fire on time and an input partition without records
// for Source.IdleTimeout (10 s) stops holding the watermark back — but only once it is
// caught up: a partition whose consumer has not reached its end offset (known from every
// fetch and from ListOffsets every second; the last stable offset under ExactlyOnce) is
// never idle, so the watermark cannot pass data that is in the log but not yet read
// (lag.go). Each task's watermark is
// tracked per source partition by the executor (newest timestamp minus
// Source.MaxOutOfOrderness) and advances as records arrive and as partitions go idle.
//
// # Commits and the at-least-once guarantee
//
// Every CommitInterval (5 s), when partitions are revoked, and at shutdown the application
// commits each task that processed or produced anything (outputs include repartition
// records; positions include repartition topics; the marker also holds the exchange
// sequence numbers):
//
//  1. the executor flushes its dirty state into the task's pebble batch, which also
//     produces each change (key, value or tombstone) to the task's partition of its store's
//     changelog (the executor's own state: of the commit log);
//  2. the producer is flushed: all outputs and changelog records are acknowledged;
//  3. a commit marker holding the task's input positions and, per store, the changelog
//     offset after the task's last acknowledged record there, is produced to the task's
//     commit-log partition and acknowledged;
//  4. the pebble batch is applied with a local checkpoint (the logs' offsets and the
//     positions), synced to disk;
//  5. the input offsets are committed to the consumer group.
//
// A task is restored from its local store where the local checkpoint is intact, reading
// only the log records after it; a store whose changelog no longer matches (re-created) is
// rebuilt alone from its topic's start, and everything is when the commit log does not
// match (new instance, lost disk). Only records a commit marker covers are applied (a
// store's records below the marker's offset for it, the commit log's before the marker),
// once every log has been read that far, and input resumes at that marker's positions, so
// state and input are
// always consistent: after a crash the input since the last commit is processed again, its
// outputs may be produced twice (duplicated panes), and no state is counted twice. State
// records after the last marker (a crash between steps 1 and 3) are trimmed: the restore
// re-writes those keys with their committed values and a new marker, so neither a later
// restore nor compaction can bring them back. The group offsets (step 5) serve monitoring
// (lag) and the first start of a task without state.
//
// # Exactly-once
//
// With Config.Guarantee ExactlyOnce every commit is one Kafka transaction (franz-go's
// GroupTransactSession, transactional id <ApplicationID>-<InstanceID>, or a random suffix
// per run): the outputs, changelog records, commit markers and repartition records produced
// since the last commit, and the input offsets (TxnOffsetCommit with the group generation,
// KIP-447, so a zombie instance cannot commit), are committed together; then the pebble
// batches are applied. Inputs, repartition topics and changelog restores are read with
// read_committed. A crashed instance's open transaction is aborted when its successor takes
// its transactional id (static membership) or at Config.TransactionTimeout, and its work is
// done again from the last commit: read_committed consumers of the outputs see every result
// once. A transaction cannot span a revocation: when a rebalance revokes tasks the open
// transaction is aborted, the revoked tasks are closed without committing (their new owner
// restores the last commit), and the instance's other tasks are rolled back (re-opened from
// their stores and changelogs, input moved back to their positions). CommitInterval must be
// shorter than TransactionTimeout (10 s by default); Bounded runs are at-least-once only.
// A transaction whose records or end fail for a transient reason a Kafka client retries (a
// broker died and its partitions' leaders or the coordinators moved: "unknown broker",
// NOT_LEADER_OR_FOLLOWER, COORDINATOR_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION, ...; see
// retry.go) is aborted at the next commit and every task rolled back the same way, so the
// app outlives a broker's death. If franz-go then refuses to begin a transaction (it keeps
// a producer id failed by "unknown broker" as fatal), Run replaces the client as a restart
// would: the tasks resume from their last commit.
// An instance whose transaction fails for good (fenced by another instance with its
// transactional id, or aborted by the broker after TransactionTimeout) stops: Run returns
// the error, nothing of its open transaction becomes visible, and a restart resumes from the
// last commit.
//
// # Scaling out and rebalancing
//
// Instances started with the same ApplicationID form one consumer group and share the tasks.
// The group uses this package's balancer ("samsa-tasks"), which assigns whole tasks (the
// same partition number of every input topic to one member), balanced (floor or ceil of
// tasks/members each) and sticky (a task stays where it is when it can), with the
// cooperative protocol (KIP-429): on a rebalance only the tasks that move are revoked.
//
// The client polls with BlockRebalanceOnPoll, so rebalance callbacks run between loop
// iterations, never while a task processes. When tasks are revoked the application commits
// them (the steps above) and closes their stores; when the group reports them lost (the
// member was expelled) it closes them without committing. When tasks are assigned it
// restores them before their input is fetched (franz-go's AdjustFetchOffsetsFn) and starts
// their input at the restored positions. A crashed instance's tasks move to the others after
// Config.SessionTimeout; with Config.InstanceID (static membership) a restarted instance
// gets its tasks back without a rebalance.
//
// # Standby replicas
//
// With Config.Standbys n, the balancer also gives each task up to n standbys on other
// members. A standby opens the task's store in its instance's state directory and follows
// the task's changelogs and commit log, applying a commit at a time as a restore does
// (standby.go). Members report in their join metadata how far their local copy of each task
// has applied its logs; a task without a live owner is assigned to the member with the most
// applied, where it restores only the tail (balancer.go). Fetches wait at most 500 ms, so a
// moved task's input starts at once. The group protocol is the classic one with this
// balancer: KIP-848's broker-side assignors cannot keep a task's partitions together nor
// know standby progress.
//
// # Interactive queries
//
// Lookup (and LookupWith) reads a table's current value for a key from the running
// application. The key's task is found as Kafka's default partitioner would place the key;
// if this instance runs that task the value comes from the task's executor, otherwise the
// call returns a *NotLocalError naming the task and, when instances set
// Config.ApplicationServer, the endpoint of the instance that runs it (shared through the
// group assignment), so the caller can forward the query, as with Kafka Streams'
// queryMetadataForKey. During a rebalance a moving task is briefly not local anywhere.
// TableServer serves registered tables over HTTP from any instance, forwarding a key to its
// owner and merging scans over every instance (serve.go).
//
// # Bounded runs
//
// With Config.Bounded the application processes the input present when Run starts, then
// ends it (stream.Executor.Finish: every window emits its final pane), commits and returns.
// With Repartition, a finished task keeps receiving until every task has sent its end of
// input through the repartition topics. Benchmarks and batch re-runs use it with one
// instance.
//
// # Shutdown
//
// Cancelling Run's context stops the loop, commits every task, closes the stores and leaves
// the group (a static member does not leave: it is expected back).
package kafkarun
