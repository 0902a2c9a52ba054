package broker

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-streaming/samsa/internal/config"
	"github.com/samsa-streaming/samsa/internal/records"
)

// Broker-side schema validation (Confluent Server's feature, by its topic config names). A topic
// with confluent.value.schema.validation=true (or .key.) accepts only records whose value (key)
// is in the schema registry's wire format,
//
//	+------+----------------------------+----------------------+
//	| 0x00 | schema id (int32, big end.) | serialized data ...  |
//	+------+----------------------------+----------------------+
//
// with an id the registry has registered for the subject the topic's
// confluent.value.subject.name.strategy derives (TopicNameStrategy: "<topic>-value"). A null
// value (a tombstone) or null key carries no schema and passes. The first record that fails
// fails the whole batch with INVALID_RECORD and a message naming the record and the reason.
//
// Records are parsed only for topics with validation on; the produce path of other topics is
// unchanged.

// SchemaValidator decides whether a schema id may be used in a topic's keys (key) or values;
// data is what follows the id (a Protobuf value's message indexes come first).
// ValidateSchemaID returns nil to accept, or an error saying why not; it must not block (the
// produce path calls it for each record). strategy is the topic's subject name strategy config
// value (a Confluent class name or its last part).
type SchemaValidator interface {
	ValidateSchemaID(topic string, key bool, strategy string, id int32, data []byte) error
}

// schemaValidationOn reports whether produce to a topic with these settings must validate.
func schemaValidationOn(s *config.TopicSettings) bool {
	return s.KeySchemaValidation || s.ValueSchemaValidation
}

// validateSchemaIDs checks every record of batch (validated, possibly compressed) against the
// broker's SchemaValidator, for the parts of the record the topic validates.
func (b *Broker) validateSchemaIDs(topic string, batch []byte, s *config.TopicSettings) error {
	if b.cfg.SchemaValidator == nil {
		return kErr(kerr.InvalidRecord, "topic %s has schema validation on, but this broker runs no schema registry", topic)
	}
	return records.EachRecord(batch, func(_ records.Header, rec *records.Record) error {
		if s.KeySchemaValidation {
			if err := b.checkSchemaID(topic, true, s.KeySubjectNameStrategy, rec.Key, rec.OffsetDelta); err != nil {
				return err
			}
		}
		if s.ValueSchemaValidation {
			if err := b.checkSchemaID(topic, false, s.ValueSubjectNameStrategy, rec.Value, rec.OffsetDelta); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *Broker) checkSchemaID(topic string, key bool, strategy string, data []byte, delta int32) error {
	if data == nil {
		return nil
	}
	part := "value"
	if key {
		part = "key"
	}
	if len(data) < 5 || data[0] != 0 {
		return kErr(kerr.InvalidRecord, "record %d: the %s is not in the schema registry wire format (magic byte 0 and a 4-byte schema id), which topic %s requires (confluent.%s.schema.validation=true)",
			delta, part, topic, part)
	}
	id := int32(binary.BigEndian.Uint32(data[1:5]))
	if err := b.cfg.SchemaValidator.ValidateSchemaID(topic, key, strategy, id, data[5:]); err != nil {
		return kErr(kerr.InvalidRecord, "record %d: the %s's %v", delta, part, err)
	}
	return nil
}
