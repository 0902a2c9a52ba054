// Package cluster holds Samsa's cluster metadata and the controller: what runs when
// `samsa serve` is started with --node-id, --cluster-addr and --controller-voters (or
// --metadata-endpoints). Without those flags nothing here runs and a node is a single
// broker as before.
//
// # Roles and the metadata store
//
// Every node is a broker. Nodes listed in --controller-voters also run an embedded etcd
// member (StartMetadataServer): its peer listener is the node's --cluster-addr and its
// client listener the next port, so the voters list names every endpoint. Starting the
// voters in any order forms the quorum (each waits up to Config.StartTimeout); restarting
// one with the same flags finds its data directory and rejoins as the same member. With
// --metadata-endpoints the nodes use an external etcd instead. Every broker reaches etcd
// through the Store interface (EtcdStore), never through etcd types.
//
// # Keys
//
// Under a prefix (DefaultPrefix "/samsa/"):
//
//	cluster-id                  the cluster id, created once
//	brokers/<id>                Broker JSON on the broker's lease; its mod revision is the
//	                            broker epoch (KIP-903), so every registration gets a new one
//	shutdown/<id>               present (on the lease) while the broker is in controlled shutdown
//	unclean/<id>                an unclean restart (lost log), until the controller processed it
//	drain/<id>                  present while broker <id> is drained (maintenance mode, drain.go)
//	voters/<id>                 the etcd member id node <id> was added under as a voter (voters.go)
//	topics/<name>               Topic JSON: id, partition count, config overrides
//	partitions/<name>/<index>   PartitionState JSON: replicas, ISR, ELR, last known ELR,
//	                            leader, the leader's broker epoch, leader epoch, partition epoch,
//	                            and during a reassignment the adding and removing replicas
//	controller/<lease>          the etcd election; the lowest create revision is the controller
//	producer-ids                the next free producer id
//	scram/<mechanism>/<user>    SCRAMCredential JSON
//	acls/<binding>              ACL JSON
//	quotas/<user>/<client-id>   ClientQuota JSON (security.ClusterStore keeps these three)
//	groupconfigs/<group>        GroupConfig JSON: a group's config overrides (share.*), the
//	                            group name path-escaped (the broker's share_groups_configs.go)
//
// # Compare-and-swap discipline
//
// Every change is a Store.Commit of Ops, each conditional on the mod revision its key had
// when read (0: it must not exist), applied atomically or not at all (one etcd Txn). A
// record carries the revision it was read at (Rev), so writing back a modified copy is a
// compare-and-swap by construction. A stale writer, such as a deposed controller, a leader
// that missed its own replacement, or two brokers creating one topic, gets ErrConflict and
// rereads; it can fail, never overwrite newer metadata. Further fences ride along in the
// same Txn: the controller's writes also require its own election key (CheckRevision), and
// a leader adding replicas to the ISR requires each added broker's registration to still be
// the epoch that replica fetched with (CheckBroker). Etcd's election provides liveness only:
// Jepsen showed etcd locks cannot guarantee mutual exclusion, and nothing here relies on it.
//
// # The controller
//
// The decisions are pure functions over a Snapshot (decide.go), in the style of etcd-raft's
// RawNode: Reconcile (what broker liveness calls for), AlterISR (validating a leader's ISR
// change), AssignReplicas (Kafka's placement: leaders and followers spread, replication
// factor min(3, live brokers) by default), ElectPreferred and ElectUnclean (ElectLeaders),
// LeadsWithSuccessor (controlled shutdown), ClearableUnclean, and partition reassignment
// (reassign.go: StartReassignment, CancelReassignment, and its completion inside Reconcile). The Controller is a thin shell:
// it campaigns, and while elected watches the store and commits Reconcile's results.
//
//   - A broker whose lease expires (or that asked to shut down, or restarted unclean) leaves
//     every ISR, even if one becomes empty (KIP-966). While an ISR is below
//     min.insync.replicas, the replicas that leave it become eligible leader replicas (ELR):
//     the high watermark could not advance without them.
//   - When a leader goes, the controller elects the first live ISR member in assignment
//     order, else the first live ELR member, else (only with
//     unclean.leader.election.enable) the first live replica, else no leader
//     (LEADER_NOT_AVAILABLE); the leader epoch grows by one. Every change grows the
//     partition epoch by one.
//   - A leader leads only in the registration it was elected in (LeaderBrokerEpoch): a
//     broker that restarted is elected again in a new epoch, so two records never share an
//     offset and a leader epoch.
//   - Controlled shutdown: the broker writes its shutdown key; the controller hands each of
//     its leaderships to another live ISR member and takes it out of the ISRs, except where
//     it is the only member, which it keeps leading until its process ends.
//   - Drained brokers (drain.go) stay in their ISRs but lead nothing another live ISR member
//     can lead; preferred elections refuse them.
//   - Automatic leader rebalancing (leadership.go): every leader.imbalance.check.interval
//     the controller restores the preferred leaders of brokers whose imbalance exceeds
//     leader.imbalance.per.broker.percentage.
//   - Topic creation, config changes and ISR changes are committed by the broker that
//     handles the request, with the same compare-and-swap; they need no controller.
//
// min.insync.replicas defaults to 2 when a partition has 3 or more replicas (Kafka's
// default is 1); Policy holds the broker-level defaults and topic configs override them.
//
// # Replication rules
//
// The replica-side rules live in the pure package internal/cluster/replication (HW over the
// maximal ISR of durable offsets, only while |ISR| ≥ min.insync.replicas; ISR shrink and
// expansion; truncation by leader epoch). The model test (model_test.go) runs that code and
// this package's decisions through seeded schedules of crashes, pauses, restarts and message
// loss, checking the invariants of Vanlightly's kafka-tlaplus specification after every
// step.
package cluster
