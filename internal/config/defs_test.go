package config

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafka39TopicConfigs is the non-internal topic config list of Kafka 3.9.
var kafka39TopicConfigs = []string{
	"cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type",
	"compression.zstd.level", "delete.retention.ms", "file.delete.delay.ms", "flush.messages",
	"flush.ms", "follower.replication.throttled.replicas", "index.interval.bytes",
	"leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
	"max.compaction.lag.ms", "max.message.bytes", "message.downconversion.enable",
	"message.format.version", "message.timestamp.after.max.ms", "message.timestamp.before.max.ms",
	"message.timestamp.difference.max.ms", "message.timestamp.type", "min.cleanable.dirty.ratio",
	"min.compaction.lag.ms", "min.insync.replicas", "preallocate", "remote.log.copy.disable",
	"remote.log.delete.on.disable", "remote.storage.enable", "retention.bytes", "retention.ms",
	"segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
	"unclean.leader.election.enable",
}

// confluentTopicConfigs are the Confluent Server topic configs Samsa adds (schema validation).
var confluentTopicConfigs = []string{
	"confluent.key.schema.validation", "confluent.key.subject.name.strategy",
	"confluent.value.schema.validation", "confluent.value.subject.name.strategy",
}

func TestTopicDefsAreKafka39(t *testing.T) {
	var names []string
	for _, d := range TopicDefs() {
		if !slices.Contains(confluentTopicConfigs, d.Name) {
			names = append(names, d.Name)
		}
	}
	if !slices.Equal(names, kafka39TopicConfigs) {
		t.Errorf("topic configs:\n got %q\nwant %q", names, kafka39TopicConfigs)
	}
	for _, n := range confluentTopicConfigs {
		if _, ok := TopicDef(n); !ok {
			t.Errorf("topic config %s missing", n)
		}
	}
}

func TestDefTables(t *testing.T) {
	check := func(kind string, d *Def) {
		t.Helper()
		if d.Doc == "" {
			t.Errorf("%s %s: no Doc", kind, d.Name)
		}
		if d.Type <= TypeUnknown || d.Type > TypePassword {
			t.Errorf("%s %s: bad type %v", kind, d.Name, d.Type)
		}
		if d.NullDefault {
			if d.Default != "" {
				t.Errorf("%s %s: NullDefault with Default %q", kind, d.Name, d.Default)
			}
			return
		}
		c, err := d.Canonical(d.Default)
		if err != nil {
			t.Errorf("%s %s: default %q invalid: %v", kind, d.Name, d.Default, err)
		} else if c != d.Default {
			t.Errorf("%s %s: default %q is not canonical (%q)", kind, d.Name, d.Default, c)
		}
	}
	b := DefaultBroker()
	for _, d := range TopicDefs() {
		check("topic", d)
		if d.ReadOnly || d.Sensitive {
			t.Errorf("topic %s: topic configs are alterable and not sensitive", d.Name)
		}
		if d.store == nil {
			t.Errorf("topic %s: no store", d.Name)
		}
		if (d.brokerField == nil) != (len(d.BrokerSynonyms) == 0) {
			t.Errorf("topic %s: broker synonyms and broker field disagree", d.Name)
		}
		for _, s := range d.BrokerSynonyms {
			if _, ok := BrokerDef(s); !ok {
				t.Errorf("topic %s: synonym %s is not a broker config", d.Name, s)
			}
		}
		// With Kafka's broker defaults a topic's value is the topic
		// config's own Kafka default: the two tables agree.
		if v, src := b.TopicValue(nil, d.Name); v != d.Default || src != SourceDefault {
			t.Errorf("topic %s: default broker gives %q (%v), topic default is %q", d.Name, v, src, d.Default)
		}
		if d.brokerField != nil {
			assertFieldType(t, d.Name, d.Type, d.brokerField(&b))
		}
	}
	for _, d := range BrokerDefs() {
		check("broker", d)
		if !d.ReadOnly {
			t.Errorf("broker %s: broker configs are read-only", d.Name)
		}
		if d.field == nil && d.apply == nil && !d.Unused && !d.readRaw {
			t.Errorf("broker %s: sets nothing and is not marked Unused", d.Name)
		}
		if d.field != nil {
			assertFieldType(t, d.Name, d.Type, d.field(&b))
		}
		for _, s := range d.BrokerSynonyms {
			if _, ok := BrokerDef(s); !ok {
				t.Errorf("broker %s: synonym %s unknown", d.Name, s)
			}
		}
	}
	if _, ok := TopicDef("log.retention.ms"); ok {
		t.Error("TopicDef found a broker config")
	}
	if _, ok := BrokerDef("retention.ms"); ok {
		t.Error("BrokerDef found a topic config")
	}
}

func assertFieldType(t *testing.T, name string, typ Type, field any) {
	t.Helper()
	ok := false
	switch field.(type) {
	case *int16:
		ok = typ == TypeShort || typ == TypeInt
	case *int32:
		ok = typ == TypeInt
	case *int64:
		ok = typ == TypeLong
	case *bool:
		ok = typ == TypeBoolean
	case *float64:
		ok = typ == TypeDouble
	case *string:
		ok = typ == TypeString
	case *[]string:
		ok = typ == TypeList
	}
	if !ok {
		t.Errorf("%s: field %T does not hold type %v", name, field, typ)
	}
}

func TestEnumsMatchKmsg(t *testing.T) {
	types := map[Type]kmsg.ConfigType{
		TypeUnknown: kmsg.ConfigTypeUnknown, TypeBoolean: kmsg.ConfigTypeBoolean,
		TypeString: kmsg.ConfigTypeString, TypeInt: kmsg.ConfigTypeInt, TypeShort: kmsg.ConfigTypeShort,
		TypeLong: kmsg.ConfigTypeLong, TypeDouble: kmsg.ConfigTypeDouble, TypeList: kmsg.ConfigTypeList,
		TypeClass: kmsg.ConfigTypeClass, TypePassword: kmsg.ConfigTypePassword,
	}
	for ours, theirs := range types {
		if int8(ours) != int8(theirs) || ours.String() != theirs.String() {
			t.Errorf("Type %v(%d) != kmsg %v(%d)", ours, ours, theirs, theirs)
		}
	}
	sources := map[Source]kmsg.ConfigSource{
		SourceUnknown: kmsg.ConfigSourceUnknown, SourceDynamicTopic: kmsg.ConfigSourceDynamicTopicConfig,
		SourceDynamicBroker: kmsg.ConfigSourceDynamicBrokerConfig, SourceDynamicDefaultBroker: kmsg.ConfigSourceDynamicDefaultBrokerConfig,
		SourceStaticBroker: kmsg.ConfigSourceStaticBrokerConfig, SourceDefault: kmsg.ConfigSourceDefaultConfig,
		SourceDynamicBrokerLogger: kmsg.ConfigSourceDynamicBrokerLoggerConfig, SourceClientMetrics: kmsg.ConfigSourceClientMetricsConfig,
		SourceGroup: kmsg.ConfigSourceGroupConfig,
	}
	for ours, theirs := range sources {
		if int8(ours) != int8(theirs) || ours.String() != theirs.String() {
			t.Errorf("Source %v(%d) != kmsg %v(%d)", ours, ours, theirs, theirs)
		}
	}
	if got := Type(42).String(); got != "Type(42)" {
		t.Errorf("Type(42).String() = %q", got)
	}
	if got := Source(-1).String(); got != "Source(-1)" {
		t.Errorf("Source(-1).String() = %q", got)
	}
}

func TestDefaultBroker(t *testing.T) {
	b := DefaultBroker()
	if err := b.Validate(); err != nil {
		t.Fatalf("default broker invalid: %v", err)
	}
	// The values the brief and Kafka fix.
	checks := []struct {
		name      string
		got, want any
	}{
		{"NodeID", b.NodeID, int32(0)},
		{"NumPartitions", b.NumPartitions, int32(1)},
		{"DefaultReplicationFactor", b.DefaultReplicationFactor, int16(1)},
		{"AutoCreateTopics", b.AutoCreateTopics, true},
		{"MessageMaxBytes", b.MessageMaxBytes, int32(1048588)},
		{"SocketRequestMaxBytes", b.SocketRequestMaxBytes, int32(104857600)},
		{"OffsetsTopicNumPartitions", b.OffsetsTopicNumPartitions, int32(50)},
		{"OffsetsRetentionMinutes", b.OffsetsRetentionMinutes, int32(10080)},
		{"GroupMinSessionTimeoutMs", b.GroupMinSessionTimeoutMs, int32(6000)},
		{"GroupMaxSessionTimeoutMs", b.GroupMaxSessionTimeoutMs, int32(1800000)},
		{"GroupInitialRebalanceDelayMs", b.GroupInitialRebalanceDelayMs, int32(3000)},
		{"LogRetentionMs", b.LogRetentionMs, int64(7 * 24 * 3600 * 1000)},
		{"LogRollMs", b.LogRollMs, int64(7 * 24 * 3600 * 1000)},
		{"LogSegmentBytes", b.LogSegmentBytes, int32(1 << 30)},
		{"Durability", b.Durability, DurabilityFsync},
		{"Listeners", b.Listeners, "PLAINTEXT://:9092"},
		{"TransactionMaxTimeoutMs", b.TransactionMaxTimeoutMs, int32(900000)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !slices.Equal(b.LogDirs, []string{"/tmp/samsa-logs"}) || !slices.Equal(b.LogCleanupPolicy, []string{"delete"}) {
		t.Errorf("LogDirs %q, LogCleanupPolicy %q", b.LogDirs, b.LogCleanupPolicy)
	}
	if b.Raw == nil || len(b.Raw) != 0 {
		t.Errorf("Raw = %v, want empty non-nil", b.Raw)
	}
	// DefaultBroker returns independent copies.
	b.LogDirs[0] = "changed"
	b.Raw["x"] = "y"
	if c := DefaultBroker(); c.LogDirs[0] != "/tmp/samsa-logs" || len(c.Raw) != 0 {
		t.Error("DefaultBroker shares state between calls")
	}
}
