package registry

import (
	"encoding/binary"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
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
// and a live (not soft-deleted) version of the strategy's subject must use it. For a Protobuf
// schema, data (the bytes after the id) must start with message indexes naming a message of the
// schema, and that message's full name is the record name RecordNameStrategy uses (as
// Confluent's Protobuf serializer derives it). The error says why not. It never blocks: it reads
// the registry's in-memory state. It is what the broker calls for topics with
// confluent.key/value.schema.validation=true.
func (r *Registry) ValidateSchemaID(topic string, key bool, strategy string, id int32, data []byte) error {
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
	var message string // a Protobuf value's message type
	if st.ids[id].typ == TypeProtobuf {
		p, err := r.parsedByIDLocked(st, id)
		if err != nil {
			return fmt.Errorf("schema id %d: %v", id, err)
		}
		md, err := protoMessageAt(p.proto, data)
		if err != nil {
			return fmt.Errorf("Protobuf message indexes after schema id %d: %v", id, err)
		}
		message = string(md.FullName())
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
		if message != "" {
			name = message
		}
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

// maxMessageIndexes bounds a Protobuf value's message-index path.
const maxMessageIndexes = 100

// protoMessageAt reads the message-index path at the start of data (zigzag varints: a count,
// then the indexes; a count of 0 means [0]) and returns the message of f it names.
func protoMessageAt(f protoreflect.FileDescriptor, data []byte) (protoreflect.MessageDescriptor, error) {
	n, k := binary.Varint(data)
	if k <= 0 {
		return nil, fmt.Errorf("missing or malformed")
	}
	data = data[k:]
	idx := []int64{0}
	if n != 0 {
		if n < 0 || n > maxMessageIndexes {
			return nil, fmt.Errorf("count %d", n)
		}
		idx = make([]int64, n)
		for i := range idx {
			if idx[i], k = binary.Varint(data); k <= 0 {
				return nil, fmt.Errorf("malformed")
			}
			data = data[k:]
		}
	}
	ms := f.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range idx {
		if i < 0 || i >= int64(ms.Len()) {
			return nil, fmt.Errorf("%v names no message of the schema", idx)
		}
		md = ms.Get(int(i))
		ms = md.Messages()
	}
	return md, nil
}
