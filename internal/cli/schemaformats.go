package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/samsa-streaming/samsa/serde"
)

// lineEncoder turns one line of JSON text into a key or value in the Confluent wire format.
type lineEncoder interface {
	appendEncode(dst, line []byte) ([]byte, error)
}

// schemaFileType says which schema language file holds: Protobuf for a .proto file, Avro for
// .avsc, and for other names (.json) JSON Schema when the document looks like one ("$schema",
// "properties", a JSON Schema type name such as "object" or "integer", a list of types,
// combinators) and Avro otherwise (a record, enum, fixed, union or primitive).
func schemaFileType(file string, text []byte) sr.SchemaType {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".proto":
		return sr.TypeProtobuf
	case ".avsc":
		return sr.TypeAvro
	}
	var m map[string]any
	if json.Unmarshal(text, &m) != nil {
		return sr.TypeAvro // a string or a union: Avro; anything else fails Avro's parser with its reason
	}
	for _, k := range []string{"$schema", "properties", "allOf", "anyOf", "oneOf", "$ref", "$defs", "definitions"} {
		if _, ok := m[k]; ok {
			return sr.TypeJSON
		}
	}
	switch t := m["type"].(type) {
	case string:
		switch t {
		case "object", "integer", "number", "array":
			if _, ok := m["items"].(string); t == "array" && ok {
				return sr.TypeAvro // Avro's {"type":"array","items":"long"}
			}
			if _, ok := m["items"].([]any); t == "array" && ok {
				return sr.TypeJSON
			}
			if _, ok := m["items"].(map[string]any); t == "array" && ok {
				if it, _ := m["items"].(map[string]any)["type"].(string); it == "record" || it == "enum" || it == "fixed" {
					return sr.TypeAvro
				}
				return sr.TypeJSON
			}
			return sr.TypeJSON
		}
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok && (s == "object" || s == "integer" || s == "number") {
				return sr.TypeJSON
			}
		}
	}
	return sr.TypeAvro
}

// newSchemaEncoder reads the schema in file, registers it under subject (or finds it there)
// and returns the encoder for its language: Avro (avroEncoder), JSON Schema (lines are JSON
// values checked against the schema) or Protobuf (lines are the file's first message in
// Protobuf's JSON mapping).
func (a *app) newSchemaEncoder(ctx context.Context, reg *serde.Registry, what, flag, file, subject string) (lineEncoder, error) {
	text, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	typ := schemaFileType(file, text)
	if typ == sr.TypeAvro {
		return a.newAvroEncoder(ctx, reg, what, flag, file, subject)
	}
	rctx, cancel := a.opCtx(ctx)
	defer cancel()
	switch typ {
	case sr.TypeJSON:
		s, err := serde.NewJSONSchema[json.RawMessage](rctx, reg, serde.JSONSchemaConfig{Subject: subject, Schema: string(text)})
		if err != nil {
			return nil, a.explainRegistry("register the "+what+" JSON Schema "+file, err)
		}
		return &formatEncoder{what: what, encode: s.EncodeJSON}, nil
	default:
		p, err := serde.NewProtobuf(rctx, reg, serde.ProtobufConfig{Subject: subject, Schema: string(text)})
		if err != nil {
			return nil, a.explainRegistry("register the "+what+" Protobuf schema "+file, err)
		}
		return &formatEncoder{what: what, encode: p.EncodeJSON}, nil
	}
}

// formatEncoder encodes lines with a serde's EncodeJSON.
type formatEncoder struct {
	what   string
	encode func([]byte) ([]byte, error)
}

func (e *formatEncoder) appendEncode(dst, line []byte) ([]byte, error) {
	b, err := e.encode(line)
	if err != nil {
		return dst, fmt.Errorf("%s %q does not fit the schema: %w", e.what, abbreviate(line), err)
	}
	return append(dst, b...), nil
}

// appendOtherJSON renders a JSON Schema or Protobuf value (wire format, schema id id) as JSON
// text: the JSON itself (validated against its writer schema), or the Protobuf message in
// Protobuf's JSON mapping. ok is false for an Avro id (the caller decodes it).
func (d *avroDecoder) appendOtherJSON(ctx context.Context, dst, b []byte, id int) (out []byte, ok bool, err error) {
	st, err := d.reg.SchemaTextByID(ctx, id)
	if err != nil {
		return dst, true, err
	}
	switch st.Type {
	case sr.TypeJSON:
		text, _, err := d.reg.DecodeJSONSchema(ctx, b)
		if err != nil {
			return dst, true, err
		}
		return append(dst, text...), true, nil
	case sr.TypeProtobuf:
		m, _, err := d.reg.DecodeProtobuf(ctx, b)
		if err != nil {
			return dst, true, err
		}
		text, err := protojson.Marshal(m)
		if err != nil {
			return dst, true, fmt.Errorf("schema id %d: %w", id, err)
		}
		// protojson varies its whitespace on purpose; print it compact, one record a line.
		buf := bytes.NewBuffer(dst)
		if err := json.Compact(buf, text); err != nil {
			return dst, true, fmt.Errorf("schema id %d: %w", id, err)
		}
		return buf.Bytes(), true, nil
	}
	return dst, false, nil
}
