// Package javaops runs Apache Kafka's own command-line tools and the reference Java producer
// (Kafka 4.1.1's jars, the classpath test/kafkaref resolves) against a cluster of real
// `samsa serve` processes started by test/cluster/harness (issue 16):
//
//   - kafka-reassign-partitions moves replicas between brokers (--generate, --execute,
//     --verify until complete) while the Java producer writes with acks=all, and cancels a
//     move in flight (--cancel) whose new replica is down; kafka-leader-election restores
//     preferred leaders after a broker restart; kafka-topics --describe, kafka-log-dirs
//     --describe and kafka-metadata-quorum answer as the cluster's own Metadata says;
//   - the Java producer (acks=all, idempotent) runs through a rolling restart of three nodes
//     beside a franz-go producer, and both latencies are logged from the same run;
//   - share groups (KIP-932) with kafka-share-groups (--describe --offsets, --members,
//     --state, --list, --delete, --delete-offsets), kafka-console-share-consumer and
//     kafka-share-consumer-perf-test on three nodes: every
//     record read once, start offsets at the partitions' ends, and a console share consumer
//     through kill -9 of its group's coordinator (nothing durably acknowledged read again,
//     the rest at least once). 4.1.1's kafka-share-groups does not implement
//     --reset-offsets: ShareOffsets.java resets with the Admin client instead;
//   - Kafka's VerifiableShareConsumer (acknowledging with commitSync, the group config
//     share.auto.offset.reset=earliest set by the tool) runs while a franz-go producer
//     writes and the group's coordinator is killed with kill -9 and restarted: no record
//     delivered again after its acknowledgement was answered successfully, every record
//     written acknowledged.
//
// Every acknowledged record is read back: none lost, none duplicated (test/cluster/history).
// Without java or the classpath the tests skip, except under CI=true, where they fail.
package javaops
