package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Support says what Samsa does with a broker config that is set.
//
// Every broker config of the vocabulary is in exactly one class (a test keeps the table in
// step with the vocabulary and checks that each Implemented key is read outside this
// package):
//
//   - Implemented: read by the code and acted on.
//   - Ignored: accepted, and named in a log line at start, because it has no meaning in
//     Samsa's design (thread counts, read buffers, KRaft plumbing that a single Samsa node
//     does not need). Ignoring it changes nothing a client can observe.
//   - NotImplemented: a feature Samsa does not have yet. Setting it refuses the start
//     (ErrNotImplemented), because running without it would silently differ from what the
//     operator asked for — above all for security: a broker asked for TLS must never serve
//     plaintext. A few such configs accept the values a single node honours by construction
//     (a replication factor of 1, for example).
//
// Implemented and Ignored configs may still refuse particular values (listeners with a
// security protocol other than PLAINTEXT, a second log directory, a multi-node KRaft quorum).
type Support uint8

const (
	Implemented Support = iota
	Ignored
	NotImplemented
)

func (s Support) String() string {
	switch s {
	case Implemented:
		return "implemented"
	case Ignored:
		return "ignored"
	case NotImplemented:
		return "not implemented"
	}
	return "Support(" + strconv.Itoa(int(s)) + ")"
}

// ErrNotImplemented is matched by the errors CheckSupported returns: a config set to a value
// Samsa cannot honour yet.
var ErrNotImplemented = errors.New("not implemented")

// NotImplementedError is a config set to a value Samsa does not implement.
type NotImplementedError struct {
	Name, Value string
	Reason      string // what is missing, and what to do instead
}

func (e *NotImplementedError) Error() string {
	return fmt.Sprintf("%s=%s is not supported: %s", e.Name, e.Value, e.Reason)
}

func (e *NotImplementedError) Is(target error) bool { return target == ErrNotImplemented }

// supportEntry is how Samsa treats one broker config.
type supportEntry struct {
	support Support
	// why, for Ignored and NotImplemented: what the operator is told.
	why string
	// readAs, for Implemented: the field (of Broker or TopicSettings) or Broker method through
	// which the code outside this package reads it.
	readAs string
	// honoured, for NotImplemented: the values a single node honours anyway (nil: none).
	honoured func(v value) bool
	// cluster, for NotImplemented: the setting is implemented when the node runs as one of a
	// cluster (Broker.Cluster), and refused only on a single node.
	cluster bool
}

const (
	whyCluster = "Samsa runs a single node; replication and the KRaft quorum are not implemented yet"
	whySingle  = "a single node has no replicas: start it as one of a cluster (--controller-voters or --metadata-endpoints, docs/cluster.md) to use it"
	whyTuning  = "a tuning knob with no counterpart in Samsa (goroutines, not thread pools)"
)

func implemented(readAs string) supportEntry {
	return supportEntry{support: Implemented, readAs: readAs}
}
func ignored(why string) supportEntry { return supportEntry{support: Ignored, why: why} }
func notImplemented(why string, honoured func(v value) bool) supportEntry {
	return supportEntry{support: NotImplemented, why: why, honoured: honoured}
}

// inCluster is a setting the cluster's controller and leaders read (cluster.Policy): refused
// on a single node unless honoured, implemented in cluster mode.
func inCluster(honoured func(v value) bool) supportEntry {
	return supportEntry{support: NotImplemented, why: whySingle, honoured: honoured, cluster: true}
}

func intIs(n int64) func(v value) bool     { return func(v value) bool { return v.i == n } }
func boolIs(b bool) func(v value) bool     { return func(v value) bool { return v.b == b } }
func stringIs(s string) func(v value) bool { return func(v value) bool { return v.s == s } }

// brokerSupport classifies every broker config.
var brokerSupport = map[string]supportEntry{
	// Identity and network.
	"node.id":                                   implemented("NodeID"),
	"broker.id":                                 implemented("NodeID"),
	"broker.rack":                               notImplemented("Metadata responses do not carry racks yet", nil),
	"listeners":                                 implemented("ServedListeners"), // each with its protocol (internal/security)
	"advertised.listeners":                      implemented("AdvertisedListeners"),
	"socket.request.max.bytes":                  implemented("SocketRequestMaxBytes"),
	"socket.send.buffer.bytes":                  implemented("SocketSendBufferBytes"),
	"socket.receive.buffer.bytes":               implemented("SocketRecvBufferBytes"),
	"connections.max.idle.ms":                   implemented("ConnectionsMaxIdleMs"),
	"log.dir":                                   implemented("LogDirs"),
	"log.dirs":                                  implemented("LogDirs"), // one directory: checkLogDirs
	"samsa.durability":                          implemented("Durability"),
	"samsa.console.read.only":                   implemented("ConsoleReadOnly"),
	"samsa.scrub.bytes.per.second":              implemented("ScrubBytesPerSecond"),
	"samsa.log.max.open.files":                  implemented("LogMaxOpenFiles"),
	"samsa.request.memory.max.bytes":            implemented("RequestMemoryMaxBytes"),
	"samsa.console.sample.interval.ms":          implemented("ConsoleSampleIntervalMs"),
	"samsa.metrics.partition.labels":            implemented("MetricsPartitionLabels"),
	"fetch.max.bytes":                           implemented("FetchMaxBytes"),
	"max.incremental.fetch.session.cache.slots": notImplemented("incremental fetch sessions (KIP-227) are not implemented; clients fall back to full fetches", nil),

	// Topic creation.
	"num.partitions":             implemented("NumPartitions"),
	"default.replication.factor": implemented("DefaultReplicationFactor"),
	"auto.create.topics.enable":  implemented("AutoCreateTopics"),
	"delete.topic.enable":        notImplemented("DeleteTopics is always allowed", boolIs(true)),

	// Log defaults (read through the topic settings).
	"message.max.bytes":                       implemented("MaxMessageBytes"),
	"log.segment.bytes":                       implemented("SegmentBytes"),
	"log.roll.ms":                             implemented("SegmentMs"),
	"log.roll.hours":                          implemented("SegmentMs"),
	"log.roll.jitter.ms":                      notImplemented("segments roll without jitter", intIs(0)),
	"log.roll.jitter.hours":                   notImplemented("segments roll without jitter", intIs(0)),
	"log.retention.ms":                        implemented("RetentionMs"),
	"log.retention.minutes":                   implemented("RetentionMs"),
	"log.retention.hours":                     implemented("RetentionMs"),
	"log.retention.bytes":                     implemented("RetentionBytes"),
	"log.retention.check.interval.ms":         implemented("LogRetentionCheckIntervalMs"),
	"log.cleanup.policy":                      implemented("CleanupCompact"),
	"log.index.size.max.bytes":                notImplemented("offset indexes grow as needed and have no size cap", nil),
	"log.index.interval.bytes":                implemented("IndexIntervalBytes"),
	"log.flush.interval.messages":             notImplemented("flushing is by samsa.durability and log.flush.interval.ms, not by message count", nil),
	"log.flush.interval.ms":                   implemented("FlushMs"),
	"log.flush.scheduler.interval.ms":         implemented("FlushMs"),
	"log.segment.delete.delay.ms":             notImplemented("removed segments are deleted at once", nil),
	"log.preallocate":                         notImplemented("segment files are not preallocated", boolIs(false)),
	"log.message.format.version":              ignored("deprecated: batches are always stored in format v2"),
	"log.message.timestamp.type":              implemented("TimestampType"),
	"log.message.timestamp.difference.max.ms": implemented("TimestampBeforeMaxMs"),
	"log.message.timestamp.before.max.ms":     implemented("TimestampBeforeMaxMs"),
	"log.message.timestamp.after.max.ms":      implemented("TimestampAfterMaxMs"),
	"log.message.downconversion.enable":       notImplemented("batches are never converted to older message formats", nil),
	"log.local.retention.ms":                  notImplemented("tiered storage is not implemented", intIs(-2)),
	"log.local.retention.bytes":               notImplemented("tiered storage is not implemented", intIs(-2)),
	"log.cleaner.enable":                      notImplemented("the log cleaner always runs for compacted topics", boolIs(true)),
	"log.cleaner.backoff.ms":                  implemented("LogCleanerBackoffMs"),
	"log.cleaner.delete.retention.ms":         implemented("DeleteRetentionMs"),
	"log.cleaner.min.compaction.lag.ms":       implemented("MinCompactionLagMs"),
	"log.cleaner.max.compaction.lag.ms":       notImplemented("compaction is not forced by record age", nil),
	"log.cleaner.min.cleanable.ratio":         implemented("MinCleanableDirtyRatio"),
	"compression.type":                        notImplemented("the broker stores batches as the producer compressed them", stringIs("producer")),
	"compression.gzip.level":                  notImplemented("the broker never recompresses", nil),
	"compression.lz4.level":                   notImplemented("the broker never recompresses", nil),
	"compression.zstd.level":                  notImplemented("the broker never recompresses", nil),
	"min.insync.replicas":                     inCluster(intIs(1)),
	"unclean.leader.election.enable":          inCluster(boolIs(false)),

	// Group coordinator.
	"offsets.topic.num.partitions":                 implemented("OffsetsTopicNumPartitions"),
	"offsets.topic.replication.factor":             notImplemented(whyCluster, intIs(1)),
	"offsets.topic.segment.bytes":                  implemented("OffsetsTopicSegmentBytes"),
	"offsets.retention.minutes":                    implemented("OffsetsRetentionMinutes"),
	"offsets.retention.check.interval.ms":          notImplemented("expired offsets are removed on the coordinator's own schedule", nil),
	"offsets.commit.timeout.ms":                    notImplemented("offset commits wait for their write without this bound", nil),
	"offset.metadata.max.bytes":                    notImplemented("offset commit metadata is not limited yet", nil),
	"group.min.session.timeout.ms":                 implemented("GroupMinSessionTimeoutMs"),
	"group.max.session.timeout.ms":                 implemented("GroupMaxSessionTimeoutMs"),
	"group.initial.rebalance.delay.ms":             implemented("GroupInitialRebalanceDelayMs"),
	"group.max.size":                               implemented("GroupMaxSize"),
	"group.consumer.session.timeout.ms":            implemented("GroupConsumerSessionTimeoutMs"),
	"group.consumer.heartbeat.interval.ms":         implemented("GroupConsumerHeartbeatIntervalMs"),
	"group.consumer.max.size":                      implemented("GroupConsumerMaxSize"),
	"group.consumer.migration.policy":              implemented("GroupConsumerMigrationPolicy"),
	"group.share.record.lock.duration.ms":          implemented("GroupShareRecordLockDurationMs"),
	"group.share.delivery.count.limit":             implemented("GroupShareDeliveryCountLimit"),
	"group.share.partition.max.record.locks":       implemented("GroupSharePartitionMaxRecordLocks"),
	"group.share.session.timeout.ms":               implemented("GroupShareSessionTimeoutMs"),
	"group.share.heartbeat.interval.ms":            implemented("GroupShareHeartbeatIntervalMs"),
	"group.share.max.size":                         implemented("GroupShareMaxSize"),
	"group.share.max.share.sessions":               implemented("GroupShareMaxShareSessions"),
	"share.coordinator.state.topic.num.partitions": implemented("ShareStateTopicNumPartitions"),

	// Transactions and idempotence.
	"transactional.id.expiration.ms":                              implemented("TransactionalIDExpirationMs"),
	"transaction.max.timeout.ms":                                  implemented("TransactionMaxTimeoutMs"),
	"transaction.state.log.num.partitions":                        implemented("TransactionStateLogNumPartitions"),
	"transaction.state.log.replication.factor":                    notImplemented(whyCluster, intIs(1)),
	"transaction.state.log.min.isr":                               notImplemented(whyCluster, intIs(1)),
	"transaction.state.log.segment.bytes":                         implemented("TransactionStateLogSegmentBytes"),
	"transaction.abort.timed.out.transaction.cleanup.interval.ms": implemented("TransactionAbortTimedOutCleanupIntervalMs"),
	"transaction.remove.expired.transaction.cleanup.interval.ms":  implemented("TransactionRemoveExpiredCleanupIntervalMs"),
	"transaction.partition.verification.enable":                   implemented("TransactionPartitionVerificationEnable"),
	"producer.id.expiration.ms":                                   implemented("ProducerIDExpirationMs"),
	"producer.id.expiration.check.interval.ms":                    implemented("ProducerIDExpirationCheckIntervalMs"),

	// KRaft and thread settings of Kafka's stock server.properties.
	"process.roles":                           ignored("a Samsa node is broker and controller in one"), // checkKRaft refuses a split
	"controller.quorum.voters":                ignored("a single Samsa node needs no controller quorum"),
	"controller.quorum.bootstrap.servers":     ignored("a single Samsa node needs no controller quorum"),
	"controller.listener.names":               ignored("a single Samsa node runs no controller listener"),
	"inter.broker.listener.name":              ignored("a single Samsa node has no other brokers"),
	"listener.security.protocol.map":          implemented("Raw"), // read by internal/server through security.ParseListeners
	"metadata.log.dir":                        ignored("Samsa keeps its metadata in meta.json in the data directory"),
	"num.network.threads":                     ignored(whyTuning),
	"num.io.threads":                          ignored(whyTuning),
	"background.threads":                      ignored(whyTuning),
	"queued.max.requests":                     ignored(whyTuning),
	"num.recovery.threads.per.data.dir":       ignored(whyTuning),
	"num.replica.fetchers":                    ignored(whyTuning),
	"log.cleaner.threads":                     ignored(whyTuning),
	"log.cleaner.dedupe.buffer.size":          ignored(whyTuning),
	"log.flush.offset.checkpoint.interval.ms": ignored("recovery checks the log's tail instead of a recovery-point checkpoint"),
	"auto.leader.rebalance.enable":            implemented("AutoLeaderRebalanceEnable"), // cluster.Rebalance; a single node leads every partition
	"leader.imbalance.check.interval.seconds": implemented("LeaderImbalanceCheckIntervalSeconds"),
	"leader.imbalance.per.broker.percentage":  implemented("LeaderImbalancePerBrokerPercentage"),
	"offsets.load.buffer.size":                ignored(whyTuning),
	"transaction.state.log.load.buffer.size":  ignored(whyTuning),
	"replica.lag.time.max.ms":                 ignored("a single node has no followers"),
}

// The security settings (securitydefs.go) are read from Raw by internal/server and
// internal/security, per listener with listener.name.<l>.<config> overrides.
func init() {
	for _, d := range securityDefList {
		if d.Unused {
			brokerSupport[d.Name] = ignored("a single Samsa node has no inter-broker connections or JVM TLS context")
		} else {
			brokerSupport[d.Name] = implemented("Raw")
		}
	}
}

// BrokerSupport returns how Samsa treats the broker config name, and for Ignored and
// NotImplemented configs the reason. ok is false for a name outside the vocabulary.
func BrokerSupport(name string) (s Support, why string, ok bool) {
	e, ok := brokerSupport[name]
	return e.support, e.why, ok
}

// Ignored is a config that is set but has no effect, and why.
type IgnoredConfig struct{ Name, Value, Why string }

// IgnoredConfigs returns the Ignored configs set in Raw, sorted by name, for the start-up log
// (the listeners CheckSupported leaves unused are reported there too).
func (b *Broker) IgnoredConfigs() []IgnoredConfig {
	var out []IgnoredConfig
	for k, v := range b.Raw {
		if e, ok := brokerSupport[k]; ok && e.support == Ignored {
			out = append(out, IgnoredConfig{Name: k, Value: v, Why: e.why})
		}
	}
	if ctl, err := b.controllerListeners(); err == nil && len(ctl) > 0 {
		out = append(out, IgnoredConfig{Name: "listeners", Value: strings.Join(ctl, ","),
			Why: "controller listeners (controller.listener.names) are not opened: a single Samsa node needs no controller quorum"})
	}
	slices.SortFunc(out, func(a, b IgnoredConfig) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CheckSupported returns nil if Samsa can run b as configured, or an error joining one
// *NotImplementedError (matching ErrNotImplemented) per config set to a value Samsa does not
// implement, each naming the config. Call it after Validate.
func (b *Broker) CheckSupported() error {
	var errs []error
	keys := make([]string, 0, len(b.Raw))
	for k := range b.Raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e, ok := brokerSupport[k]
		if !ok || e.support != NotImplemented || (e.cluster && b.Cluster) {
			continue
		}
		raw := b.Raw[k]
		if e.honoured != nil {
			if v, err := brokerIndex[k].parse(raw); err == nil && e.honoured(v) {
				continue
			}
		}
		errs = append(errs, &NotImplementedError{Name: k, Value: raw, Reason: e.why})
	}
	if _, err := b.ServedListeners(); err != nil {
		errs = append(errs, err)
	}
	if err := b.checkAdvertised(); err != nil {
		errs = append(errs, err)
	}
	if len(b.LogDirs) > 1 {
		name := "log.dirs"
		if _, ok := b.Raw[name]; !ok {
			name = "log.dir"
		}
		errs = append(errs, &NotImplementedError{Name: name, Value: strings.Join(b.LogDirs, ","),
			Reason: "Samsa uses one data directory; list only one"})
	}
	errs = append(errs, b.checkKRaft()...)
	return errors.Join(errs...)
}

// listener is one parsed entry of listeners or advertised.listeners.
type listener struct {
	name, hostport string
}

func parseListeners(s string) []listener {
	var out []listener
	for _, l := range splitCSV(s) {
		name, hostport, _ := strings.Cut(l, "://")
		out = append(out, listener{name: strings.ToUpper(name), hostport: hostport})
	}
	return out
}

// protocolOf returns the security protocol of listener name: from
// listener.security.protocol.map when set, else the name itself (Kafka's rule for the
// standard names).
func (b *Broker) protocolOf(name string) string {
	m := b.Raw["listener.security.protocol.map"]
	if m == "" {
		m = brokerIndex["listener.security.protocol.map"].Default
	}
	for _, pair := range splitCSV(m) {
		if n, p, ok := strings.Cut(pair, ":"); ok && strings.EqualFold(trim(n), name) {
			return strings.ToUpper(trim(p))
		}
	}
	return name
}

// controllerListeners returns the listeners named by controller.listener.names.
func (b *Broker) controllerListeners() ([]string, error) {
	names := splitCSV(b.Raw["controller.listener.names"])
	var out []string
	for _, l := range parseListeners(b.Listeners) {
		if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, l.name) }) {
			out = append(out, l.name+"://"+l.hostport)
		}
	}
	return out, nil
}

// ListenerProtocol is the security protocol of listener name (listener.security.protocol.map,
// Kafka's default map when unset); "" if the map has no entry for it.
func (b *Broker) ListenerProtocol(name string) string { return b.protocolOf(name) }

// ServedListeners returns the entries of listeners Samsa opens for clients (NAME://host:port,
// controller listeners left out), each with a security protocol from
// listener.security.protocol.map. It is a *NotImplementedError when no listener is left or a
// listener's name has no protocol.
func (b *Broker) ServedListeners() ([]string, error) {
	ctl := splitCSV(b.Raw["controller.listener.names"])
	var serve []string
	for _, l := range parseListeners(b.Listeners) {
		if slices.ContainsFunc(ctl, func(n string) bool { return strings.EqualFold(n, l.name) }) {
			continue
		}
		switch p := b.protocolOf(l.name); p {
		case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
		default:
			return nil, &NotImplementedError{Name: "listeners", Value: b.Listeners,
				Reason: fmt.Sprintf("listener %s has security protocol %q; want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (listener.security.protocol.map)", l.name, p)}
		}
		serve = append(serve, l.name+"://"+l.hostport)
	}
	if len(serve) == 0 {
		return nil, &NotImplementedError{Name: "listeners", Value: b.Listeners,
			Reason: "no listener for clients: every entry is a controller listener (controller.listener.names)"}
	}
	return serve, nil
}

// checkAdvertised refuses advertised listeners that name no served listener.
func (b *Broker) checkAdvertised() error {
	served, _ := b.ServedListeners()
	for _, l := range parseListeners(b.AdvertisedListeners) {
		if !slices.ContainsFunc(served, func(s string) bool { return strings.HasPrefix(s, l.name+"://") }) {
			return &NotImplementedError{Name: "advertised.listeners", Value: b.AdvertisedListeners,
				Reason: fmt.Sprintf("listener %s is not one of the listeners served", l.name)}
		}
	}
	return nil
}

// checkKRaft refuses KRaft settings that describe more than this one node.
func (b *Broker) checkKRaft() []error {
	var errs []error
	if v, ok := b.Raw["process.roles"]; ok {
		roles := splitCSV(v)
		if !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
			errs = append(errs, &NotImplementedError{Name: "process.roles", Value: v,
				Reason: "a Samsa node is broker and controller in one (process.roles=broker,controller); " + whyCluster})
		}
	}
	if v, ok := b.Raw["controller.quorum.voters"]; ok {
		voters := splitCSV(v)
		self := strconv.Itoa(int(b.NodeID)) + "@"
		if len(voters) > 1 || len(voters) == 1 && !strings.HasPrefix(voters[0], self) {
			errs = append(errs, &NotImplementedError{Name: "controller.quorum.voters", Value: v,
				Reason: "only this node (node.id " + strconv.Itoa(int(b.NodeID)) + ") may be a voter; " + whyCluster})
		}
	}
	if v, ok := b.Raw["controller.quorum.bootstrap.servers"]; ok && len(splitCSV(v)) > 1 {
		errs = append(errs, &NotImplementedError{Name: "controller.quorum.bootstrap.servers", Value: v,
			Reason: "more than one controller; " + whyCluster})
	}
	return errs
}
