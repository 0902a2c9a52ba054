package broker

import (
	"maps"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/config"
)

// topicSpec is a validated request to create a topic.
type topicSpec struct {
	name       string
	partitions int32
	configs    map[string]string
	internal   bool
}

// validateTopicSpec checks a CreateTopics entry (or an auto-create) and fills defaults.
// numPartitions/replication of -1 mean the broker defaults.
func (b *Broker) validateTopicSpec(name string, numPartitions int32, replication int16, configs map[string]*string) (topicSpec, error) {
	s := topicSpec{name: name, partitions: numPartitions}
	if err := config.ValidateTopicName(name); err != nil {
		return s, kErr(kerr.InvalidTopicException, "%v", err)
	}
	if s.partitions == -1 {
		s.partitions = b.cfg.Settings.NumPartitions
	}
	if s.partitions <= 0 {
		return s, kErr(kerr.InvalidPartitions, "number of partitions must be larger than 0, got %d", numPartitions)
	}
	if s.partitions > 100000 {
		return s, kErr(kerr.InvalidPartitions, "number of partitions %d is more than this broker allows (100000)", numPartitions)
	}
	if replication == -1 {
		replication = b.cfg.Settings.DefaultReplicationFactor
	}
	if replication <= 0 {
		return s, kErr(kerr.InvalidReplicationFactor, "replication factor must be larger than 0, got %d", replication)
	}
	if replication > 1 {
		return s, kErr(kerr.InvalidReplicationFactor, "replication factor: %d larger than available brokers: 1", replication)
	}
	s.configs = map[string]string{}
	for k, v := range configs {
		if v == nil {
			return s, kErr(kerr.InvalidConfig, "null value for config %s", k)
		}
		if err := config.ValidateTopicConfig(k, v); err != nil {
			return s, kErr(kerr.InvalidConfig, "%v", err)
		}
		s.configs[k] = *v
	}
	if _, err := b.cfg.Settings.TopicSettings(s.configs); err != nil {
		return s, kErr(kerr.InvalidConfig, "%v", err)
	}
	return s, nil
}

// createTopic creates a validated topic: partition directories first, then meta.json, so a
// crash in between leaves only directories that the next start ignores... and that a later
// create of the same name reuses after truncating them.
func (b *Broker) createTopic(s topicSpec) (*topic, error) {
	return b.createTopicWithID(s, newUUID())
}

// createTopicWithID is createTopic with the topic id given (in cluster mode, the store's).
func (b *Broker) createTopicWithID(s topicSpec, id [16]byte) (*topic, error) {
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	if b.lookupTopic(s.name) != nil {
		return nil, kErr(kerr.TopicAlreadyExists, "topic '%s' already exists", s.name)
	}
	if collide := b.collidingTopic(s.name); collide != "" {
		return nil, kErr(kerr.InvalidTopicException, "topic '%s' collides with existing topic '%s' ('.' and '_' are interchangeable in metric names)", s.name, collide)
	}
	settings, err := b.cfg.Settings.TopicSettings(s.configs)
	if err != nil {
		return nil, kErr(kerr.InvalidConfig, "%v", err)
	}
	t := &topic{name: s.name, id: id, internal: s.internal, configs: s.configs}
	t.settings.Store(&settings)
	for i := int32(0); i < s.partitions; i++ {
		p, err := b.openFreshPartition(t, i)
		if err != nil {
			for _, op := range t.partitions {
				op.removeFiles(encodeUUID(t.id))
			}
			return nil, kErr(kerr.KafkaStorageError, "create partition %d: %v", i, err)
		}
		t.partitions = append(t.partitions, p)
	}
	b.mu.Lock()
	b.mu.topics[t.name] = t
	b.mu.byID[t.id] = t
	err = b.saveMetaLocked()
	if err != nil {
		delete(b.mu.topics, t.name)
		delete(b.mu.byID, t.id)
	}
	b.mu.Unlock()
	if err != nil {
		for _, p := range t.partitions {
			p.removeFiles(encodeUUID(t.id))
		}
		return nil, kErr(kerr.KafkaStorageError, "%v", err)
	}
	b.log.Info("created topic", "topic", t.name, "partitions", s.partitions, "configs", s.configs)
	return t, nil
}

// openFreshPartition opens partition i of a new topic, removing any leftover directory of an
// earlier topic with the same name whose creation did not complete.
func (b *Broker) openFreshPartition(t *topic, i int32) (*partition, error) {
	dir := b.partitionDir(t.name, i)
	if err := removeAllIfExists(dir); err != nil {
		return nil, err
	}
	return b.openPartition(t, i)
}

// collidingTopic returns an existing topic whose name equals name once '.' and '_' are
// treated alike (Kafka refuses such pairs), or "".
func (b *Broker) collidingTopic(name string) string {
	norm := strings.ReplaceAll(name, ".", "_")
	b.mu.RLock()
	defer b.mu.RUnlock()
	for n := range b.mu.topics {
		if n != name && strings.ReplaceAll(n, ".", "_") == norm {
			return n
		}
	}
	return ""
}

// deleteTopic removes a topic: meta.json first (the point of no return), then the files.
func (b *Broker) deleteTopic(t *topic) error {
	if t.internal {
		return kErr(kerr.InvalidTopicException, "internal topic '%s' cannot be deleted", t.name)
	}
	return b.deleteTopicLocal(t)
}

// deleteTopicLocal removes a topic's local replica (in cluster mode: the store deleted it).
func (b *Broker) deleteTopicLocal(t *topic) error {
	b.metaMu.Lock()
	b.mu.Lock()
	if b.mu.topics[t.name] != t {
		b.mu.Unlock()
		b.metaMu.Unlock()
		return kErr(kerr.UnknownTopicOrPartition, "topic '%s' does not exist", t.name)
	}
	delete(b.mu.topics, t.name)
	delete(b.mu.byID, t.id)
	err := b.saveMetaLocked()
	if err != nil {
		b.mu.topics[t.name] = t
		b.mu.byID[t.id] = t
	}
	parts := t.partitions
	b.mu.Unlock()
	b.metaMu.Unlock()
	if err != nil {
		return kErr(kerr.KafkaStorageError, "%v", err)
	}
	for _, p := range parts {
		if p.rs != nil {
			p.rs.stopLeading()
		}
		if err := p.removeFiles(encodeUUID(t.id)); err != nil {
			b.log.Warn("cannot remove partition files of deleted topic", "topic", t.name, "partition", p.index, "err", err)
		}
	}
	if b.groups != nil {
		b.groups.TopicsDeleted([]string{t.name})
	}
	b.log.Info("deleted topic", "topic", t.name)
	return nil
}

// addPartitions grows t to count partitions.
func (b *Broker) addPartitions(t *topic, count int32, validateOnly bool) error {
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	cur := int32(len(b.topicPartitions(t)))
	switch {
	case count < cur:
		return kErr(kerr.InvalidPartitions, "topic currently has %d partitions, which is higher than the requested %d", cur, count)
	case count == cur:
		return kErr(kerr.InvalidPartitions, "topic already has %d partitions", cur)
	case count > 100000:
		return kErr(kerr.InvalidPartitions, "number of partitions %d is more than this broker allows (100000)", count)
	case t.internal:
		return kErr(kerr.InvalidRequest, "cannot add partitions to internal topic '%s'", t.name)
	}
	if validateOnly {
		return nil
	}
	return b.growPartitionsLocked(t, cur, count)
}

// addPartitionsLocal grows a topic's local replica to count partitions (cluster mode).
func (b *Broker) addPartitionsLocal(t *topic, count int32) error {
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	cur := int32(len(b.topicPartitions(t)))
	if count <= cur {
		return nil
	}
	return b.growPartitionsLocked(t, cur, count)
}

// growPartitionsLocked opens partitions cur..count-1 of t and records them. metaMu is held.
func (b *Broker) growPartitionsLocked(t *topic, cur, count int32) error {
	var added []*partition
	for i := cur; i < count; i++ {
		p, err := b.openFreshPartition(t, i)
		if err != nil {
			for _, op := range added {
				op.removeFiles(encodeUUID(t.id))
			}
			return kErr(kerr.KafkaStorageError, "create partition %d: %v", i, err)
		}
		added = append(added, p)
	}
	b.mu.Lock()
	old := t.partitions
	t.partitions = append(old[:len(old):len(old)], added...)
	err := b.saveMetaLocked()
	if err != nil {
		t.partitions = old
	}
	b.mu.Unlock()
	if err != nil {
		for _, p := range added {
			p.removeFiles(encodeUUID(t.id))
		}
		return kErr(kerr.KafkaStorageError, "%v", err)
	}
	b.log.Info("added partitions", "topic", t.name, "from", cur, "to", count)
	return nil
}

// setTopicConfigs replaces t's overrides with configs (already validated one by one) and
// applies them to every partition's log.
// In cluster mode the change is written to the metadata store (every broker applies it from
// there, setTopicConfigsLocal).
func (b *Broker) setTopicConfigs(t *topic, configs map[string]string, validateOnly bool) error {
	if _, err := b.cfg.Settings.TopicSettings(configs); err != nil {
		return kErr(kerr.InvalidConfig, "%v", err)
	}
	if validateOnly {
		return nil
	}
	if b.cl != nil {
		return b.cl.setTopicConfigs(t.name, configs)
	}
	return b.setTopicConfigsLocal(t, configs)
}

// setTopicConfigsLocal applies configs to the local topic and its logs.
func (b *Broker) setTopicConfigsLocal(t *topic, configs map[string]string) error {
	settings, err := b.cfg.Settings.TopicSettings(configs)
	if err != nil {
		return kErr(kerr.InvalidConfig, "%v", err)
	}
	b.metaMu.Lock()
	defer b.metaMu.Unlock()
	b.mu.Lock()
	old, oldSettings := t.configs, t.settings.Load()
	t.configs = maps.Clone(configs)
	t.settings.Store(&settings)
	err = b.saveMetaLocked()
	if err != nil {
		t.configs = old
		t.settings.Store(oldSettings)
	}
	parts := t.partitions
	b.mu.Unlock()
	if err != nil {
		return kErr(kerr.KafkaStorageError, "%v", err)
	}
	lc := b.logConfig(&settings)
	for _, p := range parts {
		if err := p.log.SetConfig(lc); err != nil {
			b.log.Warn("cannot apply config to partition", "topic", t.name, "partition", p.index, "err", err)
		}
	}
	b.log.Info("altered topic configs", "topic", t.name, "configs", configs)
	return nil
}

// topicConfigs returns a copy of t's overrides.
func (b *Broker) topicConfigs(t *topic) map[string]string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return maps.Clone(t.configs)
}
