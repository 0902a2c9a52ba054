package registry

import (
	"fmt"
	"strings"

	"github.com/twmb/avro"
)

// Level is a compatibility level, by Confluent's name.
type Level string

// The seven compatibility levels. BACKWARD is the default.
//
//	level                 the new schema is checked against    in direction
//	BACKWARD              the latest version                   new reads old
//	BACKWARD_TRANSITIVE   every version                        new reads old
//	FORWARD               the latest version                   old reads new
//	FORWARD_TRANSITIVE    every version                        old reads new
//	FULL                  the latest version                   both
//	FULL_TRANSITIVE       every version                        both
//	NONE                  nothing
//
// "New reads old" means data written with the old schema (the writer) can be decoded by a
// consumer using the new schema (the reader): under Avro's schema-resolution rules for Avro,
// Confluent's difference rules for JSON Schema and Protobuf. Soft-deleted versions are not
// checked against.
const (
	LevelNone               Level = "NONE"
	LevelBackward           Level = "BACKWARD"
	LevelBackwardTransitive Level = "BACKWARD_TRANSITIVE"
	LevelForward            Level = "FORWARD"
	LevelForwardTransitive  Level = "FORWARD_TRANSITIVE"
	LevelFull               Level = "FULL"
	LevelFullTransitive     Level = "FULL_TRANSITIVE"
)

// parseLevel returns the level named s (any letter case), as Confluent's CompatibilityLevel.forName.
func parseLevel(s string) (Level, bool) {
	switch l := Level(strings.ToUpper(s)); l {
	case LevelNone, LevelBackward, LevelBackwardTransitive, LevelForward, LevelForwardTransitive, LevelFull, LevelFullTransitive:
		return l, true
	}
	return "", false
}

func (l Level) transitive() bool { return strings.HasSuffix(string(l), "_TRANSITIVE") }
func (l Level) backward() bool {
	return l == LevelBackward || l == LevelBackwardTransitive || l == LevelFull || l == LevelFullTransitive
}
func (l Level) forward() bool {
	return l == LevelForward || l == LevelForwardTransitive || l == LevelFull || l == LevelFullTransitive
}

// priorVersion is a registered, not soft-deleted version a new schema is checked against.
type priorVersion struct {
	version int32
	schema  *parsedSchema
}

// checkCompatibility checks s against prior (oldest first) under level and returns one message
// list per failure, empty when s is compatible. The non-transitive levels check against the
// last element of prior only.
//
// Avro schemas are checked with Avro's schema-resolution rules (twmb/avro's CheckCompatibility,
// called as (writer, reader)); JSON Schema and Protobuf schemas with Confluent's difference
// rules (jsonDiff, protobufDiff: diff.go).
func checkCompatibility(level Level, s *parsedSchema, prior []priorVersion) []string {
	if level == LevelNone || level == "" || len(prior) == 0 {
		return nil
	}
	if !level.transitive() {
		prior = prior[len(prior)-1:]
	}
	var msgs []string
	// Newest first, as Confluent reports them.
	for i := len(prior) - 1; i >= 0; i-- {
		p := prior[i]
		var details []string
		if p.schema.typ != s.typ {
			details = append(details, fmt.Sprintf("Incompatible because of different schema type: version %d is %s, the new schema is %s", p.version, p.schema.typ, s.typ))
		} else if s.typ == TypeAvro {
			if level.backward() {
				if err := avroCompatible(p.schema.avro, s.avro); err != nil {
					details = append(details, fmt.Sprintf("the new schema cannot read data written with version %d: %v", p.version, err))
				}
			}
			if level.forward() {
				if err := avroCompatible(s.avro, p.schema.avro); err != nil {
					details = append(details, fmt.Sprintf("version %d cannot read data written with the new schema: %v", p.version, err))
				}
			}
		} else {
			if level.backward() {
				details = append(details, diffMessages(p.schema, s, true)...)
			}
			if level.forward() {
				details = append(details, diffMessages(s, p.schema, false)...)
			}
		}
		if len(details) == 0 {
			continue
		}
		msgs = append(msgs, details...)
		msgs = append(msgs,
			fmt.Sprintf("{oldSchemaVersion: %d}", p.version),
			fmt.Sprintf("{oldSchema: '%s'}", p.schema.text),
			fmt.Sprintf("{compatibility: '%s'}", level))
	}
	return msgs
}

// diffMessages lists, in Confluent's format, why update cannot read data written with original
// (both JSON Schema or both Protobuf); newer says the update is the new schema (the backward
// direction), which the messages call "new" (the other "old").
func diffMessages(original, update *parsedSchema, newer bool) []string {
	updateName, originalName := "new", "old"
	if !newer {
		updateName, originalName = "old", "new"
	}
	var diffs []difference
	var describe func(difference) string
	switch {
	case original.json != nil && update.json != nil:
		diffs, describe = jsonDiff(original.json, update.json), describeJSONDifference
	case original.proto != nil && update.proto != nil:
		diffs, describe = protobufDiff(original.proto, update.proto, newer), describeProtobufDifference
	default:
		return []string{"a schema did not parse"}
	}
	out := make([]string, len(diffs))
	for i, d := range diffs {
		out[i] = formatDifference(d, describe, updateName, originalName)
	}
	return out
}

// avroCompatible reports whether data written with writer can be read with reader.
func avroCompatible(writer, reader *avro.Schema) error {
	if writer == nil || reader == nil {
		return fmt.Errorf("schema did not parse")
	}
	return avro.CheckCompatibility(writer, reader)
}
