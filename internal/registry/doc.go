// Package registry is Samsa's schema registry: Confluent Schema Registry's REST API over
// schemas kept in a compacted Kafka topic (_schemas), in Confluent's own record formats.
//
// # Model
//
// A subject (usually "<topic>-key" or "<topic>-value") is a list of versions 1, 2, 3, ...; each
// version is a schema, and every distinct schema has a global id. Registering a schema under a
// subject that already holds it returns its id; registering it under another subject reuses
// the id; a new schema gets the largest id ever assigned plus one, so ids are never reused,
// even after a permanent delete. A version can be soft-deleted (hidden, still readable by id
// and with deleted=true) and then permanently deleted. Configs (compatibility level, normalize)
// and modes (READWRITE, READONLY, IMPORT) exist globally and per subject.
//
// Before a version is added, the new schema is checked against the subject's live versions
// under the subject's compatibility level (compat.go): Avro schemas by Avro's
// schema-resolution rules (github.com/twmb/avro), JSON Schema and Protobuf schemas by
// Confluent's difference rules (diff.go, compat_json.go, compat_protobuf.go): a diff between
// the writer's and the reader's schema lists typed differences, compatible or not. JSON Schema
// is compiled by github.com/santhosh-tekuri/jsonschema/v6 (jsonschema.go), Protobuf by
// github.com/bufbuild/protocompile (protobuf.go); references resolve $refs and imports.
//
// # Storage
//
// The topic is the only copy (records.go draws the formats). Every registry follows it from
// the beginning and applies each record to an in-memory state (state.go); applying is
// deterministic, so registries reading one topic agree. A write operation (ops.go):
//
//  1. catches up with the topic's end offset (other registries may have written),
//  2. plans the records on that state (validation, compatibility, id and version choice),
//  3. produces them with acks=all and waits until its own reader has applied them,
//  4. verifies its SCHEMA records took: a record that contradicts the state when applied
//     (another registry wrote the same version or the same id first) is ignored by every
//     reader, and the loser rewrites the winner's value under that key (so compaction keeps
//     what readers applied) and plans again; a lost record whose key nobody has reused by the
//     end of the operation is removed with a tombstone.
//
// An HTTP request is answered only after step 3, so a client that reads after a write sees it,
// on this registry and, once they catch up, on every other.
//
// The topic is created (1 partition, cleanup.policy=compact) by the first write; until it
// exists the registry is empty and looks for it every Config.TopicPollInterval.
//
// # Concurrency
//
// One reader goroutine applies records under mu's write lock; requests read the state under
// its read lock. Write operations are serialized by writeMu (held across the whole
// catch-up/plan/write/verify sequence; taken before mu). ValidateSchemaID, which the broker's
// produce path calls, only takes mu's read lock.
package registry
