package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-streaming/samsa/internal/group"
)

// ConsumerGroupHeartbeat v0-1 and ConsumerGroupDescribe v0-1 (Kafka 4.0's): the consumer
// group protocol of KIP-848, served by the group coordinator (internal/group, consumer.go and
// 68_consumer_group_heartbeat.go). This file gives the coordinator the topic metadata its
// server-side assignors need and its group.consumer.* settings.

func init() {
	register(kmsg.ConsumerGroupHeartbeat, 0, (*Broker).handleGroupRequest)
	register(kmsg.ConsumerGroupDescribe, 0, (*Broker).handleGroupRequest)
}

// withConsumerProtocol sets the consumer-protocol settings of cfg from the broker's
// group.consumer.* settings.
func (b *Broker) withConsumerProtocol(cfg group.Config) group.Config {
	s := b.cfg.Settings
	cfg.ConsumerSessionTimeout = time.Duration(s.GroupConsumerSessionTimeoutMs) * time.Millisecond
	cfg.ConsumerHeartbeatInterval = time.Duration(s.GroupConsumerHeartbeatIntervalMs) * time.Millisecond
	if s.GroupConsumerMaxSize > 0 && s.GroupConsumerMaxSize < 1<<31-1 {
		cfg.ConsumerMaxSize = int(s.GroupConsumerMaxSize)
	}
	cfg.ConsumerMigrationPolicy = s.GroupConsumerMigrationPolicy
	return cfg
}

// groupTopics lists every topic with its id and partition count for the assignors.
func (b *Broker) groupTopics() []group.TopicMeta {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]group.TopicMeta, 0, len(b.mu.topics))
	for _, t := range b.mu.topics {
		out = append(out, group.TopicMeta{Name: t.name, ID: t.id, Partitions: int32(len(t.partitions)), Internal: t.internal})
	}
	return out
}
