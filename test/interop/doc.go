// Package interop holds Samsa's client interoperability and crash tests.
// It has no non-test code; everything lives in _test.go files.
//
// The model: a broker must be accepted unchanged by every mainstream Kafka
// client, so each test drives a real client library or tool against a
// broker and asserts what the client observes, cross-checked where useful
// with franz-go as the reference reader (e.g. the compression codec each
// stored batch carries).
//
//   - franz_test.go, sarama_test.go, kafkago_test.go: franz-go (kgo, kadm),
//     IBM/sarama (library default protocol version and a recent one) and
//     segmentio/kafka-go: every codec round trip with keys, null keys,
//     headers and timestamps; metadata; admin; a two-member consumer
//     group (group_test.go); idempotent producers.
//   - kcat_test.go: Debian's kcat (librdkafka 2.0) as a subprocess.
//   - kafkajs_test.go: KafkaJS 2.x via test/node/kafkajs-interop.js, which
//     prints one JSON object the test checks.
//   - serde_test.go: the serde package's CloudEvents envelopes and
//     Confluent-framed Avro, read and written through the registry by the
//     CloudEvents JavaScript SDK and @kafkajs/confluent-schema-registry
//     (test/node/serde-interop.js).
//   - schema_formats_test.go: Protobuf and JSON Schema in the Confluent wire
//     format between `samsa produce --value-schema` / `consume --decode` and
//     confluent-kafka-python's serializers (test/python/confluent_serde_interop.py)
//     and @kafkajs/confluent-schema-registry's JSON Schema serde
//     (test/node/json-schema-interop.js), both ways.
//   - process_test.go: the real `samsa serve` binary on a data directory:
//     SIGKILL durability, clean restart, retention and compaction.
//   - txn_process_test.go: transactions under SIGKILL, checked in the style of
//     Jepsen (all or nothing, exactly once, acknowledged outcomes, order), and a
//     consume–transform–produce copy (GroupTransactSession) that must output
//     every input exactly once across crashes.
//   - sarama_txn_test.go, confluent_txn_test.go (librdkafka through Debian's
//     python3-confluent-kafka, test/python/confluent_txn_interop.py) and
//     kafkajs_test.go (test/node/kafkajs-txn.js): each client's
//     transactional producer, offsets in transactions and read_committed.
//
// How a test gets a broker is decided in broker_test.go only: startBroker
// (in-process, one per test) and startProcess (the binary, built once per
// run, or $SAMSA_BIN). testdata/fakesamsa is a kfake-based stand-in for
// the binary, used to check the process tests themselves.
//
// External tools: a test needing kcat, node or the kafkajs package skips
// when it is missing, except with CI=true, where it fails; .ci/run
// installs them.
package interop
