package serde

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/sr"
)

// JSON Schema in the Confluent wire format: the 5-byte header, then the value as UTF-8 JSON text
// (no other framing), which is what Confluent's KafkaJsonSchemaSerializer writes.

// ErrInvalid is returned (wrapped, with the reasons) by encoders for a value that does not
// conform to the serde's schema, and by JSON Schema decoders for JSON that does not conform to
// its writer schema.
var ErrInvalid = errors.New("value does not conform to the schema")

// JSONSchemaConfig configures NewJSONSchema.
type JSONSchemaConfig struct {
	// Subject the schema is registered under (ValueSubject(topic), KeySubject(topic)).
	Subject string
	// Schema is the JSON Schema document (draft-07 unless it names another in "$schema").
	Schema string
	// References name the registered schemas its $refs point to (the $ref text is the name).
	References []Reference
	// LookupOnly: only look the schema up (auto.register.schemas=false).
	LookupOnly bool
}

// JSONSchema is a serde for values of type T as JSON checked against a JSON Schema. Encode
// marshals with encoding/json and validates the result against the schema before framing it
// (Confluent's json.fail.invalid.schema=true); Decode validates the JSON against its writer
// schema (fetched by the id in the data, once) and unmarshals it into T. It is safe for
// concurrent use, and satisfies Coder[T].
type JSONSchema[T any] struct {
	reg     *Registry
	self    Registered
	schema  *jsonschema.Schema
	header  []byte
	timeout func() (context.Context, context.CancelFunc)
}

// NewJSONSchema compiles cfg.Schema, registers it under cfg.Subject (or, with LookupOnly, finds
// it there) and returns the serde. A schema that does not compile is an error naming why; one
// the registry refuses is an error wrapping its *sr.ResponseError.
func NewJSONSchema[T any](ctx context.Context, reg *Registry, cfg JSONSchemaConfig) (*JSONSchema[T], error) {
	refs, err := reg.referenceTexts(ctx, cfg.References)
	if err != nil {
		return nil, fmt.Errorf("serde: JSON Schema references: %w", err)
	}
	s, err := CompileJSONSchema(cfg.Schema, refs)
	if err != nil {
		return nil, fmt.Errorf("serde: JSON Schema: %w", err)
	}
	r, err := reg.subjectSchema(ctx, cfg.Subject, sr.TypeJSON, cfg.Schema, cfg.References, !cfg.LookupOnly)
	if err != nil {
		return nil, err
	}
	j := &JSONSchema[T]{reg: reg, self: r, schema: s, header: appendHeader(nil, uint32(r.ID))}
	j.timeout = func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), reg.timeout)
	}
	return j, nil
}

// Registered is the subject, version and id the serde writes with.
func (j *JSONSchema[T]) Registered() Registered { return j.self }

// Encode returns v as JSON in the wire format. A value that does not conform to the schema is an
// error wrapping ErrInvalid that lists the violations.
func (j *JSONSchema[T]) Encode(v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("serde: marshal JSON: %w", err)
	}
	return j.EncodeJSON(b)
}

// EncodeJSON frames JSON text (one value) after validating it against the schema.
func (j *JSONSchema[T]) EncodeJSON(text []byte) ([]byte, error) {
	if err := validateJSON(j.schema, text); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(j.header) + len(text))
	out.Write(j.header)
	if err := json.Compact(&out, text); err != nil {
		return nil, fmt.Errorf("serde: %w", err)
	}
	return out.Bytes(), nil
}

func validateJSON(s *jsonschema.Schema, text []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(text))
	if err != nil {
		return fmt.Errorf("serde: not one JSON value: %w", err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("serde: %w: %v", ErrInvalid, err)
	}
	return nil
}

// Decode reads wire-format JSON into a T, after validating it against its writer schema.
func (j *JSONSchema[T]) Decode(b []byte) (T, error) {
	var v T
	ctx, cancel := j.timeout()
	defer cancel()
	text, _, err := j.reg.DecodeJSONSchema(ctx, b)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(text, &v); err != nil {
		return v, fmt.Errorf("serde: unmarshal JSON: %w", err)
	}
	return v, nil
}

// DecodeJSONSchema returns the JSON text of a wire-format JSON Schema value and its schema id,
// after validating it against the writer schema the id names.
func (r *Registry) DecodeJSONSchema(ctx context.Context, b []byte) ([]byte, int, error) {
	id, data, err := ParseHeader(b)
	if err != nil {
		return nil, 0, err
	}
	s, err := r.JSONSchemaByID(ctx, id)
	if err != nil {
		return nil, id, err
	}
	if err := validateJSON(s, data); err != nil {
		return nil, id, fmt.Errorf("schema id %d: %w", id, err)
	}
	return data, id, nil
}
