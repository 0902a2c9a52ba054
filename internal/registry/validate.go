package registry

import (
	"fmt"
	"strings"
)

// Subject name strategies, by the names Confluent's topic configs
// confluent.key.subject.name.strategy / confluent.value.subject.name.strategy take (the
// fully qualified class name or its last part).
const (
	TopicNameStrategy       = "TopicNameStrategy"       // <topic>-key, <topic>-value
	RecordNameStrategy      = "RecordNameStrategy"      // <record full name>
	TopicRecordNameStrategy = "TopicRecordNameStrategy" // <topic>-<record full name>
)

// strategyName returns the short name of a strategy given by short or fully qualified name.
func strategyName(s string) string {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return TopicNameStrategy
	}
	return s
}

// ValidateSchemaID reports whether a record of topic may carry schema id in its key (key) or
// value under the subject name strategy (TopicNameStrategy if ""): the id must be registered,
// and a live (not soft-deleted) version of the strategy's subject must use it. The error says
// why not. It never blocks: it reads the registry's in-memory state. It is what the broker
// calls for topics with confluent.key/value.schema.validation=true.
func (r *Registry) ValidateSchemaID(topic string, key bool, strategy string, id int32) error {
	if !r.ready.Load() {
		return fmt.Errorf("the schema registry is still loading; cannot validate schema id %d", id)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	st := r.mu.st
	if st.ids[id] == nil {
		return fmt.Errorf("schema id %d is not registered in the schema registry", id)
	}
	part := "value"
	if key {
		part = "key"
	}
	// The subject: TopicNameStrategy <topic>-<part>, RecordNameStrategy <record>,
	// TopicRecordNameStrategy <topic>-<record>. Compared in pieces (subjectIs), so that the
	// produce path does not build a string per record.
	withTopic, name := true, part
	switch strategyName(strategy) {
	case TopicNameStrategy:
	case RecordNameStrategy, TopicRecordNameStrategy:
		p, err := r.parsedByIDLocked(st, id)
		if err != nil {
			return fmt.Errorf("schema id %d: %v", id, err)
		}
		if p.recordName == "" {
			return fmt.Errorf("schema id %d has no record name for %s", id, strategyName(strategy))
		}
		name = p.recordName
		withTopic = strategyName(strategy) == TopicRecordNameStrategy
	default:
		return fmt.Errorf("unknown subject name strategy %q", strategy)
	}
	for _, e := range st.ids[id].uses {
		if !e.deleted && subjectIs(e.subject, withTopic, topic, name) {
			return nil
		}
	}
	subject := name
	if withTopic {
		subject = topic + "-" + name
	}
	return fmt.Errorf("schema id %d is not registered under subject %q (%s of the %s)", id, subject, strategyName(strategy), part)
}

// subjectIs reports whether subject is name, or topic-name when withTopic.
func subjectIs(subject string, withTopic bool, topic, name string) bool {
	if !withTopic {
		return subject == name
	}
	return len(subject) == len(topic)+1+len(name) && subject[:len(topic)] == topic &&
		subject[len(topic)] == '-' && subject[len(topic)+1:] == name
}
