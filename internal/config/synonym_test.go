package config

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func mustSet(t *testing.T, b *Broker, kv ...string) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		if err := b.Set(kv[i], kv[i+1]); err != nil {
			t.Fatalf("Set(%s, %s): %v", kv[i], kv[i+1], err)
		}
	}
}

func TestRetentionSynonymResolution(t *testing.T) {
	tests := []struct {
		name      string
		broker    []string // key, value pairs applied in order
		overrides map[string]string
		want      string
		src       Source
	}{
		{"default", nil, nil, "604800000", SourceDefault},
		{"hours", []string{"log.retention.hours", "24"}, nil, "86400000", SourceStaticBroker},
		{"minutes beat hours", []string{"log.retention.hours", "24", "log.retention.minutes", "30"}, nil, "1800000", SourceStaticBroker},
		{"minutes beat hours in any order", []string{"log.retention.minutes", "30", "log.retention.hours", "24"}, nil, "1800000", SourceStaticBroker},
		{"ms beats minutes and hours", []string{"log.retention.ms", "1000", "log.retention.minutes", "30", "log.retention.hours", "24"}, nil, "1000", SourceStaticBroker},
		{"ms set first still wins", []string{"log.retention.hours", "24", "log.retention.ms", "1000", "log.retention.hours", "48"}, nil, "1000", SourceStaticBroker},
		{"negative means forever", []string{"log.retention.hours", "-5"}, nil, "-1", SourceStaticBroker},
		{"negative ms means forever", []string{"log.retention.ms", "-100"}, nil, "-1", SourceStaticBroker},
		{"topic override beats everything", []string{"log.retention.ms", "1000"}, map[string]string{"retention.ms": " 5000 "}, "5000", SourceDynamicTopic},
		{"override of another config is irrelevant", nil, map[string]string{"segment.ms": "5"}, "604800000", SourceDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := DefaultBroker()
			mustSet(t, &b, tt.broker...)
			v, src := b.TopicValue(tt.overrides, "retention.ms")
			if v != tt.want || src != tt.src {
				t.Errorf("retention.ms = %s (%v), want %s (%v)", v, src, tt.want, tt.src)
			}
			s, err := b.TopicSettings(tt.overrides)
			if err != nil {
				t.Fatal(err)
			}
			if got := formatInt(s.RetentionMs); got != tt.want {
				t.Errorf("TopicSettings.RetentionMs = %s, want %s", got, tt.want)
			}
		})
	}
}

func formatInt(i int64) string { return fieldString(&i) }

func TestOtherSynonymResolution(t *testing.T) {
	tests := []struct {
		topic  string
		broker []string
		want   string
		src    Source
	}{
		{"segment.ms", []string{"log.roll.hours", "2"}, "7200000", SourceStaticBroker},
		{"segment.ms", []string{"log.roll.ms", "5", "log.roll.hours", "2"}, "5", SourceStaticBroker},
		{"segment.jitter.ms", []string{"log.roll.jitter.hours", "1"}, "3600000", SourceStaticBroker},
		{"segment.jitter.ms", []string{"log.roll.jitter.hours", "1", "log.roll.jitter.ms", "7"}, "7", SourceStaticBroker},
		{"flush.ms", nil, "9223372036854775807", SourceDefault},
		{"flush.ms", []string{"log.flush.scheduler.interval.ms", "3000"}, "3000", SourceStaticBroker},
		{"flush.ms", []string{"log.flush.interval.ms", "100", "log.flush.scheduler.interval.ms", "3000"}, "100", SourceStaticBroker},
		{"segment.bytes", []string{"log.segment.bytes", "1048576"}, "1048576", SourceStaticBroker},
		{"max.message.bytes", []string{"message.max.bytes", "2000000"}, "2000000", SourceStaticBroker},
		{"cleanup.policy", []string{"log.cleanup.policy", "compact, delete"}, "compact,delete", SourceStaticBroker},
		{"compression.type", []string{"compression.type", "zstd"}, "zstd", SourceStaticBroker},
		{"min.insync.replicas", []string{"min.insync.replicas", "2"}, "2", SourceStaticBroker},
		{"min.cleanable.dirty.ratio", []string{"log.cleaner.min.cleanable.ratio", "0.25"}, "0.25", SourceStaticBroker},
		{"remote.storage.enable", []string{"log.retention.hours", "1"}, "false", SourceDefault},
	}
	for _, tt := range tests {
		b := DefaultBroker()
		mustSet(t, &b, tt.broker...)
		if v, src := b.TopicValue(nil, tt.topic); v != tt.want || src != tt.src {
			t.Errorf("%s with %q = %s (%v), want %s (%v)", tt.topic, tt.broker, v, src, tt.want, tt.src)
		}
	}
	b := DefaultBroker()
	if v, src := b.TopicValue(nil, "no.such.config"); v != "" || src != SourceUnknown {
		t.Errorf("unknown config: %q %v", v, src)
	}
}

func TestDescribeTopic(t *testing.T) {
	b := DefaultBroker()
	mustSet(t, &b, "log.retention.hours", "24", "log.retention.minutes", "90", "log.segment.bytes", "1048576")
	overrides := map[string]string{"segment.bytes": "2097152", "cleanup.policy": "compact , delete"}
	got := b.DescribeTopic(overrides, []string{"retention.ms", "segment.bytes", "cleanup.policy", "remote.storage.enable", "flush.ms", "no.such"})
	want := []Entry{
		{Name: "cleanup.policy", Value: "compact,delete", Source: SourceDynamicTopic, Type: TypeList,
			Synonyms: []Synonym{
				{Name: "cleanup.policy", Value: "compact,delete", Source: SourceDynamicTopic},
				{Name: "log.cleanup.policy", Value: "delete", Source: SourceDefault},
			}},
		{Name: "flush.ms", Value: "9223372036854775807", Source: SourceDefault, IsDefault: true, Type: TypeLong,
			Synonyms: []Synonym{
				{Name: "log.flush.scheduler.interval.ms", Value: "9223372036854775807", Source: SourceDefault},
			}},
		{Name: "remote.storage.enable", Value: "false", Source: SourceDefault, IsDefault: true, Type: TypeBoolean},
		{Name: "retention.ms", Value: "5400000", Source: SourceStaticBroker, Type: TypeLong,
			Synonyms: []Synonym{
				{Name: "log.retention.minutes", Value: "90", Source: SourceStaticBroker},
				{Name: "log.retention.hours", Value: "24", Source: SourceStaticBroker},
				{Name: "log.retention.hours", Value: "168", Source: SourceDefault},
			}},
		{Name: "segment.bytes", Value: "2097152", Source: SourceDynamicTopic, Type: TypeInt,
			Synonyms: []Synonym{
				{Name: "segment.bytes", Value: "2097152", Source: SourceDynamicTopic},
				{Name: "log.segment.bytes", Value: "1048576", Source: SourceStaticBroker},
				{Name: "log.segment.bytes", Value: "1073741824", Source: SourceDefault},
			}},
	}
	for i := range got {
		got[i].Doc = "" // checked elsewhere
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DescribeTopic:\n got %+v\nwant %+v", got, want)
	}

	all := b.DescribeTopic(nil, nil)
	if len(all) != len(TopicDefs()) {
		t.Fatalf("DescribeTopic(nil) returned %d entries, want %d", len(all), len(TopicDefs()))
	}
	for i, e := range all {
		d := TopicDefs()[i]
		if e.Name != d.Name || e.Doc != d.Doc || e.Type != d.Type || e.ReadOnly || e.Null {
			t.Errorf("entry %d = %+v does not describe %s", i, e, d.Name)
		}
		if e.IsDefault != (e.Source == SourceDefault) {
			t.Errorf("%s: IsDefault %v with source %v", e.Name, e.IsDefault, e.Source)
		}
		if len(e.Synonyms) > 0 && e.Synonyms[0].Source != e.Source {
			t.Errorf("%s: source %v is not the first synonym's", e.Name, e.Source)
		}
	}
	if got := b.DescribeTopic(nil, []string{}); len(got) != 0 {
		t.Errorf("DescribeTopic with empty names returned %d entries", len(got))
	}
	tp := Topic{Broker: &b, Overrides: overrides}
	if v, src := tp.Value("segment.bytes"); v != "2097152" || src != SourceDynamicTopic {
		t.Errorf("Topic.Value = %s %v", v, src)
	}
	if d := tp.Describe([]string{"segment.bytes"}); len(d) != 1 || d[0].Value != "2097152" {
		t.Errorf("Topic.Describe = %+v", d)
	}
	if s, err := tp.Settings(); err != nil || s.SegmentBytes != 2097152 || !s.CleanupCompact || !s.CleanupDelete {
		t.Errorf("Topic.Settings = %+v, %v", s, err)
	}
}

func TestDescribeBroker(t *testing.T) {
	b := DefaultBroker()
	mustSet(t, &b, "log.retention.ms", "1000", "log.retention.hours", "24", "broker.id", "3", "log.dirs", "/a, /b")
	got := b.DescribeBroker([]string{"log.retention.ms", "log.retention.minutes", "log.retention.hours", "node.id", "broker.id", "log.dirs", "log.dir", "advertised.listeners", "bogus"})
	want := []Entry{
		{Name: "advertised.listeners", Null: true, Source: SourceDefault, IsDefault: true, ReadOnly: true, Type: TypeString},
		{Name: "broker.id", Value: "3", Source: SourceStaticBroker, ReadOnly: true, Type: TypeInt,
			Synonyms: []Synonym{{"broker.id", "3", false, SourceStaticBroker}, {"broker.id", "0", false, SourceDefault}}},
		{Name: "log.dir", Value: "/tmp/samsa-logs", Source: SourceDefault, IsDefault: true, ReadOnly: true, Type: TypeString,
			Synonyms: []Synonym{{"log.dir", "/tmp/samsa-logs", false, SourceDefault}}},
		{Name: "log.dirs", Value: "/a, /b", Source: SourceStaticBroker, ReadOnly: true, Type: TypeString,
			Synonyms: []Synonym{{"log.dirs", "/a, /b", false, SourceStaticBroker}}},
		// Kafka starts the synonyms at the described name: the
		// log.retention.ms entry that wins is not listed for hours.
		{Name: "log.retention.hours", Value: "24", Source: SourceStaticBroker, ReadOnly: true, Type: TypeInt,
			Synonyms: []Synonym{{"log.retention.hours", "24", false, SourceStaticBroker}, {"log.retention.hours", "168", false, SourceDefault}}},
		{Name: "log.retention.minutes", Null: true, Source: SourceDefault, IsDefault: true, ReadOnly: true, Type: TypeInt},
		{Name: "log.retention.ms", Value: "1000", Source: SourceStaticBroker, ReadOnly: true, Type: TypeLong,
			Synonyms: []Synonym{{"log.retention.ms", "1000", false, SourceStaticBroker}, {"log.retention.hours", "24", false, SourceStaticBroker}, {"log.retention.hours", "168", false, SourceDefault}}},
		{Name: "node.id", Value: "3", Source: SourceStaticBroker, ReadOnly: true, Type: TypeInt,
			Synonyms: []Synonym{{"broker.id", "3", false, SourceStaticBroker}, {"node.id", "0", false, SourceDefault}}},
	}
	for i := range got {
		got[i].Doc = ""
		if len(got[i].Synonyms) == 0 {
			got[i].Synonyms = nil
		}
	}
	for i := range want {
		if len(want[i].Synonyms) == 0 {
			want[i].Synonyms = nil
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DescribeBroker:\n got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(b.LogDirs, []string{"/a", "/b"}) {
		t.Errorf("LogDirs = %q", b.LogDirs)
	}
	if n := len(b.DescribeBroker(nil)); n != len(BrokerDefs()) {
		t.Errorf("DescribeBroker(nil) = %d entries, want %d", n, len(BrokerDefs()))
	}
}

func TestBrokerSetAndValidate(t *testing.T) {
	t.Run("alias conflict", func(t *testing.T) {
		b := DefaultBroker()
		mustSet(t, &b, "node.id", "2", "broker.id", "2")
		err := b.Set("broker.id", "5")
		if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "node.id=2") {
			t.Fatalf("conflicting broker.id: %v", err)
		}
		if b.NodeID != 2 {
			t.Errorf("NodeID = %d after a rejected Set", b.NodeID)
		}
	})
	t.Run("unknown key hints at topic configs", func(t *testing.T) {
		b := DefaultBroker()
		err := b.Set("segment.bytes", "1")
		var ue *UnknownConfigError
		if !errors.As(err, &ue) || !errors.Is(err, ErrUnknownConfig) || !strings.Contains(err.Error(), "log.segment.bytes") {
			t.Fatalf("got %v", err)
		}
		if err := b.Set("remote.storage.enable", "false"); !errors.Is(err, ErrUnknownConfig) || !strings.Contains(err.Error(), "no broker default") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("zero broker accepts Set", func(t *testing.T) {
		var b Broker
		mustSet(t, &b, "num.partitions", "4")
		if b.NumPartitions != 4 || b.Raw["num.partitions"] != "4" {
			t.Errorf("got %d %v", b.NumPartitions, b.Raw)
		}
	})
	t.Run("validate catches direct edits and conflicts", func(t *testing.T) {
		b := DefaultBroker()
		b.NumPartitions = 0
		b.Durability = "sometimes"
		b.GroupMinSessionTimeoutMs = 10
		b.GroupMaxSessionTimeoutMs = 5
		b.LogRetentionMs = 0
		b.LogDirs = nil
		b.LogCleanerMinCompactionLagMs = 10
		b.LogCleanerMaxCompactionLagMs = 5
		err := b.Validate()
		if !errors.Is(err, ErrInvalidValue) {
			t.Fatalf("Validate = %v", err)
		}
		for _, want := range []string{"num.partitions", "samsa.durability", "group.min.session.timeout.ms", "log.retention.ms", "log.dirs", "log.cleaner.min.compaction.lag.ms"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Validate error does not mention %s: %v", want, err)
			}
		}
	})
	t.Run("unused keys", func(t *testing.T) {
		b := DefaultBroker()
		mustSet(t, &b, "num.io.threads", "16", "num.partitions", "2", "process.roles", "broker")
		if got := b.UnusedKeys(); !reflect.DeepEqual(got, []string{"num.io.threads", "process.roles"}) {
			t.Errorf("UnusedKeys = %q", got)
		}
	})
	t.Run("clone is deep", func(t *testing.T) {
		b := DefaultBroker()
		mustSet(t, &b, "log.cleanup.policy", "compact")
		c := b.Clone()
		c.LogCleanupPolicy[0] = "delete"
		c.Raw["x"] = "y"
		if b.LogCleanupPolicy[0] != "compact" || len(b.Raw) != 1 {
			t.Error("Clone shares state")
		}
	})
}

func TestTopicSettings(t *testing.T) {
	b := DefaultBroker()
	mustSet(t, &b, "log.cleanup.policy", "compact", "compression.type", "lz4", "log.message.timestamp.difference.max.ms", "60000")
	s, err := b.TopicSettings(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.CleanupCompact || s.CleanupDelete || s.Compression != "lz4" {
		t.Errorf("broker defaults not applied: %+v", s)
	}
	if s.TimestampBeforeMaxMs != 60000 || s.TimestampAfterMaxMs != 60000 || s.TimestampDifferenceMaxMs != 60000 {
		t.Errorf("difference.max.ms fallback: before %d after %d", s.TimestampBeforeMaxMs, s.TimestampAfterMaxMs)
	}

	s, err = b.TopicSettings(map[string]string{
		"cleanup.policy":                  "delete",
		"message.timestamp.before.max.ms": "1000",
		"segment.bytes":                   "2147483647",
		"min.insync.replicas":             "2",
		"message.timestamp.type":          "LogAppendTime",
		"min.cleanable.dirty.ratio":       "0.1",
		"retention.bytes":                 "-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.CleanupCompact || !s.CleanupDelete || s.TimestampBeforeMaxMs != 1000 || s.TimestampAfterMaxMs != 60000 ||
		s.SegmentBytes != math.MaxInt32 || s.MinInsyncReplicas != 2 || s.TimestampType != "LogAppendTime" ||
		s.MinCleanableDirtyRatio != 0.1 || s.RetentionBytes != -1 {
		t.Errorf("overrides not applied: %+v", s)
	}

	_, err = b.TopicSettings(map[string]string{"min.compaction.lag.ms": "100", "max.compaction.lag.ms": "10"})
	if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "min.compaction.lag.ms (100) > max.compaction.lag.ms (10)") {
		t.Errorf("compaction lag conflict: %v", err)
	}
	mustSet(t, &b, "log.cleaner.max.compaction.lag.ms", "50")
	if err := b.ValidateTopicConfigs(map[string]string{"min.compaction.lag.ms": "100"}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("conflict with the broker default not found: %v", err)
	}

	err = b.ValidateTopicConfigs(map[string]string{"bogus": "1", "segment.ms": "0", "retention.ms": "x"})
	if !errors.Is(err, ErrUnknownConfig) || !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("want both sentinels, got %v", err)
	}
	for _, want := range []string{"bogus", "segment.ms", "retention.ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestAlterTopicConfigs(t *testing.T) {
	cur := map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}
	tests := []struct {
		name    string
		alts    []Alteration
		want    map[string]string
		wantErr error
	}{
		{"set", []Alteration{{Name: "segment.ms", Op: OpSet, Value: ptr("10")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact", "segment.ms": "10"}, nil},
		{"delete", []Alteration{{Name: "retention.ms", Op: OpDelete}},
			map[string]string{"cleanup.policy": "compact"}, nil},
		{"delete absent", []Alteration{{Name: "segment.ms", Op: OpDelete}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}, nil},
		{"append", []Alteration{{Name: "cleanup.policy", Op: OpAppend, Value: ptr("delete,compact")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete"}, nil},
		{"subtract", []Alteration{{Name: "cleanup.policy", Op: OpSubtract, Value: ptr("compact")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": ""}, nil},
		{"append to default", []Alteration{{Name: "cleanup.policy", Op: OpDelete}, {Name: "cleanup.policy", Op: OpAppend, Value: ptr("compact")}},
			map[string]string{"retention.ms": "1000", "cleanup.policy": "delete,compact"}, nil},
		{"append invalid element", []Alteration{{Name: "cleanup.policy", Op: OpAppend, Value: ptr("archive")}}, nil, ErrInvalidValue},
		{"append to non-list", []Alteration{{Name: "retention.ms", Op: OpAppend, Value: ptr("1")}}, nil, ErrInvalidValue},
		{"set invalid", []Alteration{{Name: "segment.ms", Op: OpSet, Value: ptr("0")}}, nil, ErrInvalidValue},
		{"set null", []Alteration{{Name: "segment.ms", Op: OpSet}}, nil, ErrInvalidValue},
		{"unknown op", []Alteration{{Name: "segment.ms", Op: 9, Value: ptr("1")}}, nil, ErrInvalidValue},
		{"unknown name", []Alteration{{Name: "segment.hours", Op: OpDelete}}, nil, ErrUnknownConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AlterTopicConfigs(cur, tt.alts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if len(cur) != 2 || cur["retention.ms"] != "1000" || cur["cleanup.policy"] != "compact" {
		t.Errorf("AlterTopicConfigs modified its input: %v", cur)
	}
	if got, err := AlterTopicConfigs(nil, nil); err != nil || got == nil || len(got) != 0 {
		t.Errorf("nil input: %v %v", got, err)
	}
}
