package config

import (
	"os"
	"strings"
	"testing"
)

func benchBroker(b *testing.B) Broker {
	br := DefaultBroker()
	for _, kv := range [][2]string{{"log.retention.hours", "24"}, {"log.segment.bytes", "536870912"}, {"num.partitions", "3"}} {
		if err := br.Set(kv[0], kv[1]); err != nil {
			b.Fatal(err)
		}
	}
	return br
}

var benchOverrides = map[string]string{
	"cleanup.policy":      "compact",
	"retention.ms":        "3600000",
	"segment.bytes":       "104857600",
	"min.insync.replicas": "2",
	"compression.type":    "zstd",
}

// BenchmarkTopicSettings measures building a topic's typed settings (done
// when a partition is opened or its config changes).
func BenchmarkTopicSettings(b *testing.B) {
	br := benchBroker(b)
	b.Run("no-overrides", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := br.TopicSettings(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("5-overrides", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := br.TopicSettings(benchOverrides); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkTopicValue(b *testing.B) {
	br := benchBroker(b)
	b.Run("override", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			br.TopicValue(benchOverrides, "retention.ms")
		}
	})
	b.Run("broker", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			br.TopicValue(benchOverrides, "segment.ms")
		}
	})
}

func BenchmarkValidateTopicConfig(b *testing.B) {
	v := "604800000"
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateTopicConfig("retention.ms", &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDescribeTopic measures a full DescribeConfigs of one topic.
func BenchmarkDescribeTopic(b *testing.B) {
	br := benchBroker(b)
	b.ReportAllocs()
	for b.Loop() {
		if len(br.DescribeTopic(benchOverrides, nil)) == 0 {
			b.Fatal("empty")
		}
	}
}

func BenchmarkParseProperties(b *testing.B) {
	data, err := os.ReadFile("testdata/properties/kafka-server.properties")
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		br := DefaultBroker()
		if err := ParseProperties(strings.NewReader(s), &br); err != nil {
			b.Fatal(err)
		}
	}
}
