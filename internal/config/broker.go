package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Values of samsa.durability (Broker.Durability).
const (
	// DurabilityFsync ("fsync", the default): a produce request with
	// acks=all (-1) is answered only after every batch it appended is on
	// stable storage — the segment file is fsynced past the batch (and the
	// partition directory too when the append created a segment) — so an
	// acknowledged batch survives a Samsa crash, an OS crash and a power
	// loss. Concurrent appends share fsyncs (group commit: one flusher syncs
	// everything appended so far and releases every waiter it covers), so
	// the cost is about one fsync per flush round, not one per request.
	// Writes the broker makes for itself with acks=all semantics (offset
	// commits, group metadata, transaction state and markers) wait for the
	// fsync as well. acks=1 is answered once the batch is in the OS page
	// cache and acks=0 gets no answer, as in Kafka; flush.messages and
	// flush.ms still force extra syncs.
	DurabilityFsync = "fsync"
	// DurabilityPageCache ("pagecache") is Kafka's behaviour: every
	// produce is answered once its batches are in the OS page cache. Data
	// reaches the disk when the OS writes it back, when flush.messages or
	// flush.ms force a sync, when a segment is rolled, and on a clean
	// shutdown. An acknowledged batch survives a Samsa crash but may be
	// lost on an OS crash or power loss (Kafka relies on replicas for that;
	// a single Samsa node has none). Recovery still truncates a torn tail,
	// so the log stays consistent, only shorter.
	DurabilityPageCache = "pagecache"
)

// Broker is the broker's static configuration: Kafka's broker configs that
// Samsa uses, parsed, plus Raw, the keys explicitly set. Each field names
// the config it holds. Start from DefaultBroker (the zero Broker has zero
// limits and is not usable), apply the properties file and flags with
// ParseProperties and Set, then call Validate.
//
// Fields may also be assigned directly (tests do); Validate checks them.
// DescribeBroker and TopicValue report a source other than DEFAULT_CONFIG
// only for keys present in Raw.
//
// A Broker is a plain value: it is not safe for concurrent mutation, and
// concurrent reads are safe.
type Broker struct {
	// Cluster is set when the node runs as one of a cluster (not a config key: the serve
	// flags decide); CheckSupported then accepts the settings replication reads.
	Cluster bool

	// Identity and network.
	NodeID                  int32    // node.id (alias broker.id)
	Rack                    string   // broker.rack; "" = none
	Listeners               string   // listeners, e.g. "PLAINTEXT://:9092"
	AdvertisedListeners     string   // advertised.listeners; "" = same as Listeners
	SocketRequestMaxBytes   int32    // socket.request.max.bytes
	SocketSendBufferBytes   int32    // socket.send.buffer.bytes; -1 = OS default
	SocketRecvBufferBytes   int32    // socket.receive.buffer.bytes; -1 = OS default
	ConnectionsMaxIdleMs    int64    // connections.max.idle.ms
	LogDirs                 []string // log.dirs, else log.dir (comma separated)
	Durability              string   // samsa.durability: DurabilityFsync or DurabilityPageCache
	FetchMaxBytes           int32    // fetch.max.bytes
	FetchSessionCacheSlots  int32    // max.incremental.fetch.session.cache.slots
	ConsoleReadOnly         bool     // samsa.console.read.only
	ScrubBytesPerSecond     int64    // samsa.scrub.bytes.per.second
	LogMaxOpenFiles         int32    // samsa.log.max.open.files
	ConsoleSampleIntervalMs int64    // samsa.console.sample.interval.ms
	MetricsPartitionLabels  bool     // samsa.metrics.partition.labels
	RequestMemoryMaxBytes   int64    // samsa.request.memory.max.bytes; <= 0 = unbounded

	// Topic creation.
	NumPartitions            int32 // num.partitions
	DefaultReplicationFactor int16 // default.replication.factor
	AutoCreateTopics         bool  // auto.create.topics.enable
	DeleteTopicEnable        bool  // delete.topic.enable

	// Log defaults: the broker synonyms of the topic configs.
	MessageMaxBytes                     int32    // message.max.bytes (max.message.bytes)
	LogSegmentBytes                     int32    // log.segment.bytes (segment.bytes)
	LogRollMs                           int64    // log.roll.ms, else log.roll.hours × 3600000 (segment.ms)
	LogRollJitterMs                     int64    // log.roll.jitter.ms, else log.roll.jitter.hours × 3600000 (segment.jitter.ms)
	LogRetentionMs                      int64    // log.retention.ms, else .minutes × 60000, else .hours × 3600000; negative = -1 (retention.ms)
	LogRetentionBytes                   int64    // log.retention.bytes (retention.bytes)
	LogRetentionCheckIntervalMs         int64    // log.retention.check.interval.ms
	LogCleanupPolicy                    []string // log.cleanup.policy (cleanup.policy)
	LogIndexSizeMaxBytes                int32    // log.index.size.max.bytes (segment.index.bytes)
	LogIndexIntervalBytes               int32    // log.index.interval.bytes (index.interval.bytes)
	LogFlushIntervalMessages            int64    // log.flush.interval.messages (flush.messages)
	LogFlushIntervalMs                  int64    // log.flush.interval.ms, else log.flush.scheduler.interval.ms (flush.ms)
	LogFlushSchedulerIntervalMs         int64    // log.flush.scheduler.interval.ms
	LogSegmentDeleteDelayMs             int64    // log.segment.delete.delay.ms (file.delete.delay.ms)
	LogPreallocate                      bool     // log.preallocate (preallocate)
	LogMessageFormatVersion             string   // log.message.format.version (message.format.version), deprecated
	LogMessageTimestampType             string   // log.message.timestamp.type (message.timestamp.type)
	LogMessageTimestampDifferenceMaxMs  int64    // log.message.timestamp.difference.max.ms, deprecated
	LogMessageTimestampBeforeMaxMs      int64    // log.message.timestamp.before.max.ms
	LogMessageTimestampAfterMaxMs       int64    // log.message.timestamp.after.max.ms
	LogMessageDownconversionEnable      bool     // log.message.downconversion.enable
	LogLocalRetentionMs                 int64    // log.local.retention.ms (local.retention.ms)
	LogLocalRetentionBytes              int64    // log.local.retention.bytes (local.retention.bytes)
	LogCleanerEnable                    bool     // log.cleaner.enable
	LogCleanerBackoffMs                 int64    // log.cleaner.backoff.ms
	LogCleanerDeleteRetentionMs         int64    // log.cleaner.delete.retention.ms (delete.retention.ms)
	LogCleanerMinCompactionLagMs        int64    // log.cleaner.min.compaction.lag.ms (min.compaction.lag.ms)
	LogCleanerMaxCompactionLagMs        int64    // log.cleaner.max.compaction.lag.ms (max.compaction.lag.ms)
	LogCleanerMinCleanableRatio         float64  // log.cleaner.min.cleanable.ratio (min.cleanable.dirty.ratio)
	CompressionType                     string   // compression.type
	CompressionGzipLevel                int32    // compression.gzip.level
	CompressionLz4Level                 int32    // compression.lz4.level
	CompressionZstdLevel                int32    // compression.zstd.level
	MinInsyncReplicas                   int32    // min.insync.replicas
	UncleanLeaderElectionEnable         bool     // unclean.leader.election.enable
	AutoLeaderRebalanceEnable           bool     // auto.leader.rebalance.enable
	LeaderImbalanceCheckIntervalSeconds int64    // leader.imbalance.check.interval.seconds
	LeaderImbalancePerBrokerPercentage  int32    // leader.imbalance.per.broker.percentage

	// Group coordinator.
	OffsetsTopicNumPartitions        int32  // offsets.topic.num.partitions
	OffsetsTopicReplicationFactor    int16  // offsets.topic.replication.factor
	OffsetsTopicSegmentBytes         int32  // offsets.topic.segment.bytes
	OffsetsRetentionMinutes          int32  // offsets.retention.minutes
	OffsetsRetentionCheckIntervalMs  int64  // offsets.retention.check.interval.ms
	OffsetsCommitTimeoutMs           int32  // offsets.commit.timeout.ms
	OffsetMetadataMaxBytes           int32  // offset.metadata.max.bytes
	GroupMinSessionTimeoutMs         int32  // group.min.session.timeout.ms
	GroupMaxSessionTimeoutMs         int32  // group.max.session.timeout.ms
	GroupInitialRebalanceDelayMs     int32  // group.initial.rebalance.delay.ms
	GroupMaxSize                     int32  // group.max.size
	GroupConsumerSessionTimeoutMs    int32  // group.consumer.session.timeout.ms
	GroupConsumerHeartbeatIntervalMs int32  // group.consumer.heartbeat.interval.ms
	GroupConsumerMaxSize             int32  // group.consumer.max.size
	GroupConsumerMigrationPolicy     string // group.consumer.migration.policy

	// Share groups (KIP-932).
	GroupShareRecordLockDurationMs    int32 // group.share.record.lock.duration.ms
	GroupShareDeliveryCountLimit      int32 // group.share.delivery.count.limit
	GroupSharePartitionMaxRecordLocks int32 // group.share.partition.max.record.locks
	GroupShareSessionTimeoutMs        int32 // group.share.session.timeout.ms
	GroupShareHeartbeatIntervalMs     int32 // group.share.heartbeat.interval.ms
	GroupShareMaxSize                 int32 // group.share.max.size
	GroupShareMaxShareSessions        int32 // group.share.max.share.sessions
	ShareStateTopicNumPartitions      int32 // share.coordinator.state.topic.num.partitions

	// Transactions and idempotence.
	TransactionalIDExpirationMs               int32 // transactional.id.expiration.ms
	TransactionMaxTimeoutMs                   int32 // transaction.max.timeout.ms
	TransactionStateLogNumPartitions          int32 // transaction.state.log.num.partitions
	TransactionStateLogReplicationFactor      int16 // transaction.state.log.replication.factor
	TransactionStateLogMinISR                 int32 // transaction.state.log.min.isr
	TransactionStateLogSegmentBytes           int32 // transaction.state.log.segment.bytes
	TransactionAbortTimedOutCleanupIntervalMs int32 // transaction.abort.timed.out.transaction.cleanup.interval.ms
	TransactionRemoveExpiredCleanupIntervalMs int32 // transaction.remove.expired.transaction.cleanup.interval.ms
	TransactionPartitionVerificationEnable    bool  // transaction.partition.verification.enable
	ProducerIDExpirationMs                    int32 // producer.id.expiration.ms
	ProducerIDExpirationCheckIntervalMs       int32 // producer.id.expiration.check.interval.ms

	// Raw holds every key set through Set or ParseProperties, with the
	// value as given (last one wins). It decides the sources DescribeBroker
	// and TopicValue report.
	Raw map[string]string
}

// defaultBroker is built once at init from the Defs' defaults.
var defaultBroker Broker

func initDefaultBroker() {
	b := &defaultBroker
	for _, d := range brokerDefList {
		if d.field == nil || d.NullDefault {
			continue
		}
		v, err := d.parse(d.Default)
		if err != nil {
			panic("config: bad default: " + err.Error())
		}
		if err := assign(d.field(b), &v); err != nil {
			panic("config: bad default for " + d.Name + ": " + err.Error())
		}
	}
	b.resolveAll()
}

// DefaultBroker returns the default broker configuration: Kafka 3.9's
// defaults except for the Samsa deviations listed in the package
// documentation. Raw is empty and non-nil.
func DefaultBroker() Broker {
	b := defaultBroker.Clone()
	return b
}

// Clone returns a deep copy of b.
func (b *Broker) Clone() Broker {
	c := *b
	c.LogDirs = slices.Clone(b.LogDirs)
	c.LogCleanupPolicy = slices.Clone(b.LogCleanupPolicy)
	c.Raw = maps.Clone(b.Raw)
	if c.Raw == nil {
		c.Raw = make(map[string]string)
	}
	return c
}

// Set applies one broker config, as a line of the properties file or a
// flag would. An unknown key returns an *UnknownConfigError (matching
// ErrUnknownConfig); an invalid value returns a *ValueError (matching
// ErrInvalidValue) and leaves b unchanged. Cross-config rules (e.g.
// group.min.session.timeout.ms <= group.max.session.timeout.ms) are checked
// by Validate, since a later key may fix them.
func (b *Broker) Set(key, val string) error {
	if strings.HasPrefix(key, "listener.name.") {
		return b.setListenerOverride(key, val)
	}
	d, ok := brokerIndex[key]
	if !ok {
		e := &UnknownConfigError{Kind: "broker", Name: key}
		if td, ok := topicIndex[key]; ok {
			if len(td.BrokerSynonyms) > 0 {
				e.Hint = "a topic config; its broker default is " + td.BrokerSynonyms[0]
			} else {
				e.Hint = "a topic config with no broker default"
			}
		} else {
			e.Hint = unimplementedFeature(key)
		}
		return e
	}
	v, err := d.parse(val)
	if err != nil {
		return err
	}
	if d.alias != "" {
		if other, ok := b.Raw[d.alias]; ok {
			if ov, err := brokerIndex[d.alias].parse(other); err == nil && ov.i != v.i {
				return &ValueError{Name: key, Value: val,
					Reason: fmt.Sprintf("conflicts with %s=%s; they name the same setting", d.alias, other)}
			}
		}
	}
	if d.field != nil {
		if err := assign(d.field(b), &v); err != nil {
			return &ValueError{Name: key, Value: val, Reason: err.Error()}
		}
	}
	if b.Raw == nil {
		b.Raw = make(map[string]string)
	}
	b.Raw[key] = val
	if d.apply != nil {
		d.apply(b)
	}
	return nil
}

// unimplementedFeature names the Kafka feature an unknown key belongs to, when Samsa lacks
// that feature, so that the error says more than "unknown".
func unimplementedFeature(key string) string {
	has := func(prefixes ...string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(key, p) {
				return true
			}
		}
		return false
	}
	switch {
	case has("ssl.", "sasl.", "listener.name.", "security.", "authorizer.", "super.users", "principal.builder.",
		"allow.everyone.if.no.acl.found", "connections.max.reauth.ms", "delegation.token."):
		return "not a security setting Samsa serves (PEM keystores, SASL PLAIN and SCRAM, the ACL authorizer: see docs/security.md)"
	case has("quota.", "client.quota.", "producer_byte_rate", "consumer_byte_rate"):
		return "client quotas are set with AlterClientQuotas (kafka-configs --entity-type users|clients), not in the properties file"
	case has("metric.", "metrics.", "kafka.metrics."):
		return "metrics reporters are not implemented yet"
	case has("remote.log.", "remote.storage."):
		return "tiered storage is not implemented"
	}
	return ""
}

// rawValue returns the parsed value of key from Raw.
func (b *Broker) rawValue(key string) (value, bool) {
	s, ok := b.Raw[key]
	if !ok {
		return value{}, false
	}
	v, err := brokerIndex[key].parse(s)
	if err != nil {
		return value{}, false
	}
	return v, true
}

// rawOrDefault returns the parsed value of key from Raw, else its default.
func (b *Broker) rawOrDefault(key string) value {
	if v, ok := b.rawValue(key); ok {
		return v
	}
	v, _ := brokerIndex[key].parse(brokerIndex[key].Default)
	return v
}

const (
	msPerMinute = 60 * 1000
	msPerHour   = 60 * msPerMinute
)

func (b *Broker) resolveAll() {
	b.resolveRetention()
	b.resolveRoll()
	b.resolveRollJitter()
	b.resolveFlushMs()
	b.resolveLogDirs()
}

func (b *Broker) resolveRetention() {
	var ms int64
	if v, ok := b.rawValue("log.retention.ms"); ok {
		ms = v.i
	} else if v, ok := b.rawValue("log.retention.minutes"); ok {
		ms = v.i * msPerMinute
	} else {
		ms = b.rawOrDefault("log.retention.hours").i * msPerHour
	}
	if ms < 0 {
		ms = -1
	}
	b.LogRetentionMs = ms
}

func (b *Broker) resolveRoll() {
	if v, ok := b.rawValue("log.roll.ms"); ok {
		b.LogRollMs = v.i
		return
	}
	b.LogRollMs = b.rawOrDefault("log.roll.hours").i * msPerHour
}

func (b *Broker) resolveRollJitter() {
	if v, ok := b.rawValue("log.roll.jitter.ms"); ok {
		b.LogRollJitterMs = v.i
		return
	}
	b.LogRollJitterMs = b.rawOrDefault("log.roll.jitter.hours").i * msPerHour
}

func (b *Broker) resolveFlushMs() {
	if v, ok := b.rawValue("log.flush.interval.ms"); ok {
		b.LogFlushIntervalMs = v.i
		return
	}
	b.LogFlushIntervalMs = b.LogFlushSchedulerIntervalMs
}

func (b *Broker) resolveLogDirs() {
	s, ok := b.Raw["log.dirs"]
	if !ok {
		s, ok = b.Raw["log.dir"]
	}
	if !ok {
		s = brokerIndex["log.dir"].Default
	}
	b.LogDirs = splitCSV(s)
}

// splitCSV splits a comma-separated list, trimming elements and dropping
// empty ones (Kafka's parseCsvList).
func splitCSV(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = trim(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// Validate checks the whole configuration, including fields assigned
// directly and rules that span configs. It returns nil or an error joining
// every problem found; each matches ErrInvalidValue.
func (b *Broker) Validate() error {
	var errs []error
	for _, d := range brokerDefList {
		if d.field == nil || d.alias == "node.id" {
			continue
		}
		if d.NullDefault && fieldString(d.field(b)) == "" {
			continue
		}
		if err := d.Validate(fieldString(d.field(b))); err != nil {
			errs = append(errs, err)
		}
	}
	bad := func(name string, v any, reason string) {
		errs = append(errs, &ValueError{Name: name, Value: fmt.Sprint(v), Reason: reason})
	}
	if b.LogRetentionMs == 0 || b.LogRetentionMs < -1 {
		bad("log.retention.ms", b.LogRetentionMs, "log.retention.ms must be unlimited (-1) or, equal or greater than 1")
	}
	if b.LogRollMs < 1 {
		bad("log.roll.ms", b.LogRollMs, "Value must be at least 1")
	}
	if b.LogRollJitterMs < 0 {
		bad("log.roll.jitter.ms", b.LogRollJitterMs, "Value must be at least 0")
	}
	if b.LogFlushIntervalMs < 0 {
		bad("log.flush.interval.ms", b.LogFlushIntervalMs, "Value must be at least 0")
	}
	if len(b.LogDirs) == 0 {
		bad("log.dirs", "", "at least one log directory is required")
	}
	for _, d := range b.LogDirs {
		if trim(d) == "" {
			bad("log.dirs", strings.Join(b.LogDirs, ","), "empty log directory")
			break
		}
	}
	if b.GroupMinSessionTimeoutMs > b.GroupMaxSessionTimeoutMs {
		errs = append(errs, fmt.Errorf("%w: group.min.session.timeout.ms (%d) > group.max.session.timeout.ms (%d)",
			ErrInvalidValue, b.GroupMinSessionTimeoutMs, b.GroupMaxSessionTimeoutMs))
	}
	if b.LogCleanerMinCompactionLagMs > b.LogCleanerMaxCompactionLagMs {
		errs = append(errs, fmt.Errorf("%w: conflict broker config setting log.cleaner.min.compaction.lag.ms (%d) > log.cleaner.max.compaction.lag.ms (%d)",
			ErrInvalidValue, b.LogCleanerMinCompactionLagMs, b.LogCleanerMaxCompactionLagMs))
	}
	return errors.Join(errs...)
}

// UnusedKeys returns the keys in Raw that Samsa accepts but does not act on
// (Def.Unused), sorted, so that the server can log them.
func (b *Broker) UnusedKeys() []string {
	var out []string
	for k := range b.Raw {
		if d, ok := brokerIndex[k]; ok && d.Unused {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// DescribeBroker returns what DescribeConfigs returns for this broker: every
// broker config, sorted by name, or only those named in names when names is
// non-nil (unknown names are skipped, as Kafka does). Values are the parsed
// values; a config with a null default that was not set has Null set. The
// synonyms list the keys of the same setting that are set
// (STATIC_BROKER_CONFIG) and then their defaults (DEFAULT_CONFIG), starting
// at the described name as Kafka does.
func (b *Broker) DescribeBroker(names []string) []Entry {
	var want map[string]bool
	if names != nil {
		want = make(map[string]bool, len(names))
		for _, n := range names {
			want[n] = true
		}
	}
	out := make([]Entry, 0, len(brokerDefList))
	for _, d := range brokerDefList {
		if want != nil && !want[d.Name] {
			continue
		}
		out = append(out, b.describeBrokerEntry(d))
	}
	return out
}

func (b *Broker) describeBrokerEntry(d *Def) Entry {
	e := Entry{Name: d.Name, Type: d.Type, Doc: d.Doc, ReadOnly: d.ReadOnly, Sensitive: d.Sensitive}
	raw, set := b.Raw[d.Name]
	switch {
	case d.field != nil:
		e.Value = fieldString(d.field(b))
		e.Null = d.NullDefault && !set && e.Value == ""
	case set:
		e.Value = d.canonical(raw)
	case d.NullDefault:
		e.Null = true
	default:
		e.Value = d.Default
	}

	group := d.BrokerSynonyms
	if group == nil {
		group = []string{d.Name}
	}
	if d.alias != "" {
		group = []string{d.Name, d.alias}
	}
	var syns []Synonym
	for _, n := range group {
		if r, ok := b.Raw[n]; ok {
			syns = append(syns, Synonym{Name: n, Value: brokerIndex[n].canonical(r), Source: SourceStaticBroker})
		}
	}
	for _, n := range group {
		if sd := brokerIndex[n]; !sd.NullDefault && (d.alias == "" || n == d.Name) {
			syns = append(syns, Synonym{Name: n, Value: sd.Default, Source: SourceDefault})
		}
	}
	if d.alias == "" {
		for len(syns) > 0 && syns[0].Name != d.Name {
			syns = syns[1:]
		}
	}
	e.Source = SourceDefault
	if len(syns) > 0 {
		e.Source = syns[0].Source
	}
	e.IsDefault = e.Source == SourceDefault
	if d.Sensitive {
		e.Value, e.Null = "", true
		for i := range syns {
			syns[i].Value, syns[i].Null = "", true
		}
	}
	e.Synonyms = syns
	return e
}
