package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// TopicSettings is a topic's effective configuration, parsed: the broker
// defaults with the topic's overrides applied. Field comments name the
// config; see its Def for units and ranges.
type TopicSettings struct {
	CleanupDelete  bool // cleanup.policy contains delete
	CleanupCompact bool // cleanup.policy contains compact

	Compression          string // compression.type: uncompressed, zstd, lz4, snappy, gzip or producer
	CompressionGzipLevel int32  // compression.gzip.level (-1 = codec default)
	CompressionLz4Level  int32  // compression.lz4.level
	CompressionZstdLevel int32  // compression.zstd.level

	DeleteRetentionMs  int64 // delete.retention.ms
	FileDeleteDelayMs  int64 // file.delete.delay.ms
	FlushMessages      int64 // flush.messages (math.MaxInt64 = never)
	FlushMs            int64 // flush.ms (math.MaxInt64 = never)
	IndexIntervalBytes int32 // index.interval.bytes
	MaxMessageBytes    int32 // max.message.bytes

	MessageDownconversionEnable bool   // message.downconversion.enable
	MessageFormatVersion        string // message.format.version (deprecated, ignored)

	TimestampType string // message.timestamp.type: CreateTime or LogAppendTime
	// TimestampBeforeMaxMs and TimestampAfterMaxMs are the effective
	// bounds: message.timestamp.before.max.ms / after.max.ms, or, while
	// that config is at its default (math.MaxInt64), the deprecated
	// message.timestamp.difference.max.ms, as Kafka 3.9 does.
	TimestampBeforeMaxMs     int64
	TimestampAfterMaxMs      int64
	TimestampDifferenceMaxMs int64 // message.timestamp.difference.max.ms

	MaxCompactionLagMs     int64   // max.compaction.lag.ms
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio
	MinCompactionLagMs     int64   // min.compaction.lag.ms
	MinInsyncReplicas      int32   // min.insync.replicas
	Preallocate            bool    // preallocate

	RetentionBytes int64 // retention.bytes (negative = no limit)
	RetentionMs    int64 // retention.ms (-1 = forever)

	SegmentBytes      int64 // segment.bytes (an INT config; int64 for arithmetic)
	SegmentIndexBytes int32 // segment.index.bytes
	SegmentJitterMs   int64 // segment.jitter.ms
	SegmentMs         int64 // segment.ms

	UncleanLeaderElectionEnable bool // unclean.leader.election.enable

	// Confluent's broker-side schema validation (off by default).
	KeySchemaValidation      bool   // confluent.key.schema.validation
	ValueSchemaValidation    bool   // confluent.value.schema.validation
	KeySubjectNameStrategy   string // confluent.key.subject.name.strategy
	ValueSubjectNameStrategy string // confluent.value.subject.name.strategy

	// Tiered storage and replication throttling: accepted, unused.
	LocalRetentionBytes                  int64    // local.retention.bytes (-2 = retention.bytes)
	LocalRetentionMs                     int64    // local.retention.ms (-2 = retention.ms)
	RemoteStorageEnable                  bool     // remote.storage.enable (always false)
	RemoteLogCopyDisable                 bool     // remote.log.copy.disable
	RemoteLogDeleteOnDisable             bool     // remote.log.delete.on.disable
	LeaderReplicationThrottledReplicas   []string // leader.replication.throttled.replicas
	FollowerReplicationThrottledReplicas []string // follower.replication.throttled.replicas
}

// topicDefaults returns the settings of a topic without overrides.
func (b *Broker) topicDefaults() TopicSettings {
	return TopicSettings{
		CleanupDelete:               slices.Contains(b.LogCleanupPolicy, "delete"),
		CleanupCompact:              slices.Contains(b.LogCleanupPolicy, "compact"),
		Compression:                 b.CompressionType,
		CompressionGzipLevel:        b.CompressionGzipLevel,
		CompressionLz4Level:         b.CompressionLz4Level,
		CompressionZstdLevel:        b.CompressionZstdLevel,
		DeleteRetentionMs:           b.LogCleanerDeleteRetentionMs,
		FileDeleteDelayMs:           b.LogSegmentDeleteDelayMs,
		FlushMessages:               b.LogFlushIntervalMessages,
		FlushMs:                     b.LogFlushIntervalMs,
		IndexIntervalBytes:          b.LogIndexIntervalBytes,
		MaxMessageBytes:             b.MessageMaxBytes,
		MessageDownconversionEnable: b.LogMessageDownconversionEnable,
		MessageFormatVersion:        b.LogMessageFormatVersion,
		TimestampType:               b.LogMessageTimestampType,
		TimestampBeforeMaxMs:        b.LogMessageTimestampBeforeMaxMs,
		TimestampAfterMaxMs:         b.LogMessageTimestampAfterMaxMs,
		TimestampDifferenceMaxMs:    b.LogMessageTimestampDifferenceMaxMs,
		MaxCompactionLagMs:          b.LogCleanerMaxCompactionLagMs,
		MinCleanableDirtyRatio:      b.LogCleanerMinCleanableRatio,
		MinCompactionLagMs:          b.LogCleanerMinCompactionLagMs,
		MinInsyncReplicas:           b.MinInsyncReplicas,
		Preallocate:                 b.LogPreallocate,
		RetentionBytes:              b.LogRetentionBytes,
		RetentionMs:                 b.LogRetentionMs,
		SegmentBytes:                int64(b.LogSegmentBytes),
		SegmentIndexBytes:           b.LogIndexSizeMaxBytes,
		SegmentJitterMs:             b.LogRollJitterMs,
		SegmentMs:                   b.LogRollMs,
		UncleanLeaderElectionEnable: b.UncleanLeaderElectionEnable,
		LocalRetentionBytes:         b.LogLocalRetentionBytes,
		LocalRetentionMs:            b.LogLocalRetentionMs,
		KeySubjectNameStrategy:      subjectStrategyDefault,
		ValueSubjectNameStrategy:    subjectStrategyDefault,
	}
}

// TopicSettings returns the effective settings of a topic with the given
// overrides (nil for none). Every override is validated; the error joins
// every problem: *UnknownConfigError (ErrUnknownConfig), *ValueError
// (ErrInvalidValue), and cross-config conflicts such as
// min.compaction.lag.ms > max.compaction.lag.ms (ErrInvalidValue).
func (b *Broker) TopicSettings(overrides map[string]string) (TopicSettings, error) {
	s := b.topicDefaults()
	if len(overrides) == 0 {
		s.applyTimestampFallback()
		return s, nil
	}
	// The store funcs take a pointer through a func value, which makes
	// their target escape: keep that to the path with overrides.
	ps := new(TopicSettings)
	*ps = s
	var errs []error
	for name, raw := range overrides {
		d, ok := topicIndex[name]
		if !ok {
			errs = append(errs, &UnknownConfigError{Kind: "topic", Name: name})
			continue
		}
		v, err := d.parse(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.store(ps, &v)
	}
	s = *ps
	if s.MinCompactionLagMs > s.MaxCompactionLagMs {
		errs = append(errs, fmt.Errorf("%w: conflict topic config setting min.compaction.lag.ms (%d) > max.compaction.lag.ms (%d)",
			ErrInvalidValue, s.MinCompactionLagMs, s.MaxCompactionLagMs))
	}
	if len(errs) > 0 {
		// Sort for a deterministic message: map order is random.
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return TopicSettings{}, errors.Join(errs...)
	}
	s.applyTimestampFallback()
	return s, nil
}

// applyTimestampFallback applies the deprecated
// message.timestamp.difference.max.ms to the before/after bounds left at
// their default, as Kafka 3.9's LogConfig does.
func (s *TopicSettings) applyTimestampFallback() {
	if s.TimestampBeforeMaxMs == math.MaxInt64 {
		s.TimestampBeforeMaxMs = s.TimestampDifferenceMaxMs
	}
	if s.TimestampAfterMaxMs == math.MaxInt64 {
		s.TimestampAfterMaxMs = s.TimestampDifferenceMaxMs
	}
}

// ValidateTopicConfigs checks a complete set of overrides, as CreateTopics
// and AlterConfigs must before storing them. It returns what TopicSettings
// returns.
func (b *Broker) ValidateTopicConfigs(overrides map[string]string) error {
	_, err := b.TopicSettings(overrides)
	return err
}

// ValidateTopicConfig checks one topic config. value nil means the config
// is deleted (reset to its default), which is valid for every known name.
// An unknown name returns an *UnknownConfigError (ErrUnknownConfig); a bad
// value a *ValueError (ErrInvalidValue). Kafka answers both with
// INVALID_CONFIG.
func ValidateTopicConfig(name string, value *string) error {
	d, ok := topicIndex[name]
	if !ok {
		return &UnknownConfigError{Kind: "topic", Name: name}
	}
	if value == nil {
		return nil
	}
	if err := d.Validate(*value); err != nil {
		return err
	}
	return checkTopicSupported(d, *value)
}

// TopicValue returns the effective value of the topic config name for a
// topic with the given overrides, in canonical form, and its source:
// SourceDynamicTopic for an override, SourceStaticBroker when one of the
// broker synonyms is in b.Raw, else SourceDefault. An unknown name returns
// ("", SourceUnknown).
func (b *Broker) TopicValue(overrides map[string]string, name string) (value string, src Source) {
	d, ok := topicIndex[name]
	if !ok {
		return "", SourceUnknown
	}
	if raw, ok := overrides[name]; ok {
		return d.canonical(raw), SourceDynamicTopic
	}
	if d.brokerField == nil {
		return d.Default, SourceDefault
	}
	value = fieldString(d.brokerField(b))
	for _, syn := range d.BrokerSynonyms {
		if _, ok := b.Raw[syn]; ok {
			return value, SourceStaticBroker
		}
	}
	return value, SourceDefault
}

// DescribeTopic returns what DescribeConfigs returns for a topic with the
// given overrides: every topic config sorted by name, or only those named
// in names when names is non-nil (unknown names are skipped, as Kafka
// does). Each entry's synonyms are, highest priority first: the topic
// override (DYNAMIC_TOPIC_CONFIG), every broker synonym set in b.Raw in
// synonym order (STATIC_BROKER_CONFIG, raw values as Kafka shows them,
// e.g. log.retention.hours=24), and the defaults of the broker synonyms
// that have one (DEFAULT_CONFIG). The entry's source is the first
// synonym's, or DEFAULT_CONFIG when there is none.
func (b *Broker) DescribeTopic(overrides map[string]string, names []string) []Entry {
	var want map[string]bool
	if names != nil {
		want = make(map[string]bool, len(names))
		for _, n := range names {
			want[n] = true
		}
	}
	out := make([]Entry, 0, len(topicDefList))
	for _, d := range topicDefList {
		if want != nil && !want[d.Name] {
			continue
		}
		out = append(out, b.describeTopicEntry(d, overrides))
	}
	return out
}

func (b *Broker) describeTopicEntry(d *Def, overrides map[string]string) Entry {
	value, src := b.TopicValue(overrides, d.Name)
	e := Entry{Name: d.Name, Value: value, Source: src, Type: d.Type, Doc: d.Doc,
		ReadOnly: d.ReadOnly, Sensitive: d.Sensitive}
	var syns []Synonym
	if _, ok := overrides[d.Name]; ok {
		syns = append(syns, Synonym{Name: d.Name, Value: value, Source: SourceDynamicTopic})
	}
	for _, n := range d.BrokerSynonyms {
		if r, ok := b.Raw[n]; ok {
			syns = append(syns, Synonym{Name: n, Value: brokerIndex[n].canonical(r), Source: SourceStaticBroker})
		}
	}
	for _, n := range d.BrokerSynonyms {
		if bd := brokerIndex[n]; !bd.NullDefault {
			syns = append(syns, Synonym{Name: n, Value: bd.Default, Source: SourceDefault})
		}
	}
	if len(syns) > 0 {
		e.Source = syns[0].Source
	} else {
		e.Source = SourceDefault
	}
	e.IsDefault = e.Source == SourceDefault
	e.Synonyms = syns
	return e
}

// Topic is one topic's configuration: the overrides set on it and the
// broker they apply over. Its methods are shorthands for the Broker
// methods of the same names.
type Topic struct {
	Broker *Broker
	// Overrides holds only what was set on the topic, name to value.
	Overrides map[string]string
}

// Value returns the effective value and source of one config; see
// Broker.TopicValue.
func (t Topic) Value(name string) (string, Source) { return t.Broker.TopicValue(t.Overrides, name) }

// Settings returns the parsed effective configuration; see
// Broker.TopicSettings.
func (t Topic) Settings() (TopicSettings, error) { return t.Broker.TopicSettings(t.Overrides) }

// Describe returns the DescribeConfigs entries; see Broker.DescribeTopic.
func (t Topic) Describe(names []string) []Entry { return t.Broker.DescribeTopic(t.Overrides, names) }

// AlterOp is an IncrementalAlterConfigs operation, numbered as Kafka's
// AlterConfigOp.OpType.
type AlterOp int8

// The alter operations.
const (
	OpSet      AlterOp = 0 // set the value
	OpDelete   AlterOp = 1 // remove the override
	OpAppend   AlterOp = 2 // LIST only: add elements not already present
	OpSubtract AlterOp = 3 // LIST only: remove elements
)

// Alteration is one config change of an IncrementalAlterConfigs request.
type Alteration struct {
	Name  string
	Op    AlterOp
	Value *string // ignored by OpDelete
}

// AlterTopicConfigs applies alterations to a topic's overrides in order
// and returns the new overrides; current is not modified. APPEND and
// SUBTRACT start from the current override, or from the config's Kafka
// default when there is none (as Kafka does), and apply to LIST configs
// only. The result is validated per config, but not across configs (use
// Broker.ValidateTopicConfigs). Errors: *UnknownConfigError
// (ErrUnknownConfig) for an unknown name; ErrInvalidValue for a bad value,
// a null value with SET/APPEND/SUBTRACT, APPEND/SUBTRACT on a non-LIST
// config, or an unknown op.
func AlterTopicConfigs(current map[string]string, alts []Alteration) (map[string]string, error) {
	next := maps.Clone(current)
	if next == nil {
		next = make(map[string]string)
	}
	for _, a := range alts {
		d, ok := topicIndex[a.Name]
		if !ok {
			return nil, &UnknownConfigError{Kind: "topic", Name: a.Name}
		}
		if a.Op == OpDelete {
			delete(next, a.Name)
			continue
		}
		if a.Value == nil {
			return nil, &ValueError{Name: a.Name, Value: "null", Reason: "Null value not supported"}
		}
		switch a.Op {
		case OpSet:
			if err := d.Validate(*a.Value); err != nil {
				return nil, err
			}
			next[a.Name] = *a.Value
		case OpAppend, OpSubtract:
			if d.Type != TypeList {
				return nil, &ValueError{Name: a.Name, Value: *a.Value,
					Reason: "Config value append/subtract is only allowed for LIST configs"}
			}
			base, ok := next[a.Name]
			if !ok {
				base = d.Default
			}
			cur, err := d.parse(base)
			if err != nil {
				return nil, err
			}
			arg, err := d.parse(*a.Value)
			if err != nil {
				return nil, err
			}
			list := cur.list
			if a.Op == OpAppend {
				for _, e := range arg.list {
					if !slices.Contains(list, e) {
						list = append(list, e)
					}
				}
			} else {
				list = slices.DeleteFunc(list, func(e string) bool { return slices.Contains(arg.list, e) })
			}
			s := strings.Join(list, ",")
			if err := d.Validate(s); err != nil {
				return nil, err
			}
			next[a.Name] = s
		default:
			return nil, &ValueError{Name: a.Name, Value: *a.Value, Reason: fmt.Sprintf("unknown operation %d", a.Op)}
		}
	}
	return next, nil
}
