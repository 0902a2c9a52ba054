package config

import (
	"errors"
	"slices"
	"strconv"
	"strings"
)

const (
	maxLong = "9223372036854775807"
	maxInt  = "2147483647"
)

// listeners checks a listeners value: NAME://host:port[,NAME://host:port...]
// with host possibly empty or a bracketed IPv6 address.
func listeners(v value) error {
	if v.s == "" {
		return errors.New("at least one listener is required")
	}
	seen := make(map[string]bool)
	for _, l := range strings.Split(v.s, ",") {
		l = trim(l)
		name, hostport, ok := strings.Cut(l, "://")
		if !ok || name == "" || strings.ContainsFunc(name, func(r rune) bool {
			return !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z')
		}) {
			return errors.New("listener " + strconv.Quote(l) + " is not of the form NAME://host:port")
		}
		i := strings.LastIndexByte(hostport, ':')
		if i < 0 {
			return errors.New("listener " + strconv.Quote(l) + " has no port")
		}
		host, port := hostport[:i], hostport[i+1:]
		if strings.HasPrefix(host, "[") != strings.HasSuffix(host, "]") {
			return errors.New("listener " + strconv.Quote(l) + " has a malformed IPv6 host")
		}
		if p, err := strconv.Atoi(port); err != nil || !allDigits(port) || p > 65535 {
			return errors.New("listener " + strconv.Quote(l) + " has an invalid port")
		}
		if seen[strings.ToUpper(name)] {
			return errors.New("listener name " + name + " is used twice")
		}
		seen[strings.ToUpper(name)] = true
	}
	return nil
}

func optionalListeners(v value) error {
	if v.s == "" {
		return nil
	}
	return listeners(v)
}

// someDirs requires at least one non-empty directory in a comma-separated
// list.
func someDirs(v value) error {
	if len(splitCSV(v.s)) == 0 {
		return errors.New("at least one log directory is required")
	}
	return nil
}

// nonZero rejects 0 (used for the retention time keys, whose resolved value
// must be -1 or at least 1).
func nonZero(v value) error {
	if v.i == 0 {
		return errors.New("Value must be unlimited (-1) or at least 1")
	}
	return nil
}

var (
	retentionGroup = []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}
	rollGroup      = []string{"log.roll.ms", "log.roll.hours"}
	jitterGroup    = []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}
	flushMsGroup   = []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"}
)

const unusedDoc = " Accepted for compatibility; Samsa does not use it."

// brokerDefList is every broker config, sorted by name at init.
var brokerDefList = []*Def{
	// Identity and network.
	{Name: "node.id", Type: TypeInt, Default: "0", ValidValues: "[0,...]", check: atLeast(0), alias: "broker.id",
		field: func(b *Broker) any { return &b.NodeID },
		Doc:   "The id of this node. Samsa's default is 0 (Kafka requires it to be set); broker.id is the same setting."},
	{Name: "broker.id", Type: TypeInt, Default: "0", ValidValues: "[0,...]", check: atLeast(0), alias: "node.id",
		field: func(b *Broker) any { return &b.NodeID },
		Doc:   "The id of this broker; the same setting as node.id."},
	{Name: "broker.rack", Type: TypeString, NullDefault: true,
		field: func(b *Broker) any { return &b.Rack },
		Doc:   "The rack of this broker, returned in Metadata responses."},
	{Name: "listeners", Type: TypeString, Default: "PLAINTEXT://:9092", check: listeners,
		field: func(b *Broker) any { return &b.Listeners },
		Doc:   "The comma-separated NAME://host:port addresses the broker listens on; an empty host binds every interface."},
	{Name: "advertised.listeners", Type: TypeString, NullDefault: true, check: optionalListeners,
		field: func(b *Broker) any { return &b.AdvertisedListeners },
		Doc:   "The addresses given to clients in Metadata responses, if different from listeners."},
	{Name: "socket.request.max.bytes", Type: TypeInt, Default: "104857600", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.SocketRequestMaxBytes },
		Doc:   "The largest request the broker reads; a larger frame closes the connection."},
	{Name: "socket.send.buffer.bytes", Type: TypeInt, Default: "102400",
		field: func(b *Broker) any { return &b.SocketSendBufferBytes },
		Doc:   "The SO_SNDBUF size of client connections; -1 keeps the OS default."},
	{Name: "socket.receive.buffer.bytes", Type: TypeInt, Default: "102400",
		field: func(b *Broker) any { return &b.SocketRecvBufferBytes },
		Doc:   "The SO_RCVBUF size of client connections; -1 keeps the OS default."},
	{Name: "connections.max.idle.ms", Type: TypeLong, Default: "600000",
		field: func(b *Broker) any { return &b.ConnectionsMaxIdleMs },
		Doc:   "Idle connections are closed after this many milliseconds."},
	{Name: "log.dir", Type: TypeString, Default: "/tmp/samsa-logs", check: someDirs, apply: (*Broker).resolveLogDirs,
		Doc: "The directory holding the log data, used when log.dirs is not set."},
	{Name: "log.dirs", Type: TypeString, NullDefault: true, check: someDirs, apply: (*Broker).resolveLogDirs,
		Doc: "A comma-separated list of directories holding the log data; overrides log.dir."},
	{Name: "samsa.durability", Type: TypeString, Default: DurabilityFsync, ValidValues: "[fsync, pagecache]",
		check: oneOf(DurabilityFsync, DurabilityPageCache),
		field: func(b *Broker) any { return &b.Durability },
		Doc: "When acks=all is answered: fsync waits until the data is fsynced (group commit); " +
			"pagecache answers once it is in the OS page cache, as Kafka does."},
	{Name: "samsa.scrub.bytes.per.second", Type: TypeLong, Default: "4194304", ValidValues: "[0,...]", check: atLeast(0),
		field: func(b *Broker) any { return &b.ScrubBytesPerSecond },
		Doc: "How fast a background scrubber re-reads closed segments and verifies their CRCs " +
			"(bytes per second over all partitions; 0 turns it off). A corrupt batch it finds is " +
			"logged and never served again: fetches of it get an error instead of the bytes."},
	{Name: "samsa.request.memory.max.bytes", Type: TypeLong, Default: "1073741824", ValidValues: "[-1,...]", check: atLeast(-1),
		field: func(b *Broker) any { return &b.RequestMemoryMaxBytes },
		Doc: "The memory the requests read and not yet answered may take, over all connections; -1 or 0: no bound. " +
			"A request other than Produce is counted at 100 times its size (what decoding its arrays may allocate), " +
			"a larger one at the whole budget; while the budget is spent, connections wait before reading their next request. " +
			"Kafka's queued.max.request.bytes bounds request bytes the same way, without the decoding."},
	{Name: "samsa.log.max.open.files", Type: TypeInt, Default: "0", ValidValues: "[0,...]", check: atLeast(0),
		field: func(b *Broker) any { return &b.LogMaxOpenFiles },
		Doc: "How many segment files the partitions may hold open at once: idle ones are closed and " +
			"reopened when used, so the descriptors do not grow with the number of partitions. " +
			"0 (the default) means half of the process's descriptor limit (RLIMIT_NOFILE)."},
	{Name: "samsa.console.read.only", Type: TypeBoolean, Default: "false",
		field: func(b *Broker) any { return &b.ConsoleReadOnly },
		Doc:   "The web console and its /api/ show but refuse every change (create, alter, delete, produce, reset offsets)."},
	{Name: "samsa.console.sample.interval.ms", Type: TypeLong, Default: "5000", ValidValues: "[100,...]", check: atLeast(100),
		field: func(b *Broker) any { return &b.ConsoleSampleIntervalMs },
		Doc:   "How often the console samples throughput, log sizes and consumer-group lag (charts and the gauges of /metrics)."},
	{Name: "samsa.metrics.partition.labels", Type: TypeBoolean, Default: "false",
		field: func(b *Broker) any { return &b.MetricsPartitionLabels },
		Doc:   "/metrics adds per-partition series (samsa_partition_*), one per partition and group."},
	{Name: "fetch.max.bytes", Type: TypeInt, Default: "57671680", ValidValues: "[1024,...]", check: atLeast(1024),
		field: func(b *Broker) any { return &b.FetchMaxBytes },
		Doc:   "The most bytes a fetch response returns across all partitions."},
	{Name: "max.incremental.fetch.session.cache.slots", Type: TypeInt, Default: "1000", ValidValues: "[0,...]", check: atLeast(0),
		field: func(b *Broker) any { return &b.FetchSessionCacheSlots },
		Doc:   "The most incremental fetch sessions the broker keeps."},

	// Topic creation.
	{Name: "num.partitions", Type: TypeInt, Default: "1", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.NumPartitions },
		Doc:   "The partition count of topics created without one (auto-created or partitions -1)."},
	{Name: "default.replication.factor", Type: TypeInt, Default: "1", ValidValues: "[1,...,32767]", check: between(1, 32767),
		field: func(b *Broker) any { return &b.DefaultReplicationFactor },
		Doc:   "The replication factor of topics created without one."},
	{Name: "auto.create.topics.enable", Type: TypeBoolean, Default: "true",
		field: func(b *Broker) any { return &b.AutoCreateTopics },
		Doc:   "Whether a Metadata request or a produce to an unknown topic creates it."},
	{Name: "delete.topic.enable", Type: TypeBoolean, Default: "true",
		field: func(b *Broker) any { return &b.DeleteTopicEnable },
		Doc:   "Whether DeleteTopics is allowed."},

	// Log defaults.
	{Name: "message.max.bytes", Type: TypeInt, Default: "1048588", ValidValues: "[0,...]", check: atLeast(0),
		field: func(b *Broker) any { return &b.MessageMaxBytes },
		Doc:   "The largest record batch a topic accepts, by default (max.message.bytes)."},
	{Name: "log.segment.bytes", Type: TypeInt, Default: "1073741824", ValidValues: "[14,...]", check: atLeast(14),
		field: func(b *Broker) any { return &b.LogSegmentBytes },
		Doc:   "The size at which a segment is rolled, by default (segment.bytes)."},
	{Name: "log.roll.ms", Type: TypeLong, NullDefault: true, ValidValues: "[1,...]", check: atLeast(1),
		BrokerSynonyms: rollGroup, apply: (*Broker).resolveRoll,
		Doc: "The age in milliseconds at which a segment is rolled; overrides log.roll.hours (segment.ms)."},
	{Name: "log.roll.hours", Type: TypeInt, Default: "168", ValidValues: "[1,...]", check: atLeast(1),
		BrokerSynonyms: rollGroup, apply: (*Broker).resolveRoll,
		Doc: "The age in hours at which a segment is rolled, when log.roll.ms is not set."},
	{Name: "log.roll.jitter.ms", Type: TypeLong, NullDefault: true, ValidValues: "[0,...]", check: atLeast(0),
		BrokerSynonyms: jitterGroup, apply: (*Broker).resolveRollJitter,
		Doc: "The most random jitter in milliseconds subtracted from the roll age; overrides log.roll.jitter.hours."},
	{Name: "log.roll.jitter.hours", Type: TypeInt, Default: "0", ValidValues: "[0,...]", check: atLeast(0),
		BrokerSynonyms: jitterGroup, apply: (*Broker).resolveRollJitter,
		Doc: "The most random jitter in hours subtracted from the roll age, when log.roll.jitter.ms is not set."},
	{Name: "log.retention.ms", Type: TypeLong, NullDefault: true, check: nonZero,
		BrokerSynonyms: retentionGroup, apply: (*Broker).resolveRetention,
		Doc: "How long data is kept, in milliseconds; -1 keeps it forever. Overrides log.retention.minutes and .hours."},
	{Name: "log.retention.minutes", Type: TypeInt, NullDefault: true, check: nonZero,
		BrokerSynonyms: retentionGroup, apply: (*Broker).resolveRetention,
		Doc: "How long data is kept, in minutes, when log.retention.ms is not set."},
	{Name: "log.retention.hours", Type: TypeInt, Default: "168", check: nonZero,
		BrokerSynonyms: retentionGroup, apply: (*Broker).resolveRetention,
		Doc: "How long data is kept, in hours, when neither log.retention.ms nor .minutes is set."},
	{Name: "log.retention.bytes", Type: TypeLong, Default: "-1",
		field: func(b *Broker) any { return &b.LogRetentionBytes },
		Doc:   "The most bytes a partition keeps before old segments are deleted; -1 means no limit (retention.bytes)."},
	{Name: "log.retention.check.interval.ms", Type: TypeLong, Default: "300000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.LogRetentionCheckIntervalMs },
		Doc:   "How often retention is enforced."},
	{Name: "log.cleanup.policy", Type: TypeList, Default: "delete", ValidValues: "[compact, delete]", check: listOf("compact", "delete"),
		field: func(b *Broker) any { return &b.LogCleanupPolicy },
		Doc:   "The default cleanup policy: delete old segments, compact by key, or both (cleanup.policy)."},
	{Name: "log.index.size.max.bytes", Type: TypeInt, Default: "10485760", ValidValues: "[4,...]", check: atLeast(4),
		field: func(b *Broker) any { return &b.LogIndexSizeMaxBytes },
		Doc:   "The largest offset index of a segment (segment.index.bytes)."},
	{Name: "log.index.interval.bytes", Type: TypeInt, Default: "4096", ValidValues: "[0,...]", check: atLeast(0),
		field: func(b *Broker) any { return &b.LogIndexIntervalBytes },
		Doc:   "How many bytes are appended between offset index entries (index.interval.bytes)."},
	{Name: "log.flush.interval.messages", Type: TypeLong, Default: maxLong, ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.LogFlushIntervalMessages },
		Doc:   "Force an fsync after this many messages are appended to a partition (flush.messages)."},
	{Name: "log.flush.interval.ms", Type: TypeLong, NullDefault: true, ValidValues: "[0,...]", check: atLeast(0),
		BrokerSynonyms: flushMsGroup, apply: (*Broker).resolveFlushMs,
		Doc: "Force an fsync when unflushed data is this old; defaults to log.flush.scheduler.interval.ms (flush.ms)."},
	{Name: "log.flush.scheduler.interval.ms", Type: TypeLong, Default: maxLong,
		BrokerSynonyms: flushMsGroup, apply: (*Broker).resolveFlushMs,
		field: func(b *Broker) any { return &b.LogFlushSchedulerIntervalMs },
		Doc:   "How often the flusher checks whether a log needs an fsync."},
	{Name: "log.segment.delete.delay.ms", Type: TypeLong, Default: "60000", ValidValues: "[0,...]", check: atLeast(0),
		field: func(b *Broker) any { return &b.LogSegmentDeleteDelayMs },
		Doc:   "How long a removed segment's files are kept before deletion (file.delete.delay.ms)."},
	{Name: "log.preallocate", Type: TypeBoolean, Default: "false",
		field: func(b *Broker) any { return &b.LogPreallocate },
		Doc:   "Whether new segment files are preallocated to their full size (preallocate)."},
	{Name: "log.message.format.version", Type: TypeString, Default: "3.0-IV1", check: metadataVersion, Deprecated: true,
		field: func(b *Broker) any { return &b.LogMessageFormatVersion },
		Doc:   "Deprecated and ignored: record batches are always stored in format v2 (message.format.version)."},
	{Name: "log.message.timestamp.type", Type: TypeString, Default: "CreateTime", ValidValues: "[CreateTime, LogAppendTime]",
		check: oneOf("CreateTime", "LogAppendTime"),
		field: func(b *Broker) any { return &b.LogMessageTimestampType },
		Doc:   "Whether record timestamps are the producer's (CreateTime) or the broker's append time (message.timestamp.type)."},
	{Name: "log.message.timestamp.difference.max.ms", Type: TypeLong, Default: maxLong, ValidValues: "[0,...]", check: atLeast(0), Deprecated: true,
		field: func(b *Broker) any { return &b.LogMessageTimestampDifferenceMaxMs },
		Doc:   "Deprecated: the largest allowed distance between a CreateTime timestamp and the broker's clock."},
	{Name: "log.message.timestamp.before.max.ms", Type: TypeLong, Default: maxLong, ValidValues: "[0,...]", check: atLeast(0),
		field: func(b *Broker) any { return &b.LogMessageTimestampBeforeMaxMs },
		Doc:   "How far in the past a CreateTime timestamp may be (message.timestamp.before.max.ms)."},
	{Name: "log.message.timestamp.after.max.ms", Type: TypeLong, Default: maxLong, ValidValues: "[0,...]", check: atLeast(0),
		field: func(b *Broker) any { return &b.LogMessageTimestampAfterMaxMs },
		Doc:   "How far in the future a CreateTime timestamp may be (message.timestamp.after.max.ms)."},
	{Name: "log.message.downconversion.enable", Type: TypeBoolean, Default: "true",
		field: func(b *Broker) any { return &b.LogMessageDownconversionEnable },
		Doc:   "Whether fetches by old clients may convert batches to older formats (message.downconversion.enable)."},
	{Name: "log.local.retention.ms", Type: TypeLong, Default: "-2", ValidValues: "[-2,...]", check: atLeast(-2),
		field: func(b *Broker) any { return &b.LogLocalRetentionMs },
		Doc:   "Tiered storage only: local retention time; -2 means retention.ms (local.retention.ms)."},
	{Name: "log.local.retention.bytes", Type: TypeLong, Default: "-2", ValidValues: "[-2,...]", check: atLeast(-2),
		field: func(b *Broker) any { return &b.LogLocalRetentionBytes },
		Doc:   "Tiered storage only: local retention size; -2 means retention.bytes (local.retention.bytes)."},
	{Name: "log.cleaner.enable", Type: TypeBoolean, Default: "true",
		field: func(b *Broker) any { return &b.LogCleanerEnable },
		Doc:   "Whether the log cleaner compacts topics with cleanup.policy=compact."},
	{Name: "log.cleaner.backoff.ms", Type: TypeLong, Default: "15000", ValidValues: "[0,...]", check: atLeast(0),
		field: func(b *Broker) any { return &b.LogCleanerBackoffMs },
		Doc:   "How long the cleaner sleeps when there is nothing to clean."},
	{Name: "log.cleaner.delete.retention.ms", Type: TypeLong, Default: "86400000", ValidValues: "[0,...]", check: atLeast(0),
		field: func(b *Broker) any { return &b.LogCleanerDeleteRetentionMs },
		Doc:   "How long tombstones are kept in compacted topics (delete.retention.ms)."},
	{Name: "log.cleaner.min.compaction.lag.ms", Type: TypeLong, Default: "0", ValidValues: "[0,...]", check: atLeast(0),
		field: func(b *Broker) any { return &b.LogCleanerMinCompactionLagMs },
		Doc:   "The least time a record stays uncompacted (min.compaction.lag.ms)."},
	{Name: "log.cleaner.max.compaction.lag.ms", Type: TypeLong, Default: maxLong, ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.LogCleanerMaxCompactionLagMs },
		Doc:   "The most time a record stays uncompacted (max.compaction.lag.ms)."},
	{Name: "log.cleaner.min.cleanable.ratio", Type: TypeDouble, Default: "0.5", ValidValues: "[0,...,1]", check: betweenDouble(0, 1),
		field: func(b *Broker) any { return &b.LogCleanerMinCleanableRatio },
		Doc:   "The dirty fraction of a log that makes it eligible for cleaning (min.cleanable.dirty.ratio)."},
	{Name: "compression.type", Type: TypeString, Default: "producer", ValidValues: "[uncompressed, zstd, lz4, snappy, gzip, producer]",
		check: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
		field: func(b *Broker) any { return &b.CompressionType },
		Doc:   "The default compression of stored batches; producer keeps what the producer sent (compression.type)."},
	{Name: "compression.gzip.level", Type: TypeInt, Default: "-1", ValidValues: "[1,...,9] or -1", check: gzipLevel,
		field: func(b *Broker) any { return &b.CompressionGzipLevel },
		Doc:   "The gzip level used when the broker compresses with gzip."},
	{Name: "compression.lz4.level", Type: TypeInt, Default: "9", ValidValues: "[1,...,17]", check: between(1, 17),
		field: func(b *Broker) any { return &b.CompressionLz4Level },
		Doc:   "The lz4 level used when the broker compresses with lz4."},
	{Name: "compression.zstd.level", Type: TypeInt, Default: "3", ValidValues: "[-131072,...,22]", check: between(-131072, 22),
		field: func(b *Broker) any { return &b.CompressionZstdLevel },
		Doc:   "The zstd level used when the broker compresses with zstd."},
	{Name: "min.insync.replicas", Type: TypeInt, Default: "1", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.MinInsyncReplicas },
		Doc:   "The fewest in-sync replicas an acks=all produce needs (min.insync.replicas)."},
	{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false",
		field: func(b *Broker) any { return &b.UncleanLeaderElectionEnable },
		Doc:   "Whether an out-of-sync replica may become leader, losing data (unclean.leader.election.enable)."},

	// Group coordinator.
	{Name: "offsets.topic.num.partitions", Type: TypeInt, Default: "50", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.OffsetsTopicNumPartitions },
		Doc:   "The partition count of __consumer_offsets; fixed once the topic exists."},
	{Name: "offsets.topic.replication.factor", Type: TypeShort, Default: "1", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.OffsetsTopicReplicationFactor },
		Doc:   "The replication factor of __consumer_offsets. Samsa's default is 1 (Kafka: 3)."},
	{Name: "offsets.topic.segment.bytes", Type: TypeInt, Default: "104857600", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.OffsetsTopicSegmentBytes },
		Doc:   "The segment size of __consumer_offsets."},
	{Name: "offsets.retention.minutes", Type: TypeInt, Default: "10080", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.OffsetsRetentionMinutes },
		Doc:   "How long committed offsets of an empty group are kept."},
	{Name: "offsets.retention.check.interval.ms", Type: TypeLong, Default: "600000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.OffsetsRetentionCheckIntervalMs },
		Doc:   "How often expired offsets are removed."},
	{Name: "offsets.commit.timeout.ms", Type: TypeInt, Default: "5000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.OffsetsCommitTimeoutMs },
		Doc:   "How long an offset commit waits for its write to be acknowledged."},
	{Name: "offset.metadata.max.bytes", Type: TypeInt, Default: "4096",
		field: func(b *Broker) any { return &b.OffsetMetadataMaxBytes },
		Doc:   "The longest metadata string an offset commit may carry."},
	{Name: "group.min.session.timeout.ms", Type: TypeInt, Default: "6000",
		field: func(b *Broker) any { return &b.GroupMinSessionTimeoutMs },
		Doc:   "The shortest session timeout a group member may ask for."},
	{Name: "group.max.session.timeout.ms", Type: TypeInt, Default: "1800000",
		field: func(b *Broker) any { return &b.GroupMaxSessionTimeoutMs },
		Doc:   "The longest session timeout a group member may ask for."},
	{Name: "group.initial.rebalance.delay.ms", Type: TypeInt, Default: "3000",
		field: func(b *Broker) any { return &b.GroupInitialRebalanceDelayMs },
		Doc:   "How long an empty group waits for more members before its first rebalance."},
	{Name: "group.max.size", Type: TypeInt, Default: maxInt, ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.GroupMaxSize },
		Doc:   "The most members a consumer group may have."},
	{Name: "group.consumer.session.timeout.ms", Type: TypeInt, Default: "45000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.GroupConsumerSessionTimeoutMs },
		Doc:   "The session timeout of members using the consumer group protocol (KIP-848)."},
	{Name: "group.consumer.heartbeat.interval.ms", Type: TypeInt, Default: "5000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.GroupConsumerHeartbeatIntervalMs },
		Doc:   "The heartbeat interval given to members using the consumer group protocol (KIP-848)."},
	{Name: "group.consumer.max.size", Type: TypeInt, Default: maxInt, ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.GroupConsumerMaxSize },
		Doc:   "The most members a consumer-protocol (KIP-848) group may have."},
	{Name: "group.consumer.migration.policy", Type: TypeString, Default: "bidirectional", ValidValues: "[disabled, upgrade, downgrade, bidirectional]",
		check: oneOf("disabled", "upgrade", "downgrade", "bidirectional"),
		field: func(b *Broker) any { return &b.GroupConsumerMigrationPolicy },
		Doc:   "Which online conversions between classic and consumer-protocol groups happen while they have members (KIP-848, KIP-1099)."},

	// Share groups (KIP-932).
	{Name: "group.share.record.lock.duration.ms", Type: TypeInt, Default: "30000", ValidValues: "[1000,...,3600000]", check: between(1000, 3600000),
		field: func(b *Broker) any { return &b.GroupShareRecordLockDurationMs },
		Doc:   "How long a record delivered to a share-group consumer stays acquired by it before it is delivered again (a group's share.record.lock.duration.ms overrides it)."},
	{Name: "group.share.delivery.count.limit", Type: TypeInt, Default: "5", ValidValues: "[2,...,10]", check: between(2, 10),
		field: func(b *Broker) any { return &b.GroupShareDeliveryCountLimit },
		Doc:   "Deliveries of a record to a share group after which it is archived instead of delivered again."},
	{Name: "group.share.partition.max.record.locks", Type: TypeInt, Default: "2000", ValidValues: "[100,...,10000]", check: between(100, 10000),
		field: func(b *Broker) any { return &b.GroupSharePartitionMaxRecordLocks },
		Doc:   "The most records of a share-partition in flight (acquired or waiting for an earlier offset to finish)."},
	{Name: "group.share.session.timeout.ms", Type: TypeInt, Default: "45000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.GroupShareSessionTimeoutMs },
		Doc:   "A share-group member that does not heartbeat for this long is removed and its records released."},
	{Name: "group.share.heartbeat.interval.ms", Type: TypeInt, Default: "5000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.GroupShareHeartbeatIntervalMs },
		Doc:   "The heartbeat interval given to share-group members."},
	{Name: "group.share.max.size", Type: TypeInt, Default: "200", ValidValues: "[1,...,1000]", check: between(1, 1000),
		field: func(b *Broker) any { return &b.GroupShareMaxSize },
		Doc:   "The most members a share group may have."},
	{Name: "group.share.max.share.sessions", Type: TypeInt, Default: "2000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.GroupShareMaxShareSessions },
		Doc:   "The most share sessions (ShareFetch) the broker keeps."},
	{Name: "share.coordinator.state.topic.num.partitions", Type: TypeInt, Default: "50", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.ShareStateTopicNumPartitions },
		Doc:   "The partitions of __share_group_state, fixed when share groups are first used."},

	// Transactions.
	{Name: "transactional.id.expiration.ms", Type: TypeInt, Default: "604800000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.TransactionalIDExpirationMs },
		Doc:   "How long an idle transactional id is kept."},
	{Name: "transaction.max.timeout.ms", Type: TypeInt, Default: "900000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.TransactionMaxTimeoutMs },
		Doc:   "The longest transaction timeout a producer may ask for."},
	{Name: "transaction.state.log.num.partitions", Type: TypeInt, Default: "50", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.TransactionStateLogNumPartitions },
		Doc:   "The partition count of __transaction_state; fixed once the topic exists."},
	{Name: "transaction.state.log.replication.factor", Type: TypeShort, Default: "1", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.TransactionStateLogReplicationFactor },
		Doc:   "The replication factor of __transaction_state. Samsa's default is 1 (Kafka: 3)."},
	{Name: "transaction.state.log.min.isr", Type: TypeInt, Default: "1", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.TransactionStateLogMinISR },
		Doc:   "min.insync.replicas of __transaction_state. Samsa's default is 1 (Kafka: 2)."},
	{Name: "transaction.state.log.segment.bytes", Type: TypeInt, Default: "104857600", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.TransactionStateLogSegmentBytes },
		Doc:   "The segment size of __transaction_state."},
	{Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: TypeInt, Default: "10000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.TransactionAbortTimedOutCleanupIntervalMs },
		Doc:   "How often transactions past their timeout are aborted."},
	{Name: "transaction.remove.expired.transaction.cleanup.interval.ms", Type: TypeInt, Default: "3600000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.TransactionRemoveExpiredCleanupIntervalMs },
		Doc:   "How often expired transactional ids are removed."},
	{Name: "transaction.partition.verification.enable", Type: TypeBoolean, Default: "true",
		field: func(b *Broker) any { return &b.TransactionPartitionVerificationEnable },
		Doc:   "Whether transactional produces are checked against the partitions added to the transaction."},
	{Name: "producer.id.expiration.ms", Type: TypeInt, Default: "86400000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.ProducerIDExpirationMs },
		Doc:   "How long the state of an idle producer id is kept."},
	{Name: "producer.id.expiration.check.interval.ms", Type: TypeInt, Default: "600000", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.ProducerIDExpirationCheckIntervalMs },
		Doc:   "How often expired producer ids are removed."},

	// Accepted so that Kafka's stock server.properties loads; not used.
	{Name: "process.roles", Type: TypeList, Default: "", ValidValues: "[broker, controller]", check: listOf("broker", "controller"), Unused: true,
		Doc: "The KRaft roles of this node." + unusedDoc},
	{Name: "controller.quorum.voters", Type: TypeList, Default: "", Unused: true,
		Doc: "The KRaft controller quorum." + unusedDoc},
	{Name: "controller.quorum.bootstrap.servers", Type: TypeList, Default: "", Unused: true,
		Doc: "The addresses used to find the KRaft controllers." + unusedDoc},
	{Name: "controller.listener.names", Type: TypeString, NullDefault: true, Unused: true,
		Doc: "The listeners used by KRaft controllers." + unusedDoc},
	{Name: "inter.broker.listener.name", Type: TypeString, NullDefault: true, Unused: true,
		Doc: "The listener brokers use among themselves." + unusedDoc},
	{Name: "listener.security.protocol.map", Type: TypeString, Default: "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT",
		readRaw: true,
		Doc:     "The security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) of each listener name: NAME:PROTOCOL,..."},
	{Name: "metadata.log.dir", Type: TypeString, NullDefault: true, Unused: true,
		Doc: "The directory of the KRaft metadata log." + unusedDoc},
	{Name: "num.network.threads", Type: TypeInt, Default: "3", ValidValues: "[1,...]", check: atLeast(1), Unused: true,
		Doc: "Network threads." + unusedDoc},
	{Name: "num.io.threads", Type: TypeInt, Default: "8", ValidValues: "[1,...]", check: atLeast(1), Unused: true,
		Doc: "Request handler threads." + unusedDoc},
	{Name: "background.threads", Type: TypeInt, Default: "10", ValidValues: "[1,...]", check: atLeast(1), Unused: true,
		Doc: "Background task threads." + unusedDoc},
	{Name: "queued.max.requests", Type: TypeInt, Default: "500", ValidValues: "[1,...]", check: atLeast(1), Unused: true,
		Doc: "Queued requests before network threads stop reading." + unusedDoc},
	{Name: "num.recovery.threads.per.data.dir", Type: TypeInt, Default: "1", ValidValues: "[1,...]", check: atLeast(1), Unused: true,
		Doc: "Threads per data directory for recovery and shutdown." + unusedDoc},
	{Name: "num.replica.fetchers", Type: TypeInt, Default: "1", Unused: true,
		Doc: "Replica fetcher threads." + unusedDoc},
	{Name: "log.cleaner.threads", Type: TypeInt, Default: "1", ValidValues: "[0,...]", check: atLeast(0), Unused: true,
		Doc: "Log cleaner threads." + unusedDoc},
	{Name: "log.cleaner.dedupe.buffer.size", Type: TypeLong, Default: "134217728", Unused: true,
		Doc: "Memory for log cleaner deduplication." + unusedDoc},
	{Name: "log.flush.offset.checkpoint.interval.ms", Type: TypeInt, Default: "60000", ValidValues: "[0,...]", check: atLeast(0), Unused: true,
		Doc: "How often the recovery point is checkpointed." + unusedDoc},
	{Name: "auto.leader.rebalance.enable", Type: TypeBoolean, Default: "true",
		field: func(b *Broker) any { return &b.AutoLeaderRebalanceEnable },
		Doc:   "Whether the cluster's controller moves leadership back to preferred replicas (auto.leader.rebalance.enable)."},
	{Name: "leader.imbalance.check.interval.seconds", Type: TypeLong, Default: "300", ValidValues: "[1,...]", check: atLeast(1),
		field: func(b *Broker) any { return &b.LeaderImbalanceCheckIntervalSeconds },
		Doc:   "How often the controller checks the leader balance (leader.imbalance.check.interval.seconds)."},
	{Name: "leader.imbalance.per.broker.percentage", Type: TypeInt, Default: "10", ValidValues: "[0,...,100]", check: between(0, 100),
		field: func(b *Broker) any { return &b.LeaderImbalancePerBrokerPercentage },
		Doc:   "The share of a broker's preferred partitions led elsewhere above which the controller restores their preferred leaders."},
	{Name: "offsets.load.buffer.size", Type: TypeInt, Default: "5242880", ValidValues: "[1,...]", check: atLeast(1), Unused: true,
		Doc: "Read buffer for loading offsets." + unusedDoc},
	{Name: "transaction.state.log.load.buffer.size", Type: TypeInt, Default: "5242880", ValidValues: "[1,...]", check: atLeast(1), Unused: true,
		Doc: "Read buffer for loading transaction state." + unusedDoc},
	{Name: "replica.lag.time.max.ms", Type: TypeLong, Default: "30000", Unused: true,
		Doc: "How long a follower may lag before leaving the ISR." + unusedDoc},
}

var brokerIndex = make(map[string]*Def)

func init() {
	slices.SortFunc(brokerDefList, func(a, b *Def) int { return strings.Compare(a.Name, b.Name) })
	for _, d := range brokerDefList {
		if brokerIndex[d.Name] != nil {
			panic("config: duplicate broker config " + d.Name)
		}
		d.ReadOnly = true
		if d.Type == TypePassword {
			d.Sensitive = true
		}
		brokerIndex[d.Name] = d
	}
	slices.SortFunc(topicDefList, func(a, b *Def) int { return strings.Compare(a.Name, b.Name) })
	for _, d := range topicDefList {
		if topicIndex[d.Name] != nil {
			panic("config: duplicate topic config " + d.Name)
		}
		topicIndex[d.Name] = d
	}
	initDefaultBroker()
}

// BrokerDef returns the broker config named name.
func BrokerDef(name string) (*Def, bool) {
	d, ok := brokerIndex[name]
	return d, ok
}

// BrokerDefs returns every broker config, sorted by name. The slice is a
// copy; the Defs are shared and must not be modified.
func BrokerDefs() []*Def { return slices.Clone(brokerDefList) }
