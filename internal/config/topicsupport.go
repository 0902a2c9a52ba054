package config

import (
	"math"
	"slices"
)

// Topic configs. Every topic config Samsa accepts is read by the code, or refused when set to
// a value Samsa does not honour: CreateTopics, AlterConfigs and IncrementalAlterConfigs answer
// INVALID_CONFIG naming the config and what is missing (ValidateTopicConfig). A test walks the
// vocabulary: each name is classified, each Implemented field is read outside this package,
// and each NotImplemented one refuses a value it cannot honour.
//
// Values already stored for a topic (meta.json of an older version) are not refused at start:
// TopicSettings still reads them, so an upgrade never fails to open a topic.

// topicSupport classifies every topic config. Implemented entries name the TopicSettings
// field through which code outside this package reads it; NotImplemented entries the values
// honoured anyway (nil: none, any value set is refused).
var topicSupport = map[string]supportEntry{
	"cleanup.policy":                          implemented("CleanupCompact"),
	"compression.type":                        implemented("Compression"),
	"compression.gzip.level":                  notImplemented("the broker never recompresses batches (compression.type=producer), so a level has no effect", intIs(-1)),
	"compression.lz4.level":                   notImplemented("the broker never recompresses batches (compression.type=producer), so a level has no effect", intIs(9)),
	"compression.zstd.level":                  notImplemented("the broker never recompresses batches (compression.type=producer), so a level has no effect", intIs(3)),
	"confluent.key.schema.validation":         implemented("KeySchemaValidation"),
	"confluent.key.subject.name.strategy":     implemented("KeySubjectNameStrategy"),
	"confluent.value.schema.validation":       implemented("ValueSchemaValidation"),
	"confluent.value.subject.name.strategy":   implemented("ValueSubjectNameStrategy"),
	"delete.retention.ms":                     implemented("DeleteRetentionMs"),
	"file.delete.delay.ms":                    notImplemented("removed segments are deleted at once (readers still holding them keep their open files)", intIs(60000)),
	"flush.messages":                          notImplemented("flushing is by samsa.durability (fsync: every acknowledged batch) and flush.ms, not by message count", intIs(math.MaxInt64)),
	"flush.ms":                                implemented("FlushMs"),
	"follower.replication.throttled.replicas": notImplemented("replication throttling is not implemented", emptyList),
	"index.interval.bytes":                    implemented("IndexIntervalBytes"),
	"leader.replication.throttled.replicas":   notImplemented("replication throttling is not implemented", emptyList),
	"local.retention.bytes":                   notImplemented("tiered storage is not implemented", intIs(-2)),
	"local.retention.ms":                      notImplemented("tiered storage is not implemented", intIs(-2)),
	"max.compaction.lag.ms":                   notImplemented("compaction is not forced by record age", intIs(math.MaxInt64)),
	"max.message.bytes":                       implemented("MaxMessageBytes"),
	"message.downconversion.enable":           notImplemented("batches are never converted to older message formats", boolIs(true)),
	// Deprecated: Kafka 3 ignores it too (every batch is written in format v2).
	"message.format.version":              ignored("deprecated; Kafka 3 ignores it as well: every batch is written in message format v2"),
	"message.timestamp.after.max.ms":      implemented("TimestampAfterMaxMs"),
	"message.timestamp.before.max.ms":     implemented("TimestampBeforeMaxMs"),
	"message.timestamp.difference.max.ms": implemented("TimestampBeforeMaxMs"), // folded into before/after, as Kafka 3.9 does
	"message.timestamp.type":              implemented("TimestampType"),
	"min.cleanable.dirty.ratio":           implemented("MinCleanableDirtyRatio"),
	"min.compaction.lag.ms":               implemented("MinCompactionLagMs"),
	"min.insync.replicas":                 implemented("MinInsyncReplicas"),
	"preallocate":                         notImplemented("segment files are not preallocated to segment.bytes (only a few MiB of zeros ahead of the data)", boolIs(false)),
	"remote.log.copy.disable":             notImplemented("tiered storage is not implemented", boolIs(false)),
	"remote.log.delete.on.disable":        notImplemented("tiered storage is not implemented", boolIs(false)),
	"remote.storage.enable":               notImplemented("tiered storage is not implemented", boolIs(false)),
	"retention.bytes":                     implemented("RetentionBytes"),
	"retention.ms":                        implemented("RetentionMs"),
	"segment.bytes":                       implemented("SegmentBytes"),
	"segment.index.bytes":                 notImplemented("offset indexes grow as needed and have no size cap", intIs(10485760)),
	"segment.jitter.ms":                   notImplemented("segments roll without jitter", intIs(0)),
	"segment.ms":                          implemented("SegmentMs"),
	"unclean.leader.election.enable":      notImplemented("unclean leader election is not implemented", boolIs(false)),
}

func emptyList(v value) bool { return len(v.list) == 0 }

// TopicSupport returns how Samsa treats the topic config name, and for Ignored and
// NotImplemented configs the reason. ok is false for a name outside the vocabulary.
func TopicSupport(name string) (s Support, why string, ok bool) {
	e, ok := topicSupport[name]
	return e.support, e.why, ok
}

// checkTopicSupported refuses a valid value of a topic config that Samsa does not honour.
func checkTopicSupported(d *Def, raw string) error {
	e, ok := topicSupport[d.Name]
	if !ok || e.support != NotImplemented {
		return nil
	}
	if e.honoured != nil {
		if v, err := d.parse(raw); err == nil && e.honoured(v) {
			return nil
		}
	}
	return &ValueError{Name: d.Name, Value: raw, Reason: "not supported by Samsa: " + e.why}
}

// topicSupportNames lists the classified names (tests).
func topicSupportNames() []string {
	var out []string
	for k := range topicSupport {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
